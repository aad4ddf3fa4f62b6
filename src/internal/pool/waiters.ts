/**
 * Acquisitions and the wait queue: the planner's decision carried out (a spare lent, a recycle awaited, a
 * process spawned or evicted), a bounded FIFO of acquisitions that must wait, and the hand-off of freed room
 * to them, oldest first. Spawns and recycles run in the pool's fibers, never the caller's: a caller that
 * gives up cannot strand a half-started process; what it was to get goes back to the pool.
 */
import type { Duration } from "effect"
import { Deferred, Effect, Exit } from "effect"
import * as ClaudeError from "../../ClaudeError.ts"
import type * as Session from "../../Session.ts"
import { planAcquire } from "./planner.ts"
import type { Lifecycle } from "./processes.ts"
import type { PoolState, Process, Request } from "./state.ts"

/** A process handed to a lease holder, with its (then always started) session. */
export interface Leased {
  readonly process: Process
  readonly session: Session.Session
}

/** A planner's decision, carried out on the pool's state: what is left to do for the acquisition. */
type Step =
  | { readonly _tag: "Lease"; readonly process: Process }
  | { readonly _tag: "Reset"; readonly process: Process }
  | { readonly _tag: "AfterReset"; readonly process: Process; readonly claimed: Deferred.Deferred<boolean> }
  | { readonly _tag: "Spawn"; readonly process: Process; readonly evict: Process | undefined }

interface Waiter {
  readonly request: Request
  /** Done when the waiter's step started (or the pool drains): its queue time is over. */
  readonly dispatched: Deferred.Deferred<void>
  readonly result: Deferred.Deferred<Leased, ClaudeError.ClaudeError>
  cancelled: boolean
}

/** What the queue is bounded by. */
export interface QueueSettings {
  readonly max: number
  readonly maxWaiters: number
  readonly acquireTimeout: Duration.Duration
}

/** What the dispatcher needs of the rest of the pool. */
export interface DispatcherDeps {
  readonly state: PoolState
  readonly lifecycle: Lifecycle
  readonly settings: QueueSettings
  readonly now: () => number
  /** Runs an effect on a background fiber of the pool. */
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<void>
  /** Hands a process back to the pool, as a released lease does. */
  readonly giveBack: (process: Process) => Effect.Effect<void>
}

/** Acquisitions, the wait queue, and retirement (which frees room for the queue). */
export interface Dispatcher {
  /** Acquisitions in the queue. */
  readonly waiting: () => number
  /** A process for the request: at once, after a spawn or a recycle, or from the queue. */
  readonly obtain: (request: Request) => Effect.Effect<Leased, ClaudeError.ClaudeError>
  /** Hands freed room to the waiters, oldest first. */
  readonly dispatch: Effect.Effect<void>
  /** Stops a process in the background, and hands its room to the queue. */
  readonly retire: (process: Process) => Effect.Effect<void>
  /** Interrupts every waiter (the pool drains). */
  readonly interruptAll: Effect.Effect<void>
}

/** The pool's dispatcher over its state. */
export const makeDispatcher = (deps: DispatcherDeps): Dispatcher => {
  const { lifecycle, run, settings, state } = deps
  const waiters: Array<Waiter> = []

  const exhausted = () =>
    ClaudeError.make(new ClaudeError.PoolExhausted({ waiting: waiters.length, max: settings.max }))

  /** Asks the planner and carries its decision out at once, in the same synchronous step. */
  const plan = (request: Request): Step | undefined => {
    const decision = planAcquire(state.processes, settings.max, request)
    switch (decision?._tag) {
      case undefined:
        return undefined
      case "Lease":
        state.processes.move(decision.process, "busy")
        return decision
      case "Reset":
        state.processes.move(decision.process, "resetting")
        return decision
      case "AfterReset": {
        const claimed = Deferred.makeUnsafe<boolean>()
        decision.process.claimed = claimed
        return { _tag: "AfterReset", process: decision.process, claimed }
      }
      case "Spawn":
        if (decision.evict !== undefined) state.processes.remove(decision.evict)
        return { _tag: "Spawn", process: state.processes.add(request.key, deps.now()), evict: decision.evict }
    }
  }

  /** Carries out a step; a spare that turned out dead, or a failed reset, is replaced by planning again. */
  const fulfil = (first: Step, request: Request): Effect.Effect<Leased, ClaudeError.ClaudeError> =>
    Effect.gen(function*() {
      let current: Step | undefined = first
      while (current !== undefined) {
        const step: Step = current
        if (step._tag === "Spawn") {
          if (step.evict !== undefined) yield* run(lifecycle.stop(step.evict))
          const session = yield* lifecycle.spawn(step.process, request).pipe(Effect.tapError(() => dispatch))
          return { process: step.process, session }
        }
        if (step._tag === "AfterReset" && !(yield* Deferred.await(step.claimed))) {
          current = plan(request)
          continue
        }
        const session = step.process.session
        const alive = session !== undefined && (yield* lifecycle.isIdle(step.process))
        if (alive && step._tag !== "Reset") return { process: step.process, session }
        if (alive && (yield* Effect.isSuccess(lifecycle.reset(step.process)))) return { process: step.process, session }
        yield* lifecycle.stop(step.process)
        current = plan(request)
      }
      return yield* Effect.fail(exhausted())
    })

  /** Carries out a waiter's step in the background; a waiter that gave up meanwhile has it go back to the pool. */
  const start = (waiter: Waiter, step: Step) =>
    Effect.suspend(() => {
      Deferred.doneUnsafe(waiter.dispatched, Exit.void)
      return run(
        fulfil(step, waiter.request).pipe(
          // On interruption too (the pool draining): the waiter must not wait for ever.
          Effect.onExit((exit) =>
            waiter.cancelled && Exit.isSuccess(exit)
              ? deps.giveBack(exit.value.process)
              : Deferred.done(waiter.result, exit)
          )
        )
      )
    })

  const dispatch: Effect.Effect<void> = Effect.suspend(() => {
    const started: Array<Effect.Effect<void>> = []
    while (!state.draining) {
      const head = waiters[0]
      if (head === undefined) break
      const next = plan(head.request)
      if (next === undefined) break
      waiters.shift()
      started.push(start(head, next))
    }
    return Effect.all(started, { discard: true })
  })

  const retire = (process: Process) => Effect.andThen(run(lifecycle.stop(process)), dispatch)

  const obtain = (request: Request): Effect.Effect<Leased, ClaudeError.ClaudeError> =>
    Effect.suspend(() => {
      if (state.draining) return Effect.interrupt
      const immediate = waiters.length === 0 ? plan(request) : undefined
      const ready = immediate?.process.session
      // The hot path: a ready spare, handed over without a fiber or a Deferred.
      if (immediate?._tag === "Lease" && ready !== undefined) {
        return Effect.succeed({ process: immediate.process, session: ready })
      }
      if (immediate === undefined && waiters.length >= settings.maxWaiters) {
        return Effect.fail(exhausted())
      }
      const waiter: Waiter = {
        request,
        dispatched: Deferred.makeUnsafe(),
        result: Deferred.makeUnsafe(),
        cancelled: false
      }
      const queued = immediate === undefined ? Effect.sync(() => waiters.push(waiter)) : start(waiter, immediate)
      return queued.pipe(
        Effect.andThen(Deferred.await(waiter.dispatched)),
        Effect.timeoutOrElse({ duration: settings.acquireTimeout, orElse: () => Effect.fail(exhausted()) }),
        Effect.andThen(Deferred.await(waiter.result)),
        Effect.onExit((exit) =>
          Effect.suspend(() => {
            if (Exit.isSuccess(exit)) return Effect.void
            waiter.cancelled = true
            const index = waiters.indexOf(waiter)
            if (index >= 0) waiters.splice(index, 1)
            if (!Deferred.isDoneUnsafe(waiter.result)) return Effect.void
            return Effect.flatMap(
              Effect.exit(Deferred.await(waiter.result)),
              (handed) => Exit.isSuccess(handed) ? deps.giveBack(handed.value.process) : Effect.void
            )
          })
        )
      )
    })

  const interruptAll = Effect.suspend(() =>
    Effect.forEach(waiters.splice(0), (waiter) => {
      waiter.cancelled = true
      return Deferred.interrupt(waiter.dispatched)
    }, { discard: true })
  )

  return { waiting: () => waiters.length, obtain, dispatch, retire, interruptAll }
}

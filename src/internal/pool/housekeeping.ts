/**
 * The pool's background work: spares kept warm per key in use, the sweeper (age, idleness, memory), health
 * checks with a `HealthChecker` in the context, retirement on credential rotation, and the drain when the
 * pool's scope closes. What to retire and what to start is the planner's to say; this module observes the
 * processes, asks, and carries the answer out.
 */
import { Duration, Effect, Exit, FiberSet, Option, Schedule, Scope, Stream, SubscriptionRef } from "effect"
import type * as HealthChecker from "../../HealthChecker.ts"
import type * as TokenManager from "../../TokenManager.ts"
import { isReady, type Limits, type Observed, planKeys, planSweep, sparesWanted, staleProcesses } from "./planner.ts"
import type { Lifecycle } from "./processes.ts"
import type { PoolState, Process } from "./state.ts"
import type { Dispatcher } from "./waiters.ts"

/** How the housekeeping runs. Durations are the pool's settings, resolved. */
export interface HousekeepingSettings {
  readonly limits: Limits
  readonly maxRssBytes: number | undefined
  readonly sampleRss: (pid: number) => Effect.Effect<Option.Option<number>>
  readonly sweepInterval: Duration.Duration
  readonly drainGrace: Duration.Duration
}

/** What the housekeeping needs of the rest of the pool. */
export interface HousekeepingDeps {
  readonly state: PoolState
  readonly lifecycle: Lifecycle
  readonly dispatcher: Dispatcher
  readonly settings: HousekeepingSettings
  readonly now: () => number
  /** The pool's background fibers: spares' spawns, recycles, the loops below. */
  readonly background: FiberSet.FiberSet<unknown, unknown>
  /** Runs an effect on one of them. */
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<void>
  /** Moves whenever a process is handed back: the drain waits on it for the busy ones. */
  readonly handedBack: SubscriptionRef.SubscriptionRef<number>
  readonly tokens: TokenManager.TokenManager["Service"]
  readonly health: Option.Option<HealthChecker.HealthChecker["Service"]>
}

/**
 * Starts the sweeper, the health checks (with a `HealthChecker`) and the rotation watch on the pool's
 * background fibers, and drains the pool when `scope` closes. Returns how to top a key's spares up.
 */
export const startHousekeeping = (deps: HousekeepingDeps, scope: Scope.Scope) =>
  Effect.gen(function*() {
    const { background, dispatcher, lifecycle, run, settings, state } = deps
    const { limits } = settings

    /** Starts the spares a key lacks, in the background; none while acquisitions wait for room. */
    const replenish = (key: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        const info = state.keys.get(key)
        if (info === undefined || state.draining || dispatcher.waiting() > 0) return Effect.void
        const started: Array<Effect.Effect<void>> = []
        for (let i = sparesWanted(state.processes, key, limits); i > 0; i--) {
          const process = state.processes.add(key, deps.now())
          started.push(run(
            lifecycle.spawn(process, info.template).pipe(
              Effect.andThen(Effect.sync(() => {
                state.processes.move(process, "idle")
                process.lastUsedAt = deps.now()
              })),
              Effect.ignore,
              Effect.andThen(dispatcher.dispatch)
            )
          ))
        }
        return Effect.all(started, { discard: true })
      })

    const sweep = Effect.gen(function*() {
      const at = deps.now()
      if (settings.maxRssBytes !== undefined) {
        for (const process of [...state.processes]) {
          if (process.session === undefined) continue
          const rss = yield* settings.sampleRss(process.session.pid)
          if (Option.isSome(rss) && rss.value > settings.maxRssBytes) process.overLimit = true
        }
      }
      // Observed, planned and taken out in one step: no lease takes a process between its reading and its retirement.
      const observed: Array<Observed<Process>> = []
      for (const process of state.processes) {
        if (process.session !== undefined) observed.push({ process, idle: yield* lifecycle.isIdle(process) })
      }
      const retiring = planSweep(observed, at, limits, (key) => state.keys.get(key)?.lastAcquiredAt)
      yield* Effect.forEach(retiring, (process) => run(lifecycle.stop(process)), { discard: true })
      if (retiring.length > 0) yield* dispatcher.dispatch
      const lastAcquired = [...state.keys].map(([key, info]) => [key, info.lastAcquiredAt] as const)
      const { active, forgotten } = planKeys(lastAcquired, state.processes, at, limits.maxIdle)
      for (const key of forgotten) state.keys.delete(key)
      yield* Effect.forEach(active, replenish, { discard: true })
    })

    yield* run(sweep.pipe(Effect.repeat(Schedule.spaced(settings.sweepInterval))))

    // With a HealthChecker in the context, every process is checked on the sweep's schedule: an unhealthy
    // idle one retires at the next sweep, a busy one when its lease ends. Checks run on their own fiber,
    // concurrently: a responsiveness probe may take its whole deadline.
    if (Option.isSome(deps.health)) {
      const checker = deps.health.value
      const checkAll = Effect.suspend(() =>
        Effect.forEach([...state.processes], (process) => {
          const session = process.session
          if (session === undefined || !(isReady(process.status) || process.status === "busy")) return Effect.void
          return Effect.map(checker.check(session), (checked) => {
            if (checked.status === "unhealthy") process.overLimit = true
          })
        }, { concurrency: "unbounded", discard: true })
      )
      yield* run(checkAll.pipe(Effect.repeat(Schedule.spaced(settings.sweepInterval))))
    }

    // Rotation: once the credential changes, idle processes running with another one retire now.
    const retireStale = (identity: Option.Option<string>) =>
      Effect.suspend(() =>
        Effect.forEach(
          staleProcesses(state.processes, (key) => state.keys.get(key)?.credential, Option.getOrUndefined(identity)),
          dispatcher.retire,
          { discard: true }
        )
      )
    yield* run(deps.tokens.changes.pipe(Stream.runForEach(retireStale)))

    const leasesReturned = (within: Duration.Duration) =>
      SubscriptionRef.changes(deps.handedBack).pipe(
        Stream.takeUntil(() => state.processes.count("busy") === 0),
        Stream.runDrain,
        Effect.timeoutOrElse({ duration: within, orElse: () => Effect.void })
      )

    const drain = Effect.gen(function*() {
      state.draining = true
      yield* dispatcher.interruptAll
      // Running turns get the grace period, then an interrupt, and a little longer to report it.
      yield* leasesReturned(settings.drainGrace)
      yield* Effect.forEach(
        [...state.processes].filter((process) => process.status === "busy"),
        (process) => process.session === undefined ? Effect.void : Effect.ignore(process.session.interrupt),
        { concurrency: "unbounded", discard: true }
      )
      yield* leasesReturned(Duration.seconds(5))
      yield* FiberSet.clear(background)
      yield* Effect.forEach([...state.open], (processScope) => Scope.close(processScope, Exit.void), {
        concurrency: "unbounded",
        discard: true
      })
      state.processes.clear()
      state.open.clear()
    })
    yield* Scope.addFinalizer(scope, drain)

    return { replenish }
  })

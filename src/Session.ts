/**
 * One conversation on one long-lived CLI process, over the stream-json control
 * protocol: turns are serialised, every control request the CLI sends is
 * answered exactly once (permission callback, hook handlers, or a refusal),
 * between turns too, unless the CLI withdraws it (`control_cancel_request`),
 * our own requests (`interrupt`, `setModel`, `setPermissionMode`) have
 * deadlines, and every turn is watched by first-event, idle and whole-turn
 * deadlines. A session whose turn timed out is `Failed` and never runs
 * another turn.
 *
 * Two failures are handled for the caller:
 *
 * - **Fail fast (F12).** At the first `system/api_retry` for a 401 or 403 the
 *   turn fails with `AuthenticationFailed` / `PermissionRefused` and the CLI
 *   is stopped, instead of waiting out the CLI's own retries (about 150 s).
 * - **Crash recovery.** A CLI that dies (a signal, the OOM killer, an exit of
 *   its own) is replaced by a new process that resumes the conversation
 *   (`--resume <session id>`), at most `restart.maxRestarts` times within
 *   `restart.window`, then the session is `Failed`. The turn that was running
 *   fails with `ProcessCrashed` / `ProcessExited`: whether to run it again is
 *   the caller's decision (a tool may already have run).
 *
 * @since 0.1.0
 */
import { Clock, Deferred, Duration, Effect, Exit, Fiber, FiberMap, FiberSet, Option, Queue, Schema, Scope, Semaphore, Stream, SubscriptionRef } from "effect"
import type * as Cause from "effect/Cause"
import * as ClaudeError from "./ClaudeError.ts"
import type { ClaudeEvent } from "./ClaudeEvent.ts"
import * as ClaudeOptions from "./ClaudeOptions.ts"
import { defaultControlAnswer } from "./internal/controlAnswers.ts"
import * as ProcessManager from "./ProcessManager.ts"
import * as Protocol from "./Protocol.ts"
import * as StreamHandler from "./StreamHandler.ts"
import * as TurnOutcome from "./TurnOutcome.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type State = "Starting" | "Idle" | "Running" | "Closed" | "Failed"

/**
 * What the CLI asks before it runs a tool (with `--permission-prompt-tool stdio`).
 *
 * @since 0.1.0
 * @category permissions
 */
export interface PermissionRequest {
  readonly toolName: string
  readonly input: unknown
  readonly toolUseId: string | undefined
  readonly request: Protocol.ControlRequest["request"]
}

/**
 * The answer to a {@link PermissionRequest}.
 *
 * @since 0.1.0
 * @category permissions
 */
export type PermissionDecision =
  | { readonly behavior: "allow"; readonly updatedInput?: unknown }
  | { readonly behavior: "deny"; readonly message: string }

/**
 * A hook handler: gets the hook's input, returns the hook's output (`{ continue: true }` to carry on).
 *
 * @since 0.1.0
 * @category hooks
 */
export interface HookHandler {
  /** A tool-name matcher, as in Claude Code settings (`"Bash"`, `"Edit|Write"`); all tools when absent. */
  readonly matcher?: string
  readonly handle: (input: unknown) => Effect.Effect<unknown>
}

/**
 * @since 0.1.0
 * @category models
 */
export type HookEvent = "PreToolUse" | "PostToolUse" | "UserPromptSubmit" | "Stop" | "Notification"

/**
 * How a session replaces a CLI that died: at most `maxRestarts` replacements within any `window` of time
 * (on the Effect `Clock`); one more death makes the session `Failed`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Restart {
  /** Replacements allowed within `window`. `0` turns crash recovery off. Default 3. */
  readonly maxRestarts?: number | undefined
  /** Default 1 minute. */
  readonly window?: Duration.Input | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultRestart = { maxRestarts: 3, window: Duration.minutes(1) } as const

/**
 * @since 0.1.0
 * @category models
 */
export interface Config {
  readonly options?: ClaudeOptions.Input | undefined
  /**
   * Decides tool permissions. Without it the CLI is started without
   * `--permission-prompt-tool stdio`, so anything that needs approval (beyond
   * `allowedTools` and the permission mode) is denied.
   */
  readonly canUseTool?: ((request: PermissionRequest) => Effect.Effect<PermissionDecision>) | undefined
  readonly hooks?: Partial<Record<HookEvent, ReadonlyArray<HookHandler>>> | undefined
  /** Deadline for our own control requests. Default 10 s. */
  readonly controlTimeout?: Duration.Input | undefined
  /** Crash recovery: see {@link Restart} and {@link defaultRestart}. */
  readonly restart?: Restart | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Session {
  /**
   * `Starting` while the CLI starts, and again while a CLI that died is replaced (then `Idle`, or `Failed`
   * when it could not be); `Idle` between turns; `Running` during one; `Failed` for good after a timeout,
   * a fail-fast, a failed reset or too many restarts; `Closed` once the scope closed.
   */
  readonly state: SubscriptionRef.SubscriptionRef<State>
  /** The CLI's current process id (for resource sampling); a replacement process has a new one. */
  readonly pid: number
  /** How many times a CLI that died was replaced. */
  readonly restarts: Effect.Effect<number>
  /** The CLI's session id, once a turn has started. */
  readonly sessionId: Effect.Effect<Option.Option<string>>
  /**
   * Runs one turn; the stream ends after the turn's `Result` event (or fails with the turn's error).
   * While a CLI that died is being replaced, the turn waits for the replacement (bounded by the start-up
   * timeout) and then runs on it, in the same conversation.
   * A consumer that leaves early (`Stream.take`, an interrupted fiber) interrupts the turn: closing the
   * stream waits, within the control timeout, for the turn to end, so the session is Idle again; a CLI
   * that does not comply is stopped and the session is Failed. Closing the session's scope fails a
   * running turn with `Interrupted`.
   */
  readonly send: (prompt: Protocol.UserContent) => Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError>
  /** Runs one turn and returns its `Result` event. */
  readonly ask: (
    prompt: Protocol.UserContent
  ) => Effect.Effect<Extract<ClaudeEvent, { readonly _tag: "Result" }>, ClaudeError.ClaudeError>
  /**
   * Starts a new conversation on the same process (`/clear`) and checks that
   * the reset took: a `conversation_reset` frame and a new session id, which it
   * returns. An unconfirmed reset fails the session, so the process is not reused.
   */
  readonly reset: Effect.Effect<string, ClaudeError.ClaudeError>
  readonly interrupt: Effect.Effect<void, ClaudeError.ClaudeError>
  readonly setModel: (model: string | undefined) => Effect.Effect<void, ClaudeError.ClaudeError>
  readonly setPermissionMode: (mode: ClaudeOptions.PermissionMode) => Effect.Effect<void, ClaudeError.ClaudeError>
  /** Sends any control request and returns the CLI's `response` payload. */
  readonly request: (
    subtype: string,
    payload?: Readonly<Record<string, unknown>>
  ) => Effect.Effect<unknown, ClaudeError.ClaudeError>
}

const isCanUseTool = Schema.is(Protocol.CanUseToolRequest)
const isHookCallback = Schema.is(Protocol.HookCallbackRequest)

type ResultEvent = Extract<ClaudeEvent, { readonly _tag: "Result" }>

interface Turn {
  readonly events: Queue.Queue<ClaudeEvent, ClaudeError.ClaudeError | Cause.Done>
  /** Done when the turn has ended, however it ended (result, failure, timeout, exit, close). */
  readonly ended: Deferred.Deferred<void>
  /** The prompt was handed to the CLI's stdin: from here on the turn ends with a result or the process. */
  sent: boolean
  lastEventAt: number
  sawEvent: boolean
}

/** One CLI process of the session: the first, or a replacement of one that died. */
interface Generation {
  readonly proc: ProcessManager.CliProcess
  /** Holds the process and its reader; closing it runs the shutdown ladder. */
  readonly scope: Scope.Closeable
  /** `initialize` was answered: from here on its death is a crash to recover from. */
  ready: boolean
  /** Its stdout ended: the process is gone. */
  dead: boolean
}

/** What a replacement process resumes. */
type Conversation =
  /** No turn ran yet: the options as given (their `resume` / `continue`, if any). */
  | { readonly _tag: "AsConfigured" }
  /** A turn ran in this CLI session id. */
  | { readonly _tag: "Resume"; readonly sessionId: string }
  /** A verified reset started a conversation that has had no turn yet. */
  | { readonly _tag: "Fresh" }

interface RestartPolicy {
  readonly maxRestarts: number
  readonly windowMs: number
}

const restartPolicy = (restart: Restart | undefined): Effect.Effect<RestartPolicy, ClaudeError.ClaudeError> => {
  const maxRestarts = restart?.maxRestarts ?? defaultRestart.maxRestarts
  const window = restart?.window === undefined ? Option.some(defaultRestart.window) : Duration.fromInput(restart.window)
  const windowMs = Option.match(window, {
    onNone: () => Number.NaN,
    onSome: (duration) => (Duration.isFinite(duration) ? Duration.toMillis(duration) : Number.NaN)
  })
  const issues = [
    ...(Number.isInteger(maxRestarts) && maxRestarts >= 0 ? [] : ["restart.maxRestarts must be a non-negative integer"]),
    ...(windowMs > 0 ? [] : ["restart.window must be a positive, finite duration"])
  ]
  return issues.length === 0
    ? Effect.succeed({ maxRestarts, windowMs })
    : ClaudeError.fail(new ClaudeError.InvalidOptions({ issues: issues.join("; ") }))
}

/**
 * Starts a session: spawns the CLI, sends `initialize`, and waits until it is ready.
 * Closing the scope stops the process with the shutdown ladder.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(config: Config = {}) {
  const processes = yield* ProcessManager.ProcessManager
  const options = yield* ClaudeOptions.validate(config.options)
  const restart = yield* restartPolicy(config.restart)
  const controlTimeout = Duration.fromInputUnsafe(config.controlTimeout ?? Duration.seconds(10))
  const startupTimeout = ClaudeOptions.timeout(options, "startup")
  const state = yield* SubscriptionRef.make<State>("Starting")
  // Environment additions that options map to (`maxApiRetries`) travel in the spawned options' `env`.
  const spawnOptions: ClaudeOptions.ClaudeOptions = { ...options, env: ClaudeOptions.toEnv(options) }
  const permissionPromptTool = config.canUseTool !== undefined

  let sessionId: string | undefined
  let conversation: Conversation = { _tag: "AsConfigured" }
  let turnNumber = 0
  let current: Turn | undefined
  let hostBusy = 0
  let nextRequest = 0
  let restarts = 0
  /** The process id of the live process: the newest one that became ready. */
  let livePid = 0
  /** When the replacements of the current window happened (Clock millis). */
  const restartedAt: Array<number> = []
  const pending = new Map<string, Deferred.Deferred<unknown, ClaudeError.ClaudeError>>()
  const apiRetries: Array<Protocol.SystemApiRetry> = []
  /** The newest process (the one being started, or the live one): where our frames go. */
  let newest: Generation | undefined
  /** Scopes of processes not yet stopped: closing the session closes them all. */
  const open = new Set<Scope.Closeable>()

  const context = () => ({ sessionId, turn: turnNumber })
  const fail = (reason: ClaudeError.Reason) => ClaudeError.make(reason, context())
  const write = (frame: unknown) =>
    Effect.suspend(() => newest === undefined ? Effect.succeed(false) : newest.proc.write(Protocol.encodeLine(frame)))

  // Hook callbacks are registered in `initialize` under ids we map back to handlers.
  const hookHandlers = new Map<string, HookHandler>()
  const hooksConfig: Record<string, Array<{ matcher?: string; hookCallbackIds: Array<string> }>> = {}
  for (const [event, handlers] of Object.entries(config.hooks ?? {})) {
    hooksConfig[event] = (handlers ?? []).map((handler) => {
      const id = `hook_${hookHandlers.size}`
      hookHandlers.set(id, handler)
      return { ...(handler.matcher === undefined ? {} : { matcher: handler.matcher }), hookCallbackIds: [id] }
    })
  }

  const answer = (request: Protocol.ControlRequest): Effect.Effect<unknown> => {
    const { request: body, request_id: id } = request
    if (isCanUseTool(body) && config.canUseTool !== undefined) {
      return config.canUseTool({ toolName: body.tool_name, input: body.input, toolUseId: body.tool_use_id, request: body }).pipe(
        Effect.map((decision) =>
          Protocol.controlSuccess(
            id,
            decision.behavior === "allow"
              ? { behavior: "allow", updatedInput: decision.updatedInput ?? body.input }
              : decision
          )
        )
      )
    }
    const handler = isHookCallback(body) ? hookHandlers.get(body.callback_id) : undefined
    if (handler !== undefined && isHookCallback(body)) {
      return handler.handle(body.input).pipe(Effect.map((output) => Protocol.controlSuccess(id, output)))
    }
    return Effect.succeed(defaultControlAnswer(request))
  }

  // Each incoming request is served on its own fiber, concurrently with our pending ones, and answered
  // exactly once, whatever its handler does, unless the CLI withdraws it first (`control_cancel_request`):
  // then its fiber is interrupted, and no answer is written. The fibers are kept by request id; closing
  // the session's scope interrupts those still running, and so does the death of the process that asked.
  const serving = yield* FiberMap.make<string>()
  const serve = (request: Protocol.ControlRequest) =>
    FiberMap.run(
      serving,
      request.request_id,
      Effect.acquireUseRelease(
        // Time spent on the host's handler is not the CLI's silence: the watchdog pauses meanwhile.
        Effect.sync(() => {
          hostBusy++
        }),
        () =>
          answer(request).pipe(
            // Failures and defects of the handler get an error answer; an interruption (a withdrawn
            // request, a closing session) is not caught, so nothing is written for it.
            Effect.catchCause(() =>
              Effect.succeed(Protocol.controlError(request.request_id, "the host's handler failed"))
            ),
            Effect.flatMap(write)
          ),
        () =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            hostBusy--
            if (current !== undefined) current.lastEventAt = now
          })
      )
    )

  // The CLI withdrew a request of its own (it was interrupted while the host decided): stop serving it.
  // Waits until the handler's fiber has ended, so the watchdog counts the CLI's silence again from here.
  const withdraw = (requestId: string) => FiberMap.remove(serving, requestId)

  // Processes still open when the session closes get the shutdown ladder (after the finalizer below).
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => Effect.forEach([...open], (scope) => Scope.close(scope, Exit.void), { discard: true }))
  )

  // Fail-fasts and replacements of dead processes run here, never in the reader of a process (which
  // they may have to wait on, or whose scope they close).
  const background = yield* FiberSet.make()

  const endTurn = (turn: Turn, outcome: ClaudeError.ClaudeError | undefined) =>
    Effect.suspend(() => {
      if (current === turn) current = undefined
      return Effect.andThen(
        outcome === undefined ? Queue.end(turn.events) : Queue.fail(turn.events, outcome),
        Deferred.done(turn.ended, Exit.void)
      )
    })

  const failPending = (error: ClaudeError.ClaudeError) =>
    Effect.suspend(() => {
      const waiting = [...pending.values()]
      pending.clear()
      return Effect.forEach(waiting, (deferred) => Deferred.fail(deferred, error), { discard: true })
    })

  // A turn that ends with its result leaves the session Idle, unless it was Failed or Closed meanwhile.
  const settle = SubscriptionRef.update(state, (now): State => (now === "Running" ? "Idle" : now))

  // Closing the scope interrupts the readers (this finalizer runs just before that), then stops the
  // processes. The readers will never see stdout end, so what waits on them is failed here, at once: the
  // running turn's stream and our pending requests fail with Interrupted instead of hanging.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      yield* SubscriptionRef.set(state, "Closed")
      const error = fail(new ClaudeError.Interrupted({}))
      if (current !== undefined) yield* endTurn(current, error)
      yield* failPending(error)
    })
  )

  // A control request of ours, answered within `deadline` or failed with a Timeout of that `kind`.
  const control = Effect.fnUntraced(function*(
    subtype: string,
    payload: Readonly<Record<string, unknown>> | undefined,
    deadline: Duration.Duration,
    kind: ClaudeError.TimeoutKind
  ) {
    const id = `req_${++nextRequest}`
    const deferred = yield* Deferred.make<unknown, ClaudeError.ClaudeError>()
    pending.set(id, deferred)
    const written = yield* write(Protocol.controlRequest(id, { ...payload, subtype }))
    if (!written) {
      pending.delete(id)
      return yield* Effect.fail(fail(new ClaudeError.ProtocolError({ detail: "the CLI's stdin is closed" })))
    }
    return yield* Deferred.await(deferred).pipe(
      Effect.timeoutOrElse({
        duration: deadline,
        orElse: () =>
          Effect.suspend(() => {
            pending.delete(id)
            return Effect.fail(fail(new ClaudeError.Timeout({ kind, durationMs: Duration.toMillis(deadline) })))
          })
      })
    )
  })

  const request = Effect.fn("Session.request")(function*(
    subtype: string,
    payload?: Readonly<Record<string, unknown>>
  ) {
    return yield* control(subtype, payload, controlTimeout, "control")
  })

  // The session is Failed for good and its process stopped: the shutdown ladder runs to its end (the
  // process has exited) before this returns. Uninterruptible, so that a caller who gives up half-way
  // (a turn's consumer closing its stream, which interrupts the watchdog) cannot abandon the ladder
  // and leave a hung process running until the session's scope closes.
  const stop = Effect.uninterruptible(
    Effect.andThen(
      SubscriptionRef.set(state, "Failed"),
      Effect.suspend(() => (newest === undefined ? Effect.void : newest.proc.shutdown))
    )
  )

  // F12: the CLI retries a refused credential for minutes. The turn was detached from the reader (it gets
  // no more frames); the CLI is told to stop the turn (the interrupt also cuts its wait before the next
  // attempt short, which stdin EOF alone does not), then stopped with the ladder, which takes
  // milliseconds once the turn is over; then the turn fails. Uninterruptible and bounded (control
  // timeout, then the ladder's graces): the detached turn must end.
  const failFast = (turn: Turn, reason: ClaudeError.Reason) =>
    Effect.gen(function*() {
      yield* SubscriptionRef.set(state, "Failed")
      yield* Effect.ignore(control("interrupt", undefined, controlTimeout, "control"))
      yield* stop
      yield* endTurn(turn, fail(reason))
    }).pipe(
      Effect.uninterruptible,
      Effect.withSpan("Session.failFast", { attributes: { reason: reason._tag } })
    )

  const route = (event: ClaudeEvent): Effect.Effect<void> => {
    const turn = current
    const deliver = turn === undefined
      ? Effect.void
      : Effect.flatMap(Clock.currentTimeMillis, (now) => {
        turn.lastEventAt = now
        turn.sawEvent = true
        return Queue.offer(turn.events, event)
      })
    switch (event._tag) {
      case "ControlRequest":
        return Effect.andThen(serve(event.frame), deliver)
      case "Frame": {
        const frame = event.frame
        if (frame.type === "control_cancel_request") return Effect.andThen(withdraw(frame.request_id), deliver)
        if (frame.type === "control_response") {
          const deferred = pending.get(frame.response.request_id)
          if (deferred === undefined) return Effect.void
          pending.delete(frame.response.request_id)
          return Deferred.done(
            deferred,
            frame.response.subtype === "success"
              ? Exit.succeed(frame.response.response)
              : Exit.fail(fail(new ClaudeError.ProtocolError({
                detail: `the CLI refused the control request: ${frame.response.error}`
              })))
          ).pipe(Effect.asVoid)
        }
        return deliver
      }
      case "SessionStarted":
        sessionId = event.sessionId
        conversation = { _tag: "Resume", sessionId: event.sessionId }
        return deliver
      case "ApiRetry": {
        apiRetries.push(event.frame)
        const refused = TurnOutcome.fromApiRetry(event.frame)
        if (refused === undefined || turn === undefined) return deliver
        // The caller sees the retry frame, then the failure; nothing after it.
        current = undefined
        return Effect.andThen(deliver, FiberSet.run(background, failFast(turn, refused)))
      }
      case "Result":
        sessionId = event.sessionId
        conversation = { _tag: "Resume", sessionId: event.sessionId }
        if (turn === undefined) return Effect.void
        // Idle first, then the result and the end of the stream: whoever the end of the stream wakes up
        // (`ask` returning, a pool taking the session back) finds the session ready for the next turn.
        current = undefined
        return Effect.andThen(
          settle,
          Effect.andThen(deliver, endTurn(turn, event.error === undefined ? undefined : fail(event.error)))
        )
      default:
        return deliver
    }
  }

  // Decisions about a process's life and death are taken one at a time: a process that dies while its
  // replacement is declared ready is either seen dead by the launcher, or ready by its reader.
  const lifecycle = yield* Semaphore.make(1)

  // A replacement process resumes the conversation; before any turn, it starts as configured; after a
  // verified reset, it starts a new conversation (the reset one has nothing to resume).
  const launchOptions = (): ClaudeOptions.ClaudeOptions => {
    if (conversation._tag === "AsConfigured") return spawnOptions
    const { continue: _continue, forkSession: _fork, resume: _resume, ...rest } = spawnOptions
    return conversation._tag === "Fresh" ? rest : { ...rest, resume: conversation.sessionId }
  }

  // The process of a generation died (its stdout ended). Whatever waited on it fails with the reason read
  // from its exit; a ready process that died while the session was in use is replaced, in the background.
  const died = (generation: Generation): Effect.Effect<void> =>
    Effect.gen(function*() {
      const exit = yield* generation.proc.exit
      const reason = TurnOutcome.classify({ apiRetries, exit, stderrTail: yield* generation.proc.stderrTail }) ??
        new ClaudeError.ProtocolError({ detail: "the CLI exited" })
      const error = fail(reason)
      // Control requests of the dead process are nobody's to answer now.
      yield* FiberMap.clear(serving)
      const recover = yield* lifecycle.withPermits(1)(Effect.suspend(() => {
        generation.dead = true
        // Still starting: the launcher sees `initialize` fail, and decides.
        if (!generation.ready) return Effect.succeed(false)
        // In use (not stopped on purpose, not closing): replaced, unless crash recovery is off.
        return SubscriptionRef.modify(state, (now): readonly [boolean, State] => {
          if (now !== "Idle" && now !== "Running") return [false, now]
          return restart.maxRestarts > 0 ? [true, "Starting"] : [false, "Failed"]
        })
      }))
      // Starting (or Failed) first, then the turn's failure: whoever it wakes up (a pool taking the session
      // back) does not find it Idle.
      if (current !== undefined) yield* endTurn(current, error)
      yield* failPending(error)
      if (recover) {
        yield* Effect.logWarning(`the CLI died (${reason.message}); starting a replacement that resumes the conversation`)
        // Started on its own fiber, once this reader is done: the replacement closes this reader's scope.
        yield* FiberSet.run(background, respawn(generation, reason), { startImmediately: false })
      }
    })

  // Spawns a process (in a scope of its own), starts its reader, and sends `initialize`, bounded by the
  // start-up deadline. A process that fails to start is stopped (its scope closed) before this fails.
  const launch = (launchWith: ClaudeOptions.ClaudeOptions): Effect.Effect<Generation, ClaudeError.ClaudeError> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        open.add(scope)
        const started = yield* Effect.exit(restore(Effect.gen(function*() {
          const proc = yield* processes.spawn({
            options: launchWith,
            args: ClaudeOptions.toArgs(launchWith, { permissionPromptTool })
          }).pipe(Scope.provide(scope))
          const generation: Generation = { proc, scope, ready: false, dead: false }
          newest = generation
          // The reader: every stdout byte goes through the StreamHandler; when stdout ends, the process
          // is gone.
          yield* proc.stdout.pipe(
            StreamHandler.events({ maxLineBytes: options.maxLineBytes }),
            Stream.runForEach(route),
            Effect.catch(() => Effect.void),
            Effect.andThen(died(generation)),
            Effect.forkIn(scope)
          )
          // Only the start-up deadline bounds `initialize` (not `controlTimeout`): a start-up longer than
          // our usual control deadline is allowed when configured so, and times out as `startup`.
          yield* control(
            "initialize",
            Object.keys(hooksConfig).length === 0 ? undefined : { hooks: hooksConfig },
            startupTimeout,
            "startup"
          ).pipe(Effect.withSpan("Session.initialize"))
          return generation
        })))
        if (Exit.isFailure(started)) {
          yield* closeGeneration(scope)
          return yield* Effect.failCause(started.cause)
        }
        return started.value
      })
    )

  const closeGeneration = (scope: Scope.Closeable) =>
    Effect.andThen(Scope.close(scope, Exit.void), Effect.sync(() => open.delete(scope)))

  // The process is ready: it serves turns from now on, unless it died meanwhile, or the session was
  // failed or closed meanwhile (then it is not wanted: `false`).
  // The process's bookkeeping changes in the same step as the state, before anyone sees it Idle (a caller
  // woken by Idle reads the new pid).
  const declareReady = (generation: Generation) =>
    lifecycle.withPermits(1)(Effect.suspend(() =>
      generation.dead ? Effect.succeed(false) : SubscriptionRef.modify(state, (now): readonly [boolean, State] => {
        if (now !== "Starting") return [false, now]
        generation.ready = true
        livePid = generation.proc.pid
        return [true, "Idle"]
      })
    ))

  // Replaces a process that died, within the restart intensity: at most `maxRestarts` replacements in any
  // `window`, counted on the Clock; a replacement that fails to start counts too. Past the limit, or when
  // the session was failed or closed meanwhile, the session stays as it is (Failed past the limit).
  const respawn = (dead: Generation, reason: ClaudeError.Reason): Effect.Effect<void> =>
    Effect.gen(function*() {
      // Its process has exited: the ladder ends at once and frees the pipes.
      yield* closeGeneration(dead.scope)
      for (;;) {
        if ((yield* SubscriptionRef.get(state)) !== "Starting") return
        const now = yield* Clock.currentTimeMillis
        while (restartedAt.length > 0 && now - (restartedAt[0] ?? now) >= restart.windowMs) restartedAt.shift()
        if (restartedAt.length >= restart.maxRestarts) {
          yield* SubscriptionRef.update(state, (s): State => (s === "Starting" ? "Failed" : s))
          return yield* Effect.logWarning(
            `the CLI died ${restartedAt.length + 1} times within ${restart.windowMs} ms (last: ${reason._tag}); ` +
              "the session is Failed"
          )
        }
        restartedAt.push(now)
        restarts++
        const launched = yield* Effect.exit(launch(launchOptions()))
        if (Exit.isSuccess(launched)) {
          if (yield* declareReady(launched.value)) return
          // Died while starting, or no longer wanted: stop it; the state decides whether to try again.
          yield* closeGeneration(launched.value.scope)
        } else {
          yield* Effect.logWarning("a replacement CLI failed to start", launched.cause)
        }
      }
    }).pipe(Effect.withSpan("Session.respawn", { attributes: { reason: reason._tag } }))

  const first = yield* launch(spawnOptions).pipe(Effect.tapError(() => SubscriptionRef.set(state, "Failed")))
  if (!(yield* declareReady(first))) {
    yield* SubscriptionRef.set(state, "Failed")
    yield* closeGeneration(first.scope)
    return yield* Effect.fail(fail(new ClaudeError.ProtocolError({ detail: "the CLI exited during start-up" })))
  }

  // A stalled turn fails with Timeout and takes the process down with it: it is never reused. The
  // process is stopped first, the turn failed after: when the turn's stream fails (and `ask` returns),
  // the process has exited. The turn is detached before the ladder starts, so the reader, seeing stdout
  // end, does not fail it with the exit's reason instead of the Timeout (nor deliver what the process
  // writes meanwhile: the turn returns what arrived before its deadline). A turn that already ended
  // (its process died, say) is left alone.
  const expire = (turn: Turn, kind: ClaudeError.TimeoutKind, durationMs: number) =>
    Effect.suspend(() => {
      if (current !== turn) return Effect.void
      const error = fail(new ClaudeError.Timeout({ kind, durationMs }))
      current = undefined
      return Effect.andThen(stop, endTurn(turn, error))
    }).pipe(Effect.uninterruptible)

  const watch = (turn: Turn, startedAt: number) =>
    Effect.gen(function*() {
      const firstEvent = Duration.toMillis(ClaudeOptions.timeout(options, "firstEvent"))
      const idle = Duration.toMillis(ClaudeOptions.timeout(options, "idle"))
      const whole = Duration.toMillis(ClaudeOptions.timeout(options, "turn"))
      while (current === turn) {
        const now = yield* Clock.currentTimeMillis
        // Time spent waiting on the host (a permission callback, a hook) is not the CLI's silence.
        if (hostBusy > 0) turn.lastEventAt = now
        const checks: Array<readonly [ClaudeError.TimeoutKind, number, number]> = [
          ["turn", startedAt + whole, whole],
          turn.sawEvent ? ["idle", turn.lastEventAt + idle, idle] : ["firstEvent", startedAt + firstEvent, firstEvent]
        ]
        const expired = checks.find(([, deadline]) => now >= deadline)
        if (expired !== undefined) return yield* expire(turn, expired[0], expired[2])
        // Wake at the next deadline, and at least once per idle period: the first event switches
        // the watch from the first-event deadline to the (usually nearer) idle one.
        yield* Effect.sleep(Duration.millis(Math.min(idle, ...checks.map(([, deadline]) => deadline - now))))
      }
    })

  // The consumer of a turn's stream left while the turn still runs (it took what it needed, or its fiber
  // was interrupted). The CLI is told to stop the turn, and the session waits for the turn to end (its
  // result), so that it is Idle again and the next turn never receives this one's frames: the next turn
  // cannot start before, it waits for the turn permit this holds. All of it within the control timeout;
  // a CLI that does not comply is stopped (the session is Failed, never reused).
  const abandon = (turn: Turn) =>
    Effect.suspend(() => {
      if (current !== turn) return Effect.void
      if (!turn.sent) {
        // Nothing reached the CLI: there is no turn to stop.
        current = undefined
        return Effect.andThen(settle, endTurn(turn, undefined))
      }
      return control("interrupt", undefined, controlTimeout, "control").pipe(
        Effect.andThen(Deferred.await(turn.ended)),
        Effect.timeoutOption(controlTimeout),
        Effect.ignore,
        Effect.andThen(Effect.suspend(() => (current === turn ? stop : Effect.void))),
        Effect.withSpan("Session.abandonTurn")
      )
    })

  // A turn asked for while a dead CLI is being replaced waits for the replacement: each attempt is bounded
  // by the start-up deadline and the shutdown ladder of the one before.
  const replacementWait = Duration.times(
    Duration.sum(startupTimeout, Duration.times(ClaudeOptions.timeout(options, "shutdownGrace"), 2)),
    Math.max(1, restart.maxRestarts)
  )
  const replaced = SubscriptionRef.changes(state).pipe(
    Stream.filter((now) => now !== "Starting"),
    Stream.runHead,
    Effect.flatMap(Option.match({
      onNone: () => SubscriptionRef.get(state),
      onSome: Effect.succeed
    })),
    Effect.timeoutOrElse({
      duration: replacementWait,
      orElse: () =>
        Effect.fail(fail(new ClaudeError.Timeout({ kind: "startup", durationMs: Duration.toMillis(replacementWait) })))
    })
  )
  const settled = Effect.flatMap(SubscriptionRef.get(state), (now) => (now === "Starting" ? replaced : Effect.succeed(now)))

  const turns = yield* Semaphore.make(1)

  const send = (prompt: Protocol.UserContent): Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError> =>
    Effect.gen(function*() {
      yield* Effect.acquireRelease(turns.take(1), () => turns.release(1))
      const now = yield* settled
      if (now !== "Idle") {
        return yield* Effect.fail(fail(new ClaudeError.ProtocolError({ detail: `the session is ${now}` })))
      }
      const events = yield* Queue.unbounded<ClaudeEvent, ClaudeError.ClaudeError | Cause.Done>()
      const ended = yield* Deferred.make<void>()
      const startedAt = yield* Clock.currentTimeMillis
      const turn: Turn = { events, ended, sent: false, lastEventAt: startedAt, sawEvent: false }
      // Runs after the watchdog is stopped and before the turn permit is released (finalizers run in reverse).
      yield* Effect.addFinalizer(() => abandon(turn))
      current = turn
      turnNumber++
      apiRetries.length = 0
      yield* SubscriptionRef.set(state, "Running")
      yield* write(Protocol.userMessage(prompt))
      turn.sent = true
      const watchdog = yield* Effect.forkScoped(watch(turn, startedAt))
      yield* Effect.addFinalizer(() => Fiber.interrupt(watchdog))
      return Stream.fromQueue(events)
    }).pipe(Stream.unwrap, Stream.withSpan("Session.send"))

  const ask = (prompt: Protocol.UserContent) =>
    send(prompt).pipe(
      Stream.runFold((): ResultEvent | undefined => undefined, (last, event) => event._tag === "Result" ? event : last),
      Effect.flatMap((result) =>
        result === undefined
          ? Effect.fail(fail(new ClaudeError.ProtocolError({ detail: "the turn ended without a result" })))
          : Effect.succeed(result)
      )
    )

  const reset = Effect.gen(function*() {
    const before = sessionId
    const events = yield* Stream.runCollect(send("/clear"))
    const result = events.findLast((event) => event._tag === "Result")
    const confirmed = events.some((event) => event._tag === "ConversationReset") &&
      result?._tag === "Result" && result.sessionId !== before
    if (!confirmed || result?._tag !== "Result") {
      yield* stop
      return yield* Effect.fail(fail(new ClaudeError.ProtocolError({ detail: "the /clear reset was not confirmed by the CLI" })))
    }
    // The new conversation has had no turn: a replacement process starts a new one rather than resume it.
    conversation = { _tag: "Fresh" }
    return result.sessionId
  }).pipe(Effect.withSpan("Session.reset"))

  return {
    state,
    get pid() {
      return livePid
    },
    restarts: Effect.sync(() => restarts),
    sessionId: Effect.sync(() => Option.fromNullishOr(sessionId)),
    send,
    ask,
    reset,
    interrupt: Effect.asVoid(request("interrupt")),
    setModel: (model: string | undefined) => Effect.asVoid(request("set_model", model === undefined ? {} : { model })),
    setPermissionMode: (mode: ClaudeOptions.PermissionMode) => Effect.asVoid(request("set_permission_mode", { mode })),
    request
  } satisfies Session
})

/**
 * One conversation on one long-lived CLI process, over the stream-json control
 * protocol: turns are serialised, every control request the CLI sends is
 * answered exactly once (permission callback, hook handlers, or a refusal),
 * between turns too, unless the CLI withdraws it (`control_cancel_request`),
 * our own requests (`interrupt`, `setModel`, `setPermissionMode`) have
 * deadlines, and every turn is watched by first-event, idle and whole-turn
 * deadlines. A session whose turn timed out or whose process died is `Failed`
 * and never runs another turn.
 *
 * @since 0.1.0
 */
import { Clock, Deferred, Duration, Effect, Exit, Fiber, FiberMap, Option, Queue, Schema, Semaphore, Stream, SubscriptionRef } from "effect"
import type * as Cause from "effect/Cause"
import type * as Scope from "effect/Scope"
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
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Session {
  readonly state: SubscriptionRef.SubscriptionRef<State>
  /** The CLI's process id (for resource sampling). */
  readonly pid: number
  /** The CLI's session id, once a turn has started. */
  readonly sessionId: Effect.Effect<Option.Option<string>>
  /**
   * Runs one turn; the stream ends after the turn's `Result` event (or fails with the turn's error).
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
  const controlTimeout = Duration.fromInputUnsafe(config.controlTimeout ?? Duration.seconds(10))
  const state = yield* SubscriptionRef.make<State>("Starting")
  const proc = yield* processes.spawn({
    options,
    args: ClaudeOptions.toArgs(options, { permissionPromptTool: config.canUseTool !== undefined })
  })

  let sessionId: string | undefined
  let turnNumber = 0
  let current: Turn | undefined
  let hostBusy = 0
  let nextRequest = 0
  const pending = new Map<string, Deferred.Deferred<unknown, ClaudeError.ClaudeError>>()
  const apiRetries: Array<Protocol.SystemApiRetry> = []

  const context = () => ({ sessionId, turn: turnNumber })
  const fail = (reason: ClaudeError.Reason) => ClaudeError.make(reason, context())
  const write = (frame: unknown) => proc.write(Protocol.encodeLine(frame))

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
  // the session's scope interrupts those still running.
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

  const route = (event: ClaudeEvent): Effect.Effect<void, never, Scope.Scope> => {
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
        return deliver
      case "ApiRetry":
        apiRetries.push(event.frame)
        return deliver
      case "Result":
        sessionId = event.sessionId
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
  // The reader: every stdout byte goes through the StreamHandler; when stdout
  // ends, the process is gone, and whatever waits on it fails with the reason.
  yield* proc.stdout.pipe(
    StreamHandler.events({ maxLineBytes: options.maxLineBytes }),
    Stream.runForEach(route),
    Effect.catch(() => Effect.void),
    Effect.andThen(Effect.gen(function*() {
      const exit = yield* proc.exit
      const closing = (yield* SubscriptionRef.get(state)) === "Closed"
      const reason = TurnOutcome.classify({ apiRetries, exit, stderrTail: yield* proc.stderrTail }) ??
        new ClaudeError.ProtocolError({ detail: "the CLI exited" })
      const error = fail(reason)
      if (!closing) yield* SubscriptionRef.set(state, "Failed")
      if (current !== undefined) yield* endTurn(current, error)
      yield* failPending(error)
    })),
    Effect.forkScoped
  )

  // Closing the scope interrupts the reader (this finalizer runs just before that), then stops the process.
  // The reader will never see stdout end, so what waits on it is failed here, at once: the running turn's
  // stream and our pending requests fail with Interrupted instead of hanging.
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
  const stop = Effect.uninterruptible(Effect.andThen(SubscriptionRef.set(state, "Failed"), proc.shutdown))

  // Only the start-up deadline bounds `initialize` (not `controlTimeout`): a start-up longer than our
  // usual control deadline is allowed when configured so, and times out as `startup`.
  yield* control(
    "initialize",
    Object.keys(hooksConfig).length === 0 ? undefined : { hooks: hooksConfig },
    ClaudeOptions.timeout(options, "startup"),
    "startup"
  ).pipe(Effect.withSpan("Session.initialize"), Effect.tapError(() => stop))
  yield* SubscriptionRef.set(state, "Idle")

  // A stalled turn fails with Timeout and takes the process down with it: it is never reused. The
  // process is stopped first, the turn failed after: when the turn's stream fails (and `ask` returns),
  // the process has exited. The turn is detached before the ladder starts, so the reader, seeing stdout
  // end, does not fail it with the exit's reason instead of the Timeout (nor deliver what the process
  // writes meanwhile: the turn returns what arrived before its deadline).
  const expire = (turn: Turn, kind: ClaudeError.TimeoutKind, durationMs: number) =>
    Effect.suspend(() => {
      const error = fail(new ClaudeError.Timeout({ kind, durationMs }))
      if (current === turn) current = undefined
      return Effect.andThen(stop, endTurn(turn, error))
    }).pipe(Effect.uninterruptible)

  const watch = (turn: Turn, startedAt: number) =>
    Effect.gen(function*() {
      const firstEvent = Duration.toMillis(ClaudeOptions.timeout(options, "firstEvent"))
      const idle = Duration.toMillis(ClaudeOptions.timeout(options, "idle"))
      const whole = Duration.toMillis(ClaudeOptions.timeout(options, "turn"))
      for (;;) {
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

  const turns = yield* Semaphore.make(1)

  const send = (prompt: Protocol.UserContent): Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError> =>
    Effect.gen(function*() {
      yield* Effect.acquireRelease(turns.take(1), () => turns.release(1))
      const now = yield* SubscriptionRef.get(state)
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
    return result.sessionId
  }).pipe(Effect.withSpan("Session.reset"))

  return {
    state,
    pid: proc.pid,
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

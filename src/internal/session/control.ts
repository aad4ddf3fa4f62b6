/**
 * A session's control channel, both ways.
 *
 * - **Ours** (`initialize`, `interrupt`, `set_model`, ...): pending by request id until the CLI answers,
 *   each within its deadline; all failed at once when the process that would answer dies or the session
 *   closes.
 * - **The CLI's** (a permission request, a hook callback, ...): each served on a fiber of its own, kept on a
 *   `FiberMap` by request id, concurrently with ours, and answered exactly once whatever its handler does
 *   (the permission callback, a hook handler, or the default answer), unless the CLI withdraws it first
 *   (`control_cancel_request`): then its fiber is interrupted and nothing is written. While a handler runs,
 *   the host is busy: the watchdog does not count that time as the CLI's silence.
 */
import { Clock, Deferred, Duration, Effect, Exit, FiberMap, Schema, type Scope, Tracer } from "effect"
import * as ClaudeError from "../../ClaudeError.ts"
import type * as Hooks from "../../Hooks.ts"
import * as Protocol from "../../Protocol.ts"
import { answerElicitation, answerUserDialog, type DialogHandlers } from "./dialogs.ts"
import { register } from "./hooks.ts"
import { type McpServers, toolUseIdOf } from "./mcpServers.ts"
import type { PermissionDecision, PermissionRequest } from "./permissions.ts"

const isCanUseTool = Schema.is(Protocol.CanUseToolRequest)
const isPermissionUpdate = Schema.is(Protocol.PermissionUpdate)
const isHookCallback = Schema.is(Protocol.HookCallbackRequest)
const isMcpMessage = Schema.is(Protocol.McpMessageRequest)
const isElicitation = Schema.is(Protocol.ElicitationControlRequest)
const isUserDialog = Schema.is(Protocol.UserDialogControlRequest)

/** The host's handlers of the CLI's requests (the public `Session.Config` fields). */
export interface Handlers extends DialogHandlers {
  readonly canUseTool?:
    | ((request: PermissionRequest) => Effect.Effect<PermissionDecision>)
    | undefined
  readonly hooks?: Hooks.Hooks | undefined
  /** The dialog kinds `onUserDialog` shows, declared in `initialize`: the CLI sends no others. */
  readonly supportedDialogKinds?: ReadonlyArray<string> | undefined
}

/** The spans of the running turn: a control request's span hangs under the tool call it is about, else the turn. */
export interface TurnSpans {
  readonly span: Tracer.Span | undefined
  /** The tracer the turn's span was made with: its children are made with it too. */
  readonly tracer: Tracer.Tracer
  readonly tools: ReadonlyMap<string, Tracer.Span>
}

/** What a host with no handler for a request answers, so nothing ever waits on it (F06). */
export const defaultAnswer = (request: Protocol.ControlRequest): unknown => {
  switch (request.request.subtype) {
    case "can_use_tool":
      return Protocol.controlSuccess(request.request_id, {
        behavior: "deny",
        message: "No permission callback is configured; effect-claude-code denies tool use by default."
      })
    case "hook_callback":
      return Protocol.controlSuccess(request.request_id, { continue: true })
    case "elicitation":
      return Protocol.controlSuccess(request.request_id, { action: "decline" })
    case "request_user_dialog":
      return Protocol.controlSuccess(request.request_id, { behavior: "cancelled" })
    default:
      return Protocol.controlError(
        request.request_id,
        `effect-claude-code does not handle control requests of subtype "${request.request.subtype}"`,
        "unsupported_request"
      )
  }
}

/**
 * Hook callbacks are registered in `initialize` under ids the channel maps back to handlers; in-process MCP
 * servers by name; the dialog kinds the host shows.
 */
const registerHandlers = (handlers: Handlers, servers: McpServers | undefined) => {
  const { config, served } = register(handlers.hooks)
  const initialize: Record<string, unknown> = {}
  if (config !== undefined) initialize["hooks"] = config
  if (servers !== undefined && servers.names.length > 0) initialize["sdkMcpServers"] = servers.names
  const kinds = handlers.supportedDialogKinds ?? []
  if (kinds.length > 0) initialize["supportedDialogKinds"] = kinds
  return { served, initialize: Object.keys(initialize).length === 0 ? undefined : initialize }
}

const attributesOf = (
  direction: "incoming" | "outgoing",
  requestId: string | undefined,
  body: { readonly subtype: string }
) => {
  const attributes: Record<string, unknown> = {
    "claude.control.subtype": body.subtype,
    "claude.control.direction": direction
  }
  if (requestId !== undefined) attributes["claude.control.request_id"] = requestId
  if (isCanUseTool(body)) {
    attributes["claude.tool.name"] = body.tool_name
    if (body.tool_use_id !== undefined) attributes["claude.tool.use_id"] = body.tool_use_id
  }
  if (isMcpMessage(body)) attributes["claude.mcp.server"] = body.server_name
  return attributes
}

/** What the channel needs of the session. */
export interface Wiring {
  readonly handlers: Handlers
  /** The session's in-process MCP servers, if it has any. */
  readonly mcp: McpServers | undefined
  /** Writes a frame to the newest process; `false` when its stdin is closed. */
  readonly write: (frame: unknown) => Effect.Effect<boolean>
  /** A session error of `reason`, naming the conversation and turn. */
  readonly fail: (reason: ClaudeError.Reason) => ClaudeError.ClaudeError
  readonly withLogContext: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Records (and logs) that a hook callback was answered as failed, and why. */
  readonly hookFailed: (detail: string) => Effect.Effect<void>
}

/** One session's control channel. */
export interface ControlChannel {
  /** What `initialize` carries: the hooks to call back and the in-process MCP servers, if any. */
  readonly initialize: Readonly<Record<string, unknown>> | undefined
  /** A handler of the host is running: the CLI waits for it, it is not silent. */
  readonly hostBusy: () => boolean
  /**
   * Sends a control request of ours, its span under `turn` (the running one) if any; its answer within
   * `deadline`, or a Timeout of that `kind`.
   */
  readonly send: (
    subtype: string,
    payload: Readonly<Record<string, unknown>> | undefined,
    deadline: Duration.Duration,
    kind: ClaudeError.TimeoutKind,
    turn: TurnSpans | undefined
  ) => Effect.Effect<unknown, ClaudeError.ClaudeError>
  /** The CLI answered a request of ours. */
  readonly answered: (frame: Protocol.ControlResponse) => Effect.Effect<void>
  /**
   * Serves a request of the CLI in the background, its span under `turn` (the running one) if any;
   * `answered` is told when (Clock millis) the host's handler was done.
   */
  readonly serve: (
    request: Protocol.ControlRequest,
    turn: TurnSpans | undefined,
    answered: (now: number) => void
  ) => Effect.Effect<void>
  /**
   * The CLI withdrew a request of its own (it was interrupted while the host decided): its handler is
   * interrupted; this returns once it has ended, so the watchdog counts the CLI's silence from here.
   */
  readonly withdraw: (requestId: string) => Effect.Effect<void>
  /** The process that asked died: its requests are nobody's to answer now. */
  readonly dropIncoming: Effect.Effect<void>
  /** Our pending requests fail with `error`: nobody will answer them. */
  readonly failPending: (error: ClaudeError.ClaudeError) => Effect.Effect<void>
}

/** Makes the channel; closing the scope interrupts the handlers still running. */
export const make = (wiring: Wiring): Effect.Effect<ControlChannel, never, Scope.Scope> =>
  Effect.map(FiberMap.make<string>(), (serving) => {
    const { initialize, served } = registerHandlers(wiring.handlers, wiring.mcp)
    const mcp = wiring.mcp
    const canUseTool = wiring.handlers.canUseTool
    // Our requests awaiting an answer, by id, with their subtype (a refusal names it).
    const pending = new Map<
      string,
      { readonly deferred: Deferred.Deferred<unknown, ClaudeError.ClaudeError>; readonly subtype: string }
    >()
    let nextRequest = 0
    let hostBusy = 0

    // A control request's span: under the tool call it is about, else the running turn (both made with the
    // turn's tracer), else the caller's.
    const underTurn = <A, E, R>(
      effect: Effect.Effect<A, E, R>,
      turn: TurnSpans | undefined,
      attributes: Record<string, unknown>,
      toolUseId?: string
    ) => {
      if (turn === undefined) return Effect.withSpan(effect, "Claude.control_request", { attributes })
      const parent = (toolUseId === undefined ? undefined : turn.tools.get(toolUseId)) ?? turn.span
      return effect.pipe(
        Effect.withSpan("Claude.control_request", parent === undefined ? { attributes } : { attributes, parent }),
        Effect.provideService(Tracer.Tracer, turn.tracer)
      )
    }

    const answer = (request: Protocol.ControlRequest): Effect.Effect<unknown> => {
      const { request: body, request_id: id } = request
      if (isCanUseTool(body) && canUseTool !== undefined) {
        return canUseTool({
          toolName: body.tool_name,
          input: body.input,
          toolUseId: body.tool_use_id,
          // Suggestions of a shape this library does not know are left out rather than guessed at.
          suggestions: Array.isArray(body.permission_suggestions)
            ? body.permission_suggestions.filter(isPermissionUpdate)
            : [],
          blockedPath: typeof body.blocked_path === "string" ? body.blocked_path : undefined,
          request: body
        })
          .pipe(
            Effect.tap((decision) => Effect.annotateCurrentSpan("claude.permission.behavior", decision.behavior)),
            Effect.map((decision) =>
              Protocol.controlSuccess(
                id,
                decision.behavior === "allow"
                  ? { ...decision, updatedInput: decision.updatedInput ?? body.input }
                  : decision
              )
            )
          )
      }
      if (isMcpMessage(body) && mcp !== undefined) {
        // A call the CLI cancels is interrupted like a withdrawn request: nothing is written for it.
        return mcp.answer(body, id, (cancelled) => FiberMap.remove(serving, cancelled)).pipe(
          Effect.map((reply) => Protocol.controlSuccess(id, { mcp_response: reply }))
        )
      }
      const hook = isHookCallback(body) ? served.get(body.callback_id) : undefined
      if (hook !== undefined && isHookCallback(body)) {
        return Effect.flatMap(
          hook(body.input, body.tool_use_id),
          (answer): Effect.Effect<unknown> =>
            answer._tag === "Output"
              ? Effect.succeed(Protocol.controlSuccess(id, answer.output))
              : Effect.as(wiring.hookFailed(answer.detail), Protocol.controlError(id, answer.detail))
        )
      }
      if (isElicitation(body)) {
        return Effect.map(
          answerElicitation(body, wiring.handlers.onElicitation),
          (answer) => Protocol.controlSuccess(id, answer)
        )
      }
      if (isUserDialog(body)) {
        return Effect.map(
          answerUserDialog(body, wiring.handlers.onUserDialog),
          (answer) => Protocol.controlSuccess(id, answer)
        )
      }
      return Effect.succeed(defaultAnswer(request))
    }

    const serve = (request: Protocol.ControlRequest, turn: TurnSpans | undefined, answered: (now: number) => void) =>
      FiberMap.run(
        serving,
        request.request_id,
        Effect.acquireUseRelease(
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
              Effect.flatMap(wiring.write)
            ),
          () =>
            Effect.map(Clock.currentTimeMillis, (now) => {
              hostBusy--
              answered(now)
            })
        ).pipe(
          (served) =>
            underTurn(
              served,
              turn,
              attributesOf("incoming", request.request_id, request.request),
              isCanUseTool(request.request)
                ? request.request.tool_use_id
                : isMcpMessage(request.request)
                ? toolUseIdOf(request.request)
                : undefined
            ),
          wiring.withLogContext
        )
      ).pipe(Effect.asVoid)

    const sendNow = Effect.fnUntraced(function*(
      subtype: string,
      payload: Readonly<Record<string, unknown>> | undefined,
      deadline: Duration.Duration,
      kind: ClaudeError.TimeoutKind
    ) {
      const id = `req_${++nextRequest}`
      yield* Effect.annotateCurrentSpan("claude.control.request_id", id)
      const deferred = yield* Deferred.make<unknown, ClaudeError.ClaudeError>()
      pending.set(id, { deferred, subtype })
      if (!(yield* wiring.write(Protocol.controlRequest(id, { ...payload, subtype })))) {
        pending.delete(id)
        return yield* Effect.fail(wiring.fail(new ClaudeError.ProtocolError({ detail: "the CLI's stdin is closed" })))
      }
      return yield* Deferred.await(deferred).pipe(
        Effect.timeoutOrElse({
          duration: deadline,
          orElse: () =>
            Effect.suspend(() => {
              pending.delete(id)
              return Effect.fail(
                wiring.fail(new ClaudeError.Timeout({ kind, durationMs: Duration.toMillis(deadline) }))
              )
            })
        }),
        // A caller that gives up (a shorter deadline of its own) leaves no pending entry behind.
        Effect.onInterrupt(() => Effect.sync(() => pending.delete(id)))
      )
    })

    return {
      initialize,
      hostBusy: () => hostBusy > 0,
      send: (subtype, payload, deadline, kind, turn) =>
        underTurn(sendNow(subtype, payload, deadline, kind), turn, attributesOf("outgoing", undefined, { subtype }))
          .pipe(
            wiring.withLogContext
          ),
      answered: ({ response }) =>
        Effect.suspend(() => {
          const waiting = pending.get(response.request_id)
          if (waiting === undefined) return Effect.void
          pending.delete(response.request_id)
          return Deferred.done(
            waiting.deferred,
            response.subtype === "success"
              ? Exit.succeed(response.response)
              : Exit.fail(
                wiring.fail(new ClaudeError.ControlRefused({ subtype: waiting.subtype, error: response.error }))
              )
          )
        }),
      serve,
      withdraw: (requestId) => FiberMap.remove(serving, requestId),
      dropIncoming: FiberMap.clear(serving),
      failPending: (error) =>
        Effect.suspend(() => {
          const waiting = [...pending.values()]
          pending.clear()
          return Effect.forEach(waiting, ({ deferred }) => Deferred.fail(deferred, error), { discard: true })
        })
    }
  })

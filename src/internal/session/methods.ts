/**
 * A session's methods over its turns and its control channel: prompts (checked before anything is
 * written), `ask`, slash commands, the verified `/clear` reset, and control requests of the caller's.
 * Every error of theirs reaches the caller with the session's debug log.
 */
import { type Duration, Effect, Stream } from "effect"
import * as ClaudeError from "../../ClaudeError.ts"
import type { ClaudeEvent } from "../../ClaudeEvent.ts"
import type * as ClaudeOptions from "../../ClaudeOptions.ts"
import type * as Protocol from "../../Protocol.ts"
import * as SlashCommands from "../slashCommands.ts"
import { promptIssues } from "../validation.ts"
import type { ControlChannel } from "./control.ts"
import type { Conversation } from "./conversation.ts"
import type { ResultEvent, TurnKind, Turns } from "./turn.ts"

/**
 * What a slash command run with `session.command` gave back.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommandOutput {
  /** The command as sent, e.g. `/model opus`. */
  readonly command: string
  /** What the CLI answered (the turn's result text), e.g. "Set model to `Opus 5.5` for this session only". */
  readonly output: string
  /**
   * Whether the command may have changed the process (its model, effort, MCP servers, ...), or is not one
   * known to only report: a pooled process that ran such a command is retired, never lent again.
   */
  readonly changesProcess: boolean
  /** Every event of the command's turn, its `Result` last. */
  readonly events: ReadonlyArray<ClaudeEvent>
}

/** What the methods need of the session. */
export interface Wiring {
  readonly turns: Turns
  readonly control: ControlChannel
  readonly conversation: Conversation
  readonly stop: (why: string) => Effect.Effect<void>
  readonly fail: (reason: ClaudeError.Reason) => ClaudeError.ClaudeError
  /** A session error as the caller gets it: with the session's debug log. */
  readonly withLog: (error: ClaudeError.ClaudeError) => Effect.Effect<ClaudeError.ClaudeError>
  readonly controlTimeout: Duration.Duration
}

// The methods are defined once, here, and take the session's wiring: an `Effect.fn` defined per session would
// capture its definition's stack on every start, on the path from a ready CLI to the first prompt.

const logged = <A, R>(wiring: Wiring, effect: Effect.Effect<A, ClaudeError.ClaudeError, R>) =>
  Effect.catch(effect, (error) => Effect.flatMap(wiring.withLog(error), Effect.fail))
const failLogged = (wiring: Wiring, reason: ClaudeError.Reason) => logged(wiring, Effect.fail(wiring.fail(reason)))

// A prompt that is not text or content blocks is refused here (written, it would only wait out the
// first-event deadline), and so is one the CLI would run as a slash command (F19): unsent.
const send = (wiring: Wiring, prompt: Protocol.UserContent) =>
  Stream.suspend(() => {
    const issues = promptIssues(prompt)
    const problem = issues === undefined
      ? SlashCommands.promptProblem(prompt)
      : new ClaudeError.InvalidPrompt({ issues })
    return problem === undefined ? wiring.turns.run(prompt, "prompt") : Stream.fail(wiring.fail(problem))
  })

/** The events of a turn of `kind`, and its `Result`. */
const collect = (wiring: Wiring, prompt: Protocol.UserContent, kind: TurnKind) =>
  Effect.map(Stream.runCollect(wiring.turns.run(prompt, kind)), (events) => ({
    events,
    result: events.findLast((event): event is ResultEvent => event._tag === "Result")
  }))

const request = Effect.fn("Session.request")(
  function*(wiring: Wiring, subtype: string, payload?: Readonly<Record<string, unknown>>) {
    return yield* logged(
      wiring,
      wiring.control.send(subtype, payload, wiring.controlTimeout, "control", wiring.turns.current())
    )
  }
)

const ask = Effect.fn("Session.ask")(function*(wiring: Wiring, prompt: Protocol.UserContent) {
  const result = yield* send(wiring, prompt).pipe(
    Stream.runFold(
      (): ResultEvent | undefined => undefined,
      (last, event) => event._tag === "Result" ? event : last
    )
  )
  return result ??
    (yield* failLogged(wiring, new ClaudeError.ProtocolError({ detail: "the turn ended without a result" })))
})

const command = Effect.fn("Session.command")(function*(wiring: Wiring, name: string, args?: string) {
  const refuse = (detail: string) =>
    Effect.fail(wiring.fail(new ClaudeError.CommandRefused({ command: `/${name}`, detail })))
  const parsed = SlashCommands.call(name, args)
  if (parsed === undefined) {
    return yield* refuse("a command name is letters, digits, `_`, `:` and `-`, without the leading `/`")
  }
  const text = SlashCommands.render(parsed)
  const reach = SlashCommands.reachOf(parsed)
  if (reach === "shared") {
    return yield* refuse(
      "it writes settings that every other Claude Code CLI of this user or project reads, which no " +
        "process restart undoes; set the model, permission mode or settings through the options instead"
    )
  }
  const { events, result } = yield* collect(wiring, text, "command")
  if (result === undefined) {
    return yield* Effect.fail(wiring.fail(new ClaudeError.ProtocolError({ detail: `${text} ended without a result` })))
  }
  return { command: text, output: result.text ?? "", changesProcess: reach === "process", events }
})

const reset = Effect.fn("Session.reset")(function*(wiring: Wiring) {
  const before = wiring.conversation.sessionId
  const { events, result } = yield* collect(wiring, "/clear", "reset")
  if (
    result === undefined || result.sessionId === before ||
    !events.some((event) => event._tag === "ConversationReset")
  ) {
    yield* wiring.stop("the /clear reset was not confirmed")
    return yield* failLogged(
      wiring,
      new ClaudeError.ProtocolError({ detail: "the /clear reset was not confirmed by the CLI" })
    )
  }
  // The new conversation has had no turn: a replacement process starts a new one rather than resume it.
  wiring.conversation.cleared()
  return result.sessionId
})

const interrupt = Effect.fn("Session.interrupt")(function*(wiring: Wiring) {
  yield* request(wiring, "interrupt")
})

const setModel = Effect.fn("Session.setModel")(function*(wiring: Wiring, model: string | undefined) {
  yield* request(wiring, "set_model", model === undefined ? {} : { model })
})

const setPermissionMode = Effect.fn("Session.setPermissionMode")(
  function*(wiring: Wiring, mode: ClaudeOptions.PermissionMode) {
    yield* request(wiring, "set_permission_mode", { mode })
  }
)

/** The methods of the `Session` interface, besides its accessors (state, pid, restarts, session id, debug log). */
export const make = (wiring: Wiring) => ({
  /** `Session.send`: one turn's events, ending with its Result. */
  send: (prompt: Protocol.UserContent) => send(wiring, prompt),
  /** `Session.ask`: one turn's Result. */
  ask: (prompt: Protocol.UserContent) => ask(wiring, prompt),
  /** `Session.command`: a slash command the library knows, with its output. */
  command: (name: string, args?: string) => command(wiring, name, args),
  /** `Session.reset`: a new conversation on the same process, verified. */
  reset: Effect.suspend(() => reset(wiring)),
  /** `Session.request`: any control request, its response payload. */
  request: (subtype: string, payload?: Readonly<Record<string, unknown>>) => request(wiring, subtype, payload),
  /** `Session.interrupt`. */
  interrupt: Effect.suspend(() => interrupt(wiring)),
  /** `Session.setModel`. */
  setModel: (model: string | undefined) => setModel(wiring, model),
  /** `Session.setPermissionMode`. */
  setPermissionMode: (mode: ClaudeOptions.PermissionMode) => setPermissionMode(wiring, mode)
})

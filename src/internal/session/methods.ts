/**
 * A session's methods over its turns and its control channel: prompts (checked before anything is
 * written), `ask`, slash commands, the verified `/clear` reset, and control requests of the caller's.
 * Every error of theirs reaches the caller with the session's debug log.
 */
import { type Duration, Effect, Stream } from "effect"
import * as ClaudeError from "../../ClaudeError.ts"
import type * as ClaudeOptions from "../../ClaudeOptions.ts"
import type * as Protocol from "../../Protocol.ts"
import * as SlashCommands from "../slashCommands.ts"
import { promptIssues } from "../validation.ts"
import type { ControlChannel } from "./control.ts"
import type { Conversation } from "./conversation.ts"
import type { ResultEvent, TurnKind, Turns } from "./turn.ts"

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

/** The methods of the `Session` interface, besides its accessors (state, pid, restarts, session id, debug log). */
export const make = (wiring: Wiring) => {
  const { turns, conversation, fail } = wiring
  const logged = <A, R>(effect: Effect.Effect<A, ClaudeError.ClaudeError, R>) =>
    Effect.catch(effect, (error) => Effect.flatMap(wiring.withLog(error), Effect.fail))
  const failLogged = (reason: ClaudeError.Reason) => logged(Effect.fail(fail(reason)))

  // A prompt that is not text or content blocks is refused here (written, it would only wait out the
  // first-event deadline), and so is one the CLI would run as a slash command (F19): unsent.
  const send = (prompt: Protocol.UserContent) =>
    Stream.suspend(() => {
      const issues = promptIssues(prompt)
      const problem = issues === undefined
        ? SlashCommands.promptProblem(prompt)
        : new ClaudeError.InvalidPrompt({ issues })
      return problem === undefined ? turns.run(prompt, "prompt") : Stream.fail(fail(problem))
    })

  /** The events of a turn of `kind`, and its `Result`. */
  const collect = (prompt: Protocol.UserContent, kind: TurnKind) =>
    Effect.map(Stream.runCollect(turns.run(prompt, kind)), (events) => ({
      events,
      result: events.findLast((event): event is ResultEvent => event._tag === "Result")
    }))

  const request = Effect.fn("Session.request")(function*(subtype: string, payload?: Readonly<Record<string, unknown>>) {
    return yield* logged(wiring.control.send(subtype, payload, wiring.controlTimeout, "control", turns.current()))
  })

  return {
    /** `Session.send`: one turn's events, ending with its Result. */
    send,
    /** `Session.ask`: one turn's Result. */
    ask: Effect.fn("Session.ask")(function*(prompt: Protocol.UserContent) {
      const result = yield* send(prompt).pipe(
        Stream.runFold(
          (): ResultEvent | undefined => undefined,
          (last, event) => event._tag === "Result" ? event : last
        )
      )
      return result ?? (yield* failLogged(new ClaudeError.ProtocolError({ detail: "the turn ended without a result" })))
    }),
    /** `Session.command`: a slash command the library knows, with its output. */
    command: Effect.fn("Session.command")(function*(name: string, args?: string) {
      const refuse = (detail: string) =>
        Effect.fail(fail(new ClaudeError.CommandRefused({ command: `/${name}`, detail })))
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
      const { events, result } = yield* collect(text, "command")
      if (result === undefined) {
        return yield* Effect.fail(fail(new ClaudeError.ProtocolError({ detail: `${text} ended without a result` })))
      }
      return { command: text, output: result.text ?? "", changesProcess: reach === "process", events }
    }),
    reset: Effect.gen(function*() {
      const before = conversation.sessionId
      const { events, result } = yield* collect("/clear", "reset")
      if (
        result === undefined || result.sessionId === before ||
        !events.some((event) => event._tag === "ConversationReset")
      ) {
        yield* wiring.stop("the /clear reset was not confirmed")
        return yield* failLogged(
          new ClaudeError.ProtocolError({ detail: "the /clear reset was not confirmed by the CLI" })
        )
      }
      // The new conversation has had no turn: a replacement process starts a new one rather than resume it.
      conversation.cleared()
      return result.sessionId
    }).pipe(Effect.withSpan("Session.reset")),
    /** `Session.request`: any control request, its response payload. */
    request,
    interrupt: Effect.asVoid(request("interrupt")).pipe(Effect.withSpan("Session.interrupt")),
    /** `Session.setModel`. */
    setModel: Effect.fn("Session.setModel")(function*(model: string | undefined) {
      yield* request("set_model", model === undefined ? {} : { model })
    }),
    /** `Session.setPermissionMode`. */
    setPermissionMode: Effect.fn("Session.setPermissionMode")(function*(mode: ClaudeOptions.PermissionMode) {
      yield* request("set_permission_mode", { mode })
    })
  }
}

/**
 * One turn on a freshly spawned CLI: prompt in, events out, stdin closed once
 * the `result` arrives, and the turn classified only after the process has
 * exited **and** its stdout has ended, so no byte of output is lost.
 *
 * @internal
 */
import { Deferred, Duration, Effect, Stream } from "effect"
import * as ClaudeError from "../ClaudeError.ts"
import type { ClaudeEvent } from "../ClaudeEvent.ts"
import * as ClaudeOptions from "../ClaudeOptions.ts"
import type * as ProcessManager from "../ProcessManager.ts"
import * as Protocol from "../Protocol.ts"
import * as StreamHandler from "../StreamHandler.ts"
import * as TurnOutcome from "../TurnOutcome.ts"

/** What a host with no permission callback answers, so nothing ever waits on it (F06). */
export const defaultControlAnswer = (request: Protocol.ControlRequest): unknown => {
  switch (request.request.subtype) {
    case "can_use_tool":
      return Protocol.controlSuccess(request.request_id, {
        behavior: "deny",
        message: "No permission callback is configured; effect-claude-code denies tool use by default."
      })
    case "hook_callback":
      return Protocol.controlSuccess(request.request_id, { continue: true })
    default:
      return Protocol.controlError(
        request.request_id,
        `effect-claude-code does not handle control requests of subtype "${request.request.subtype}"`,
        "unsupported_request"
      )
  }
}

const INITIALIZE = "initialize"

export const run = (
  proc: ProcessManager.CliProcess,
  options: ClaudeOptions.ClaudeOptions,
  prompt: Protocol.UserContent
): Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError> =>
  Stream.suspend(() => {
    let result: Protocol.ResultFrame | undefined
    let sessionId: string | undefined
    let rateLimitResetsAt: number | undefined
    const apiRetries: Array<Protocol.SystemApiRetry> = []
    const initialized = Deferred.makeUnsafe<void>()
    const sendPrompt = Effect.suspend(() =>
      Deferred.isDoneUnsafe(initialized)
        ? Effect.void
        : Effect.andThen(
          proc.write(Protocol.encodeLine(Protocol.userMessage(prompt))),
          Deferred.succeed(initialized, undefined)
        )
    )

    const observe = (event: ClaudeEvent): Effect.Effect<void> => {
      switch (event._tag) {
        case "SessionStarted":
          sessionId = event.sessionId
          return Effect.void
        case "ApiRetry":
          apiRetries.push(event.frame)
          return Effect.void
        case "RateLimit":
          rateLimitResetsAt = event.resetsAt
          return Effect.void
        case "Frame":
          // The CLI is ready once it has answered `initialize`; the prompt goes right after.
          return event.frame.type === "control_response" && event.frame.response.request_id === INITIALIZE
            ? sendPrompt
            : Effect.void
        case "ControlRequest":
          return Effect.asVoid(proc.write(Protocol.encodeLine(defaultControlAnswer(event.frame))))
        case "Result":
          result = event.frame
          sessionId = event.sessionId
          // The turn is complete: EOF lets the CLI exit by itself (F05).
          return proc.endInput
        default:
          return Effect.void
      }
    }

    const timeoutError = (kind: "startup" | "idle" | "turn") =>
      ClaudeError.make(
        new ClaudeError.Timeout({ kind, durationMs: Duration.toMillis(ClaudeOptions.timeout(options, kind)) }),
        { sessionId }
      )

    const outcome = Effect.gen(function*() {
      const exit = yield* proc.exit
      const stderrTail = yield* proc.stderrTail
      const reason = TurnOutcome.classify({ result, apiRetries, rateLimitResetsAt, exit, stderrTail }, Date.now())
      if (reason !== undefined) return yield* ClaudeError.fail(reason, { sessionId })
    })

    const start = proc.write(Protocol.encodeLine(Protocol.controlRequest(INITIALIZE, { subtype: "initialize" })))
    const startupDeadline = Deferred.await(initialized).pipe(
      Effect.timeoutOrElse({
        duration: ClaudeOptions.timeout(options, "startup"),
        orElse: () => Effect.fail(timeoutError("startup"))
      }),
      Effect.andThen(Effect.never)
    )

    return Stream.fromEffectDrain(start).pipe(
      Stream.concat(proc.stdout.pipe(StreamHandler.events({ maxLineBytes: options.maxLineBytes }))),
      Stream.tap(observe),
      Stream.timeoutOrElse({
        duration: ClaudeOptions.timeout(options, "idle"),
        orElse: () => Stream.fail(timeoutError("idle"))
      }),
      Stream.concat(Stream.fromEffectDrain(outcome)),
      Stream.interruptWhen(startupDeadline),
      Stream.interruptWhen(Effect.sleep(ClaudeOptions.timeout(options, "turn")).pipe(
        Effect.andThen(Effect.suspend(() => Effect.fail(timeoutError("turn"))))
      ))
    )
  })

/**
 * One scripted turn of a fake session, frame by frame as the real CLI writes them: `system/init`, API
 * retries, the tool call and its control requests, the text (with partial messages if asked), the `result`;
 * or an interrupted turn's frames; or `/clear`. Crashes, hangs and delays happen where the script says.
 */
import { Clock, Deferred, Duration, Effect, Option } from "effect"
// See session.ts for this path.
import * as Frames from "../../../../src/testing/fakeFrames.mjs"
import { stringField } from "./frameFields.ts"
import type { ProcessIo } from "./io.ts"
import type { MutableControlRequest } from "./processTable.ts"
import type { ControlRequest, Crash, JsonObject, Turn } from "./script.ts"

/** A turn as it runs: what the frames read of it, and what an interruption has to withdraw or report. */
export interface RunningTurn {
  readonly index: number
  readonly spec: Turn
  readonly message: JsonObject
  readonly prompt: string
  readonly abort: Deferred.Deferred<void>
  readonly startedAt: number
  readonly controlEntries: Array<MutableControlRequest>
  readonly permissionDenials: Array<JsonObject>
  readonly controlAnswers: Array<JsonObject>
  frames: number
  streamedText: string
  apiMessageId: string | undefined
  numTurns: number
  toolDenied: string | undefined
}

/** What a session's turns share with the rest of the session. */
export interface Session {
  readonly io: ProcessIo
  readonly frames: Frames.CliFrames
  readonly includePartialMessages: boolean
  /** Control requests sent to the host, by request id. */
  readonly pending: Map<string, MutableControlRequest>
  readonly writeFrame: (frame: JsonObject) => Effect.Effect<void>
  /** A Clock sleep, visible in the record while it lasts. */
  readonly sleep: (duration: Duration.Input) => Effect.Effect<void>
  /** Goes silent for good. */
  readonly hang: Effect.Effect<never>
  /** The turn running now, if any. */
  current: RunningTurn | undefined
  /** The last result was no error: what the exit code on stdin EOF says. */
  lastResultOk: boolean
}

/** The turns of one session: a user message's, and `/clear`. */
export const makeTurns = (session: Session) => {
  const { frames, hang, includePartialMessages, io, pending, sleep, writeFrame } = session
  const { record, registry, script } = io

  const crash = (spec: Crash) =>
    io.stderr.write(`fake-cli: simulated crash (${spec.signal ?? `exit ${spec.exitCode ?? 1}`})\n`).pipe(
      Effect.andThen(
        io.terminate(
          spec.signal === undefined
            ? { _tag: "Exited", code: spec.exitCode ?? 1 }
            : { _tag: "Signaled", signal: spec.signal }
        )
      ),
      Effect.andThen(Effect.never)
    )

  /** One frame of the turn: `frameDelay` first, then the write; counts for `crash`. */
  const emit = Effect.fnUntraced(function*(turn: RunningTurn, frame: JsonObject) {
    if (turn.spec.frameDelay !== undefined) yield* sleep(turn.spec.frameDelay)
    yield* writeFrame(frame)
    turn.frames++
    const spec = turn.spec.crash
    if (spec !== undefined && turn.frames >= (spec.afterFrames ?? 1)) return yield* crash(spec)
  })

  const emitText = Effect.fnUntraced(function*(turn: RunningTurn, text: string) {
    const id = registry.hex("msg_")
    turn.apiMessageId = id
    for (
      const step of frames.text(turn, id, text, { partial: includePartialMessages, chunks: script.partialChunks ?? 3 })
    ) {
      yield* emit(turn, step.frame)
      turn.streamedText += step.delta
    }
  })

  const runControlRequests = Effect.fnUntraced(function*(
    turn: RunningTurn,
    tool: Frames.ToolCall,
    specs: ReadonlyArray<ControlRequest> = turn.spec.controlRequests ?? []
  ) {
    if (specs.length === 0) return
    const entries: Array<MutableControlRequest> = []
    for (const spec of specs) {
      const request = frames.controlRequestBody(spec, tool)
      const entry: MutableControlRequest = {
        requestId: registry.hex("fake_req_"),
        subtype: spec.subtype,
        request,
        answers: [],
        answered: yield* Deferred.make<void>()
      }
      pending.set(entry.requestId, entry)
      record.controlRequests.push(entry)
      entries.push(entry)
      turn.controlEntries.push(entry)
      registry.changed()
      yield* emit(turn, Frames.controlRequest(entry.requestId, request))
    }
    const all = Effect.forEach(entries, (entry) => Deferred.await(entry.answered), { discard: true })
    yield* turn.spec.controlTimeout === undefined ? all : Effect.timeoutOption(all, turn.spec.controlTimeout)
    for (const entry of entries) {
      turn.controlAnswers.push(Frames.controlAnswer(entry.requestId, entry.subtype, entry.answers))
      const response = entry.answers[0]
      if (entry.subtype === "can_use_tool" && !Frames.isAllowed(response)) {
        turn.permissionDenials.push(Frames.permissionDenial(tool))
        turn.toolDenied = Frames.deniedMessage(response)
      }
    }
  })

  const runToolUse = Effect.fnUntraced(function*(turn: RunningTurn) {
    const needsTool = turn.spec.toolUse !== undefined ||
      (turn.spec.controlRequests ?? []).some((spec) => spec.subtype === "can_use_tool")
    const spec = turn.spec.toolUse ?? Frames.defaultToolUse
    const tool = { name: spec.name, input: spec.input ?? {}, id: registry.hex("toolu_") }
    if (needsTool) yield* emit(turn, frames.toolUse(turn, registry.hex("msg_"), tool))
    yield* runControlRequests(turn, tool)
    if (!needsTool) return
    turn.numTurns = 2
    yield* emit(turn, frames.toolResult(tool, spec.output ?? "hi-from-tool", turn.toolDenied))
  })

  const retryError = (status: number | null): string => {
    if (status === null) return "unknown"
    if (status === 401 || status === 403) return "authentication_failed"
    if (status === 429) return "rate_limit"
    if (status === 529) return "overloaded"
    return "server_error"
  }

  const emitApiRetries = Effect.fnUntraced(function*(turn: RunningTurn) {
    const retries = turn.spec.apiRetries ?? []
    for (const [index, retry] of retries.entries()) {
      const delay = retry.delay === undefined
        ? Duration.millis(500 * 2 ** index)
        : Duration.fromInputUnsafe(retry.delay)
      yield* emit(
        turn,
        frames.apiRetry(index + 1, retries.length, {
          retry_delay_ms: Duration.toMillis(delay),
          error_status: retry.errorStatus,
          error: retry.error ?? retryError(retry.errorStatus)
        })
      )
      yield* sleep(delay)
    }
  })

  const turnBody = Effect.fnUntraced(function*(turn: RunningTurn) {
    if (turn.spec.delay !== undefined) yield* sleep(turn.spec.delay)
    if (turn.spec.hang === "beforeFirstEvent") return yield* hang
    yield* emit(turn, frames.systemInit())
    yield* emitApiRetries(turn)
    const outcome = turn.spec.result ?? "success"
    if (outcome !== "success") {
      const error = Frames.apiError(outcome.apiErrorStatus, { message: outcome.message })
      yield* emit(turn, frames.apiErrorAssistant(turn, error))
      if (turn.spec.hang === "midTurn") return yield* hang
      const result = frames.apiErrorResult(turn, error)
      yield* emit(turn, result)
      return result
    }
    yield* runToolUse(turn)
    const text = turn.spec.text ?? `echo: ${turn.prompt}`
    yield* emitText(turn, text)
    if (turn.spec.hang === "midTurn") return yield* hang
    const result = frames.result(turn, { result: text })
    yield* emit(turn, result)
    return result
  })

  const interrupted = Effect.fnUntraced(function*(turn: RunningTurn) {
    // Requests the host has not answered are withdrawn, as the real CLI does.
    for (const entry of turn.controlEntries) {
      if (entry.answers.length === 0) yield* writeFrame(Frames.controlCancel(entry.requestId))
    }
    if (turn.streamedText !== "" && turn.apiMessageId !== undefined) {
      yield* writeFrame(
        frames.assistant(turn, turn.apiMessageId, [{ type: "text", text: turn.streamedText }], { aborted: true })
      )
    }
    yield* writeFrame(frames.interruptedUser())
    const result = frames.interruptedResult(turn)
    yield* writeFrame(result)
    return result
  })

  const turnSpec = (index: number): Turn => {
    const turns = script.turns ?? []
    return turns[Math.min(index, turns.length) - 1] ?? {}
  }

  const runTurn = Effect.fnUntraced(function*(message: JsonObject) {
    const commandUuid = stringField(message, "uuid")
    record.turns++
    registry.turns++
    registry.changed()
    const turn: RunningTurn = {
      index: record.turns,
      spec: turnSpec(script.sharedTurns === true ? registry.turns : record.turns),
      message,
      prompt: Frames.promptText(message),
      abort: yield* Deferred.make<void>(),
      startedAt: yield* Clock.currentTimeMillis,
      controlEntries: [],
      permissionDenials: [],
      controlAnswers: [],
      frames: 0,
      streamedText: "",
      apiMessageId: undefined,
      numTurns: 1,
      toolDenied: undefined
    }
    session.current = turn
    if (commandUuid !== undefined) yield* writeFrame(frames.lifecycle(commandUuid, "started"))
    const completed = yield* Effect.raceFirst(
      Effect.map(turnBody(turn), Option.some),
      Effect.as(Deferred.await(turn.abort), Option.none())
    )
    const result = Option.isSome(completed) ? completed.value : yield* interrupted(turn)
    session.current = undefined
    session.lastResultOk = result["is_error"] !== true
    if (commandUuid !== undefined) {
      yield* writeFrame(frames.lifecycle(commandUuid, Option.isSome(completed) ? "completed" : "cancelled"))
    }
    const after = turn.spec.controlRequestsAfterResult ?? []
    if (after.length > 0) {
      const spec = turn.spec.toolUse ?? Frames.defaultToolUse
      yield* runControlRequests(turn, { name: spec.name, input: spec.input ?? {}, id: registry.hex("toolu_") }, after)
    }
    if (turn.spec.hang === "afterResult") return yield* hang
    if (turn.spec.exitAfterResult === true) yield* io.terminate({ _tag: "Exited", code: session.lastResultOk ? 0 : 1 })
  })

  /** `/clear`: a new conversation (and session id) in the same process, as the real CLI does it. */
  const clearConversation = Effect.fnUntraced(function*(message: JsonObject) {
    for (const frame of frames.clear(stringField(message, "uuid"))) yield* writeFrame(frame)
    session.lastResultOk = true
  })

  return { runTurn, clearConversation }
}

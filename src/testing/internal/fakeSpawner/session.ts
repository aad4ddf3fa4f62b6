/**
 * One fake CLI process: a `--version` run, or a stream-json session that answers `initialize`, runs one
 * scripted turn per user message, serves the control protocol in both directions, and exits on stdin EOF.
 */
import type { Cause } from "effect"
import { Clock, Deferred, Duration, Effect, Fiber, Option, Predicate, Queue, Stream } from "effect"
import * as FakeCli from "../../FakeCli.ts"
// The frames, shared with fake-cli.mjs. Not "../../fakeFrames.mjs": tsc does not copy the plain JS module to
// dist/, so the compiled dist/testing/internal/fakeSpawner/*.js reach the shipped src/ copy; from
// src/testing/internal/fakeSpawner/ this path leads to the same file.
import * as Frames from "../../../../src/testing/fakeFrames.mjs"
import type { OutputPipe } from "./pipes.ts"
import type { ExitStatus, MutableControlRequest, MutableRecord, Registry } from "./processTable.ts"
import type { ControlRequest, Crash, JsonObject, Script, Turn } from "./script.ts"

const parseJson: (text: string) => Option.Option<unknown> = Option.liftThrowable((text: string): unknown =>
  JSON.parse(text)
)

const stringField = (object: JsonObject | undefined, key: string): string | undefined => {
  const value = object?.[key]
  return typeof value === "string" ? value : undefined
}

const objectField = (object: JsonObject | undefined, key: string): JsonObject | undefined => {
  const value = object?.[key]
  return Predicate.isObject(value) ? value : undefined
}

interface RunningTurn {
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

/** What a fake process runs with: its record, its script, its pipes, and how it ends. */
export interface ProcessIo {
  readonly registry: Registry
  readonly record: MutableRecord
  readonly script: Script
  readonly stdout: OutputPipe
  readonly stderr: OutputPipe
  /** Decoded stdin lines; ends at EOF. */
  readonly stdinLines: Stream.Stream<string>
  /** Ends the process with this status (the first call wins). */
  readonly terminate: (status: ExitStatus) => Effect.Effect<void>
}

/** `--version`: prints the version and exits 0. */
export const versionProcess = (io: ProcessIo): Effect.Effect<never> =>
  io.stdout.write(`${io.script.version ?? FakeCli.version} (Claude Code)\n`).pipe(
    Effect.andThen(io.terminate({ _tag: "Exited", code: 0 })),
    Effect.andThen(Effect.never)
  )

/** A stream-json session, as the real CLI runs one, until stdin EOF or a signal. */
export const sessionProcess = Effect.fnUntraced(function*(io: ProcessIo) {
  const { record, registry, script } = io
  const args = record.args
  const includePartialMessages = args.includes("--include-partial-messages")
  const resumed = Frames.flagValue(args, "--resume")
  // Time in frames (timestamps, durations) is Clock time, so a TestClock sets it too.
  const clock = yield* Clock.Clock
  const frames = new Frames.CliFrames({
    sessionId: Frames.flagValue(args, "--session-id") ??
      (resumed !== undefined && !args.includes("--fork-session") ? resumed : registry.uuid()),
    model: Frames.resolveModel(Frames.flagValue(args, "--model") ?? "default"),
    permissionMode: Frames.flagValue(args, "--permission-mode") ?? "default",
    cwd: record.cwd ?? process.cwd(),
    version: script.version ?? FakeCli.version,
    apiKeySource: record.env["ANTHROPIC_API_KEY"] === undefined ? "none" : "ANTHROPIC_API_KEY",
    // Deterministic ids, in the order the frames take them.
    uuid: () => registry.uuid(),
    requestId: () => registry.hex("req_fake_"),
    now: () => clock.currentTimeMillisUnsafe()
  })
  let lastResultOk = true
  let current: RunningTurn | undefined
  const pending = new Map<string, MutableControlRequest>()

  const writeFrame = (frame: JsonObject) => io.stdout.write(`${JSON.stringify(frame)}\n`)

  /** A Clock sleep, visible in the record while it lasts. */
  const sleep = (duration: Duration.Input) =>
    Effect.suspend(() => {
      record.sleeping = true
      record.sleeps++
      registry.changed()
      return Effect.sleep(duration)
    }).pipe(
      Effect.ensuring(Effect.sync(() => {
        record.sleeping = false
        registry.changed()
      }))
    )

  const hang = Effect.suspend(() => {
    record.hung = true
    registry.changed()
    return io.stderr.write("fake-cli: hanging (simulated)\n")
  }).pipe(Effect.andThen(Effect.never))

  // --- a turn --------------------------------------------------------------------------------------------

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
    current = turn
    if (commandUuid !== undefined) yield* writeFrame(frames.lifecycle(commandUuid, "started"))
    const completed = yield* Effect.raceFirst(
      Effect.map(turnBody(turn), Option.some),
      Effect.as(Deferred.await(turn.abort), Option.none())
    )
    const result = Option.isSome(completed) ? completed.value : yield* interrupted(turn)
    current = undefined
    lastResultOk = result["is_error"] !== true
    if (commandUuid !== undefined) {
      yield* writeFrame(frames.lifecycle(commandUuid, Option.isSome(completed) ? "completed" : "cancelled"))
    }
    const after = turn.spec.controlRequestsAfterResult ?? []
    if (after.length > 0) {
      const spec = turn.spec.toolUse ?? Frames.defaultToolUse
      yield* runControlRequests(turn, { name: spec.name, input: spec.input ?? {}, id: registry.hex("toolu_") }, after)
    }
    if (turn.spec.hang === "afterResult") return yield* hang
    if (turn.spec.exitAfterResult === true) yield* io.terminate({ _tag: "Exited", code: lastResultOk ? 0 : 1 })
  })

  /** `/clear`: a new conversation (and session id) in the same process, as the real CLI does it. */
  const clearConversation = Effect.fnUntraced(function*(message: JsonObject) {
    for (const frame of frames.clear(stringField(message, "uuid"))) yield* writeFrame(frame)
    lastResultOk = true
  })

  // --- the host's frames ---------------------------------------------------------------------------------

  const controlSuccess = (requestId: string | undefined, response: JsonObject) =>
    writeFrame(Frames.controlSuccess(requestId ?? "", response))

  const handleControlRequest = Effect.fnUntraced(function*(frame: JsonObject) {
    const requestId = stringField(frame, "request_id")
    const request = objectField(frame, "request") ?? {}
    const subtype = stringField(request, "subtype")
    switch (subtype) {
      case "initialize":
        return yield* controlSuccess(requestId, frames.initializeResponse(record.pid, current !== undefined))
      case "interrupt": {
        yield* controlSuccess(requestId, { still_queued: [] })
        if (current !== undefined) yield* Deferred.succeed(current.abort, undefined)
        return
      }
      case "set_model": {
        frames.model = Frames.resolveModel(stringField(request, "model") ?? "default")
        return yield* controlSuccess(requestId, { model: frames.model })
      }
      case "set_permission_mode": {
        frames.permissionMode = stringField(request, "mode") ?? frames.permissionMode
        yield* controlSuccess(requestId, { mode: frames.permissionMode })
        return yield* writeFrame(frames.permissionModeStatus())
      }
      case "set_max_thinking_tokens":
        return yield* controlSuccess(requestId, {})
      case "mcp_status":
        return yield* controlSuccess(requestId, { mcpServers: [] })
      default:
        return yield* writeFrame(Frames.controlUnsupported(requestId ?? "", subtype ?? "(none)"))
    }
  })

  const handleControlResponse = (frame: JsonObject) =>
    Effect.suspend(() => {
      const response = objectField(frame, "response") ?? {}
      const requestId = stringField(response, "request_id") ?? ""
      const entry = pending.get(requestId)
      record.controlAnswers.push({ pid: record.pid, requestId, subtype: entry?.subtype, response })
      registry.changed()
      if (entry === undefined) return io.stderr.write(`fake-cli: control_response for unknown request ${requestId}\n`)
      entry.answers.push(response)
      registry.changed()
      if (entry.answers.length === 1) return Deferred.succeed(entry.answered, undefined)
      return io.stderr.write(`fake-cli: duplicate control_response for ${requestId}\n`)
    })

  // --- main loop -----------------------------------------------------------------------------------------

  const inbox = yield* Queue.unbounded<JsonObject, Cause.Done>()
  const turnQueue = yield* Queue.unbounded<JsonObject, Cause.Done>()

  // stdin is read and recorded from the start, whatever the fake does with it.
  yield* io.stdinLines.pipe(
    Stream.runForEach((raw) =>
      Effect.suspend(() => {
        const line = raw.trim()
        if (line === "") return Effect.void
        const parsed = parseJson(line)
        const value = Option.isSome(parsed) ? parsed.value : line
        record.stdin.push(value)
        registry.changed()
        return Predicate.isObject(value) ? Effect.asVoid(Queue.offer(inbox, value)) : Effect.void
      })
    ),
    Effect.andThen(Effect.sync(() => {
      record.stdinClosed = true
      registry.changed()
    })),
    Effect.andThen(Queue.end(inbox)),
    Effect.forkChild
  )

  if (script.stderr !== undefined) {
    yield* io.stderr.write(script.stderr.endsWith("\n") ? script.stderr : `${script.stderr}\n`)
  }
  if (script.startupDelay !== undefined) yield* sleep(script.startupDelay)
  if (script.hangBeforeInit === true) return yield* hang

  const runner = yield* Stream.fromQueue(turnQueue).pipe(
    Stream.runForEach((message) =>
      Frames.promptText(message).trim() === "/clear" ? clearConversation(message) : runTurn(message)
    ),
    Effect.forkChild
  )

  yield* Stream.fromQueue(inbox).pipe(
    Stream.runForEach((frame) => {
      if (record.hung) return Effect.void
      switch (frame["type"]) {
        case "user": {
          const commandUuid = stringField(frame, "uuid")
          // The real CLI acknowledges a user message that carries a uuid at once, before its turn starts.
          return (commandUuid === undefined ? Effect.void : writeFrame(frames.lifecycle(commandUuid, "queued"))).pipe(
            Effect.andThen(Queue.offer(turnQueue, frame))
          )
        }
        case "control_request":
          return handleControlRequest(frame)
        case "control_response":
          return handleControlResponse(frame)
        default:
          // keep_alive, control_cancel_request, and anything newer: nothing to do.
          return Effect.void
      }
    })
  )
  // stdin EOF: finish the queued turns, then exit (never, if a turn hung).
  yield* Queue.end(turnQueue)
  yield* Fiber.join(runner)
  yield* io.terminate({ _tag: "Exited", code: lastResultOk ? 0 : 1 })
  return yield* Effect.never
})

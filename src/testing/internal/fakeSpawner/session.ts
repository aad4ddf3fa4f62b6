/**
 * One fake CLI process: a `--version` run, or a stream-json session that answers `initialize`, runs one
 * scripted turn per user message, serves the control protocol in both directions, and exits on stdin EOF.
 */
import type { Cause, Duration } from "effect"
import { Clock, Deferred, Effect, Fiber, Option, Predicate, Queue, Stream } from "effect"
import * as FakeCli from "../../FakeCli.ts"
// The frames, shared with fake-cli.mjs. Not "../../fakeFrames.mjs": tsc does not copy the plain JS module to
// dist/, so the compiled dist/testing/internal/fakeSpawner/*.js reach the shipped src/ copy; from
// src/testing/internal/fakeSpawner/ this path leads to the same file.
import * as Frames from "../../../../src/testing/fakeFrames.mjs"
import { objectField, parseJson, stringField } from "./frameFields.ts"
import type { ProcessIo } from "./io.ts"
import type { MutableControlRequest } from "./processTable.ts"
import type { JsonObject } from "./script.ts"
import { makeTurns, type Session } from "./turn.ts"

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

  const session: Session = {
    io,
    frames,
    includePartialMessages,
    pending,
    writeFrame,
    sleep,
    hang,
    current: undefined,
    lastResultOk: true
  }
  const { clearConversation, runTurn } = makeTurns(session)

  // --- the host's frames ---------------------------------------------------------------------------------

  const controlSuccess = (requestId: string | undefined, response: JsonObject) =>
    writeFrame(Frames.controlSuccess(requestId ?? "", response))

  const handleControlRequest = Effect.fnUntraced(function*(frame: JsonObject) {
    const requestId = stringField(frame, "request_id")
    const request = objectField(frame, "request") ?? {}
    const subtype = stringField(request, "subtype")
    switch (subtype) {
      case "initialize":
        return yield* controlSuccess(requestId, frames.initializeResponse(record.pid, session.current !== undefined))
      case "interrupt": {
        yield* controlSuccess(requestId, { still_queued: [] })
        if (session.current !== undefined) yield* Deferred.succeed(session.current.abort, undefined)
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
  yield* io.terminate({ _tag: "Exited", code: session.lastResultOk ? 0 : 1 })
  return yield* Effect.never
})

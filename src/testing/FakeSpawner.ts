/**
 * An in-process fake of the Claude Code CLI, as a `ChildProcessSpawner` Layer.
 *
 * Every spawn becomes a fiber that speaks the stream-json session protocol like the real CLI 2.1.329 (and
 * like the out-of-process `fake-cli.mjs`): it answers `initialize`, runs one scripted {@link Turn} per user
 * message, serves the control protocol in both directions, and exits on stdin EOF. Nothing touches the OS,
 * and **every delay is an `Effect.sleep` on the Effect `Clock`**, so a test under `it.effect` drives
 * startup delays, slow frames, hangs, timeouts and kill escalation with `TestClock.adjust`.
 *
 * ```ts
 * const TestLayer = Claude.layerNoDeps.pipe(
 *   Layer.provideMerge(ProcessManager.layer()),
 *   Layer.provide(TokenManager.layerTest(Option.none())),
 *   Layer.provideMerge(FakeSpawner.layer({ turns: [{ text: "hi", delay: "2 seconds" }] })),
 *   Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
 * )
 * // Claude.query("hello", { executable: FakeSpawner.executable }) ...
 * ```
 *
 * The spawner ignores the executable path, but the library's `ProcessManager` checks that the path is an
 * executable file before it spawns: pass {@link executable} (a real file that is never run).
 *
 * The {@link FakeSpawnerState} service of the same Layer records what happened: processes spawned and
 * still running, every stdin line, every control request the fake sent and each answer it got, every
 * signal delivered. {@link FakeSpawnerState} `waitUntil` suspends until a condition holds, which is how a
 * test waits for the fake to reach a point (hung, a request answered, ...) before it moves the clock.
 *
 * Signals: `kill` (and closing the spawn's scope while the fake runs) delivers `killSignal` (default
 * `SIGTERM`); the fake dies by it unless {@link Script} `sigterm` says otherwise, and `exitCode` fails
 * exactly as the Node spawner's does: a `PlatformError` (`Unknown`) whose message is
 * `Unknown: ChildProcess.exitCode (<command line>)` and whose `cause` is an `Error` with the message
 * `Process interrupted due to receipt of signal: 'SIGTERM'`. `forceKillAfter` escalates to
 * `SIGKILL` after that long on the Clock. Without `forceKillAfter`, `kill` waits for the exit with no
 * limit, as the real spawner does: a fake with `sigterm: "ignore"` then never exits.
 *
 * @since 0.1.0
 */
import {
  Cause,
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  PlatformError,
  Predicate,
  Queue,
  Redacted,
  type Scope,
  Sink,
  Stream
} from "effect"
import type { ChildProcess } from "effect/process"
import { ChildProcessSpawner, CommandLine } from "effect/process"
import { dieUnlessWithin } from "../internal/realTimeBound.ts"
import * as FakeCli from "./FakeCli.ts"
// The frames, shared with fake-cli.mjs. Not "./fakeFrames.mjs": tsc does not copy the plain JS module to
// dist/, so the compiled dist/testing/FakeSpawner.js reaches the shipped src/ copy; from src/testing/ this
// path leads to the same file.
import * as Frames from "../../src/testing/fakeFrames.mjs"

// ---------------------------------------------------------------------------------------------------------
// Script
// ---------------------------------------------------------------------------------------------------------

/**
 * A JSON object, as sent in frames.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonObject = FakeCli.JsonObject

/**
 * A control request the fake sends the host during a turn. `can_use_tool` and `hook_callback` requests get
 * their missing fields from the turn's tool call (`tool_name`, `input`, `tool_use_id`, `callback_id`, ...);
 * any other subtype is sent as given.
 *
 * @since 0.1.0
 * @category models
 */
export interface ControlRequest extends JsonObject {
  readonly subtype: string
}

/**
 * A tool call the turn makes before its text: an `assistant` frame with a `tool_use` block, then a `user`
 * frame with the `tool_result` (`output`, default `"hi-from-tool"`, or the denial when a `can_use_tool`
 * request of the turn was not allowed).
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolUse {
  readonly name: string
  readonly input?: JsonObject
  readonly output?: string
}

/**
 * End the turn the way the real CLI reports an API failure: a synthetic `assistant` frame and a `result`
 * with `subtype: "success"`, `is_error: true`, `api_error_status`, `terminal_reason: "api_error"` and
 * `result: "API Error: ..."` (or `message`). The process stays alive and exits 1 on stdin EOF.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApiErrorResult {
  /** 400, 401, 403, 429, 500 and 529 get the real CLI's texts and types; any other status a generic one. */
  readonly apiErrorStatus: number
  readonly message?: string
}

/**
 * Die in the middle of the turn, after it has written `afterFrames` frames (default 1: right after its
 * `system/init`). With `signal` the process dies by it (`exitCode` fails), otherwise it exits with
 * `exitCode` (default 1). The frames written so far stay readable.
 *
 * @since 0.1.0
 * @category models
 */
export interface Crash {
  readonly exitCode?: number
  readonly signal?: ChildProcess.Signal
  readonly afterFrames?: number
}

/**
 * A `system/api_retry` frame: the CLI announcing it retries a failed API call by itself. The fake then
 * waits `delay` (Clock time, default 500 ms doubling per retry, as the real CLI roughly does) before its
 * next frame, like the CLI waiting before its next attempt.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApiRetry {
  /** `null` for a connection error. */
  readonly errorStatus: number | null
  /** Default from the status: 401/403 `authentication_failed`, 429 `rate_limit`, 529 `overloaded`, else `server_error` (`unknown` for `null`). */
  readonly error?: string
  readonly delay?: Duration.Input
}

/**
 * The scripted reply to one user message. Every field is optional; `{}` echoes the prompt
 * (`echo: <prompt>`). The frames of a turn, in order: `system/init`, the tool call and the control
 * requests, `stream_event` deltas (only with `--include-partial-messages`), the `assistant` text, the
 * `result`, then the `controlRequestsAfterResult`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Turn {
  /** Reply text. Default `echo: <prompt>`. */
  readonly text?: string
  /** Pause before the first frame of the turn (Clock time). */
  readonly delay?: Duration.Input
  /** Pause before every frame of the turn (Clock time). */
  readonly frameDelay?: Duration.Input
  /**
   * Go silent for good: no further byte on stdout, no answer to anything, no exit on stdin EOF; stdin is
   * still read and recorded. Only a signal ends the process.
   *
   * - `"beforeFirstEvent"`: the turn writes nothing;
   * - `"midTurn"`: after the reply text, before the `result`;
   * - `"afterResult"`: after the `result`.
   */
  readonly hang?: "beforeFirstEvent" | "midTurn" | "afterResult"
  /** Default `"success"`. */
  readonly result?: "success" | ApiErrorResult
  readonly toolUse?: ToolUse
  /**
   * Sent to the host all at once (after the tool call); the turn waits until each has an answer (or
   * `controlTimeout` runs out), then goes on. Answers are recorded in {@link FakeSpawnerState}, and summed
   * up in the `result` frame as `fake_control_answers`. A `can_use_tool` request that is not answered
   * `{ behavior: "allow" }` denies the tool.
   */
  readonly controlRequests?: ReadonlyArray<ControlRequest>
  /** How long the turn waits for answers to its control requests. Default: as long as it takes. */
  readonly controlTimeout?: Duration.Input
  /**
   * F05: sent to the host right after the turn's `result` (and its `command_lifecycle`), all at once, as
   * the real CLI may do (hooks that fire once the turn is over): the host must keep stdin open and answer
   * them although no turn runs. The fake waits for their answers like for `controlRequests` (up to
   * `controlTimeout`) before it takes the next user message (or exits, on EOF or `exitAfterResult`).
   * Answers are recorded in {@link FakeSpawnerState} only: the result is already written.
   */
  readonly controlRequestsAfterResult?: ReadonlyArray<ControlRequest>
  /**
   * F05: exit right after the turn (its `result`, then `controlRequestsAfterResult` answered), without
   * waiting for stdin EOF, the way a one-shot `-p` run does: code 0, or 1 after an error result.
   */
  readonly exitAfterResult?: boolean
  readonly crash?: Crash
  /**
   * F12, F13: `system/api_retry` frames right after the turn's `system/init`, each followed by its delay;
   * then the turn goes on as scripted (a `result` that reports an API error, say, or a normal reply).
   */
  readonly apiRetries?: ReadonlyArray<ApiRetry>
}

/**
 * What every fake process of a Layer does.
 *
 * @since 0.1.0
 * @category models
 */
export interface Script {
  /** What `--version` prints (`<version> (Claude Code)`) and frames report. Default {@link defaultVersion}. */
  readonly version?: string
  /** Pause (Clock time) before the fake handles any input; `initialize` is answered after it. */
  readonly startupDelay?: Duration.Input
  /** Never answer `initialize` (nor anything else); stdin is still recorded. Only a signal ends it. */
  readonly hangBeforeInit?: boolean
  /** One per user message (`/clear` does not count); the last one repeats. Default: echo every prompt. */
  readonly turns?: ReadonlyArray<Turn>
  /**
   * Count turns across every session process of the Layer, not per process: a process started to replace
   * one that crashed (crash recovery, `--resume`) takes the next turn of the script instead of starting
   * over at the first (which would crash it again). Default `false`.
   */
  readonly sharedTurns?: boolean
  /**
   * What `SIGTERM` does:
   * - `"die"` (default): death by signal; `exitCode` fails like the real spawner's does;
   * - `"exit"`: exit code 143 at once, like the real CLI, which catches `SIGTERM`;
   * - `"ignore"`: keep running (only `SIGKILL` ends it).
   */
  readonly sigterm?: "die" | "exit" | "ignore"
  /** Written to stderr at start-up. */
  readonly stderr?: string
  /** Number of `text_delta` stream events per reply, with `--include-partial-messages` (default 3). */
  readonly partialChunks?: number
}

/**
 * The version the fake reports by default, the real CLI's it imitates.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultVersion: string = FakeCli.version

/**
 * An executable file to pass as the `executable` option: the library checks the path is an executable
 * file before it spawns, and the fake spawner ignores the path. (It is `fake-cli.mjs`, never run here.)
 *
 * @since 0.1.0
 * @category constants
 */
export const executable: string = FakeCli.path

// ---------------------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------------------

/**
 * How a fake process ended.
 *
 * @since 0.1.0
 * @category models
 */
export type ExitStatus =
  | { readonly _tag: "Exited"; readonly code: number }
  | { readonly _tag: "Signaled"; readonly signal: ChildProcess.Signal }

/**
 * An answer the host sent to a control request of the fake. `response` is the answer's `response`
 * envelope (`{ subtype, request_id, response | error }`); `subtype` is the request's, `undefined` when the
 * answer named no request the fake sent.
 *
 * @since 0.1.0
 * @category models
 */
export interface ControlAnswer {
  readonly pid: number
  readonly requestId: string
  readonly subtype: string | undefined
  readonly response: JsonObject
}

/**
 * A control request the fake sent the host, and every answer it got (exactly one is right).
 *
 * @since 0.1.0
 * @category models
 */
export interface ControlRequestRecord {
  readonly requestId: string
  readonly subtype: string
  readonly request: JsonObject
  readonly answers: ReadonlyArray<JsonObject>
}

/**
 * A signal delivered to a fake process (by `kill` or by closing its scope), ignored or not.
 *
 * @since 0.1.0
 * @category models
 */
export interface SignalRecord {
  readonly pid: number
  readonly signal: ChildProcess.Signal
}

/**
 * What happened to one fake process, as of the snapshot.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProcessRecord {
  readonly pid: number
  /** `"version"` for a `--version` run, `"session"` otherwise. */
  readonly kind: "version" | "session"
  readonly command: string
  /** Arguments, `Redacted` ones unwrapped. */
  readonly args: ReadonlyArray<string>
  readonly cwd: string | undefined
  readonly env: Readonly<Record<string, string | Redacted.Redacted<string> | undefined>>
  /** Every non-blank stdin line, parsed as JSON (a line that is not JSON is kept as its string). */
  readonly stdin: ReadonlyArray<unknown>
  /** stdin reached EOF: the host closed it (or never opened it). */
  readonly stdinClosed: boolean
  readonly controlRequests: ReadonlyArray<ControlRequestRecord>
  readonly controlAnswers: ReadonlyArray<ControlAnswer>
  readonly signals: ReadonlyArray<ChildProcess.Signal>
  /** Turns started (`/clear` not counted). */
  readonly turns: number
  /**
   * Sleeping on the Clock right now (`startupDelay`, `delay`, `frameDelay`): the moment to adjust a
   * `TestClock`. Set just before the sleep starts, in the same fiber step.
   */
  readonly sleeping: boolean
  /** Clock sleeps started so far. */
  readonly sleeps: number
  /** Gone silent for good (a scripted hang). */
  readonly hung: boolean
  readonly running: boolean
  readonly exit: ExitStatus | undefined
  /** What the host wrote to each extra descriptor (`additionalFds`), decoded as UTF-8: fd 3 carries the credential. */
  readonly descriptors: Readonly<Record<number, string>>
}

/**
 * What the fake processes of a {@link layer} did. Every accessor returns a snapshot.
 *
 * @since 0.1.0
 * @category services
 */
export class FakeSpawnerState extends Context.Service<FakeSpawnerState, {
  readonly processes: Effect.Effect<ReadonlyArray<ProcessRecord>>
  /** Processes spawned so far, `--version` runs included. */
  readonly spawned: Effect.Effect<number>
  /** Processes still running. */
  readonly live: Effect.Effect<number>
  readonly controlAnswers: Effect.Effect<ReadonlyArray<ControlAnswer>>
  readonly signals: Effect.Effect<ReadonlyArray<SignalRecord>>
  /**
   * Suspends until `predicate` holds for the processes (checked now and after every change), then returns
   * them. It does not use the Clock: use it to wait for a fake to reach a point before adjusting the
   * `TestClock`. It waits {@link WaitOptions} `within` of real time at most (10 s by default), then dies
   * naming what it waited for and the processes as they are.
   */
  readonly waitUntil: (
    predicate: (processes: ReadonlyArray<ProcessRecord>) => boolean,
    options?: WaitOptions
  ) => Effect.Effect<ReadonlyArray<ProcessRecord>>
}>()("effect-claude-code/testing/FakeSpawner/FakeSpawnerState") {}

/**
 * How long {@link FakeSpawnerState} `waitUntil` waits, and what its failure says.
 *
 * @since 0.1.0
 * @category models
 */
export interface WaitOptions {
  /**
   * Real time, not the Clock (a `TestClock` moves only when the test moves it, and the test is waiting).
   * Default 10 seconds.
   */
  readonly within?: Duration.Input | undefined
  /** What is awaited, for the failure. Default: the predicate's source text. */
  readonly what?: string | undefined
}

const describeProcess = (p: ProcessRecord): string =>
  `${p.pid} ${p.kind}${p.running ? "" : " exited"}${p.sleeping ? " sleeping" : ""}${
    p.hung ? " hung" : ""
  } turns=${p.turns}`

interface MutableControlRequest {
  readonly requestId: string
  readonly subtype: string
  readonly request: JsonObject
  readonly answers: Array<JsonObject>
  readonly answered: Deferred.Deferred<void>
}

interface MutableRecord {
  readonly pid: number
  readonly kind: "version" | "session"
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string | undefined
  readonly env: Readonly<Record<string, string | Redacted.Redacted<string> | undefined>>
  readonly stdin: Array<unknown>
  stdinClosed: boolean
  readonly controlRequests: Array<MutableControlRequest>
  readonly controlAnswers: Array<ControlAnswer>
  readonly signals: Array<ChildProcess.Signal>
  turns: number
  sleeping: boolean
  sleeps: number
  hung: boolean
  exit: ExitStatus | undefined
  readonly descriptors: Record<number, string>
}

const snapshotOf = (record: MutableRecord): ProcessRecord => ({
  descriptors: { ...record.descriptors },
  pid: record.pid,
  kind: record.kind,
  command: record.command,
  args: record.args,
  cwd: record.cwd,
  env: record.env,
  stdin: [...record.stdin],
  stdinClosed: record.stdinClosed,
  controlRequests: record.controlRequests.map((entry) => ({
    requestId: entry.requestId,
    subtype: entry.subtype,
    request: entry.request,
    answers: [...entry.answers]
  })),
  controlAnswers: [...record.controlAnswers],
  signals: [...record.signals],
  turns: record.turns,
  sleeping: record.sleeping,
  sleeps: record.sleeps,
  hung: record.hung,
  running: record.exit === undefined,
  exit: record.exit
})

class Registry {
  readonly records: Array<MutableRecord> = []
  private readonly listeners = new Set<() => void>()
  private nextPid = 4200
  private nextId = 0
  /** Turns started by every session process (for `sharedTurns`). */
  turns = 0

  pid(): number {
    return ++this.nextPid
  }

  /** Deterministic ids in UUID form, unique per Layer. */
  uuid(): string {
    return `00000000-0000-4000-8000-${(++this.nextId).toString(16).padStart(12, "0")}`
  }

  hex(prefix: string): string {
    return `${prefix}${(++this.nextId).toString(16).padStart(24, "0")}`
  }

  snapshot(): ReadonlyArray<ProcessRecord> {
    return this.records.map(snapshotOf)
  }

  changed(): void {
    for (const listener of [...this.listeners]) listener()
  }

  waitUntil(predicate: (processes: ReadonlyArray<ProcessRecord>) => boolean, options?: WaitOptions) {
    return Effect.callback<ReadonlyArray<ProcessRecord>>((resume) => {
      const check = (): boolean => {
        const processes = this.snapshot()
        if (!predicate(processes)) return false
        this.listeners.delete(check)
        resume(Effect.succeed(processes))
        return true
      }
      if (check()) return
      this.listeners.add(check)
      return Effect.sync(() => {
        this.listeners.delete(check)
      })
    }).pipe(
      dieUnlessWithin(
        options?.within ?? Duration.seconds(10),
        (bound) =>
          `FakeSpawnerState.waitUntil: not reached within ${bound}: ${
            options?.what ?? predicate.toString()
          }; processes: ${this.snapshot().map(describeProcess).join("; ") || "none"}`
      )
    )
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reading the host's frames (the frames the fake writes come from fakeFrames.mjs)
// ---------------------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------------
// Pipes
// ---------------------------------------------------------------------------------------------------------

/** Chunks a fake may have written that nobody has read yet: past this, its writes wait (backpressure). */
const PIPE_CAPACITY = 256

interface OutputPipe {
  readonly write: (text: string) => Effect.Effect<void>
  readonly stream: Stream.Stream<Uint8Array, PlatformError.PlatformError>
  readonly close: Effect.Effect<void>
}

const encoder = new TextEncoder()

const makeOutput = (option: ChildProcess.CommandOptions["stdout"]) =>
  Effect.map(Queue.bounded<Uint8Array, Cause.Done>(PIPE_CAPACITY), (queue): OutputPipe => {
    const target = option !== undefined && typeof option === "object" && !Sink.isSink(option) ? option.stream : option
    const close = Effect.asVoid(Queue.end(queue))
    if (target === "ignore" || target === "inherit") {
      return { write: () => Effect.void, stream: Stream.empty, close }
    }
    const piped: Stream.Stream<Uint8Array, PlatformError.PlatformError> = Stream.fromQueue(queue)
    return {
      write: (text) => Effect.asVoid(Queue.offer(queue, encoder.encode(text))),
      stream: target !== undefined && Sink.isSink(target) ? Stream.transduce(piped, target) : piped,
      close
    }
  })

const resolveStdin = (options: ChildProcess.CommandOptions): ChildProcess.StdinConfig => {
  const option = options.stdin
  if (option === undefined) return { stream: "pipe" }
  if (typeof option === "string" || Stream.isStream(option)) return { stream: option }
  return option
}

// ---------------------------------------------------------------------------------------------------------
// One fake process
// ---------------------------------------------------------------------------------------------------------

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

interface ProcessIo {
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

const versionProcess = (io: ProcessIo): Effect.Effect<never> =>
  io.stdout.write(`${io.script.version ?? defaultVersion} (Claude Code)\n`).pipe(
    Effect.andThen(io.terminate({ _tag: "Exited", code: 0 })),
    Effect.andThen(Effect.never)
  )

const sessionProcess = Effect.fnUntraced(function*(io: ProcessIo) {
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
    version: script.version ?? defaultVersion,
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

// ---------------------------------------------------------------------------------------------------------
// The spawner
// ---------------------------------------------------------------------------------------------------------

/**
 * Exactly what the Node spawner fails `exitCode` with on a death by signal: the message is
 * `Unknown: ChildProcess.exitCode (<command line>)`, and only the `cause` names the signal.
 */
const signalError = (command: ChildProcess.StandardCommand, signal: ChildProcess.Signal) =>
  PlatformError.systemError({
    _tag: "Unknown",
    module: "ChildProcess",
    method: "exitCode",
    pathOrDescriptor: CommandLine.display([command.command, ...command.args]),
    cause: new Error(`Process interrupted due to receipt of signal: '${signal}'`)
  })

const brokenPipe = (command: ChildProcess.StandardCommand) =>
  PlatformError.systemError({
    _tag: "Unknown",
    module: "ChildProcess",
    method: "fromWritable(stdin)",
    pathOrDescriptor: CommandLine.display([command.command, ...command.args]),
    description: "write EPIPE: the process has exited",
    syscall: "write"
  })

const makeSpawn = (registry: Registry, script: Script) =>
  Effect.fnUntraced(function*(command: ChildProcess.Command) {
    if (command._tag !== "StandardCommand") {
      return yield* Effect.fail(PlatformError.badArgument({
        module: "ChildProcess",
        method: "spawn",
        description: "the FakeSpawner runs single commands, not pipelines"
      }))
    }
    const options = command.options
    const args = command.args.map((word) => (Redacted.isRedacted(word) ? Redacted.value(word) : word))
    const record: MutableRecord = {
      pid: registry.pid(),
      kind: args.includes("--version") || args.includes("-v") ? "version" : "session",
      command: command.command,
      args,
      cwd: options.cwd,
      env: { ...options.env },
      descriptors: {},
      stdin: [],
      stdinClosed: false,
      controlRequests: [],
      controlAnswers: [],
      signals: [],
      turns: 0,
      sleeping: false,
      sleeps: 0,
      hung: false,
      exit: undefined
    }
    registry.records.push(record)
    registry.changed()

    const stdout = yield* makeOutput(options.stdout)
    const stderr = yield* makeOutput(options.stderr)
    const stdinQueue = yield* Queue.unbounded<Uint8Array, Cause.Done>()
    const terminated = yield* Deferred.make<ExitStatus>()
    const exited = yield* Deferred.make<ExitStatus>()

    const finish = (status: ExitStatus) =>
      Effect.suspend(() => {
        if (record.exit !== undefined) return Effect.void
        record.exit = status
        registry.changed()
        return Effect.all([stdout.close, stderr.close, Queue.shutdown(stdinQueue), Deferred.succeed(exited, status)], {
          discard: true
        })
      })

    // stdin: a sink that feeds the fake; EOF when its stream ends (unless `endOnDone: false`).
    const stdinConfig = resolveStdin(options)
    const stdinSink: Sink.Sink<void, Uint8Array, never, PlatformError.PlatformError> = Sink.forEach((
      chunk: Uint8Array
    ) =>
      Effect.flatMap(
        Queue.offer(stdinQueue, chunk),
        (accepted) => (accepted ? Effect.void : Effect.fail(brokenPipe(command)))
      )
    ).pipe(
      Sink.onExit((
        exit
      ) => (Exit.isSuccess(exit) && stdinConfig.endOnDone !== false ? Queue.end(stdinQueue) : Effect.void))
    )
    const input = stdinConfig.stream
    if (input === "ignore" || input === "inherit") yield* Queue.end(stdinQueue)

    const io: ProcessIo = {
      registry,
      record,
      script,
      stdout,
      stderr,
      stdinLines: Stream.fromQueue(stdinQueue).pipe(Stream.decodeText(), Stream.splitLines),
      terminate: (status) => Effect.asVoid(Deferred.succeed(terminated, status))
    }

    const fiber = yield* Effect.raceFirst(
      record.kind === "version" ? versionProcess(io) : sessionProcess(io),
      Deferred.await(terminated)
    ).pipe(
      Effect.flatMap(finish),
      Effect.onExit((exit) => {
        if (Exit.isSuccess(exit)) return Effect.void
        // Interrupted without a signal (its scope went away): as good as SIGKILLed. A defect in the fake
        // itself: exit 70, as fake-cli.mjs does on an internal error, so the host does not wait forever.
        if (Cause.hasInterruptsOnly(exit.cause)) return finish({ _tag: "Signaled", signal: "SIGKILL" })
        return Effect.logError("FakeSpawner: internal error in a fake process", exit.cause).pipe(
          Effect.andThen(finish({ _tag: "Exited", code: 70 }))
        )
      }),
      Effect.forkDetach
    )

    const deliver = (signal: ChildProcess.Signal) =>
      Effect.suspend(() => {
        if (record.exit !== undefined) return Effect.void
        record.signals.push(signal)
        registry.changed()
        if (signal !== "SIGTERM") return io.terminate({ _tag: "Signaled", signal })
        switch (script.sigterm ?? "die") {
          case "ignore":
            return io.stderr.write("fake-cli: ignoring SIGTERM\n")
          case "exit":
            return io.terminate({ _tag: "Exited", code: 143 })
          case "die":
            return io.terminate({ _tag: "Signaled", signal })
        }
      })

    const kill = Effect.fnUntraced(function*(killOptions?: ChildProcess.KillOptions) {
      if (record.exit !== undefined) return
      yield* deliver(killOptions?.killSignal ?? "SIGTERM")
      if (killOptions?.forceKillAfter === undefined) {
        yield* Deferred.await(exited)
        return
      }
      const done = yield* Effect.timeoutOption(Deferred.await(exited), killOptions.forceKillAfter)
      if (Option.isNone(done)) {
        yield* deliver("SIGKILL")
        yield* Deferred.await(exited)
      }
    })

    // Closing the spawn's scope stops a fake that still runs, as the real spawner does with its child.
    yield* Effect.addFinalizer(() =>
      kill({ killSignal: options.killSignal, forceKillAfter: options.forceKillAfter }).pipe(
        Effect.andThen(Fiber.interrupt(fiber))
      )
    )

    if (Stream.isStream(input)) {
      yield* Stream.run(input, stdinSink).pipe(Effect.ignore, Effect.forkScoped)
    }

    const stdoutStream = stdout.stream
    const stderrStream = stderr.stream
    return ChildProcessSpawner.makeHandle({
      pid: ChildProcessSpawner.ProcessId(record.pid),
      exitCode: Effect.flatMap(Deferred.await(exited), (status) =>
        status._tag === "Exited"
          ? Effect.succeed(ChildProcessSpawner.ExitCode(status.code))
          : Effect.fail(signalError(command, status.signal))),
      isRunning: Effect.map(Deferred.isDone(exited), (done) => !done),
      kill,
      stdin: input === "pipe" || input === "overlapped" ? stdinSink : Sink.drain,
      stdout: stdoutStream,
      stderr: stderrStream,
      all: Stream.merge(stdoutStream, stderrStream),
      getInputFd: (fd) =>
        Sink.forEach((chunk: Uint8Array) =>
          Effect.sync(() => {
            record.descriptors[fd] = (record.descriptors[fd] ?? "") + new TextDecoder().decode(chunk)
            registry.changed()
          })
        ),
      getOutputFd: () => Stream.empty,
      // The fake cannot outlive the test: closing the scope stops it whether or not it was unref'ed.
      unref: Effect.succeed(Effect.void)
    })
  })

/**
 * Builds the fake spawner and its state.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (script: Script = {}): {
  readonly spawner: ChildProcessSpawner.ChildProcessSpawner["Service"]
  readonly state: FakeSpawnerState["Service"]
} => {
  const registry = new Registry()
  const spawn: (
    command: ChildProcess.Command
  ) => Effect.Effect<ChildProcessSpawner.ChildProcessHandle, PlatformError.PlatformError, Scope.Scope> = makeSpawn(
    registry,
    script
  )
  const snapshot = Effect.sync(() => registry.snapshot())
  return {
    spawner: ChildProcessSpawner.make(spawn),
    state: FakeSpawnerState.of({
      processes: snapshot,
      spawned: Effect.sync(() => registry.records.length),
      live: Effect.sync(() => registry.records.filter((record) => record.exit === undefined).length),
      controlAnswers: Effect.map(snapshot, (processes) => processes.flatMap((p) => p.controlAnswers)),
      signals: Effect.map(
        snapshot,
        (processes) => processes.flatMap((p) => p.signals.map((signal) => ({ pid: p.pid, signal })))
      ),
      waitUntil: (predicate, options) => registry.waitUntil(predicate, options)
    })
  }
}

/**
 * A `ChildProcessSpawner` whose every process is a scripted, in-process fake of the Claude Code CLI, plus
 * the {@link FakeSpawnerState} that records what they did. Each build has fresh state.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  script: Script = {}
): Layer.Layer<ChildProcessSpawner.ChildProcessSpawner | FakeSpawnerState> =>
  Layer.syncContext(() => {
    const { spawner, state } = make(script)
    return Context.make(ChildProcessSpawner.ChildProcessSpawner, spawner).pipe(Context.add(FakeSpawnerState, state))
  })

/**
 * Waits until no fake process of the Layer is running (`--version` runs included), and returns the
 * processes. Does not use the Clock; bounded like {@link FakeSpawnerState} `waitUntil` (10 s of real time).
 *
 * @since 0.1.0
 * @category accessors
 */
export const awaitNoneRunning: Effect.Effect<ReadonlyArray<ProcessRecord>, never, FakeSpawnerState> = FakeSpawnerState
  .use((state) =>
    state.waitUntil((processes) => processes.every((p) => !p.running), { what: "no fake process running" })
  )

/**
 * A fake Claude Code CLI: a small scripted executable (`fake-cli.mjs`) that speaks the stream-json session
 * protocol like the real CLI 2.1.329 and misbehaves on demand, for the faults the real CLI cannot be made
 * to show (F01-F18 in FAILURES.md): crashes, hangs, garbage on stdout, huge lines, floods, an ignored
 * SIGTERM, grandchildren, early exits, control requests the host must answer.
 *
 * This module is its typed front: describe a {@link Behavior}, then spread {@link options} into a session's
 * options (or pass {@link path} and {@link environment} to a spawner of your own).
 *
 * ```ts
 * const session = Claude.session({ ...FakeCli.options({ reply: "hi", frameDelayMs: 10 }) })
 * ```
 *
 * Without any knob the fake answers `initialize`, then every user message with `system/init`,
 * `stream_event` deltas (only with `--include-partial-messages`), one `assistant` text frame and a
 * `result` (`subtype: "success"`), replying `echo: <prompt>`. It answers `interrupt`, `set_model`,
 * `set_permission_mode`, `set_max_thinking_tokens` and `mcp_status`, and any other control request
 * subtype with an `unsupported_request` error. `/clear` starts a new conversation with a new session id.
 * On stdin EOF it finishes the queued turns and exits 0 if the last result succeeded, 1 otherwise; on
 * SIGTERM it exits 143 at once. `--version` prints `2.1.329 (Claude Code)`. `--model`,
 * `--permission-mode`, `--session-id`, `--resume` (unless `--fork-session`) and
 * `--include-partial-messages` are honoured; every other flag is accepted and ignored.
 *
 * The script is executed directly (shebang `#!/usr/bin/env node`), so `node` (>= 20) must be on the
 * `PATH` the child gets.
 *
 * @since 0.1.0
 */
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
// Through src/ so that the compiled dist/testing/FakeCli.js finds it too (tsc does not copy the .mjs).
import * as Frames from "../../src/testing/fakeFrames.mjs"

/**
 * A JSON object, as sent in frames.
 *
 * @since 0.1.0
 * @category models
 */
export interface JsonObject {
  readonly [key: string]: unknown
}

/**
 * Die in the middle of a turn.
 *
 * - `when: "midTurn"` (default): after the turn has written `afterFrames` frames (default 1, i.e. right
 *   after its `system/init`). Every stdout frame of the turn counts, stream events and flood frames included.
 * - `when: "afterToolUse"`: after the `tool_use` assistant frame and its `tool_result` user frame (the tool
 *   has run, the turn has no result): F14. Needs `toolUse` (or a `can_use_tool` control request).
 * - `when: "beforeResult"`: after the reply text, before the `result`.
 *
 * The frames written so far are flushed first. With `signal` the process kills itself with it (the host
 * sees death by signal), otherwise it exits with `exitCode` (default 1).
 *
 * @since 0.1.0
 * @category models
 */
export interface Crash {
  readonly when?: "midTurn" | "afterToolUse" | "beforeResult"
  readonly afterFrames?: number
  /** Which turn crashes, counting from 1 (default 1). `/clear` does not count as a turn. */
  readonly turn?: number
  readonly exitCode?: number
  readonly signal?: NodeJS.Signals
}

/**
 * Where the fake goes silent for good (F04). A hung fake keeps reading (and recording) stdin but never writes
 * another byte to stdout, answers nothing, and does not exit on stdin EOF (it says
 * `fake-cli: stdin closed while hung; not exiting` on stderr); only a signal ends it.
 *
 * - `"beforeInit"`: from the start; not even `initialize` is answered.
 * - `"beforeFirstEvent"`: the first user message is taken, but its turn writes nothing.
 * - `"midTurn"`: the first turn writes `system/init` and its text, never its `result`.
 * - `"afterResult"`: the first turn completes; then silence, and no exit on EOF.
 *
 * @since 0.1.0
 * @category models
 */
export type Hang = "beforeInit" | "beforeFirstEvent" | "midTurn" | "afterResult"

/**
 * Exit right after start-up, without ever reading stdin (F07: a host writing a big prompt meets a closed
 * pipe). `stdout` lines are written first (objects as JSON, strings verbatim); when absent, the fake prints
 * the real CLI's 401 failure: `system/init`, a synthetic `assistant` frame with
 * `error: "authentication_failed"`, and a `result` with `subtype: "success"`, `is_error: true`,
 * `api_error_status: 401`. Then `stderr` (if any), then exit with `exitCode` (default 1).
 *
 * @since 0.1.0
 * @category models
 */
export interface ExitImmediately {
  readonly exitCode?: number
  readonly stderr?: string
  readonly stdout?: ReadonlyArray<string | JsonObject>
}

/**
 * Answer `initialize` (and whatever else comes before the first user line) as usual, then, at the first
 * bytes of the first user line, close stdin and exit (F07): a host writing a large prompt meets a pipe whose
 * reader is gone (EPIPE) part-way through its write. For this stdin is read in raw chunks, so the fake never
 * waits for the line's end. stderr gets `fake-cli: exiting mid-prompt, after <n> bytes of a user line` (what
 * it had read of the line, the first chunk or two of it), then `stderr` (if any); nothing more goes to
 * stdout; the exit code is `exitCode` (default 1).
 *
 * @since 0.1.0
 * @category models
 */
export interface ExitMidPrompt {
  readonly exitCode?: number
  readonly stderr?: string
}

/**
 * A tool call the turn makes before its text: an `assistant` frame with a `tool_use` block, then a `user`
 * frame with the `tool_result` (`output`, default `"hi-from-tool"`, or the denial when a `can_use_tool`
 * request was not allowed).
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
 * A `can_use_tool` request the fake sends the host. Missing fields are filled in from the turn's tool call
 * (`tool_name`, `input`, `tool_use_id`, `permission_suggestions`, ...). Anything but an explicit
 * `{ behavior: "allow" }` answer (a deny, an error reply, no reply before `controlTimeoutMs`) denies the
 * tool: it shows in `result.permission_denials` and the tool result is an error.
 *
 * @since 0.1.0
 * @category models
 */
export interface CanUseToolRequest extends JsonObject {
  readonly subtype: "can_use_tool"
  readonly tool_name?: string
  readonly input?: JsonObject
  readonly tool_use_id?: string
}

/**
 * A `hook_callback` request the fake sends the host (default `callback_id: "hook_0"` and a `PreToolUse`
 * input for the turn's tool call).
 *
 * @since 0.1.0
 * @category models
 */
export interface HookCallbackRequest extends JsonObject {
  readonly subtype: "hook_callback"
  readonly callback_id?: string
  readonly input?: JsonObject
}

/**
 * Any other request, sent as given (for example a subtype the host does not know).
 *
 * @since 0.1.0
 * @category models
 */
export interface CustomControlRequest extends JsonObject {
  readonly subtype: string
}

/**
 * A control request the fake sends the host during a turn.
 *
 * @since 0.1.0
 * @category models
 */
export type ControlRequest = CanUseToolRequest | HookCallbackRequest | CustomControlRequest

/**
 * A `system/api_retry` frame: the CLI retrying an API call by itself. Missing fields get defaults
 * (`attempt` counts from 1, `max_retries` is the number of frames).
 *
 * @since 0.1.0
 * @category models
 */
export interface ApiRetry {
  readonly error_status?: number | null
  readonly error?: string
  readonly attempt?: number
  readonly max_retries?: number
  readonly retry_delay_ms?: number
}

/**
 * End every turn the way the real CLI reports an API failure: a synthetic `assistant` frame
 * (`model: "<synthetic>"`, `error`, `api_error_status`) and a `result` with `subtype: "success"`,
 * `is_error: true`, `api_error_status`, `api_error_type`, `terminal_reason: "api_error"`. The process stays
 * alive, and exits 1 on EOF. Defaults follow `status` (default 401: `authentication_error`,
 * `authentication_failed`, "Failed to authenticate. API Error: 401 ...").
 *
 * @since 0.1.0
 * @category models
 */
export interface ApiError {
  readonly status?: number
  readonly type?: string
  readonly error?: string
  readonly message?: string
}

/**
 * Everything the fake can be told to do, passed as JSON in `FAKE_CLI_BEHAVIOR`. All knobs are optional and
 * combine; the order inside a turn is: `system/init`, garbage, `apiRetry` frames, (`apiError` ends the turn
 * here), tool call and `controlRequests`, deep line, huge line, stdout flood, reply text, `result`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Behavior {
  /** Reply text (an array: one per turn, the last one repeating). Default `echo: <prompt>`. */
  readonly reply?: string | ReadonlyArray<string>
  /** Pause before every frame of a turn (not before flood frames). Makes turns slow enough to interrupt. */
  readonly frameDelayMs?: number
  /** Number of `text_delta` stream events per reply, with `--include-partial-messages` (default 3). */
  readonly partialChunks?: number

  readonly crash?: Crash
  readonly hang?: Hang
  /**
   * F11: a banner (box drawing, ANSI escapes) at start-up; in every turn, after `system/init`: debug text,
   * blank and whitespace lines, a bare JSON string, number and array, broken JSON, a frame of unknown type
   * (`{"type":"future_frame","x":1,...}`), a valid `system/status` frame ending in CRLF. The reply text gets
   * {@link unicodeSample} appended, and the reply's `assistant` frame is written with every non-ASCII byte
   * as its own write, 2 ms apart, so UTF-8 sequences arrive split across reads.
   */
  readonly garbage?: boolean
  /**
   * F10: one line of exactly this many bytes (newline excluded) before the reply, written in 64 KiB chunks
   * with backpressure: an `assistant` text frame padded with `x` (`hugeLineKind: "frame"`, the default) or
   * plain `x`s (`"garbage"`). A size below the frame's envelope gives the smallest frame instead.
   */
  readonly hugeLineBytes?: number
  readonly hugeLineKind?: "frame" | "garbage"
  /**
   * F21: one line before the huge line and the reply: an `assistant` frame whose `tool_use` input nests
   * arrays this many levels deep (`{"deep":[[[...]]]}`), valid JSON whose parsed value overflows the stack
   * of `JSON.stringify` from a few thousand levels on.
   */
  readonly deepLineDepth?: number
  /** F08: this many bytes of debug lines on stderr before anything on stdout, waiting while nobody reads. */
  readonly stderrFloodBytes?: number
  /**
   * F09: in the first turn, at least this many bytes of numbered `assistant` frames (`fake_flood_seq`,
   * text `flood <seq>` padded with `x`), as fast as the reader takes them, then the reply, a `result` with
   * `fake_flood: { frames, bytes }`, and exit 0 without waiting for EOF.
   */
  readonly stdoutFloodBytes?: number
  /** Size of one flood frame line (default 8192). */
  readonly floodFrameBytes?: number
  /** Where floods report how far they got ({@link Progress}), so a test can watch backpressure stall them. */
  readonly progressFile?: string

  /** Keep running on SIGTERM (F01). */
  readonly ignoreSigterm?: boolean
  /** Start this many `sleep 600` grandchildren in the fake's process group (F01, F02). They outlive the fake. */
  readonly spawnChildren?: number
  /**
   * Where `spawnChildren` go: `"setsid"`, each in a session and process group of its own, as the real CLI
   * starts its Bash tools; `"doubleFork"`, through a child that starts the grandchild in a new session and
   * exits, so the grandchild is orphaned (not listed in {@link PidFile}). Default: the fake's own group.
   */
  readonly detachChildren?: "setsid" | "doubleFork"
  /** Write {@link PidFile} at start-up, grandchildren included. */
  readonly pidFile?: string
  readonly exitImmediately?: ExitImmediately
  readonly exitMidPrompt?: ExitMidPrompt

  /**
   * F06: control requests sent during the turn (after the `tool_use`, before its result), all at once.
   * The turn waits for an answer to each (up to `controlTimeoutMs`, default 10 s), then `controlGraceMs`
   * more (default 50 ms) to catch duplicates, and reports them in `result.fake_control_answers`
   * ({@link ControlAnswer}).
   */
  readonly controlRequests?: ReadonlyArray<ControlRequest>
  readonly controlTimeoutMs?: number
  readonly controlGraceMs?: number
  readonly toolUse?: ToolUse

  /** F03: on stdin EOF, after the last turn, write the session transcript to `sessionFile` ... */
  readonly sessionFile?: string
  /**
   * ... this many milliseconds late (a SIGTERM meanwhile loses it). The wait begins with
   * `fake-cli: stdin closed; writing the transcript in <ms> ms` on stderr.
   */
  readonly sessionFileOnEofDelayMs?: number
  /**
   * Append one {@link SignalRecord} line for every SIGTERM the fake receives (ignored or not), before it
   * acts on it: with `sessionFile`, a test sees whether the signal came before the transcript was written.
   */
  readonly signalFile?: string

  /** `system/api_retry` frames before the reply (F12, F13). */
  readonly apiRetry?: ReadonlyArray<ApiRetry>
  /**
   * After the first turn's result (and `afterMs`), a turn of the CLI's own, as the real CLI runs one when a
   * background task settles: it lasts `durationMs`, answers `reply`, or dies midway with `crash`.
   */
  readonly ownTurn?: {
    readonly afterMs?: number
    readonly durationMs?: number
    readonly reply?: string
    readonly crash?: boolean
  }
  readonly apiError?: ApiError
  /** Allocate and hold this many more MiB at the start of every turn (F15). */
  readonly rssGrowMb?: number
  /**
   * Keep one core busy for this many milliseconds (wall time) at the start of every turn, before its first
   * frame, in 20 ms slices (signals and stdin are still served): a runaway for `limits.maxCpuSeconds`.
   */
  readonly burnCpuMs?: number
  /**
   * Open (and hold) this many more descriptors of `/dev/null` at the start of every turn: a leak for
   * `limits.maxOpenFiles`. When `open` fails (EMFILE), the fake writes
   * `fake-cli: EMFILE: too many open files (opened <n> of <wanted>)` to stderr, and the turn's `result`
   * reports {@link OpenFilesReport} as `fake_open_files`; with `openFilesExitOnError` it exits 1 instead.
   */
  readonly openFiles?: number
  readonly openFilesExitOnError?: boolean

  /** Append `{"pid":...,"argv":[...]}` (argv without node and script) as one line per process. */
  readonly recordArgv?: string
  /** Append every stdin line, verbatim. */
  readonly recordStdin?: string
  /** Write the fake's environment as one JSON object (F17). */
  readonly recordEnv?: string
}

/**
 * What `pidFile` holds.
 *
 * @since 0.1.0
 * @category models
 */
export interface PidFile {
  readonly pid: number
  readonly children: ReadonlyArray<number>
}

/**
 * What a turn's `result.fake_open_files` holds with `openFiles`.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenFilesReport {
  readonly requested: number
  /** Opened in this turn. */
  readonly opened: number
  /** Held by the fake in all (all turns). */
  readonly held: number
  /** The error code that stopped it (`"EMFILE"`), or `null`. */
  readonly error: string | null
}

/**
 * One line of `signalFile`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SignalRecord {
  readonly signal: "SIGTERM"
  readonly pid: number
  /** Epoch milliseconds of its receipt. */
  readonly at: number
}

/**
 * What `progressFile` holds while a flood runs: bytes and frames handed to the pipe so far. It is rewritten
 * every 256 KiB, whenever the writer starts waiting for the pipe to drain, and at the end (`done: true`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly phase: "stderr" | "stdout" | "hugeLine"
  readonly bytes: number
  readonly frames: number
  readonly done: boolean
  readonly pid: number
  /** Epoch milliseconds of the update. */
  readonly at: number
}

/**
 * One entry of `result.fake_control_answers`: a control request the fake sent and what came back.
 * `response` is the first answer's `response` envelope (`{ subtype, request_id, response | error }`),
 * `count` the number of answers received before the result (exactly 1 is right).
 *
 * @since 0.1.0
 * @category models
 */
export interface ControlAnswer {
  readonly request_id: string
  readonly subtype: string
  readonly count: number
  readonly response: JsonObject | null
  readonly timed_out: boolean
}

/**
 * The version the fake reports, the real CLI's it imitates.
 *
 * @since 0.1.0
 * @category constants
 */
export const version = Frames.version

/**
 * The multi-byte text `garbage` mode appends to replies and trickles out one byte at a time.
 *
 * @since 0.1.0
 * @category constants
 */
export const unicodeSample = "héllo wörld — 日本語 🎉"

const resolvePath = (): string => {
  const beside = fileURLToPath(new URL("./fake-cli.mjs", import.meta.url))
  if (existsSync(beside)) return beside
  // Compiled to dist/testing/: tsc does not copy .mjs files, but the package ships src/ as well.
  const source = fileURLToPath(new URL("../../src/testing/fake-cli.mjs", import.meta.url))
  return existsSync(source) ? source : beside
}

/**
 * Absolute path of the executable `fake-cli.mjs`.
 *
 * @since 0.1.0
 * @category constants
 */
export const path: string = resolvePath()

/**
 * The environment additions that configure the fake: `{ FAKE_CLI_BEHAVIOR: <behavior as JSON> }`, plus the
 * host's `NODE_V8_COVERAGE` when it has one, so that a test run collecting V8 coverage (vitest's
 * `coverage.autoAttachSubprocess`, c8) counts the fake's code too: the CLI's environment is an allow-list,
 * which leaves that variable out.
 *
 * @since 0.1.0
 * @category constructors
 */
export const environment = (behavior: Behavior = {}): Record<string, string> => {
  const coverage = process.env.NODE_V8_COVERAGE
  return {
    FAKE_CLI_BEHAVIOR: JSON.stringify(behavior),
    ...(coverage === undefined || coverage === "" ? {} : { NODE_V8_COVERAGE: coverage })
  }
}

/**
 * Session options that run the fake instead of the real CLI: spread them into a session's options.
 *
 * @since 0.1.0
 * @category constructors
 */
export const options = (
  behavior: Behavior = {}
): { readonly executable: string; readonly env: Record<string, string> } => ({
  executable: path,
  env: environment(behavior)
})

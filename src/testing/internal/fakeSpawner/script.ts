/**
 * What a FakeSpawner's processes are scripted to do: the turns they answer user messages with (text, tool
 * calls, control requests, API errors, retries, hangs, crashes) and how the process behaves around them.
 */
import type { Duration } from "effect"
import type { ChildProcess } from "effect/process"
import type * as FakeCli from "../../FakeCli.ts"

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

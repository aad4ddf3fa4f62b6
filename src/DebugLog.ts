/**
 * What a session knows about itself, for debugging.
 *
 * `session.debugLog` returns its lifecycle (spawned, ready, turn started /
 * ended, died, restarting, stopped, closed, with Clock timestamps), the last
 * frames in both directions (50 by default; the prompts we send are left out
 * unless `tracePrompts` is set), the CLI's stderr tail and, in debug mode
 * (`debug: true`: the CLI runs with `--debug-file` in a temp dir of the
 * session, removed when it closes), the tail of the CLI's own debug log.
 *
 * A `ClaudeError` from a session carries the log as it was when the error
 * reached the caller: {@link of}. It is never part of an error's message; text
 * the CLI wrote is searched for anything shaped like a credential, which is
 * redacted.
 *
 * @since 0.1.0
 */
import { Option } from "effect"
import type { State } from "./internal/session/state.ts"

/**
 * How much a session's {@link DebugLog} keeps.
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  /** The last frames, both directions. Default 50. */
  readonly frames?: number | undefined
  /** The last lifecycle events. Default 100. */
  readonly lifecycleEvents?: number | undefined
  /** The tail of the CLI's `--debug-file` (debug mode), in bytes. Default 64 KiB. */
  readonly debugFileBytes?: number | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultLimits = { frames: 50, lifecycleEvents: 100, debugFileBytes: 64 * 1024 } as const

/**
 * Something that happened to a session.
 *
 * - `spawned`: a CLI process started (`detail`: `initial` or `restart`);
 * - `spawnFailed`: one failed to start, or to answer `initialize` (`detail`: the reason);
 * - `ready`: it answered `initialize`, the session is Idle;
 * - `turnStarted` / `turnEnded` (`detail`: `success`, or `failure: <reason tag>`);
 * - `died`: the CLI exited or was killed while in use (`detail`: the reason, with the end of stderr);
 * - `restarting`: a replacement that resumes the conversation is being started;
 * - `stopped`: the session stopped its CLI on purpose and is Failed (`detail`: why);
 * - `failed`: the CLI died once too often, or its replacement could not start: the session is Failed;
 * - `closed`: the session's scope closed.
 *
 * @since 0.1.0
 * @category models
 */
export interface LifecycleEvent {
  /** Epoch milliseconds, on the Effect `Clock`. */
  readonly at: number
  readonly event:
    | "spawned"
    | "spawnFailed"
    | "ready"
    | "turnStarted"
    | "turnEnded"
    | "died"
    | "restarting"
    | "stopped"
    | "failed"
    | "closed"
    | "hookFailed"
  /** The CLI process concerned, when there was one. */
  readonly pid: number | undefined
  /** The session's turn number at the time. */
  readonly turn: number
  readonly detail: string | undefined
}

/**
 * A frame on the wire: `in` from the CLI's stdout (as decoded; a line that was not a frame as its
 * `Malformed` / `Oversized` event), `out` to its stdin. A prompt we send is replaced by its length unless
 * `tracePrompts` is set.
 *
 * @since 0.1.0
 * @category models
 */
export interface Frame {
  /** Epoch milliseconds, on the Effect `Clock`. */
  readonly at: number
  readonly direction: "in" | "out"
  readonly frame: unknown
}

/**
 * What a session knows about itself: see the module documentation.
 *
 * @since 0.1.0
 * @category models
 */
export interface DebugLog {
  readonly sessionId: string | undefined
  /** The session's state (`Session.State`). */
  readonly state: State
  /** The newest CLI process (the live one, or the one being started). */
  readonly pid: number | undefined
  readonly turns: number
  readonly restarts: number
  /** Oldest first, the last {@link Limits} `lifecycleEvents`. */
  readonly lifecycle: ReadonlyArray<LifecycleEvent>
  /** Oldest first, the last {@link Limits} `frames`. */
  readonly frames: ReadonlyArray<Frame>
  /** The end of what the newest CLI process wrote to stderr. */
  readonly stderrTail: string
  /** Debug mode: the CLI's `--debug-file` (removed when the session closes). */
  readonly debugFile: string | undefined
  /** Debug mode: the end of the CLI's debug log, {@link Limits} `debugFileBytes` at most. */
  readonly debugFileTail: string | undefined
}

/**
 * The debug log of the session an error came from, as it was when the error reached the caller: the
 * failures of `send`, `ask`, `reset`, `request` (and the methods built on it), and of starting a session,
 * carry one (so do those of `Claude.query` and of pool leases, and a `ClaudeError` that `Resilience`
 * rebuilt from one). It travels on the error object (`ClaudeError` `debugLog`), never as part of its
 * message or its encoded form.
 *
 * @since 0.1.0
 * @category accessors
 */
export const of = (error: { readonly debugLog?: DebugLog | undefined }): Option.Option<DebugLog> =>
  Option.fromNullishOr(error.debugLog)

const formatTime = (at: number) => new Date(at).toISOString()

const indented = (text: string) => text.trimEnd().split("\n").map((line) => `  ${line}`)

/**
 * A {@link DebugLog} as text, for a person to read: lifecycle, frames (one JSON line each), stderr tail and
 * the CLI's debug log.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (log: DebugLog): string =>
  [
    `session ${log.sessionId ?? "(no session id yet)"}: ${log.state}, pid ${log.pid ?? "-"}, ` +
    `${log.turns} turns, ${log.restarts} restarts`,
    "lifecycle:",
    ...log.lifecycle.map((e) =>
      `  ${formatTime(e.at)} ${e.event}${e.pid === undefined ? "" : ` pid=${e.pid}`} turn=${e.turn}` +
      `${e.detail === undefined ? "" : ` ${e.detail}`}`
    ),
    "frames:",
    ...log.frames.map((f) => `  ${formatTime(f.at)} ${f.direction === "in" ? "<-" : "->"} ${JSON.stringify(f.frame)}`),
    "stderr:",
    ...(log.stderrTail === "" ? [] : indented(log.stderrTail)),
    ...(log.debugFileTail === undefined ? [] : ["cli debug log:", ...indented(log.debugFileTail)])
  ].join("\n")

/**
 * The parts of a session's debug log: bounded rings that record without allocating per entry, secret
 * redaction for text the CLI wrote, the tail of the CLI's `--debug-file`, and the log as a whole.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { Effect, FileSystem, Option, type Scope } from "effect"
import * as ClaudeError from "../ClaudeError.ts"
import * as DebugLog from "../DebugLog.ts"
import type { State } from "./session/state.ts"

/**
 * The last `capacity` values, oldest first when read. Pushing stores a reference and a number in
 * preallocated slots: no allocation per entry.
 */
export class Ring<A> {
  readonly #values: Array<A | undefined>
  readonly #times: Float64Array
  readonly #tags: Uint8Array
  #next = 0
  #size = 0

  readonly capacity: number

  constructor(capacity: number) {
    this.capacity = capacity
    this.#values = new Array<A | undefined>(capacity).fill(undefined)
    this.#times = new Float64Array(capacity)
    this.#tags = new Uint8Array(capacity)
  }

  /** The newest value, if any. */
  get last(): A | undefined {
    return this.#size === 0 ? undefined : this.#values[(this.#next + this.capacity - 1) % this.capacity]
  }

  push(value: A, at: number, tag = 0): void {
    if (this.capacity === 0) return
    this.#values[this.#next] = value
    this.#times[this.#next] = at
    this.#tags[this.#next] = tag
    this.#next = (this.#next + 1) % this.capacity
    if (this.#size < this.capacity) this.#size++
  }

  /** Oldest first. */
  toArray<B>(f: (value: A, at: number, tag: number) => B): Array<B> {
    const out: Array<B> = []
    const start = (this.#next + this.capacity - this.#size) % this.capacity
    for (let i = 0; i < this.#size; i++) {
      const slot = (start + i) % this.capacity
      const value = this.#values[slot]
      if (value !== undefined) out.push(f(value, this.#times[slot] ?? 0, this.#tags[slot] ?? 0))
    }
    return out
  }
}

const IN = 0
const OUT = 1

/** What a session records for its debug log: its lifecycle and the frames both ways, each in a bounded ring. */
export class Recorder {
  readonly #frames: Ring<unknown>
  readonly #lifecycle: Ring<DebugLog.LifecycleEvent>

  constructor(
    limits: DebugLog.Limits | undefined,
    defaults: { readonly frames: number; readonly lifecycleEvents: number }
  ) {
    this.#frames = new Ring(Math.max(0, limits?.frames ?? defaults.frames))
    this.#lifecycle = new Ring(Math.max(0, limits?.lifecycleEvents ?? defaults.lifecycleEvents))
  }

  event(entry: DebugLog.LifecycleEvent): void {
    this.#lifecycle.push(entry, entry.at)
  }

  /** A reference and a time: nothing is copied. A frame that became several events is kept once. */
  frame(frame: unknown, direction: DebugLog.Frame["direction"], at: number): void {
    if (frame !== this.#frames.last) this.#frames.push(frame, at, direction === "out" ? OUT : IN)
  }

  lifecycle(): Array<DebugLog.LifecycleEvent> {
    return this.#lifecycle.toArray((entry) => entry)
  }

  frames(): Array<DebugLog.Frame> {
    return this.#frames.toArray((frame, at, direction) => ({ at, direction: direction === OUT ? "out" : "in", frame }))
  }
}

// Anthropic API keys and OAuth tokens (`sk-ant-api03-…`, `sk-ant-oat01-…`), and bearer credentials.
const secretPatterns: ReadonlyArray<readonly [RegExp, string]> = [
  [/sk-ant-[A-Za-z0-9_-]{4,}/g, "sk-ant-[REDACTED]"],
  [/(authorization|x-api-key)(["']?\s*[:=]\s*["']?)(bearer\s+)?[^\s"',}]+/gi, "$1$2$3[REDACTED]"],
  [/\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, "$1[REDACTED]"]
]

/** Text the CLI wrote, with anything shaped like a credential replaced. The CLI redacts its own; this is a second line. */
export const redactSecrets = (text: string): string =>
  secretPatterns.reduce((acc, [pattern, replacement]) => acc.replace(pattern, replacement), text)

/**
 * The last `maxBytes` of a file as text, starting at a line boundary when it was cut; `undefined` when the
 * file cannot be read (not written yet, or already removed).
 */
export const readTail = (
  fs: FileSystem.FileSystem,
  file: string,
  maxBytes: number
): Effect.Effect<string | undefined> =>
  Effect.gen(function*() {
    const handle = yield* fs.open(file, { flag: "r" })
    const size = Number((yield* handle.stat).size)
    const length = Math.min(size, Math.max(0, maxBytes))
    const bytes = length === 0 ? new Uint8Array(0) : Option.getOrElse(
      yield* handle.readAlloc(length, { position: BigInt(size - length) }),
      () => new Uint8Array(0)
    )
    const text = new TextDecoder().decode(bytes)
    if (length === size) return text
    const newline = text.indexOf("\n")
    return newline >= 0 ? text.slice(newline + 1) : text
  }).pipe(Effect.scoped, Effect.orElseSucceed(() => undefined))

/** Where a session in debug mode has the CLI write its own debug log, and how much of its end to keep. */
export interface DebugFile {
  readonly fs: FileSystem.FileSystem
  readonly path: string
  readonly tailBytes: number
}

/**
 * Debug mode: a temp dir of the session's for the CLI's `--debug-file`, removed when the scope closes. On
 * the context's `FileSystem`, else Node's.
 */
export const debugFileIn = (
  limits: DebugLog.Limits | undefined
): Effect.Effect<DebugFile, ClaudeError.ClaudeError, Scope.Scope> =>
  Effect.gen(function*() {
    const found = yield* Effect.serviceOption(FileSystem.FileSystem)
    const fs = Option.isSome(found)
      ? found.value
      : yield* Effect.provide(Effect.service(FileSystem.FileSystem), NodeFileSystem.layer)
    const dir = yield* Effect.acquireRelease(
      fs.makeTempDirectory({ prefix: "effect-claude-code-debug-" }),
      // Already gone, or not ours to remove: nothing to do.
      (dir) => Effect.ignore(fs.remove(dir, { recursive: true, force: true }))
    ).pipe(
      Effect.mapError(() =>
        ClaudeError.make(
          new ClaudeError.InvalidOptions({ issues: "debug: could not create a temp dir for the CLI's debug log" })
        )
      )
    )
    const tailBytes = Math.max(0, limits?.debugFileBytes ?? DebugLog.defaultLimits.debugFileBytes)
    return { fs, path: `${dir}/cli-debug.log`, tailBytes }
  })

/** What a session's debug log is made of, read when the log is taken. */
export interface Sources {
  readonly recorder: Recorder
  readonly state: Effect.Effect<State>
  readonly sessionId: () => string | undefined
  readonly pid: () => number | undefined
  readonly turns: () => number
  readonly restarts: () => number
  readonly stderrTail: Effect.Effect<string>
  readonly debugFile: DebugFile | undefined
}

/** The debug log as it is now. */
export const snapshot = (sources: Sources): Effect.Effect<DebugLog.DebugLog> =>
  Effect.gen(function*() {
    const stderr = yield* sources.stderrTail
    const { debugFile } = sources
    const tail = debugFile === undefined
      ? undefined
      : yield* readTail(debugFile.fs, debugFile.path, debugFile.tailBytes)
    return {
      sessionId: sources.sessionId(),
      state: yield* sources.state,
      pid: sources.pid(),
      turns: sources.turns(),
      restarts: sources.restarts(),
      lifecycle: sources.recorder.lifecycle(),
      frames: sources.recorder.frames(),
      stderrTail: redactSecrets(stderr),
      debugFile: debugFile?.path,
      debugFileTail: tail === undefined ? undefined : redactSecrets(tail)
    }
  })

/**
 * A session error as its caller gets it: with the session's debug log as it is now, unless it has one (the
 * first to see it gives it one).
 */
export const carrying = (debugLog: Effect.Effect<DebugLog.DebugLog>) => (error: ClaudeError.ClaudeError) =>
  error.debugLog === undefined
    ? Effect.map(
      debugLog,
      (log) => ClaudeError.make(error.reason, { sessionId: error.sessionId, turn: error.turn, debugLog: log })
    )
    : Effect.succeed(error)

/**
 * The parts of a session's debug log: bounded rings that record without allocating per entry, secret
 * redaction for text the CLI wrote, and the tail of the CLI's `--debug-file`.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as ClaudeError from "../ClaudeError.ts"
import type * as DebugLog from "../DebugLog.ts"

/** The debug log each session error reached its caller with (`DebugLog.of`): on the object, not in it. */
export const attached = new WeakMap<ClaudeError.ClaudeError, DebugLog.DebugLog>()

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

  constructor(limits: DebugLog.Limits | undefined, defaults: { readonly frames: number; readonly lifecycleEvents: number }) {
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
export const readTail = (file: string, maxBytes: number): string | undefined => {
  let fd: number | undefined
  try {
    fd = fs.openSync(file, "r")
    const size = fs.fstatSync(fd).size
    const length = Math.min(size, Math.max(0, maxBytes))
    const buffer = Buffer.alloc(length)
    fs.readSync(fd, buffer, 0, length, size - length)
    const text = buffer.toString("utf8")
    if (length === size) return text
    const newline = text.indexOf("\n")
    return newline >= 0 ? text.slice(newline + 1) : text
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) closeQuietly(fd)
  }
}

const closeQuietly = (fd: number): void => {
  try {
    fs.closeSync(fd)
  } catch {
    // nothing to do
  }
}

/** A directory of its own under the OS temp dir; `undefined` when it cannot be made. */
export const makeTempDir = (prefix: string): string | undefined => {
  try {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  } catch {
    return undefined
  }
}

export const removeDir = (dir: string): void => {
  try {
    fs.rmSync(dir, { recursive: true, force: true })
  } catch {
    // already gone, or not ours to remove
  }
}

/**
 * The FakeSpawner's table of its processes: what each did (the records a test reads as snapshots), the
 * mutable records the fakes write as they run, and waiting until the table reaches a state.
 */
import type { Deferred, Redacted } from "effect"
import { type Duration, Effect } from "effect"
import type { ChildProcess } from "effect/process"
import { dieUnlessWithin } from "../../../internal/realTimeBound.ts"
import type { JsonObject } from "./script.ts"

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

const describeProcess = (p: ProcessRecord): string =>
  `${p.pid} ${p.kind}${p.running ? "" : " exited"}${p.sleeping ? " sleeping" : ""}${
    p.hung ? " hung" : ""
  } turns=${p.turns}`

export interface MutableControlRequest {
  readonly requestId: string
  readonly subtype: string
  readonly request: JsonObject
  readonly answers: Array<JsonObject>
  readonly answered: Deferred.Deferred<void>
}

/** The record a fake writes as it runs; {@link ProcessRecord} is its snapshot. */
export interface MutableRecord extends Pick<ProcessRecord, "pid" | "kind" | "command" | "args" | "cwd" | "env"> {
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

/** The fake processes of one Layer, as they run: pids, ids, records, and who waits for a change. */
export class Registry {
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

  waitUntil(predicate: (processes: ReadonlyArray<ProcessRecord>) => boolean, within: Duration.Input, what: string) {
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
        within,
        (bound) =>
          `FakeSpawnerState.waitUntil: not reached within ${bound}: ${what}; processes: ${
            this.snapshot().map(describeProcess).join("; ") || "none"
          }`
      )
    )
  }
}

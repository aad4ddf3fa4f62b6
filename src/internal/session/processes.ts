/**
 * A session's CLI processes: the newest (the one being started, or the live one: where our frames go), the
 * live one (the newest that became ready: it serves turns), and the scopes of those not yet stopped.
 */
import { Effect, Exit, Scope } from "effect"
import type * as ProcessManager from "../../ProcessManager.ts"
import * as Protocol from "../../Protocol.ts"
import type { Recorder } from "../debugLog.ts"
import * as State from "./state.ts"
import type { Telemetry } from "./telemetry.ts"

/** One CLI process of the session: the first, or a replacement of one that died. */
export interface Generation {
  readonly proc: ProcessManager.CliProcess
  /** Holds the process and its reader; closing it runs the shutdown ladder. */
  readonly scope: Scope.Closeable
  /** `initialize` was answered: from here on its death is a crash to recover from. */
  ready: boolean
  /** Its stdout ended: the process is gone. */
  dead: boolean
}

/** One session's processes. */
export class Processes {
  /** The newest process: where our control requests go. */
  newest: Generation | undefined = undefined
  /** The process serving turns: the newest one that became ready. */
  live: Generation | undefined = undefined
  /** How many times a process that died was replaced. */
  restarts = 0
  /** The newest process's answer to `initialize`, when it matched `Protocol.InitializeResponse`. */
  serverInfo: Protocol.InitializeResponse | undefined = undefined
  readonly #open = new Set<Scope.Closeable>()
  readonly #recorder: Recorder
  readonly #now: () => number

  constructor(recorder: Recorder, now: () => number) {
    this.#recorder = recorder
    this.#now = now
  }

  /** The live process's id; 0 before one became ready. */
  get pid(): number {
    return this.live?.proc.pid ?? 0
  }

  /**
   * Writes a frame to a process's stdin (`to`, else the newest when it is written), `recorded` in the debug
   * log in its place; `false` when there is no process or its stdin is closed.
   */
  write(frame: unknown, recorded: unknown = frame, to?: Generation): Effect.Effect<boolean> {
    return Effect.suspend(() => {
      const target = to ?? this.newest
      if (target === undefined) return Effect.succeed(false)
      this.#recorder.frame(recorded, "out", this.#now())
      return target.proc.write(Protocol.encodeLine(frame))
    })
  }

  /** A scope a process is about to be spawned in: closed with the session unless closed before. */
  opened(scope: Scope.Closeable): void {
    this.#open.add(scope)
  }

  /** Stops the process of `scope` with the shutdown ladder (at once, when it has exited). */
  close(scope: Scope.Closeable): Effect.Effect<void> {
    return Effect.andThen(Scope.close(scope, Exit.void), Effect.sync(() => this.#open.delete(scope)))
  }

  /** Stops every process not yet stopped: the session closes. */
  readonly closeAll: Effect.Effect<void> = Effect.suspend(() =>
    Effect.forEach([...this.#open], (scope) => Scope.close(scope, Exit.void), { discard: true })
  )
}

/**
 * Stops the session for good: it is Failed, and its newest process stopped; the shutdown ladder runs to
 * its end (the process has exited) before this returns. Uninterruptible, so that a caller who gives up
 * half-way (a turn's consumer closing its stream, which interrupts the watchdog) cannot abandon the ladder
 * and leave a hung process running until the session's scope closes.
 */
export const stopper =
  (owner: State.Owner, processes: Processes, telemetry: Telemetry) => (why: string): Effect.Effect<void> =>
    Effect.uninterruptible(
      owner.apply(State.fail).pipe(
        Effect.andThen(telemetry.note("stopped", why)),
        Effect.andThen(
          Effect.suspend(() => processes.newest === undefined ? Effect.void : processes.newest.proc.shutdown)
        )
      )
    ).pipe(telemetry.withLogContext)

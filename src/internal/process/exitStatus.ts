/**
 * How a CLI ended: an exit code, or the signal that killed it, read from the spawner's handle. In a PID
 * namespace the spawned process is util-linux `unshare`, which exits with its CLI's code and dies of its
 * CLI's signal, but for SIGKILL, which it reports as exit 1 and a line on stderr: read back as the signal.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, type PlatformError, type Scope } from "effect"
import type { ChildProcessSpawner } from "effect/process"
import type * as TurnOutcome from "../../TurnOutcome.ts"
import * as Containment from "../containment.ts"
import type { StderrTail } from "../stderrTail.ts"

/**
 * The signal named by the spawner's failure for a death by signal ("Process interrupted due to receipt of
 * signal: 'SIGTERM'"); `"unknown signal"` when it names none.
 *
 * @since 0.1.0
 * @category classification
 */
export const signalOf = (error: PlatformError.PlatformError): string => {
  const cause = error.cause instanceof Error ? error.cause.message : ""
  return /signal:? '?(SIG[A-Z0-9]+)/.exec(`${error.message} ${cause}`)?.[1] ?? "unknown signal"
}

/**
 * The CLI's exit, and its stderr as the CLI wrote it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExitWatch {
  readonly exited: Deferred.Deferred<TurnOutcome.ExitStatus>
  /** The exit status, once the process has exited. */
  readonly status: () => TurnOutcome.ExitStatus | undefined
  /** The tail of stderr, without unshare's line about a SIGKILL it could not pass on. */
  readonly stderrText: () => string
}

/**
 * Watches the process on a fiber of the scope: at its exit, `onExit` runs (the containment's sweep), then
 * the status is recorded and `exited` completed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const watch = Effect.fnUntraced(function*(
  handle: ChildProcessSpawner.ChildProcessHandle,
  mechanism: Containment.Mechanism,
  tail: StderrTail,
  onExit: Effect.Effect<unknown>
): Effect.fn.Return<ExitWatch, never, Scope.Scope> {
  const exited = yield* Deferred.make<TurnOutcome.ExitStatus>()
  let status: TurnOutcome.ExitStatus | undefined
  const namespaced = mechanism === "pidNamespace"
  yield* handle.exitCode.pipe(
    Effect.map((code): TurnOutcome.ExitStatus =>
      namespaced && code === 1 && Containment.sigkillNotPassedOn.test(tail.text())
        ? { _tag: "Signaled", signal: "SIGKILL" }
        : { _tag: "Exited", code }
    ),
    Effect.catch((error) => Effect.succeed<TurnOutcome.ExitStatus>({ _tag: "Signaled", signal: signalOf(error) })),
    // The CLI is gone, killed from outside perhaps (the OOM killer): whatever it started goes with it.
    Effect.tap(() => onExit),
    Effect.flatMap((exit) => {
      status = exit
      return Deferred.succeed(exited, exit)
    }),
    Effect.forkScoped
  )
  return {
    exited,
    status: () => status,
    stderrText: () => (namespaced ? tail.text().replace(Containment.sigkillNotPassedOn, "") : tail.text())
  }
})

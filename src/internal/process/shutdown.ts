/**
 * The shutdown ladder of a CLI: stdin EOF, a grace for the CLI to finish its turn and exit, SIGTERM to its
 * process group, the same grace, SIGKILL (the spawner's `forceKillAfter`).
 *
 * @since 0.1.0
 */
import { Deferred, Duration, Effect, Option } from "effect"
import type { ChildProcessSpawner } from "effect/process"
import type * as TurnOutcome from "../../TurnOutcome.ts"

/**
 * Runs the ladder once, however often it is asked for (`Effect.cached`): the process's scope and an
 * explicit `shutdown` share it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const ladder = (cli: {
  readonly handle: ChildProcessSpawner.ChildProcessHandle
  readonly endInput: Effect.Effect<void>
  readonly exited: Deferred.Deferred<TurnOutcome.ExitStatus>
  readonly grace: Duration.Duration
}): Effect.Effect<Effect.Effect<void>> => {
  const { endInput, exited, grace, handle } = cli
  return Effect.cached(
    Effect.gen(function*() {
      yield* endInput
      const afterEof = yield* Deferred.await(exited).pipe(Effect.timeoutOption(grace))
      if (Option.isNone(afterEof)) {
        yield* Effect.logDebug("CLI still running after stdin EOF and grace; sending SIGTERM to its group")
        yield* handle.kill({ killSignal: "SIGTERM", forceKillAfter: grace }).pipe(Effect.ignore)
      }
      yield* Deferred.await(exited).pipe(Effect.timeoutOption(Duration.seconds(2)))
    }).pipe(Effect.annotateLogs({ pid: handle.pid }))
  )
}

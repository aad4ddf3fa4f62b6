/**
 * The retry policy and the budget of one query: the policy is stepped at every failure, the CLI's own
 * retries included, so that its retries do not multiply by the library's attempts (F20). A run of failures
 * ends when the API answers again: the CLI's retries of that run stop counting (the policy is stepped
 * anew over the failed attempts alone), and the deadline, armed at the run's first failure, is off.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Exit, Option, Schedule } from "effect"
import type * as ClaudeError from "../../ClaudeError.ts"

/**
 * An exponential backoff from `baseDelay` by `factor`, jittered (±20 %) when `jitter`, each delay capped
 * at `maxDelay`, at most `times` retries.
 *
 * @since 0.1.0
 * @category retry
 */
export const backoff = (settings: {
  readonly times: number
  readonly baseDelay: Duration.Input
  readonly factor: number
  readonly maxDelay: Duration.Input
  readonly jitter: boolean
}): Schedule.Schedule<unknown, ClaudeError.ClaudeError> => {
  const maxDelay = Duration.fromInputUnsafe(settings.maxDelay)
  const exponential = Schedule.exponential(settings.baseDelay, settings.factor)
  return (settings.jitter ? Schedule.jittered(exponential) : exponential).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, maxDelay))),
    Schedule.upTo({ times: settings.times }),
    Schedule.setInputType<ClaudeError.ClaudeError>()
  )
}

/**
 * The retry budget of one query.
 *
 * @since 0.1.0
 * @category models
 */
export interface Budget {
  /** Whether there is a policy at all (none: no retry, the CLI's included). */
  readonly retries: boolean
  /**
   * The CLI is about to retry a failed API call by itself: arms the deadline and steps the policy;
   * `false` when the policy is spent.
   */
  readonly cliRetry: (nowMs: number, error: ClaudeError.ClaudeError) => Effect.Effect<boolean>
  /**
   * An attempt failed with a retryable `error`: arms the deadline, steps the policy, and gives the
   * policy's delay before the next attempt; `None` when the policy is spent.
   */
  readonly failedAttempt: (
    nowMs: number,
    error: ClaudeError.ClaudeError
  ) => Effect.Effect<Option.Option<Duration.Duration>>
  /** The API answered: the run of failures is over (see the module documentation). */
  readonly answered: Effect.Effect<void>
  /** Whether a run of failures is under way (the deadline is armed). */
  readonly failing: () => boolean
  /** Whether `atMs` is past the deadline (never, when it is not armed). */
  readonly beyondDeadline: (atMs: number) => boolean
}

/**
 * A budget for one query under `schedule` (none: no retry) and `deadlineMs` from its first failure.
 *
 * @since 0.1.0
 * @category constructors
 */
export const budget = Effect.fnUntraced(function*(
  schedule: Schedule.Schedule<unknown, ClaudeError.ClaudeError> | undefined,
  deadlineMs: number
) {
  let step = schedule === undefined ? undefined : yield* Schedule.toStep(schedule)
  const failedAttempts: Array<{ readonly now: number; readonly error: ClaudeError.ClaudeError }> = []
  let cliRetriesInRun = 0
  let deadlineAtMs: number | undefined

  const answered = Effect.gen(function*() {
    deadlineAtMs = undefined
    if (cliRetriesInRun === 0 || schedule === undefined) return
    cliRetriesInRun = 0
    const fresh = yield* Schedule.toStep(schedule)
    for (const failed of failedAttempts) yield* Effect.exit(fresh(failed.now, failed.error))
    step = fresh
  })

  return {
    retries: step !== undefined,
    cliRetry: (nowMs, error) =>
      Effect.suspend(() => {
        deadlineAtMs ??= nowMs + deadlineMs
        cliRetriesInRun++
        return step === undefined ? Effect.succeed(false) : Effect.map(Effect.exit(step(nowMs, error)), Exit.isSuccess)
      }),
    failedAttempt: (nowMs, error) =>
      Effect.suspend(() => {
        deadlineAtMs ??= nowMs + deadlineMs
        failedAttempts.push({ now: nowMs, error })
        if (step === undefined) return Effect.succeed(Option.none())
        return Effect.map(
          Effect.exit(step(nowMs, error)),
          (next) => (Exit.isSuccess(next) ? Option.some(next.value[1]) : Option.none())
        )
      }),
    answered,
    failing: () => deadlineAtMs !== undefined,
    beyondDeadline: (atMs) => deadlineAtMs !== undefined && atMs > deadlineAtMs
  } satisfies Budget
})

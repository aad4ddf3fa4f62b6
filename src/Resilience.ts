/**
 * Recovery where it is safe, and fast, typed failure where it is not: retries
 * with a `Schedule` and a circuit breaker per (credential, model), around the
 * turns `Claude.query` runs.
 *
 * **Retry.** A failed turn is tried again only when its reason says so
 * (`reason.isRetryable`: overloaded, rate limited, a 5xx or a lost connection,
 * a crashed CLI, a stall), with the default policy's exponential, jittered and
 * capped backoff (1 s, 2 s, 4 s, ... ±20 %, at most 30 s, 3 retries) or a
 * `Schedule` of the caller's. A server's retry-after is the shortest wait:
 * `RateLimited.retryAfterMs`, else a rejecting `rate_limit_event`'s `resetsAt`
 * (then copied into the failure's `retryAfterMs`); one longer than
 * `maxRetryAfter` (default 60 s) fails at once with that `RateLimited`, exact
 * retry-after included. The CLI itself does not pass a `retry-after` header on
 * once its own retries (`CLAUDE_CODE_MAX_RETRIES`) run out, but it honours the
 * header while it retries: so the wait of its last `ApiRetry` for a 429 / 529
 * is the shortest wait too (capped at `maxRetryAfter`).
 *
 * **Failing fast enough (F20).** The CLI retries a failed API call by itself
 * (10 times by default, waits growing to ~40 s), announcing each retry with an
 * `api_retry` frame (an `ApiRetry` event), which also keeps the idle timeout
 * quiet. Each such retry is a retry of the query: it takes a step of the same
 * policy (so the CLI's retries do not multiply by the library's attempts) and,
 * for a 429, 529, 5xx or lost connection, counts as a failure on the circuit.
 * When the policy is spent, the circuit is open, or the CLI's wait would end
 * past the deadline, the attempt is ended there (its turn is interrupted, as
 * for any consumer that leaves a turn) and the query fails. The **deadline**
 * (`retry.deadline`, 60 s by default) bounds how long a query goes on
 * retrying: it is armed at the query's first failure (an `ApiRetry` or a failed
 * attempt), and no retry, the CLI's or the library's, starts past it; the
 * query then fails with its last failure (what the API said, e.g. `ApiError`
 * 500), as when the policy runs out. A turn that never failed is never cut by
 * it. When the API answers again (model output arrives), the run of failures
 * is over: the deadline is off until the next failure, and the CLI's retries
 * of that run stop counting against the policy (failed attempts always count),
 * so a long turn is not failed by a few transient retries spread over it. A
 * request that hangs without an answer is the idle timeout's (F04), not the
 * deadline's. With the defaults, an API answering 500 forever fails the query
 * with `ApiError` after 4 requests (~5 s) instead of 44 requests and 12 minutes.
 *
 * **A turn whose tools ran is never sent again (F14).** When an attempt saw a
 * `ToolUse` event, the next attempt resumes that CLI session
 * (`options.resume = <session id>`, so `--resume`) and sends a short
 * continuation prompt instead of the prompt: the model sees the tool calls and
 * results already in the transcript and carries on from there. Before it resumes,
 * it reads that transcript (`Transcript`): when the CLI died before writing it
 * (it writes on a ~100 ms timer), or before writing the result of a tool call the
 * attempt saw, a resume is not safe (the CLI would fail, or the model, told the
 * call's outcome is unknown, could run the tool again), and the turn fails with
 * `TranscriptLost` instead, nothing sent. The transcript is read after the
 * backoff, once the failed CLI has written all it ever will, so such a turn's
 * stream shows the `Retrying` event and then the failure. A resumed attempt that
 * the CLI refuses with "No conversation found" fails with `TranscriptLost` too.
 *
 * **What the consumer of the stream sees.** Every attempt's events, as they
 * arrive, the failed attempt's `Result` (if it had one) included; then one
 * `Retrying` event (`attempt`, `delayMs`, `reason`, `resume`); then the next
 * attempt's events. Each attempt begins after a `Retrying`, so attempts are
 * told apart by counting them. If the last attempt fails, the stream fails
 * with its `ClaudeError`. The final `Result` of a turn that needed retries
 * reports in `costUsd` and `usage` the sum of what every attempt's `Result`
 * reported (each attempt counted once; an attempt that died before its
 * `Result` reported nothing and adds nothing); its `frame` stays the CLI's own,
 * for the last attempt only. Each retry is also logged (`Effect.log`, with
 * attempt, delay, reason and circuit annotations) and counted in
 * `claude_retries_total` by reason.
 *
 * **Circuit breaker.** One circuit per (credential identity, model), on
 * `effect/persistence`'s `CircuitBreaker` with its in-memory store. Each attempt
 * goes through it. Overloaded, rate-limited, 5xx and connection failures count
 * against it (a crash, a timeout or a bad prompt say nothing about the API and
 * are ignored); after `tripPolicy` (default 5 in a row) it opens for
 * `openDuration` (default 30 s; longer when the failure that tripped it carried
 * a retry-after). While it is open a new turn fails at once, nothing spawned,
 * with `CircuitOpen` carrying `halfOpenAtMs`; then one probe goes through: its
 * success closes the circuit, its failure opens it again. A turn that is
 * already retrying is rejected the same way, at once: when its failure (or
 * its CLI's retry) opens the circuit, or when its next attempt meets a circuit
 * another turn opened, it fails with `CircuitOpen` instead of waiting for the
 * half-open time.
 *
 * @since 0.1.0
 */
import {
  Cause,
  Clock,
  Config,
  Context,
  Duration,
  Effect,
  Exit,
  FileSystem,
  Layer,
  Metric,
  Option,
  Path,
  Predicate,
  Queue,
  Schedule,
  Stream
} from "effect"
import { CircuitBreaker } from "effect/persistence"
import { createHash } from "node:crypto"
import * as ClaudeError from "./ClaudeError.ts"
import { ClaudeEvent } from "./ClaudeEvent.ts"
import type * as ClaudeOptions from "./ClaudeOptions.ts"
import * as Metrics from "./Metrics.ts"
import type * as Protocol from "./Protocol.ts"
import * as TokenManager from "./TokenManager.ts"
import * as Transcript from "./Transcript.ts"
import * as TurnOutcome from "./TurnOutcome.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface RetrySettings {
  /**
   * Retries after the first attempt, with the default backoff: the library's and the CLI's own together
   * (see the module documentation). `0` turns retrying off, the CLI's included. Default 3.
   */
  readonly times?: number | undefined
  /** The first backoff delay. Default 1 s. */
  readonly baseDelay?: Duration.Input | undefined
  /** How much each backoff delay grows. Default 2. */
  readonly factor?: number | undefined
  /** The longest backoff delay (a server's retry-after may ask for more). Default 30 s. */
  readonly maxDelay?: Duration.Input | undefined
  /** Spread each delay by ±20 % (`Schedule.jittered`). Default `true`. */
  readonly jitter?: boolean | undefined
  /**
   * A policy of your own, in place of the default backoff above (`times`, `baseDelay`, `factor`,
   * `maxDelay` and `jitter` are then unused). Its input is the failure (a failed attempt's, or that of an
   * API call the CLI is about to retry by itself); when it ends, retrying ends.
   * It still runs only for retryable reasons, and a retry-after still lengthens its delays.
   * Bound it (`Schedule.upTo`, `Schedule.recurs`): the library adds no limit of its own.
   */
  readonly schedule?: Schedule.Schedule<unknown, ClaudeError.ClaudeError> | undefined
  /**
   * The longest wait a server's retry-after may impose on a retry; a longer one fails the turn at once
   * with its reason. Default 60 s.
   */
  readonly maxRetryAfter?: Duration.Input | undefined
  /**
   * How long a query may go on retrying, from its first failure (a CLI `api_retry` or a failed attempt):
   * no retry, the library's or the CLI's own, starts past it; the query fails then with its last
   * failure. A turn that never failed is never cut by it. Default 60 s; `Duration.infinity` for none.
   */
  readonly deadline?: Duration.Input | undefined
  /** What a resumed attempt sends, after an attempt whose tools ran failed. Default {@link defaultContinuationPrompt}. */
  readonly continuationPrompt?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreakerSettings {
  /** `false` turns the circuit breaker off. Default `true`. */
  readonly enabled?: boolean | undefined
  /** When a closed circuit opens. Default `CircuitBreaker.consecutive(5)`. */
  readonly tripPolicy?: CircuitBreaker.TripPolicy | undefined
  /** How long an opening lasts: a duration, or a `Schedule` of the n-th opening's length. Default 30 s. */
  readonly openDuration?: Duration.Input | Schedule.Schedule<unknown, number> | undefined
  /** Caps how far a failure's retry-after can lengthen an opening. Default 1 hour. */
  readonly maxOpenDuration?: Duration.Input | undefined
  /** Which failures count against the circuit. Default {@link countsAgainstCircuit}. */
  readonly countsAgainst?: ((reason: ClaudeError.Reason) => boolean) | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** `false`: no retry, no circuit breaker; a failed turn fails its stream at once. Default `true`. */
  readonly enabled?: boolean | undefined
  readonly retry?: RetrySettings | undefined
  readonly circuitBreaker?: CircuitBreakerSettings | undefined
}

/**
 * One attempt of a turn: the stream of a turn on a session, as `Claude.query` runs it.
 *
 * @since 0.1.0
 * @category models
 */
export type Attempt = (
  prompt: Protocol.UserContent,
  options: ClaudeOptions.Input | undefined
) => Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError>

/**
 * @since 0.1.0
 * @category services
 */
export class Resilience extends Context.Service<Resilience, {
  /**
   * Runs a turn: `attempt(prompt, options)` under the circuit of `options`, again after each retryable
   * failure as the policy allows, resuming instead of resending once a tool ran. See the module
   * documentation for what the stream carries.
   */
  readonly run: (
    prompt: Protocol.UserContent,
    options: ClaudeOptions.Input | undefined,
    attempt: Attempt
  ) => Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError>
  /** The state of the circuit turns with these options run under (always `Closed` with the breaker off). */
  readonly circuitState: (
    options?: ClaudeOptions.Input | undefined
  ) => Effect.Effect<CircuitBreaker.State, ClaudeError.ClaudeError>
  /** The circuits' transitions from now on (none with the breaker off); ends when the layer closes. */
  readonly transitions: Stream.Stream<CircuitBreaker.Transition>
}>()("effect-claude-code/Resilience") {}

/**
 * What a resumed attempt sends by default.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultContinuationPrompt =
  "Your previous reply was cut off by an error after tools had already run. Continue the task from where " +
  "it stopped. Do not repeat tool calls whose results are already in this conversation."

/**
 * The default retry policy: exponential from `baseDelay` by `factor`, jittered, each delay capped at
 * `maxDelay`, at most `times` retries.
 *
 * @since 0.1.0
 * @category retry
 */
export const defaultSchedule = (settings: RetrySettings = {}): Schedule.Schedule<unknown, ClaudeError.ClaudeError> => {
  const maxDelay = Duration.fromInputUnsafe(settings.maxDelay ?? Duration.seconds(30))
  const backoff = Schedule.exponential(settings.baseDelay ?? Duration.seconds(1), settings.factor ?? 2)
  return (settings.jitter === false ? backoff : Schedule.jittered(backoff)).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, maxDelay))),
    Schedule.upTo({ times: settings.times ?? 3 }),
    Schedule.setInputType<ClaudeError.ClaudeError>()
  )
}

/**
 * What an attempt showed about when the API wants to be asked again, besides its failure's reason.
 *
 * @since 0.1.0
 * @category retry
 */
export interface RetryHints {
  /** A rejecting `rate_limit_event`'s `resetsAt`, in epoch milliseconds. */
  readonly rateLimitResetsAtMs?: number | undefined
  /**
   * The CLI's own last wait before retrying a 429 / 529 itself (`ApiRetry.delayMs`): it honours the
   * server's `retry-after`, which the CLI does not pass on when its retries run out.
   */
  readonly cliRetryDelayMs?: number | undefined
}

/**
 * The shortest wait before trying again after `reason`, in milliseconds from `nowMs`, and whether the
 * API (or the circuit) asked for exactly that: a rate limit's retry-after (or its `resetsAt`), an open
 * circuit's half-open time; failing those, the CLI's own last retry delay for a 429 / 529 (not exact).
 * `undefined` when nothing sets one.
 *
 * @since 0.1.0
 * @category retry
 */
export const minimumDelay = (
  reason: ClaudeError.Reason,
  nowMs: number,
  hints: RetryHints = {}
): { readonly ms: number; readonly exact: boolean } | undefined => {
  const cli = hints.cliRetryDelayMs === undefined ? undefined : { ms: hints.cliRetryDelayMs, exact: false }
  switch (reason._tag) {
    case "RateLimited":
      if (reason.retryAfterMs !== undefined) return { ms: reason.retryAfterMs, exact: true }
      if (hints.rateLimitResetsAtMs !== undefined) {
        return { ms: Math.max(0, hints.rateLimitResetsAtMs - nowMs), exact: true }
      }
      return cli
    case "Overloaded":
      return cli
    case "CircuitOpen":
      return reason.halfOpenAtMs === undefined ? undefined : { ms: Math.max(0, reason.halfOpenAtMs - nowMs), exact: true }
    default:
      return undefined
  }
}

/**
 * Whether a failure counts against the API's circuit: overloaded (529), rate limited (429), any 5xx,
 * and a failed connection (an API error without a status).
 *
 * @since 0.1.0
 * @category circuit breaker
 */
export const countsAgainstCircuit = (reason: ClaudeError.Reason): boolean => {
  switch (reason._tag) {
    case "Overloaded":
    case "RateLimited":
      return true
    case "ApiError":
      return reason.status === null || reason.status >= 500
    default:
      return false
  }
}

const endpointVariables = ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"]

/**
 * The circuit of a turn: `<credential identity>/<model>`. The identity is the `TokenManager`
 * credential's (`cli-login` without one), mixed with a hash of any credential or endpoint the
 * options' `env` sets; the model is `options.model` (`default` without one). Never holds a secret.
 *
 * @since 0.1.0
 * @category circuit breaker
 */
export const circuitKey = (
  credential: Option.Option<TokenManager.Credential>,
  options: ClaudeOptions.Input | undefined
): string => {
  const base = Option.match(credential, { onNone: () => "cli-login", onSome: (c) => c.identity })
  const env = options?.env ?? {}
  const overrides = endpointVariables.flatMap((name) => {
    const value = env[name]
    return value === undefined ? [] : [`${name}=${value}`]
  })
  const identity = overrides.length === 0
    ? base
    : createHash("sha256").update([base, ...overrides].join("\u0000")).digest("hex").slice(0, 16)
  return `${identity}/${options?.model ?? "default"}`
}

/** Sums the numbers of two usage records, nested ones included; anything else is the latest. */
const addUsage = (
  a: Readonly<Record<string, unknown>>,
  b: Readonly<Record<string, unknown>>
): Record<string, unknown> => {
  const sum: Record<string, unknown> = { ...a }
  for (const [key, value] of Object.entries(b)) {
    const before = sum[key]
    if (typeof value === "number" && typeof before === "number") sum[key] = before + value
    else if (Predicate.isObject(value) && Predicate.isObject(before)) sum[key] = addUsage(before, value)
    else sum[key] = value
  }
  return sum
}

type ResultEvent = Extract<ClaudeEvent, { readonly _tag: "Result" }>

/** What the `Result`s of a turn's attempts reported, added up. */
interface Spent {
  readonly costUsd: number | undefined
  readonly usage: Readonly<Record<string, unknown>> | undefined
}

const nothingSpent: Spent = { costUsd: undefined, usage: undefined }

const addSpent = (spent: Spent, result: ResultEvent | undefined): Spent =>
  result === undefined ? spent : {
    costUsd: result.costUsd === undefined ? spent.costUsd : (spent.costUsd ?? 0) + result.costUsd,
    usage: result.usage === undefined ? spent.usage : spent.usage === undefined ? result.usage : addUsage(spent.usage, result.usage)
  }

/** The options of an attempt that resumes `sessionId`: the same process options, that conversation. */
const resumeOptions = (options: ClaudeOptions.Input | undefined, sessionId: string): ClaudeOptions.Input => {
  const { continue: _continue, forkSession: _fork, resume: _resume, ...rest } = options ?? {}
  return { ...rest, resume: sessionId }
}

/** What one attempt showed, as its events went by. */
interface Seen {
  toolUse: boolean
  readonly toolUseIds: Array<string>
  sessionId: string | undefined
  result: ResultEvent | undefined
  rateLimitResetsAtMs: number | undefined
  cliRetryDelayMs: number | undefined
  /** The query's failure, decided while the attempt ran (at a CLI retry): not retried. */
  final: ClaudeError.ClaudeError | undefined
  /** The attempt was the circuit's probe, and its CLI was about to retry a failure. */
  failedProbe: boolean
}

/**
 * The API answered a request: model output, not the CLI's report of a failed call (a `<synthetic>`
 * assistant message carrying `error`).
 */
const apiAnswered = (event: ClaudeEvent): boolean => {
  switch (event._tag) {
    case "TextDelta":
    case "ThinkingDelta":
    case "ToolInputDelta":
      return true
    case "AssistantText":
    case "AssistantThinking":
    case "AssistantBlock":
    case "ToolUse":
      return (event.frame.error ?? undefined) === undefined && event.frame.message.model !== "<synthetic>"
    default:
      return false
  }
}

/** What the CLI 2.1.329 says when `--resume` names a session it has no transcript of (then it exits 1). */
const noConversation = "No conversation found with session ID"

const isNoConversation = (reason: ClaudeError.Reason): boolean => {
  switch (reason._tag) {
    case "ProcessExited":
      return reason.stderrTail.includes(noConversation)
    case "ExecutionError":
      return reason.errors.some((error) => error.includes(noConversation))
    case "ProtocolError":
      return reason.detail.includes(noConversation)
    default:
      return false
  }
}

/** The CLI's config directory for these options: theirs over the host's, as the child's environment is built. */
const configDirOf = (options: ClaudeOptions.Input | undefined) =>
  Transcript.configDir({ HOME: process.env["HOME"], CLAUDE_CONFIG_DIR: process.env["CLAUDE_CONFIG_DIR"], ...options?.env })

/** A RateLimited without a retry-after gets the one a rejecting `rate_limit_event` gave. */
const withRetryAfter = (error: ClaudeError.ClaudeError, seen: Seen, nowMs: number): ClaudeError.ClaudeError => {
  const reason = error.reason
  if (reason._tag !== "RateLimited" || reason.retryAfterMs !== undefined || seen.rateLimitResetsAtMs === undefined) {
    return error
  }
  return ClaudeError.make(
    new ClaudeError.RateLimited({ detail: reason.detail, retryAfterMs: Math.max(0, seen.rateLimitResetsAtMs - nowMs) }),
    // The session's debug log travels on: the caller reads it from the rebuilt error as from the original.
    { sessionId: error.sessionId, turn: error.turn, debugLog: error.debugLog }
  )
}

/**
 * A `Resilience` that does nothing: every turn runs once, its failure fails the stream, no circuit.
 *
 * @since 0.1.0
 * @category constructors
 */
export const disabled: Resilience["Service"] = Resilience.of({
  run: (prompt, options, attempt) => attempt(prompt, options),
  circuitState: (options) => Effect.succeed({ _tag: "Closed", key: circuitKey(Option.none(), options) }),
  transitions: Stream.empty
})

/**
 * Builds the service from its settings; the circuit breaker lives as long as the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(settings: Settings = {}) {
  if (settings.enabled === false) return disabled
  const tokens = yield* TokenManager.TokenManager
  const transcripts = yield* Transcript.Transcript
  const retry = settings.retry ?? {}
  const schedule = retry.schedule ?? ((retry.times ?? 3) > 0 ? defaultSchedule(retry) : undefined)
  const maxRetryAfterMs = Duration.toMillis(Duration.fromInputUnsafe(retry.maxRetryAfter ?? Duration.seconds(60)))
  const deadlineMs = Duration.toMillis(Duration.fromInputUnsafe(retry.deadline ?? Duration.seconds(60)))
  const continuationPrompt = retry.continuationPrompt ?? defaultContinuationPrompt
  const circuit = settings.circuitBreaker ?? {}
  const countsAgainst = circuit.countsAgainst ?? countsAgainstCircuit

  const breaker = circuit.enabled === false ? undefined : yield* CircuitBreaker.make({
    tripPolicy: circuit.tripPolicy ?? CircuitBreaker.consecutive(5),
    openDuration: circuit.openDuration ?? Duration.seconds(30),
    maxOpenDuration: circuit.maxOpenDuration
  })

  if (breaker !== undefined) {
    yield* breaker.transitions.pipe(
      Stream.runForEach((transition) =>
        Effect.all([
          Metric.update(Metric.withAttributes(Metrics.circuitTransitionsTotal, { from: transition.from, to: transition.to }), 1),
          Metric.update(Metric.withAttributes(Metrics.circuitState, { circuit: transition.key }), Metrics.circuitStateValue(transition.to)),
          Effect.log(`Circuit ${transition.to === "Open" ? "opened" : transition.to === "HalfOpen" ? "half-open" : "closed"}`).pipe(
            Effect.annotateLogs({
              circuit: transition.key,
              from: transition.from,
              to: transition.to,
              ...(transition.to === "Open" ? { openForMs: Duration.toMillis(transition.retryAfter) } : {})
            })
          )
        ], { discard: true })
      ),
      Effect.forkScoped({ startImmediately: true })
    )
  }

  const keyOf = (options: ClaudeOptions.Input | undefined) =>
    Effect.map(tokens.getToken, (credential) => circuitKey(credential, options))

  const classify = <A>(exit: Exit.Exit<A, ClaudeError.ClaudeError>): CircuitBreaker.Outcome => {
    if (Exit.isSuccess(exit)) return CircuitBreaker.success
    const error = Cause.findErrorOption(exit.cause)
    if (Option.isNone(error) || !countsAgainst(error.value.reason)) return CircuitBreaker.ignored
    const reason = error.value.reason
    return CircuitBreaker.failure(
      reason._tag === "RateLimited" && reason.retryAfterMs !== undefined
        ? { retryAfter: Duration.millis(reason.retryAfterMs) }
        : undefined
    )
  }

  // A turn the circuit turns away: our CircuitOpen, with its half-open time when the circuit is open.
  const rejectedFor = (key: string, retryAfter: Duration.Duration | undefined) =>
    Effect.gen(function*() {
      yield* Metric.update(Metric.withAttributes(Metrics.circuitRejectionsTotal, { circuit: key }), 1)
      const now = yield* Clock.currentTimeMillis
      return ClaudeError.make(
        retryAfter === undefined
          ? new ClaudeError.CircuitOpen({})
          : new ClaudeError.CircuitOpen({ halfOpenAtMs: now + Duration.toMillis(retryAfter) })
      )
    })

  // The breaker's rejections become our CircuitOpen; the in-memory store never fails.
  const rejected = (key: string, error: CircuitBreaker.CircuitBreakerError) => {
    const reason = error.reason
    if (reason._tag === "CircuitBreakerStoreError") return Effect.die(error)
    return Effect.flip(rejectedFor(key, reason._tag === "CircuitOpen" ? reason.retryAfter : undefined))
  }

  // A failed API call the CLI retries by itself is one failure on the circuit, as a failed attempt is.
  // Recorded as a call of its own; an open or probing circuit admits none, which the caller finds by
  // the state.
  const recordFailure = (key: string, error: ClaudeError.ClaudeError) =>
    breaker === undefined || !countsAgainst(error.reason)
      ? Effect.void
      : breaker.execute(Effect.fail(error), { key, classify }).pipe(Effect.ignore)

  const circuitNow = (key: string): Effect.Effect<CircuitBreaker.State | undefined> =>
    breaker === undefined ? Effect.succeed(undefined) : Effect.orDie(breaker.state(key))

  const guarded = <R>(key: string, effect: Effect.Effect<void, ClaudeError.ClaudeError, R>) =>
    breaker === undefined ? effect : breaker.execute(effect, { key, classify }).pipe(
      Effect.catchTag("CircuitBreakerError", (error) => rejected(key, error))
    )

  const giveUp = (message: string, error: ClaudeError.ClaudeError, annotations: Record<string, unknown>) =>
    Effect.log(message).pipe(
      Effect.annotateLogs({ reason: error.reason._tag, ...annotations }),
      Effect.andThen(Effect.fail(error))
    )

  const transcriptLost = (
    sessionId: string,
    transcript: "missing" | "incomplete",
    toolsMayHaveRun: boolean,
    toolUseIds: ReadonlyArray<string>
  ) =>
    ClaudeError.make(new ClaudeError.TranscriptLost({ sessionId, transcript, toolsMayHaveRun, toolUseIds }), { sessionId })

  // A resume carries the conversation on from the transcript alone: every tool call seen must be there, with its result.
  const checkResumable = (sessionId: string, options: ClaudeOptions.Input | undefined, toolUseIds: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const dir = configDirOf(options)
      const contents = dir === undefined ? Option.none<Transcript.Contents>() : yield* transcripts.read(dir, sessionId)
      if (Option.isNone(contents)) return Option.some(transcriptLost(sessionId, "missing", true, toolUseIds))
      const open = Transcript.unresolved(contents.value, toolUseIds)
      return open.length === 0 ? Option.none() : Option.some(transcriptLost(sessionId, "incomplete", true, open))
    })

  const turn = (
    queue: Queue.Queue<ClaudeEvent, ClaudeError.ClaudeError | Cause.Done>,
    key: string,
    prompt: Protocol.UserContent,
    options: ClaudeOptions.Input | undefined,
    attempt: Attempt
  ) =>
    Effect.gen(function*() {
      // One budget for the query: the policy is stepped at every failure, the CLI's own retries included,
      // so that its retries do not multiply by the library's attempts (F20). A run of failures ends when
      // the API answers again: the CLI's retries of that run stop counting (the policy is stepped anew
      // over the failed attempts alone), and the deadline, armed at the run's first failure, is off.
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
      let number = 1
      let current: { readonly prompt: Protocol.UserContent; readonly options: ClaudeOptions.Input | undefined } = {
        prompt,
        options
      }
      // Once a tool ran, every later attempt resumes the conversation (the last session id seen).
      let toolsRan = false
      let lastSessionId: string | undefined
      const toolUseIds: Array<string> = []
      let spent = nothingSpent
      for (;;) {
        const seen: Seen = {
          toolUse: false,
          toolUseIds: [],
          sessionId: undefined,
          result: undefined,
          rateLimitResetsAtMs: undefined,
          cliRetryDelayMs: undefined,
          final: undefined,
          failedProbe: false
        }
        const annotations = { attempt: number, circuit: key }

        // The attempt ends here, with the query: its CLI is stopped, and nothing retries `error`.
        const stop = (message: string, error: ClaudeError.ClaudeError, extra: Record<string, unknown> = {}) =>
          Effect.suspend(() => {
            seen.final = error
            return giveUp(message, error, { ...annotations, ...extra })
          })

        // The CLI is about to retry a failed API call by itself: a retry of the query like any other.
        const cliRetry = (event: Extract<ClaudeEvent, { readonly _tag: "ApiRetry" }>) =>
          Effect.gen(function*() {
            // F12: a refused credential is the Session's to fail fast.
            if (TurnOutcome.fromApiRetry(event.frame) !== undefined) return
            const now = yield* Clock.currentTimeMillis
            const error = ClaudeError.make(
              TurnOutcome.fromStatus(
                event.status,
                `the API answered ${event.status ?? "no connection"} (${event.error ?? "error"}); the CLI was about to retry it (${event.attempt} of ${
                  event.maxRetries ?? "?"
                })`,
                { errorType: event.error ?? undefined }
              ),
              { sessionId: seen.sessionId ?? event.frame.session_id }
            )
            const cli = { cliRetry: event.attempt, waitMs: event.delayMs }
            deadlineAtMs ??= now + deadlineMs
            cliRetriesInRun++
            if (step === undefined || Exit.isFailure(yield* Effect.exit(step(now, error)))) {
              return yield* stop("Stopping the CLI's own retries: the retry policy is exhausted", error, cli)
            }
            if (now + (event.delayMs ?? 0) > deadlineAtMs) {
              return yield* stop("Stopping the CLI's own retries: the query's deadline would pass before the next one", error, {
                ...cli,
                deadlineMs
              })
            }
            yield* recordFailure(key, error)
            const state = yield* circuitNow(key)
            if (state?._tag === "Open") {
              return yield* stop("Stopping the CLI's own retries: the circuit is open", yield* rejectedFor(key, state.retryAfter), cli)
            }
            // Half-open: this attempt (or another) is the probe, and the probe failed: the attempt fails
            // with it, and its outcome, recorded by the circuit, opens it again.
            if (state?._tag === "HalfOpen") {
              seen.failedProbe = true
              return yield* Effect.fail(error)
            }
          })

        const deliver = (event: ClaudeEvent) => {
          switch (event._tag) {
            case "SessionStarted":
              seen.sessionId = event.sessionId
              break
            case "ToolUse":
              seen.toolUse = true
              // A subagent's calls live in its own sidechain, not in the session's transcript.
              if (event.parentToolUseId === null) seen.toolUseIds.push(event.id)
              seen.sessionId ??= event.frame.session_id
              break
            case "ApiRetry":
              if ((event.status === 429 || event.status === 529) && event.delayMs !== undefined) {
                seen.cliRetryDelayMs = event.delayMs
              }
              return Effect.andThen(Queue.offer(queue, event), cliRetry(event))
            case "RateLimit":
              if (event.status === "rejected" && event.resetsAt !== undefined) seen.rateLimitResetsAtMs = event.resetsAt * 1000
              break
            case "Result": {
              seen.sessionId = event.sessionId
              seen.result = event
              // The turn's final Result: what every attempt reported, each counted once.
              if (event.error === undefined && spent !== nothingSpent) {
                const total = addSpent(spent, event)
                return Queue.offer(queue, ClaudeEvent.Result({ ...event, costUsd: total.costUsd, usage: total.usage }))
              }
              break
            }
          }
          return Queue.offer(queue, event)
        }
        const forward = (event: ClaudeEvent) =>
          deadlineAtMs !== undefined && apiAnswered(event) ? Effect.andThen(answered, deliver(event)) : deliver(event)
        const exit = yield* Effect.exit(
          guarded(key, Stream.runForEach(attempt(current.prompt, current.options), forward))
        )
        if (Exit.isSuccess(exit)) return yield* Queue.end(queue)
        // Given up on (and logged) as the CLI retried.
        if (seen.final !== undefined) return yield* Effect.fail(seen.final)
        const failure = Cause.findErrorOption(exit.cause)
        // Defects and interruptions are not ours to retry.
        if (Option.isNone(failure)) return yield* Effect.failCause(exit.cause)
        // Its budget already spent at the CLI's retry: the circuit decides.
        if (seen.failedProbe) {
          const state = yield* circuitNow(key)
          const open = state?._tag === "Open" ? yield* rejectedFor(key, state.retryAfter) : failure.value
          return yield* giveUp("Not retrying a failed turn: it was the circuit's probe", open, annotations)
        }
        const now = yield* Clock.currentTimeMillis
        toolsRan ||= seen.toolUse
        toolUseIds.push(...seen.toolUseIds)
        const resumed = current.options?.resume
        const error = resumed !== undefined && isNoConversation(failure.value.reason)
          ? transcriptLost(resumed, "missing", toolsRan, toolUseIds)
          : withRetryAfter(failure.value, seen, now)
        const reason = error.reason
        lastSessionId = seen.sessionId ?? lastSessionId
        spent = addSpent(spent, seen.result)

        // An open circuit turns a new query away at once, nothing spawned: CircuitOpen is not retryable.
        if (step === undefined || !reason.isRetryable) return yield* Effect.fail(error)
        deadlineAtMs ??= now + deadlineMs
        failedAttempts.push({ now, error })
        const next = yield* Effect.exit(step(now, error))
        if (Exit.isFailure(next)) {
          return yield* giveUp("Not retrying a failed turn: the retry policy is exhausted", error, annotations)
        }
        const floor = minimumDelay(reason, now, seen)
        if (floor?.exact === true && floor.ms > maxRetryAfterMs) {
          return yield* giveUp("Not retrying a failed turn: the wait asked for is longer than maxRetryAfter", error, {
            ...annotations,
            waitMs: floor.ms,
            maxRetryAfterMs
          })
        }
        const delayMs = Math.max(
          Math.round(Duration.toMillis(next.value[1])),
          Math.min(floor?.ms ?? 0, maxRetryAfterMs)
        )
        if (now + delayMs > deadlineAtMs) {
          return yield* giveUp("Not retrying a failed turn: the query's deadline would pass before the next attempt", error, {
            ...annotations,
            waitMs: delayMs,
            deadlineMs
          })
        }
        // A circuit that opened while the query retried (its own failures, or another query's) fails it
        // now, rather than after a wait for the half-open time.
        const state = yield* circuitNow(key)
        if (state?._tag === "Open") {
          const open = yield* rejectedFor(key, state.retryAfter)
          return yield* giveUp("Not retrying a failed turn: the circuit is open", open, annotations)
        }
        const resume = toolsRan ? lastSessionId : undefined
        if (toolsRan && resume === undefined) {
          return yield* giveUp(
            "Not retrying a failed turn: a tool ran, and without a session id to resume the prompt cannot be sent safely again",
            error,
            annotations
          )
        }
        current = resume === undefined
          ? { prompt, options }
          : { prompt: continuationPrompt, options: resumeOptions(options, resume) }
        yield* Queue.offer(
          queue,
          ClaudeEvent.Retrying({ attempt: number, delayMs, reason, sessionId: seen.sessionId, resume })
        )
        yield* Metric.update(Metric.withAttributes(Metrics.retriesTotal, { reason: reason._tag }), 1)
        yield* Effect.log("Retrying a failed turn").pipe(
          Effect.annotateLogs({
            ...annotations,
            nextAttempt: number + 1,
            delayMs,
            reason: reason._tag,
            detail: reason.message,
            resume: resume ?? "no: the prompt is sent again"
          })
        )
        yield* Effect.sleep(Duration.millis(delayMs))
        // Read after the backoff: by now the failed attempt's CLI has stopped and written all it ever will.
        if (resume !== undefined) {
          const lost = yield* checkResumable(resume, options, toolUseIds)
          if (Option.isSome(lost)) {
            return yield* giveUp("Not retrying a failed turn: its transcript cannot be resumed safely", lost.value, annotations)
          }
        }
        number++
      }
    })

  const run = Effect.fn("Resilience.run")(
    function*(prompt: Protocol.UserContent, options: ClaudeOptions.Input | undefined, attempt: Attempt) {
      const key = yield* keyOf(options)
      return Stream.callback<ClaudeEvent, ClaudeError.ClaudeError>(
        (queue) => turn(queue, key, prompt, options, attempt),
        { bufferSize: 16, strategy: "suspend" }
      )
    },
    Stream.unwrap
  )

  const circuitState = Effect.fn("Resilience.circuitState")(function*(options?: ClaudeOptions.Input | undefined) {
    const key = yield* keyOf(options)
    if (breaker === undefined) return { _tag: "Closed", key } satisfies CircuitBreaker.State
    return yield* breaker.state(key).pipe(Effect.orDie)
  })

  return Resilience.of({
    run,
    circuitState,
    transitions: breaker === undefined ? Stream.empty : breaker.transitions
  })
})

/**
 * Retries and a circuit breaker (on an in-memory store) with these settings.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  settings: Settings = {}
): Layer.Layer<Resilience, never, TokenManager.TokenManager | FileSystem.FileSystem | Path.Path> =>
  Layer.effect(Resilience, make(settings)).pipe(
    Layer.provide(Layer.merge(CircuitBreaker.layerStoreMemory(), Transcript.layer))
  )

/**
 * {@link layer} with settings read through `Config`
 * (`Resilience.layerConfig({ retry: { times: Config.Int("CLAUDE_RETRIES") } })`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  settings: Config.Wrap<Settings>
): Layer.Layer<Resilience, Config.ConfigError, TokenManager.TokenManager | FileSystem.FileSystem | Path.Path> =>
  Layer.effect(Resilience, Effect.flatMap(Config.unwrap(settings), make)).pipe(
    Layer.provide(Layer.merge(CircuitBreaker.layerStoreMemory(), Transcript.layer))
  )

/**
 * No retries and no circuit breaker: {@link disabled}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDisabled: Layer.Layer<Resilience> = Layer.succeed(Resilience, disabled)

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
  Config,
  Context,
  Duration,
  Effect,
  type FileSystem,
  Layer,
  Option,
  type Path,
  type Schedule,
  Stream
} from "effect"
import { CircuitBreaker } from "effect/persistence"
import type * as ClaudeError from "./ClaudeError.ts"
import type { ClaudeEvent } from "./ClaudeEvent.ts"
import type * as ClaudeOptions from "./ClaudeOptions.ts"
import * as Circuit from "./internal/resilience/circuit.ts"
import * as RetryAfter from "./internal/resilience/retryAfter.ts"
import * as RetryLoop from "./internal/resilience/retryLoop.ts"
import * as RetrySchedule from "./internal/resilience/retrySchedule.ts"
import type * as Protocol from "./Protocol.ts"
import * as TokenManager from "./TokenManager.ts"
import * as Transcript from "./Transcript.ts"

/**
 * How failed turns are retried (see the module documentation).
 *
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
 * The circuit breaker per (credential, model) (see the module documentation).
 *
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
 * The settings of {@link layer}, {@link layerConfig} and {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** `false`: no retry, no circuit breaker; a failed turn fails its stream at once. Default `true`. */
  readonly enabled?: boolean | undefined
  /** How failed turns are retried. */
  readonly retry?: RetrySettings | undefined
  /** The circuit breaker. */
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
 * Runs `Claude.query`'s turns with retries and a circuit breaker.
 *
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
export const defaultSchedule = (settings: RetrySettings = {}): Schedule.Schedule<unknown, ClaudeError.ClaudeError> =>
  RetrySchedule.backoff({
    times: settings.times ?? 3,
    baseDelay: settings.baseDelay ?? Duration.seconds(1),
    factor: settings.factor ?? 2,
    maxDelay: settings.maxDelay ?? Duration.seconds(30),
    jitter: settings.jitter !== false
  })

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
export const minimumDelay: (
  reason: ClaudeError.Reason,
  nowMs: number,
  hints?: RetryHints
) => { readonly ms: number; readonly exact: boolean } | undefined = RetryAfter.minimumDelay

/**
 * Whether a failure counts against the API's circuit: overloaded (529), rate limited (429), any 5xx,
 * and a failed connection (an API error without a status).
 *
 * @since 0.1.0
 * @category circuit breaker
 */
export const countsAgainstCircuit: (reason: ClaudeError.Reason) => boolean = Circuit.countsAgainstCircuit

/**
 * The circuit of a turn: `<credential identity>/<model>`. The identity is the `TokenManager`
 * credential's (`cli-login` without one), mixed with a hash of any credential or endpoint the
 * options' `env` sets; the model is `options.model` (`default` without one). Never holds a secret.
 *
 * @since 0.1.0
 * @category circuit breaker
 */
export const circuitKey: (
  credential: Option.Option<TokenManager.Credential>,
  options: ClaudeOptions.Input | undefined
) => string = Circuit.circuitKey

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
  const circuit = settings.circuitBreaker ?? {}
  const rules: RetryLoop.Rules = {
    schedule: retry.schedule ?? ((retry.times ?? 3) > 0 ? defaultSchedule(retry) : undefined),
    maxRetryAfterMs: Duration.toMillis(Duration.fromInputUnsafe(retry.maxRetryAfter ?? Duration.seconds(60))),
    deadlineMs: Duration.toMillis(Duration.fromInputUnsafe(retry.deadline ?? Duration.seconds(60))),
    continuationPrompt: retry.continuationPrompt ?? defaultContinuationPrompt,
    circuits: yield* Circuit.make(
      circuit.enabled === false ? undefined : {
        tripPolicy: circuit.tripPolicy ?? CircuitBreaker.consecutive(5),
        openDuration: circuit.openDuration ?? Duration.seconds(30),
        maxOpenDuration: circuit.maxOpenDuration,
        countsAgainst: circuit.countsAgainst ?? countsAgainstCircuit
      }
    ),
    transcripts
  }

  const keyOf = (options: ClaudeOptions.Input | undefined) =>
    Effect.map(tokens.getToken, (credential) => circuitKey(credential, options))

  const run = Effect.fn("Resilience.run")(
    function*(prompt: Protocol.UserContent, options: ClaudeOptions.Input | undefined, attempt: Attempt) {
      const key = yield* keyOf(options)
      return Stream.callback<ClaudeEvent, ClaudeError.ClaudeError>(
        (queue) => RetryLoop.query(rules, queue, key, prompt, options, attempt),
        { bufferSize: 16, strategy: "suspend" }
      )
    },
    Stream.unwrap
  )

  const circuitState = Effect.fn("Resilience.circuitState")(function*(options?: ClaudeOptions.Input | undefined) {
    return yield* rules.circuits.reported(yield* keyOf(options))
  })

  return Resilience.of({ run, circuitState, transitions: rules.circuits.transitions })
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
 * {@link layer} with settings read through `Config`: a function of the settings, each of which may be a
 * `Config` (`Resilience.layerConfig({ retry: { times: Config.Int("CLAUDE_RETRIES") } })`), as
 * `TokenManager.layerConfig(settings?)` is. Without settings it is {@link layer}'s defaults, and a
 * failed read fails the layer with its `ConfigError`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  settings: Config.Wrap<Settings> = {}
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

/**
 * The circuits of the API: one per (credential identity, model), on `effect/persistence`'s
 * `CircuitBreaker` with the store in the context. Which failures count against a circuit, how a rejection
 * becomes a `CircuitOpen`, and the log and metrics of every transition.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Duration, Effect, Exit, Metric, Option, type Schedule, type Scope, Stream } from "effect"
import { CircuitBreaker } from "effect/persistence"
import { createHash } from "node:crypto"
import * as ClaudeError from "../../ClaudeError.ts"
import type * as ClaudeOptions from "../../ClaudeOptions.ts"
import * as Metrics from "../../Metrics.ts"
import type * as TokenManager from "../../TokenManager.ts"

/**
 * Whether a failure counts against the API's circuit: overloaded, rate limited, any 5xx, a failed
 * connection.
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
 * The circuit of a turn: `<credential identity>/<model>`, never holding a secret (see `Resilience.circuitKey`).
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

/**
 * The circuits as a query's attempts use them. With the breaker off, every call goes through and every
 * circuit reads as closed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Circuits {
  /** Runs an attempt under the circuit of `key`: its outcome is counted, a rejection is our `CircuitOpen`. */
  readonly guarded: <R>(
    key: string,
    attempt: Effect.Effect<void, ClaudeError.ClaudeError, R>
  ) => Effect.Effect<void, ClaudeError.ClaudeError, R>
  /**
   * A failed API call the CLI retries by itself: one failure on the circuit, as a failed attempt is,
   * recorded as a call of its own; an open or probing circuit admits none, which the caller finds by the state.
   */
  readonly recordFailure: (key: string, error: ClaudeError.ClaudeError) => Effect.Effect<void>
  /** The circuit's state now; `undefined` with the breaker off. */
  readonly state: (key: string) => Effect.Effect<CircuitBreaker.State | undefined>
  /** A turn the circuit turns away: our `CircuitOpen`, with its half-open time when the circuit is open. */
  readonly rejectedFor: (
    key: string,
    retryAfter: Duration.Duration | undefined
  ) => Effect.Effect<ClaudeError.ClaudeError>
  /** The state as `Resilience.circuitState` reports it: `Closed` with the breaker off. */
  readonly reported: (key: string) => Effect.Effect<CircuitBreaker.State>
  readonly transitions: Stream.Stream<CircuitBreaker.Transition>
}

const logTransition = (transition: CircuitBreaker.Transition) =>
  Effect.all([
    Metric.update(
      Metric.withAttributes(Metrics.circuitTransitionsTotal, { from: transition.from, to: transition.to }),
      1
    ),
    Metric.update(
      Metric.withAttributes(Metrics.circuitState, { circuit: transition.key }),
      Metrics.circuitStateValue(transition.to)
    ),
    Effect.log(`Circuit ${transition.to === "Open" ? "opened" : transition.to === "HalfOpen" ? "half-open" : "closed"}`)
      .pipe(
        Effect.annotateLogs({
          circuit: transition.key,
          from: transition.from,
          to: transition.to,
          ...(transition.to === "Open" ? { openForMs: Duration.toMillis(transition.retryAfter) } : {})
        })
      )
  ], { discard: true })

/**
 * The breaker's settings, defaults applied (see `Resilience.CircuitBreakerSettings`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Breaker {
  readonly tripPolicy: CircuitBreaker.TripPolicy
  readonly openDuration: Duration.Input | Schedule.Schedule<unknown, number>
  readonly maxOpenDuration: Duration.Input | undefined
  readonly countsAgainst: (reason: ClaudeError.Reason) => boolean
}

/**
 * Builds the circuits on a breaker with these settings, or none (`undefined`: every call goes through);
 * the breaker, and the fiber that logs its transitions, live as long as the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(
  settings: Breaker | undefined
): Effect.fn.Return<Circuits, never, CircuitBreaker.CircuitBreakerStore | Scope.Scope> {
  const countsAgainst = settings?.countsAgainst ?? countsAgainstCircuit
  const breaker = settings === undefined ? undefined : yield* CircuitBreaker.make({
    tripPolicy: settings.tripPolicy,
    openDuration: settings.openDuration,
    maxOpenDuration: settings.maxOpenDuration
  })

  if (breaker !== undefined) {
    yield* breaker.transitions.pipe(Stream.runForEach(logTransition), Effect.forkScoped({ startImmediately: true }))
  }

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

  return {
    guarded: (key, attempt) =>
      breaker === undefined ? attempt : breaker.execute(attempt, { key, classify }).pipe(
        Effect.catchTag("CircuitBreakerError", (error) => rejected(key, error))
      ),
    recordFailure: (key, error) =>
      breaker === undefined || !countsAgainst(error.reason)
        ? Effect.void
        : breaker.execute(Effect.fail(error), { key, classify }).pipe(Effect.ignore),
    state: (key) => (breaker === undefined ? Effect.succeed(undefined) : Effect.orDie(breaker.state(key))),
    rejectedFor,
    reported: (key) =>
      breaker === undefined
        ? Effect.succeed({ _tag: "Closed", key } satisfies CircuitBreaker.State)
        : Effect.orDie(breaker.state(key)),
    transitions: breaker === undefined ? Stream.empty : breaker.transitions
  }
})

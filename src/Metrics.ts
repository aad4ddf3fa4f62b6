/**
 * The library's metrics, defined once here (never per call), all named
 * `claude_*`. Read them with `Metric.value`, or export them with
 * `PrometheusMetrics` / `OtlpMetrics` from `effect/observability`.
 *
 * Attributes stay few and bounded: a reason is a `ClaudeError` reason tag, a
 * circuit is a `Resilience` circuit key (a credential's identity hash and a
 * model name, never a secret).
 *
 * @since 0.1.0
 */
import { Metric } from "effect"

/**
 * Retries of a failed turn by `Resilience`, by the `reason` (tag) that caused
 * each one.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retriesTotal = Metric.counter("claude_retries_total", {
  description: "Turns retried after a retryable failure, by reason",
  incremental: true
})

/**
 * Calls rejected by an open (or probing) circuit, by `circuit`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const circuitRejectionsTotal = Metric.counter("claude_circuit_rejections_total", {
  description: "Turns rejected at once by an open or half-open circuit breaker, by circuit",
  incremental: true
})

/**
 * Circuit breaker transitions, by `from` and `to` state.
 *
 * @since 0.1.0
 * @category metrics
 */
export const circuitTransitionsTotal = Metric.counter("claude_circuit_transitions_total", {
  description: "Circuit breaker transitions, by from and to state",
  incremental: true
})

/**
 * The state of each circuit, by `circuit`: 0 closed, 1 half-open, 2 open.
 *
 * @since 0.1.0
 * @category metrics
 */
export const circuitState = Metric.gauge("claude_circuit_state", {
  description: "Circuit breaker state per circuit: 0 closed, 1 half-open, 2 open"
})

/**
 * The value {@link circuitState} reports for a state.
 *
 * @since 0.1.0
 * @category metrics
 */
export const circuitStateValue = (state: "Closed" | "HalfOpen" | "Open"): number =>
  state === "Closed" ? 0 : state === "HalfOpen" ? 1 : 2

/**
 * The library's metrics, defined once here (never per call), all named
 * `claude_*`. Read them with `Metric.value` / `Metric.snapshot`, or export
 * them with `Prometheus.text`, `PrometheusMetrics` / `OtlpMetrics` from
 * `effect/observability`, or `@effect/opentelemetry`.
 *
 * Who records what:
 *
 * | metric | type | attributes | recorded by |
 * | --- | --- | --- | --- |
 * | `claude_turns_total` | counter | `outcome` (`success` / `failure`), `reason` (a `ClaudeError` reason tag, `none` on success) | `Session`, at the end of every turn |
 * | `claude_turn_duration_seconds` | histogram | `outcome` | `Session`, prompt written to the turn's end |
 * | `claude_time_to_first_event_seconds` | histogram | | `Session`, prompt written to the turn's first event (usually `system/init`) |
 * | `claude_input_tokens_total`, `claude_output_tokens_total`, `claude_cache_read_input_tokens_total`, `claude_cache_creation_input_tokens_total` | counter | `model` | `Session`, from the turn's `result` (`usage`) |
 * | `claude_cost_usd_total` | counter | `model` | `Session`, the turn's share of the conversation's `total_cost_usd` |
 * | `claude_process_spawns_total` | counter | `kind` (`initial` / `restart`) | `Session`, each CLI process started |
 * | `claude_process_spawn_failures_total` | counter | `reason` | `Session`, each CLI process that failed to start (spawn or `initialize`) |
 * | `claude_process_restarts_total` | counter | `reason` (why the replaced process died) | `Session`, each replacement of a CLI that died |
 * | `claude_pool_sessions` | gauge | `state` (`starting` / `idle` / `parked` / `busy` / `resetting`) | `SessionPool`, on every change (active = `busy`) |
 * | `claude_pool_wait_seconds` | histogram | `outcome` (`acquired` / `failed`) | `SessionPool`, how long each `acquire` waited |
 * | `claude_process_rss_bytes`, `claude_process_cpu_seconds` | gauge | (the sampler's) | the health sampler |
 * | `claude_tool_calls_total`, `claude_tool_call_duration_seconds` | counter / histogram | `server`, `tool`, `outcome` | `Session`, each call of an in-process tool (`McpTools`) |
 * | `claude_retries_total` | counter | `reason` | `Resilience` |
 * | `claude_circuit_state`, `claude_circuit_transitions_total`, `claude_circuit_rejections_total` | gauge / counter | `circuit`, `from`, `to` | `Resilience` |
 *
 * The success rate is derivable:
 * `sum(rate(claude_turns_total{outcome="success"}[5m])) / sum(rate(claude_turns_total[5m]))`.
 *
 * Attributes stay few and bounded: a reason is a `ClaudeError` reason tag, a
 * model is the model name the CLI reports, a circuit is a `Resilience` circuit
 * key (a credential's identity hash and a model name, never a secret). No
 * prompt, session id or pid is ever an attribute (they are span attributes).
 *
 * The `model` of a turn is the one the CLI reported in the turn's
 * `system/init` (else the `model` option, else `"unknown"`). Tokens are the
 * turn's `usage` (the main model's API calls of the turn); the cost is the
 * growth of the conversation's `total_cost_usd` over the turn (every model it
 * used, subagents included). The CLI's cost is per conversation: it starts
 * again at 0 after a `/clear`, and a process that resumes a conversation
 * reports its earlier cost too, which the session reads (`get_usage`) and
 * leaves out.
 *
 * @since 0.1.0
 */
import { Metric } from "effect"

// Every counter here only goes up: incremental, so exporters report a monotonic sum (Prometheus `_total`).
const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

// --- turns ---

/**
 * Turns by `outcome` (`success` / `failure`) and `reason` (the `ClaudeError`
 * reason tag of a failed turn, `none` for a successful one). Every turn that
 * reached the CLI is counted once, when it ends.
 *
 * @since 0.1.0
 * @category metrics
 */
export const turnsTotal = counter(
  "claude_turns_total",
  "Turns that ended, by outcome (success, failure) and reason (a ClaudeError reason tag, none on success)"
)

/**
 * Bucket boundaries (seconds) of {@link turnDuration}: 100 ms to 30 minutes
 * (the default turn timeout).
 *
 * @since 0.1.0
 * @category boundaries
 */
export const turnDurationBoundaries: ReadonlyArray<number> = [
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  20,
  30,
  60,
  120,
  300,
  600,
  1200,
  1800
]

/**
 * How long turns took, from the prompt written to the turn's end (its
 * `result`, or its failure), in seconds, by `outcome`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const turnDuration = Metric.histogram("claude_turn_duration_seconds", {
  description: "Turn duration in seconds, from the prompt written to the turn's end, by outcome",
  boundaries: turnDurationBoundaries
})

/**
 * Bucket boundaries (seconds) of {@link timeToFirstEvent}: 5 ms to 2 minutes
 * (the default first-event timeout).
 *
 * @since 0.1.0
 * @category boundaries
 */
export const timeToFirstEventBoundaries: ReadonlyArray<number> = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120
]

/**
 * How long the CLI took to answer a prompt with its first event (usually
 * `system/init`; with a cold cache, the time the CLI needs to start the
 * turn), in seconds. Turns that had no event are not observed.
 *
 * @since 0.1.0
 * @category metrics
 */
export const timeToFirstEvent = Metric.histogram("claude_time_to_first_event_seconds", {
  description: "Seconds from a prompt written to the turn's first event",
  boundaries: timeToFirstEventBoundaries
})

/**
 * Input tokens (not read from or written to the prompt cache), by `model`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const inputTokensTotal = counter(
  "claude_input_tokens_total",
  "Input tokens of turns (usage.input_tokens), by model"
)

/**
 * Output tokens, by `model`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const outputTokensTotal = counter(
  "claude_output_tokens_total",
  "Output tokens of turns (usage.output_tokens), by model"
)

/**
 * Input tokens read from the prompt cache, by `model`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const cacheReadInputTokensTotal = counter(
  "claude_cache_read_input_tokens_total",
  "Input tokens of turns read from the prompt cache (usage.cache_read_input_tokens), by model"
)

/**
 * Input tokens written to the prompt cache, by `model`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const cacheCreationInputTokensTotal = counter(
  "claude_cache_creation_input_tokens_total",
  "Input tokens of turns written to the prompt cache (usage.cache_creation_input_tokens), by model"
)

/**
 * What turns cost, in US dollars as the CLI computes it, by `model`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const costUsdTotal = counter(
  "claude_cost_usd_total",
  "Cost of turns in USD (the growth of the conversation's total_cost_usd), by model"
)

// --- processes ---

/**
 * CLI processes started, by `kind`: `initial` (a session's first process) or
 * `restart` (the replacement of one that died).
 *
 * @since 0.1.0
 * @category metrics
 */
export const spawnsTotal = counter("claude_process_spawns_total", "CLI processes started, by kind (initial, restart)")

/**
 * CLI processes that failed to start (the spawn, or their `initialize`), by
 * `reason`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const spawnFailuresTotal = counter(
  "claude_process_spawn_failures_total",
  "CLI processes that failed to start (spawn or initialize), by reason"
)

/**
 * Replacements of a CLI that died while its session was in use (crash
 * recovery), by the `reason` it died of. Pooled sessions are not restarted in
 * place: the pool replaces them (see `claude_process_spawns_total`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const restartsTotal = counter(
  "claude_process_restarts_total",
  "Replacements of a CLI that died while its session was in use, by reason"
)

/**
 * Resident memory of a CLI process, in bytes, as the health sampler last read
 * it.
 *
 * @since 0.1.0
 * @category metrics
 */
export const processRssBytes = Metric.gauge("claude_process_rss_bytes", {
  description: "Resident memory of a CLI process in bytes, as last sampled"
})

/**
 * CPU time (user + system) a CLI process has used, in seconds, as the health
 * sampler last read it.
 *
 * @since 0.1.0
 * @category metrics
 */
export const processCpuSeconds = Metric.gauge("claude_process_cpu_seconds", {
  description: "CPU time (user + system) a CLI process has used, in seconds, as last sampled"
})

// --- pool ---

/**
 * Pooled processes by `state`: `starting`, `idle` (a ready spare), `parked`
 * (idle, holding a sticky conversation), `busy` (leased: the active sessions)
 * and `resetting` (being recycled with `/clear`). Every pool adds to it, so
 * several pools in one process sum up.
 *
 * @since 0.1.0
 * @category metrics
 */
export const poolSessions = Metric.gauge("claude_pool_sessions", {
  description: "Pooled CLI processes by state (starting, idle, parked, busy, resetting); active sessions are busy"
})

/**
 * Bucket boundaries (seconds) of {@link poolWait}: 1 ms to 1 minute.
 *
 * @since 0.1.0
 * @category boundaries
 */
export const poolWaitBoundaries: ReadonlyArray<number> = [
  0.001,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60
]

/**
 * How long `SessionPool.acquire` waited for a session (a warm spare: about 0;
 * a spawn, a recycle or a place in the queue: longer), in seconds, by
 * `outcome`: `acquired`, or `failed` (`PoolExhausted`, a process that failed
 * to start).
 *
 * @since 0.1.0
 * @category metrics
 */
export const poolWait = Metric.histogram("claude_pool_wait_seconds", {
  description: "Seconds an acquire waited for a pooled session, by outcome (acquired, failed)",
  boundaries: poolWaitBoundaries
})

// --- in-process tools ---

/**
 * Calls of in-process tools (`McpTools`), by `server`, `tool` and `outcome`: `success`, `failure` (the
 * handler failed), `invalid_arguments` (the model's arguments did not decode), `timeout`, `defect` (the
 * handler died), `interrupted` (the CLI cancelled the call), `unknown_tool`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const toolCallsTotal = counter(
  "claude_tool_calls_total",
  "Calls of in-process tools, by server, tool and outcome"
)

/**
 * Bucket boundaries (seconds) of {@link toolCallDuration}: 1 ms to 5 minutes.
 *
 * @since 0.1.0
 * @category boundaries
 */
export const toolCallDurationBoundaries: ReadonlyArray<number> = [
  0.001,
  0.005,
  0.01,
  0.05,
  0.1,
  0.5,
  1,
  5,
  10,
  30,
  60,
  120,
  300
]

/**
 * How long calls of in-process tools took, from the CLI's request to the answer, in seconds, by `server`,
 * `tool` and `outcome` (as {@link toolCallsTotal}).
 *
 * @since 0.1.0
 * @category metrics
 */
export const toolCallDuration = Metric.histogram("claude_tool_call_duration_seconds", {
  description: "Seconds an in-process tool call took, by server, tool and outcome",
  boundaries: toolCallDurationBoundaries
})

// --- resilience ---

/**
 * Retries of a failed turn by `Resilience`, by the `reason` (tag) that caused
 * each one.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retriesTotal = counter("claude_retries_total", "Turns retried after a retryable failure, by reason")

/**
 * Calls rejected by an open (or probing) circuit, by `circuit`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const circuitRejectionsTotal = counter(
  "claude_circuit_rejections_total",
  "Turns rejected at once by an open or half-open circuit breaker, by circuit"
)

/**
 * Circuit breaker transitions, by `from` and `to` state.
 *
 * @since 0.1.0
 * @category metrics
 */
export const circuitTransitionsTotal = counter(
  "claude_circuit_transitions_total",
  "Circuit breaker transitions, by from and to state"
)

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

/**
 * What a finished turn reports: its spend (tokens, cost), the attributes of
 * its `Claude.turn` span, and its `claude_*` metrics. Session calls
 * {@link record} once per turn, however the turn ended.
 */
import { Effect, Metric, type Tracer } from "effect"
import type { ClaudeEvent } from "../../ClaudeEvent.ts"
import * as Metrics from "../../Metrics.ts"
import { seriesBy } from "../metricSeries.ts"

type ResultEvent = Extract<ClaudeEvent, { readonly _tag: "Result" }>

/** What a turn's `usage` says, and its share of the conversation's cost (when known). */
export interface Spend {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly cacheReadInputTokens: number
  readonly cacheCreationInputTokens: number
  readonly costUsd: number | undefined
  readonly totalCostUsd: number | undefined
}

const usageCount = (usage: Readonly<Record<string, unknown>> | undefined, key: string): number => {
  const value = usage?.[key]
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : 0
}

/**
 * What a turn's result says it used. Its cost is how much the conversation's
 * running `total_cost_usd` grew since `previousTotal` (a total that went down
 * was reset by `/clear`: it counts from 0).
 */
export const spendOf = (result: ResultEvent | undefined, previousTotal: number | undefined): Spend => {
  const usage = result?.usage
  const total = result?.costUsd
  const costUsd = total === undefined || previousTotal === undefined
    ? undefined
    : total >= previousTotal
    ? total - previousTotal
    : total
  return {
    inputTokens: usageCount(usage, "input_tokens"),
    outputTokens: usageCount(usage, "output_tokens"),
    cacheReadInputTokens: usageCount(usage, "cache_read_input_tokens"),
    cacheCreationInputTokens: usageCount(usage, "cache_creation_input_tokens"),
    costUsd,
    totalCostUsd: total
  }
}

/** How a turn ended, as its span and its metrics label it. */
export interface Ending {
  readonly outcome: "success" | "failure"
  /** The failure's reason tag; `"none"` for a success. */
  readonly reason: string
  readonly sessionId: string | undefined
  readonly model: string | undefined
  readonly spend: Spend
  readonly result: ResultEvent | undefined
}

/** Annotates a turn's `Claude.turn` span with how it ended. */
export const annotate = (span: Tracer.Span, ending: Ending): void => {
  const { result, spend } = ending
  if (ending.sessionId !== undefined) span.attribute("claude.session_id", ending.sessionId)
  if (ending.model !== undefined) span.attribute("claude.model", ending.model)
  span.attribute("claude.outcome", ending.outcome)
  if (ending.outcome === "failure") span.attribute("claude.reason", ending.reason)
  span.attribute("claude.input_tokens", spend.inputTokens)
  span.attribute("claude.output_tokens", spend.outputTokens)
  span.attribute("claude.cache_read_input_tokens", spend.cacheReadInputTokens)
  span.attribute("claude.cache_creation_input_tokens", spend.cacheCreationInputTokens)
  if (spend.costUsd !== undefined) span.attribute("claude.cost_usd", spend.costUsd)
  if (spend.totalCostUsd !== undefined) span.attribute("claude.total_cost_usd", spend.totalCostUsd)
  if (result?.numTurns !== undefined) span.attribute("claude.num_turns", result.numTurns)
  if (result?.durationApiMs !== undefined) span.attribute("claude.duration_api_ms", result.durationApiMs)
}

const turnsSeries = seriesBy(Metrics.turnsTotal, "outcome", "reason")
const turnDurationSeries = seriesBy(Metrics.turnDuration, "outcome")
const inputTokensSeries = seriesBy(Metrics.inputTokensTotal, "model")
const outputTokensSeries = seriesBy(Metrics.outputTokensTotal, "model")
const cacheReadSeries = seriesBy(Metrics.cacheReadInputTokensTotal, "model")
const cacheCreationSeries = seriesBy(Metrics.cacheCreationInputTokensTotal, "model")
const costSeries = seriesBy(Metrics.costUsdTotal, "model")

/** Records a turn's metrics: its outcome, duration, time to first event, tokens and cost by model. */
export const record = (
  ending: Ending,
  timing: { readonly startedAt: number; readonly endedAt: number; readonly firstEventAt: number | undefined }
) =>
  Effect.gen(function*() {
    const { outcome, reason, spend } = ending
    const model = ending.model ?? "unknown"
    yield* Metric.update(turnsSeries(outcome, reason), 1)
    yield* Metric.update(turnDurationSeries(outcome), (timing.endedAt - timing.startedAt) / 1000)
    if (timing.firstEventAt !== undefined) {
      yield* Metric.update(Metrics.timeToFirstEvent, (timing.firstEventAt - timing.startedAt) / 1000)
    }
    if (spend.inputTokens > 0) yield* Metric.update(inputTokensSeries(model), spend.inputTokens)
    if (spend.outputTokens > 0) yield* Metric.update(outputTokensSeries(model), spend.outputTokens)
    if (spend.cacheReadInputTokens > 0) yield* Metric.update(cacheReadSeries(model), spend.cacheReadInputTokens)
    if (spend.cacheCreationInputTokens > 0) {
      yield* Metric.update(cacheCreationSeries(model), spend.cacheCreationInputTokens)
    }
    if (spend.costUsd !== undefined && spend.costUsd > 0) yield* Metric.update(costSeries(model), spend.costUsd)
  })

/**
 * What the attempts of one query showed and spent: the facts an attempt's events carry (a tool ran, the
 * session id, a rate limit's reset, the CLI's own retry delay), whether the API answered, and the cost and
 * usage their `Result`s reported, added up.
 *
 * @since 0.1.0
 */
import { Predicate } from "effect"
import type * as ClaudeError from "../../ClaudeError.ts"
import type { ClaudeEvent } from "../../ClaudeEvent.ts"

/**
 * A `Result` event.
 *
 * @since 0.1.0
 * @category models
 */
export type ResultEvent = Extract<ClaudeEvent, { readonly _tag: "Result" }>

/**
 * What one attempt showed, as its events went by.
 *
 * @since 0.1.0
 * @category models
 */
export interface Seen {
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
 * A new attempt: nothing seen yet.
 *
 * @since 0.1.0
 * @category constructors
 */
export const unseen = (): Seen => ({
  toolUse: false,
  toolUseIds: [],
  sessionId: undefined,
  result: undefined,
  rateLimitResetsAtMs: undefined,
  cliRetryDelayMs: undefined,
  final: undefined,
  failedProbe: false
})

/**
 * Records what `event` tells about its attempt.
 *
 * @since 0.1.0
 * @category recording
 */
export const see = (seen: Seen, event: ClaudeEvent): void => {
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
      break
    case "RateLimit":
      if (event.status === "rejected" && event.resetsAt !== undefined) seen.rateLimitResetsAtMs = event.resetsAt * 1000
      break
    case "Result":
      seen.sessionId = event.sessionId
      seen.result = event
      break
  }
}

/**
 * The API answered a request: model output, not the CLI's report of a failed call (a `<synthetic>`
 * assistant message carrying `error`).
 *
 * @since 0.1.0
 * @category predicates
 */
export const apiAnswered = (event: ClaudeEvent): boolean => {
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

/**
 * What the `Result`s of a query's attempts reported, added up.
 *
 * @since 0.1.0
 * @category models
 */
export interface Spent {
  readonly costUsd: number | undefined
  readonly usage: Readonly<Record<string, unknown>> | undefined
}

/**
 * Nothing reported yet.
 *
 * @since 0.1.0
 * @category constructors
 */
export const nothingSpent: Spent = { costUsd: undefined, usage: undefined }

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

/**
 * `spent` with what `result` reported added (an attempt without a `Result` adds nothing).
 *
 * @since 0.1.0
 * @category recording
 */
export const addSpent = (spent: Spent, result: ResultEvent | undefined): Spent =>
  result === undefined ? spent : {
    costUsd: result.costUsd === undefined ? spent.costUsd : (spent.costUsd ?? 0) + result.costUsd,
    usage: result.usage === undefined
      ? spent.usage
      : spent.usage === undefined
      ? result.usage
      : addUsage(spent.usage, result.usage)
  }

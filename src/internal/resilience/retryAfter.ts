/**
 * When the API wants to be asked again: a rate limit's retry-after (or a rejecting `rate_limit_event`'s
 * `resetsAt`), an open circuit's half-open time, the CLI's own last wait for a 429 / 529.
 *
 * @since 0.1.0
 */
import * as ClaudeError from "../../ClaudeError.ts"
import type { Seen } from "./attempts.ts"

/**
 * The shortest wait before trying again after `reason`, and whether the API (or the circuit) asked for
 * exactly that (see `Resilience.minimumDelay`).
 *
 * @since 0.1.0
 * @category retry
 */
export const minimumDelay = (
  reason: ClaudeError.Reason,
  nowMs: number,
  hints: { readonly rateLimitResetsAtMs?: number | undefined; readonly cliRetryDelayMs?: number | undefined } = {}
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
      return reason.halfOpenAtMs === undefined
        ? undefined
        : { ms: Math.max(0, reason.halfOpenAtMs - nowMs), exact: true }
    default:
      return undefined
  }
}

/**
 * A RateLimited without a retry-after gets the one a rejecting `rate_limit_event` gave.
 *
 * @since 0.1.0
 * @category retry
 */
export const withRetryAfter = (error: ClaudeError.ClaudeError, seen: Seen, nowMs: number): ClaudeError.ClaudeError => {
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

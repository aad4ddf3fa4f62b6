/**
 * How a turn ended, read from what the CLI left behind: the `result` frame
 * first (an `is_error` result with `subtype: "success"` is an error), then the
 * exit code or signal, then the stderr tail.
 *
 * @since 0.1.0
 */
import { constants } from "node:os"
import * as ClaudeError from "./ClaudeError.ts"
import type * as Protocol from "./Protocol.ts"

/**
 * How the process ended, when it did.
 *
 * @since 0.1.0
 * @category models
 */
export type ExitStatus =
  | { readonly _tag: "Exited"; readonly code: number }
  | { readonly _tag: "Signaled"; readonly signal: string }

/**
 * Everything classification looks at.
 *
 * @since 0.1.0
 * @category models
 */
export interface Evidence {
  readonly result?: Protocol.ResultFrame | undefined
  readonly apiRetries?: ReadonlyArray<Protocol.SystemApiRetry> | undefined
  readonly rateLimitResetsAt?: number | undefined
  readonly exit?: ExitStatus | undefined
  readonly stderrTail?: string | undefined
}

/**
 * Reads a `result` frame alone: `undefined` for a real success, the failure reason otherwise.
 *
 * @since 0.1.0
 * @category classification
 */
export const fromResult = (
  result: Protocol.ResultFrame,
  context?: { readonly rateLimitResetsAt?: number | undefined; readonly nowMs?: number }
): ClaudeError.Reason | undefined => {
  if (result.subtype === "success" && !result.is_error) return undefined
  switch (result.subtype) {
    case "error_max_turns":
      return new ClaudeError.MaxTurns({ numTurns: result.num_turns ?? 0 })
    case "error_max_budget_usd":
      return new ClaudeError.BudgetExceeded({ costUsd: result.total_cost_usd ?? 0 })
    case "error_during_execution":
      // `aborted_streaming` (interrupted mid-reply) and `aborted_tools` (interrupted at a permission prompt or tool run).
      return result.terminal_reason?.startsWith("aborted_") === true
        ? new ClaudeError.Interrupted({})
        : new ClaudeError.ExecutionError({ subtype: result.subtype, errors: result.errors ?? [] })
    case "error_max_structured_output_retries":
      return new ClaudeError.StructuredOutputRetriesExhausted({ errors: result.errors ?? [] })
    case "success":
      return fromApiError(result, context)
    default:
      return new ClaudeError.ExecutionError({ subtype: result.subtype, errors: result.errors ?? [] })
  }
}

const fromApiError = (
  result: Protocol.ResultFrame,
  context?: { readonly rateLimitResetsAt?: number | undefined; readonly nowMs?: number }
): ClaudeError.Reason => {
  const detail = result.result ?? result.errors?.join("; ") ?? "the CLI reported an error"
  const status = result.api_error_status ?? null
  if (status === null && result.terminal_reason !== "api_error" && result.api_error == null) {
    return new ClaudeError.ExecutionError({ subtype: result.subtype, errors: result.errors ?? [detail] })
  }
  return fromStatus(status, detail, {
    errorType: result.api_error_type ?? result.api_error ?? undefined,
    retryAfterMs: retryAfterMs(detail, context)
  })
}

/**
 * Maps an API status to its reason.
 *
 * @since 0.1.0
 * @category classification
 */
export const fromStatus = (
  status: number | null,
  detail: string,
  extra?: { readonly errorType?: string | undefined; readonly retryAfterMs?: number | undefined }
): ClaudeError.Reason => {
  switch (status) {
    case 401:
      return new ClaudeError.AuthenticationFailed({ status, detail })
    case 403:
      return new ClaudeError.PermissionRefused({ detail })
    case 429:
      return new ClaudeError.RateLimited({
        detail,
        ...(extra?.retryAfterMs === undefined ? {} : { retryAfterMs: extra.retryAfterMs })
      })
    case 529:
      return new ClaudeError.Overloaded({ detail })
    default:
      return new ClaudeError.ApiError({
        status,
        detail,
        ...(extra?.errorType === undefined ? {} : { errorType: extra.errorType })
      })
  }
}

// The CLI folds a `retry-after` header into the result text; a rate_limit_event's
// `resetsAt` (epoch seconds) is the other source.
const retryAfterMs = (
  text: string,
  context?: { readonly rateLimitResetsAt?: number | undefined; readonly nowMs?: number }
): number | undefined => {
  const match = /retry[- ]after[^0-9]{0,4}(\d+(?:\.\d+)?)\s*(ms|milliseconds|s|sec|seconds)?/i.exec(text)
  if (match?.[1] !== undefined) {
    const value = Number(match[1])
    return match[2] === "ms" || match[2] === "milliseconds" ? value : value * 1000
  }
  if (context?.rateLimitResetsAt !== undefined && context.nowMs !== undefined) {
    return Math.max(0, context.rateLimitResetsAt * 1000 - context.nowMs)
  }
  return undefined
}

/**
 * F12: an API retry that must not be waited out. The CLI retries a 401 (and a 403 the API marks
 * retryable) like any other failure, for about two and a half minutes with its default of 10 retries,
 * though a refused credential cannot start working by itself. Returns the reason to fail with at once
 * (`AuthenticationFailed` for a 401 or an `authentication_failed` error, `PermissionRefused` for a 403),
 * `undefined` for a retry worth waiting for (429, 529, 5xx, connection errors).
 *
 * @since 0.1.0
 * @category classification
 */
export const fromApiRetry = (frame: Protocol.SystemApiRetry): ClaudeError.Reason | undefined => {
  const status = frame.error_status ?? null
  const detail = `the API answered ${status ?? "an error"} (${frame.error ?? "error"}); ` +
    `the CLI was stopped at its retry ${frame.attempt} of ${frame.max_retries ?? "?"} instead of retrying`
  if (status === 403) return new ClaudeError.PermissionRefused({ detail })
  if (status === 401 || frame.error === "authentication_failed") {
    return new ClaudeError.AuthenticationFailed({ status, detail })
  }
  return undefined
}

const authPattern = /invalid api key|authentication_error|authentication failed|not logged in|please run \/login/i

/**
 * Classifies a finished (or abandoned) turn: `undefined` for success.
 *
 * @since 0.1.0
 * @category classification
 */
export const classify = (evidence: Evidence, nowMs?: number): ClaudeError.Reason | undefined => {
  if (evidence.result !== undefined) {
    return fromResult(evidence.result, {
      rateLimitResetsAt: evidence.rateLimitResetsAt,
      ...(nowMs === undefined ? {} : { nowMs })
    })
  }
  const stderrTail = evidence.stderrTail ?? ""
  const lastRetry = evidence.apiRetries?.at(-1)
  if (lastRetry !== undefined && (lastRetry.error_status === 401 || lastRetry.error_status === 403)) {
    return fromStatus(
      lastRetry.error_status,
      `the API answered ${lastRetry.error_status} (${lastRetry.error ?? "error"})`
    )
  }
  if (authPattern.test(stderrTail)) {
    return new ClaudeError.AuthenticationFailed({ status: null, detail: lastLine(stderrTail) })
  }
  const exit = evidence.exit
  if (exit?._tag === "Signaled") return new ClaudeError.ProcessCrashed({ signal: exit.signal, stderrTail })
  // A CLI that catches a signal exits with 128 + its number (SIGTERM: 143).
  const caught = exit === undefined ? undefined : signalName(exit.code - 128)
  if (caught !== undefined) return new ClaudeError.ProcessCrashed({ signal: caught, stderrTail })
  if (exit !== undefined && exit.code !== 0) return new ClaudeError.ProcessExited({ exitCode: exit.code, stderrTail })
  return new ClaudeError.ProtocolError({
    detail: exit === undefined
      ? "the CLI's output ended without a result frame"
      : "the CLI exited with code 0 without printing a result frame"
  })
}

const signalName = (n: number): string | undefined =>
  n <= 0 ? undefined : Object.entries(constants.signals).find(([, value]) => value === n)?.[0]

const lastLine = (text: string) => text.trim().split("\n").at(-1)?.slice(0, 500) ?? ""

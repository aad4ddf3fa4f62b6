/**
 * The reasons about the API and the credential: authentication, rate limits, overload, other API errors,
 * an open circuit, an unusable credential. Re-exported by `ClaudeError`.
 */
import { Schema } from "effect"
import { reasonId as id } from "./id.ts"

const statusSuffix = (status: number | null) => (status === null ? "" : ` (${status})`)

/**
 * The API refused the credential (401). Retrying with the same credential cannot help.
 *
 * @since 0.1.0
 * @category reasons
 */
export class AuthenticationFailed extends Schema.TaggedError<AuthenticationFailed>(id("AuthenticationFailed"))(
  "AuthenticationFailed",
  { status: Schema.NullOr(Schema.Int), detail: Schema.String }
) {
  override get message() {
    return `Authentication failed${statusSuffix(this.status)}: ${this.detail}. ` +
      `Check ANTHROPIC_API_KEY / CLAUDE_CODE_OAUTH_TOKEN.`
  }
  get isRetryable() {
    return false
  }
}

/**
 * Too many requests (429) or a usage limit. `retryAfterMs` is known when the API said so.
 *
 * @since 0.1.0
 * @category reasons
 */
export class RateLimited extends Schema.TaggedError<RateLimited>(id("RateLimited"))("RateLimited", {
  retryAfterMs: Schema.optionalKey(Schema.Number),
  detail: Schema.String
}) {
  override get message() {
    const after = this.retryAfterMs === undefined ? "" : ` Retry after ${Math.ceil(this.retryAfterMs / 1000)} s.`
    return `Rate limited by the API (429): ${this.detail}.${after}`
  }
  get isRetryable() {
    return true
  }
}

/**
 * The API is overloaded (529). Usually temporary.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Overloaded extends Schema.TaggedError<Overloaded>(id("Overloaded"))("Overloaded", {
  detail: Schema.String
}) {
  override get message() {
    return `The API is overloaded (529): ${this.detail}`
  }
  get isRetryable() {
    return true
  }
}

/**
 * Any other API failure: 400 (not retryable), 5xx or a connection failure (retryable).
 *
 * @since 0.1.0
 * @category reasons
 */
export class ApiError extends Schema.TaggedError<ApiError>(id("ApiError"))("ApiError", {
  status: Schema.NullOr(Schema.Int),
  errorType: Schema.optionalKey(Schema.String),
  detail: Schema.String
}) {
  override get message() {
    return `API error${statusSuffix(this.status)}: ${this.detail}`
  }
  get isRetryable() {
    return this.status === null || this.status >= 500
  }
}

/**
 * The circuit breaker is open; calls are rejected until it half-opens.
 *
 * @since 0.1.0
 * @category reasons
 */
export class CircuitOpen extends Schema.TaggedError<CircuitOpen>(id("CircuitOpen"))("CircuitOpen", {
  halfOpenAtMs: Schema.optionalKey(Schema.Number)
}) {
  override get message() {
    return "The circuit breaker is open after repeated failures; calls are rejected until it half-opens"
  }
  get isRetryable() {
    return false
  }
}

/**
 * A credential failed validation, or its source could not be read. Names the
 * source and the problem, never the value.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidCredential extends Schema.TaggedError<InvalidCredential>(id("InvalidCredential"))(
  "InvalidCredential",
  { source: Schema.String, problem: Schema.String }
) {
  override get message() {
    return `The credential from ${this.source} is not usable: ${this.problem}`
  }
  get isRetryable() {
    return false
  }
}

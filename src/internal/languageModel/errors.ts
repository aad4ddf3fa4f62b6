/**
 * A `ClaudeError` as effect/ai's `AiError`: each reason mapped onto the `AiError` reason that means the
 * same to an effect/ai program (retryable where ours is), its message kept as the description.
 */
import { Duration } from "effect"
import { AiError } from "effect/ai"
import type * as ClaudeError from "../../ClaudeError.ts"

const reasonOf = (reason: ClaudeError.Reason): AiError.AiErrorReason => {
  const description = reason.message
  switch (reason._tag) {
    case "RateLimited":
      return new AiError.RateLimitError(
        reason.retryAfterMs === undefined ? {} : { retryAfter: Duration.millis(reason.retryAfterMs) }
      )
    case "AuthenticationFailed":
      return new AiError.AuthenticationError({ kind: "InvalidKey", description })
    case "InvalidCredential":
      return new AiError.AuthenticationError({ kind: "MissingKey", description })
    case "PermissionRefused":
      return new AiError.AuthenticationError({ kind: "InsufficientPermissions", description })
    case "ApiError":
      return reason.status !== null && reason.status >= 400 && reason.status < 500
        ? new AiError.InvalidRequestError({ description })
        : new AiError.InternalProviderError({ description })
    case "Overloaded":
    case "ProcessCrashed":
    case "ProcessExited":
      return new AiError.InternalProviderError({ description })
    case "InvalidOptions":
    case "CommandRefused":
    case "ControlRefused":
      return new AiError.InvalidRequestError({ description })
    case "InvalidPrompt":
      return new AiError.InvalidUserInputError({ description })
    case "StructuredOutputInvalid":
    case "StructuredOutputRetriesExhausted":
      return new AiError.StructuredOutputError({ description, responseText: "" })
    default:
      return new AiError.UnknownError({ description })
  }
}

/** The `AiError` of a failed `ClaudeLanguageModel` call. */
export const toAiError = (method: string) => (error: ClaudeError.ClaudeError): AiError.AiError =>
  AiError.make({ module: "ClaudeLanguageModel", method, reason: reasonOf(error.reason) })

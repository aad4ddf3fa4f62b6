/**
 * The one error type of effect-claude-code: a `ClaudeError` carrying a tagged
 * `reason`. Every reason knows whether retrying can help (`isRetryable`) and
 * renders a message a person can act on. No reason ever holds a secret.
 *
 * @since 0.1.0
 */
import { Effect, Predicate, Schema } from "effect"
import type * as DebugLog from "./DebugLog.ts"

import {
  ApiError,
  AuthenticationFailed,
  CircuitOpen,
  InvalidCredential,
  Overloaded,
  RateLimited
} from "./internal/reasons/api.ts"
import { ClusterUnavailable, ConversationFenced } from "./internal/reasons/cluster.ts"
import { ControlRefused } from "./internal/reasons/control.ts"
import { reasonId as id } from "./internal/reasons/id.ts"
import {
  CliNotFound,
  CliVersionUnsupported,
  ProcessCrashed,
  ProcessExited,
  ResourceLimitExceeded,
  SpawnFailed,
  TranscriptLost
} from "./internal/reasons/process.ts"

export * from "./internal/reasons/api.ts"
export * from "./internal/reasons/cluster.ts"
export * from "./internal/reasons/control.ts"
export * from "./internal/reasons/process.ts"

/**
 * Which deadline ran out.
 *
 * @since 0.1.0
 * @category models
 */
export const TimeoutKind = Schema.Literals(["startup", "firstEvent", "idle", "turn", "control", "shutdown"])

/**
 * @since 0.1.0
 * @category models
 */
export type TimeoutKind = typeof TimeoutKind.Type

/**
 * A deadline ran out. The process that missed it is stopped and never reused.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Timeout extends Schema.TaggedError<Timeout>(id("Timeout"))("Timeout", {
  kind: TimeoutKind,
  durationMs: Schema.Number
}) {
  override get message() {
    return `The ${this.kind} timeout of ${this.durationMs} ms ran out`
  }
  get isRetryable() {
    return this.kind !== "startup"
  }
}

/**
 * The API refused the request for permission or billing reasons (403).
 *
 * @since 0.1.0
 * @category reasons
 */
export class PermissionRefused extends Schema.TaggedError<PermissionRefused>(id("PermissionRefused"))(
  "PermissionRefused",
  { detail: Schema.String }
) {
  override get message() {
    return `The API refused the request (403): ${this.detail}. Check the account's permissions and billing.`
  }
  get isRetryable() {
    return false
  }
}

/**
 * The turn stopped at `maxTurns`.
 *
 * @since 0.1.0
 * @category reasons
 */
export class MaxTurns extends Schema.TaggedError<MaxTurns>(id("MaxTurns"))("MaxTurns", {
  numTurns: Schema.Number
}) {
  override get message() {
    return `The turn stopped after reaching the maximum of ${this.numTurns} agent turns (maxTurns)`
  }
  get isRetryable() {
    return false
  }
}

/**
 * The turn stopped at `maxBudgetUsd`.
 *
 * @since 0.1.0
 * @category reasons
 */
export class BudgetExceeded extends Schema.TaggedError<BudgetExceeded>(id("BudgetExceeded"))("BudgetExceeded", {
  costUsd: Schema.Number
}) {
  override get message() {
    return `The turn stopped at its budget (maxBudgetUsd) after spending $${this.costUsd}`
  }
  get isRetryable() {
    return false
  }
}

/**
 * The CLI reported an error while running the turn.
 *
 * @since 0.1.0
 * @category reasons
 */
export class ExecutionError extends Schema.TaggedError<ExecutionError>(id("ExecutionError"))("ExecutionError", {
  subtype: Schema.String,
  errors: Schema.Array(Schema.String)
}) {
  override get message() {
    return `The CLI failed the turn (${this.subtype})${this.errors.length > 0 ? `: ${this.errors.join("; ")}` : ""}`
  }
  get isRetryable() {
    return false
  }
}

/**
 * The turn was interrupted (by the caller, or by an `interrupt` control request).
 *
 * @since 0.1.0
 * @category reasons
 */
export class Interrupted extends Schema.TaggedError<Interrupted>(id("Interrupted"))("Interrupted", {}) {
  override get message() {
    return "The turn was interrupted"
  }
  get isRetryable() {
    return false
  }
}

/**
 * The CLI broke the protocol: no `result`, an unanswerable frame, a closed pipe.
 *
 * @since 0.1.0
 * @category reasons
 */
export class ProtocolError extends Schema.TaggedError<ProtocolError>(id("ProtocolError"))("ProtocolError", {
  detail: Schema.String
}) {
  override get message() {
    return `Protocol error: ${this.detail}`
  }
  get isRetryable() {
    return true
  }
}

/**
 * No process could be had from the pool in time.
 *
 * @since 0.1.0
 * @category reasons
 */
export class PoolExhausted extends Schema.TaggedError<PoolExhausted>(id("PoolExhausted"))("PoolExhausted", {
  waiting: Schema.Int,
  max: Schema.Int
}) {
  override get message() {
    return `The session pool is exhausted (max ${this.max}, ${this.waiting} waiting)`
  }
  get isRetryable() {
    return true
  }
}

/**
 * The options failed validation. Nothing was spawned.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>(id("InvalidOptions"))("InvalidOptions", {
  issues: Schema.String
}) {
  override get message() {
    return `Invalid options: ${this.issues}`
  }
  get isRetryable() {
    return false
  }
}

/**
 * The prompt cannot be sent as it is: it is neither text nor content blocks the CLI can send (a number, an
 * object, a block of an unknown type, a block without its fields, nesting too deep to serialise), or the CLI
 * would run it as a slash command (`/model x`, `/config ...`; commands go through `session.command`, which
 * knows what each may change: a prompt is only ever text). Nothing was written to the CLI.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidPrompt extends Schema.TaggedError<InvalidPrompt>(id("InvalidPrompt"))("InvalidPrompt", {
  issues: Schema.String
}) {
  override get message() {
    return `Invalid prompt: ${this.issues}`
  }
  get isRetryable() {
    return false
  }
}

/**
 * `session.command` refused a command: its name is not one, or it writes settings other CLIs read.
 *
 * @since 0.1.0
 * @category reasons
 */
export class CommandRefused extends Schema.TaggedError<CommandRefused>(id("CommandRefused"))("CommandRefused", {
  command: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `The slash command ${this.command} was refused: ${this.detail}`
  }
  get isRetryable() {
    return false
  }
}

/**
 * The turn's structured output (`Claude.generateObject`, `outputFormat`) is not a value of the Schema: the
 * model never called the CLI's `StructuredOutput` tool (the CLI reminds it once, then ends the turn with
 * plain text), or the object it gave passed the JSON Schema but not the Schema's own checks (a filter JSON
 * Schema cannot say). `issues` names each problem with its path.
 *
 * @since 0.1.0
 * @category reasons
 */
export class StructuredOutputInvalid extends Schema.TaggedError<StructuredOutputInvalid>(id("StructuredOutputInvalid"))(
  "StructuredOutputInvalid",
  { issues: Schema.String }
) {
  override get message() {
    return `The turn's structured output does not match the schema: ${this.issues}`
  }
  get isRetryable() {
    return false
  }
}

/**
 * The model kept giving structured output that failed the JSON Schema until the CLI stopped asking
 * (`error_max_structured_output_retries`, after 5 attempts on CLI 2.1.329). `errors` are the CLI's, the
 * last validation error among them.
 *
 * @since 0.1.0
 * @category reasons
 */
export class StructuredOutputRetriesExhausted
  extends Schema.TaggedError<StructuredOutputRetriesExhausted>(id("StructuredOutputRetriesExhausted"))(
    "StructuredOutputRetriesExhausted",
    { errors: Schema.Array(Schema.String) }
  )
{
  override get message() {
    return `The model gave no valid structured output before the CLI's retries ran out${
      this.errors.length > 0 ? `: ${this.errors.join("; ")}` : ""
    }`
  }
  get isRetryable() {
    return false
  }
}

/**
 * Every reason a `ClaudeError` can carry.
 *
 * @since 0.1.0
 * @category models
 */
export const Reason = Schema.Union([
  SpawnFailed,
  CliNotFound,
  CliVersionUnsupported,
  ProcessExited,
  ProcessCrashed,
  TranscriptLost,
  Timeout,
  AuthenticationFailed,
  PermissionRefused,
  RateLimited,
  Overloaded,
  ApiError,
  MaxTurns,
  BudgetExceeded,
  ExecutionError,
  StructuredOutputInvalid,
  StructuredOutputRetriesExhausted,
  Interrupted,
  ProtocolError,
  PoolExhausted,
  CircuitOpen,
  InvalidOptions,
  InvalidPrompt,
  CommandRefused,
  ControlRefused,
  ResourceLimitExceeded,
  InvalidCredential,
  ClusterUnavailable,
  ConversationFenced
])

/**
 * @since 0.1.0
 * @category models
 */
export type Reason = typeof Reason.Type

/**
 * The error of every effect-claude-code operation. Handle a reason with
 * `Effect.catchReason("ClaudeError", "RateLimited", ...)`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ClaudeError extends Schema.TaggedError<ClaudeError>("effect-claude-code/ClaudeError")("ClaudeError", {
  reason: Reason,
  sessionId: Schema.optionalKey(Schema.String),
  /** 1-based turn number within the session, when known. */
  turn: Schema.optionalKey(Schema.Int)
}) {
  /**
   * The debug log of the session the error came from, as it was when the error reached the caller (read it
   * with `DebugLog.of`). Not a field of the schema: never part of the message nor of the encoded form.
   */
  declare readonly debugLog?: DebugLog.DebugLog
  override get message() {
    return this.sessionId === undefined ? this.reason.message : `${this.reason.message} (session ${this.sessionId})`
  }
  get isRetryable() {
    return this.reason.isRetryable
  }
}

/**
 * Where an error happened: the session (its CLI session id), the turn, and the session's debug log.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly sessionId?: string | undefined
  readonly turn?: number | undefined
  /** Carried on the error, outside its schema (see {@link ClaudeError} `debugLog`). */
  readonly debugLog?: DebugLog.DebugLog | undefined
}

/**
 * Wraps a reason into a `ClaudeError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (reason: Reason, context?: Context): ClaudeError => {
  const error = new ClaudeError({
    reason,
    ...(context?.sessionId === undefined || context.sessionId === "" ? {} : { sessionId: context.sessionId }),
    ...(context?.turn === undefined ? {} : { turn: context.turn })
  })
  // Not enumerable: out of `JSON.stringify`, the encoded form and structural equality.
  if (context?.debugLog !== undefined) {
    Object.defineProperty(error, "debugLog", { value: context.debugLog, enumerable: false })
  }
  return error
}

/**
 * Fails with a `ClaudeError` made of the reason.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fail = (reason: Reason, context?: Context) => Effect.fail(make(reason, context))

/**
 * @since 0.1.0
 * @category guards
 */
export const isClaudeError = (u: unknown): u is ClaudeError => Predicate.isTagged(u, "ClaudeError")

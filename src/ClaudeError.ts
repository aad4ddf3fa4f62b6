/**
 * The one error type of effect-claude-code: a `ClaudeError` carrying a tagged
 * `reason`. Every reason knows whether retrying can help (`isRetryable`) and
 * renders a message a person can act on. No reason ever holds a secret.
 *
 * @since 0.1.0
 */
import { Effect, Predicate, Schema } from "effect"
import type * as DebugLog from "./DebugLog.ts"

const id = (name: string) => `effect-claude-code/ClaudeError/${name}`

/**
 * The CLI could not be started (bad cwd, permission denied, resource exhaustion).
 *
 * @since 0.1.0
 * @category reasons
 */
export class SpawnFailed extends Schema.TaggedError<SpawnFailed>(id("SpawnFailed"))("SpawnFailed", {
  executable: Schema.String,
  description: Schema.String
}) {
  override get message() {
    return `Could not start the Claude Code CLI (${this.executable}): ${this.description}`
  }
  get isRetryable() {
    return false
  }
}

/**
 * No executable was found at any of the places searched.
 *
 * @since 0.1.0
 * @category reasons
 */
export class CliNotFound extends Schema.TaggedError<CliNotFound>(id("CliNotFound"))("CliNotFound", {
  searched: Schema.Array(Schema.String)
}) {
  override get message() {
    return `Claude Code CLI not found. Searched: ${this.searched.join(", ")}. ` +
      `Install @anthropic-ai/claude-code, set the \`executable\` option, or set CLAUDE_CODE_EXECUTABLE.`
  }
  get isRetryable() {
    return false
  }
}

/**
 * The executable answered `--version` with a version this library does not support.
 *
 * @since 0.1.0
 * @category reasons
 */
export class CliVersionUnsupported extends Schema.TaggedError<CliVersionUnsupported>(id("CliVersionUnsupported"))(
  "CliVersionUnsupported",
  { executable: Schema.String, version: Schema.String, required: Schema.String }
) {
  override get message() {
    return `Claude Code CLI at ${this.executable} reports version "${this.version}"; ${this.required} is required.`
  }
  get isRetryable() {
    return false
  }
}

/**
 * The CLI exited with a non-zero code and no `result` frame explained why.
 *
 * @since 0.1.0
 * @category reasons
 */
export class ProcessExited extends Schema.TaggedError<ProcessExited>(id("ProcessExited"))("ProcessExited", {
  exitCode: Schema.Int,
  stderrTail: Schema.String
}) {
  override get message() {
    return `The Claude Code CLI exited with code ${this.exitCode}${tailSuffix(this.stderrTail)}`
  }
  get isRetryable() {
    return this.exitCode !== 1 && this.exitCode !== 2
  }
}

/**
 * The CLI was killed by a signal (OOM killer, SIGKILL, SIGSEGV, ...).
 *
 * @since 0.1.0
 * @category reasons
 */
export class ProcessCrashed extends Schema.TaggedError<ProcessCrashed>(id("ProcessCrashed"))("ProcessCrashed", {
  signal: Schema.String,
  stderrTail: Schema.String
}) {
  override get message() {
    return `The Claude Code CLI was killed by ${this.signal}${tailSuffix(this.stderrTail)}`
  }
  get isRetryable() {
    return true
  }
}

/**
 * A retry had to resume the CLI's session (a tool of the turn ran, so its prompt must not be sent again),
 * and the session's transcript on disk cannot carry it on safely: it is `"missing"` (the CLI writes it on a
 * timer of about 100 ms and creates the file lazily, so a CLI killed early leaves none, and `--resume` then
 * fails with "No conversation found"), or `"incomplete"`: calls in `toolUseIds` have no recorded result (a
 * resume would tell the model their outcome is unknown, and it may run them again). The turn was not sent
 * again. `toolsMayHaveRun`: tools of the turn may have run, so check their effects before sending it anew.
 *
 * @since 0.1.0
 * @category reasons
 */
export class TranscriptLost extends Schema.TaggedError<TranscriptLost>(id("TranscriptLost"))("TranscriptLost", {
  sessionId: Schema.String,
  transcript: Schema.Literals(["missing", "incomplete"]),
  toolsMayHaveRun: Schema.Boolean,
  toolUseIds: Schema.Array(Schema.String)
}) {
  override get message() {
    const what = this.transcript === "missing"
      ? "is not on disk"
      : `lacks the results of tool calls ${this.toolUseIds.join(", ")}`
    const tools = this.toolsMayHaveRun
      ? "; tools of the turn may have run: check their effects before sending it again"
      : ""
    return `The transcript of CLI session ${this.sessionId} ${what}, so it cannot be resumed. The turn was not sent again${tools}`
  }
  get isRetryable() {
    return false
  }
}

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
 * A resource limit (memory, CPU, files, processes, wall time) was exceeded and the process stopped.
 *
 * @since 0.1.0
 * @category reasons
 */
export class ResourceLimitExceeded extends Schema.TaggedError<ResourceLimitExceeded>(id("ResourceLimitExceeded"))(
  "ResourceLimitExceeded",
  { resource: Schema.String, limit: Schema.Number, observed: Schema.Number }
) {
  override get message() {
    return `The CLI exceeded its ${this.resource} limit (${this.observed} > ${this.limit}) and was stopped`
  }
  get isRetryable() {
    return true
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
  Interrupted,
  ProtocolError,
  PoolExhausted,
  CircuitOpen,
  InvalidOptions,
  InvalidPrompt,
  CommandRefused,
  ResourceLimitExceeded,
  InvalidCredential
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

const tailSuffix = (tail: string) => {
  const trimmed = tail.trim()
  return trimmed === "" ? "" : `. Last stderr: ${trimmed.slice(-500)}`
}

const statusSuffix = (status: number | null) => (status === null ? "" : ` (${status})`)

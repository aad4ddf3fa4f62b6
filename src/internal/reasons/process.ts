/**
 * The reasons about the CLI's process: it could not be found or started, exited, crashed, hit a resource
 * limit, or left no transcript a retry could resume. Re-exported by `ClaudeError`.
 */
import { Schema } from "effect"
import { reasonId as id } from "./id.ts"

const tailSuffix = (tail: string) => {
  const trimmed = tail.trim()
  return trimmed === "" ? "" : `. Last stderr: ${trimmed.slice(-500)}`
}

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

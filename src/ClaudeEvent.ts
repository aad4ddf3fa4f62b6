/**
 * The events a turn produces, as users consume them. Every event that comes
 * from a frame keeps that frame (`frame`), so nothing the CLI printed is lost.
 *
 * @since 0.1.0
 */
import { Data } from "effect"
import type * as ClaudeError from "./ClaudeError.ts"
import type * as Protocol from "./Protocol.ts"

/**
 * What a task has used so far: tokens, tool calls and time.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskUsage {
  readonly totalTokens: number
  readonly toolUses: number
  readonly durationMs: number
}

/**
 * @since 0.1.0
 * @category models
 */
export type ClaudeEvent = Data.TaggedEnum<{
  /** `system/init`: a turn started; carries the CLI session id. */
  SessionStarted: {
    readonly sessionId: string
    readonly model: string | undefined
    readonly cwd: string | undefined
    readonly tools: ReadonlyArray<string>
    readonly frame: Protocol.SystemInit
  }
  /** A token delta of assistant text (with `includePartialMessages`). */
  TextDelta: {
    readonly text: string
    readonly index: number
    readonly parentToolUseId: string | null
    readonly frame: Protocol.StreamEventFrame
  }
  /** A token delta of extended thinking (with `includePartialMessages`). */
  ThinkingDelta: {
    readonly thinking: string
    readonly index: number
    readonly parentToolUseId: string | null
    readonly frame: Protocol.StreamEventFrame
  }
  /** A delta of a tool call's JSON input (with `includePartialMessages`). */
  ToolInputDelta: {
    readonly partialJson: string
    readonly index: number
    readonly parentToolUseId: string | null
    readonly frame: Protocol.StreamEventFrame
  }
  /** Any other raw API stream event (message_start, content_block_stop, ...). */
  StreamEvent: {
    readonly eventType: string
    readonly frame: Protocol.StreamEventFrame
  }
  /** A completed block of assistant text. */
  AssistantText: {
    readonly text: string
    readonly messageId: string | undefined
    readonly parentToolUseId: string | null
    readonly frame: Protocol.AssistantFrame
  }
  /** A completed block of extended thinking. */
  AssistantThinking: {
    readonly thinking: string
    readonly messageId: string | undefined
    readonly frame: Protocol.AssistantFrame
  }
  /** Any other completed assistant block (server tool use, redacted thinking, a newer block type). */
  AssistantBlock: {
    readonly block: { readonly type: string }
    readonly frame: Protocol.AssistantFrame
  }
  /** The model called a tool. */
  ToolUse: {
    readonly id: string
    readonly name: string
    readonly input: unknown
    readonly parentToolUseId: string | null
    readonly frame: Protocol.AssistantFrame
  }
  /** A tool finished; its output as the model sees it. */
  ToolResult: {
    readonly toolUseId: string
    readonly content: unknown
    readonly isError: boolean
    readonly frame: Protocol.UserFrame
  }
  /** A `user` frame without tool results (a replayed or echoed user message). */
  UserMessage: {
    readonly frame: Protocol.UserFrame
  }
  /** The CLI is retrying an API call by itself. */
  ApiRetry: {
    readonly attempt: number
    readonly maxRetries: number | undefined
    readonly delayMs: number | undefined
    readonly status: number | null
    readonly error: string | null
    readonly frame: Protocol.SystemApiRetry
  }
  /** What the CLI is doing: `"requesting"`, `"compacting"`, or `null` when it stops (`system/status`). */
  Status: {
    readonly status: string | null
    /** On the frame that ends a compaction (`/compact`): `"success"` or `"failed"`. */
    readonly compactResult: string | undefined
    readonly frame: Protocol.SystemStatus
  }
  /** A hook of the CLI's settings started (with `includeHookEvents`). */
  HookStarted: {
    readonly hookId: string
    readonly hookName: string
    readonly hookEvent: string
    readonly frame: Protocol.SystemHookStarted
  }
  /** A hook of the CLI's settings ended: its outcome (`"success"`, ...), exit code and output. */
  HookResponse: {
    readonly hookId: string
    readonly hookName: string
    readonly hookEvent: string
    readonly outcome: string | undefined
    readonly exitCode: number | null
    readonly output: string
    readonly frame: Protocol.SystemHookResponse
  }
  /** A tool call was refused by the permission system. */
  PermissionDenied: {
    readonly frame: Protocol.SystemPermissionDenied
  }
  /** The CLI asks the host something (`can_use_tool`, `hook_callback`, ...). */
  ControlRequest: {
    readonly requestId: string
    readonly subtype: string
    readonly frame: Protocol.ControlRequest
  }
  /** The conversation was reset (`/clear`). */
  ConversationReset: {
    readonly newConversationId: string | undefined
    readonly frame: Protocol.ConversationReset
  }
  /** The account's rate-limit status changed. */
  RateLimit: {
    readonly status: string | undefined
    readonly resetsAt: number | undefined
    readonly frame: Protocol.RateLimitEvent
  }
  /** The end of a turn. `error` is set when the turn failed, even if `subtype` says "success". */
  Result: {
    readonly sessionId: string
    readonly subtype: string
    readonly isError: boolean
    readonly text: string | undefined
    readonly costUsd: number | undefined
    readonly usage: Readonly<Record<string, unknown>> | undefined
    readonly durationMs: number | undefined
    readonly durationApiMs: number | undefined
    readonly numTurns: number | undefined
    readonly error: ClaudeError.Reason | undefined
    readonly frame: Protocol.ResultFrame
  }
  /** A user message that carried a `uuid` was `"queued"`, `"started"`, `"completed"`, ... (`command_lifecycle`). */
  CommandLifecycle: {
    readonly commandUuid: string
    readonly state: string
    readonly frame: Protocol.CommandLifecycle
  }
  /** The conversation was compacted (`/compact`: `trigger` `"manual"`; or `"auto"`). */
  CompactBoundary: {
    readonly trigger: string
    readonly preTokens: number
    readonly postTokens: number | undefined
    readonly durationMs: number | undefined
    readonly frame: Protocol.SystemCompactBoundary
  }
  /** The session became `"running"`, `"idle"` or `"requires_action"`. */
  SessionStateChanged: {
    readonly state: string
    readonly frame: Protocol.SystemSessionStateChanged
  }
  /** A task (a Bash command, a subagent, ...) began, in the background or with its tool call waiting. */
  TaskStarted: {
    readonly taskId: string
    readonly toolUseId: string | undefined
    readonly description: string
    readonly taskType: string | undefined
    readonly isBackgrounded: boolean
    readonly frame: Protocol.SystemTaskStarted
  }
  /** A running task's usage so far, its last tool and a one-line summary. */
  TaskProgress: {
    readonly taskId: string
    readonly toolUseId: string | undefined
    readonly description: string
    readonly usage: TaskUsage
    readonly lastToolName: string | undefined
    readonly summary: string | undefined
    readonly frame: Protocol.SystemTaskProgress
  }
  /** Fields of a task changed: its status (`"running"`, `"completed"`, `"killed"`, ...), error, ... */
  TaskUpdated: {
    readonly taskId: string
    readonly status: string | undefined
    readonly error: string | undefined
    readonly isBackgrounded: boolean | undefined
    readonly endTime: number | undefined
    readonly frame: Protocol.SystemTaskUpdated
  }
  /** A task ended (`"completed"`, `"failed"`, `"stopped"`): where its output is, and a summary. */
  TaskNotification: {
    readonly taskId: string
    readonly toolUseId: string | undefined
    readonly status: string
    readonly outputFile: string
    readonly summary: string
    readonly usage: TaskUsage | undefined
    readonly frame: Protocol.SystemTaskNotification
  }
  /** Every live background task after a change (replace your set with it). */
  BackgroundTasksChanged: {
    readonly tasks: ReadonlyArray<{
      readonly taskId: string
      readonly taskType: string
      readonly description: string
      readonly subagentType: string | undefined
    }>
    readonly frame: Protocol.SystemBackgroundTasksChanged
  }
  /** A tool call is still running, `elapsedSeconds` after it started. */
  ToolProgress: {
    readonly toolUseId: string
    readonly toolName: string
    readonly parentToolUseId: string | null
    readonly elapsedSeconds: number
    readonly taskId: string | undefined
    readonly frame: Protocol.ToolProgressFrame
  }
  /** A one-line summary of the tool calls it names. */
  ToolUseSummary: {
    readonly summary: string
    readonly precedingToolUseIds: ReadonlyArray<string>
    readonly frame: Protocol.ToolUseSummaryFrame
  }
  /** A hook of the CLI's settings printed output while it runs (with `includeHookEvents`). */
  HookProgress: {
    readonly hookId: string
    readonly hookName: string
    readonly hookEvent: string
    readonly output: string
    readonly frame: Protocol.SystemHookProgress
  }
  /** Files were uploaded (`files`), or failed to be (`failed`). */
  FilesPersisted: {
    readonly files: ReadonlyArray<{ readonly filename: string; readonly fileId: string }>
    readonly failed: ReadonlyArray<{ readonly filename: string; readonly error: string }>
    readonly frame: Protocol.SystemFilesPersisted
  }
  /** The output of a local slash command. */
  LocalCommandOutput: {
    readonly content: string
    readonly frame: Protocol.SystemLocalCommandOutput
  }
  /** A notice for the user. */
  Notification: {
    readonly key: string
    readonly text: string
    readonly priority: string | undefined
    readonly frame: Protocol.SystemNotification
  }
  /** A line for the transcript at a `level`; `preventContinuation`: the turn stops after it. */
  Informational: {
    readonly content: string
    readonly level: string | undefined
    readonly preventContinuation: boolean
    readonly frame: Protocol.SystemInformational
  }
  /** An MCP server confirmed an elicitation complete. */
  ElicitationComplete: {
    readonly mcpServerName: string
    readonly elicitationId: string
    readonly frame: Protocol.SystemElicitationComplete
  }
  /** Memories surfaced into the context (`mode` `"select"` or `"synthesize"`). */
  MemoryRecall: {
    readonly mode: string
    readonly memories: ReadonlyArray<{ readonly path: string; readonly scope: string; readonly content?: string }>
    readonly frame: Protocol.SystemMemoryRecall
  }
  /** An estimate of the tokens of extended thinking so far. */
  ThinkingTokens: {
    readonly estimatedTokens: number
    readonly delta: number
    readonly frame: Protocol.SystemThinkingTokens
  }
  /** A control request of the host is under way (`"started"`) or being retried (`"api_retry"`). */
  ControlRequestProgress: {
    readonly requestId: string
    readonly status: string
    readonly attempt: number | undefined
    readonly frame: Protocol.SystemControlRequestProgress
  }
  /** The model refused; the CLI fell back to `fallbackModel`. */
  ModelRefusalFallback: {
    readonly originalModel: string
    readonly fallbackModel: string
    readonly content: string
    readonly frame: Protocol.SystemModelRefusalFallback
  }
  /** The model refused, with no model to fall back to. */
  ModelRefusalNoFallback: {
    readonly originalModel: string
    readonly content: string
    readonly frame: Protocol.SystemModelRefusalNoFallback
  }
  /** Progress of installing a plugin. */
  PluginInstall: {
    readonly status: string
    readonly name: string | undefined
    readonly error: string | undefined
    readonly frame: Protocol.SystemPluginInstall
  }
  /** The CLI is shutting down, for `reason`. */
  WorkerShuttingDown: {
    readonly reason: string
    readonly frame: Protocol.SystemWorkerShuttingDown
  }
  /** The slash commands available now. */
  CommandsChanged: {
    readonly commands: ReadonlyArray<{ readonly name: string; readonly description?: string }>
    readonly frame: Protocol.SystemCommandsChanged
  }
  /** A session mirror failed to store what it was sent. */
  MirrorError: {
    readonly error: string
    readonly frame: Protocol.SystemMirrorError
  }
  /** The disk was full (`errorCode` `"ENOSPC"`, `"EDQUOT"`); `lost`: what was not saved. */
  SessionWritesLost: {
    readonly errorCode: string
    readonly lost: ReadonlyArray<string>
    readonly frame: Protocol.SystemSessionWritesLost
  }
  /** An authentication in progress: its output lines and error. */
  AuthStatus: {
    readonly isAuthenticating: boolean
    readonly output: ReadonlyArray<string>
    readonly error: string | undefined
    readonly frame: Protocol.AuthStatusFrame
  }
  /** A predicted next user prompt (with `promptSuggestions` in `initialize`). */
  PromptSuggestion: {
    readonly suggestion: string
    readonly frame: Protocol.PromptSuggestionFrame
  }
  /** A known frame with no event of its own (control responses, `keep_alive`, `system` frames of another subtype). */
  Frame: {
    readonly frame: Protocol.OutputFrame
  }
  /** A frame of a type this library does not know, or whose shape did not match its type. */
  Unknown: {
    readonly type: string
    readonly mismatch: boolean
    readonly frame: Protocol.UnknownFrame
  }
  /**
   * A line that is not a JSON frame (debug text, a banner, a bare string), or JSON nested deeper than 512
   * levels (serialising it would overflow the stack).
   */
  Malformed: {
    readonly line: number
    readonly text: string
    readonly error: string
  }
  /** A line longer than the configured maximum; dropped without being held in memory. */
  Oversized: {
    readonly line: number
    readonly bytes: number
    readonly limit: number
    readonly head: string
  }
  /**
   * Not from the CLI: `Claude.query` (with a `Resilience` layer) marks a retry. The events before it
   * belong to attempt `attempt`, which failed with `reason`; the events after it to attempt
   * `attempt + 1`, which starts after `delayMs`. `resume` is set when a tool ran in an earlier attempt:
   * the next attempt resumes that CLI session with a continuation prompt instead of sending the prompt
   * again (so no tool runs twice).
   */
  Retrying: {
    /** The attempt that failed, 1-based. */
    readonly attempt: number
    readonly delayMs: number
    readonly reason: ClaudeError.Reason
    /** The failed attempt's CLI session id, when it got one. */
    readonly sessionId: string | undefined
    /** The CLI session id the next attempt resumes; `undefined`: it sends the prompt again. */
    readonly resume: string | undefined
  }
}>

/**
 * Constructors, guards (`$is`) and matching (`$match`) for {@link ClaudeEvent}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const ClaudeEvent = Data.taggedEnum<ClaudeEvent>()

/**
 * Diagnostic events: what the stream handler reports about the byte stream itself.
 *
 * @since 0.1.0
 * @category guards
 */
export const isDiagnostic = (
  event: ClaudeEvent
): event is Extract<ClaudeEvent, { readonly _tag: "Malformed" | "Oversized" }> =>
  event._tag === "Malformed" || event._tag === "Oversized"

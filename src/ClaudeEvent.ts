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
  /** A known frame with no event of its own (`command_lifecycle`, control responses, other `system` frames, ...). */
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

/**
 * The frames the CLI prints on stdout, one JSON object a line, and how a
 * parsed line is told apart: a known frame (checked against the schema of its
 * `type`, and `subtype` for `system` frames), an unknown frame kept whole, or
 * not a frame at all. Control frames go both ways: their schemas are in
 * `controlFrames.ts`, their decoding here. Part of the public `Protocol` namespace.
 *
 * @since 0.1.0
 */
import { Predicate, Schema } from "effect"
import { compiledIs } from "./compiledGuard.ts"
import { AnyBlock } from "./contentBlocks.ts"
import { ControlCancelRequest, ControlRequest, ControlResponse, KeepAlive } from "./controlFrames.ts"
import { decodeEventSystem, decodeEventType, type EventFrameDecoded } from "./eventFrames.ts"
import type { KnownSessionFrame } from "./systemFrames.ts"
import type { KnownTaskFrame } from "./taskFrames.ts"

const Content = Schema.Union([Schema.String, Schema.Array(AnyBlock)])

const sessionId = Schema.optionalKey(Schema.String)
const uuid = Schema.optionalKey(Schema.String)

/**
 * `system/init`: the start of every turn.
 *
 * @since 0.1.0
 * @category output frames
 */
export const SystemInit = Schema.Struct({
  type: Schema.Literal("system"),
  subtype: Schema.Literal("init"),
  session_id: Schema.String,
  uuid,
  cwd: Schema.optionalKey(Schema.String),
  model: Schema.optionalKey(Schema.String),
  tools: Schema.optionalKey(Schema.Array(Schema.String)),
  permissionMode: Schema.optionalKey(Schema.String),
  claude_code_version: Schema.optionalKey(Schema.String),
  apiKeySource: Schema.optionalKey(Schema.String)
})

/**
 * `system/api_retry`: the CLI is retrying an API call by itself.
 *
 * @since 0.1.0
 * @category output frames
 */
export const SystemApiRetry = Schema.Struct({
  type: Schema.Literal("system"),
  subtype: Schema.Literal("api_retry"),
  session_id: sessionId,
  uuid,
  attempt: Schema.Number,
  max_retries: Schema.optionalKey(Schema.Number),
  retry_delay_ms: Schema.optionalKey(Schema.Number),
  error_status: Schema.optionalKey(Schema.NullOr(Schema.Number)),
  error: Schema.optionalKey(Schema.NullOr(Schema.String))
})

/**
 * `system/permission_denied`: a tool call was refused.
 *
 * @since 0.1.0
 * @category output frames
 */
export const SystemPermissionDenied = Schema.Struct({
  type: Schema.Literal("system"),
  subtype: Schema.Literal("permission_denied"),
  session_id: sessionId,
  uuid
})

/**
 * `system/status`: what the CLI is doing (`"requesting"`, `"compacting"`, or `null` when it stops); the
 * frame that reports a permission mode change carries `permissionMode` too, the one that ends a compaction
 * `compact_result`.
 *
 * @since 0.1.0
 * @category output frames
 */
export const SystemStatus = Schema.Struct({
  type: Schema.Literal("system"),
  subtype: Schema.Literal("status"),
  session_id: sessionId,
  uuid,
  status: Schema.optionalKey(Schema.NullOr(Schema.String)),
  permissionMode: Schema.optionalKey(Schema.String),
  /** On the frame that ends a compaction: `"success"` or `"failed"`, and why it failed. */
  compact_result: Schema.optionalKey(Schema.String),
  compact_error: Schema.optionalKey(Schema.String)
})

const hookFields = {
  type: Schema.Literal("system"),
  session_id: sessionId,
  uuid,
  hook_id: Schema.String,
  hook_name: Schema.String,
  hook_event: Schema.String
}

/**
 * `system/hook_started`: a hook of the CLI's settings (a command, not a host callback) started
 * (with `includeHookEvents`).
 *
 * @since 0.1.0
 * @category output frames
 */
export const SystemHookStarted = Schema.Struct({ ...hookFields, subtype: Schema.Literal("hook_started") })

/**
 * `system/hook_response`: such a hook ended: its outcome, exit code and output.
 *
 * @since 0.1.0
 * @category output frames
 */
export const SystemHookResponse = Schema.Struct({
  ...hookFields,
  subtype: Schema.Literal("hook_response"),
  outcome: Schema.optionalKey(Schema.String),
  exit_code: Schema.optionalKey(Schema.NullOr(Schema.Number)),
  output: Schema.optionalKey(Schema.String),
  stdout: Schema.optionalKey(Schema.String),
  stderr: Schema.optionalKey(Schema.String)
})

/**
 * Any other `system` frame: a subtype without a schema of its own here (those of `systemFrames.ts` and
 * `taskFrames.ts` have one).
 *
 * @since 0.1.0
 * @category output frames
 */
export const SystemOther = Schema.Struct({
  type: Schema.Literal("system"),
  subtype: Schema.String,
  session_id: sessionId,
  uuid
})

/**
 * `stream_event`: a raw Messages API stream event (with `--include-partial-messages`).
 *
 * @since 0.1.0
 * @category output frames
 */
export const StreamEventFrame = Schema.Struct({
  type: Schema.Literal("stream_event"),
  session_id: sessionId,
  uuid,
  parent_tool_use_id: Schema.optionalKey(Schema.NullOr(Schema.String)),
  event: Schema.Struct({ type: Schema.String })
})

/**
 * `assistant`: one completed content block of a model message.
 *
 * @since 0.1.0
 * @category output frames
 */
export const AssistantFrame = Schema.Struct({
  type: Schema.Literal("assistant"),
  session_id: sessionId,
  uuid,
  parent_tool_use_id: Schema.optionalKey(Schema.NullOr(Schema.String)),
  error: Schema.optionalKey(Schema.NullOr(Schema.String)),
  message: Schema.Struct({
    id: Schema.optionalKey(Schema.String),
    model: Schema.optionalKey(Schema.String),
    content: Schema.Array(AnyBlock)
  })
})

/**
 * `user`: tool results (and replayed user messages).
 *
 * @since 0.1.0
 * @category output frames
 */
export const UserFrame = Schema.Struct({
  type: Schema.Literal("user"),
  session_id: sessionId,
  uuid,
  parent_tool_use_id: Schema.optionalKey(Schema.NullOr(Schema.String)),
  message: Schema.Struct({ role: Schema.optionalKey(Schema.String), content: Content })
})

/**
 * `result`: exactly one per turn, the turn-complete signal. Beware: API
 * failures arrive as `subtype: "success"` with `is_error: true`.
 *
 * @since 0.1.0
 * @category output frames
 */
export const ResultFrame = Schema.Struct({
  type: Schema.Literal("result"),
  subtype: Schema.String,
  is_error: Schema.Boolean,
  session_id: Schema.String,
  uuid,
  result: Schema.optionalKey(Schema.String),
  errors: Schema.optionalKey(Schema.Array(Schema.String)),
  duration_ms: Schema.optionalKey(Schema.Number),
  duration_api_ms: Schema.optionalKey(Schema.Number),
  num_turns: Schema.optionalKey(Schema.Number),
  total_cost_usd: Schema.optionalKey(Schema.Number),
  usage: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)),
  api_error_status: Schema.optionalKey(Schema.NullOr(Schema.Number)),
  api_error_type: Schema.optionalKey(Schema.NullOr(Schema.String)),
  api_error: Schema.optionalKey(Schema.NullOr(Schema.String)),
  terminal_reason: Schema.optionalKey(Schema.NullOr(Schema.String)),
  permission_denials: Schema.optionalKey(Schema.Array(Schema.Unknown)),
  stop_reason: Schema.optionalKey(Schema.NullOr(Schema.String)),
  /** With `--json-schema`: the object the model gave the `StructuredOutput` tool. */
  structured_output: Schema.optionalKey(Schema.Unknown)
})

/**
 * `conversation_reset`: after a `/clear` user message.
 *
 * @since 0.1.0
 * @category output frames
 */
export const ConversationReset = Schema.Struct({
  type: Schema.Literal("conversation_reset"),
  new_conversation_id: Schema.optionalKey(Schema.String),
  session_id: sessionId,
  uuid
})

/**
 * `command_lifecycle`: progress of a user message that carried a `uuid`.
 *
 * @since 0.1.0
 * @category output frames
 */
export const CommandLifecycle = Schema.Struct({
  type: Schema.Literal("command_lifecycle"),
  command_uuid: Schema.String,
  state: Schema.String,
  session_id: sessionId,
  uuid
})

/**
 * `rate_limit_event`: the account's rate-limit status.
 *
 * @since 0.1.0
 * @category output frames
 */
export const RateLimitEvent = Schema.Struct({
  type: Schema.Literal("rate_limit_event"),
  rate_limit_info: Schema.optionalKey(Schema.Struct({
    status: Schema.optionalKey(Schema.String),
    resetsAt: Schema.optionalKey(Schema.Number)
  })),
  session_id: sessionId,
  uuid
})

/**
 * The type of a value {@link SystemInit} accepts.
 *
 * @since 0.1.0
 * @category output frames
 */
export type SystemInit = typeof SystemInit.Type
/**
 * The type of a value {@link SystemApiRetry} accepts.
 *
 * @since 0.1.0
 * @category output frames
 */
export type SystemApiRetry = typeof SystemApiRetry.Type
/**
 * The type of a value {@link SystemStatus} accepts.
 *
 * @since 0.1.0
 * @category output frames
 */
export type SystemStatus = typeof SystemStatus.Type
/**
 * The type of a value {@link SystemHookStarted} accepts.
 *
 * @since 0.1.0
 * @category output frames
 */
export type SystemHookStarted = typeof SystemHookStarted.Type
/**
 * The type of a value {@link SystemHookResponse} accepts.
 *
 * @since 0.1.0
 * @category output frames
 */
export type SystemHookResponse = typeof SystemHookResponse.Type
/**
 * The type of a value {@link SystemPermissionDenied} accepts.
 *
 * @since 0.1.0
 * @category output frames
 */
export type SystemPermissionDenied = typeof SystemPermissionDenied.Type
/**
 * The type of a value {@link SystemOther} accepts.
 *
 * @since 0.1.0
 * @category output frames
 */
export type SystemOther = typeof SystemOther.Type
/**
 * The type of a value {@link StreamEventFrame} accepts.
 *
 * @since 0.1.0
 * @category output frames
 */
export type StreamEventFrame = typeof StreamEventFrame.Type
/**
 * The type of a value {@link AssistantFrame} accepts.
 *
 * @since 0.1.0
 * @category output frames
 */
export type AssistantFrame = typeof AssistantFrame.Type
/**
 * The type of a value {@link UserFrame} accepts.
 *
 * @since 0.1.0
 * @category output frames
 */
export type UserFrame = typeof UserFrame.Type
/**
 * The type of a value {@link ResultFrame} accepts.
 *
 * @since 0.1.0
 * @category output frames
 */
export type ResultFrame = typeof ResultFrame.Type
/**
 * The type of a value {@link ConversationReset} accepts.
 *
 * @since 0.1.0
 * @category output frames
 */
export type ConversationReset = typeof ConversationReset.Type
/**
 * The type of a value {@link CommandLifecycle} accepts.
 *
 * @since 0.1.0
 * @category output frames
 */
export type CommandLifecycle = typeof CommandLifecycle.Type
/**
 * The type of a value {@link RateLimitEvent} accepts.
 *
 * @since 0.1.0
 * @category output frames
 */
export type RateLimitEvent = typeof RateLimitEvent.Type

/**
 * Every frame the CLI prints that this library knows.
 *
 * @since 0.1.0
 * @category output frames
 */
export type OutputFrame =
  | SystemInit
  | SystemApiRetry
  | SystemPermissionDenied
  | SystemStatus
  | SystemHookStarted
  | SystemHookResponse
  | SystemOther
  | StreamEventFrame
  | AssistantFrame
  | UserFrame
  | ResultFrame
  | ConversationReset
  | CommandLifecycle
  | RateLimitEvent
  | ControlRequest
  | ControlResponse
  | ControlCancelRequest
  | KeepAlive
  | KnownTaskFrame["frame"]
  | KnownSessionFrame["frame"]

/**
 * A JSON object with a string `type` that no schema here recognises (a newer
 * CLI), or whose shape does not match its type's schema. Kept whole.
 *
 * @since 0.1.0
 * @category output frames
 */
export interface UnknownFrame {
  readonly type: string
  readonly [key: string]: unknown
}

/**
 * A known frame, tagged by `kind` so it can be told apart without looking
 * inside (a `system` frame's schema depends on its `subtype`).
 *
 * @since 0.1.0
 * @category decoding
 */
export type Known =
  | { readonly kind: "system_init"; readonly frame: SystemInit }
  | { readonly kind: "api_retry"; readonly frame: SystemApiRetry }
  | { readonly kind: "permission_denied"; readonly frame: SystemPermissionDenied }
  | { readonly kind: "status"; readonly frame: SystemStatus }
  | { readonly kind: "hook_started"; readonly frame: SystemHookStarted }
  | { readonly kind: "hook_response"; readonly frame: SystemHookResponse }
  | { readonly kind: "system"; readonly frame: SystemOther }
  | { readonly kind: "stream_event"; readonly frame: StreamEventFrame }
  | { readonly kind: "assistant"; readonly frame: AssistantFrame }
  | { readonly kind: "user"; readonly frame: UserFrame }
  | { readonly kind: "result"; readonly frame: ResultFrame }
  | { readonly kind: "conversation_reset"; readonly frame: ConversationReset }
  | { readonly kind: "command_lifecycle"; readonly frame: CommandLifecycle }
  | { readonly kind: "rate_limit_event"; readonly frame: RateLimitEvent }
  | { readonly kind: "control_request"; readonly frame: ControlRequest }
  | { readonly kind: "control_response"; readonly frame: ControlResponse }
  | { readonly kind: "control_cancel_request"; readonly frame: ControlCancelRequest }
  | { readonly kind: "keep_alive"; readonly frame: KeepAlive }
  | KnownTaskFrame
  | KnownSessionFrame

/**
 * The outcome of decoding one parsed JSON value.
 *
 * @since 0.1.0
 * @category decoding
 */
export type Decoded =
  | Known
  | { readonly kind: "unknown"; readonly frame: UnknownFrame; readonly mismatch: boolean }
  | { readonly kind: "not_a_frame"; readonly value: unknown }

// `Schema.is` checks without copying, so the frame handed on is the parsed
// object itself, with every key the CLI sent intact; each guard is compiled once.
const isSystemInit = compiledIs(SystemInit)
const isSystemApiRetry = compiledIs(SystemApiRetry)
const isSystemPermissionDenied = compiledIs(SystemPermissionDenied)
const isSystemStatus = compiledIs(SystemStatus)
const isSystemHookStarted = compiledIs(SystemHookStarted)
const isSystemHookResponse = compiledIs(SystemHookResponse)
const isSystemOther = compiledIs(SystemOther)
const isStreamEvent = compiledIs(StreamEventFrame)
const isAssistant = compiledIs(AssistantFrame)
const isUser = compiledIs(UserFrame)
const isResult = compiledIs(ResultFrame)
const isConversationReset = compiledIs(ConversationReset)
const isCommandLifecycle = compiledIs(CommandLifecycle)
const isRateLimitEvent = compiledIs(RateLimitEvent)
const isControlRequest = compiledIs(ControlRequest)
const isControlResponse = compiledIs(ControlResponse)
const isControlCancelRequest = compiledIs(ControlCancelRequest)
const isKeepAlive = compiledIs(KeepAlive)

const isObjectWithType = (u: unknown): u is UnknownFrame => Predicate.isObject(u) && Predicate.isString(u.type)

const mismatch = (frame: UnknownFrame): Decoded => ({ kind: "unknown", frame, mismatch: true })

/** A frame of `taskFrames.ts` or `systemFrames.ts`, or else what `otherwise` makes of it. */
const orElse = (decoded: EventFrameDecoded, frame: UnknownFrame, otherwise: () => Decoded): Decoded =>
  decoded === "mismatch" ? mismatch(frame) : decoded ?? otherwise()

const decodeSystem = (frame: UnknownFrame): Decoded => {
  switch (frame.subtype) {
    case "init":
      return isSystemInit(frame) ? { kind: "system_init", frame } : mismatch(frame)
    case "api_retry":
      return isSystemApiRetry(frame) ? { kind: "api_retry", frame } : mismatch(frame)
    case "permission_denied":
      return isSystemPermissionDenied(frame) ? { kind: "permission_denied", frame } : mismatch(frame)
    case "status":
      return isSystemStatus(frame) ? { kind: "status", frame } : mismatch(frame)
    case "hook_started":
      return isSystemHookStarted(frame) ? { kind: "hook_started", frame } : mismatch(frame)
    case "hook_response":
      return isSystemHookResponse(frame) ? { kind: "hook_response", frame } : mismatch(frame)
    default:
      return orElse(
        decodeEventSystem(frame.subtype, frame),
        frame,
        () => isSystemOther(frame) ? { kind: "system", frame } : mismatch(frame)
      )
  }
}

/**
 * Classifies a parsed JSON value as a known frame, an unknown frame, or not a
 * frame at all. Never fails.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (value: unknown): Decoded => {
  if (!isObjectWithType(value)) return { kind: "not_a_frame", value }
  const frame = value
  switch (frame.type) {
    case "system":
      return decodeSystem(frame)
    case "stream_event":
      return isStreamEvent(frame) ? { kind: "stream_event", frame } : mismatch(frame)
    case "assistant":
      return isAssistant(frame) ? { kind: "assistant", frame } : mismatch(frame)
    case "user":
      return isUser(frame) ? { kind: "user", frame } : mismatch(frame)
    case "result":
      return isResult(frame) ? { kind: "result", frame } : mismatch(frame)
    case "conversation_reset":
      return isConversationReset(frame) ? { kind: "conversation_reset", frame } : mismatch(frame)
    case "command_lifecycle":
      return isCommandLifecycle(frame) ? { kind: "command_lifecycle", frame } : mismatch(frame)
    case "rate_limit_event":
      return isRateLimitEvent(frame) ? { kind: "rate_limit_event", frame } : mismatch(frame)
    case "control_request":
      return isControlRequest(frame) ? { kind: "control_request", frame } : mismatch(frame)
    case "control_response":
      return isControlResponse(frame) ? { kind: "control_response", frame } : mismatch(frame)
    case "control_cancel_request":
      return isControlCancelRequest(frame) ? { kind: "control_cancel_request", frame } : mismatch(frame)
    case "keep_alive":
      return isKeepAlive(frame) ? { kind: "keep_alive", frame } : mismatch(frame)
    default:
      return orElse(decodeEventType(frame.type, frame), frame, () => ({ kind: "unknown", frame, mismatch: false }))
  }
}

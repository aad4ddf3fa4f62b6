/**
 * The `system` frames the CLI prints about the session rather than a turn's messages (`compact_boundary`,
 * `session_state_changed`, `notification`, `informational`, `files_persisted`, `hook_progress`, ...), and the
 * session-level frames of a type of their own (`auth_status`, `prompt_suggestion`). Named and shaped as the
 * Agent SDK's `SDK*Message` types; lenient to keys they do not name, and to values of an enumeration they
 * do not list (a string is a string). Part of the public `Protocol` namespace.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

const sessionId = Schema.optionalKey(Schema.String)
const uuid = Schema.optionalKey(Schema.String)
const optionalString = Schema.optionalKey(Schema.String)
const nullableString = Schema.optionalKey(Schema.NullOr(Schema.String))

const system = <const Subtype extends string>(subtype: Subtype) => ({
  type: Schema.Literal("system"),
  subtype: Schema.Literal(subtype),
  session_id: sessionId,
  uuid
})

/**
 * `system/compact_boundary`: the conversation was compacted (`trigger` `"manual"` for `/compact`, or
 * `"auto"`), with the token counts before and after.
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemCompactBoundary = Schema.Struct({
  ...system("compact_boundary"),
  compact_metadata: Schema.Struct({
    trigger: Schema.String,
    pre_tokens: Schema.Number,
    post_tokens: Schema.optionalKey(Schema.Number),
    duration_ms: Schema.optionalKey(Schema.Number)
  })
})

/**
 * `system/session_state_changed`: the session became `"running"`, `"idle"` or `"requires_action"`.
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemSessionStateChanged = Schema.Struct({ ...system("session_state_changed"), state: Schema.String })

/**
 * `system/files_persisted`: files uploaded (`files`) and those that failed (`failed`).
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemFilesPersisted = Schema.Struct({
  ...system("files_persisted"),
  files: Schema.Array(Schema.Struct({ filename: Schema.String, file_id: Schema.String })),
  failed: Schema.Array(Schema.Struct({ filename: Schema.String, error: Schema.String })),
  processed_at: optionalString
})

/**
 * `system/local_command_output`: the output of a local slash command.
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemLocalCommandOutput = Schema.Struct({ ...system("local_command_output"), content: Schema.String })

/**
 * `system/notification`: a notice for the user (`key`, `text`, `priority`).
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemNotification = Schema.Struct({
  ...system("notification"),
  key: Schema.String,
  text: Schema.String,
  priority: optionalString,
  color: optionalString,
  timeout_ms: Schema.optionalKey(Schema.Number)
})

/**
 * `system/informational`: a line for the transcript, at a `level` (`"info"`, `"notice"`, `"suggestion"`,
 * `"warning"`).
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemInformational = Schema.Struct({
  ...system("informational"),
  content: Schema.String,
  level: optionalString,
  tool_use_id: optionalString,
  prevent_continuation: Schema.optionalKey(Schema.Boolean),
  tag: optionalString
})

/**
 * `system/elicitation_complete`: an MCP server confirmed an elicitation complete.
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemElicitationComplete = Schema.Struct({
  ...system("elicitation_complete"),
  mcp_server_name: Schema.String,
  elicitation_id: Schema.String
})

/**
 * `system/memory_recall`: memories surfaced into the context.
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemMemoryRecall = Schema.Struct({
  ...system("memory_recall"),
  mode: Schema.String,
  memories: Schema.Array(Schema.Struct({ path: Schema.String, scope: Schema.String, content: optionalString }))
})

/**
 * `system/hook_progress`: output so far of a hook of the CLI's settings (with `includeHookEvents`).
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemHookProgress = Schema.Struct({
  ...system("hook_progress"),
  hook_id: Schema.String,
  hook_name: Schema.String,
  hook_event: Schema.String,
  stdout: optionalString,
  stderr: optionalString,
  output: optionalString
})

/**
 * `system/thinking_tokens`: an estimate of the tokens of extended thinking so far.
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemThinkingTokens = Schema.Struct({
  ...system("thinking_tokens"),
  estimated_tokens: Schema.Number,
  estimated_tokens_delta: Schema.Number
})

/**
 * `system/control_request_progress`: a control request of the host is under way (`"started"`) or being
 * retried (`"api_retry"`).
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemControlRequestProgress = Schema.Struct({
  ...system("control_request_progress"),
  request_id: Schema.String,
  status: Schema.String,
  attempt: Schema.optionalKey(Schema.Number),
  max_retries: Schema.optionalKey(Schema.Number),
  retry_delay_ms: Schema.optionalKey(Schema.Number),
  error_status: Schema.optionalKey(Schema.NullOr(Schema.Number))
})

const refusalFields = {
  original_model: Schema.String,
  request_id: nullableString,
  api_refusal_category: nullableString,
  api_refusal_explanation: nullableString,
  refused_user_message_uuid: nullableString,
  content: Schema.String
}

/**
 * `system/model_refusal_fallback`: the model refused, and the CLI fell back to another model.
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemModelRefusalFallback = Schema.Struct({
  ...system("model_refusal_fallback"),
  ...refusalFields,
  fallback_model: Schema.String,
  direction: optionalString,
  scope: optionalString
})

/**
 * `system/model_refusal_no_fallback`: the model refused, with no model to fall back to.
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemModelRefusalNoFallback = Schema.Struct({ ...system("model_refusal_no_fallback"), ...refusalFields })

/**
 * `system/plugin_install`: progress of installing a plugin.
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemPluginInstall = Schema.Struct({
  ...system("plugin_install"),
  status: Schema.String,
  name: optionalString,
  error: optionalString
})

/**
 * `system/worker_shutting_down`: the CLI is shutting down, for `reason`.
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemWorkerShuttingDown = Schema.Struct({ ...system("worker_shutting_down"), reason: Schema.String })

/**
 * `system/commands_changed`: the slash commands available now.
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemCommandsChanged = Schema.Struct({
  ...system("commands_changed"),
  commands: Schema.Array(Schema.Struct({ name: Schema.String, description: optionalString }))
})

/**
 * `system/mirror_error`: a session mirror failed to store what it was sent.
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemMirrorError = Schema.Struct({ ...system("mirror_error"), error: Schema.String })

/**
 * `system/session_writes_lost`: the disk was full (`"ENOSPC"`, `"EDQUOT"`), and what was not saved.
 *
 * @since 0.1.0
 * @category session frames
 */
export const SystemSessionWritesLost = Schema.Struct({
  ...system("session_writes_lost"),
  error_code: Schema.String,
  lost: Schema.Array(Schema.String),
  transcript_session_ids: Schema.optionalKey(Schema.Array(Schema.String))
})

/**
 * `auth_status`: an authentication in progress, its output lines and error.
 *
 * @since 0.1.0
 * @category session frames
 */
export const AuthStatusFrame = Schema.Struct({
  type: Schema.Literal("auth_status"),
  session_id: sessionId,
  uuid,
  isAuthenticating: Schema.Boolean,
  output: Schema.Array(Schema.String),
  error: optionalString
})

/**
 * `prompt_suggestion`: a predicted next user prompt, after a turn (with `promptSuggestions` in `initialize`).
 *
 * @since 0.1.0
 * @category session frames
 */
export const PromptSuggestionFrame = Schema.Struct({
  type: Schema.Literal("prompt_suggestion"),
  session_id: sessionId,
  uuid,
  suggestion: Schema.String
})

/**
 * The type of a value {@link SystemCompactBoundary} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemCompactBoundary = typeof SystemCompactBoundary.Type
/**
 * The type of a value {@link SystemSessionStateChanged} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemSessionStateChanged = typeof SystemSessionStateChanged.Type
/**
 * The type of a value {@link SystemFilesPersisted} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemFilesPersisted = typeof SystemFilesPersisted.Type
/**
 * The type of a value {@link SystemLocalCommandOutput} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemLocalCommandOutput = typeof SystemLocalCommandOutput.Type
/**
 * The type of a value {@link SystemNotification} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemNotification = typeof SystemNotification.Type
/**
 * The type of a value {@link SystemInformational} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemInformational = typeof SystemInformational.Type
/**
 * The type of a value {@link SystemElicitationComplete} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemElicitationComplete = typeof SystemElicitationComplete.Type
/**
 * The type of a value {@link SystemMemoryRecall} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemMemoryRecall = typeof SystemMemoryRecall.Type
/**
 * The type of a value {@link SystemHookProgress} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemHookProgress = typeof SystemHookProgress.Type
/**
 * The type of a value {@link SystemThinkingTokens} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemThinkingTokens = typeof SystemThinkingTokens.Type
/**
 * The type of a value {@link SystemControlRequestProgress} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemControlRequestProgress = typeof SystemControlRequestProgress.Type
/**
 * The type of a value {@link SystemModelRefusalFallback} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemModelRefusalFallback = typeof SystemModelRefusalFallback.Type
/**
 * The type of a value {@link SystemModelRefusalNoFallback} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemModelRefusalNoFallback = typeof SystemModelRefusalNoFallback.Type
/**
 * The type of a value {@link SystemPluginInstall} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemPluginInstall = typeof SystemPluginInstall.Type
/**
 * The type of a value {@link SystemWorkerShuttingDown} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemWorkerShuttingDown = typeof SystemWorkerShuttingDown.Type
/**
 * The type of a value {@link SystemCommandsChanged} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemCommandsChanged = typeof SystemCommandsChanged.Type
/**
 * The type of a value {@link SystemMirrorError} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemMirrorError = typeof SystemMirrorError.Type
/**
 * The type of a value {@link SystemSessionWritesLost} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type SystemSessionWritesLost = typeof SystemSessionWritesLost.Type
/**
 * The type of a value {@link AuthStatusFrame} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type AuthStatusFrame = typeof AuthStatusFrame.Type
/**
 * The type of a value {@link PromptSuggestionFrame} accepts.
 *
 * @since 0.1.0
 * @category session frames
 */
export type PromptSuggestionFrame = typeof PromptSuggestionFrame.Type

/**
 * A session frame, tagged by `kind` as `Known` is (the kind is the frame's `subtype`, or its `type` for a
 * frame that is not a `system` one).
 *
 * @since 0.1.0
 * @category decoding
 */
export type KnownSessionFrame =
  | { readonly kind: "compact_boundary"; readonly frame: SystemCompactBoundary }
  | { readonly kind: "session_state_changed"; readonly frame: SystemSessionStateChanged }
  | { readonly kind: "files_persisted"; readonly frame: SystemFilesPersisted }
  | { readonly kind: "local_command_output"; readonly frame: SystemLocalCommandOutput }
  | { readonly kind: "notification"; readonly frame: SystemNotification }
  | { readonly kind: "informational"; readonly frame: SystemInformational }
  | { readonly kind: "elicitation_complete"; readonly frame: SystemElicitationComplete }
  | { readonly kind: "memory_recall"; readonly frame: SystemMemoryRecall }
  | { readonly kind: "hook_progress"; readonly frame: SystemHookProgress }
  | { readonly kind: "thinking_tokens"; readonly frame: SystemThinkingTokens }
  | { readonly kind: "control_request_progress"; readonly frame: SystemControlRequestProgress }
  | { readonly kind: "model_refusal_fallback"; readonly frame: SystemModelRefusalFallback }
  | { readonly kind: "model_refusal_no_fallback"; readonly frame: SystemModelRefusalNoFallback }
  | { readonly kind: "plugin_install"; readonly frame: SystemPluginInstall }
  | { readonly kind: "worker_shutting_down"; readonly frame: SystemWorkerShuttingDown }
  | { readonly kind: "commands_changed"; readonly frame: SystemCommandsChanged }
  | { readonly kind: "mirror_error"; readonly frame: SystemMirrorError }
  | { readonly kind: "session_writes_lost"; readonly frame: SystemSessionWritesLost }
  | { readonly kind: "auth_status"; readonly frame: AuthStatusFrame }
  | { readonly kind: "prompt_suggestion"; readonly frame: PromptSuggestionFrame }

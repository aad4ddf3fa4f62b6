// Decoding of the frames of `taskFrames.ts` and `systemFrames.ts`, by `subtype` (of a `system` frame) or
// `type`. Not part of the public API: `outputFrames.ts` calls it from `decode`. Each guard checks without
// copying (the frame handed on is the parsed object itself) and is compiled once.
import { compiledIs } from "./compiledGuard.ts"
import {
  AuthStatusFrame,
  type KnownSessionFrame,
  PromptSuggestionFrame,
  SystemCommandsChanged,
  SystemCompactBoundary,
  SystemControlRequestProgress,
  SystemElicitationComplete,
  SystemFilesPersisted,
  SystemHookProgress,
  SystemInformational,
  SystemLocalCommandOutput,
  SystemMemoryRecall,
  SystemMirrorError,
  SystemModelRefusalFallback,
  SystemModelRefusalNoFallback,
  SystemNotification,
  SystemPluginInstall,
  SystemSessionStateChanged,
  SystemSessionWritesLost,
  SystemThinkingTokens,
  SystemWorkerShuttingDown
} from "./systemFrames.ts"
import {
  type KnownTaskFrame,
  SystemBackgroundTasksChanged,
  SystemTaskNotification,
  SystemTaskProgress,
  SystemTaskStarted,
  SystemTaskUpdated,
  ToolProgressFrame,
  ToolUseSummaryFrame
} from "./taskFrames.ts"

/** A frame of these modules; `"mismatch"`: its kind is theirs, its shape is not; `undefined`: not their kind. */
export type EventFrameDecoded = KnownTaskFrame | KnownSessionFrame | "mismatch" | undefined

const isSystemTaskStarted = compiledIs(SystemTaskStarted)
const isSystemTaskProgress = compiledIs(SystemTaskProgress)
const isSystemTaskUpdated = compiledIs(SystemTaskUpdated)
const isSystemTaskNotification = compiledIs(SystemTaskNotification)
const isSystemBackgroundTasksChanged = compiledIs(SystemBackgroundTasksChanged)
const isToolProgressFrame = compiledIs(ToolProgressFrame)
const isToolUseSummaryFrame = compiledIs(ToolUseSummaryFrame)
const isSystemCompactBoundary = compiledIs(SystemCompactBoundary)
const isSystemSessionStateChanged = compiledIs(SystemSessionStateChanged)
const isSystemFilesPersisted = compiledIs(SystemFilesPersisted)
const isSystemLocalCommandOutput = compiledIs(SystemLocalCommandOutput)
const isSystemNotification = compiledIs(SystemNotification)
const isSystemInformational = compiledIs(SystemInformational)
const isSystemElicitationComplete = compiledIs(SystemElicitationComplete)
const isSystemMemoryRecall = compiledIs(SystemMemoryRecall)
const isSystemHookProgress = compiledIs(SystemHookProgress)
const isSystemThinkingTokens = compiledIs(SystemThinkingTokens)
const isSystemControlRequestProgress = compiledIs(SystemControlRequestProgress)
const isSystemModelRefusalFallback = compiledIs(SystemModelRefusalFallback)
const isSystemModelRefusalNoFallback = compiledIs(SystemModelRefusalNoFallback)
const isSystemPluginInstall = compiledIs(SystemPluginInstall)
const isSystemWorkerShuttingDown = compiledIs(SystemWorkerShuttingDown)
const isSystemCommandsChanged = compiledIs(SystemCommandsChanged)
const isSystemMirrorError = compiledIs(SystemMirrorError)
const isSystemSessionWritesLost = compiledIs(SystemSessionWritesLost)
const isAuthStatusFrame = compiledIs(AuthStatusFrame)
const isPromptSuggestionFrame = compiledIs(PromptSuggestionFrame)

/** A `system` frame of one of these subtypes. */
export const decodeEventSystem = (subtype: unknown, frame: unknown): EventFrameDecoded => {
  switch (subtype) {
    case "task_started":
      return isSystemTaskStarted(frame) ? { kind: "task_started", frame } : "mismatch"
    case "task_progress":
      return isSystemTaskProgress(frame) ? { kind: "task_progress", frame } : "mismatch"
    case "task_updated":
      return isSystemTaskUpdated(frame) ? { kind: "task_updated", frame } : "mismatch"
    case "task_notification":
      return isSystemTaskNotification(frame) ? { kind: "task_notification", frame } : "mismatch"
    case "background_tasks_changed":
      return isSystemBackgroundTasksChanged(frame) ? { kind: "background_tasks_changed", frame } : "mismatch"
    case "compact_boundary":
      return isSystemCompactBoundary(frame) ? { kind: "compact_boundary", frame } : "mismatch"
    case "session_state_changed":
      return isSystemSessionStateChanged(frame) ? { kind: "session_state_changed", frame } : "mismatch"
    case "files_persisted":
      return isSystemFilesPersisted(frame) ? { kind: "files_persisted", frame } : "mismatch"
    case "local_command_output":
      return isSystemLocalCommandOutput(frame) ? { kind: "local_command_output", frame } : "mismatch"
    case "notification":
      return isSystemNotification(frame) ? { kind: "notification", frame } : "mismatch"
    case "informational":
      return isSystemInformational(frame) ? { kind: "informational", frame } : "mismatch"
    case "elicitation_complete":
      return isSystemElicitationComplete(frame) ? { kind: "elicitation_complete", frame } : "mismatch"
    case "memory_recall":
      return isSystemMemoryRecall(frame) ? { kind: "memory_recall", frame } : "mismatch"
    case "hook_progress":
      return isSystemHookProgress(frame) ? { kind: "hook_progress", frame } : "mismatch"
    case "thinking_tokens":
      return isSystemThinkingTokens(frame) ? { kind: "thinking_tokens", frame } : "mismatch"
    case "control_request_progress":
      return isSystemControlRequestProgress(frame) ? { kind: "control_request_progress", frame } : "mismatch"
    case "model_refusal_fallback":
      return isSystemModelRefusalFallback(frame) ? { kind: "model_refusal_fallback", frame } : "mismatch"
    case "model_refusal_no_fallback":
      return isSystemModelRefusalNoFallback(frame) ? { kind: "model_refusal_no_fallback", frame } : "mismatch"
    case "plugin_install":
      return isSystemPluginInstall(frame) ? { kind: "plugin_install", frame } : "mismatch"
    case "worker_shutting_down":
      return isSystemWorkerShuttingDown(frame) ? { kind: "worker_shutting_down", frame } : "mismatch"
    case "commands_changed":
      return isSystemCommandsChanged(frame) ? { kind: "commands_changed", frame } : "mismatch"
    case "mirror_error":
      return isSystemMirrorError(frame) ? { kind: "mirror_error", frame } : "mismatch"
    case "session_writes_lost":
      return isSystemSessionWritesLost(frame) ? { kind: "session_writes_lost", frame } : "mismatch"
    default:
      return undefined
  }
}

/** A frame of one of these types (not `system`). */
export const decodeEventType = (type: unknown, frame: unknown): EventFrameDecoded => {
  switch (type) {
    case "tool_progress":
      return isToolProgressFrame(frame) ? { kind: "tool_progress", frame } : "mismatch"
    case "tool_use_summary":
      return isToolUseSummaryFrame(frame) ? { kind: "tool_use_summary", frame } : "mismatch"
    case "auth_status":
      return isAuthStatusFrame(frame) ? { kind: "auth_status", frame } : "mismatch"
    case "prompt_suggestion":
      return isPromptSuggestionFrame(frame) ? { kind: "prompt_suggestion", frame } : "mismatch"
    default:
      return undefined
  }
}

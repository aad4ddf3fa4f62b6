// The events of the frames about tasks, tool progress and the session (`taskFrames.ts`, `systemFrames.ts`)
// and of `command_lifecycle`: one event a frame, its fields in camelCase, the frame itself kept.
// `StreamHandler.fromDecoded` hands every such decoded frame here.
import type { ClaudeEvent, TaskUsage } from "../ClaudeEvent.ts"
import type * as Protocol from "../Protocol.ts"

/** The decoded frames this module turns into events. */
export type EventFrame =
  | Protocol.KnownTaskFrame
  | Protocol.KnownSessionFrame
  | { readonly kind: "command_lifecycle"; readonly frame: Protocol.CommandLifecycle }

// Plain objects, as in StreamHandler: the hot path.
const make = (e: ClaudeEvent): ClaudeEvent => e

const usageOf = (usage: { readonly total_tokens: number; readonly tool_uses: number; readonly duration_ms: number }) =>
  ({ totalTokens: usage.total_tokens, toolUses: usage.tool_uses, durationMs: usage.duration_ms }) satisfies TaskUsage

const fromTaskFrame = (decoded: Protocol.KnownTaskFrame): ClaudeEvent => {
  switch (decoded.kind) {
    case "task_started": {
      const frame = decoded.frame
      return make({
        _tag: "TaskStarted",
        taskId: frame.task_id,
        toolUseId: frame.tool_use_id,
        description: frame.description,
        taskType: frame.task_type,
        isBackgrounded: frame.is_backgrounded === true,
        frame
      })
    }
    case "task_progress": {
      const frame = decoded.frame
      return make({
        _tag: "TaskProgress",
        taskId: frame.task_id,
        toolUseId: frame.tool_use_id,
        description: frame.description,
        usage: usageOf(frame.usage),
        lastToolName: frame.last_tool_name,
        summary: frame.summary,
        frame
      })
    }
    case "task_updated": {
      const frame = decoded.frame
      const patch = frame.patch
      return make({
        _tag: "TaskUpdated",
        taskId: frame.task_id,
        status: patch.status,
        error: patch.error,
        isBackgrounded: patch.is_backgrounded,
        endTime: patch.end_time,
        frame
      })
    }
    case "task_notification": {
      const frame = decoded.frame
      return make({
        _tag: "TaskNotification",
        taskId: frame.task_id,
        toolUseId: frame.tool_use_id,
        status: frame.status,
        outputFile: frame.output_file,
        summary: frame.summary,
        usage: frame.usage === undefined ? undefined : usageOf(frame.usage),
        frame
      })
    }
    case "background_tasks_changed": {
      const frame = decoded.frame
      const tasks = frame.tasks.map((task) => ({
        taskId: task.task_id,
        taskType: task.task_type,
        description: task.description,
        subagentType: task.subagent_type
      }))
      return make({ _tag: "BackgroundTasksChanged", tasks, frame })
    }
    case "tool_progress": {
      const frame = decoded.frame
      return make({
        _tag: "ToolProgress",
        toolUseId: frame.tool_use_id,
        toolName: frame.tool_name,
        parentToolUseId: frame.parent_tool_use_id ?? null,
        elapsedSeconds: frame.elapsed_time_seconds,
        taskId: frame.task_id,
        frame
      })
    }
    case "tool_use_summary": {
      const frame = decoded.frame
      return make({
        _tag: "ToolUseSummary",
        summary: frame.summary,
        precedingToolUseIds: frame.preceding_tool_use_ids,
        frame
      })
    }
  }
}

const fromSessionFrame = (decoded: Protocol.KnownSessionFrame): ClaudeEvent => {
  switch (decoded.kind) {
    case "compact_boundary": {
      const frame = decoded.frame
      const metadata = frame.compact_metadata
      return make({
        _tag: "CompactBoundary",
        trigger: metadata.trigger,
        preTokens: metadata.pre_tokens,
        postTokens: metadata.post_tokens,
        durationMs: metadata.duration_ms,
        frame
      })
    }
    case "session_state_changed":
      return make({ _tag: "SessionStateChanged", state: decoded.frame.state, frame: decoded.frame })
    case "files_persisted": {
      const frame = decoded.frame
      const files = frame.files.map((file) => ({ filename: file.filename, fileId: file.file_id }))
      return make({ _tag: "FilesPersisted", files, failed: frame.failed, frame })
    }
    case "local_command_output":
      return make({ _tag: "LocalCommandOutput", content: decoded.frame.content, frame: decoded.frame })
    case "notification": {
      const frame = decoded.frame
      return make({ _tag: "Notification", key: frame.key, text: frame.text, priority: frame.priority, frame })
    }
    case "informational": {
      const frame = decoded.frame
      return make({
        _tag: "Informational",
        content: frame.content,
        level: frame.level,
        preventContinuation: frame.prevent_continuation === true,
        frame
      })
    }
    case "elicitation_complete": {
      const frame = decoded.frame
      return make({
        _tag: "ElicitationComplete",
        mcpServerName: frame.mcp_server_name,
        elicitationId: frame.elicitation_id,
        frame
      })
    }
    case "memory_recall":
      return make({
        _tag: "MemoryRecall",
        mode: decoded.frame.mode,
        memories: decoded.frame.memories,
        frame: decoded.frame
      })
    case "hook_progress": {
      const frame = decoded.frame
      return make({
        _tag: "HookProgress",
        hookId: frame.hook_id,
        hookName: frame.hook_name,
        hookEvent: frame.hook_event,
        output: frame.output ?? frame.stdout ?? "",
        frame
      })
    }
    case "thinking_tokens": {
      const frame = decoded.frame
      return make({
        _tag: "ThinkingTokens",
        estimatedTokens: frame.estimated_tokens,
        delta: frame.estimated_tokens_delta,
        frame
      })
    }
    case "control_request_progress": {
      const frame = decoded.frame
      return make({
        _tag: "ControlRequestProgress",
        requestId: frame.request_id,
        status: frame.status,
        attempt: frame.attempt,
        frame
      })
    }
    case "model_refusal_fallback": {
      const frame = decoded.frame
      return make({
        _tag: "ModelRefusalFallback",
        originalModel: frame.original_model,
        fallbackModel: frame.fallback_model,
        content: frame.content,
        frame
      })
    }
    case "model_refusal_no_fallback": {
      const frame = decoded.frame
      return make({
        _tag: "ModelRefusalNoFallback",
        originalModel: frame.original_model,
        content: frame.content,
        frame
      })
    }
    case "plugin_install": {
      const frame = decoded.frame
      return make({ _tag: "PluginInstall", status: frame.status, name: frame.name, error: frame.error, frame })
    }
    case "worker_shutting_down":
      return make({ _tag: "WorkerShuttingDown", reason: decoded.frame.reason, frame: decoded.frame })
    case "commands_changed":
      return make({ _tag: "CommandsChanged", commands: decoded.frame.commands, frame: decoded.frame })
    case "mirror_error":
      return make({ _tag: "MirrorError", error: decoded.frame.error, frame: decoded.frame })
    case "session_writes_lost": {
      const frame = decoded.frame
      return make({ _tag: "SessionWritesLost", errorCode: frame.error_code, lost: frame.lost, frame })
    }
    case "auth_status": {
      const frame = decoded.frame
      return make({
        _tag: "AuthStatus",
        isAuthenticating: frame.isAuthenticating,
        output: frame.output,
        error: frame.error,
        frame
      })
    }
    case "prompt_suggestion":
      return make({ _tag: "PromptSuggestion", suggestion: decoded.frame.suggestion, frame: decoded.frame })
  }
}

/** The one event of a task, tool-progress, session or `command_lifecycle` frame. */
export const fromEventFrame = (decoded: EventFrame): ClaudeEvent => {
  switch (decoded.kind) {
    case "command_lifecycle":
      return make({
        _tag: "CommandLifecycle",
        commandUuid: decoded.frame.command_uuid,
        state: decoded.frame.state,
        frame: decoded.frame
      })
    case "task_started":
    case "task_progress":
    case "task_updated":
    case "task_notification":
    case "background_tasks_changed":
    case "tool_progress":
    case "tool_use_summary":
      return fromTaskFrame(decoded)
    default:
      return fromSessionFrame(decoded)
  }
}

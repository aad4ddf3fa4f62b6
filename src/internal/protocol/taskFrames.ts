/**
 * The frames the CLI prints about tasks (a Bash command, a subagent, a workflow run in the foreground or
 * the background) and about tool calls in progress: `system/task_started`, `task_progress`,
 * `task_updated`, `task_notification`, `background_tasks_changed`, `tool_progress` and
 * `tool_use_summary`. Named and shaped as the Agent SDK's `SDKTask*Message`,
 * `SDKBackgroundTasksChangedMessage`, `SDKToolProgressMessage` and `SDKToolUseSummaryMessage`; lenient to
 * keys they do not name, and to values of an enumeration they do not list (a string is a string). Part of
 * the public `Protocol` namespace.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

const sessionId = Schema.optionalKey(Schema.String)
const uuid = Schema.optionalKey(Schema.String)
const optionalString = Schema.optionalKey(Schema.String)

const TaskUsage = Schema.Struct({ total_tokens: Schema.Number, tool_uses: Schema.Number, duration_ms: Schema.Number })

const taskFields = {
  type: Schema.Literal("system"),
  session_id: sessionId,
  uuid,
  task_id: Schema.String,
  /** One run of the task: a resumed task keeps its `task_id` and gets a new `run_id`. */
  run_id: optionalString
}

/**
 * `system/task_started`: a task began (`task_type` `"local_bash"`, `"local_agent"`, ...), in the
 * background (`is_backgrounded: true`) or with its tool call waiting for it.
 *
 * @since 0.1.0
 * @category task frames
 */
export const SystemTaskStarted = Schema.Struct({
  ...taskFields,
  subtype: Schema.Literal("task_started"),
  tool_use_id: optionalString,
  description: Schema.String,
  task_type: optionalString,
  subagent_type: optionalString,
  is_backgrounded: Schema.optionalKey(Schema.Boolean),
  parent_task_id: optionalString,
  prompt: optionalString
})

/**
 * `system/task_progress`: a running task's usage so far, its last tool and a one-line summary.
 *
 * @since 0.1.0
 * @category task frames
 */
export const SystemTaskProgress = Schema.Struct({
  ...taskFields,
  subtype: Schema.Literal("task_progress"),
  tool_use_id: optionalString,
  description: Schema.String,
  subagent_type: optionalString,
  usage: TaskUsage,
  last_tool_name: optionalString,
  summary: optionalString
})

/**
 * `system/task_updated`: the fields of a task that changed (`patch`: its status, end time, error, ...).
 *
 * @since 0.1.0
 * @category task frames
 */
export const SystemTaskUpdated = Schema.Struct({
  ...taskFields,
  subtype: Schema.Literal("task_updated"),
  patch: Schema.Struct({
    status: optionalString,
    description: optionalString,
    end_time: Schema.optionalKey(Schema.Number),
    total_paused_ms: Schema.optionalKey(Schema.Number),
    error: optionalString,
    is_backgrounded: Schema.optionalKey(Schema.Boolean)
  })
})

/**
 * `system/task_notification`: a task ended (`"completed"`, `"failed"` or `"stopped"`), where its output is
 * and a summary.
 *
 * @since 0.1.0
 * @category task frames
 */
export const SystemTaskNotification = Schema.Struct({
  ...taskFields,
  subtype: Schema.Literal("task_notification"),
  tool_use_id: optionalString,
  status: Schema.String,
  output_file: Schema.String,
  summary: Schema.String,
  usage: Schema.optionalKey(TaskUsage)
})

/**
 * `system/background_tasks_changed`: every live background task after a change (replace your set with it).
 *
 * @since 0.1.0
 * @category task frames
 */
export const SystemBackgroundTasksChanged = Schema.Struct({
  type: Schema.Literal("system"),
  subtype: Schema.Literal("background_tasks_changed"),
  session_id: sessionId,
  uuid,
  tasks: Schema.Array(Schema.Struct({
    task_id: Schema.String,
    run_id: optionalString,
    task_type: Schema.String,
    subagent_type: optionalString,
    description: Schema.String,
    parent_task_id: optionalString
  }))
})

/**
 * `tool_progress`: a tool call is still running, `elapsed_time_seconds` after it started.
 *
 * @since 0.1.0
 * @category task frames
 */
export const ToolProgressFrame = Schema.Struct({
  type: Schema.Literal("tool_progress"),
  session_id: sessionId,
  uuid,
  tool_use_id: Schema.String,
  tool_name: Schema.String,
  parent_tool_use_id: Schema.optionalKey(Schema.NullOr(Schema.String)),
  elapsed_time_seconds: Schema.Number,
  task_id: optionalString
})

/**
 * `tool_use_summary`: a one-line summary of the tool calls it names.
 *
 * @since 0.1.0
 * @category task frames
 */
export const ToolUseSummaryFrame = Schema.Struct({
  type: Schema.Literal("tool_use_summary"),
  session_id: sessionId,
  uuid,
  summary: Schema.String,
  preceding_tool_use_ids: Schema.Array(Schema.String)
})

/**
 * The type of a value {@link SystemTaskStarted} accepts.
 *
 * @since 0.1.0
 * @category task frames
 */
export type SystemTaskStarted = typeof SystemTaskStarted.Type
/**
 * The type of a value {@link SystemTaskProgress} accepts.
 *
 * @since 0.1.0
 * @category task frames
 */
export type SystemTaskProgress = typeof SystemTaskProgress.Type
/**
 * The type of a value {@link SystemTaskUpdated} accepts.
 *
 * @since 0.1.0
 * @category task frames
 */
export type SystemTaskUpdated = typeof SystemTaskUpdated.Type
/**
 * The type of a value {@link SystemTaskNotification} accepts.
 *
 * @since 0.1.0
 * @category task frames
 */
export type SystemTaskNotification = typeof SystemTaskNotification.Type
/**
 * The type of a value {@link SystemBackgroundTasksChanged} accepts.
 *
 * @since 0.1.0
 * @category task frames
 */
export type SystemBackgroundTasksChanged = typeof SystemBackgroundTasksChanged.Type
/**
 * The type of a value {@link ToolProgressFrame} accepts.
 *
 * @since 0.1.0
 * @category task frames
 */
export type ToolProgressFrame = typeof ToolProgressFrame.Type
/**
 * The type of a value {@link ToolUseSummaryFrame} accepts.
 *
 * @since 0.1.0
 * @category task frames
 */
export type ToolUseSummaryFrame = typeof ToolUseSummaryFrame.Type

/**
 * A task or tool-progress frame, tagged by `kind` as `Known` is (the kind is the frame's `subtype`, or its
 * `type` for a frame that is not a `system` one).
 *
 * @since 0.1.0
 * @category decoding
 */
export type KnownTaskFrame =
  | { readonly kind: "task_started"; readonly frame: SystemTaskStarted }
  | { readonly kind: "task_progress"; readonly frame: SystemTaskProgress }
  | { readonly kind: "task_updated"; readonly frame: SystemTaskUpdated }
  | { readonly kind: "task_notification"; readonly frame: SystemTaskNotification }
  | { readonly kind: "background_tasks_changed"; readonly frame: SystemBackgroundTasksChanged }
  | { readonly kind: "tool_progress"; readonly frame: ToolProgressFrame }
  | { readonly kind: "tool_use_summary"; readonly frame: ToolUseSummaryFrame }

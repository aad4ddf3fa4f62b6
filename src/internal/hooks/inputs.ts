/**
 * What the CLI sends with each hook event (`hook_callback`'s `input`), one Schema per event of the Agent
 * SDK's `HOOK_EVENTS`, named as its `*HookInput` types. Each has the common fields (`session_id`,
 * `transcript_path`, `cwd`, `permission_mode`, `agent_id`, ...), `hook_event_name` and the event's own
 * fields. The CLI adds fields freely: a Schema checks the fields it knows and the value a handler gets is
 * the object the CLI sent, every other field still on it. Part of the public `Hooks` namespace.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

const optional = Schema.optionalKey
const Str = Schema.String
const Num = Schema.Number
const Bool = Schema.Boolean
const Any = Schema.Unknown
const Strings = Schema.Array(Schema.String)
const JsonObject = Schema.Record(Schema.String, Schema.Unknown)

/**
 * The fields every hook input has (the Agent SDK's `BaseHookInput`).
 *
 * @since 0.1.0
 * @category hook inputs
 */
export const baseFields = {
  session_id: Str,
  transcript_path: Str,
  cwd: Str,
  prompt_id: optional(Str),
  permission_mode: optional(Str),
  agent_id: optional(Str),
  agent_type: optional(Str),
  effort: optional(Schema.Struct({ level: Str }))
}

const input = <const E extends string, const F extends Schema.Struct.Fields>(event: E, fields: F) =>
  Schema.Struct({ ...baseFields, hook_event_name: Schema.Literal(event), ...fields })

const McpServerProvenance = Schema.Struct({ name: Str, source: Str })
const BackgroundTask = Schema.Struct({ id: Str, type: Str, status: Str, description: Str })
const stopFields = {
  stop_hook_active: Bool,
  last_assistant_message: optional(Str),
  background_tasks: optional(Schema.Array(BackgroundTask)),
  session_crons: optional(Schema.Array(Any))
}
const toolFields = { tool_name: Str, tool_input: Any, tool_use_id: Str, mcp_server: optional(McpServerProvenance) }
const modelSwitchFields = {
  from_model: Str,
  to_model: Str,
  requested_model: Schema.NullOr(Str),
  source: Str,
  context_tokens: Num,
  prompt_cache_warm: Bool,
  cache_ttl: Str,
  estimated_cache_write_usd: Num,
  pricing: Str
}
const taskFields = {
  task_id: Str,
  task_subject: Str,
  task_description: optional(Str),
  teammate_name: optional(Str),
  team_name: optional(Str)
}
const ElicitationAction = Schema.Literals(["accept", "decline", "cancel"])

/**
 * Every hook input Schema, by event, in the order of the Agent SDK's `HOOK_EVENTS`.
 *
 * @since 0.1.0
 * @category hook inputs
 */
export const inputs = {
  PreToolUse: input("PreToolUse", toolFields),
  PostToolUse: input("PostToolUse", { ...toolFields, tool_response: Any, duration_ms: optional(Num) }),
  PostToolUseFailure: input("PostToolUseFailure", {
    ...toolFields,
    error: Str,
    is_interrupt: optional(Bool),
    duration_ms: optional(Num)
  }),
  PostToolBatch: input("PostToolBatch", {
    tool_calls: Schema.Array(
      Schema.Struct({ tool_name: Str, tool_input: Any, tool_use_id: Str, tool_response: optional(Any) })
    )
  }),
  Notification: input("Notification", { message: Str, title: optional(Str), notification_type: Str }),
  UserPromptSubmit: input("UserPromptSubmit", { prompt: Str, source: optional(Str), session_title: optional(Str) }),
  UserPromptExpansion: input("UserPromptExpansion", {
    expansion_type: Schema.Literals(["slash_command", "mcp_prompt"]),
    command_name: Str,
    command_args: Str,
    command_source: optional(Str),
    prompt: Str
  }),
  SessionStart: input("SessionStart", {
    source: Schema.Literals(["startup", "resume", "clear", "compact", "fork"]),
    model: optional(Str),
    session_title: optional(Str),
    seconds_since_last_response: optional(Num),
    context_tokens: optional(Num),
    prompt_cache_likely_expired: optional(Bool),
    estimated_cache_write_usd: optional(Num)
  }),
  SessionEnd: input("SessionEnd", { reason: Str }),
  Stop: input("Stop", stopFields),
  StopFailure: input("StopFailure", {
    error: Str,
    error_details: optional(Str),
    last_assistant_message: optional(Str)
  }),
  SubagentStart: input("SubagentStart", { agent_id: Str, agent_type: Str }),
  SubagentStop: input("SubagentStop", {
    ...stopFields,
    agent_id: Str,
    agent_transcript_path: Str,
    agent_type: Str
  }),
  PreCompact: input("PreCompact", {
    trigger: Schema.Literals(["manual", "auto"]),
    custom_instructions: Schema.NullOr(Str)
  }),
  PostCompact: input("PostCompact", { trigger: Schema.Literals(["manual", "auto"]), compact_summary: Str }),
  PreModelSwitch: input("PreModelSwitch", modelSwitchFields),
  PostModelSwitch: input("PostModelSwitch", modelSwitchFields),
  PermissionRequest: input("PermissionRequest", {
    tool_name: Str,
    tool_input: Any,
    permission_suggestions: optional(Schema.Array(Any)),
    mcp_server: optional(McpServerProvenance)
  }),
  PermissionDenied: input("PermissionDenied", { ...toolFields, reason: Str }),
  Setup: input("Setup", { trigger: Schema.Literals(["init", "maintenance"]) }),
  TeammateIdle: input("TeammateIdle", { teammate_name: Str, team_name: Str }),
  TaskCreated: input("TaskCreated", taskFields),
  TaskCompleted: input("TaskCompleted", taskFields),
  Elicitation: input("Elicitation", {
    mcp_server_name: Str,
    message: Str,
    mode: optional(Schema.Literals(["form", "url"])),
    url: optional(Str),
    elicitation_id: optional(Str),
    requested_schema: optional(JsonObject)
  }),
  ElicitationResult: input("ElicitationResult", {
    mcp_server_name: Str,
    elicitation_id: optional(Str),
    mode: optional(Schema.Literals(["form", "url"])),
    action: ElicitationAction,
    content: optional(JsonObject)
  }),
  ConfigChange: input("ConfigChange", { source: Str, file_path: optional(Str) }),
  WorktreeCreate: input("WorktreeCreate", { name: Str }),
  WorktreeRemove: input("WorktreeRemove", { worktree_path: Str }),
  InstructionsLoaded: input("InstructionsLoaded", {
    file_path: Str,
    memory_type: Str,
    load_reason: Str,
    globs: optional(Strings),
    trigger_file_path: optional(Str),
    parent_file_path: optional(Str)
  }),
  CwdChanged: input("CwdChanged", { old_cwd: Str, new_cwd: Str }),
  FileChanged: input("FileChanged", { file_path: Str, event: Schema.Literals(["change", "add", "unlink"]) }),
  DirectoryAdded: input("DirectoryAdded", { directory: Str, source: Str }),
  MessageDisplay: input("MessageDisplay", {
    turn_id: Str,
    message_id: Str,
    index: Num,
    final: Bool,
    delta: Str
  })
}

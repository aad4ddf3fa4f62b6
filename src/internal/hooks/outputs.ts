/**
 * What a hook handler answers, one Schema per event (the Agent SDK's `SyncHookJSONOutput` with the event's
 * `*HookSpecificOutput`, or its `AsyncHookJSONOutput`). The answer is checked against the Schema of its
 * event and sent as the handler returned it, fields the Schema does not know included. Part of the public
 * `Hooks` namespace.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { PermissionUpdate } from "../protocol/controlFrames.ts"

const optional = Schema.optionalKey
const Str = Schema.String
const JsonObject = Schema.Record(Schema.String, Schema.Unknown)

/**
 * The fields of every synchronous answer (the Agent SDK's `SyncHookJSONOutput` without
 * `hookSpecificOutput`): `continue: false` stops the session's turn (with `stopReason`), `decision: "block"`
 * with a `reason` blocks what the event guards (a prompt, a stop, a tool result), `systemMessage` is shown to
 * the user.
 *
 * @since 0.1.0
 * @category hook outputs
 */
export const syncFields = {
  continue: optional(Schema.Boolean),
  suppressOutput: optional(Schema.Boolean),
  stopReason: optional(Str),
  decision: optional(Schema.Literals(["approve", "block"])),
  systemMessage: optional(Str),
  terminalSequence: optional(Str),
  reason: optional(Str)
}

/**
 * An answer that lets the event go on while the host works in the background (`asyncTimeout` in ms).
 *
 * @since 0.1.0
 * @category hook outputs
 */
export const AsyncOutput = Schema.Struct({ async: Schema.Literal(true), asyncTimeout: optional(Schema.Number) })

const specific = <const E extends string, const F extends Schema.Struct.Fields>(event: E, fields: F) =>
  Schema.Struct({ hookEventName: Schema.Literal(event), ...fields })

const context = { additionalContext: optional(Str) }
const watchPaths = { watchPaths: optional(Schema.Array(Str)) }
const ElicitationAnswer = {
  action: optional(Schema.Literals(["accept", "decline", "cancel"])),
  content: optional(JsonObject)
}

/**
 * Every event's `hookSpecificOutput` Schema, for the events that have one.
 *
 * @since 0.1.0
 * @category hook outputs
 */
export const specificOutputs = {
  PreToolUse: specific("PreToolUse", {
    permissionDecision: optional(Schema.Literals(["allow", "deny", "ask", "defer"])),
    permissionDecisionReason: optional(Str),
    updatedInput: optional(JsonObject),
    ...context
  }),
  PostToolUse: specific("PostToolUse", {
    ...context,
    classifierContext: optional(Str),
    updatedToolOutput: optional(Schema.Unknown),
    updatedMCPToolOutput: optional(Schema.Unknown)
  }),
  PostToolUseFailure: specific("PostToolUseFailure", context),
  PostToolBatch: specific("PostToolBatch", context),
  Notification: specific("Notification", context),
  UserPromptSubmit: specific("UserPromptSubmit", {
    ...context,
    sessionTitle: optional(Str),
    suppressOriginalPrompt: optional(Schema.Boolean)
  }),
  UserPromptExpansion: specific("UserPromptExpansion", {
    ...context,
    suppressOriginalPrompt: optional(Schema.Boolean)
  }),
  SessionStart: specific("SessionStart", {
    ...context,
    initialUserMessage: optional(Str),
    sessionTitle: optional(Str),
    ...watchPaths,
    reloadSkills: optional(Schema.Boolean)
  }),
  Stop: specific("Stop", context),
  SubagentStart: specific("SubagentStart", context),
  SubagentStop: specific("SubagentStop", context),
  PreModelSwitch: specific("PreModelSwitch", {
    permissionDecision: optional(Schema.Literals(["allow", "deny", "ask"])),
    permissionDecisionReason: optional(Str)
  }),
  PostModelSwitch: specific("PostModelSwitch", context),
  PermissionRequest: specific("PermissionRequest", {
    decision: Schema.Union([
      Schema.Struct({
        behavior: Schema.Literal("allow"),
        updatedInput: optional(JsonObject),
        updatedPermissions: optional(Schema.Array(PermissionUpdate))
      }),
      Schema.Struct({ behavior: Schema.Literal("deny"), message: optional(Str), interrupt: optional(Schema.Boolean) })
    ])
  }),
  PermissionDenied: specific("PermissionDenied", { retry: optional(Schema.Boolean) }),
  Setup: specific("Setup", context),
  Elicitation: specific("Elicitation", ElicitationAnswer),
  ElicitationResult: specific("ElicitationResult", ElicitationAnswer),
  WorktreeCreate: specific("WorktreeCreate", { worktreePath: Str }),
  CwdChanged: specific("CwdChanged", watchPaths),
  FileChanged: specific("FileChanged", watchPaths),
  MessageDisplay: specific("MessageDisplay", { displayContent: optional(Str) })
}

/**
 * The common fields alone: an answer to every event (`{ continue: true }` carries on).
 *
 * @since 0.1.0
 * @category hook outputs
 */
export const CommonOutput = Schema.Struct(syncFields)

/**
 * @since 0.1.0
 * @category hook outputs
 */
export type CommonOutput = typeof CommonOutput.Type

const withSpecific = <S extends Schema.Top>(specificOutput: S) =>
  Schema.Union([Schema.Struct({ ...syncFields, hookSpecificOutput: optional(specificOutput) }), AsyncOutput])
// An event without a `hookSpecificOutput` of its own takes none (another event's is a mistake).
const plain = Schema.Union([Schema.Struct({ ...syncFields, hookSpecificOutput: optional(Schema.Never) }), AsyncOutput])

/**
 * Every hook output Schema, by event: the synchronous answer (with the event's `hookSpecificOutput` where it
 * has one) or the asynchronous one.
 *
 * @since 0.1.0
 * @category hook outputs
 */
export const outputs = {
  PreToolUse: withSpecific(specificOutputs.PreToolUse),
  PostToolUse: withSpecific(specificOutputs.PostToolUse),
  PostToolUseFailure: withSpecific(specificOutputs.PostToolUseFailure),
  PostToolBatch: withSpecific(specificOutputs.PostToolBatch),
  Notification: withSpecific(specificOutputs.Notification),
  UserPromptSubmit: withSpecific(specificOutputs.UserPromptSubmit),
  UserPromptExpansion: withSpecific(specificOutputs.UserPromptExpansion),
  SessionStart: withSpecific(specificOutputs.SessionStart),
  SessionEnd: plain,
  Stop: withSpecific(specificOutputs.Stop),
  StopFailure: plain,
  SubagentStart: withSpecific(specificOutputs.SubagentStart),
  SubagentStop: withSpecific(specificOutputs.SubagentStop),
  PreCompact: plain,
  PostCompact: plain,
  PreModelSwitch: withSpecific(specificOutputs.PreModelSwitch),
  PostModelSwitch: withSpecific(specificOutputs.PostModelSwitch),
  PermissionRequest: withSpecific(specificOutputs.PermissionRequest),
  PermissionDenied: withSpecific(specificOutputs.PermissionDenied),
  Setup: withSpecific(specificOutputs.Setup),
  TeammateIdle: plain,
  TaskCreated: plain,
  TaskCompleted: plain,
  Elicitation: withSpecific(specificOutputs.Elicitation),
  ElicitationResult: withSpecific(specificOutputs.ElicitationResult),
  ConfigChange: plain,
  WorktreeCreate: withSpecific(specificOutputs.WorktreeCreate),
  WorktreeRemove: plain,
  InstructionsLoaded: plain,
  CwdChanged: withSpecific(specificOutputs.CwdChanged),
  FileChanged: withSpecific(specificOutputs.FileChanged),
  DirectoryAdded: plain,
  MessageDisplay: withSpecific(specificOutputs.MessageDisplay)
}

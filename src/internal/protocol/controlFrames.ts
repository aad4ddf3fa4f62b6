/**
 * The control frames, which go both ways: the CLI asks the host (`can_use_tool`, `hook_callback`)
 * and the host asks the CLI (`initialize`, `interrupt`, `set_model`, ...), each request
 * answered by a `control_response` with its id. Decoded with the CLI's output; the host's are built by
 * `inputFrames.ts`. Part of the public `Protocol` namespace.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * A control request, either direction.
 *
 * @since 0.1.0
 * @category control frames
 */
export const ControlRequest = Schema.Struct({
  type: Schema.Literal("control_request"),
  request_id: Schema.String,
  request: Schema.Struct({ subtype: Schema.String })
})

/**
 * The body of a `can_use_tool` request: the CLI asks whether it may run a tool.
 *
 * @since 0.1.0
 * @category control frames
 */
export const CanUseToolRequest = Schema.Struct({
  subtype: Schema.Literal("can_use_tool"),
  tool_name: Schema.String,
  input: Schema.Unknown,
  tool_use_id: Schema.optionalKey(Schema.String),
  // Read leniently (the CLI sends `blocked_path: null` too): a request is never left unanswered for them.
  permission_suggestions: Schema.optionalKey(Schema.Unknown),
  blocked_path: Schema.optionalKey(Schema.Unknown)
})

const PermissionDestination = Schema.Literals(["userSettings", "projectSettings", "localSettings", "session", "cliArg"])

/**
 * A change to the CLI's permissions, as `can_use_tool` suggests it and a permission answer may carry it.
 *
 * @since 0.1.0
 * @category control frames
 */
export const PermissionUpdate = Schema.Union([
  Schema.Struct({
    type: Schema.Literals(["addRules", "replaceRules", "removeRules"]),
    rules: Schema.Array(Schema.Struct({ toolName: Schema.String, ruleContent: Schema.optionalKey(Schema.String) })),
    behavior: Schema.Literals(["allow", "deny", "ask"]),
    destination: PermissionDestination
  }),
  Schema.Struct({ type: Schema.Literal("setMode"), mode: Schema.String, destination: PermissionDestination }),
  Schema.Struct({
    type: Schema.Literals(["addDirectories", "removeDirectories"]),
    directories: Schema.Array(Schema.String),
    destination: PermissionDestination
  })
])

/**
 * @since 0.1.0
 * @category control frames
 */
export type PermissionUpdate = typeof PermissionUpdate.Type

/**
 * The CLI's answer to `initialize`: what the process offers (slash commands, agents, models, output styles)
 * and runs as (account, version, permission mode, pid). The fields typed here are those the Agent SDK
 * exposes; every other field the CLI sends stays on the object.
 *
 * @since 0.1.0
 * @category control frames
 */
export const InitializeResponse = Schema.Struct({
  commands: Schema.optionalKey(Schema.Array(Schema.Struct({
    name: Schema.String,
    description: Schema.optionalKey(Schema.String),
    argumentHint: Schema.optionalKey(Schema.String)
  }))),
  agents: Schema.optionalKey(Schema.Array(Schema.Struct({
    name: Schema.String,
    description: Schema.optionalKey(Schema.String),
    model: Schema.optionalKey(Schema.String)
  }))),
  models: Schema.optionalKey(Schema.Array(Schema.Struct({
    value: Schema.String,
    displayName: Schema.optionalKey(Schema.String),
    description: Schema.optionalKey(Schema.String),
    resolvedModel: Schema.optionalKey(Schema.String)
  }))),
  account: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)),
  output_style: Schema.optionalKey(Schema.String),
  available_output_styles: Schema.optionalKey(Schema.Array(Schema.String)),
  claude_code_version: Schema.optionalKey(Schema.String),
  current_permission_mode: Schema.optionalKey(Schema.String),
  /** The CLI's own view of its pid: 1 in the PID namespace `ProcessManager` may run it in (`Session.pid` is the host's). */
  pid: Schema.optionalKey(Schema.Number)
})

/**
 * @since 0.1.0
 * @category control frames
 */
export type InitializeResponse = typeof InitializeResponse.Type

/**
 * The body of a `hook_callback` request: a registered hook fired.
 *
 * @since 0.1.0
 * @category control frames
 */
export const HookCallbackRequest = Schema.Struct({
  subtype: Schema.Literal("hook_callback"),
  callback_id: Schema.String,
  input: Schema.optionalKey(Schema.Unknown),
  tool_use_id: Schema.optionalKey(Schema.String)
})

/**
 * The body of an `mcp_message` request: a JSON-RPC 2.0 message of the CLI for one of the host's in-process
 * MCP servers (named in `--mcp-config` as `{"type":"sdk"}` and in `initialize` as `sdkMcpServers`). The host
 * answers with `{ mcp_response: <the JSON-RPC reply> }`.
 *
 * @since 0.1.0
 * @category control frames
 */
export const McpMessageRequest = Schema.Struct({
  subtype: Schema.Literal("mcp_message"),
  server_name: Schema.String,
  message: Schema.Unknown
})

/**
 * The body of an `elicitation` request: an MCP server asks the user for input (a form, or a URL to open).
 * The host answers with an MCP `ElicitResult` (`{ action: "accept" | "decline" | "cancel", content? }`).
 *
 * @since 0.1.0
 * @category control frames
 */
export const ElicitationControlRequest = Schema.Struct({
  subtype: Schema.Literal("elicitation"),
  mcp_server_name: Schema.String,
  message: Schema.String,
  mode: Schema.optionalKey(Schema.Literals(["form", "url"])),
  url: Schema.optionalKey(Schema.String),
  elicitation_id: Schema.optionalKey(Schema.String),
  requested_schema: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)),
  title: Schema.optionalKey(Schema.String),
  display_name: Schema.optionalKey(Schema.String),
  description: Schema.optionalKey(Schema.String)
})

/**
 * The body of a `request_user_dialog` request: the CLI asks the host to show a blocking dialog of a kind
 * the host declared in `initialize` (`supportedDialogKinds`). The host answers
 * `{ behavior: "completed", result }` or `{ behavior: "cancelled" }`.
 *
 * @since 0.1.0
 * @category control frames
 */
export const UserDialogControlRequest = Schema.Struct({
  subtype: Schema.Literal("request_user_dialog"),
  dialog_kind: Schema.String,
  payload: Schema.Record(Schema.String, Schema.Unknown),
  tool_use_id: Schema.optionalKey(Schema.String)
})

/**
 * A control response, either direction.
 *
 * @since 0.1.0
 * @category control frames
 */
export const ControlResponse = Schema.Struct({
  type: Schema.Literal("control_response"),
  response: Schema.Union([
    Schema.Struct({
      subtype: Schema.Literal("success"),
      request_id: Schema.String,
      response: Schema.optionalKey(Schema.Unknown)
    }),
    Schema.Struct({
      subtype: Schema.Literal("error"),
      request_id: Schema.String,
      error: Schema.String,
      error_code: Schema.optionalKey(Schema.String)
    })
  ])
})

/**
 * A control cancel request, either direction.
 *
 * @since 0.1.0
 * @category control frames
 */
export const ControlCancelRequest = Schema.Struct({
  type: Schema.Literal("control_cancel_request"),
  request_id: Schema.String
})

/**
 * `keep_alive`, either direction.
 *
 * @since 0.1.0
 * @category control frames
 */
export const KeepAlive = Schema.Struct({ type: Schema.Literal("keep_alive") })

/**
 * The type of a value {@link ControlRequest} accepts.
 *
 * @since 0.1.0
 * @category control frames
 */
export type ControlRequest = typeof ControlRequest.Type
/**
 * The type of a value {@link McpMessageRequest} accepts.
 *
 * @since 0.1.0
 * @category control frames
 */
export type McpMessageRequest = typeof McpMessageRequest.Type
/**
 * The type of a value {@link ControlResponse} accepts.
 *
 * @since 0.1.0
 * @category control frames
 */
export type ControlResponse = typeof ControlResponse.Type
/**
 * The type of a value {@link ControlCancelRequest} accepts.
 *
 * @since 0.1.0
 * @category control frames
 */
export type ControlCancelRequest = typeof ControlCancelRequest.Type
/**
 * The type of a value {@link KeepAlive} accepts.
 *
 * @since 0.1.0
 * @category control frames
 */
export type KeepAlive = typeof KeepAlive.Type

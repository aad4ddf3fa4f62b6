/**
 * The CLI's answers to the control requests of `Session`'s typed controls (`mcp_status`,
 * `get_context_usage`, `rewind_files`), as CLI 2.1.329 sends them and the Agent SDK types them. The fields
 * typed here are those the SDK types; every other field the CLI sends stays on the object. Part of the
 * public `Protocol` namespace.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * One MCP server of the session and its connection, as `mcp_status` reports it (the SDK's
 * `McpServerStatus`).
 *
 * @since 0.1.0
 * @category control responses
 */
export const McpServerStatus = Schema.Struct({
  name: Schema.String,
  status: Schema.Literals(["connected", "failed", "needs-auth", "pending", "disabled"]),
  serverInfo: Schema.optionalKey(Schema.Struct({ name: Schema.String, version: Schema.String })),
  error: Schema.optionalKey(Schema.String),
  config: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)),
  scope: Schema.optionalKey(Schema.String),
  source: Schema.optionalKey(Schema.String),
  tools: Schema.optionalKey(Schema.Array(Schema.Struct({
    name: Schema.String,
    description: Schema.optionalKey(Schema.String),
    annotations: Schema.optionalKey(Schema.Struct({
      readOnly: Schema.optionalKey(Schema.Boolean),
      destructive: Schema.optionalKey(Schema.Boolean),
      openWorld: Schema.optionalKey(Schema.Boolean)
    }))
  })))
})

/**
 * @since 0.1.0
 * @category control responses
 */
export type McpServerStatus = typeof McpServerStatus.Type

/**
 * The answer to `mcp_status`.
 *
 * @since 0.1.0
 * @category control responses
 */
export const McpStatusResponse = Schema.Struct({ mcpServers: Schema.Array(McpServerStatus) })

/**
 * How the context window is used, by category (the SDK's `SDKControlGetContextUsageResponse`): what
 * `/context` shows.
 *
 * @since 0.1.0
 * @category control responses
 */
export const ContextUsage = Schema.Struct({
  categories: Schema.Array(Schema.Struct({
    /** Stable where `name` is not: `system_prompt`, `system_tools`, `messages`, `free_space`, ... */
    id: Schema.optionalKey(Schema.String),
    name: Schema.String,
    tokens: Schema.Number,
    kind: Schema.optionalKey(Schema.Literals(["used", "free", "buffer", "deferred"])),
    isDeferred: Schema.optionalKey(Schema.Boolean)
  })),
  totalTokens: Schema.Number,
  maxTokens: Schema.Number,
  rawMaxTokens: Schema.optionalKey(Schema.Number),
  percentage: Schema.Number,
  model: Schema.String,
  memoryFiles: Schema.optionalKey(Schema.Array(Schema.Struct({
    path: Schema.String,
    type: Schema.String,
    tokens: Schema.Number
  })))
})

/**
 * @since 0.1.0
 * @category control responses
 */
export type ContextUsage = typeof ContextUsage.Type

/**
 * What `rewind_files` did, or would do with `dryRun` (the SDK's `RewindFilesResult`): `canRewind: false`
 * with an `error` when there is no checkpoint for the message.
 *
 * @since 0.1.0
 * @category control responses
 */
export const RewindFilesResult = Schema.Struct({
  canRewind: Schema.Boolean,
  error: Schema.optionalKey(Schema.String),
  filesChanged: Schema.optionalKey(Schema.Array(Schema.String)),
  insertions: Schema.optionalKey(Schema.Number),
  deletions: Schema.optionalKey(Schema.Number),
  skippedLinks: Schema.optionalKey(Schema.Number)
})

/**
 * @since 0.1.0
 * @category control responses
 */
export type RewindFilesResult = typeof RewindFilesResult.Type

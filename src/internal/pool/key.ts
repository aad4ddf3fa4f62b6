/**
 * The pool key: which configurations may share a process. Everything that makes two sessions incompatible
 * goes in (the credential's identity, the process's options, the hooks' shape, the toolkits' tools, whether a
 * permission callback is given, what is bound when the process starts); what only picks a conversation (`resume`, `continue`,
 * `forkSession`, `sessionId`, `resumeSessionAt`) stays out.
 */
import { Duration, Option, Predicate } from "effect"
import { createHash } from "node:crypto"
import * as ClaudeOptions from "../../ClaudeOptions.ts"
import * as McpTools from "../../McpTools.ts"
import type * as Session from "../../Session.ts"
import type * as TokenManager from "../../TokenManager.ts"

/** The conversation-independent part of options: what a process is started with, whatever it resumes. */
export const processOptions = ClaudeOptions.withoutConversation

// Durations as milliseconds and object keys sorted: equal configurations hash equally however written.
const canonical = (value: unknown): unknown => {
  if (Duration.isDuration(value)) return Duration.toMillis(value)
  if (Array.isArray(value)) return value.map(canonical)
  if (Predicate.isObject(value)) {
    return Object.fromEntries(
      Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, canonical(v)])
    )
  }
  return value
}

// The CLI registers hooks by event, with matcher, timeout and failure policy; their handlers are the lease's,
// called through the pool.
const hookShape = (hooks: Session.Config["hooks"]) =>
  Object.entries(hooks ?? {}).map(([event, handlers]) => [
    event,
    (handlers ?? []).map((h) => [
      h.matcher ?? "*",
      h.timeout === undefined ? null : Duration.toMillis(Duration.fromInputUnsafe(h.timeout)),
      h.onFailure ?? "continue"
    ])
  ])

// The CLI lists a server's tools once, when the process starts: their names, descriptions and input schemas
// are bound to it; their handlers are the lease's, called through the pool.
const toolkitShape = (servers: McpTools.Resolved) =>
  Object.entries(servers).map(([server, served]) => [
    server,
    Object.values(served.tools).map((tool) => [
      tool.name,
      tool.description ?? null,
      Option.getOrNull(McpTools.inputSchema(tool))
    ])
  ])

/**
 * The pool key of a configuration: a hash of everything that makes two sessions incompatible. Never
 * contains a secret (the credential enters as its identity hash, and the whole key is hashed again).
 * `servers` are the configuration's toolkits, resolved (`McpTools.resolve(config.tools)`).
 */
export const keyOf = (
  options: ClaudeOptions.ClaudeOptions,
  config: Session.Config,
  credential: Option.Option<TokenManager.Credential>,
  servers: McpTools.Resolved = {}
): string =>
  createHash("sha256").update(JSON.stringify(canonical({
    credential: Option.match(credential, { onNone: () => null, onSome: (c) => c.identity }),
    options: processOptions(options),
    hooks: hookShape(config.hooks),
    // `--permission-prompt-tool stdio` is passed only to processes whose leases bring a callback.
    permissionCallback: config.canUseTool !== undefined,
    // Declared in `initialize`: the CLI sends dialogs of these kinds only.
    dialogKinds: config.supportedDialogKinds ?? [],
    controlTimeout: config.controlTimeout === undefined ? null : Duration.fromInputUnsafe(config.controlTimeout),
    tools: toolkitShape(servers),
    toolTimeout: config.toolTimeout === undefined ? null : Duration.fromInputUnsafe(config.toolTimeout),
    // Bound when the process starts: `debug` adds `--debug-file`, the others shape its spans and log.
    debug: config.debug === true,
    tracePrompts: config.tracePrompts === true,
    debugLog: config.debugLog ?? null
  }))).digest("hex").slice(0, 16)

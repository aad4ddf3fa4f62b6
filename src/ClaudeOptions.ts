/**
 * Everything a user can set for a session, as a Schema, and its pure mapping
 * to the CLI's argv.
 *
 * Names follow the official Agent SDK where it has one. The schema is exact:
 * `validate` fails on every key it does not declare, at every level. Every
 * value goes on argv as a single `--flag=value` token, so no value, whatever it
 * starts with, can be read as a flag of its own (a system prompt too long for
 * one argument goes through the CLI's `--system-prompt-file` instead, see
 * `ProcessManager`). Prompts never go on argv.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Schema } from "effect"
import * as ClaudeError from "./ClaudeError.ts"
import { formatIssues, strict } from "./internal/issues.ts"
import { maxDepth, valueNestsDeeperThan } from "./internal/nesting.ts"
import { ExtraArgs } from "./internal/options/extraArgs.ts"
import { NonEmptyText, Text } from "./internal/options/text.ts"
import * as ResourceLimits from "./ResourceLimits.ts"

/**
 * A positive, finite duration: a `Duration`, or a number of milliseconds.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DurationInput = Schema.Union([
  Schema.Duration.check(
    Schema.makeFilter((d: Duration.Duration) =>
      (Duration.isFinite(d) && Duration.toMillis(d) > 0) || "must be positive and finite"
    )
  ),
  Schema.Finite.check(Schema.isGreaterThan(0))
])

/**
 * The deadlines of a session. Each is optional; see {@link defaultTimeouts}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Timeouts = Schema.Struct({
  /** From spawn to a process ready for its first turn. */
  startup: Schema.optionalKey(DurationInput),
  /** From writing a prompt to the first event of the turn. */
  firstEvent: Schema.optionalKey(DurationInput),
  /** Longest silence between two events while a turn runs (stall detection). */
  idle: Schema.optionalKey(DurationInput),
  /** The whole turn. */
  turn: Schema.optionalKey(DurationInput),
  /** How long shutdown waits after stdin EOF, and again after SIGTERM, before escalating. */
  shutdownGrace: Schema.optionalKey(DurationInput)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Timeouts = typeof Timeouts.Type

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultTimeouts = {
  startup: Duration.seconds(30),
  firstEvent: Duration.minutes(2),
  idle: Duration.minutes(5),
  turn: Duration.minutes(30),
  shutdownGrace: Duration.seconds(5)
} as const

/**
 * Permission modes the CLI accepts. Every one is passed (`"default"` too, as the Agent SDK does), so the
 * mode is the one asked for whatever the user's settings' `defaultMode` says.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PermissionMode = Schema.Literals([
  "default",
  "acceptEdits",
  "auto",
  "bypassPermissions",
  "manual",
  "dontAsk",
  "plan"
])

/**
 * @since 0.1.0
 * @category models
 */
export type PermissionMode = typeof PermissionMode.Type

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/
// A key schema on a Record drops keys that fail it; check the names instead, so a bad one is an error.
const Environment = Schema.Record(Schema.String, Text).check(
  Schema.makeFilter((env) => {
    const bad = Object.keys(env).filter((name) => !envName.test(name))
    return bad.length === 0 || `invalid environment variable names: ${bad.map((n) => JSON.stringify(n)).join(", ")}`
  })
)
const Uuid = Schema.String.check(
  Schema.isPattern(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, { expected: "a UUID" })
)
const SessionIdText = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/))
const ToolName = NonEmptyText

// A JSON object passed on as JSON (an MCP server, settings, a JSON Schema), within the nesting bound.
const JsonObject = Schema.Record(Schema.String, Schema.Unknown).check(
  Schema.makeFilter((value) => !valueNestsDeeperThan(value, maxDepth) || `must not nest deeper than ${maxDepth} levels`)
)

/**
 * An MCP server definition, passed to the CLI through `--mcp-config` as JSON.
 *
 * @since 0.1.0
 * @category schemas
 */
export const McpServerConfig = JsonObject

/**
 * A subagent the main agent may hand work to (the Agent SDK's `AgentDefinition`), passed with `--agents`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AgentDefinition = Schema.Struct({
  /** When the main agent should use it: the model reads this to decide. */
  description: NonEmptyText,
  /** Its system prompt. */
  prompt: Text,
  /** The tools it may use (all of the main agent's when absent). */
  tools: Schema.optionalKey(Schema.Array(ToolName)),
  disallowedTools: Schema.optionalKey(Schema.Array(ToolName)),
  /** `"sonnet"`, `"opus"`, `"haiku"`, `"inherit"` or a model id. */
  model: Schema.optionalKey(NonEmptyText),
  maxTurns: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))),
  skills: Schema.optionalKey(Schema.Array(NonEmptyText)),
  /** A first user message it starts with. */
  initialPrompt: Schema.optionalKey(Text)
})

/**
 * @since 0.1.0
 * @category models
 */
export type AgentDefinition = typeof AgentDefinition.Type

/**
 * A plugin of the CLI's (commands, agents, hooks, MCP servers), loaded from a local directory or `.zip`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PluginConfig = Schema.Struct({
  type: Schema.Literal("local"),
  path: NonEmptyText,
  /** Load it without starting the MCP servers it declares (`--plugin-dir-no-mcp`). */
  skipMcpDiscovery: Schema.optionalKey(Schema.Boolean)
})

/**
 * How hard the model thinks (`--effort`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const EffortLevel = Schema.Literals(["low", "medium", "high", "xhigh", "max"])

const ThinkingDisplay = Schema.optionalKey(Schema.Literals(["summarized", "omitted"]))

/**
 * Extended thinking (the Agent SDK's `ThinkingConfig`): `adaptive` lets the model decide, `enabled` with a
 * budget of tokens, `disabled` turns it off.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Thinking = Schema.Union([
  Schema.Struct({
    type: Schema.Literal("enabled"),
    budgetTokens: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))),
    display: ThinkingDisplay
  }),
  Schema.Struct({ type: Schema.Literal("adaptive"), display: ThinkingDisplay }),
  Schema.Struct({ type: Schema.Literal("disabled") })
])

/**
 * @since 0.1.0
 * @category models
 */
export type Thinking = typeof Thinking.Type

/**
 * The system prompt: your own text (replacing Claude Code's), or Claude Code's own (`preset`) with `append`
 * added to its end, as the Agent SDK takes it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SystemPrompt = Schema.Union([
  Text,
  Schema.Struct({
    type: Schema.Literal("preset"),
    preset: Schema.Literal("claude_code"),
    append: Schema.optionalKey(Text)
  })
])

/**
 * Structured output (the Agent SDK's `outputFormat`): the CLI gets `schema` as `--json-schema`, offers the
 * model a `StructuredOutput` tool with it as input schema, and puts the object the model gave in the
 * result's `structured_output`. The CLI checks it with Ajv (JSON Schema draft-07, strict mode): a schema it
 * cannot compile makes it exit at start-up. `Claude.generateObject` derives this from an Effect Schema.
 * A schema is a process's, given on argv: it is part of the pool key, and a session keeps it for every turn.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OutputFormat = Schema.Struct({
  type: Schema.Literal("json_schema"),
  schema: JsonObject
})

/**
 * @since 0.1.0
 * @category models
 */
export type OutputFormat = typeof OutputFormat.Type

/**
 * The options of a session or a one-shot query.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ClaudeOptions = Schema.Struct({
  model: Schema.optionalKey(NonEmptyText),
  fallbackModel: Schema.optionalKey(NonEmptyText),
  /** Your own system prompt, or Claude Code's (`{ type: "preset", preset: "claude_code", append }`). */
  systemPrompt: Schema.optionalKey(SystemPrompt),
  appendSystemPrompt: Schema.optionalKey(Text),
  maxTurns: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))),
  maxBudgetUsd: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThan(0))),
  allowedTools: Schema.optionalKey(Schema.Array(ToolName)),
  disallowedTools: Schema.optionalKey(Schema.Array(ToolName)),
  /** The built-in tools available at all (`--tools`); `[]` for none. */
  tools: Schema.optionalKey(Schema.Array(ToolName)),
  permissionMode: Schema.optionalKey(PermissionMode),
  cwd: Schema.optionalKey(NonEmptyText),
  additionalDirectories: Schema.optionalKey(Schema.Array(NonEmptyText)),
  mcpServers: Schema.optionalKey(Schema.Record(Schema.String, McpServerConfig)),
  strictMcpConfig: Schema.optionalKey(Schema.Boolean),
  /** A CLI session id to resume. */
  resume: Schema.optionalKey(SessionIdText),
  /** Continue the most recent conversation in `cwd`. */
  continue: Schema.optionalKey(Schema.Boolean),
  /** With `resume` or `continue`: branch into a new session id instead of appending. */
  forkSession: Schema.optionalKey(Schema.Boolean),
  /** The new conversation's session id (a UUID; with `resume` or `continue` only when forking). */
  sessionId: Schema.optionalKey(Uuid),
  /** With `resume`: resume only up to this message (its `uuid`), dropping what came after. */
  resumeSessionAt: Schema.optionalKey(NonEmptyText),
  /** `false`: the CLI keeps no transcript on disk, so the conversation cannot be resumed (nor retried). */
  persistSession: Schema.optionalKey(Schema.Boolean),
  /**
   * The CLI backs up each file before its tools change it (under its config dir's `file-history/`), so the
   * changes can be rewound (`CLAUDE_CODE_ENABLE_SDK_FILE_CHECKPOINTING`, as the Agent SDK sets it).
   */
  enableFileCheckpointing: Schema.optionalKey(Schema.Boolean),
  /** Stream token deltas (`TextDelta`, `ThinkingDelta`, `ToolInputDelta` events). */
  includePartialMessages: Schema.optionalKey(Schema.Boolean),
  /** Settings: a file path or JSON text, or the settings as an object (`--settings`). */
  settings: Schema.optionalKey(Schema.Union([NonEmptyText, JsonObject])),
  /**
   * The CLI's sandbox for its Bash tool (its settings' `sandbox`: `enabled`, `failIfUnavailable`, `network`,
   * `filesystem`, ...), merged into `settings` as the Agent SDK merges it; `failIfUnavailable` defaults to
   * `true` when `enabled`, so a host without the sandbox's tools (bubblewrap, socat) fails at start-up
   * rather than running unsandboxed. Needs `settings`, if any, as an object.
   */
  sandbox: Schema.optionalKey(JsonObject),
  settingSources: Schema.optionalKey(Schema.Array(Schema.Literals(["user", "project", "local"]))),
  /** Structured output: see {@link OutputFormat}. */
  outputFormat: Schema.optionalKey(OutputFormat),
  /** Subagents by name (`--agents`): see {@link AgentDefinition}. */
  agents: Schema.optionalKey(Schema.Record(NonEmptyText, AgentDefinition)),
  /** The agent the main thread runs as (`--agent`): one of `agents`, or one the CLI knows. */
  agent: Schema.optionalKey(NonEmptyText),
  /** Extended thinking: see {@link Thinking}. */
  thinking: Schema.optionalKey(Thinking),
  /** The thinking budget in tokens (the Agent SDK's older form of `thinking: { type: "enabled" }`). */
  maxThinkingTokens: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))),
  effort: Schema.optionalKey(EffortLevel),
  /** Plugins for this process (`--plugin-dir`): see {@link PluginConfig}. */
  plugins: Schema.optionalKey(Schema.Array(PluginConfig)),
  /** API beta features (`--betas`), e.g. `"context-1m-2025-08-07"`. */
  betas: Schema.optionalKey(Schema.Array(NonEmptyText)),
  /** The CLI reports its hooks' runs as `system/hook_*` frames (`--include-hook-events`). */
  includeHookEvents: Schema.optionalKey(Schema.Boolean),
  /**
   * The MCP tool the CLI asks before a tool runs that needs approval (`mcp__<server>__<tool>`, e.g. a tool
   * of `config.tools`): it gets `{ tool_name, input, tool_use_id }` and answers with the JSON text of
   * `{ behavior: "allow", updatedInput }` or `{ behavior: "deny", message }`. Not with `canUseTool`.
   */
  permissionPromptToolName: Schema.optionalKey(NonEmptyText),
  /** Lets `permissionMode` be `bypassPermissions` where settings would refuse it. */
  allowDangerouslySkipPermissions: Schema.optionalKey(Schema.Boolean),
  /**
   * Flags of the CLI this library has no option for, the Agent SDK's escape hatch: a flag name (no dashes)
   * to its value, or `null` for a bare flag. Each goes on argv as one `--name=value` token; flags an option
   * sets, and the protocol's, are refused.
   */
  extraArgs: Schema.optionalKey(ExtraArgs),
  /** Environment additions for the CLI (on top of the allow-listed host environment). */
  env: Schema.optionalKey(Environment),
  /** Path of the CLI executable. Default: `CLAUDE_CODE_EXECUTABLE`, then `PATH`, then `node_modules/.bin`. */
  executable: Schema.optionalKey(NonEmptyText),
  timeouts: Schema.optionalKey(Timeouts),
  /**
   * How many times the CLI itself retries a failed API call (429, 5xx, connection errors, and a 401 before
   * the session fails it fast): the child's `CLAUDE_CODE_MAX_RETRIES`, which wins over one in `env`. The
   * CLI's default is 10, with delays growing to about 40 s; it never retries a 529 more than twice.
   */
  maxApiRetries: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  /** Lines of CLI output longer than this are reported and dropped. */
  maxLineBytes: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(1023))),
  /**
   * Resource limits of the CLI process (memory, CPU, files, processes, niceness, wall time per turn):
   * see `ResourceLimits` for how each is enforced, and on which platform. Part of the pool key.
   */
  limits: Schema.optionalKey(ResourceLimits.Limits)
}).check(
  Schema.makeFilter((o) =>
    o.forkSession === true && o.resume === undefined && o.continue !== true
      ? "forkSession needs resume or continue"
      : true
  ),
  Schema.makeFilter((o) =>
    o.resume !== undefined && o.continue === true ? "resume and continue cannot be used together" : true
  ),
  Schema.makeFilter((o) =>
    o.sandbox !== undefined && typeof o.settings === "string"
      ? "sandbox needs settings as an object (it is merged into them), not a path or JSON text"
      : true
  ),
  Schema.makeFilter((o) =>
    o.resumeSessionAt !== undefined && o.resume === undefined ? "resumeSessionAt needs resume" : true
  ),
  Schema.makeFilter((o) =>
    o.sessionId !== undefined && (o.resume !== undefined || o.continue === true) && o.forkSession !== true
      ? "sessionId with resume or continue needs forkSession (the resumed conversation keeps its own id)"
      : true
  ),
  Schema.makeFilter((o) =>
    o.thinking !== undefined && o.maxThinkingTokens !== undefined
      ? "thinking and maxThinkingTokens cannot be used together (thinking: { type: \"enabled\", budgetTokens })"
      : true
  ),
  Schema.makeFilter((o) =>
    typeof o.systemPrompt === "object" && o.systemPrompt.append !== undefined && o.appendSystemPrompt !== undefined
      ? "systemPrompt.append and appendSystemPrompt cannot be used together"
      : true
  )
)

/**
 * @since 0.1.0
 * @category models
 */
export type ClaudeOptions = typeof ClaudeOptions.Type

/**
 * What callers pass: the same fields, before validation.
 *
 * @since 0.1.0
 * @category models
 */
export type Input = typeof ClaudeOptions.Encoded

const decodeOptions = Schema.decodeUnknownEffect(ClaudeOptions)

/**
 * Validates options. Fails with `InvalidOptions` naming every problem, before anything is spawned: a value
 * of the wrong kind, and every key that is not an option (`temperature`, `timeouts.idel`), each with its
 * path and, when it is a near miss of one, the option it was likely meant to be. Unknown keys are never
 * dropped: the CLI would otherwise run with defaults the caller did not ask for.
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (input: unknown): Effect.Effect<ClaudeOptions, ClaudeError.ClaudeError> =>
  decodeOptions(input ?? {}, strict).pipe(
    Effect.mapError((error) => ClaudeError.make(new ClaudeError.InvalidOptions({ issues: formatIssues(error.issue) })))
  )

/**
 * The flags of a session over the stream-json protocol (prompts arrive on stdin).
 *
 * @since 0.1.0
 * @category constants
 */
export const sessionFlags: ReadonlyArray<string> = [
  "--output-format=stream-json",
  "--verbose",
  "--input-format=stream-json"
]

// `sandbox` goes into the settings, as the Agent SDK puts it there.
const settingsOf = (options: ClaudeOptions): string | undefined => {
  const { sandbox, settings } = options
  if (sandbox === undefined) return typeof settings === "object" ? JSON.stringify(settings) : settings
  const failIfUnavailable = sandbox.enabled === true && sandbox.failIfUnavailable === undefined
  return JSON.stringify({
    ...(typeof settings === "object" ? settings : {}),
    sandbox: failIfUnavailable ? { ...sandbox, failIfUnavailable: true } : sandbox
  })
}

// As the Agent SDK maps them: `enabled` without a budget is adaptive; `display` only where thinking is on.
const thinkingFlags = (
  options: ClaudeOptions,
  flag: (name: string, value: string | number | undefined) => void
) => {
  const thinking = options.thinking
  if (thinking === undefined) return flag("max-thinking-tokens", options.maxThinkingTokens)
  if (thinking.type === "disabled") return flag("thinking", "disabled")
  if (thinking.type === "enabled" && thinking.budgetTokens !== undefined) {
    flag("max-thinking-tokens", thinking.budgetTokens)
  } else {
    flag("thinking", "adaptive")
  }
  flag("thinking-display", thinking.display)
}

/**
 * Maps validated options to argv (without the executable). Pure.
 *
 * @since 0.1.0
 * @category argv
 */
export const toArgs = (
  options: ClaudeOptions,
  extra?: {
    readonly permissionPromptTool?: boolean
    /** The host's in-process MCP servers (`McpTools`), added to `--mcp-config` as `{ "type": "sdk" }`. */
    readonly sdkMcpServers?: ReadonlyArray<string>
  }
): Array<string> => {
  const args = [...sessionFlags]
  const flag = (name: string, value: string | number | undefined) => {
    if (value !== undefined) args.push(`--${name}=${value}`)
  }
  const toggle = (name: string, on: boolean | undefined) => {
    if (on === true) args.push(`--${name}`)
  }
  flag("model", options.model)
  flag("fallback-model", options.fallbackModel)
  // The preset is the CLI's own prompt: no flag but what it appends.
  const systemPrompt = options.systemPrompt
  flag("system-prompt", typeof systemPrompt === "string" ? systemPrompt : undefined)
  flag("append-system-prompt", typeof systemPrompt === "object" ? systemPrompt.append : options.appendSystemPrompt)
  flag("max-turns", options.maxTurns)
  flag("max-budget-usd", options.maxBudgetUsd)
  flag("allowedTools", options.allowedTools?.join(","))
  flag("disallowedTools", options.disallowedTools?.join(","))
  flag("tools", options.tools?.join(","))
  flag("permission-mode", options.permissionMode)
  toggle("allow-dangerously-skip-permissions", options.allowDangerouslySkipPermissions)
  for (const dir of options.additionalDirectories ?? []) flag("add-dir", dir)
  const sdkMcpServers = extra?.sdkMcpServers ?? []
  if (options.mcpServers !== undefined || sdkMcpServers.length > 0) {
    const sdk = Object.fromEntries(sdkMcpServers.map((name) => [name, { type: "sdk", name }]))
    flag("mcp-config", JSON.stringify({ mcpServers: { ...options.mcpServers, ...sdk } }))
  }
  toggle("strict-mcp-config", options.strictMcpConfig)
  flag("resume", options.resume)
  toggle("continue", options.continue)
  toggle("fork-session", options.forkSession)
  flag("session-id", options.sessionId)
  flag("resume-session-at", options.resumeSessionAt)
  toggle("no-session-persistence", options.persistSession === false)
  toggle("include-partial-messages", options.includePartialMessages)
  flag("settings", settingsOf(options))
  flag("setting-sources", options.settingSources?.join(","))
  if (options.outputFormat !== undefined) flag("json-schema", JSON.stringify(options.outputFormat.schema))
  if (options.agents !== undefined) flag("agents", JSON.stringify(options.agents))
  flag("agent", options.agent)
  thinkingFlags(options, flag)
  flag("effort", options.effort)
  flag("betas", options.betas?.join(","))
  toggle("include-hook-events", options.includeHookEvents)
  for (const plugin of options.plugins ?? []) {
    flag(plugin.skipMcpDiscovery === true ? "plugin-dir-no-mcp" : "plugin-dir", plugin.path)
  }
  for (const [name, value] of Object.entries(options.extraArgs ?? {})) {
    args.push(value === null ? `--${name}` : `--${name}=${value}`)
  }
  flag("permission-prompt-tool", extra?.permissionPromptTool === true ? "stdio" : options.permissionPromptToolName)
  return args
}

/**
 * The options that pick a conversation rather than configure a process.
 *
 * @since 0.1.0
 * @category models
 */
export type ConversationKeys = "resume" | "continue" | "forkSession" | "sessionId" | "resumeSessionAt"

/**
 * The options without those that pick a conversation ({@link ConversationKeys}): what a process is started
 * with, whatever conversation it holds. Pure.
 *
 * @since 0.1.0
 * @category accessors
 */
export const withoutConversation = <O extends Partial<Record<ConversationKeys, unknown>>>(
  options: O
): Omit<O, ConversationKeys> => {
  const {
    continue: _continue,
    forkSession: _fork,
    resume: _resume,
    resumeSessionAt: _resumeAt,
    sessionId: _sessionId,
    ...rest
  } = options
  return rest
}

/**
 * The environment additions of the CLI's process: `env`, plus what other options map to
 * (`maxApiRetries` as `CLAUDE_CODE_MAX_RETRIES`, `enableFileCheckpointing`), and
 * `CLAUDE_CODE_SDK_READS_SESSION_STATE=1` unless `env` says otherwise: the CLI then reports when it runs a turn
 * of its own (to tell the model a background task settled), as it does for the Agent SDK. Pure.
 *
 * @since 0.1.0
 * @category environment
 */
export const toEnv = (options: ClaudeOptions): Record<string, string> => ({
  CLAUDE_CODE_SDK_READS_SESSION_STATE: "1",
  ...options.env,
  ...(options.maxApiRetries === undefined ? {} : { CLAUDE_CODE_MAX_RETRIES: String(options.maxApiRetries) }),
  ...(options.enableFileCheckpointing === true ? { CLAUDE_CODE_ENABLE_SDK_FILE_CHECKPOINTING: "true" } : {})
})

const toDuration = (value: Duration.Duration | number) => (typeof value === "number" ? Duration.millis(value) : value)

/**
 * A timeout of the options, or its default. The `turn` timeout is also bounded by `limits.maxWallTime`:
 * the smaller of the two is the turn's deadline.
 *
 * @since 0.1.0
 * @category accessors
 */
export const timeout = (options: ClaudeOptions, kind: keyof Timeouts): Duration.Duration => {
  const value = options.timeouts?.[kind]
  const configured = value === undefined ? defaultTimeouts[kind] : toDuration(value)
  const wall = kind === "turn" ? options.limits?.maxWallTime : undefined
  return wall === undefined ? configured : Duration.min(configured, toDuration(wall))
}

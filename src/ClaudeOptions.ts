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
import * as ResourceLimits from "./ResourceLimits.ts"

const noNul = Schema.makeFilter((s: string) => !s.includes("\u0000") || "must not contain NUL characters")

const Text = Schema.String.check(noNul)
const NonEmptyText = Schema.String.check(Schema.isNonEmpty(), noNul)

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
 * Permission modes the CLI accepts. `"default"` (the Agent SDK's name) passes no flag.
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
const SessionIdText = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/))
const ToolName = NonEmptyText

/**
 * An MCP server definition, passed to the CLI through `--mcp-config` as JSON.
 *
 * @since 0.1.0
 * @category schemas
 */
export const McpServerConfig = Schema.Record(Schema.String, Schema.Unknown).check(
  Schema.makeFilter((config) =>
    !valueNestsDeeperThan(config, maxDepth) || `must not nest deeper than ${maxDepth} levels`
  )
)

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
  schema: Schema.Record(Schema.String, Schema.Unknown).check(
    Schema.makeFilter((schema) =>
      !valueNestsDeeperThan(schema, maxDepth) || `must not nest deeper than ${maxDepth} levels`
    )
  )
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
  systemPrompt: Schema.optionalKey(Text),
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
  /** Stream token deltas (`TextDelta`, `ThinkingDelta`, `ToolInputDelta` events). */
  includePartialMessages: Schema.optionalKey(Schema.Boolean),
  /** Settings file path or JSON (`--settings`). */
  settings: Schema.optionalKey(NonEmptyText),
  settingSources: Schema.optionalKey(Schema.Array(Schema.Literals(["user", "project", "local"]))),
  /** Structured output: see {@link OutputFormat}. */
  outputFormat: Schema.optionalKey(OutputFormat),
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
  flag("system-prompt", options.systemPrompt)
  flag("append-system-prompt", options.appendSystemPrompt)
  flag("max-turns", options.maxTurns)
  flag("max-budget-usd", options.maxBudgetUsd)
  flag("allowedTools", options.allowedTools?.join(","))
  flag("disallowedTools", options.disallowedTools?.join(","))
  flag("tools", options.tools?.join(","))
  if (options.permissionMode !== undefined && options.permissionMode !== "default") {
    flag("permission-mode", options.permissionMode)
  }
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
  toggle("include-partial-messages", options.includePartialMessages)
  flag("settings", options.settings)
  flag("setting-sources", options.settingSources?.join(","))
  if (options.outputFormat !== undefined) flag("json-schema", JSON.stringify(options.outputFormat.schema))
  if (extra?.permissionPromptTool === true) flag("permission-prompt-tool", "stdio")
  return args
}

/**
 * The environment additions of the CLI's process: `env`, plus what other options map to
 * (`maxApiRetries` as `CLAUDE_CODE_MAX_RETRIES`). Pure.
 *
 * @since 0.1.0
 * @category environment
 */
export const toEnv = (options: ClaudeOptions): Record<string, string> => ({
  ...options.env,
  ...(options.maxApiRetries === undefined ? {} : { CLAUDE_CODE_MAX_RETRIES: String(options.maxApiRetries) })
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

/**
 * What callers hand over, checked before anything is spawned or written: session configs, pool lease
 * configs, `Claude.query`'s arguments, and prompts. Configs are exact (every unknown key is an error, see
 * `issues.ts`); each value is checked for its kind, so a `controlTimeout: "abc"` is a typed `InvalidOptions`
 * rather than a defect, and a `debug: "yes"` is not quietly off.
 */
import { Duration, Effect, Option, Predicate, Result, Schema } from "effect"
import * as ClaudeError from "../ClaudeError.ts"
import * as ClaudeOptions from "../ClaudeOptions.ts"
import * as HookEvents from "../Hooks.ts"
import * as McpTools from "../McpTools.ts"
import type * as Protocol from "../Protocol.ts"
import { formatIssues, strict } from "./issues.ts"
import { maxDepth, valueNestsDeeperThan } from "./nesting.ts"

const Fn = Schema.declare(Predicate.isFunction, { expected: "a function" })

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

const DurationUnit = Schema.Literals([
  "nano",
  "nanos",
  "micro",
  "micros",
  "milli",
  "millis",
  "second",
  "seconds",
  "minute",
  "minutes",
  "hour",
  "hours",
  "day",
  "days",
  "week",
  "weeks"
])

/** Every form `Duration.Input` takes. */
const DurationForms = Schema.Union([
  Schema.Duration,
  Schema.Number,
  Schema.BigInt,
  Schema.Tuple([Schema.Number, Schema.Number]),
  Schema.TemplateLiteral([Schema.Number, " ", DurationUnit]),
  Schema.Literals(["Infinity", "-Infinity"]),
  Schema.Struct({
    weeks: Schema.optional(Schema.Number),
    days: Schema.optional(Schema.Number),
    hours: Schema.optional(Schema.Number),
    minutes: Schema.optional(Schema.Number),
    seconds: Schema.optional(Schema.Number),
    milliseconds: Schema.optional(Schema.Number),
    microseconds: Schema.optional(Schema.Number),
    nanoseconds: Schema.optional(Schema.Number)
  })
])

/** A `Duration.Input` (one message for a value of none of its forms), positive and finite. */
const ConfigDuration = Schema.declare(Schema.is(DurationForms), {
  expected: "a duration (a Duration, milliseconds, or text such as \"10 seconds\")"
}).check(
  Schema.makeFilter((input) =>
    Option.match(Duration.fromInput(input), {
      onNone: () => false,
      onSome: (d) => Duration.isFinite(d) && Duration.isPositive(d)
    }) || "must be a positive, finite duration"
  )
)

const HookHandlers = Schema.optional(
  Schema.Array(Schema.Struct({
    matcher: Schema.optional(Schema.String),
    timeout: Schema.optional(ConfigDuration),
    onFailure: Schema.optional(Schema.Literals(["continue", "block"])),
    handle: Fn
  }))
)

const Hooks = Schema.Struct(Object.fromEntries(HookEvents.events.map((event) => [event, HookHandlers])))

const DebugLogLimits = Schema.Struct({
  frames: Schema.optional(NonNegativeInt),
  lifecycleEvents: Schema.optional(NonNegativeInt),
  debugFileBytes: Schema.optional(NonNegativeInt)
})

const Restart = Schema.Struct({
  maxRestarts: Schema.optional(NonNegativeInt),
  window: Schema.optional(ConfigDuration)
})

const ToolkitInput = Schema.declare(
  (u: unknown): u is McpTools.ToolkitInput => Effect.isEffect(u) || McpTools.isServed(u),
  { expected: "an effect/ai Toolkit (or an Effect of one with its handlers)" }
)

// The fields of `Session.Config` other than its options; `Claude.QueryConfig` picks some of them.
const handlerFields = {
  canUseTool: Schema.optional(Fn),
  hooks: Schema.optional(Hooks),
  onElicitation: Schema.optional(Fn),
  onUserDialog: Schema.optional(Fn),
  supportedDialogKinds: Schema.optional(Schema.Array(Schema.String)),
  tools: Schema.optional(Schema.Record(Schema.String, ToolkitInput)),
  toolTimeout: Schema.optional(ConfigDuration)
}
const modeFields = {
  controlTimeout: Schema.optional(ConfigDuration),
  tracePrompts: Schema.optional(Schema.Boolean),
  debug: Schema.optional(Schema.Boolean),
  debugLog: Schema.optional(DebugLogLimits)
}
const Options = Schema.optional(ClaudeOptions.ClaudeOptions)
const sticky = Schema.optional(Schema.Boolean)

// The CLI asks one of them: a callback over stdio, or an MCP tool.
const onePermissionPrompt = (
  canUseTool: unknown,
  options: { readonly permissionPromptToolName?: string | undefined } | undefined
) =>
  canUseTool !== undefined && options?.permissionPromptToolName !== undefined
    ? "canUseTool and options.permissionPromptToolName cannot be used together: the CLI asks one of them"
    : true

// Declared kinds are sent to the CLI, which then waits for someone to show them.
const dialogsNeedCallback = (config: {
  readonly onUserDialog?: unknown
  readonly supportedDialogKinds?: ReadonlyArray<string> | undefined
}) =>
  (config.supportedDialogKinds ?? []).length > 0 && config.onUserDialog === undefined
    ? "supportedDialogKinds needs onUserDialog: a dialog of a declared kind would have nobody to show it"
    : true

/** `Session.Config`. */
const SessionConfig = Schema.Struct({
  options: Options,
  ...handlerFields,
  ...modeFields,
  restart: Schema.optional(Restart)
}).check(
  Schema.makeFilter((config) => onePermissionPrompt(config.canUseTool, config.options)),
  Schema.makeFilter(dialogsNeedCallback)
)
/**
 * `SessionPool.LeaseConfig`: a session config, and `sticky`; `restart` is refused by name: the pool replaces a
 * process that died rather than respawning it in place.
 */
const NoRestart = Schema.declare((_: unknown): _ is never => false, {
  expected: "no restart policy (a pooled session is never respawned in place: the pool replaces a process that dies)"
})
const LeaseConfig = Schema.Struct({ ...SessionConfig.fields, restart: Schema.optional(NoRestart), sticky }).check(
  Schema.makeFilter((config) => onePermissionPrompt(config.canUseTool, config.options)),
  Schema.makeFilter(dialogsNeedCallback)
)
/** `Claude.query(prompt, options, config)`'s options and config, named as such in messages. */
const QueryArguments = Schema.Struct({
  options: Options,
  config: Schema.optional(Schema.Struct({ ...handlerFields, ...modeFields, sticky }))
}).check(
  Schema.makeFilter((query) => onePermissionPrompt(query.config?.canUseTool, query.options)),
  Schema.makeFilter((query) => dialogsNeedCallback(query.config ?? {}))
)

const invalid = (error: Schema.SchemaError) =>
  ClaudeError.make(new ClaudeError.InvalidOptions({ issues: formatIssues(error.issue) }))

const validateWith = <S extends Schema.Codec<{ readonly options?: ClaudeOptions.Input | undefined }, unknown>>(
  schema: S
) => {
  const decode = Schema.decodeUnknownEffect(schema)
  return (input: unknown): Effect.Effect<ClaudeOptions.ClaudeOptions, ClaudeError.ClaudeError> =>
    decode(input ?? {}, strict).pipe(Effect.map((decoded) => decoded.options ?? {}), Effect.mapError(invalid))
}

/**
 * Checks a `Session.Config`, its options included, and returns the validated options. Paths in the
 * message are the config's (`options.timeouts.idel`, `debugLog.frames`).
 */
export const validateSessionConfig = validateWith(SessionConfig)

/** Checks a `SessionPool.LeaseConfig` as {@link validateSessionConfig} does, `sticky` included. */
export const validateLeaseConfig = validateWith(LeaseConfig)

/**
 * Checks `Claude.query`'s options and config together, so one error names every problem of both:
 * `options.thinking`, `config.tracePrompt`.
 */
export const validateQuery = (options: unknown, config: unknown) => validateWith(QueryArguments)({ options, config })

/**
 * Checks the toolkits a session serves, with its options: each server name and tool servable
 * (`McpTools.problems`), and no server named in `options.mcpServers` too.
 */
export const validateTools = (
  servers: McpTools.Resolved,
  options: ClaudeOptions.ClaudeOptions
): Effect.Effect<void, ClaudeError.ClaudeError> => {
  const clashes = Object.keys(servers).filter((name) => Object.hasOwn(options.mcpServers ?? {}, name)).map((name) =>
    `tools.${name}: options.mcpServers names a server ${name} too`
  )
  const issues = [...McpTools.problems(servers), ...clashes]
  return issues.length === 0
    ? Effect.void
    : ClaudeError.fail(new ClaudeError.InvalidOptions({ issues: issues.join("\n") }))
}

const Source = Schema.Struct({ type: Schema.String })

/**
 * The blocks a prompt may hold: those the Messages API takes in a user message, each with the fields that
 * make it one. Other fields (`cache_control`, `citations`, ...) travel as given.
 */
const PromptBlock = Schema.Union([
  Schema.Struct({ type: Schema.Literal("text"), text: Schema.String }),
  Schema.Struct({ type: Schema.Literal("image"), source: Source }),
  Schema.Struct({ type: Schema.Literal("document"), source: Source }),
  Schema.Struct({ type: Schema.Literal("search_result"), source: Schema.String }),
  Schema.Struct({ type: Schema.Literal("tool_result"), tool_use_id: Schema.String })
]).annotate({
  expected: "a content block of type \"text\", \"image\", \"document\", \"search_result\" or \"tool_result\""
})

const Prompt = Schema.Union([Schema.String, Schema.Array(PromptBlock)]).annotate({
  expected: "text, or an array of content blocks"
})

const decodePrompt = Schema.decodeUnknownResult(Prompt)

/** What is wrong with a prompt, or `undefined` when it can be sent. Pure; nothing is copied. */
export const promptIssues = (prompt: unknown): string | undefined => {
  if (typeof prompt === "string") return undefined
  const decoded = decodePrompt(prompt, { errors: "all" })
  if (Result.isFailure(decoded)) return formatIssues(decoded.failure.issue)
  return valueNestsDeeperThan(prompt, maxDepth)
    ? `nested deeper than ${maxDepth} levels: too deep to serialise as a frame`
    : undefined
}

/** Fails with `InvalidPrompt` when the prompt cannot be sent; succeeds with the prompt as given. */
export const validatePrompt = (
  prompt: Protocol.UserContent
): Effect.Effect<Protocol.UserContent, ClaudeError.ClaudeError> => {
  const issues = promptIssues(prompt)
  return issues === undefined ? Effect.succeed(prompt) : ClaudeError.fail(new ClaudeError.InvalidPrompt({ issues }))
}

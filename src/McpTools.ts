/**
 * In-process tools: effect/ai `Toolkit`s served to the CLI as SDK MCP servers, over the control protocol
 * (the Agent SDK's `createSdkMcpServer`). Write a tool once with `Tool.make`, group tools with
 * `Toolkit.make`, implement them with `toolkit.toLayer(...)`, and hand the toolkit to a query, a session or
 * a pool lease under a server name:
 *
 * ```ts
 * Claude.query("add 2 and 40", { allowedTools: ["mcp__calc__add"] }, { tools: { calc: Calc } })
 * ```
 *
 * The model sees each tool as `mcp__<server>__<tool>`. The handlers come from the caller's context (the
 * toolkit's layer), so a stream or effect given toolkits requires their handlers.
 *
 * What a call does:
 * - the model's arguments are decoded by the tool's parameters Schema; arguments it refuses become a tool
 *   error naming the field, which the model sees (and can correct), never a crash;
 * - a handler that fails gives the model an error result (`isError: true`) holding the failure as the tool's
 *   failure Schema encodes it; a handler that dies gives it a plain error result, and the defect is logged;
 * - a handler that runs longer than its timeout (the tool's {@link Timeout} annotation, else the config's
 *   `toolTimeout`, else {@link defaultTimeout}) is interrupted, and the model gets an error result saying so;
 * - a turn that is interrupted interrupts its running handlers (the CLI cancels their calls).
 *
 * Each call is a `Claude.tool_call` span under the tool use it serves (attributes `claude.mcp.server`,
 * `claude.mcp.tool`, `claude.tool.name`, `claude.tool.use_id`, `claude.tool.outcome`,
 * `claude.tool.duration_ms`), and is counted by `claude_tool_calls_total{server,tool,outcome}` and timed by
 * `claude_tool_call_duration_seconds{server,tool,outcome}` (see `Metrics`).
 *
 * In a `SessionPool`, toolkits are part of the pool key (server names, tool names, descriptions and input
 * Schemas): leases with different toolkits never share a process, and a process reused by a lease with the
 * same toolkits calls that lease's handlers.
 *
 * The CLI defers MCP tools by default: the model finds them through its `ToolSearch` tool. With
 * `ENABLE_TOOL_SEARCH=false` in `options.env` the CLI sends every tool's schema with each request instead.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Option, Predicate, Schema, type Stream } from "effect"
import { McpSchema, Tool } from "effect/ai"

/**
 * A toolkit with its handlers, as `yield* toolkit` gives it (effect/ai's `Toolkit.WithHandler`), seen by
 * tool name: what a server serves.
 *
 * @since 0.1.0
 * @category models
 */
export interface Served {
  readonly tools: Readonly<Record<string, ServedTool>>
  /**
   * Runs the tool `name` on encoded arguments: its results, the last one final. (A method, not a property,
   * so that a `Toolkit.WithHandler` of any tools is a `Served`.)
   */
  handle(
    name: string,
    params: unknown,
    toolCallId?: string
  ): Effect.Effect<Stream.Stream<HandlerResult, unknown>, unknown>
}

/**
 * What a server needs of a tool: an effect/ai `Tool` is one, when its failure Schema encodes without
 * services.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServedTool {
  readonly name: string
  readonly description?: string | undefined
  readonly parametersSchema: Schema.Constraint
  readonly failureSchema: Schema.ConstraintEncoder<unknown>
  readonly annotations: Context.Context<never>
}

/**
 * What a handler produced, as effect/ai's `Tool.HandlerResult` reports it.
 *
 * @since 0.1.0
 * @category models
 */
export interface HandlerResult {
  readonly result: unknown
  readonly encodedResult: unknown
  readonly isFailure: boolean
  readonly failureOrigin?: Tool.FailureOrigin | undefined
  readonly preliminary: boolean
}

/**
 * What a server name maps to: an effect/ai `Toolkit` (its handlers are taken from the context), or an
 * Effect of one with handlers, or a toolkit with its handlers already.
 *
 * @since 0.1.0
 * @category models
 */
export type ToolkitInput = Served | Effect.Effect<Served, never, unknown>

/**
 * In-process MCP servers by name.
 *
 * @since 0.1.0
 * @category models
 */
export type Toolkits = Readonly<Record<string, ToolkitInput>>

/**
 * The services the toolkits of `T` need from the caller's context: their handlers.
 *
 * @since 0.1.0
 * @category models
 */
export type ToolkitServices<T> = {
  readonly [K in keyof T]: T[K] extends Effect.Effect<infer _A, infer _E, infer R> ? R : never
}[keyof T]

/**
 * Toolkits with their handlers, by server name.
 *
 * @since 0.1.0
 * @category models
 */
export type Resolved = Readonly<Record<string, Served>>

/**
 * How long a call of a tool may run, as an annotation of the tool
 * (`Tool.make(...).annotate(McpTools.Timeout, "5 seconds")`); without it the config's `toolTimeout` applies.
 *
 * @since 0.1.0
 * @category annotations
 */
export const Timeout = Context.Reference<Duration.Input | undefined>("effect-claude-code/McpTools/Timeout", {
  defaultValue: () => undefined
})

/**
 * How long a call may run when neither the tool nor the config says: 2 minutes.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTimeout: Duration.Duration = Duration.minutes(2)

/**
 * The name the model calls a tool by: `mcp__<server>__<tool>`.
 *
 * @since 0.1.0
 * @category utils
 */
export const toolName = (server: string, tool: string): string => `mcp__${server}__${tool}`

/**
 * Whether a value is a toolkit with handlers ({@link Served}).
 *
 * @since 0.1.0
 * @category guards
 */
export const isServed = (u: unknown): u is Served =>
  Predicate.hasProperty(u, "tools") && Predicate.isObject(u.tools) && Predicate.hasProperty(u, "handle") &&
  Predicate.isFunction(u.handle)

/**
 * Takes each toolkit's handlers from the context. The stream or effect that serves the toolkits requires
 * what they require ({@link ToolkitServices}).
 *
 * @since 0.1.0
 * @category constructors
 */
export function resolve<const T extends Toolkits>(
  tools: T | undefined
): Effect.Effect<Resolved, never, ToolkitServices<T>>
// One signature for the body: TypeScript cannot follow a record of effects to the union of their
// requirements, which the signature above states.
export function resolve(tools: Toolkits | undefined): Effect.Effect<Resolved, never, unknown> {
  if (tools === undefined) return Effect.succeed({})
  return Effect.forEach(
    Object.entries(tools),
    ([name, input]) =>
      Effect.map(Effect.isEffect(input) ? input : Effect.succeed(input), (served) => [name, served] as const)
  ).pipe(Effect.map((entries): Resolved => Object.fromEntries(entries)))
}

const decodeToolJson = Schema.decodeUnknownOption(McpSchema.ToolJson)

/**
 * A tool's input schema as MCP lists it: the JSON Schema Effect derives from its parameters Schema, when that
 * has an object root (MCP requires one: a `Schema.Struct`, or `Tool.EmptyParams` for no parameters).
 *
 * @since 0.1.0
 * @category utils
 */
export const inputSchema = (tool: ServedTool): Option.Option<McpSchema.ToolJson> =>
  decodeToolJson(Tool.getJsonSchemaFromSchema(tool.parametersSchema))

const serverName = /^[A-Za-z0-9_-]{1,64}$/

/**
 * What makes toolkits unservable, one line each: a server name the CLI would misread (it must be letters,
 * digits, `_` or `-`, and not contain `__`, which separates the parts of `mcp__<server>__<tool>`), or a tool
 * whose parameters have no object root.
 *
 * @since 0.1.0
 * @category validation
 */
export const problems = (servers: Resolved): ReadonlyArray<string> =>
  Object.entries(servers).flatMap(([server, served]) => [
    ...(serverName.test(server) && !server.includes("__")
      ? []
      : [`tools.${server}: a server name is 1 to 64 letters, digits, "_" or "-", without "__"`]),
    ...Object.values(served.tools).flatMap((tool) =>
      Option.isSome(inputSchema(tool))
        ? []
        : [
          `tools.${server}.${tool.name}: its parameters must be an object Schema (a Schema.Struct, or Tool.EmptyParams)`
        ]
    )
  ])

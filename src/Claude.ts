/**
 * The facade: one-shot queries as typed Streams, and the one `Claude.layer`
 * that wires every service on Node.
 *
 * @since 0.1.0
 */
import { NodeServices } from "@effect/platform-node"
import { Context, Effect, Layer, Option, type Schema, type Scope, Stream } from "effect"
import * as ClaudeError from "./ClaudeError.ts"
import type { ClaudeEvent } from "./ClaudeEvent.ts"
import type * as ClaudeOptions from "./ClaudeOptions.ts"
import * as HealthChecker from "./HealthChecker.ts"
import * as SlashCommands from "./internal/slashCommands.ts"
import * as StructuredOutput from "./internal/structuredOutput.ts"
import { validatePrompt, validateQuery } from "./internal/validation.ts"
import * as McpTools from "./McpTools.ts"
import * as ProcessManager from "./ProcessManager.ts"
import * as ProcessReaper from "./ProcessReaper.ts"
import type * as Protocol from "./Protocol.ts"
import * as Resilience from "./Resilience.ts"
import * as Session from "./Session.ts"
import * as SessionPool from "./SessionPool.ts"
import * as TokenManager from "./TokenManager.ts"

/**
 * What a `Claude.query` gives its pooled session besides the options: the
 * permission callback, hook handlers and in-process tools (`tools`: effect/ai
 * toolkits by MCP server name, see `McpTools`; they answer for the process
 * while the query holds it), `sticky`, and debug mode / prompt tracing. Debug
 * mode, prompt tracing, the toolkits' tools and the presence of a permission
 * callback change the CLI's argv or what it may be used for, so they are part
 * of the pool key: such queries never share a process with plain ones.
 *
 * @since 0.1.0
 * @category models
 */
export type QueryConfig<Tools extends McpTools.Toolkits = McpTools.Toolkits> = Pick<
  SessionPool.LeaseConfig<Tools>,
  | "canUseTool"
  | "hooks"
  | "onElicitation"
  | "onUserDialog"
  | "supportedDialogKinds"
  | "sticky"
  | "debug"
  | "debugLog"
  | "tracePrompts"
  | "controlTimeout"
  | "tools"
  | "toolTimeout"
>

/**
 * The facade: one-shot queries on the warm pool, and sessions on processes of their own.
 *
 * @since 0.1.0
 * @category services
 */
export class Claude extends Context.Service<Claude, {
  /**
   * Runs a new conversation's first turn on a warm process of the
   * `SessionPool` and streams its events. The stream fails with a
   * `ClaudeError` when the turn fails (after emitting everything that
   * arrived, the `Result` event included). When the stream ends the process
   * goes back to the pool and is recycled with a verified `/clear`; a process
   * whose turn failed, timed out or was abandoned mid-turn is stopped instead.
   * `options.resume` continues an earlier conversation (on its parked process
   * when it has one).
   *
   * With a `Resilience` service in the context (`Claude.layer` has one), a
   * retryable failure is retried: the stream carries the failed attempt's
   * events, then a `Retrying` event, then the next attempt's events; a turn
   * whose tools ran is resumed, never sent again; an open circuit fails the
   * stream at once with `CircuitOpen`. See `Resilience`.
   *
   * A prompt is only ever text: one the CLI would run as a slash command (its last block text starting
   * with `/name`, e.g. `/model opus`) fails the stream with `InvalidPrompt` before any process is leased;
   * run commands with `session.command` (start the prompt with a space to send it as text).
   *
   * `config` gives the query a permission callback, hook handlers, in-process tools (`tools`: the stream
   * then requires their handlers), `sticky`
   * (park the conversation on its process for a later `options.resume`),
   * debug mode or prompt tracing: see {@link QueryConfig}. Without a
   * permission callback, tool permissions beyond `allowedTools` are denied.
   *
   * The prompt, `options` and `config` are checked before the first attempt: the stream fails at once with
   * `InvalidPrompt`, or `InvalidOptions` naming every problem of both (`options.timeouts.idel`,
   * `config.debug`), unknown keys included.
   */
  readonly query: <const Tools extends McpTools.Toolkits = {}>(
    prompt: Protocol.UserContent,
    options?: ClaudeOptions.Input,
    config?: QueryConfig<Tools>
  ) => Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError, McpTools.ToolkitServices<Tools>>
  /**
   * Starts a multi-turn session on its own CLI process, ready for its first
   * turn. Closing the scope stops the process (stdin EOF, grace, SIGTERM, SIGKILL).
   * With `config.tools`, it requires their handlers.
   */
  readonly session: <const Tools extends McpTools.Toolkits = {}>(
    config?: Session.Config<Tools>
  ) => Effect.Effect<Session.Session, ClaudeError.ClaudeError, Scope.Scope | McpTools.ToolkitServices<Tools>>
}>()("effect-claude-code/Claude") {}

/**
 * Builds the `Claude` service on the context's `ProcessManager` and `SessionPool` (and `Resilience`, when there is one).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  const processes = yield* ProcessManager.ProcessManager
  const pool = yield* SessionPool.SessionPool

  const resilience = Option.getOrElse(yield* Effect.serviceOption(Resilience.Resilience), () => Resilience.disabled)

  // Each attempt (a retry may resume the conversation with other options) leases with the same config, and
  // the same toolkits, whose handlers were taken from the caller's context once.
  const attemptWith =
    (config: QueryConfig | undefined, tools: McpTools.Resolved): Resilience.Attempt => (prompt, options) =>
      pool.acquire({ ...config, tools, options }).pipe(
        Effect.map((session) => session.send(prompt)),
        Stream.unwrap
      )

  // Everything is checked before the first attempt: a bad prompt, option or config, or a prompt the CLI would
  // run as a slash command (F19), fails the stream at once, typed, with nothing leased, spawned or written.
  const query = <const Tools extends McpTools.Toolkits = {}>(
    prompt: Protocol.UserContent,
    options?: ClaudeOptions.Input,
    config?: QueryConfig<Tools>
  ) =>
    Effect.all([validatePrompt(prompt), validateQuery(options, config)]).pipe(
      Effect.andThen(() => {
        const problem = SlashCommands.promptProblem(prompt)
        return problem === undefined ? Effect.void : ClaudeError.fail(problem)
      }),
      Effect.andThen(McpTools.resolve(config?.tools)),
      Effect.map((tools) => resilience.run(prompt, options, attemptWith(config, tools))),
      Stream.unwrap,
      Stream.withSpan("Claude.query")
    )

  const session = <const Tools extends McpTools.Toolkits = {}>(config?: Session.Config<Tools>) =>
    Session.make(config).pipe(
      Effect.provideService(ProcessManager.ProcessManager, processes),
      Effect.withSpan("Claude.session")
    )

  return Claude.of({ query, session })
})

/**
 * Runs one turn with the `Claude` service of the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const query = <const Tools extends McpTools.Toolkits = {}>(
  prompt: Protocol.UserContent,
  options?: ClaudeOptions.Input,
  config?: QueryConfig<Tools>
): Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError, Claude | McpTools.ToolkitServices<Tools>> =>
  Stream.unwrap(Claude.useSync((claude) => claude.query(prompt, options, config)))

/**
 * What {@link generateObject} gives: the value, and the turn's `Result` event (cost, usage, session id).
 *
 * @since 0.1.0
 * @category models
 */
export interface GeneratedObject<A> {
  readonly value: A
  readonly result: Extract<ClaudeEvent, { readonly _tag: "Result" }>
}

/**
 * Runs one turn whose answer is a value of `schema`: the Schema's JSON Schema becomes the CLI's structured
 * output (`outputFormat`, see `ClaudeOptions.OutputFormat`), the model gives the object to the CLI's
 * `StructuredOutput` tool, and the turn's `structured_output` is decoded by the same Schema.
 *
 * Fails with `StructuredOutputInvalid` when the model gave no object or one the Schema refuses (a check JSON
 * Schema cannot say), `StructuredOutputRetriesExhausted` when it kept giving objects the JSON Schema refuses
 * until the CLI stopped asking, and `InvalidOptions` before anything is spawned when the Schema's JSON form
 * is not an object or `options` sets `outputFormat` itself. The schema is part of the pool key: turns with
 * the same schema share warm processes.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Claude } from "effect-claude-code"
 *
 * const Answer = Schema.Struct({ answer: Schema.String, confidence: Schema.Number })
 * const program = Claude.generateObject("What is 6 * 7?", Answer).pipe(
 *   Effect.map(({ value }) => value.answer),
 *   Effect.provide(Claude.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const generateObject = <S extends Schema.Top, const Tools extends McpTools.Toolkits = {}>(
  prompt: Protocol.UserContent,
  schema: S,
  options?: ClaudeOptions.Input,
  config?: QueryConfig<Tools>
): Effect.Effect<
  GeneratedObject<S["Type"]>,
  ClaudeError.ClaudeError,
  Claude | S["DecodingServices"] | McpTools.ToolkitServices<Tools>
> =>
  Effect.gen(function*() {
    if (options?.outputFormat !== undefined) {
      return yield* ClaudeError.fail(
        new ClaudeError.InvalidOptions({ issues: "outputFormat: generateObject sets it from the schema" })
      )
    }
    const outputFormat = { type: "json_schema" as const, schema: yield* StructuredOutput.jsonSchema(schema) }
    const last = yield* query(prompt, { ...options, outputFormat }, config).pipe(
      Stream.filter((event) => event._tag === "Result"),
      Stream.runLast
    )
    // A stream that ended without failing ended on its turn's Result.
    if (Option.isNone(last)) {
      return yield* ClaudeError.fail(new ClaudeError.ProtocolError({ detail: "the turn ended without a result" }))
    }
    const value = yield* StructuredOutput.decode(schema, last.value)
    return { value, result: last.value }
  }).pipe(Effect.withSpan("Claude.generateObject"))

/**
 * Starts a session with the `Claude` service of the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const session = <const Tools extends McpTools.Toolkits = {}>(
  config?: Session.Config<Tools>
): Effect.Effect<Session.Session, ClaudeError.ClaudeError, Claude | Scope.Scope | McpTools.ToolkitServices<Tools>> =>
  Claude.use((claude) => claude.session(config))

/**
 * `Claude` on top of a `ProcessManager` and a `SessionPool`; bring your own.
 * A `Resilience` service is optional here: provide `Resilience.layer(...)` as
 * well for retries and the circuit breaker; without one, a failed turn fails
 * its stream at once (as with `Resilience.layerDisabled`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNoDeps: Layer.Layer<Claude, never, ProcessManager.ProcessManager | SessionPool.SessionPool> = Layer
  .effect(Claude, make)

/**
 * What {@link layerWith} wires.
 *
 * @since 0.1.0
 * @category layers
 */
export interface LayerSettings {
  /** The `SessionPool`'s settings (a warm spare per key, 8 processes at most, ...). */
  readonly pool?: SessionPool.Settings | undefined
  /** Retries and the circuit breaker; `{ enabled: false }` turns them off. */
  readonly resilience?: Resilience.Settings | undefined
  /** The `HealthChecker` the pool checks its processes with; `false` for none. */
  readonly health?: HealthChecker.Settings | false | undefined
  /** How processes are found, started, limited and stopped. */
  readonly processes?: ProcessManager.Settings | undefined
  /**
   * Whether to run a `ProcessReaper` (default `true`): should the host die without closing its scopes
   * (SIGKILL, the OOM killer), it SIGKILLs the process groups of the CLIs, their tools and MCP servers
   * included. It is one small process per host (about 45 MB), started with the first CLI.
   *
   * `false` runs none: a host that dies that way leaves the CLIs' tools and MCP servers running, and the CLIs
   * too where the parent-death signal does not reach them (it needs Linux and `setpriv`; see
   * `ProcessManager.Settings.parentDeathSignal`). A host that closes its scopes stops them all either way.
   */
  readonly reaper?: boolean | undefined
}

/**
 * Everything on Node: credentials from `CLAUDE_CODE_OAUTH_TOKEN` /
 * `ANTHROPIC_API_KEY` (see `TokenManager`), the CLI found as `ProcessManager`
 * describes, processes through `NodeServices`, a warm `SessionPool` whose
 * processes a `HealthChecker` checks, retries and a circuit breaker per
 * (credential, model) as `Resilience` describes, and a `ProcessReaper` that
 * kills the CLIs' process groups should the host die. The `SessionPool`,
 * `Resilience` and `HealthChecker` are in the output too, for leases, stats,
 * circuit states and health.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (settings: LayerSettings = {}) =>
  layerNoDeps.pipe(
    Layer.provideMerge(Layer.merge(SessionPool.layer(settings.pool), Resilience.layer(settings.resilience ?? {}))),
    Layer.provideMerge(settings.health === false ? Layer.empty : HealthChecker.layer(settings.health)),
    Layer.provide(
      ProcessManager.layer(settings.processes).pipe(
        Layer.provide(settings.reaper === false ? Layer.empty : ProcessReaper.layer())
      )
    ),
    Layer.provide(TokenManager.layerConfig()),
    Layer.provide(NodeServices.layer)
  )

/**
 * {@link layerWith} with every setting at its default: what most applications provide.
 *
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { Effect, Stream } from "effect"
 * import { Claude } from "effect-claude-code"
 *
 * Claude.query("Say hello").pipe(Stream.runDrain, Effect.provide(Claude.layer), NodeRuntime.runMain)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = layerWith()

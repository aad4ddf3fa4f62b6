/**
 * The facade: one-shot queries as typed Streams, and the one `Claude.layer`
 * that wires every service on Node.
 *
 * @since 0.1.0
 */
import { NodeServices } from "@effect/platform-node"
import { Context, Effect, Layer, type Scope, Stream } from "effect"
import type * as ClaudeError from "./ClaudeError.ts"
import type { ClaudeEvent } from "./ClaudeEvent.ts"
import * as ClaudeOptions from "./ClaudeOptions.ts"
import * as OneShotTurn from "./internal/oneShotTurn.ts"
import * as ProcessManager from "./ProcessManager.ts"
import type * as Protocol from "./Protocol.ts"
import * as Session from "./Session.ts"
import * as TokenManager from "./TokenManager.ts"

/**
 * @since 0.1.0
 * @category services
 */
export class Claude extends Context.Service<Claude, {
  /**
   * Runs one conversation turn on its own CLI process and streams its events.
   * The stream fails with a `ClaudeError` when the turn fails (after emitting
   * everything that arrived, the `Result` event included); the process is
   * stopped when the stream ends, fails or is interrupted.
   */
  readonly query: (
    prompt: Protocol.UserContent,
    options?: ClaudeOptions.Input
  ) => Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError>
  /**
   * Starts a multi-turn session on its own CLI process, ready for its first
   * turn. Closing the scope stops the process (stdin EOF, grace, SIGTERM, SIGKILL).
   */
  readonly session: (config?: Session.Config) => Effect.Effect<Session.Session, ClaudeError.ClaudeError, Scope.Scope>
}>()("effect-claude-code/Claude") {}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  const processes = yield* ProcessManager.ProcessManager

  const query = (prompt: Protocol.UserContent, input?: ClaudeOptions.Input) =>
    Effect.gen(function*() {
      const options = yield* ClaudeOptions.validate(input)
      const proc = yield* processes.spawn({ options, args: ClaudeOptions.toArgs(options) })
      return OneShotTurn.run(proc, options, prompt)
    }).pipe(Effect.withSpan("Claude.query"), Stream.unwrap)

  const session = (config?: Session.Config) =>
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
export const query = (
  prompt: Protocol.UserContent,
  options?: ClaudeOptions.Input
): Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError, Claude> =>
  Stream.unwrap(Claude.useSync((claude) => claude.query(prompt, options)))

/**
 * Starts a session with the `Claude` service of the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const session = (
  config?: Session.Config
): Effect.Effect<Session.Session, ClaudeError.ClaudeError, Claude | Scope.Scope> =>
  Claude.use((claude) => claude.session(config))

/**
 * `Claude` on top of a `ProcessManager`; bring your own.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNoDeps: Layer.Layer<Claude, never, ProcessManager.ProcessManager> = Layer.effect(Claude, make)

/**
 * Everything on Node: credentials from `CLAUDE_CODE_OAUTH_TOKEN` / `ANTHROPIC_API_KEY`,
 * the CLI found as `ProcessManager` describes, processes through `NodeServices`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = layerNoDeps.pipe(
  Layer.provide(ProcessManager.layer()),
  Layer.provide(TokenManager.layerConfig),
  Layer.provide(NodeServices.layer)
)

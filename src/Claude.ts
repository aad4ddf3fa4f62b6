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
import * as ProcessManager from "./ProcessManager.ts"
import type * as Protocol from "./Protocol.ts"
import * as Session from "./Session.ts"
import * as SessionPool from "./SessionPool.ts"
import * as TokenManager from "./TokenManager.ts"

/**
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
  const pool = yield* SessionPool.SessionPool

  const query = (prompt: Protocol.UserContent, options?: ClaudeOptions.Input) =>
    pool.acquire({ options }).pipe(
      Effect.map((session) => session.send(prompt)),
      Effect.withSpan("Claude.query"),
      Stream.unwrap
    )

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
 * `Claude` on top of a `ProcessManager` and a `SessionPool`; bring your own.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNoDeps: Layer.Layer<Claude, never, ProcessManager.ProcessManager | SessionPool.SessionPool> = Layer
  .effect(Claude, make)

/**
 * Everything on Node, with the pool's settings: credentials from
 * `CLAUDE_CODE_OAUTH_TOKEN` / `ANTHROPIC_API_KEY`, the CLI found as
 * `ProcessManager` describes, processes through `NodeServices`. The
 * `SessionPool` is in the output too, for leases and its stats.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (pool: SessionPool.Settings = {}) =>
  layerNoDeps.pipe(
    Layer.provideMerge(SessionPool.layer(pool)),
    Layer.provide(ProcessManager.layer()),
    Layer.provide(TokenManager.layerConfig),
    Layer.provide(NodeServices.layer)
  )

/**
 * {@link layerWith} the pool's defaults.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = layerWith()

/**
 * Conversations past one host, on Effect's cluster engine (`effect/cluster`): a conversation is a
 * `Conversation` entity keyed by the id the user chooses, and a turn is its streaming `Turn` RPC. Whichever
 * runner owns the conversation's shard runs the turn on its own `Claude` service (its own `SessionPool`) and
 * streams the CLI's frames back as they come; the caller decodes them into `ClaudeEvent`s, the `Result`
 * last.
 *
 * Conversations outlive their runner: after each turn the CLI's transcript (the JSONL under its config dir)
 * is committed to SQL with the turn's `result` under its turn id; before a turn on a runner whose disk lacks
 * the transcript, it is written back where the CLI looks for it, and the CLI resumes it. A turn id that
 * finished replays its stored `Result` and runs nothing. Each activation of a conversation on a runner
 * claims it (a new epoch); a commit from an older epoch fails with `ConversationFenced`.
 *
 * ```ts
 * import { Cluster } from "effect-claude-code"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const conversations = yield* Cluster.client
 *   const events = yield* conversations("support-42").turn("turn-1", "Hello").pipe(Stream.runCollect)
 *   return events.at(-1)
 * })
 * ```
 *
 * @since 0.1.0
 */
import { NodeClusterSocket, NodeCrypto } from "@effect/platform-node"
import { Duration, Effect, FileSystem, Layer, Option, Path, Ref, Schedule, Schema, Stream } from "effect"
import { Entity, RunnerAddress } from "effect/cluster"
import type { Sharding } from "effect/cluster/Sharding"
import type * as ShardingConfig from "effect/cluster/ShardingConfig"
import * as SingleRunner from "effect/cluster/SingleRunner"
import { Rpc } from "effect/rpc"
import type { SqlClient } from "effect/sql/SqlClient"
import * as Claude from "./Claude.ts"
import * as ClaudeError from "./ClaudeError.ts"
import { ClaudeEvent } from "./ClaudeEvent.ts"
import * as ClaudeOptions from "./ClaudeOptions.ts"
import * as Transcripts from "./internal/cluster/transcripts.ts"
import * as StreamHandler from "./StreamHandler.ts"
import * as Transcript from "./Transcript.ts"

/**
 * One CLI frame of a turn, as the CLI printed it (JSON); or, first on a turn run again because the runner
 * running it was lost, `attempt`: how many attempts were lost (the caller gets a `Retrying` event).
 *
 * @since 0.1.0
 * @category models
 */
export const TurnChunk = Schema.Struct({ frame: Schema.Unknown, attempt: Schema.optionalKey(Schema.Number) })

/**
 * @since 0.1.0
 * @category models
 */
export type TurnChunk = typeof TurnChunk.Type

/**
 * A turn: its id (the caller's; a finished id is never run again), the prompt, and options for the CLI.
 * The runner's own `cwd` and `env` win over the caller's, and it sets `resume` itself.
 *
 * @since 0.1.0
 * @category rpcs
 */
export const Turn = Rpc.make("Turn", {
  payload: {
    turnId: Schema.String,
    prompt: Schema.String,
    options: Schema.optionalKey(ClaudeOptions.ClaudeOptions)
  },
  success: TurnChunk,
  error: ClaudeError.ClaudeError,
  stream: true
})

/**
 * The conversation entity, keyed by the user's conversation id.
 *
 * @since 0.1.0
 * @category entities
 */
export const Conversation = Entity.make("Conversation", [Turn])

/**
 * What a runner needs to serve conversations.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunnerSettings {
  /** The runner's name in the store's `owner` column; default `runner-<pid>`. */
  readonly owner?: string
  /**
   * The CLI's working directory on this runner (its transcripts are kept per directory), and the
   * environment whose `CLAUDE_CONFIG_DIR` or `HOME` names the config dir the transcripts go to.
   */
  readonly cwd: string
  readonly env: Readonly<Record<string, string>>
  /** How long an idle conversation stays active before it is passivated; default 1 minute. */
  readonly maxIdleTime?: Duration.Input
  /** How long the CLI may take to flush the turn's transcript after its `result`; default 5 seconds. */
  readonly transcriptFlush?: Duration.Input
}

/**
 * `ShardingConfig` tuned for failover: a dead runner's shards are taken over in about 5-6 s instead of
 * the defaults' 35 s.
 *
 * @since 0.1.0
 * @category constants
 */
export const failoverTuning: Partial<ShardingConfig.ShardingConfig["Service"]> = {
  shardLockExpiration: "6 seconds",
  shardLockRefreshInterval: "2 seconds",
  refreshAssignmentsInterval: "1 second"
}

const frameOf = (event: ClaudeEvent): unknown => ("frame" in event ? event.frame : undefined)

// Events that share a frame (an assistant frame gives one event per block) come in a row: send each frame once.
const frames = <E, R>(events: Stream.Stream<ClaudeEvent, E, R>): Stream.Stream<unknown, E, R> =>
  events.pipe(
    Stream.mapAccum((): unknown => undefined, (last: unknown, event: ClaudeEvent) => {
      const frame = frameOf(event)
      return [frame ?? last, frame === undefined || frame === last ? [] : [frame]]
    })
  )

const fieldOf = (value: unknown, key: string): unknown =>
  typeof value === "object" && value !== null && key in value ? Reflect.get(value, key) : undefined

const hasToolUse = (frame: unknown): boolean => {
  const content = fieldOf(fieldOf(frame, "message"), "content")
  return Array.isArray(content) && content.some((block) => fieldOf(block, "type") === "tool_use")
}

const makeHandlers = (store: Transcripts.Transcripts, settings: RunnerSettings) =>
  Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const claude = yield* Claude.Claude
    const path = yield* Path.Path
    const fs = yield* FileSystem.FileSystem
    const conversationId = address.entityId
    const owner = settings.owner ?? `runner-${process.pid}`
    const claim = yield* store.claim(conversationId, owner).pipe(Effect.orDie)
    const state = yield* Ref.make(claim)
    const configDir = Transcript.configDir(settings.env) ?? path.join(settings.cwd, ".claude")
    const flushWithin = Duration.fromInputUnsafe(settings.transcriptFlush ?? "5 seconds")
    const withFs = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>) =>
      effect.pipe(Effect.provideService(FileSystem.FileSystem, fs), Effect.provideService(Path.Path, path))

    // The transcript once the CLI has written the turn's last assistant message into it (it writes on a
    // timer of about 100 ms after the frames).
    const flushed = (file: string, lastUuid: string | undefined) =>
      withFs(Transcripts.readTranscript(file)).pipe(
        Effect.map(Option.filter((text) => lastUuid === undefined || text.includes(lastUuid))),
        Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: Option.isSome }),
        Effect.flatMap(Effect.fromOption),
        Effect.orDie,
        Effect.timeoutOrElse({
          duration: flushWithin,
          orElse: () =>
            Effect.flatMap(withFs(Transcripts.readTranscript(file)), (text) =>
              ClaudeError.fail(
                new ClaudeError.TranscriptLost({
                  sessionId: path.basename(file, ".jsonl"),
                  transcript: Option.isSome(text) ? "incomplete" : "missing",
                  toolsMayHaveRun: false,
                  toolUseIds: []
                })
              ))
        })
      )

    const run = (payload: typeof Turn.payloadSchema.Type) =>
      Effect.gen(function*() {
        const done = yield* store.findTurn(conversationId, payload.turnId)
        if (Option.isSome(done)) return Stream.succeed<TurnChunk>({ frame: done.value })
        const current = yield* Ref.get(state)
        const { attempt, toolsRan } = yield* store.startAttempt(conversationId, payload.turnId)
        if (attempt > 1 && toolsRan) {
          // The lost attempt's tools had started: their effects are unknown, so the turn is not run again.
          return yield* ClaudeError.fail(
            new ClaudeError.TranscriptLost({
              sessionId: Option.getOrElse(current.sessionId, () => ""),
              transcript: "missing",
              toolsMayHaveRun: true,
              toolUseIds: []
            })
          )
        }
        if (Option.isSome(current.sessionId) && Option.isSome(current.transcript)) {
          const file = Transcripts.transcriptPath(path, configDir, settings.cwd, current.sessionId.value)
          yield* withFs(Transcripts.restoreTranscript(file, current.transcript.value)).pipe(
            Effect.mapError((error) =>
              ClaudeError.make(
                new ClaudeError.ClusterUnavailable({ detail: `restoring the transcript: ${error.message}` })
              )
            )
          )
        }
        const options: ClaudeOptions.Input = {
          ...payload.options,
          cwd: settings.cwd,
          env: { ...payload.options?.env, ...settings.env },
          ...(Option.isSome(current.sessionId) ? { resume: current.sessionId.value } : {})
        }
        const held = yield* Ref.make<{ readonly result: unknown; readonly lastUuid: string | undefined }>({
          result: undefined,
          lastUuid: undefined
        })
        const commit = Effect.gen(function*() {
          const { lastUuid, result } = yield* Ref.get(held)
          const sessionId = fieldOf(result, "session_id")
          if (typeof sessionId !== "string") {
            return yield* ClaudeError.fail(new ClaudeError.ProtocolError({ detail: "the turn ended without a result" }))
          }
          const file = Transcripts.transcriptPath(path, configDir, settings.cwd, sessionId)
          const transcript = yield* flushed(file, lastUuid)
          yield* store.commit({
            conversationId,
            epoch: current.epoch,
            turnId: payload.turnId,
            sessionId,
            transcript,
            result
          })
          yield* Ref.set(state, { ...current, sessionId: Option.some(sessionId), transcript: Option.some(transcript) })
          return { frame: result } satisfies TurnChunk
        })
        // The result frame is held back until the turn is committed: a caller that saw it can rely on it.
        const live = frames(claude.query(payload.prompt, options)).pipe(
          Stream.mapEffect((frame) =>
            Effect.gen(function*() {
              const type = fieldOf(frame, "type")
              const uuid = fieldOf(frame, "uuid")
              const out: Array<TurnChunk> = []
              if (type === "result") yield* Ref.update(held, (h) => ({ ...h, result: frame }))
              else out.push({ frame })
              if (type === "assistant" && typeof uuid === "string") {
                yield* Ref.update(held, (h) => ({ ...h, lastUuid: uuid }))
              }
              // Recorded before the frame goes on (and the CLI runs the tool): a runner lost after this point
              // leaves a turn that is not run again.
              if (type === "assistant" && hasToolUse(frame)) yield* store.markToolsRan(conversationId, payload.turnId)
              return out
            })
          ),
          Stream.flatMap(Stream.fromIterable)
        )
        const lost: ReadonlyArray<TurnChunk> = attempt > 1 ? [{ frame: null, attempt: attempt - 1 }] : []
        return Stream.concat(Stream.fromIterable(lost), Stream.concat(live, Stream.fromEffect(commit))).pipe(
          Stream.tapError(() => Effect.ignore(store.endAttempt(conversationId, payload.turnId)))
        )
      }).pipe(Stream.unwrap)

    return Conversation.of({ Turn: (envelope) => run(envelope.payload) })
  })

/**
 * Registers the `Conversation` entity on this runner's `Sharding`: its turns run on the context's `Claude`,
 * its state in the context's `SqlClient` (tables `ecc_conversations` and `ecc_turns`, made when missing).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  settings: RunnerSettings
): Layer.Layer<never, never, Sharding | SqlClient | Claude.Claude | FileSystem.FileSystem | Path.Path> =>
  Layer.unwrap(
    Effect.map(
      Transcripts.make,
      (store) =>
        Conversation.toLayer(makeHandlers(store, settings), {
          maxIdleTime: settings.maxIdleTime ?? "1 minute",
          concurrency: 1
        })
    )
  )

/**
 * {@link layer} on one runner with its sharding state in SQL (`SingleRunner`): a cluster of one, for a
 * single host or a test.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSingle = (
  settings: RunnerSettings,
  shardingConfig?: Partial<ShardingConfig.ShardingConfig["Service"]>
) =>
  layer(settings).pipe(
    Layer.provideMerge(
      SingleRunner.layer({ runnerStorage: "sql", shardingConfig: { ...failoverTuning, ...shardingConfig } })
    ),
    Layer.provide(NodeCrypto.layerDigest)
  )

/**
 * Where a runner listens for the other runners and clients (`NodeClusterSocket`).
 *
 * @since 0.1.0
 * @category models
 */
export interface SocketAddress {
  readonly host: string
  readonly port: number
}

const socketConfig = (
  address: SocketAddress | undefined,
  shardingConfig: Partial<ShardingConfig.ShardingConfig["Service"]> | undefined
): Partial<ShardingConfig.ShardingConfig["Service"]> => ({
  ...failoverTuning,
  ...(address === undefined ? {} : { runnerAddress: Option.some(RunnerAddress.make(address.host, address.port)) }),
  ...shardingConfig
})

/**
 * {@link layer} on a runner of a cluster of Node processes (`NodeClusterSocket`, sharding state and messages
 * in the context's `SqlClient`), listening at `address`, with {@link failoverTuning} unless told otherwise.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSocket = (
  settings: RunnerSettings,
  address: SocketAddress,
  shardingConfig?: Partial<ShardingConfig.ShardingConfig["Service"]>
) =>
  layer(settings).pipe(
    Layer.provideMerge(
      NodeClusterSocket.layer({ storage: "sql", shardingConfig: socketConfig(address, shardingConfig) })
    )
  )

/**
 * The `Sharding` of a process that only calls conversations (no runner of its own), for {@link client}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClientSocket = (shardingConfig?: Partial<ShardingConfig.ShardingConfig["Service"]>) =>
  NodeClusterSocket.layer({ clientOnly: true, storage: "sql", shardingConfig: socketConfig(undefined, shardingConfig) })

/**
 * A conversation as a caller sees it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConversationClient {
  /**
   * Runs a turn on whichever runner owns the conversation: its events as they happen, then the `Result`.
   * A `turnId` that already finished replays only its `Result`.
   */
  readonly turn: (
    turnId: string,
    prompt: string,
    options?: typeof ClaudeOptions.ClaudeOptions.Type
  ) => Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError>
}

const decodeChunk = (chunk: TurnChunk): ReadonlyArray<ClaudeEvent> =>
  chunk.attempt === undefined
    ? StreamHandler.fromLine(JSON.stringify(chunk.frame))
    : [
      ClaudeEvent.Retrying({
        attempt: chunk.attempt,
        delayMs: 0,
        reason: new ClaudeError.ClusterUnavailable({ detail: "the runner running the turn was lost" }),
        sessionId: undefined,
        resume: undefined
      })
    ]

/**
 * The client: a conversation by its id. Failures of the cluster itself (a full mailbox, storage) come as
 * `ClusterUnavailable`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const client: Effect.Effect<(conversationId: string) => ConversationClient, never, Sharding> = Effect.map(
  Conversation.client,
  (make) => (conversationId) => ({
    turn: (turnId, prompt, options) =>
      make(conversationId).Turn({ turnId, prompt, ...(options === undefined ? {} : { options }) }).pipe(
        Stream.mapError((error) =>
          ClaudeError.isClaudeError(error)
            ? error
            : ClaudeError.make(new ClaudeError.ClusterUnavailable({ detail: error._tag }))
        ),
        Stream.flatMap((chunk) => Stream.fromIterable(decodeChunk(chunk)))
      )
  })
)

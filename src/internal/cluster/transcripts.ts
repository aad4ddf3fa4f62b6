/**
 * A conversation's state in SQL, so it outlives the runner that served it: the CLI session id and its
 * transcript (the JSONL the CLI keeps under its config dir), the owner's epoch, and each finished turn's
 * `result` frame under its turn id.
 *
 * Fencing: a runner that activates a conversation claims it, which adds one to its epoch; each commit names
 * the epoch it claimed and is refused (`ConversationFenced`) once another runner claimed a newer one. The
 * commit of a turn (transcript, session id and the turn's result) is one transaction.
 */
import { Effect, FileSystem, Option, Path } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as ClaudeError from "../../ClaudeError.ts"
import * as Transcript from "../../Transcript.ts"

/** What a runner gets when it claims a conversation. */
export interface Claim {
  readonly epoch: number
  readonly sessionId: Option.Option<string>
  readonly transcript: Option.Option<string>
}

/** A finished turn to store. */
export interface Commit {
  readonly conversationId: string
  readonly epoch: number
  readonly turnId: string
  readonly sessionId: string
  readonly transcript: string
  /** The turn's `result` frame, as the CLI printed it. */
  readonly result: unknown
}

const unavailable = (error: SqlError) =>
  ClaudeError.make(new ClaudeError.ClusterUnavailable({ detail: `storage: ${error.message}` }))

/** The store on the context's `SqlClient`; creates its tables when missing. */
export const make = Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS ecc_conversations (
    conversation_id text PRIMARY KEY,
    epoch integer NOT NULL,
    owner text NOT NULL,
    session_id text,
    transcript text,
    updated_at timestamptz NOT NULL DEFAULT now()
  )`.pipe(Effect.orDie)
  yield* sql`CREATE TABLE IF NOT EXISTS ecc_turns (
    conversation_id text NOT NULL,
    turn_id text NOT NULL,
    epoch integer NOT NULL,
    result text NOT NULL,
    PRIMARY KEY (conversation_id, turn_id)
  )`.pipe(Effect.orDie)

  // A turn's attempts: a row while it runs, gone once it committed or failed. A row found at the start of a
  // turn means a runner died running it; `tools_ran` says whether that attempt's tools had started.
  yield* sql`CREATE TABLE IF NOT EXISTS ecc_attempts (
    conversation_id text NOT NULL,
    turn_id text NOT NULL,
    attempt integer NOT NULL,
    tools_ran boolean NOT NULL DEFAULT false,
    PRIMARY KEY (conversation_id, turn_id)
  )`.pipe(Effect.orDie)

  const startAttempt = Effect.fn("Transcripts.startAttempt")(function*(conversationId: string, turnId: string) {
    const rows = yield* sql<{ readonly attempt: number; readonly tools_ran: boolean }>`
      INSERT INTO ecc_attempts (conversation_id, turn_id, attempt) VALUES (${conversationId}, ${turnId}, 1)
      ON CONFLICT (conversation_id, turn_id) DO UPDATE SET attempt = ecc_attempts.attempt + 1
      RETURNING attempt, tools_ran`.pipe(Effect.mapError(unavailable))
    return { attempt: rows[0]?.attempt ?? 1, toolsRan: rows[0]?.tools_ran ?? false }
  })

  const markToolsRan = Effect.fn("Transcripts.markToolsRan")(function*(conversationId: string, turnId: string) {
    yield* sql`UPDATE ecc_attempts SET tools_ran = true WHERE conversation_id = ${conversationId} AND turn_id = ${turnId}`
      .pipe(Effect.mapError(unavailable))
  })

  const endAttempt = Effect.fn("Transcripts.endAttempt")(function*(conversationId: string, turnId: string) {
    yield* sql`DELETE FROM ecc_attempts WHERE conversation_id = ${conversationId} AND turn_id = ${turnId}`
      .pipe(Effect.mapError(unavailable))
  })

  const claim = Effect.fn("Transcripts.claim")(function*(conversationId: string, owner: string) {
    const rows = yield* sql<
      { readonly epoch: number; readonly session_id: string | null; readonly transcript: string | null }
    >`
      INSERT INTO ecc_conversations (conversation_id, epoch, owner) VALUES (${conversationId}, 1, ${owner})
      ON CONFLICT (conversation_id) DO UPDATE
        SET epoch = ecc_conversations.epoch + 1, owner = EXCLUDED.owner, updated_at = now()
      RETURNING epoch, session_id, transcript`.pipe(Effect.mapError(unavailable))
    const row = rows[0]
    return {
      epoch: row?.epoch ?? 0,
      sessionId: Option.fromNullishOr(row?.session_id),
      transcript: Option.fromNullishOr(row?.transcript)
    } satisfies Claim
  })

  const findTurn = Effect.fn("Transcripts.findTurn")(function*(conversationId: string, turnId: string) {
    const rows = yield* sql<{ readonly result: string }>`
      SELECT result FROM ecc_turns WHERE conversation_id = ${conversationId} AND turn_id = ${turnId}`
      .pipe(Effect.mapError(unavailable))
    return Option.map(Option.fromNullishOr(rows[0]), (row): unknown => JSON.parse(row.result))
  })

  const commit = Effect.fn("Transcripts.commit")(function*(turn: Commit) {
    const fenced = ClaudeError.make(
      new ClaudeError.ConversationFenced({ conversationId: turn.conversationId, epoch: turn.epoch })
    )
    const write = Effect.gen(function*() {
      const updated = yield* sql<{ readonly epoch: number }>`
        UPDATE ecc_conversations
          SET session_id = ${turn.sessionId}, transcript = ${turn.transcript}, updated_at = now()
          WHERE conversation_id = ${turn.conversationId} AND epoch = ${turn.epoch}
          RETURNING epoch`
      if (updated.length === 0) return false
      yield* sql`
        INSERT INTO ecc_turns (conversation_id, turn_id, epoch, result)
        VALUES (${turn.conversationId}, ${turn.turnId}, ${turn.epoch}, ${JSON.stringify(turn.result)})
        ON CONFLICT (conversation_id, turn_id) DO NOTHING`
      yield* sql`DELETE FROM ecc_attempts WHERE conversation_id = ${turn.conversationId} AND turn_id = ${turn.turnId}`
      return true
    })
    const done = yield* sql.withTransaction(write).pipe(Effect.mapError(unavailable))
    if (!done) return yield* Effect.fail(fenced)
  })

  return { claim, findTurn, commit, startAttempt, markToolsRan, endAttempt }
})

/** The store's operations. */
export type Transcripts = Effect.Success<typeof make>

/** Where the CLI keeps `sessionId`'s transcript for a working directory. */
export const transcriptPath = (path: Path.Path, configDir: string, cwd: string, sessionId: string): string =>
  path.join(configDir, "projects", Transcript.projectDirName(cwd), `${sessionId}.jsonl`)

/** The transcript's text, `None` when the CLI has not written it (yet). */
export const readTranscript = Effect.fn("Transcripts.read")(function*(file: string) {
  const fs = yield* FileSystem.FileSystem
  return yield* fs.readFileString(file).pipe(Effect.option)
})

/**
 * Puts a stored transcript where the CLI looks for it, unless a file is there already (this runner served
 * the conversation before, and its file is at least as new as the one stored).
 */
export const restoreTranscript = Effect.fn("Transcripts.restore")(function*(file: string, text: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  if (yield* fs.exists(file).pipe(Effect.orElseSucceed(() => false))) return false
  yield* fs.makeDirectory(path.dirname(file), { recursive: true })
  yield* fs.writeFileString(file, text)
  return true
})

import { NodeServices } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, FileSystem, Layer, Option, Path } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as ClaudeError from "../src/ClaudeError.ts"
import * as Transcripts from "../src/internal/cluster/transcripts.ts"
import * as Postgres from "../src/testing/Postgres.ts"

// One PostgreSQL for the file.
const Live = Layer.merge(Postgres.layerClient(), NodeServices.layer)

layer(Live, { timeout: 60_000 })("cluster transcript store on PostgreSQL", (it) => {
  it.effect("a stale writer is fenced: the runner that claimed later commits, the earlier one cannot overwrite", () =>
    Effect.gen(function*() {
      const store = yield* Transcripts.make
      const first = yield* store.claim("conv-fence", "runner-a")
      assert.strictEqual(first.epoch, 1)
      assert.isTrue(Option.isNone(first.sessionId))
      yield* store.commit({
        conversationId: "conv-fence",
        epoch: first.epoch,
        turnId: "t1",
        sessionId: "s1",
        transcript: "line-a\n",
        result: { type: "result", n: 1 }
      })
      // runner-b takes over (its claim bumps the epoch) while runner-a still thinks it owns the conversation.
      const second = yield* store.claim("conv-fence", "runner-b")
      assert.strictEqual(second.epoch, 2)
      assert.deepStrictEqual(second.sessionId, Option.some("s1"))
      assert.deepStrictEqual(second.transcript, Option.some("line-a\n"))
      const stale = yield* store.commit({
        conversationId: "conv-fence",
        epoch: first.epoch,
        turnId: "t2",
        sessionId: "s1",
        transcript: "stale\n",
        result: { type: "result", n: 2 }
      }).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(stale))
      const error = yield* Effect.flip(stale)
      assert.isTrue(ClaudeError.isClaudeError(error) && error.reason._tag === "ConversationFenced")
      // Nothing of the stale commit landed: neither its transcript nor its turn.
      assert.isTrue(Option.isNone(yield* store.findTurn("conv-fence", "t2")))
      yield* store.commit({
        conversationId: "conv-fence",
        epoch: second.epoch,
        turnId: "t2",
        sessionId: "s1",
        transcript: "line-a\nline-b\n",
        result: { type: "result", n: 3 }
      })
      assert.deepStrictEqual(yield* store.findTurn("conv-fence", "t2"), Option.some({ type: "result", n: 3 }))
      assert.deepStrictEqual((yield* store.claim("conv-fence", "runner-a")).transcript, Option.some("line-a\nline-b\n"))
    }))

  it.effect("a turn id is stored once: a second commit of it keeps the first result", () =>
    Effect.gen(function*() {
      const store = yield* Transcripts.make
      const { epoch } = yield* store.claim("conv-once", "runner-a")
      const commit = (n: number) =>
        store.commit({
          conversationId: "conv-once",
          epoch,
          turnId: "t1",
          sessionId: "s",
          transcript: "x",
          result: { n }
        })
      yield* commit(1)
      yield* commit(2)
      assert.deepStrictEqual(yield* store.findTurn("conv-once", "t1"), Option.some({ n: 1 }))
    }))

  it.effect("a transcript is restored where the CLI looks for it, and an existing file is kept", () =>
    Effect.gen(function*() {
      const p = yield* Path.Path
      const fsx = yield* FileSystem.FileSystem
      const home = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-restore-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(home, { recursive: true, force: true })))
      const file = Transcripts.transcriptPath(p, `${home}/.claude`, "/tmp/a b", "sid")
      assert.strictEqual(file, `${home}/.claude/projects/-tmp-a-b/sid.jsonl`)
      assert.isTrue(Option.isNone(yield* Transcripts.readTranscript(file)))
      assert.isTrue(yield* Transcripts.restoreTranscript(file, "stored\n"))
      assert.isFalse(yield* Transcripts.restoreTranscript(file, "other\n"))
      assert.strictEqual(yield* fsx.readFileString(file), "stored\n")
      assert.deepStrictEqual(yield* Transcripts.readTranscript(file), Option.some("stored\n"))
    }).pipe(Effect.scoped))
})

/**
 * Conversations as cluster entities on the real CLI, the FakeApi and a throwaway PostgreSQL (one per file):
 * a runner is `Cluster.layerSingle` with a HOME of its own; a second runner on the same database carries a
 * conversation on from the transcript stored there.
 */
import { assert, layer } from "@effect/vitest"
import type { Context } from "effect"
import { Effect, Exit, Layer, Scope, Stream } from "effect"
import type { SqlClient } from "effect/sql/SqlClient"
import * as fs from "node:fs"
import * as ClaudeError from "../src/ClaudeError.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import * as Cluster from "../src/Cluster.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import * as Postgres from "../src/testing/Postgres.ts"
import { ClaudeTestWith, eventually, processesWithHome, tempDir } from "./utils.ts"

const requestText = (request: FakeApi.RecordedRequest | undefined) =>
  JSON.stringify(request?.messagesRequest?.messages ?? [])

const resultOf = (events: ReadonlyArray<ClaudeEvent>) => {
  const last = events.at(-1)
  return last?._tag === "Result" ? last : undefined
}

/** A runner on `sql`'s database with its own HOME (its CLI's config dir), open until `scope` closes. */
const startRunner = (
  scope: Scope.Scope,
  sql: Context.Context<Postgres.Postgres | SqlClient>,
  api: FakeApi.FakeApi["Service"],
  home: string,
  owner: string
) =>
  Layer.buildWithScope(
    Cluster.layerSingle({ owner, cwd: home, env: FakeApi.cliEnvironment(api, home) }).pipe(
      Layer.provideMerge(ClaudeTestWith({ minIdle: 0 })),
      Layer.provide(Layer.succeedContext(sql))
    ),
    scope
  )

// One PostgreSQL for the file; each test's conversations have ids of their own.
layer(Postgres.layerClient(), { timeout: 60_000, excludeTestServices: true })(
  "Cluster: conversations on effect/cluster with transcripts in PostgreSQL",
  (it) => {
    it.effect(
      "cluster turn streams events before its Result, keeps context, replays a repeated turn id, and continues on another runner from the stored transcript",
      () =>
        Effect.gen(function*() {
          const pg = yield* Effect.context<Postgres.Postgres | SqlClient>()
          const api = yield* FakeApi.make({ script: (_request, index) => FakeApi.text(`reply number ${index + 1}`) })
          const homeA = yield* tempDir("cluster-a")
          const homeB = yield* tempDir("cluster-b")

          // Runner A: two turns of one conversation.
          // Each runner's scope is closed below, or with the test's on a failure (never left open).
          const scopeA = yield* Scope.make()
          yield* Effect.addFinalizer(() => Scope.close(scopeA, Exit.void))
          const runnerA = yield* startRunner(scopeA, pg, api, homeA, "runner-a")
          const conversations = yield* Effect.provideContext(Cluster.client, runnerA)
          const conversation = conversations("user-conv-1")
          const turn = (turnId: string, prompt: string) =>
            conversation.turn(turnId, prompt).pipe(Stream.runCollect, Effect.timeout("60 seconds"))

          const first = yield* conversation.turn("t1", "the first prompt").pipe(
            Stream.runCollect,
            Effect.timeout("30 seconds")
          )
          assert.strictEqual(resultOf(first)?.text, "reply number 1")
          const tags = first.map((event) => event._tag)
          assert.include(tags, "SessionStarted")
          assert.isBelow(tags.indexOf("SessionStarted"), tags.indexOf("Result"), "events come before the Result")
          assert.isBelow(tags.indexOf("AssistantText"), tags.indexOf("Result"))
          assert.strictEqual(tags.filter((tag) => tag === "Result").length, 1)

          const second = yield* turn("t2", "the second prompt")
          assert.strictEqual(resultOf(second)?.text, "reply number 2")
          const requests = yield* api.conversationRequests
          assert.strictEqual(requests.length, 2)
          assert.include(requestText(requests[1]), "the first prompt", "turn 2's request holds turn 1")
          assert.include(requestText(requests[1]), "reply number 1")
          const sessionId = resultOf(first)?.sessionId
          assert.strictEqual(resultOf(second)?.sessionId, sessionId, "the CLI resumed the same session")

          // The same turn id again: its stored Result, and no request to the API.
          const replay = yield* turn("t2", "the second prompt")
          assert.deepStrictEqual(replay.map((event) => event._tag), ["Result"])
          assert.strictEqual(resultOf(replay)?.text, "reply number 2")
          assert.strictEqual((yield* api.conversationRequests).length, 2)

          yield* Scope.close(scopeA, Exit.void)
          yield* eventually(() => (processesWithHome(homeA).length === 0 ? true : undefined), "10 seconds")

          // Runner B: a HOME that never held the transcript; the conversation goes on with its context.
          assert.isFalse(fs.existsSync(`${homeB}/.claude/projects`))
          const scopeB = yield* Scope.make()
          yield* Effect.addFinalizer(() => Scope.close(scopeB, Exit.void))
          const runnerB = yield* startRunner(scopeB, pg, api, homeB, "runner-b")
          const onB = (yield* Effect.provideContext(Cluster.client, runnerB))("user-conv-1")
          const third = yield* onB.turn("t3", "the third prompt").pipe(
            Stream.runCollect,
            Effect.timeout("60 seconds")
          )
          assert.strictEqual(resultOf(third)?.text, "reply number 3")
          assert.strictEqual(resultOf(third)?.sessionId, sessionId)
          assert.isTrue(
            fs.existsSync(`${homeB}/.claude/projects/${homeB.replace(/[^a-zA-Z0-9]/g, "-")}/${sessionId}.jsonl`),
            "the stored transcript was restored where runner B's CLI looks for it"
          )
          const all = yield* api.conversationRequests
          assert.strictEqual(all.length, 3)
          assert.include(requestText(all[2]), "the first prompt", "runner B's CLI saw turn 1")
          assert.include(requestText(all[2]), "reply number 2")
          // A turn that finished on runner A replays on runner B too.
          const replayOnB = yield* onB.turn("t1", "the first prompt").pipe(Stream.runCollect)
          assert.strictEqual(resultOf(replayOnB)?.text, "reply number 1")
          assert.strictEqual((yield* api.conversationRequests).length, 3)
          yield* Scope.close(scopeB, Exit.void)
          yield* eventually(() => (processesWithHome(homeB).length === 0 ? true : undefined), "10 seconds")
        }).pipe(Effect.scoped),
      120_000
    )

    it.effect(
      "cluster turn whose API call fails comes back as a typed ClaudeError, commits nothing, and runs again under the same turn id",
      () =>
        Effect.gen(function*() {
          const pg = yield* Effect.context<Postgres.Postgres | SqlClient>()
          const api = yield* FakeApi.make({ script: () => FakeApi.error(400, { message: "the prompt is refused" }) })
          const home = yield* tempDir("cluster-error")
          const scope = yield* Scope.make()
          yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
          const runner = yield* startRunner(scope, pg, api, home, "runner-e")
          const conversation = (yield* Effect.provideContext(Cluster.client, runner))("user-conv-error")
          const failed = yield* conversation.turn("t1", "a refused prompt").pipe(
            Stream.runCollect,
            Effect.timeout("60 seconds"),
            Effect.flip
          )
          assert.isTrue(ClaudeError.isClaudeError(failed), String(failed))
          assert.strictEqual(ClaudeError.isClaudeError(failed) ? failed.reason._tag : undefined, "ApiError")
          const refused = (yield* api.conversationRequests).length
          assert.isAbove(refused, 0)
          // Nothing was stored under t1: the same id runs the turn (one more API request).
          yield* api.setScript(() => FakeApi.text("second try"))
          const again = yield* conversation.turn("t1", "a refused prompt").pipe(
            Stream.runCollect,
            Effect.timeout("60 seconds")
          )
          assert.strictEqual(resultOf(again)?.text, "second try")
          assert.strictEqual((yield* api.conversationRequests).length, refused + 1)
          yield* Scope.close(scope, Exit.void)
          yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "10 seconds")
        }).pipe(Effect.scoped),
      120_000
    )
  }
)

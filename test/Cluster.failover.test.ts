/**
 * Two runner processes (test/support/clusterRunner.ts, `NodeClusterSocket`), the test process as a client
 * only, one throwaway PostgreSQL and the FakeApi: the runner that owns a conversation is SIGKILLed between
 * turns, and the next turn is served by the other runner with its context, from a HOME that never held the
 * conversation's transcript.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as Net from "node:net"
import * as path from "node:path"
import * as ClaudeError from "../src/ClaudeError.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import * as Cluster from "../src/Cluster.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import * as Leftovers from "../src/testing/Leftovers.ts"
import * as Postgres from "../src/testing/Postgres.ts"
import { eventually, tempDir } from "./utils.ts"

const root = path.resolve(import.meta.dirname, "..")
const node = path.join(root, "node_modules", ".bin", "node")
const runnerScript = path.join(root, "test", "support", "clusterRunner.ts")

const freePort = Effect.callback<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    server.close(() => resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0)))
  })
})

/** A runner process; SIGKILLed (with whatever still runs in its HOME) when the scope closes. */
const startRunner = (owner: string, home: string, pgPort: number, apiUrl: string) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const output: Array<string> = []
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn(
          node,
          ["--conditions=effect-claude-code-source", runnerScript, owner, home, String(port), String(pgPort), apiUrl],
          { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, HOME: home } }
        )
      ),
      (child) =>
        Effect.sync(() => {
          child.kill("SIGKILL")
          for (const pid of Leftovers.withHome(home)) process.kill(pid, "SIGKILL")
        })
    )
    child.stdout.on("data", (chunk: Buffer) => output.push(chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()))
    yield* eventually(
      () => (output.join("").includes(`ready ${owner}`) ? true : undefined),
      "30 seconds",
      () => `runner ${owner} ready; it printed: ${output.join("").slice(-2000)}`
    )
    return { owner, home, child, output }
  })

const resultOf = (events: ReadonlyArray<ClaudeEvent>) => {
  const last = events.at(-1)
  return last?._tag === "Result" ? last : undefined
}

const requestText = (request: FakeApi.RecordedRequest | undefined) =>
  JSON.stringify(request?.messagesRequest?.messages ?? [])

/** The FakeApi with `script` and two runner processes on the file's PostgreSQL, each with a HOME of its own. */
const twoRunners = (prefix: string, script: FakeApi.Script) =>
  Effect.gen(function*() {
    const server = yield* Postgres.Postgres
    const sql = yield* PgClient.PgClient
    const api = yield* FakeApi.make({ script })
    const runners = [
      yield* startRunner(`${prefix}1`, yield* tempDir(`cluster-${prefix}1`), server.port, api.url),
      yield* startRunner(`${prefix}2`, yield* tempDir(`cluster-${prefix}2`), server.port, api.url)
    ]
    /** The runner the store names as the conversation's owner. */
    const ownerOf = (conversationId: string) =>
      Effect.map(
        sql<{ readonly owner: string; readonly epoch: number }>`
          SELECT owner, epoch FROM ecc_conversations WHERE conversation_id = ${conversationId}`,
        (rows) => ({ owner: runners.find((r) => r.owner === rows[0]?.owner), epoch: rows[0]?.epoch })
      )
    return { api, runners, ownerOf }
  })

const Live = Layer.provideMerge(Cluster.layerClientSocket(), Postgres.layerClient())

layer(Live, { timeout: 60_000, excludeTestServices: true })("Cluster failover across runner processes", (it) => {
  it.effect(
    "cluster failover after SIGKILL of the owning runner: the next turn runs on the other runner with its context",
    () =>
      Effect.gen(function*() {
        const { api, ownerOf, runners } = yield* twoRunners(
          "r",
          (_request, index) => FakeApi.text(`answer ${index + 1}`)
        )
        const conversations = yield* Cluster.client
        const conversation = conversations("failover-conv")
        const turn = (turnId: string, prompt: string) =>
          conversation.turn(turnId, prompt).pipe(Stream.runCollect, Effect.timeout("45 seconds"))

        const first = yield* turn("t1", "remember the word zebra")
        assert.strictEqual(resultOf(first)?.text, "answer 1")
        const { owner } = yield* ownerOf("failover-conv")
        const other = runners.find((r) => r !== owner)
        assert.isDefined(owner, "an owner of the two")
        if (owner === undefined || other === undefined) return
        assert.isFalse(
          fs.existsSync(path.join(other.home, ".claude", "projects")),
          "the other runner's HOME never held the transcript"
        )

        owner.child.kill("SIGKILL")
        const killedAt = Date.now()
        // The killed runner's CLIs go with it.
        yield* eventually(() => (Leftovers.withHome(owner.home).length === 0 ? true : undefined), "10 seconds")

        const second = yield* turn("t2", "which word?")
        const failoverSeconds = (Date.now() - killedAt) / 1000
        yield* Effect.log(`cluster.failover: ${failoverSeconds.toFixed(1)} s from SIGKILL to the next turn's end`)
        assert.strictEqual(resultOf(second)?.text, "answer 2")
        const requests = yield* api.conversationRequests
        assert.strictEqual(requests.length, 2)
        assert.include(requestText(requests[1]), "remember the word zebra", "turn 2's request holds turn 1")
        assert.include(requestText(requests[1]), "answer 1")
        const after = yield* ownerOf("failover-conv")
        assert.strictEqual(after.owner, other)
        assert.strictEqual(after.epoch, 2)
        assert.isBelow(failoverSeconds, Duration.toSeconds("40 seconds"))
      }).pipe(Effect.scoped),
    120_000
  )

  it.effect(
    "cluster turn in flight when its owner is SIGKILLed: run again from its start on the other runner, the caller told by a Retrying event",
    () =>
      Effect.gen(function*() {
        const { api, ownerOf } = yield* twoRunners(
          "m",
          (_request, index) => FakeApi.text(`slow answer ${index + 1}`, { firstByteDelayMs: 3000 })
        )
        const conversation = (yield* Cluster.client)("midturn-conv")
        const seen: Array<string> = []
        const fiber = yield* conversation.turn("t1", "a slow question").pipe(
          Stream.tap((event) => Effect.sync(() => seen.push(event._tag))),
          Stream.runCollect,
          Effect.timeout("40 seconds"),
          Effect.result,
          Effect.forkScoped
        )
        yield* api.awaitConversationRequests(1, "30 seconds")
        const { owner } = yield* ownerOf("midturn-conv")
        assert.isDefined(owner)
        owner?.child.kill("SIGKILL")
        const killedAt = Date.now()
        const outcome = yield* Fiber.join(fiber)
        yield* Effect.log(
          `cluster.failover mid-turn: ${((Date.now() - killedAt) / 1000).toFixed(1)} s from SIGKILL to the Result`
        )
        assert.strictEqual(outcome._tag, "Success", String(outcome._tag === "Failure" ? outcome.failure : ""))
        const events = outcome._tag === "Success" ? outcome.success : []
        const tags = events.map((event) => event._tag)
        const retry = tags.indexOf("Retrying")
        assert.isAtLeast(retry, 0, `a Retrying event among ${tags.join(",")}`)
        const retrying = events[retry]
        assert.strictEqual(retrying?._tag === "Retrying" ? retrying.reason._tag : undefined, "ClusterUnavailable")
        // After it, the new attempt's events once each: one SessionStarted, one Result.
        const after = tags.slice(retry + 1)
        assert.strictEqual(after.filter((tag) => tag === "SessionStarted").length, 1, after.join(","))
        assert.strictEqual(after.filter((tag) => tag === "Result").length, 1)
        assert.strictEqual(resultOf(events)?.text, "slow answer 2")
        // The killed runner's CLIs are gone; the API saw the prompt twice (the lost attempt and the new one).
        assert.deepStrictEqual(owner === undefined ? [] : Leftovers.withHome(owner.home), [])
        assert.strictEqual((yield* api.conversationRequests).length, 2)
        assert.strictEqual(seen.length, events.length)
      }).pipe(Effect.scoped),
    120_000
  )

  it.effect(
    "cluster turn whose runner died while its tool ran fails typed on the new owner and does not run the tool again",
    () =>
      Effect.gen(function*() {
        const { api, ownerOf } = yield* twoRunners(
          "x",
          () => FakeApi.toolUse("Bash", { command: "echo start && sleep 600", description: "A long tool" })
        )
        const conversation = (yield* Cluster.client)("tools-conv")
        const seen: Array<string> = []
        const fiber = yield* conversation.turn("t1", "run the long tool", { allowedTools: ["Bash"] }).pipe(
          Stream.tap((event) => Effect.sync(() => seen.push(event._tag))),
          Stream.runCollect,
          Effect.timeout("40 seconds"),
          Effect.flip,
          Effect.forkScoped
        )
        yield* eventually(() => (seen.includes("ToolUse") ? true : undefined), "30 seconds", () => seen.join(","))
        const { owner } = yield* ownerOf("tools-conv")
        assert.isDefined(owner)
        // The tool is running in the owner's HOME.
        yield* eventually(
          () => (owner !== undefined && Leftovers.withHome(owner.home).length > 2 ? true : undefined),
          "10 seconds"
        )
        owner?.child.kill("SIGKILL")
        const error = yield* Fiber.join(fiber)
        assert.isTrue(ClaudeError.isClaudeError(error), String(error))
        const reason = ClaudeError.isClaudeError(error) ? error.reason : undefined
        assert.strictEqual(reason?._tag, "TranscriptLost")
        assert.isTrue(reason?._tag === "TranscriptLost" && reason.toolsMayHaveRun)
        // One model call: the new owner sent nothing; the killed runner's CLI and its tool are gone.
        assert.strictEqual((yield* api.conversationRequests).length, 1)
        yield* eventually(
          () => (owner !== undefined && Leftovers.withHome(owner.home).length === 0 ? true : undefined),
          "10 seconds"
        )
      }).pipe(Effect.scoped),
    120_000
  )
})

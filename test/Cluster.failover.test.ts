/**
 * Two runner processes (test/support/clusterRunner.ts, `NodeClusterSocket`), the test process as a client
 * only, one throwaway PostgreSQL and the FakeApi: the runner that owns a conversation is SIGKILLed between
 * turns, and the next turn is served by the other runner with its context, from a HOME that never held the
 * conversation's transcript.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Duration, Effect, Layer, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as Net from "node:net"
import * as path from "node:path"
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

const Live = Layer.provideMerge(Cluster.layerClientSocket(), Postgres.layerClient())

layer(Live, { timeout: 60_000, excludeTestServices: true })("Cluster failover across runner processes", (it) => {
  it.effect(
    "cluster failover after SIGKILL of the owning runner: the next turn runs on the other runner with its context",
    () =>
      Effect.gen(function*() {
        const server = yield* Postgres.Postgres
        const sql = yield* PgClient.PgClient
        const api = yield* FakeApi.make({ script: (_request, index) => FakeApi.text(`answer ${index + 1}`) })
        const homes = [yield* tempDir("cluster-r1"), yield* tempDir("cluster-r2")]
        const runners = [
          yield* startRunner("r1", homes[0]!, server.port, api.url),
          yield* startRunner("r2", homes[1]!, server.port, api.url)
        ]
        const conversations = yield* Cluster.client
        const conversation = conversations("failover-conv")
        const turn = (turnId: string, prompt: string) =>
          conversation.turn(turnId, prompt).pipe(Stream.runCollect, Effect.timeout("45 seconds"))

        const first = yield* turn("t1", "remember the word zebra")
        assert.strictEqual(resultOf(first)?.text, "answer 1")
        const owners = yield* sql<{ readonly owner: string }>`
        SELECT owner FROM ecc_conversations WHERE conversation_id = 'failover-conv'`
        const ownerName = owners[0]?.owner
        const owner = runners.find((r) => r.owner === ownerName)
        const other = runners.find((r) => r.owner !== ownerName)
        assert.isDefined(owner, `an owner of the two: ${ownerName}`)
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
        const after = yield* sql<{ readonly owner: string; readonly epoch: number }>`
        SELECT owner, epoch FROM ecc_conversations WHERE conversation_id = 'failover-conv'`
        assert.strictEqual(after[0]?.owner, other.owner)
        assert.strictEqual(after[0]?.epoch, 2)
        assert.isBelow(failoverSeconds, Duration.toSeconds("40 seconds"))
      }).pipe(Effect.scoped),
    120_000
  )
})

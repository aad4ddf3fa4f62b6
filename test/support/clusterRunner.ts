/**
 * A cluster runner for test/Cluster.failover.test.ts, run as its own Node process:
 *
 *   node --conditions=effect-claude-code-source test/support/clusterRunner.ts <owner> <home> <runner port> \
 *     <postgres port> <FakeApi url>
 *
 * It serves `Cluster.Conversation` entities on `NodeClusterSocket` at 127.0.0.1:<runner port>, its sharding
 * state and its conversations in the PostgreSQL at 127.0.0.1:<postgres port> (database `test`), its turns on the
 * real CLI in <home> (HOME, cwd and config dir) against the FakeApi. Prints `ready <owner>` once registered,
 * then runs until killed (at most 3 minutes).
 */
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Console, Effect, Layer } from "effect"
import * as Cluster from "../../src/Cluster.ts"
import * as FakeApi from "../../src/testing/FakeApi.ts"
import { ClaudeTestWith } from "../utils.ts"

const [owner = "runner", home = "/tmp", runnerPort = "0", pgPort = "0", apiUrl = ""] = process.argv.slice(2)

const Runner = Cluster.layerSocket(
  { owner, cwd: home, env: FakeApi.cliEnvironment({ url: apiUrl }, home), maxIdleTime: "2 minutes" },
  { host: "127.0.0.1", port: Number(runnerPort) }
).pipe(
  Layer.provideMerge(ClaudeTestWith({ minIdle: 0 })),
  Layer.provide(PgClient.layer({ host: "127.0.0.1", port: Number(pgPort), username: "postgres", database: "test" }))
)

Effect.gen(function*() {
  yield* Console.log(`ready ${owner}`)
  yield* Effect.sleep("3 minutes")
}).pipe(Effect.provide(Runner), NodeRuntime.runMain)

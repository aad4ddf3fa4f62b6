/**
 * A host for test/hostDeath.test.ts, run as its own Node process:
 *
 *   node --conditions=development test/support/host.ts <pid-dir> [--no-pdeathsig] [--no-reaper]
 *
 * It opens two sessions on the fake CLI: one idle (after one finished turn), one in the middle of a turn
 * that never ends (`hang: "midTurn"`: the fake ignores stdin EOF and SIGTERM-free shutdown alike), each with
 * a grandchild in its process group (a tool, say), prints one JSON line `{"host", "idle", "busy",
 * "idleSelf", "busySelf", "children", "reaper"}` (the sessions' pids, the pids the fakes report for
 * themselves and their grandchildren, in `<pid-dir>`, and the ProcessReaper's pid, 0 without one), then
 * waits to be killed (at most 2 minutes).
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Deferred, Duration, Effect, Layer, Option, Schema, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../../src/Claude.ts"
import * as ProcessManager from "../../src/ProcessManager.ts"
import * as ProcessReaper from "../../src/ProcessReaper.ts"
import * as SessionPool from "../../src/SessionPool.ts"
import * as FakeCli from "../../src/testing/FakeCli.ts"
import * as TokenManager from "../../src/TokenManager.ts"

const pidDir = process.argv[2] ?? fs.mkdtempSync("/tmp/ecc-host-")
const parentDeathSignal = !process.argv.includes("--no-pdeathsig")
const withReaper = !process.argv.includes("--no-reaper")

const ClaudeHost = Claude.layerNoDeps.pipe(
  Layer.provideMerge(SessionPool.layer({ minIdle: 0 })),
  Layer.provideMerge(ProcessManager.layer({ parentDeathSignal })),
  Layer.provideMerge(withReaper ? ProcessReaper.layer : Layer.empty),
  Layer.provide(TokenManager.layerTest(Option.none())),
  Layer.provide(NodeServices.layer)
)

// What the fake writes to its `pidFile` (FakeCli.PidFile): its own `process.pid`.
const decodePidFile = Schema.decodeUnknownSync(
  Schema.fromJsonString(Schema.Struct({ pid: Schema.Number, children: Schema.Array(Schema.Number) }))
)
const pidFile = (file: string) => decodePidFile(fs.readFileSync(file, "utf8"))

const reaperPid = Effect.serviceOption(ProcessReaper.ProcessReaper).pipe(
  Effect.flatMap(Option.match({ onNone: () => Effect.succeedNone, onSome: (reaper) => reaper.pid }))
)

const program = Effect.gen(function*() {
  const idlePids = path.join(pidDir, "idle.json")
  const busyPids = path.join(pidDir, "busy.json")
  const idle = yield* Claude.session({ options: FakeCli.options({ pidFile: idlePids, spawnChildren: 1 }) })
  yield* idle.ask("hello")

  const busy = yield* Claude.session({ options: FakeCli.options({ pidFile: busyPids, hang: "midTurn", spawnChildren: 1 }) })
  const midTurn = yield* Deferred.make<void>()
  // The fake's reply text comes just before it goes silent.
  yield* busy.send("work").pipe(
    Stream.tap((event) => event._tag === "AssistantText" ? Deferred.succeed(midTurn, undefined) : Effect.void),
    Stream.runDrain,
    Effect.forkScoped
  )
  yield* Deferred.await(midTurn).pipe(Effect.timeout(Duration.seconds(20)))

  yield* Console.log(JSON.stringify({
    host: process.pid,
    idle: idle.pid,
    busy: busy.pid,
    idleSelf: pidFile(idlePids).pid,
    busySelf: pidFile(busyPids).pid,
    children: [...pidFile(idlePids).children, ...pidFile(busyPids).children],
    reaper: Option.getOrElse(yield* reaperPid, () => 0)
  }))
  yield* Effect.sleep(Duration.minutes(2))
}).pipe(
  Effect.scoped,
  Effect.timeout(Duration.minutes(3)),
  Effect.provide(ClaudeHost)
)

NodeRuntime.runMain(program)

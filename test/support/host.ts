/**
 * A host for test/hostDeath.test.ts, run as its own Node process:
 *
 *   node --conditions=effect-claude-code-source test/support/host.ts <home> [--real] [--no-pdeathsig] [--no-reaper]
 *     [--containment=auto|pidNamespace|environmentSweep|processGroup] [--detach=group|setsid|doubleFork]
 *     [--early]
 *
 * Every process it starts has HOME=<home>, so whatever it leaves behind can be counted in /proc.
 *
 * - On the fake CLI (default): two sessions, one idle (after one finished turn), one in the middle of a turn
 *   that never ends (`hang: "midTurn"`), each with a grandchild (`sleep 600`) started as `--detach` says
 *   (default `setsid`, as the real CLI starts its Bash tools).
 * - With `--real`: one session on the real CLI against a FakeApi of its own, in the middle of a Bash tool
 *   call (`echo start && sleep 600`).
 *
 * Once ready it prints one JSON line `{"host", "idle", "busy", "idleSelf", "busySelf", "children",
 * "reaper"}` (the sessions' pids, the pids the fakes report for themselves and their grandchildren, the
 * ProcessReaper's pid, 0 where there is none), then waits to be killed (at most 2 minutes). With `--early`
 * it prints `{"host"}` first, before anything is spawned, so a test can kill it at any moment of its life.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Deferred, Duration, Effect, Layer, Option, Schedule, Schema, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../../src/Claude.ts"
import type { ClaudeEvent } from "../../src/ClaudeEvent.ts"
import * as ProcessManager from "../../src/ProcessManager.ts"
import * as ProcessReaper from "../../src/ProcessReaper.ts"
import type * as Session from "../../src/Session.ts"
import * as SessionPool from "../../src/SessionPool.ts"
import * as FakeApi from "../../src/testing/FakeApi.ts"
import * as FakeCli from "../../src/testing/FakeCli.ts"
import * as Leftovers from "../../src/testing/Leftovers.ts"
import * as TokenManager from "../../src/TokenManager.ts"

const home = process.argv[2] ?? fs.mkdtempSync("/tmp/ecc-host-")
const flag = (name: string) => process.argv.includes(`--${name}`)
const value = (name: string) => process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3)

const Containment = Schema.Literals(["auto", "pidNamespace", "environmentSweep", "processGroup"])
const Detach = Schema.Literals(["group", "setsid", "doubleFork"])
const containment = Schema.decodeUnknownSync(Containment)(value("containment") ?? "auto")
const detach = Schema.decodeUnknownSync(Detach)(value("detach") ?? "setsid")

const ClaudeHost = Claude.layerNoDeps.pipe(
  Layer.provideMerge(SessionPool.layer({ minIdle: 0 })),
  Layer.provideMerge(ProcessManager.layer({ parentDeathSignal: !flag("no-pdeathsig"), containment })),
  Layer.provideMerge(flag("no-reaper") ? Layer.empty : ProcessReaper.layer()),
  Layer.provide(TokenManager.layerTest(Option.none())),
  Layer.provide(NodeServices.layer)
)

// What the fake writes to its `pidFile` (FakeCli.PidFile): its own pid, in the host's numbering.
const decodePidFile = Schema.decodeUnknownSync(
  Schema.fromJsonString(Schema.Struct({ pid: Schema.Number, children: Schema.Array(Schema.Number) }))
)
const pidFile = (file: string) => decodePidFile(fs.readFileSync(file, "utf8"))

const reaperPid = Effect.serviceOption(ProcessReaper.ProcessReaper).pipe(
  Effect.flatMap(Option.match({ onNone: () => Effect.succeedNone, onSome: (reaper) => reaper.pid }))
)

const cmdline = (pid: number) => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\u0000").join(" ").trim()
  } catch {
    return ""
  }
}

/** The `sleep 600`s running with our HOME: the tools and grandchildren. */
const sleepers = () => Leftovers.withHome(home).filter((pid) => cmdline(pid) === "sleep 600")

/** Waits (bounded, real time: real processes) until `count` sleepers run. */
const awaitSleepers = (count: number) =>
  Effect.sync(sleepers).pipe(
    Effect.repeat({ until: (found) => found.length >= count, schedule: Schedule.spaced("20 millis") }),
    Effect.timeoutOrElse({
      duration: Duration.seconds(30),
      orElse: () => Effect.die(new Error(`fewer than ${count} sleepers within 30 s: ${sleepers().length}`))
    })
  )

const midTurn = Effect.fnUntraced(function*(
  session: Session.Session,
  prompt: string,
  ready: (event: ClaudeEvent) => boolean
) {
  const started = yield* Deferred.make<void>()
  yield* session.send(prompt).pipe(
    Stream.tap((event) => (ready(event) ? Deferred.succeed(started, undefined) : Effect.void)),
    Stream.runDrain,
    Effect.forkScoped
  )
  yield* Deferred.await(started).pipe(Effect.timeout(Duration.seconds(30)))
})

const onFake = Effect.gen(function*() {
  const idlePids = path.join(home, "idle.json")
  const busyPids = path.join(home, "busy.json")
  const children = { spawnChildren: 1, ...(detach === "group" ? {} : { detachChildren: detach }) }
  const idle = yield* Claude.session({ options: FakeCli.options({ pidFile: idlePids, ...children }) })
  yield* idle.ask("hello")
  const busy = yield* Claude.session({ options: FakeCli.options({ pidFile: busyPids, hang: "midTurn", ...children }) })
  // The fake's reply text comes just before it goes silent.
  yield* midTurn(busy, "work", (event) => event._tag === "AssistantText")
  yield* awaitSleepers(2)
  return {
    idle: idle.pid,
    busy: busy.pid,
    idleSelf: pidFile(idlePids).pid,
    busySelf: pidFile(busyPids).pid,
    children: sleepers()
  }
})

const onRealCli = Effect.gen(function*() {
  const api = yield* FakeApi.FakeApi
  const session = yield* Claude.session({
    options: { env: FakeApi.cliEnvironment(api, home), cwd: home, allowedTools: ["Bash"] }
  })
  yield* midTurn(session, "run the long tool", (event) => event._tag === "ToolUse")
  yield* awaitSleepers(1)
  return { idle: 0, busy: session.pid, idleSelf: 0, busySelf: session.pid, children: sleepers() }
}).pipe(
  Effect.provide(
    FakeApi.layer({
      script: [FakeApi.toolUse("Bash", { command: "echo start && sleep 600", description: "A long tool" })]
    })
  )
)

const program = Effect.gen(function*() {
  if (flag("early")) yield* Console.log(JSON.stringify({ host: process.pid }))
  const pids = yield* (flag("real") ? onRealCli : onFake)
  yield* Console.log(
    JSON.stringify({ host: process.pid, ...pids, reaper: Option.getOrElse(yield* reaperPid, () => 0) })
  )
  yield* Effect.sleep(Duration.minutes(2))
}).pipe(
  Effect.scoped,
  Effect.timeout(Duration.minutes(3)),
  Effect.provide(ClaudeHost)
)

NodeRuntime.runMain(program)

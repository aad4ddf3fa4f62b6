import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Option, Stream, Tracer } from "effect"
import * as fs from "node:fs"
import * as Claude from "../src/Claude.ts"
import * as ClaudeError from "../src/ClaudeError.ts"
import * as DebugLog from "../src/DebugLog.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeCli from "../src/testing/FakeCli.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import {
  captureSpans,
  ClaudeOnFake,
  eventually,
  isAlive,
  pumpClockOnFailure,
  quickShutdown,
  settleUntil
} from "./utils.ts"

// Claude.query's config (permission callback, hooks, sticky, debug, prompt tracing) reaching the pooled
// session it runs on, on the in-process FakeSpawner: every timer is on the TestClock.
const options = { executable: FakeSpawner.executable, timeouts: { shutdownGrace: 1000 } } as const

const toolTurn: FakeSpawner.Turn = {
  text: "done",
  toolUse: { name: "Bash", input: { command: "ls" } },
  controlRequests: [{ subtype: "can_use_tool" }, { subtype: "hook_callback" }]
}

const sessionProcesses = FakeSpawner.FakeSpawnerState.use((state) => state.processes).pipe(
  Effect.map((processes) => processes.filter((p) => p.kind === "session"))
)

const answersTo = (subtype: string) =>
  FakeSpawner.FakeSpawnerState.use((state) => state.controlAnswers).pipe(
    Effect.map((answers) =>
      answers.filter((answer) => answer.subtype === subtype).map((answer) => Reflect.get(answer.response, "response"))
    )
  )

/** Lets the pool's background work (the recycle after a query) finish; no Clock time passes. */
const settled = SessionPool.SessionPool.use((pool) =>
  settleUntil(
    Effect.map(pool.stats, (stats) =>
      stats.keys.every((key) =>
          key.starting === 0 && key.resetting === 0 && key.busy === 0
        )
        ? stats
        : undefined),
    "no process of the pool starting, resetting or busy"
  )
)

describe("Claude.query config (FakeSpawner, TestClock)", () => {
  it.effect("the permission callback and hook handlers of a query answer its CLI's requests", () =>
    Effect.gen(function*() {
      const asked: Array<string> = []
      const events = yield* Claude.query("run ls", options, {
        canUseTool: (request) =>
          Effect.sync(() => asked.push(`tool:${request.toolName}`)).pipe(Effect.as({ behavior: "allow" } as const)),
        hooks: {
          PreToolUse: [{
            matcher: "Bash",
            handle: () => Effect.sync(() => asked.push("hook")).pipe(Effect.as({ continue: true }))
          }]
        }
      }).pipe(Stream.runCollect)
      assert.strictEqual(events.at(-1)?._tag, "Result")
      assert.deepStrictEqual(asked, ["tool:Bash", "hook"])
      assert.deepStrictEqual((yield* answersTo("can_use_tool")).map((r) => Reflect.get(r ?? {}, "behavior")), ["allow"])
      assert.strictEqual((yield* answersTo("hook_callback")).length, 1)
      const [proc] = yield* sessionProcesses
      assert.isTrue(proc?.args.includes("--permission-prompt-tool=stdio"))
    }).pipe(Effect.provide(ClaudeOnFake({ turns: [toolTurn] })), pumpClockOnFailure))

  it.effect("without a callback the same query's tool is denied, on a process of its own", () =>
    Effect.gen(function*() {
      yield* Claude.query("run ls", options, { canUseTool: () => Effect.succeed({ behavior: "allow" }) }).pipe(
        Stream.runDrain
      )
      yield* settled
      yield* Claude.query("run ls", options).pipe(Stream.runDrain)
      const behaviors = (yield* answersTo("can_use_tool")).map((r) => Reflect.get(r ?? {}, "behavior"))
      assert.deepStrictEqual(behaviors, ["allow", "deny"])
      const flags = (yield* sessionProcesses).map((p) => p.args.includes("--permission-prompt-tool=stdio"))
      assert.deepStrictEqual(flags, [true, false])
    }).pipe(Effect.provide(ClaudeOnFake({ turns: [toolTurn], sharedTurns: true })), pumpClockOnFailure))

  it.effect("sticky: the conversation stays on its process, and a query resuming it gets it back without /clear", () =>
    Effect.gen(function*() {
      const first = (yield* Claude.query("remember me", options, { sticky: true }).pipe(Stream.runCollect)).at(-1)
      assert.strictEqual(first?._tag, "Result")
      const sessionId = first?._tag === "Result" ? first.sessionId : ""
      yield* settled
      const second = (yield* Claude.query("still there?", { ...options, resume: sessionId }).pipe(Stream.runCollect))
        .at(-1)
      assert.strictEqual(second?._tag === "Result" ? second.sessionId : undefined, sessionId)
      const processes = yield* sessionProcesses
      assert.strictEqual(processes.length, 1)
      assert.isFalse(JSON.stringify(processes[0]?.stdin).includes("/clear"))
    }).pipe(Effect.provide(ClaudeOnFake({ sharedTurns: true })), pumpClockOnFailure))

  it.effect("debug and tracePrompts: a debug file, the prompt on the turn span, the log on the error", () =>
    Effect.gen(function*() {
      const { spans, tracer } = captureSpans()
      const exit = yield* Claude.query("PROMPT-MARKER-91c2", options, { debug: true, tracePrompts: true }).pipe(
        Stream.runDrain,
        Effect.provideService(Tracer.Tracer, tracer),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
      assert.instanceOf(error, ClaudeError.ClaudeError)
      assert.strictEqual(error?.reason._tag, "Overloaded")
      const log = error === undefined ? undefined : Option.getOrUndefined(DebugLog.of(error))
      assert.isDefined(log?.debugFile)
      assert.include(JSON.stringify(log?.frames), "PROMPT-MARKER-91c2")
      const [proc] = yield* sessionProcesses
      assert.isTrue(proc?.args.some((arg) => arg.startsWith("--debug-file")))
      const turn = spans.find((span) => span.name === "Claude.turn")
      assert.strictEqual(turn?.attributes.get("claude.prompt"), "PROMPT-MARKER-91c2")
    }).pipe(Effect.provide(ClaudeOnFake({ turns: [{ result: { apiErrorStatus: 529 } }] })), pumpClockOnFailure))
})

/** The ProcessReapers this host runs: its children whose command line is the reaper's script. */
const reapers = (): Array<number> =>
  fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).map(Number).filter((pid) => {
    try {
      const ppid = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ")[1]
      return Number(ppid) === process.pid &&
        fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`process.stdin.on("end", reap)`)
    } catch {
      return false
    }
  })

/** The reapers that one query on `Claude.layerWith(settings)` started, seen while its layer lives. */
const reapersStartedBy = (settings: Claude.LayerSettings) =>
  Effect.gen(function*() {
    const before = reapers()
    const started = yield* Effect.gen(function*() {
      const events = yield* Claude.query("hi", { ...FakeCli.options({ reply: "ok" }), timeouts: quickShutdown }).pipe(
        Stream.runCollect
      )
      assert.strictEqual(events.at(-1)?._tag, "Result")
      return reapers().filter((pid) => !before.includes(pid))
    }).pipe(
      Effect.provide(Claude.layerWith({ ...settings, pool: { minIdle: 0 }, health: false })),
      // The environment's credentials, if any, are not the test's; PATH finds the fake CLI's node.
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromEnv({ env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "" } })
      )
    )
    // Closing the layer ends the reaper's input: it exits.
    yield* eventually(() => (started.every((pid) => !isAlive(pid)) ? true : undefined), "5 seconds")
    return started
  })

describe.skipIf(process.platform !== "linux")("Claude.layerWith: the ProcessReaper (FakeCli, real processes)", () => {
  it.live("by default, and with reaper: true, one reaper starts with the first CLI and exits with the layer", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* reapersStartedBy({})).length, 1)
      assert.strictEqual((yield* reapersStartedBy({ reaper: true })).length, 1)
    }))

  it.live("reaper: false runs none", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* reapersStartedBy({ reaper: false }), [])
    }))
})

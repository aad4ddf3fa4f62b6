import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as fs from "node:fs"
import * as path from "node:path"
import * as HealthChecker from "../src/HealthChecker.ts"
import * as ProcessManager from "../src/ProcessManager.ts"
import type * as ResourceLimits from "../src/ResourceLimits.ts"
import type * as Session from "../src/Session.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import * as TokenManager from "../src/TokenManager.ts"
import { joinAdjusting, pumpClockOnFailure, settleUntil, tempDir } from "./utils.ts"

// The pool on the in-process FakeSpawner: every timer (queue timeout, sweeper, ages, the fakes' delays,
// the shutdown ladder) is on the TestClock.
const executable = FakeSpawner.executable
const options = { executable, timeouts: { shutdownGrace: 1000 } } as const

const PoolDeps = (script: FakeSpawner.Script) =>
  ProcessManager.layer().pipe(
    Layer.provideMerge(TokenManager.layerTest(Option.none())),
    Layer.provideMerge(FakeSpawner.layer(script)),
    Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
  )

const PoolOnFake = (settings: SessionPool.Settings, script: FakeSpawner.Script = {}) =>
  SessionPool.layer(settings).pipe(Layer.provideMerge(PoolDeps(script)))

const stats = SessionPool.SessionPool.use((pool) => pool.stats)

/**
 * Lets background fibers run until the pool's stats satisfy `predicate`. No Clock time passes; real time
 * does, a millisecond now and then, for the real I/O on the way (the executable check before a spawn).
 */
const settle = (predicate: (stats: SessionPool.Stats) => boolean) =>
  settleUntil(
    Effect.map(stats, (now) => (predicate(now) ? now : undefined)),
    `the pool's stats to satisfy ${predicate}`
  )

const total = (s: SessionPool.Stats, field: keyof Omit<SessionPool.KeyStats, "key">) =>
  s.keys.reduce((sum, key) => sum + key[field], 0)

const sessionPids = FakeSpawner.FakeSpawnerState.use((state) => state.processes).pipe(
  Effect.map((processes) => processes.filter((p) => p.kind === "session"))
)

const failureTag = (exit: Exit.Exit<unknown, { readonly reason: { readonly _tag: string } }>) => {
  if (!Exit.isFailure(exit)) return undefined
  const reason = exit.cause.reasons[0]
  return reason?._tag === "Fail" ? reason.error.reason._tag : reason?._tag
}

const lease = <A, E, R>(
  use: (session: Session.Session) => Effect.Effect<A, E, R>,
  config: SessionPool.LeaseConfig = { options }
) => SessionPool.SessionPool.use((pool) => Effect.scoped(Effect.flatMap(pool.acquire(config), use)))

describe("SessionPool (FakeSpawner, TestClock)", () => {
  it.effect("recycles a released process with a verified /clear before the next conversation", () =>
    Effect.gen(function*() {
      const first = yield* lease((session) =>
        Effect.map(session.ask("first"), (r) => [session.pid, r.sessionId] as const)
      )
      yield* settle((s) => total(s, "idle") === 1)
      const second = yield* lease((session) =>
        Effect.map(session.ask("second"), (r) => [session.pid, r.sessionId] as const)
      )
      assert.strictEqual(second[0], first[0], "the same process served both conversations")
      assert.notStrictEqual(second[1], first[1], "with a new session id")
      const [proc] = yield* sessionPids
      const prompts = (proc?.stdin ?? []).flatMap((line) =>
        typeof line === "object" && line !== null && Reflect.get(line, "type") === "user"
          ? [JSON.stringify(Reflect.get(line, "message"))]
          : []
      )
      assert.strictEqual(prompts.length, 3)
      assert.include(prompts[1], "/clear")
      const s = yield* stats
      assert.strictEqual(s.spawned, 1)
    }).pipe(Effect.provide(PoolOnFake({ minIdle: 0 })), pumpClockOnFailure))

  it.effect("keeps minIdle spares warm for a key in use", () =>
    Effect.gen(function*() {
      yield* lease((session) => session.ask("hello"))
      const s = yield* settle((s) => total(s, "idle") === 2)
      assert.strictEqual(s.size, 2)
      assert.strictEqual(s.keys.length, 1)
    }).pipe(Effect.provide(PoolOnFake({ minIdle: 1 })), pumpClockOnFailure))

  it.effect("different keys never share a process (F18)", () =>
    Effect.gen(function*() {
      const a = yield* lease((session) => Effect.succeed(session.pid), { options: { ...options, model: "model-a" } })
      yield* settle((s) => total(s, "idle") === 1)
      const b = yield* lease((session) => Effect.succeed(session.pid), { options: { ...options, model: "model-b" } })
      const again = yield* lease((session) => Effect.succeed(session.pid), {
        options: { ...options, model: "model-a" }
      })
      assert.notStrictEqual(a, b)
      assert.strictEqual(again, a)
      const processes = yield* sessionPids
      const models = processes.map((p) => p.args.find((arg) => arg.startsWith("--model=")))
      assert.deepStrictEqual(models.sort(), ["--model=model-a", "--model=model-b"])
    }).pipe(Effect.provide(PoolOnFake({ minIdle: 0 })), pumpClockOnFailure))

  it.effect("exhaustion: a full queue fails at once, a waiter times out with PoolExhausted", () =>
    Effect.gen(function*() {
      const pool = yield* SessionPool.SessionPool
      const holder = yield* Effect.scoped(Effect.andThen(pool.acquire({ options }), Effect.never)).pipe(
        Effect.forkChild
      )
      yield* settle((s) => total(s, "busy") === 1)
      const waiter = yield* Effect.scoped(pool.acquire({ options })).pipe(Effect.exit, Effect.forkChild)
      yield* settle((s) => s.waiting === 1)
      const rejected = yield* Effect.exit(Effect.scoped(pool.acquire({ options })))
      assert.strictEqual(failureTag(rejected), "PoolExhausted")
      if (Exit.isFailure(rejected) && rejected.cause.reasons[0]?._tag === "Fail") {
        assert.include(rejected.cause.reasons[0].error.message, "1 waiting")
      }
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(failureTag(yield* Fiber.join(waiter)), "PoolExhausted")
      assert.strictEqual((yield* stats).waiting, 0)
      yield* Fiber.interrupt(holder)
    }).pipe(
      Effect.provide(PoolOnFake({ max: 1, minIdle: 0, maxWaiters: 1, acquireTimeout: "30 seconds" })),
      pumpClockOnFailure
    ))

  it.effect("waiters are served first come, first served", () =>
    Effect.gen(function*() {
      const pool = yield* SessionPool.SessionPool
      const order: Array<number> = []
      const holder = yield* Effect.scoped(Effect.andThen(pool.acquire({ options }), Effect.never)).pipe(
        Effect.forkChild
      )
      yield* settle((s) => total(s, "busy") === 1)
      const waiters: Array<Fiber.Fiber<void, unknown>> = []
      for (const n of [1, 2, 3, 4]) {
        waiters.push(
          yield* Effect.scoped(Effect.andThen(pool.acquire({ options }), Effect.sync(() => order.push(n)))).pipe(
            Effect.asVoid,
            Effect.forkChild
          )
        )
        yield* settle((s) => s.waiting === n)
      }
      yield* Fiber.interrupt(holder)
      yield* Fiber.joinAll(waiters)
      assert.deepStrictEqual(order, [1, 2, 3, 4])
    }).pipe(Effect.provide(PoolOnFake({ max: 1, minIdle: 0 })), pumpClockOnFailure))

  it.effect("retires a process after maxTurnsPerProcess", () =>
    Effect.gen(function*() {
      const first = yield* lease((session) =>
        Effect.as(Effect.andThen(session.ask("1"), session.ask("2")), session.pid)
      )
      yield* settle((s) => s.retired === 1 && s.size === 0)
      const second = yield* lease((session) => Effect.as(session.ask("3"), session.pid))
      assert.notStrictEqual(second, first)
      const processes = yield* sessionPids
      assert.isFalse(processes.find((p) => p.pid === first)?.running)
    }).pipe(Effect.provide(PoolOnFake({ minIdle: 0, maxTurnsPerProcess: 2 })), pumpClockOnFailure))

  it.effect("retires idle processes by idle time, and by age while their key is in use (TestClock)", () =>
    Effect.gen(function*() {
      const pidOf = (prompt: string) => lease((session) => Effect.as(session.ask(prompt), session.pid))
      // t=0: the leased process and a spare; t=20: the key is used again (the most recent process serves it).
      yield* pidOf("hello")
      yield* settle((s) => total(s, "idle") === 2)
      yield* TestClock.adjust("20 seconds")
      yield* pidOf("again")
      yield* settle((s) => total(s, "idle") === 2)
      // t=35: the spare beyond minIdle has been idle for 30 s: it retires, the other one stays.
      yield* TestClock.adjust("15 seconds")
      let s = yield* settle((s) => s.retired === 1)
      assert.strictEqual(total(s, "idle"), 1)
      // t=65: the key has not been used for maxIdleTime: its last spare goes too, and no new one starts.
      yield* TestClock.adjust("30 seconds")
      s = yield* settle((s) => s.size === 0)
      assert.strictEqual(s.retired, 2)
      assert.strictEqual(s.keys.length, 0)
      // Age: a process leased every 20 s still retires once it is maxProcessAge old.
      const first = yield* pidOf("new key use")
      for (let i = 0; i < 6; i++) {
        yield* TestClock.adjust("20 seconds")
        yield* pidOf(`turn ${i}`)
      }
      const processes = yield* sessionPids
      assert.isFalse(processes.find((p) => p.pid === first)?.running, "the old process retired")
      assert.notStrictEqual(yield* pidOf("last"), first)
    }).pipe(
      Effect.provide(
        PoolOnFake({ minIdle: 1, maxIdleTime: "30 seconds", maxProcessAge: "100 seconds", sweepInterval: "5 seconds" })
      ),
      pumpClockOnFailure
    ))

  it.effect("retires a process whose RSS is over maxRssBytes", () =>
    Effect.gen(function*() {
      const pid = yield* lease((session) => Effect.as(session.ask("hello"), session.pid))
      yield* settle((s) => total(s, "idle") === 1)
      yield* TestClock.adjust("5 seconds")
      const s = yield* settle((s) => s.retired === 1)
      assert.strictEqual(s.size, 0)
      const processes = yield* sessionPids
      assert.isFalse(processes.find((p) => p.pid === pid)?.running)
    }).pipe(
      Effect.provide(PoolOnFake({
        minIdle: 0,
        maxRssBytes: 100,
        sweepInterval: "5 seconds",
        sampleRss: () => Effect.succeed(Option.some(1000))
      })),
      pumpClockOnFailure
    ))

  it.effect("recycle failure: a /clear the CLI never confirms stops the process; the next lease gets a new one", () =>
    Effect.gen(function*() {
      // The fake goes silent after the turn's result: the recycling /clear gets no answer.
      const quick = { options: { executable, timeouts: { shutdownGrace: 1000, firstEvent: 5000 } } }
      const first = yield* lease((session) => Effect.as(session.ask("hello"), session.pid), quick)
      yield* settle((s) => total(s, "resetting") === 1)
      yield* TestClock.adjust("5 seconds")
      // The reset timed out (firstEvent); the process goes down the shutdown ladder.
      yield* TestClock.adjust("3 seconds")
      const s = yield* settle((s) => s.size === 0 && s.retired === 1)
      assert.strictEqual(s.spawned, 1)
      const stopped = (yield* sessionPids).find((p) => p.pid === first)
      assert.isFalse(stopped?.running)
      const second = yield* Effect.forkChild(lease((session) => Effect.succeed(session.pid), quick))
      assert.notStrictEqual(yield* joinAdjusting(second, "the next lease", 30), first)
    }).pipe(
      Effect.provide(PoolOnFake({ minIdle: 0 }, { turns: [{ text: "then silence", hang: "afterResult" }] })),
      pumpClockOnFailure
    ))

  it.effect("an acquirer that gives up while its process starts strands nothing: the process becomes a spare", () =>
    Effect.gen(function*() {
      const pool = yield* SessionPool.SessionPool
      const acquirer = yield* Effect.scoped(pool.acquire({ options })).pipe(Effect.forkChild)
      yield* FakeSpawner.FakeSpawnerState.use((state) =>
        state.waitUntil((ps) => ps.some((p) => p.kind === "session" && p.sleeping))
      )
      yield* Fiber.interrupt(acquirer)
      assert.strictEqual(total(yield* stats, "starting"), 1, "the start-up goes on without its caller")
      yield* TestClock.adjust("3 seconds")
      const s = yield* settle((s) => total(s, "idle") === 1)
      assert.strictEqual(total(s, "busy"), 0)
      const pid = yield* lease((session) => Effect.succeed(session.pid))
      assert.strictEqual((yield* sessionPids)[0]?.pid, pid, "the next lease gets it")
    }).pipe(Effect.provide(PoolOnFake({ minIdle: 0 }, { startupDelay: "3 seconds" })), pumpClockOnFailure))

  it.effect("back-to-back conversations wait for the recycle instead of spawning", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 5; i++) yield* lease((session) => session.ask(`conversation ${i}`))
      const s = yield* stats
      assert.strictEqual(s.spawned, 1)
    }).pipe(Effect.provide(PoolOnFake({ minIdle: 0 })), pumpClockOnFailure))

  it.effect("rotation: after the credential changes, new leases get a new process with it; idle old ones retire", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("rotation")
      const file = path.join(dir, "token")
      fs.writeFileSync(file, "sk-ant-api03-first")
      const layer = SessionPool.layer({ minIdle: 0 }).pipe(
        Layer.provideMerge(ProcessManager.layer()),
        Layer.provideMerge(TokenManager.layer({ file })),
        Layer.provideMerge(FakeSpawner.layer()),
        Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
      )
      yield* Effect.gen(function*() {
        const first = yield* lease((session) => Effect.as(session.ask("one"), session.pid))
        yield* settle((s) => total(s, "idle") === 1)
        fs.writeFileSync(file, "sk-ant-api03-second-one")
        const second = yield* lease((session) => Effect.as(session.ask("two"), session.pid))
        assert.notStrictEqual(second, first)
        const processes = yield* sessionPids
        // The credential travels down fd 3 (see ProcessManager's credentialDelivery).
        const keyOf = (pid: number) => processes.find((p) => p.pid === pid)?.descriptors[3]
        assert.strictEqual(keyOf(first), "sk-ant-api03-first")
        assert.strictEqual(keyOf(second), "sk-ant-api03-second-one")
        // The old process, idle, retires as soon as the change is seen.
        const s = yield* settle((s) => s.retired === 1)
        assert.strictEqual(s.size, 1)
      }).pipe(Effect.provide(layer))
    }).pipe(Effect.scoped, pumpClockOnFailure))

  it.effect("with a HealthChecker: an unhealthy idle process retires; a busy one is flagged and retires after its turn", () =>
    Effect.gen(function*() {
      const MiB = 1024 * 1024
      const readings = new Map<number, ResourceLimits.Usage>()
      // Every reading the checker took: which process, and its RSS.
      const sampled: Array<readonly [pid: number, rssBytes: number]> = []
      const sample: ResourceLimits.Sampler = (pid) =>
        Effect.sync(() => {
          const usage = readings.get(pid) ?? { rssBytes: 10 * MiB, cpuSeconds: 0 }
          sampled.push([pid, usage.rssBytes])
          return Option.some(usage)
        })
      const layer = SessionPool.layer({ minIdle: 0, sweepInterval: "5 seconds" }).pipe(
        Layer.provideMerge(
          HealthChecker.layer({ sample, isAlive: () => Effect.succeed(true), maxRssBytes: 100 * MiB })
        ),
        Layer.provideMerge(PoolDeps({ turns: [{ text: "ok", delay: "20 seconds" }] }))
      )
      const step = Effect.andThen(TestClock.adjust("1 second"), TestClock.withLive(Effect.sleep("1 millis")))
      yield* Effect.gen(function*() {
        const pool = yield* SessionPool.SessionPool
        const idlePid = yield* Effect.scoped(Effect.map(pool.acquire({ options }), (session) => session.pid))
        readings.set(idlePid, { rssBytes: 500 * MiB, cpuSeconds: 0 })
        for (let i = 0; i < 12; i++) yield* step
        assert.strictEqual((yield* pool.stats).retired, 1, "the idle one retired")
        let busy: number | undefined
        const turn = yield* Effect.forkChild(
          Effect.scoped(Effect.flatMap(pool.acquire({ options }), (session) =>
            Effect.andThen(
              Effect.sync(() => {
                readings.set(session.pid, { rssBytes: 500 * MiB, cpuSeconds: 0 })
                busy = session.pid
              }),
              Effect.as(session.ask("long"), session.pid)
            )))
        )
        const busyNow = yield* settleUntil(() => busy, "the second lease")
        // Until the checker has read the busy process over its limit (a sweep every 5 s; its turn takes 20 s).
        const overLimit = () => sampled.some(([pid, rss]) => pid === busyNow && rss === 500 * MiB)
        for (let i = 0; i < 12 && !overLimit(); i++) yield* step
        assert.isTrue(overLimit(), "the checker read the busy process over its limit")
        assert.isUndefined(turn.pollUnsafe(), "its turn still runs")
        assert.strictEqual((yield* pool.stats).retired, 1, "the busy one still runs its turn")
        const busyPid = yield* joinAdjusting(turn, "the busy turn", 30)
        for (let i = 0; i < 3; i++) yield* step
        assert.strictEqual((yield* pool.stats).retired, 2, "and retires once released")
        assert.isFalse((yield* sessionPids).find((p) => p.pid === busyPid)?.running)
      }).pipe(Effect.provide(layer))
    }).pipe(pumpClockOnFailure))

  it.effect("debug and tracePrompts reach pooled sessions, and such sessions never share a process with plain ones", () =>
    Effect.gen(function*() {
      const plain = yield* lease((session) => Effect.succeed(session.pid))
      yield* settle((s) => total(s, "idle") === 1)
      const debugged = yield* lease(
        (session) => Effect.map(session.debugLog, (log) => ({ pid: session.pid, debugFile: log.debugFile })),
        { options, debug: true, tracePrompts: true }
      )
      assert.notStrictEqual(debugged.pid, plain)
      assert.isDefined(debugged.debugFile)
      const args = (yield* sessionPids).find((p) => p.pid === debugged.pid)?.args ?? []
      assert.isTrue(args.some((arg) => arg.startsWith("--debug-file")))
      assert.strictEqual((yield* stats).keys.length, 2)
    }).pipe(Effect.provide(PoolOnFake({ minIdle: 0 })), pumpClockOnFailure))

  it.effect("a sticky conversation keeps its process; resume gets it back without a reset", () =>
    Effect.gen(function*() {
      const [pid, sessionId] = yield* lease(
        (session) => Effect.map(session.ask("remember me"), (r) => [session.pid, r.sessionId] as const),
        { options, sticky: true }
      )
      const parked = yield* settle((s) => total(s, "parked") === 1)
      assert.strictEqual(parked.size, 1)
      const resumed = yield* lease(
        (session) => Effect.map(session.ask("still there?"), (r) => [session.pid, r.sessionId] as const),
        { options: { ...options, resume: sessionId } }
      )
      assert.deepStrictEqual(resumed, [pid, sessionId])
      const [proc] = yield* sessionPids
      assert.isFalse(JSON.stringify(proc?.stdin).includes("/clear"))
    }).pipe(Effect.provide(PoolOnFake({ minIdle: 0 })), pumpClockOnFailure))

  it.effect("a released lease refuses further use; setModel retires the process", () =>
    Effect.gen(function*() {
      const pool = yield* SessionPool.SessionPool
      const kept = yield* Effect.scoped(pool.acquire({ options }))
      const refused = yield* Effect.exit(kept.ask("too late"))
      assert.strictEqual(failureTag(refused), "ProtocolError")
      yield* lease((session) => session.setModel("another-model"))
      yield* settle((s) => s.retired === 1)
    }).pipe(Effect.provide(PoolOnFake({ minIdle: 0 })), pumpClockOnFailure))

  it.effect("a read-only control request leaves the process reusable; one that changes the process retires it", () =>
    Effect.gen(function*() {
      // Reads: no turn, no change, so the next lease gets the same process without even a /clear.
      const first = yield* lease((session) => Effect.as(session.request("mcp_status"), session.pid))
      yield* settle((s) => total(s, "idle") === 1)
      const second = yield* lease((session) => Effect.succeed(session.pid))
      assert.strictEqual(second, first)
      const s = yield* stats
      assert.strictEqual(s.retired, 0)
      assert.strictEqual(s.spawned, 1)
      const [proc] = yield* sessionPids
      assert.isFalse(JSON.stringify(proc?.stdin).includes("/clear"))
      // A request that changes the process: it retires when the lease ends, and the next lease gets a new one.
      yield* lease((session) => session.request("set_max_thinking_tokens", { max_thinking_tokens: 1024 }))
      yield* settle((s) => s.retired === 1 && s.size === 0)
      const third = yield* lease((session) => Effect.succeed(session.pid))
      assert.notStrictEqual(third, first)
      assert.strictEqual((yield* stats).spawned, 2)
    }).pipe(Effect.provide(PoolOnFake({ minIdle: 0 })), pumpClockOnFailure))

  it.effect("a lease config with restart fails with InvalidOptions before anything is spawned", () =>
    Effect.gen(function*() {
      const pool = yield* SessionPool.SessionPool
      // A Session.Config passed as it is: the type of `acquire` has no restart, a Session.Config may.
      const sessionConfig: Session.Config = { options, restart: { maxRestarts: 3 } }
      const exit = yield* Effect.exit(Effect.scoped(pool.acquire(sessionConfig)))
      assert.strictEqual(failureTag(exit), "InvalidOptions")
      if (Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail") {
        assert.include(exit.cause.reasons[0].error.message, "restart: Expected no restart policy")
      }
      assert.lengthOf(yield* sessionPids, 0)
      // @ts-expect-error: a lease takes no restart policy
      const typed: SessionPool.LeaseConfig = { options, restart: { maxRestarts: 3 } }
      assert.isDefined(typed)
    }).pipe(Effect.provide(PoolOnFake({ minIdle: 0 })), pumpClockOnFailure))

  it.effect("F19: a prompt the CLI would run as a command reaches no process; a report (/cost) keeps the process, /model retires it", () =>
    Effect.gen(function*() {
      const userTexts = Effect.map(
        sessionPids,
        (processes) =>
          processes.map((p) =>
            p.stdin.flatMap((line) =>
              typeof line === "object" && line !== null && Reflect.get(line, "type") === "user"
                ? [JSON.stringify(Reflect.get(line, "message"))]
                : []
            )
          )
      )
      // Refused: nothing is written, the lease ran no turn, so its process needs no /clear.
      const refused = yield* lease((session) => Effect.exit(session.ask("/model opus")))
      assert.strictEqual(failureTag(refused), "InvalidPrompt")
      yield* settle((s) => total(s, "idle") === 1)
      assert.deepStrictEqual(yield* userTexts, [[]])
      // A report is a turn (its output joins the conversation): recycled with /clear, then reused.
      yield* lease((session) => session.command("cost"))
      yield* settle((s) => total(s, "idle") === 1)
      assert.strictEqual((yield* stats).retired, 0)
      const [afterReport] = yield* userTexts
      assert.deepStrictEqual(afterReport?.map((text) => JSON.parse(text).content[0].text), ["/cost", "/clear"])
      // A command that changes the process: retired when the lease ends, the next lease gets a new one.
      yield* lease((session) => session.command("model", "opus"))
      yield* settle((s) => s.retired === 1)
      yield* lease((session) => session.ask("fresh"))
      assert.strictEqual((yield* stats).spawned, 2)
    }).pipe(Effect.provide(PoolOnFake({ minIdle: 0 })), pumpClockOnFailure))

  it.effect("each lease's permission callback decides for the same process", () =>
    Effect.gen(function*() {
      const allow = yield* lease((session) => session.ask("one"), {
        options,
        canUseTool: () => Effect.succeed({ behavior: "allow" })
      })
      yield* settle((s) => total(s, "idle") === 1)
      const deny = yield* lease((session) => session.ask("two"), {
        options,
        canUseTool: () => Effect.succeed({ behavior: "deny", message: "no" })
      })
      yield* settle((s) => total(s, "idle") === 1)
      const none = yield* lease((session) => session.ask("three"))
      const answers = (yield* FakeSpawner.FakeSpawnerState.use((state) => state.controlAnswers))
        .filter((answer) => answer.subtype === "can_use_tool")
      const behaviors = answers.map((answer) => Reflect.get(Reflect.get(answer.response, "response") ?? {}, "behavior"))
      assert.deepStrictEqual(behaviors, ["allow", "deny", "deny"])
      assert.strictEqual(new Set([allow.sessionId, deny.sessionId, none.sessionId]).size, 3)
      // The first two shared a process; without a callback the CLI runs without the stdio permission tool.
      assert.strictEqual((yield* stats).spawned, 2)
      const flags = (yield* sessionPids).map((p) => p.args.includes("--permission-prompt-tool=stdio"))
      assert.deepStrictEqual(flags, [true, false])
    }).pipe(
      Effect.provide(PoolOnFake({ minIdle: 0 }, {
        turns: [{
          text: "ok",
          toolUse: { name: "Bash", input: { command: "ls" } },
          controlRequests: [{ subtype: "can_use_tool" }]
        }]
      })),
      pumpClockOnFailure
    ))

  it.effect("drain: a running turn finishes within the grace period, then every process stops", () =>
    Effect.gen(function*() {
      const poolScope = yield* Scope.make()
      const pool = yield* SessionPool.make({ minIdle: 1, drainGrace: "10 seconds" }).pipe(Scope.provide(poolScope))
      const turn = yield* Effect.scoped(Effect.flatMap(pool.acquire({ options }), (session) => session.ask("slow")))
        .pipe(
          Effect.exit,
          Effect.forkChild
        )
      yield* FakeSpawner.FakeSpawnerState.use((state) => state.waitUntil((ps) => ps.some((p) => p.sleeping)))
      const closing = yield* Effect.forkChild(Scope.close(poolScope, Exit.void))
      yield* Effect.yieldNow
      const refused = yield* Effect.exit(Effect.scoped(pool.acquire({ options })))
      assert.isTrue(Exit.isFailure(refused), "no acquisition once draining")
      for (let i = 0; i < 20; i++) yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.join(turn)
      assert.isTrue(Exit.isSuccess(exit), `the running turn completed: ${String(exit)}`)
      yield* Fiber.join(closing)
      const left = yield* FakeSpawner.awaitNoneRunning
      assert.isTrue(left.every((p) => !p.running))
    }).pipe(Effect.provide(PoolDeps({ turns: [{ text: "done", delay: "5 seconds" }] })), pumpClockOnFailure))

  it.effect("drain: a turn longer than the grace period is interrupted; nothing is left running", () =>
    Effect.gen(function*() {
      const poolScope = yield* Scope.make()
      const pool = yield* SessionPool.make({ minIdle: 0, drainGrace: "2 seconds" }).pipe(Scope.provide(poolScope))
      const turn = yield* Effect.scoped(Effect.flatMap(pool.acquire({ options }), (session) => session.ask("slow")))
        .pipe(
          Effect.exit,
          Effect.forkChild
        )
      yield* FakeSpawner.FakeSpawnerState.use((state) => state.waitUntil((ps) => ps.some((p) => p.sleeping)))
      const closing = yield* Effect.forkChild(Scope.close(poolScope, Exit.void))
      const exit = yield* joinAdjusting(turn, "the turn", 30)
      assert.strictEqual(failureTag(exit), "Interrupted", "the turn was interrupted after the grace period")
      yield* joinAdjusting(closing, "the closing", 30)
      yield* FakeSpawner.awaitNoneRunning
    }).pipe(Effect.provide(PoolDeps({ turns: [{ text: "done", delay: "60 seconds" }] })), pumpClockOnFailure))

  it.effect("1000 acquire/release cycles leak neither processes nor fibers", () =>
    Effect.gen(function*() {
      const pool = yield* SessionPool.SessionPool
      for (let i = 0; i < 1000; i++) {
        yield* Effect.scoped(
          Effect.flatMap(pool.acquire({ options }), (session) => i % 10 === 0 ? session.ask(`turn ${i}`) : Effect.void)
        )
      }
      const s = yield* settle((s) => total(s, "resetting") === 0 && s.tasks === 1)
      assert.isAtMost(s.size, 2)
      const live = yield* FakeSpawner.FakeSpawnerState.use((state) => state.live)
      assert.strictEqual(live, s.size)
      assert.strictEqual(s.spawned, s.size + s.retired)
    }).pipe(Effect.provide(PoolOnFake({ max: 2, minIdle: 1 })), pumpClockOnFailure))
})

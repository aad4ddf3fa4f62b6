/**
 * HealthChecker on FakeSpawner sessions: every deadline, schedule and stall is on the TestClock, and the
 * process readings come from an injected sampler (the fake pids have no /proc).
 */
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import {
  Deferred,
  Effect,
  Exit,
  Fiber,
  Layer,
  Metric,
  Option,
  Predicate,
  Schedule,
  Scope,
  Stream,
  SubscriptionRef
} from "effect"
import { TestClock } from "effect/testing"
import * as HealthChecker from "../src/HealthChecker.ts"
import * as Metrics from "../src/Metrics.ts"
import * as ProcessManager from "../src/ProcessManager.ts"
import type * as ResourceLimits from "../src/ResourceLimits.ts"
import * as Session from "../src/Session.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import * as TokenManager from "../src/TokenManager.ts"
import * as FakeFileSystem from "./support/fakeFileSystem.ts"
import { pumpClockOnFailure } from "./utils.ts"

const MiB = 1024 * 1024
const executable = FakeSpawner.executable
// The session's own idle deadline is far away: the health checker's stall threshold (30 s) comes first.
const options = { executable, timeouts: { shutdownGrace: 1000, idle: 600_000 } } as const

/** What the injected sampler and liveness check report, per fake pid. */
const readings = new Map<number, ResourceLimits.Usage>()
const dead = new Set<number>()
const sampledAt: Array<{ readonly pid: number }> = []
const sample: ResourceLimits.Sampler = (pid) =>
  Effect.sync(() => {
    sampledAt.push({ pid })
    return Option.some(readings.get(pid) ?? { rssBytes: 50 * MiB, cpuSeconds: 1 })
  })
const isAlive = (pid: number) => Effect.sync(() => !dead.has(pid))

const reset = Effect.sync(() => {
  readings.clear()
  dead.clear()
  sampledAt.length = 0
})

const OnFake = (script: FakeSpawner.Script = {}, settings: HealthChecker.Settings = {}) =>
  HealthChecker.layer({
    sample,
    isAlive,
    schedule: Schedule.spaced("10 seconds"),
    responseDeadline: "2 seconds",
    stallAfter: "30 seconds",
    ...settings
  }).pipe(
    Layer.merge(ProcessManager.layer()),
    Layer.provideMerge(TokenManager.layerTest(Option.none())),
    Layer.provideMerge(FakeSpawner.layer(script)),
    Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
  )

/** Control requests of the given subtype the host wrote to a fake's stdin. */
const probesSent = (pid: number, subtype = "mcp_status") =>
  FakeSpawner.FakeSpawnerState.use((state) => state.processes).pipe(
    Effect.map((processes) =>
      (processes.find((p) => p.pid === pid)?.stdin ?? []).filter((line) =>
        Predicate.isObject(line) && line["type"] === "control_request" &&
        Predicate.isObject(line["request"]) && line["request"]["subtype"] === subtype
      ).length
    )
  )

/** Waits (no Clock time) until a fake session process is parked in a hang or a sleep. */
const untilQuiet = FakeSpawner.FakeSpawnerState.use((state) =>
  state.waitUntil((ps) => ps.some((p) => p.kind === "session" && (p.hung || p.sleeping)))
)

const tags = (health: HealthChecker.Health) => health.problems.map((p) => p._tag)

/** Waits for a watch's first finished check (an answered probe takes no Clock time on the fake). */
const firstCheck = (watched: HealthChecker.Watched) =>
  watched.changes.pipe(Stream.filter((health) => health.status !== "unknown"), Stream.runHead)

/**
 * Runs a test body in a scope that is closed while the TestClock moves: a hung fake only exits down the
 * shutdown ladder (stdin EOF, grace, SIGTERM), whose waits are on the Clock.
 */
const scopedOnClock = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const exit = yield* Effect.exit(body.pipe(Scope.provide(scope)))
    const closing = yield* Effect.forkChild(Scope.close(scope, exit))
    for (let i = 0; i < 60 && closing.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 second")
    yield* Fiber.join(closing)
    return yield* exit
  })

describe("HealthChecker (FakeSpawner, TestClock)", () => {
  it.effect("an idle session that answers the probe in time is healthy; its usage comes from the sampler", () =>
    Effect.gen(function*() {
      yield* reset
      const checker = yield* HealthChecker.HealthChecker
      const session = yield* Session.make({ options })
      const health = yield* checker.check(session)
      assert.strictEqual(health.status, "healthy")
      assert.strictEqual(health.state, "Idle")
      assert.isTrue(health.alive)
      assert.deepStrictEqual(health.responseMs, Option.some(0))
      assert.deepStrictEqual(health.usage, Option.some({ rssBytes: 50 * MiB, cpuSeconds: 1 }))
      assert.strictEqual(health.id, `pid-${session.pid}`)
      assert.strictEqual(yield* probesSent(session.pid), 1)
    }).pipe(scopedOnClock, Effect.provide(OnFake()), pumpClockOnFailure))

  it.effect("an idle session that does not answer within the deadline is Unresponsive (at the deadline, not before)", () =>
    Effect.gen(function*() {
      yield* reset
      const checker = yield* HealthChecker.HealthChecker
      const session = yield* Session.make({ options })
      yield* session.ask("then silence")
      const fiber = yield* Effect.forkChild(checker.check(session))
      yield* TestClock.adjust("1999 millis")
      assert.isUndefined(fiber.pollUnsafe(), "still waiting for the answer")
      yield* TestClock.adjust("1 millis")
      const health = yield* Fiber.join(fiber)
      assert.strictEqual(health.status, "unhealthy")
      assert.deepStrictEqual(health.problems[0], {
        _tag: "Unresponsive",
        deadlineMs: 2000,
        detail: "no answer to mcp_status within 2000 ms"
      })
      assert.deepStrictEqual(health.responseMs, Option.none())
    }).pipe(
      scopedOnClock,
      Effect.provide(OnFake({ turns: [{ text: "bye", hang: "afterResult" }] })),
      pumpClockOnFailure
    ))

  it.effect("a running session is never probed; silent past stallAfter it is Stalled", () =>
    Effect.gen(function*() {
      yield* reset
      const checker = yield* HealthChecker.HealthChecker
      const session = yield* Session.make({ options })
      const turn = yield* Effect.forkChild(Effect.exit(session.ask("hang")))
      yield* untilQuiet
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Running")
      const first = yield* checker.check(session)
      assert.strictEqual(first.status, "healthy")
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual((yield* checker.check(session)).status, "healthy", "30 s of silence is not more than 30 s")
      yield* TestClock.adjust("1 second")
      const stalled = yield* checker.check(session)
      assert.strictEqual(stalled.status, "unhealthy")
      assert.deepStrictEqual(stalled.problems, [{ _tag: "Stalled", silentMs: 31_000, thresholdMs: 30_000 }])
      assert.strictEqual(yield* probesSent(session.pid), 0, "no probe while Running")
      assert.isUndefined(turn.pollUnsafe(), "flagged, not stopped: the turn still runs")
    }).pipe(scopedOnClock, Effect.provide(OnFake({ turns: [{ text: "never", hang: "midTurn" }] })), pumpClockOnFailure))

  it.effect("a running session whose I/O counters move is not stalled", () =>
    Effect.gen(function*() {
      yield* reset
      const checker = yield* HealthChecker.HealthChecker
      const session = yield* Session.make({ options })
      yield* Effect.forkChild(Effect.exit(session.ask("busy")))
      yield* untilQuiet
      for (let i = 1; i <= 6; i++) {
        readings.set(session.pid, { rssBytes: 50 * MiB, cpuSeconds: i, ioBytes: 1000 * i })
        const health = yield* checker.check(session)
        assert.strictEqual(health.status, "healthy", `after ${(i - 1) * 20} s`)
        yield* TestClock.adjust("20 seconds")
      }
      // The counters stop: 20 s after their last change it is fine, 40 s after it is stalled.
      assert.strictEqual((yield* checker.check(session)).status, "healthy")
      yield* TestClock.adjust("20 seconds")
      assert.deepStrictEqual(tags(yield* checker.check(session)), ["Stalled"])
    }).pipe(scopedOnClock, Effect.provide(OnFake({ turns: [{ text: "never", hang: "midTurn" }] })), pumpClockOnFailure))

  it.effect("a session that exposes lastEventAt is judged by it", () =>
    Effect.gen(function*() {
      yield* reset
      const checker = yield* HealthChecker.HealthChecker
      const session = yield* Session.make({ options })
      yield* Effect.forkChild(Effect.exit(session.ask("hang")))
      yield* untilQuiet
      yield* TestClock.adjust("100 seconds")
      let lastEventAt = 90_000
      const target: HealthChecker.Target = {
        state: session.state,
        pid: session.pid,
        request: session.request,
        lastEventAt: Effect.sync(() => Option.some(lastEventAt))
      }
      assert.strictEqual((yield* checker.check(target)).status, "healthy", "10 s since the last event")
      lastEventAt = 60_000
      assert.deepStrictEqual((yield* checker.check(target)).problems, [{
        _tag: "Stalled",
        silentMs: 40_000,
        thresholdMs: 30_000
      }])
    }).pipe(scopedOnClock, Effect.provide(OnFake({ turns: [{ text: "never", hang: "midTurn" }] })), pumpClockOnFailure))

  it.effect("a Session's lastEventAt: a wait on the host's permission callback is no stall, silence after it is", () =>
    Effect.gen(function*() {
      yield* reset
      const checker = yield* HealthChecker.HealthChecker
      const asked = yield* Deferred.make<void>()
      const session = yield* Session.make({
        options,
        canUseTool: () =>
          Deferred.succeed(asked, undefined).pipe(
            Effect.andThen(Effect.sleep("60 seconds")),
            Effect.as({ behavior: "allow" } as const)
          )
      })
      assert.deepStrictEqual(yield* session.lastEventAt, Option.none(), "no turn, no sign of life to report")
      yield* Effect.forkChild(Effect.exit(session.ask("run ls")))
      yield* Deferred.await(asked)
      yield* TestClock.adjust("45 seconds")
      assert.deepStrictEqual(yield* session.lastEventAt, Option.some(45_000), "the host deciding: alive now")
      assert.strictEqual((yield* checker.check(session)).status, "healthy", "45 s in the permission callback")
      // The callback allows at 60 s; the CLI runs the tool, writes its text, and goes silent.
      yield* TestClock.adjust("15 seconds")
      yield* untilQuiet
      assert.deepStrictEqual(yield* session.lastEventAt, Option.some(60_000))
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual((yield* checker.check(session)).status, "healthy", "30 s of silence is not more than 30 s")
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(
        (yield* checker.check(session)).problems,
        [{ _tag: "Stalled", silentMs: 31_000, thresholdMs: 30_000 }]
      )
    }).pipe(
      scopedOnClock,
      Effect.provide(OnFake({
        turns: [{
          text: "never",
          hang: "midTurn",
          toolUse: { name: "Bash", input: { command: "ls" } },
          controlRequests: [{ subtype: "can_use_tool" }]
        }]
      })),
      pumpClockOnFailure
    ))

  it.effect("a dead process, a Failed session and readings over the thresholds are unhealthy", () =>
    Effect.gen(function*() {
      yield* reset
      const checker = yield* HealthChecker.HealthChecker
      const session = yield* Session.make({ options })
      readings.set(session.pid, { rssBytes: 900 * MiB, cpuSeconds: 5000 })
      const over = yield* checker.check(session)
      assert.deepStrictEqual(over.problems, [
        { _tag: "OverThreshold", resource: "rssBytes", threshold: 500 * MiB, observed: 900 * MiB },
        { _tag: "OverThreshold", resource: "cpuSeconds", threshold: 3600, observed: 5000 }
      ])
      dead.add(session.pid)
      const gone = yield* checker.check(session)
      assert.deepStrictEqual(gone.problems, [{ _tag: "Dead", pid: session.pid }])
      assert.isFalse(gone.alive)
      assert.strictEqual(yield* probesSent(session.pid), 1, "a dead process is not probed")
      yield* SubscriptionRef.set(session.state, "Failed")
      assert.deepStrictEqual(tags(yield* checker.check(session)), ["Failed"])
    }).pipe(
      scopedOnClock,
      Effect.provide(OnFake({}, { maxRssBytes: 500 * MiB, maxCpuSeconds: 3600 })),
      pumpClockOnFailure
    ))

  it.effect("watch: checks on the schedule, streams changes (not readings), handlers hear every change, the aggregate sums up", () =>
    Effect.gen(function*() {
      yield* reset
      const checker = yield* HealthChecker.HealthChecker
      const heard: Array<string> = []
      yield* checker.onChange((health) => Effect.sync(() => heard.push(`${health.id}:${health.status}`)))
      const aggregates: Array<HealthChecker.Aggregate> = []
      yield* Effect.forkChild(
        checker.aggregateChanges.pipe(Stream.runForEach((a) => Effect.sync(() => aggregates.push(a)))),
        {
          startImmediately: true
        }
      )
      const good = yield* Session.make({ options })
      const bad = yield* Session.make({ options })
      // `bad` goes silent after its turn: it will not answer the probe.
      yield* bad.ask("then silence")
      const goodWatch = yield* checker.watch(good, { id: "good" })
      const goodChanges: Array<HealthChecker.Health> = []
      yield* Effect.forkChild(
        goodWatch.changes.pipe(Stream.runForEach((h) => Effect.sync(() => goodChanges.push(h)))),
        {
          startImmediately: true
        }
      )
      yield* checker.watch(bad, { id: "bad" })
      yield* firstCheck(goodWatch)
      assert.strictEqual((yield* goodWatch.current).status, "healthy", "checked at once")
      assert.strictEqual((yield* checker.aggregate).unknown, 1, "bad's first check waits for its answer")
      yield* TestClock.adjust("2 seconds")
      const aggregate = yield* checker.aggregate
      assert.deepStrictEqual(
        [aggregate.status, aggregate.total, aggregate.healthy, aggregate.unhealthy, aggregate.problems.Unresponsive],
        ["degraded", 2, 1, 1, 1]
      )
      // Three more checks of each: readings change, health does not; so no more changes.
      for (let i = 1; i <= 3; i++) {
        readings.set(good.pid, { rssBytes: (50 + i) * MiB, cpuSeconds: i })
        yield* TestClock.adjust("10 seconds")
      }
      assert.strictEqual(sampledAt.filter((s) => s.pid === good.pid).length, 4, "at 0, 10, 20 and 30 s")
      assert.strictEqual(yield* probesSent(good.pid), 4)
      assert.deepStrictEqual(heard.sort(), ["bad:unhealthy", "good:healthy"])
      assert.deepStrictEqual(goodChanges.map((h) => h.status), ["unknown", "healthy"])
      assert.strictEqual(
        Option.getOrUndefined((yield* goodWatch.current).usage)?.rssBytes,
        53 * MiB,
        "the latest reading"
      )
      // The process gauges, with the watch's id as their `session` attribute.
      const rss = yield* Metric.value(Metric.withAttributes(Metrics.processRssBytes, { session: "good" }))
      const cpu = yield* Metric.value(Metric.withAttributes(Metrics.processCpuSeconds, { session: "good" }))
      assert.deepStrictEqual([rss.value, cpu.value], [53 * MiB, 3])
      // good dies: one change.
      dead.add(good.pid)
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(goodChanges.map((h) => h.status), ["unknown", "healthy", "unhealthy"])
      assert.strictEqual((yield* checker.aggregate).status, "unhealthy")
      assert.include(heard, "good:unhealthy")
      // The aggregate's own stream: one element per change of the sums, none for the unchanged checks.
      assert.deepStrictEqual(aggregates.map((a) => a.status), ["healthy", "healthy", "degraded", "unhealthy"])
    }).pipe(
      scopedOnClock,
      Effect.provide(OnFake({ turns: [{ text: "bye", hang: "afterResult" }] })),
      pumpClockOnFailure
    ))

  it.effect("a closed session ends its watch: a last Closed health, then out of the aggregate", () =>
    Effect.gen(function*() {
      yield* reset
      const checker = yield* HealthChecker.HealthChecker
      const scope = yield* Scope.make()
      const session = yield* Session.make({ options }).pipe(Scope.provide(scope))
      const watched = yield* checker.watch(session)
      const collected = yield* Effect.forkChild(Stream.runCollect(watched.changes), { startImmediately: true })
      yield* firstCheck(watched)
      assert.strictEqual((yield* checker.aggregate).total, 1)
      yield* Effect.forkChild(Scope.close(scope, Exit.void))
      for (let i = 0; i < 5 && collected.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 second")
      const healths = yield* Fiber.join(collected)
      assert.deepStrictEqual(healths.map((h) => [h.status, h.state]), [["unknown", "Idle"], ["healthy", "Idle"], [
        "unknown",
        "Closed"
      ]])
      assert.strictEqual((yield* checker.aggregate).total, 0)
    }).pipe(scopedOnClock, Effect.provide(OnFake()), pumpClockOnFailure))

  it("aggregateOf: healthy when none is unhealthy, unhealthy when all are, degraded in between", () => {
    const health = (
      status: HealthChecker.Status,
      problems: ReadonlyArray<HealthChecker.Problem> = []
    ): HealthChecker.Health => ({
      id: "x",
      pid: 1,
      state: "Idle",
      status,
      problems,
      alive: true,
      responseMs: Option.none(),
      usage: Option.none(),
      checkedAt: 0
    })
    assert.strictEqual(HealthChecker.aggregateOf([]).status, "healthy")
    assert.strictEqual(HealthChecker.aggregateOf([health("healthy"), health("unknown")]).status, "healthy")
    const degraded = HealthChecker.aggregateOf([health("healthy"), health("unhealthy", [{ _tag: "Dead", pid: 1 }])])
    assert.deepStrictEqual([degraded.status, degraded.problems.Dead], ["degraded", 1])
    assert.strictEqual(HealthChecker.aggregateOf([health("unhealthy", [{ _tag: "Failed" }])]).status, "unhealthy")
  })
})

describe("HealthChecker without readers of its own: the host's /proc through the FileSystem", () => {
  it.effect("usage and liveness come from /proc/<pid> as the FileSystem serves it, at each check", () => {
    const stat = (state: string) => `42 (claude) ${state} 1 42 42 0 -1 0 0 0 0 0 250 50 0 0 20 0 1 0 1 0 0\n`
    const { fake, layer } = FakeFileSystem.layer({
      "/proc/self/stat": stat("R"),
      "/proc/42/stat": stat("S"),
      "/proc/42/status": `VmRSS:\t ${300 * 1024} kB\n`
    })
    return Effect.gen(function*() {
      const checker = yield* HealthChecker.HealthChecker
      // A running session is not probed: its health is its process's.
      const target: HealthChecker.Target = {
        pid: 42,
        state: yield* SubscriptionRef.make<Session.State>("Running"),
        request: () => Effect.die("a running session is never probed")
      }
      const over = yield* checker.check(target)
      assert.isTrue(over.alive)
      assert.deepStrictEqual(over.usage, Option.some({ rssBytes: 300 * MiB, cpuSeconds: 3 }))
      assert.deepStrictEqual(over.problems, [{
        _tag: "OverThreshold",
        resource: "rssBytes",
        threshold: 100 * MiB,
        observed: 300 * MiB
      }])
      // Its CLI became a zombie: dead, and not sampled.
      fake.files.set("/proc/42/stat", stat("Z"))
      const dead = yield* checker.check(target)
      assert.isFalse(dead.alive)
      assert.deepStrictEqual(dead.problems, [{ _tag: "Dead", pid: 42 }])
      assert.deepStrictEqual(dead.usage, Option.none())
    }).pipe(Effect.provide(HealthChecker.layer({ maxRssBytes: 100 * MiB }).pipe(Layer.provide(layer))))
  })
})

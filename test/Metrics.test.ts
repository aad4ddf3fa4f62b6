import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import type { Duration } from "effect"
import { Effect, Exit, Fiber, Layer, Metric, Option, Scope, Stream, SubscriptionRef } from "effect"
import { TestClock } from "effect/testing"
import * as Claude from "../src/Claude.ts"
import * as Metrics from "../src/Metrics.ts"
import * as ProcessManager from "../src/ProcessManager.ts"
import type * as Session from "../src/Session.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import * as TokenManager from "../src/TokenManager.ts"
import { ClaudeOnFake, joinAdjusting, pumpClockOnFailure, settleUntil } from "./utils.ts"

// Every metric of the library on the in-process FakeSpawner and the TestClock: each test gets a registry of
// its own (provided outside the layers, so the pool and its sessions record into it too).
const executable = FakeSpawner.executable
const quick = { shutdownGrace: 1000 } as const
const model = "claude-opus-5-5" // what the fake reports for the default model

const withRegistry = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => Effect.provideService(self, Metric.MetricRegistry, new Map()))

const count = (metric: Metric.Counter<number>, attributes: Metric.Metric.Attributes = {}) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.count)

const gauge = (metric: Metric.Gauge<number>, attributes: Metric.Metric.Attributes = {}) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.value)

const histogram = (metric: Metric.Metric<number, Metric.HistogramState>, attributes: Metric.Metric.Attributes = {}) =>
  Metric.value(Metric.withAttributes(metric, attributes))

/**
 * Runs `ask` on its own fiber; once the fake sleeps (its `delay` before the turn's first frame), moves the
 * clock by `delay` and waits for the turn to end.
 */
const askAfter = (session: Session.Session, prompt: string, delay: Duration.Input) =>
  Effect.gen(function*() {
    const fake = yield* FakeSpawner.FakeSpawnerState
    const sleeps = (yield* fake.processes).reduce((n, p) => n + p.sleeps, 0)
    const fiber = yield* Effect.forkChild(Effect.exit(session.ask(prompt)))
    yield* fake.waitUntil((ps) => ps.some((p) => p.sleeping) && ps.reduce((n, p) => n + p.sleeps, 0) > sleeps)
    yield* TestClock.adjust(delay)
    return yield* Fiber.join(fiber)
  })

const stateBecomes = (session: Session.Session, wanted: Session.State) =>
  SubscriptionRef.changes(session.state).pipe(
    Stream.takeUntil((now) => now === wanted),
    Stream.runDrain,
    (waiting) => TestClock.withLive(Effect.timeout(waiting, "3 seconds"))
  )

const close = (value: number, expected: number) =>
  assert.isBelow(Math.abs(value - expected), 1e-9, `${value} ≈ ${expected}`)

describe("Metrics", () => {
  it("are defined once, all named claude_*", () => {
    const all = Object.values(Metrics).flatMap((value) => (Metric.isMetric(value) ? [value] : []))
    assert.strictEqual(all.length, 21)
    for (const metric of all) assert.match(metric.id, /^claude_[a-z_]+$/)
    assert.strictEqual(new Set(all.map((m) => m.id)).size, all.length, "one definition per name")
    assert.strictEqual(Metrics.processRssBytes.id, "claude_process_rss_bytes")
    assert.strictEqual(Metrics.processRssBytes.type, "Gauge")
    assert.strictEqual(Metrics.processCpuSeconds.id, "claude_process_cpu_seconds")
    assert.strictEqual(Metrics.processCpuSeconds.type, "Gauge")
    assert.strictEqual(Metrics.turnDuration.type, "Histogram")
    assert.strictEqual(Metrics.timeToFirstEvent.type, "Histogram")
    assert.strictEqual(Metrics.poolWait.type, "Histogram")
    assert.strictEqual(Metrics.toolCallsTotal.type, "Counter")
    assert.strictEqual(Metrics.toolCallDuration.type, "Histogram")
  })

  it.effect("a turn records its outcome, duration, time to first event, tokens and cost by model", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({ options: { executable, timeouts: quick } })
      assert.strictEqual(yield* count(Metrics.spawnsTotal, { kind: "initial" }), 1)
      // The fake waits 1 s, then 3 s before the first frame of its turn, and writes the rest at once.
      const first = yield* askAfter(session, "one", "1 second")
      const second = yield* askAfter(session, "two", "3 seconds")
      assert.isTrue(Exit.isSuccess(first) && Exit.isSuccess(second))

      assert.strictEqual(yield* count(Metrics.turnsTotal, { outcome: "success", reason: "none" }), 2)
      const duration = yield* histogram(Metrics.turnDuration, { outcome: "success" })
      assert.strictEqual(duration.count, 2)
      assert.strictEqual(duration.sum, 4)
      assert.strictEqual(duration.min, 1)
      assert.strictEqual(duration.max, 3)
      const ttfe = yield* histogram(Metrics.timeToFirstEvent)
      assert.strictEqual(ttfe.count, 2)
      assert.strictEqual(ttfe.sum, 4)
      // Bucket of 1 s holds the first turn; the 3 s one falls in the 5 s bucket.
      assert.deepStrictEqual(ttfe.buckets.filter(([bound]) => bound === 1 || bound === 2.5 || bound === 5), [[1, 1], [
        2.5,
        1
      ], [5, 2]])

      // The fake's usage: 100 in, 12 out per turn; its cost 0.00064 per turn, reported as the conversation's total.
      assert.strictEqual(yield* count(Metrics.inputTokensTotal, { model }), 200)
      assert.strictEqual(yield* count(Metrics.outputTokensTotal, { model }), 24)
      assert.strictEqual(yield* count(Metrics.cacheReadInputTokensTotal, { model }), 0)
      close(yield* count(Metrics.costUsdTotal, { model }), 0.00128)
      const results = [first, second].flatMap((exit) => (Exit.isSuccess(exit) ? [exit.value] : []))
      close(results[1]?.costUsd ?? 0, 0.00128) // the CLI's figure is cumulative; the counter is not counted twice
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ turns: [{ delay: "1 second" }, { delay: "3 seconds" }] })),
      withRegistry
    ))

  it.effect("failed turns count by reason; the success rate is derivable", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({ options: { executable, timeouts: { ...quick, firstEvent: 5000 } } })
      yield* session.ask("ok")
      const overloaded = yield* Effect.exit(session.ask("529"))
      assert.isTrue(Exit.isFailure(overloaded))
      // No first event within 5 s: Timeout, then the shutdown ladder (on the clock too).
      const stalled = yield* Effect.forkChild(Effect.exit(session.ask("stall")))
      assert.isTrue(Exit.isFailure(yield* joinAdjusting(stalled, "the stalled turn", 30)))

      assert.strictEqual(yield* count(Metrics.turnsTotal, { outcome: "success", reason: "none" }), 1)
      assert.strictEqual(yield* count(Metrics.turnsTotal, { outcome: "failure", reason: "Overloaded" }), 1)
      assert.strictEqual(yield* count(Metrics.turnsTotal, { outcome: "failure", reason: "Timeout" }), 1)
      const turns = (yield* Metric.snapshot).filter((s) => s.id === "claude_turns_total")
      const total = turns.reduce((sum, s) => sum + (s.type === "Counter" ? Number(s.state.count) : 0), 0)
      const successes = turns.filter((s) => s.attributes?.["outcome"] === "success")
        .reduce((sum, s) => sum + (s.type === "Counter" ? Number(s.state.count) : 0), 0)
      assert.strictEqual(successes / total, 1 / 3)
      assert.strictEqual((yield* histogram(Metrics.turnDuration, { outcome: "failure" })).count, 2)
      // The stalled turn had no first event: it is not observed there.
      assert.strictEqual((yield* histogram(Metrics.timeToFirstEvent)).count, 2)
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({
        turns: [{}, { result: { apiErrorStatus: 529 } }, { hang: "beforeFirstEvent" }]
      })),
      withRegistry
    ))

  it.effect("a crash counts a restart (by reason) and a second spawn; the crashed turn fails as ProcessCrashed", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({ options: { executable, timeouts: quick } })
      yield* session.ask("one")
      const crashed = yield* Effect.exit(session.ask("two"))
      assert.isTrue(Exit.isFailure(crashed))
      yield* stateBecomes(session, "Idle")
      yield* session.ask("three")
      assert.strictEqual(yield* count(Metrics.spawnsTotal, { kind: "initial" }), 1)
      assert.strictEqual(yield* count(Metrics.spawnsTotal, { kind: "restart" }), 1)
      assert.strictEqual(yield* count(Metrics.restartsTotal, { reason: "ProcessCrashed" }), 1)
      assert.strictEqual(yield* count(Metrics.turnsTotal, { outcome: "failure", reason: "ProcessCrashed" }), 1)
      assert.strictEqual(yield* count(Metrics.turnsTotal, { outcome: "success", reason: "none" }), 2)
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ sharedTurns: true, turns: [{}, { crash: { signal: "SIGKILL" } }, {}] })),
      withRegistry
    ))

  it.effect("a process that never answers initialize counts a spawn failure by reason", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(
        Effect.exit(Claude.session({ options: { executable, timeouts: { ...quick, startup: 2000 } } }))
      )
      yield* FakeSpawner.FakeSpawnerState.use((fake) => fake.waitUntil((ps) => ps.some((p) => p.kind === "session")))
      for (let i = 0; i < 10 && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 second")
      assert.isTrue(Exit.isFailure(yield* Fiber.join(fiber)))
      assert.strictEqual(yield* count(Metrics.spawnsTotal, { kind: "initial" }), 1)
      assert.strictEqual(yield* count(Metrics.spawnFailuresTotal, { reason: "Timeout" }), 1)
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ hangBeforeInit: true })),
      withRegistry
    ))

  it.effect("the /clear of a reset is not a turn; the next conversation's cost starts from there", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({ options: { executable, timeouts: quick } })
      yield* session.ask("one")
      yield* session.reset
      yield* session.ask("two")
      assert.strictEqual(yield* count(Metrics.turnsTotal, { outcome: "success", reason: "none" }), 2)
      assert.strictEqual((yield* histogram(Metrics.turnDuration, { outcome: "success" })).count, 2)
      assert.strictEqual(yield* count(Metrics.inputTokensTotal, { model }), 200)
      close(yield* count(Metrics.costUsdTotal, { model }), 0.00128)
    }).pipe(Effect.scoped, Effect.provide(ClaudeOnFake({})), withRegistry))
})

describe("SessionPool metrics", () => {
  const PoolOnFake = (settings: SessionPool.Settings, script: FakeSpawner.Script = {}) =>
    SessionPool.layer(settings).pipe(
      Layer.provideMerge(ProcessManager.layer()),
      Layer.provideMerge(TokenManager.layerTest(Option.none())),
      Layer.provideMerge(FakeSpawner.layer(script)),
      Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
    )

  const sessions = (state: string) => gauge(Metrics.poolSessions, { state })
  const byState = Effect.gen(function*() {
    const out: Record<string, number> = {}
    for (const state of ["starting", "idle", "parked", "busy", "resetting"]) out[state] = yield* sessions(state)
    return out
  })
  const zero = { starting: 0, idle: 0, parked: 0, busy: 0, resetting: 0 }

  /** Lets the pool's background fibers run (no Clock time passes) until `predicate` holds. */
  const settle = (predicate: (stats: SessionPool.Stats) => boolean) =>
    SessionPool.SessionPool.use((pool) =>
      settleUntil(
        Effect.map(pool.stats, (now) => (predicate(now) ? true : undefined)),
        `the pool's stats to satisfy ${predicate}`
      )
    )

  it.effect("sessions by state follow every lease; acquire's wait is observed; a closed pool reads zero", () =>
    Effect.gen(function*() {
      const pool = yield* SessionPool.SessionPool
      const outer = yield* Scope.make()
      // The fake takes 2 s to start: the acquisition waits for the spawn.
      const acquiring = yield* Effect.forkChild(
        pool.acquire({ options: { executable, timeouts: quick } }).pipe(Scope.provide(outer))
      )
      yield* FakeSpawner.FakeSpawnerState.use((fake) =>
        fake.waitUntil((ps) => ps.some((p) => p.kind === "session" && p.sleeping))
      )
      assert.deepStrictEqual(yield* byState, { ...zero, starting: 1 })
      yield* TestClock.adjust("2 seconds")
      const session = yield* Fiber.join(acquiring)
      assert.deepStrictEqual(yield* byState, { ...zero, busy: 1 })
      const waited = yield* histogram(Metrics.poolWait, { outcome: "acquired" })
      assert.strictEqual(waited.count, 1)
      assert.strictEqual(waited.sum, 2)

      yield* session.ask("hi")
      yield* Scope.close(outer, Exit.void)
      // Released after a turn: recycled with /clear, then a ready spare.
      yield* settle((s) => s.keys.some((k) => k.idle === 1))
      assert.deepStrictEqual(yield* byState, { ...zero, idle: 1 })

      // A warm spare is handed over at once.
      yield* Effect.scoped(Effect.gen(function*() {
        yield* pool.acquire({ options: { executable, timeouts: quick } })
        assert.deepStrictEqual(yield* byState, { ...zero, busy: 1 })
      }))
      const after = yield* histogram(Metrics.poolWait, { outcome: "acquired" })
      assert.strictEqual(after.count, 2)
      assert.strictEqual(after.sum, 2, "the warm spare took no time")
      assert.strictEqual(after.buckets[0]?.[1], 1, "in the first bucket")
    }).pipe(
      Effect.scoped,
      Effect.provide(PoolOnFake({ minIdle: 0, max: 2 }, { startupDelay: "2 seconds" })),
      Effect.andThen(Effect.gen(function*() {
        // The pool's layer is closed: it drained, and every process left the gauge.
        assert.deepStrictEqual(yield* byState, zero)
      })),
      pumpClockOnFailure,
      withRegistry
    ))

  it.effect("a waiter's time in the queue is observed; an exhausted pool's failure too", () =>
    Effect.gen(function*() {
      const pool = yield* SessionPool.SessionPool
      const holder = yield* Scope.make()
      yield* pool.acquire({ options: { executable, timeouts: quick } }).pipe(Scope.provide(holder))
      // The only process is busy: the next acquisition waits in the queue, the one after finds it full.
      const waiting = yield* Effect.forkChild(Effect.scoped(pool.acquire({ options: { executable, timeouts: quick } })))
      yield* settle((s) => s.waiting === 1)
      const full = yield* Effect.exit(Effect.scoped(pool.acquire({ options: { executable, timeouts: quick } })))
      assert.isTrue(Exit.isFailure(full))
      yield* TestClock.adjust("5 seconds")
      yield* Scope.close(holder, Exit.void)
      yield* Fiber.join(waiting)
      const acquired = yield* histogram(Metrics.poolWait, { outcome: "acquired" })
      assert.strictEqual(acquired.count, 2)
      assert.strictEqual(acquired.max, 5, "the waiter waited 5 s")
      const failed = yield* histogram(Metrics.poolWait, { outcome: "failed" })
      assert.strictEqual(failed.count, 1)
      assert.strictEqual(failed.sum, 0, "a full queue fails at once")
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(PoolOnFake({ minIdle: 0, max: 1, maxWaiters: 1 })),
      withRegistry
    ))

  it.effect("several pools add up", () =>
    Effect.gen(function*() {
      const opened = yield* Effect.forEach([1, 2], () =>
        Effect.gen(function*() {
          const pool = yield* SessionPool.make({ minIdle: 0 })
          return yield* pool.acquire({ options: { executable, timeouts: quick } })
        }))
      assert.strictEqual(opened.length, 2)
      assert.strictEqual(yield* sessions("busy"), 2)
    }).pipe(
      Effect.scoped,
      Effect.provide(PoolOnFake({ minIdle: 0 })),
      Effect.andThen(Effect.suspend(() => Effect.map(sessions("busy"), (busy) => assert.strictEqual(busy, 0)))),
      pumpClockOnFailure,
      withRegistry
    ))
})

/**
 * Shared helpers for tests that run real processes: scoped temp dirs, pid
 * liveness, and bounded polling on real time.
 */
import { NodeFileSystem, NodePath, NodeServices } from "@effect/platform-node"
import { Clock, Duration, Effect, Fiber, Layer, Option, Schedule, Tracer } from "effect"
import { TestClock } from "effect/testing"
import * as ChildProcessSync from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import { dieUnlessWithin } from "../src/internal/realTimeBound.ts"
import * as ProcessManager from "../src/ProcessManager.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import * as Leftovers from "../src/testing/Leftovers.ts"
import * as TokenManager from "../src/TokenManager.ts"

/** An in-memory tracer (effect's native spans) and the spans it has started, in order. */
export const captureSpans = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span: (options) => {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  return { spans, tracer }
}

/** A temp dir that lives as long as the scope. */
export const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), `ecc-${prefix}-`))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

export const isAlive = Leftovers.isAlive

/**
 * Polls `check` every 25 ms on real time (the live Clock, a TestClock or not) until it returns a value, failing
 * after `within`, naming `what` (by default the check's source text).
 */
export const eventually = <A>(
  check: () => A | undefined,
  within: Duration.Input = "5 seconds",
  what?: string | (() => string)
) =>
  Effect.suspend(() => {
    const value = check()
    return value === undefined ? Effect.fail("not yet" as const) : Effect.succeed(value)
  }).pipe(
    Effect.retry(Schedule.spaced("25 millis")),
    dieUnlessWithin(
      within,
      (bound) => `not met within ${bound}: ${typeof what === "function" ? what() : what ?? check.toString()}`
    )
  )

export const readJson = <A>(file: string): A | undefined => {
  try {
    const text = fs.readFileSync(file, "utf8")
    return text.trim() === "" ? undefined : JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Claude on Node with a pool of these settings and no credential of the host's. */
export const ClaudeTestWith = (pool: SessionPool.Settings) =>
  Claude.layerNoDeps.pipe(
    Layer.provideMerge(SessionPool.layer(pool)),
    Layer.provideMerge(ProcessManager.layer()),
    Layer.provide(TokenManager.layerTest(Option.none())),
    Layer.provideMerge(NodeServices.layer)
  )

/** What the fault tests run on: no warm spares, so every process a test sees is one it asked for. */
export const ClaudeTest = ClaudeTestWith({ minIdle: 0 })

/**
 * The pool on the real CLI (node_modules/.bin/claude) against a FakeApi: one HOME per call, and no process
 * of that HOME left once the pool's layer has closed. `body` gets the options that reach the fake.
 */
export const withRealPool = <A, E>(
  script: FakeApi.Script,
  settings: SessionPool.Settings,
  body: (
    options: ClaudeOptions.Input,
    api: FakeApi.FakeApi["Service"],
    home: string
  ) => Effect.Effect<A, E, Claude.Claude | SessionPool.SessionPool>
) =>
  Effect.gen(function*() {
    const home = yield* tempDir("pool-real")
    const api = yield* FakeApi.make({ script })
    const result = yield* body(
      { env: FakeApi.cliEnvironment(api, home), timeouts: { turn: 30_000, shutdownGrace: 300 } },
      api,
      home
    ).pipe(Effect.provide(ClaudeTestWith(settings)))
    yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
    return result
  }).pipe(Effect.scoped)

/** Fast shutdown for tests: each rung of the ladder waits this long. */
export const quickShutdown = { shutdownGrace: Duration.millis(300) } as const

/** Pids of live processes whose environment has `HOME=<home>`: what a test's CLIs leave behind. */
export const processesWithHome = (home: string): Array<number> => Leftovers.withHome(home)

/** The library on the fake spawner: real FileSystem and Path (for the executable check), fake processes. */
export const ClaudeOnFake = (script: FakeSpawner.Script) =>
  Claude.layerNoDeps.pipe(
    Layer.provideMerge(SessionPool.layer({ minIdle: 0 })),
    Layer.provideMerge(ProcessManager.layer()),
    Layer.provide(TokenManager.layerTest(Option.none())),
    Layer.provideMerge(FakeSpawner.layer(script)),
    Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
  )

/**
 * Lets fibers run, with no Clock time passing, until `check` returns a value (a function, or an Effect for a
 * state only an Effect reads): `yieldNow` steps, and a real millisecond now and then for real I/O on the way
 * (the executable check before a spawn). Bounded on real time (the TestClock does not move by itself): fails
 * after `within`, naming `what`.
 */
export const settleUntil = <A, E = never, R = never>(
  check: (() => A | undefined) | Effect.Effect<A | undefined, E, R>,
  what: string,
  within: Duration.Input = "10 seconds"
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const limit = Duration.toMillis(Duration.fromInputUnsafe(within))
    const realNow = TestClock.withLive(Clock.currentTimeMillis)
    const read = Effect.isEffect(check) ? check : Effect.sync(check)
    const startedAt = yield* realNow
    for (let i = 0;; i++) {
      const found = yield* read
      if (found !== undefined) return found
      if ((yield* realNow) - startedAt > limit) {
        return yield* Effect.die(
          new Error(`never happened within ${Duration.format(Duration.fromInputUnsafe(within))}: ${what}`)
        )
      }
      yield* i % 50 === 49 ? TestClock.withLive(Effect.sleep("1 millis")) : Effect.yieldNow
    }
  })

/**
 * Joins a fiber that needs Clock time to end, moving the TestClock a second at a time, at most `seconds` of
 * it (each step also lets a real millisecond pass, for real I/O on the way: the executable check before a
 * spawn). A fiber still running then fails the test, naming `what`, instead of waiting for the test timeout.
 */
export const joinAdjusting = <A, E>(fiber: Fiber.Fiber<A, E>, what: string, seconds = 60) =>
  Effect.gen(function*() {
    for (let i = 0; i < seconds && fiber.pollUnsafe() === undefined; i++) {
      yield* TestClock.adjust("1 second")
      yield* TestClock.withLive(Effect.sleep("1 millis"))
    }
    if (fiber.pollUnsafe() === undefined) {
      return yield* Effect.die(new Error(`${what} has not ended after ${seconds} s of TestClock`))
    }
    return yield* Fiber.join(fiber)
  })

/** One sleep on the Clock, as {@link sleepProbe} saw it. */
export interface ClockSleep {
  /** How long the sleep is. */
  readonly millis: number
  /** The Clock time it ends at. */
  readonly due: number
  /** Woken (or interrupted) by now. */
  readonly ended: boolean
}

/**
 * The test's TestClock, seen through a probe that records every sleep started on it. Provide `clock` in place
 * of the TestClock (outside the layers under test, so their fibers sleep on it too); it keeps the TestClock's
 * time, and `TestClock.adjust` moves it as before. A sleep recorded and not ended is a fiber parked on the
 * Clock until `due`: what makes "nothing has happened yet" a fact after an `adjust`, where real time would only
 * make it likely.
 */
export const sleepProbe = Effect.map(TestClock.testClockWith(Effect.succeed), (inner) => {
  const sleeps: Array<{ readonly millis: number; readonly due: number; ended: boolean }> = []
  const clock: TestClock.TestClock = {
    currentTimeMillisUnsafe: () => inner.currentTimeMillisUnsafe(),
    currentTimeMillis: inner.currentTimeMillis,
    currentTimeNanosUnsafe: () => inner.currentTimeNanosUnsafe(),
    currentTimeNanos: inner.currentTimeNanos,
    monotonicTimeNanosUnsafe: () => inner.monotonicTimeNanosUnsafe(),
    monotonicTimeNanos: inner.monotonicTimeNanos,
    sleep: (duration) =>
      Effect.suspend(() => {
        const millis = Duration.toMillis(duration)
        const entry = { millis, due: inner.currentTimeMillisUnsafe() + millis, ended: false }
        sleeps.push(entry)
        return Effect.ensuring(
          inner.sleep(duration),
          Effect.sync(() => {
            entry.ended = true
          })
        )
      }),
    adjust: (duration) => inner.adjust(duration),
    setTime: (timestamp) => inner.setTime(timestamp),
    withLive: (effect) => inner.withLive(effect)
  }
  const snapshot = (): ReadonlyArray<ClockSleep> => sleeps.map((entry) => ({ ...entry }))
  return {
    clock,
    /** Every sleep started so far, oldest first. */
    sleeps: snapshot,
    /** The sleeps of exactly `millis` that have not ended. */
    pending: (millis: number): ReadonlyArray<ClockSleep> =>
      snapshot().filter((entry) => !entry.ended && entry.millis === millis),
    /** Waits (bounded, see {@link settleUntil}) until a sleep of exactly `millis` is pending, and returns it. */
    parked: (millis: number, what: string) =>
      settleUntil(
        () => snapshot().find((entry) => !entry.ended && entry.millis === millis),
        `a fiber parked on the Clock for ${millis} ms: ${what}`
      )
  }
})

/** Runs `body` with the Clock seen through a {@link sleepProbe}. */
export const withSleepProbe = <A, E, R>(
  body: (probe: Effect.Success<typeof sleepProbe>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.flatMap(sleepProbe, (probe) => Effect.provideService(body(probe), Clock.Clock, probe.clock))

/**
 * Should a test fail half-way, keeps the TestClock moving for a while (in the background, 1 s of Clock per
 * real millisecond): the cleanups of the fibers and scopes it leaves behind (the shutdown ladder, a kill
 * escalation) sleep on that clock, and would otherwise wait for the test timeout.
 */
export const pumpClockOnFailure = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.onError(self, () =>
    TestClock.adjust("1 second").pipe(
      Effect.andThen(TestClock.withLive(Effect.sleep("1 millis"))),
      Effect.repeat({ times: 2000 }),
      Effect.forkDetach,
      Effect.asVoid
    ))

/**
 * Whether this machine lets a process start a PID namespace (util-linux `unshare`, with a user namespace when
 * not root), as the ProcessManager's `"auto"` containment checks: where it does not, `"auto"` is the
 * environment sweep.
 */
export const hasPidNamespace: boolean = process.platform === "linux" &&
  ChildProcessSync.spawnSync(
      "unshare",
      [
        ...(process.getuid?.() === 0 ? [] : ["--user", "--map-current-user"]),
        "--pid",
        "--fork",
        "--kill-child",
        "--",
        "true"
      ],
      { stdio: "ignore", timeout: 5_000 }
    ).status === 0

/**
 * Shared helpers for tests that run real processes: scoped temp dirs, pid
 * liveness, and bounded polling on real time.
 */
import * as ChildProcessSync from "node:child_process"
import { NodeFileSystem, NodePath, NodeServices } from "@effect/platform-node"
import { Duration, Effect, Layer, Option, Schedule, Tracer } from "effect"
import { TestClock } from "effect/testing"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import * as Leftovers from "../src/testing/Leftovers.ts"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as ProcessManager from "../src/ProcessManager.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
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

/** Polls `check` every 25 ms on real time until it holds, failing after `within`. */
export const eventually = <A>(check: () => A | undefined, within: Duration.Input = "5 seconds") =>
  Effect.suspend(() => {
    const value = check()
    return value === undefined ? Effect.fail("not yet" as const) : Effect.succeed(value)
  }).pipe(
    Effect.retry(Schedule.spaced("25 millis")),
    Effect.timeoutOrElse({
      duration: within,
      orElse: () => Effect.die(new Error(`condition not met within ${Duration.format(Duration.fromInputUnsafe(within))}`))
    })
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
    [...(process.getuid?.() === 0 ? [] : ["--user", "--map-current-user"]), "--pid", "--fork", "--kill-child", "--", "true"],
    { stdio: "ignore", timeout: 5_000 }
  ).status === 0

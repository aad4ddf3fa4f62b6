/**
 * F23: what the pool keeps of a process it replaced. A replaced process's Session (its CliProcess, its child
 * handle, its fibers) must become garbage once its scope is closed, however many processes follow it.
 *
 * The check is a `WeakRef` to an early lease's session and a full GC after many replacements: the test
 * process gets `gc` at run time (`--expose-gc` through `v8.setFlagsFromString`, then the `gc` of a fresh
 * context), so it needs no flag of vitest's.
 */
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as ProcessManager from "../src/ProcessManager.ts"
import type * as Session from "../src/Session.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import * as TokenManager from "../src/TokenManager.ts"

v8.setFlagsFromString("--expose-gc")
const gc: unknown = vm.runInNewContext("gc")

/** Full collections with turns of the event loop between them (finalization, weak references cleared). */
const collectGarbage = Effect.promise(async () => {
  if (typeof gc !== "function") throw new Error("no gc function: --expose-gc did not take")
  for (let i = 0; i < 4; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
})

const options = { executable: FakeSpawner.executable, timeouts: { shutdownGrace: 1000 } } as const

// The pool's defaults otherwise (a warm spare per key, spawned in the background after each acquire).
const PoolReplacingEveryTurn = SessionPool.layer({ maxTurnsPerProcess: 1 }).pipe(
  Layer.provideMerge(ProcessManager.layer()),
  Layer.provideMerge(TokenManager.layerTest(Option.none())),
  Layer.provideMerge(FakeSpawner.layer({})),
  Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
)

const turn = SessionPool.SessionPool.use((pool) =>
  Effect.scoped(Effect.gen(function*() {
    const session = yield* pool.acquire({ options })
    const result = yield* session.ask("hello")
    assert.strictEqual(result.error, undefined)
    return session.pid
  }))
)

describe("SessionPool memory (FakeSpawner)", () => {
  it.effect("F23: a replaced process's session is garbage after later replacements (nothing keeps it reachable)", () =>
    Effect.gen(function*() {
      const pool = yield* SessionPool.SessionPool
      // A few replacements first: code loaded, caches of the layer filled.
      for (let i = 0; i < 3; i++) yield* turn
      // One lease's session, referenced only weakly from here on.
      const early = yield* Effect.scoped(Effect.gen(function*() {
        const session: Session.Session = yield* pool.acquire({ options })
        yield* session.ask("hello")
        return { ref: new WeakRef(session), pid: session.pid }
      }))
      const pids = new Set<number>()
      for (let i = 0; i < 20; i++) pids.add(yield* turn)
      // Every turn had a process of its own: the early one was replaced 20 times over.
      assert.strictEqual(pids.size, 20)
      assert.isFalse(pids.has(early.pid))
      const stats = yield* pool.stats
      assert.isAtLeast(stats.retired, 23, JSON.stringify(stats))
      yield* collectGarbage
      // Not `isUndefined`: on failure it would print the whole session.
      assert.isTrue(
        early.ref.deref() === undefined,
        "the session of a process retired 20 replacements ago is still reachable after a full GC"
      )
    }).pipe(Effect.provide(PoolReplacingEveryTurn)))
})

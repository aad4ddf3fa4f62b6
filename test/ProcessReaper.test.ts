/**
 * The ProcessReaper on real processes: the end of its input (what a dead host's pipe gives it) kills the
 * groups it still watches, and only those. The host's death itself is in hostDeath.test.ts.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Option, Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as ProcessReaper from "../src/ProcessReaper.ts"
import { eventually, isAlive } from "./utils.ts"

/** A `sleep` leading a process group of its own (a CLI with its tools, say); SIGKILLed when the scope closes. */
const group = Effect.acquireRelease(
  Effect.sync(() => {
    const child = ChildProcess.spawn("sleep", ["30"], { detached: true, stdio: "ignore" })
    child.unref()
    return child.pid ?? 0
  }),
  (pid) => Effect.sync(() => isAlive(pid) && process.kill(-pid, "SIGKILL"))
)

/** The reaper in a scope of its own, closed by the test. */
const reaperIn = (scope: Scope.Scope) =>
  Layer.buildWithScope(ProcessReaper.layer().pipe(Layer.provide(NodeServices.layer)), scope).pipe(
    Effect.map((context) => Context.get(context, ProcessReaper.ProcessReaper))
  )

describe("ProcessReaper", () => {
  it.live("the end of its input kills the groups it still watches, and it exits", () =>
    Effect.gen(function*() {
      const pgid = yield* group
      const scope = yield* Scope.make()
      const reaper = yield* reaperIn(scope)
      assert.deepStrictEqual(yield* reaper.pid, Option.none(), "started by the first watch, not before")
      yield* reaper.watch(pgid)
      const pid = Option.getOrElse(yield* reaper.pid, () => 0)
      assert.isTrue(isAlive(pid))
      // A scope closed while the group is still watched: as when the host died with it.
      yield* Scope.close(scope, Exit.void)
      yield* eventually(() => (isAlive(pgid) ? undefined : true), "3 seconds")
      yield* eventually(() => (isAlive(pid) ? undefined : true), "3 seconds")
    }).pipe(Effect.scoped))

  it.live("a group unwatched before the end is left alone", () =>
    Effect.gen(function*() {
      const kept = yield* group
      const reaped = yield* group
      const scope = yield* Scope.make()
      const reaper = yield* reaperIn(scope)
      yield* reaper.watch(kept)
      yield* reaper.watch(reaped)
      yield* reaper.unwatch(kept)
      const pid = Option.getOrElse(yield* reaper.pid, () => 0)
      yield* Scope.close(scope, Exit.void)
      yield* eventually(() => (isAlive(reaped) || isAlive(pid) ? undefined : true), "3 seconds")
      assert.isTrue(isAlive(kept), "unwatched: not the reaper's")
    }).pipe(Effect.scoped))

  it.live("unwatch before any watch starts nothing", () =>
    Effect.gen(function*() {
      const reaper = yield* reaperIn(yield* Effect.scope)
      yield* reaper.unwatch(12345)
      assert.deepStrictEqual(yield* reaper.pid, Option.none())
    }).pipe(Effect.scoped))
})

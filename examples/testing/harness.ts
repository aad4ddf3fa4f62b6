/**
 * A test harness for code built on effect-claude-code, as a user would write it (copy it into your tests).
 *
 * `ClaudeOnFakeSpawner(script)` is the library's own `Claude` service (its `SessionPool`, `ProcessManager`
 * and `Session`s, unchanged) running on the in-process `FakeSpawner`: every CLI process is a scripted fake
 * whose every delay, like every deadline of the library, is a sleep on the Effect `Clock`. Under
 * `it.effect` that clock is the `TestClock`, so `TestClock.adjust` drives stalls, timeouts and backoff.
 *
 * `CLAUDE_CODE_EXECUTABLE` points at `FakeSpawner.executable` (the library checks the path is an executable
 * file before it spawns; the fake spawner never runs it), so the code under test passes no `executable`.
 */
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { ConfigProvider, Effect, Fiber, Layer, Option } from "effect"
import { Claude, ProcessManager, SessionPool, TokenManager } from "effect-claude-code"
import { FakeSpawner } from "effect-claude-code/testing"
import { TestClock } from "effect/testing"

/**
 * `Claude` (and its `SessionPool`) on fake CLIs that follow `script`, plus the `FakeSpawnerState` that
 * records what they did. No credential: the fakes need none.
 */
export const ClaudeOnFakeSpawner = (script: FakeSpawner.Script, pool: SessionPool.Settings = { minIdle: 0 }) =>
  Claude.layerNoDeps.pipe(
    Layer.provideMerge(SessionPool.layer(pool)),
    Layer.provideMerge(ProcessManager.layer()),
    Layer.provide(TokenManager.layerTest(Option.none())),
    Layer.provideMerge(FakeSpawner.layer(script)),
    // The executable check and the version check are real file-system reads.
    Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)),
    Layer.provideMerge(
      ConfigProvider.layerAdd(ConfigProvider.fromUnknown({ CLAUDE_CODE_EXECUTABLE: FakeSpawner.executable }), {
        asPrimary: true
      })
    )
  )

/**
 * Moves the `TestClock` forward `stepMs` at a time until `fiber` is done (dying after `limitMs` of Clock
 * time), and returns how much Clock time that took. Each step also lets a millisecond of real time pass,
 * for the real I/O on the way (the executable check before a spawn). Join the fiber afterwards.
 */
export const advanceUntilDone = Effect.fnUntraced(function*<A, E>(
  fiber: Fiber.Fiber<A, E>,
  options: { readonly stepMs: number; readonly limitMs: number }
) {
  let elapsedMs = 0
  while (fiber.pollUnsafe() === undefined) {
    if (elapsedMs >= options.limitMs) {
      return yield* Effect.die(new Error(`still running after ${options.limitMs} ms of Clock time`))
    }
    yield* TestClock.adjust(options.stepMs)
    yield* TestClock.withLive(Effect.sleep("1 millis"))
    elapsedMs += options.stepMs
  }
  return elapsedMs
})

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
import { ConfigProvider, type Duration, Effect, Fiber, Layer, Option } from "effect"
import { Claude, ProcessManager, Resilience, SessionPool, TokenManager } from "effect-claude-code"
import { FakeSpawner } from "effect-claude-code/testing"
import { TestClock } from "effect/testing"

/**
 * `Claude` (with its `SessionPool` and `Resilience`) on fake CLIs that follow `script`, plus the
 * `FakeSpawnerState` that records what they did. No credential: the fakes need none.
 *
 * - `pool`: the pool's settings. Default `{ minIdle: 0 }`: no warm spare is started behind the test's back,
 *   so every fake process a test sees is one its code asked for.
 * - `resilience`: retries and circuit breaker, as `Claude.layerWith` takes them. Default: the library's
 *   defaults (3 retries with jittered exponential backoff, a circuit that opens after 5 API failures).
 */
export const ClaudeOnFakeSpawner = (
  script: FakeSpawner.Script,
  settings: { readonly pool?: SessionPool.Settings; readonly resilience?: Resilience.Settings } = {}
) =>
  Claude.layerNoDeps.pipe(
    Layer.provideMerge(
      Layer.merge(SessionPool.layer(settings.pool ?? { minIdle: 0 }), Resilience.layer(settings.resilience ?? {}))
    ),
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
 * Waits until the fake processes satisfy `predicate` (the fake has reached a point: hung, asleep, a turn
 * started, ...), without moving the `TestClock`; fails the test after `within` of real time instead of
 * hanging it.
 */
export const waitForFakes = (
  predicate: (processes: ReadonlyArray<FakeSpawner.ProcessRecord>) => boolean,
  within: Duration.Input = "5 seconds"
) =>
  FakeSpawner.FakeSpawnerState.use((fake) =>
    fake.waitUntil(predicate, { within, what: "the fake CLIs to reach the expected point" })
  )

/** The fake processes that ran a session (not a `--version` check). */
export const fakeSessions = FakeSpawner.FakeSpawnerState.use((fake) => fake.processes).pipe(
  Effect.map((processes) => processes.filter((p) => p.kind === "session"))
)

/**
 * Runs an effect that needs no Clock time (a fake that answers at once, a call rejected at once) and
 * returns its result; fails the test after `within` of real time instead of hanging it. The effect itself
 * still runs on the `TestClock`.
 */
export const withinRealTime = <A, E, R>(effect: Effect.Effect<A, E, R>, within: Duration.Input = "5 seconds") =>
  Effect.flatMap(Effect.forkChild(effect), (fiber) =>
    Fiber.join(fiber).pipe(
      Effect.timeoutOrElse({
        duration: within,
        orElse: () => Effect.die(new Error("still running: it was waiting for Clock time, or hung"))
      }),
      TestClock.withLive
    ))

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

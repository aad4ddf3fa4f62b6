/**
 * Example: testing how your code behaves when the CLI stalls, on virtual time.
 *
 * The fake CLI writes half a reply and goes silent for good; `TestClock.adjust` moves the library's idle
 * deadline (and the fake, and the shutdown that follows) forward without waiting a real second.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Stream } from "effect"
import { Claude, type ClaudeError } from "effect-claude-code"
import { FakeSpawner } from "effect-claude-code/testing"
import { TestClock } from "effect/testing"
import { advanceUntilDone, ClaudeOnFakeSpawner, fakeSessions, waitForFakes } from "./harness.ts"

// --- The code under test: yours. -------------------------------------------------------------------------

/** Summarises a text; a CLI that says nothing for 30 s in the middle of its reply is given up on. */
const summarise = (text: string): Effect.Effect<string, ClaudeError.ClaudeError, Claude.Claude> =>
  Claude.query(`Summarise in one sentence:\n${text}`, { timeouts: { idle: Duration.seconds(30) } }).pipe(
    Stream.runCollect,
    Effect.map((events) => events.findLast((event) => event._tag === "Result")?.text ?? "")
  )

// --- Its tests. ------------------------------------------------------------------------------------------

const noRetries = { resilience: { enabled: false } } as const

describe("summarise", () => {
  it.effect("a reply that stalls mid-way fails with Timeout(idle) after 30 s of silence", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      // `flip`: the fiber succeeds with the error, and fails the test if summarise succeeds.
      const call = yield* summarise("a long report").pipe(Effect.flip, Effect.forkChild)

      // Wait, without moving the clock, until the fake has written half a reply and gone silent.
      yield* waitForFakes((processes) => processes.some((p) => p.hung))
      yield* TestClock.adjust("29 seconds")
      assert.isUndefined(call.pollUnsafe(), "29 s of silence is not a stall yet")

      // Past the idle deadline the stalled CLI is stopped (stdin EOF, 5 s of grace, SIGTERM), and then
      // the call fails: nothing of it is left running when it returns.
      const elapsedMs = 29_000 + (yield* advanceUntilDone(call, { stepMs: 1000, limitMs: 60_000 }))
      const error = yield* Fiber.join(call)
      assert.strictEqual(error.reason._tag, "Timeout")
      if (error.reason._tag === "Timeout") {
        assert.strictEqual(error.reason.kind, "idle")
        assert.strictEqual(error.reason.durationMs, 30_000)
      }
      assert.isTrue(elapsedMs >= 30_000 && elapsedMs <= 37_000, `failed after ${elapsedMs} ms of Clock time`)
      assert.strictEqual(yield* fake.live, 0, "the stalled CLI was stopped")
      const [cli] = yield* fakeSessions
      assert.deepStrictEqual(cli?.signals, ["SIGTERM"], "ignoring stdin EOF, it got SIGTERM after the grace")
    }).pipe(
      // Retries off: this test is about the deadline. (With the library's defaults a stall is retried; see
      // retry-after-529.test.ts for retries.)
      Effect.provide(ClaudeOnFakeSpawner({ turns: [{ text: "The report says", hang: "midTurn" }] }, noRetries))
    ))

  it.effect("a slow CLI that keeps talking is not a stall: 20 s between frames, under the 30 s idle limit", () =>
    Effect.gen(function*() {
      const call = yield* summarise("a long report").pipe(Effect.forkChild)
      const elapsedMs = yield* advanceUntilDone(call, { stepMs: 1000, limitMs: 300_000 })
      assert.strictEqual(yield* Fiber.join(call), "It is long.")
      assert.isAbove(elapsedMs, 30_000, "the whole reply took longer than the idle limit")
    }).pipe(
      Effect.provide(ClaudeOnFakeSpawner({ turns: [{ text: "It is long.", frameDelay: "20 seconds" }] }, noRetries))
    ))
})

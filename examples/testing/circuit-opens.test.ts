/**
 * Example: testing what your code does while the API is down and the circuit breaker is open.
 *
 * After repeated overload failures the library's circuit (one per credential and model) opens: calls fail
 * at once with `CircuitOpen`, no CLI is started, until the circuit half-opens and lets a probe through.
 * Your code can turn that into a fast "busy" answer. The open window runs on the Clock: `TestClock.adjust`
 * crosses it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Stream } from "effect"
import { Claude, type ClaudeError, Resilience } from "effect-claude-code"
import { CircuitBreaker } from "effect/persistence"
import { TestClock } from "effect/testing"
import { ClaudeOnFakeSpawner, fakeSessions, withinRealTime } from "./harness.ts"

// --- The code under test: yours. -------------------------------------------------------------------------

type Reply =
  | { readonly _tag: "Answer"; readonly text: string }
  /** The API is known to be down: try again at `retryAtMs` (epoch ms), when known. */
  | { readonly _tag: "Busy"; readonly retryAtMs: number | undefined }

/** Asks a question; while the circuit is open, answers "busy" at once instead of waiting on the API. */
const askOrBusy = (question: string): Effect.Effect<Reply, ClaudeError.ClaudeError, Claude.Claude> =>
  Claude.query(question).pipe(
    Stream.runCollect,
    Effect.map((events): Reply => ({ _tag: "Answer", text: events.findLast((e) => e._tag === "Result")?.text ?? "" })),
    Effect.catchReason(
      "ClaudeError",
      "CircuitOpen",
      (open) => Effect.succeed<Reply>({ _tag: "Busy", retryAtMs: open.halfOpenAtMs })
    )
  )

// --- Its tests. ------------------------------------------------------------------------------------------

const QUESTION = "What is the capital of France?"

/** The state of the circuit `askOrBusy` runs under (default credential and model). */
const circuitState = Resilience.Resilience.use((resilience) => resilience.circuitState())

describe("askOrBusy", () => {
  it.effect("after 2 overloads in a row the circuit opens: busy at once, nothing started; after 30 s a probe goes through", () =>
    Effect.gen(function*() {
      // Two calls meet an overloaded API: each fails with Overloaded (retries are off in this test).
      for (let i = 0; i < 2; i++) {
        const error = yield* withinRealTime(Effect.flip(askOrBusy(QUESTION)))
        assert.strictEqual(error.reason._tag, "Overloaded")
      }
      assert.strictEqual((yield* circuitState)._tag, "Open")
      const started = (yield* fakeSessions).reduce((turns, p) => turns + p.turns, 0)

      // While it is open, the call is answered at once, and no CLI is asked anything.
      const openedAt = yield* Clock.currentTimeMillis
      assert.deepStrictEqual(yield* withinRealTime(askOrBusy(QUESTION)), { _tag: "Busy", retryAtMs: openedAt + 30_000 })
      yield* TestClock.adjust("29 seconds")
      assert.strictEqual((yield* withinRealTime(askOrBusy(QUESTION)))._tag, "Busy")
      const state = yield* circuitState
      assert.isTrue(state._tag === "Open" && Duration.toMillis(state.retryAfter) === 1000, "open for 1 s more")
      assert.strictEqual((yield* fakeSessions).reduce((turns, p) => turns + p.turns, 0), started, "no turn ran")

      // 30 s after it opened, the circuit half-opens: the next call is its probe. The API is back, so the
      // probe succeeds and the circuit closes.
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* withinRealTime(askOrBusy(QUESTION)), { _tag: "Answer", text: "Paris." })
      assert.strictEqual((yield* circuitState)._tag, "Closed")
    }).pipe(
      Effect.provide(ClaudeOnFakeSpawner(
        // The first two turns meet a 529; from the third on the API answers. `sharedTurns`: turns count
        // across the fake CLIs, whichever of them runs a call.
        {
          sharedTurns: true,
          turns: [{ result: { apiErrorStatus: 529 } }, { result: { apiErrorStatus: 529 } }, { text: "Paris." }]
        },
        {
          resilience: {
            retry: { times: 0 },
            circuitBreaker: { tripPolicy: CircuitBreaker.consecutive(2), openDuration: "30 seconds" }
          }
        }
      ))
    ))
})

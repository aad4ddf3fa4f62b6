/**
 * Example: testing that your code rides out an overloaded API (529), on virtual time.
 *
 * The library retries a retryable failure by itself (`Resilience`, part of `Claude.layer`): the test checks
 * what your code sees, and that the backoff was really waited for, without waiting it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Predicate, Stream } from "effect"
import { Claude, type ClaudeError, type ClaudeEvent } from "effect-claude-code"
import type { FakeSpawner } from "effect-claude-code/testing"
import { TestClock } from "effect/testing"
import { advanceUntilDone, ClaudeOnFakeSpawner, fakeSessions, waitForFakes } from "./harness.ts"

// --- The code under test: yours. -------------------------------------------------------------------------

interface Answer {
  readonly text: string
  /** How many times the library had to try again (for your metrics). */
  readonly retries: number
}

/**
 * Asks a question; keeps the answer and the number of retries it took. A failed attempt's `Result` (the
 * 529) comes through the stream too, before its `Retrying` event: the last `Result` is the answer.
 */
const ask = (question: string): Effect.Effect<Answer, ClaudeError.ClaudeError, Claude.Claude> =>
  Claude.query(question).pipe(
    Stream.runFold(
      (): Answer => ({ text: "", retries: 0 }),
      (answer, event: ClaudeEvent.ClaudeEvent): Answer => {
        switch (event._tag) {
          case "Retrying":
            return { ...answer, retries: answer.retries + 1 }
          case "Result":
            return { ...answer, text: event.text ?? "" }
          default:
            return answer
        }
      }
    )
  )

// --- Its tests. ------------------------------------------------------------------------------------------

const QUESTION = "What is the capital of France?"

/** The prompts a fake CLI got, `/clear` (the pool's recycling between conversations) included. */
const promptsOf = (cli: FakeSpawner.ProcessRecord) =>
  cli.stdin.flatMap((line) => {
    if (!Predicate.isObject(line) || line["type"] !== "user" || !Predicate.isObject(line["message"])) return []
    const content = line["message"]["content"]
    if (typeof content === "string") return [content]
    if (!Array.isArray(content)) return []
    const texts = content.flatMap((block: unknown) =>
      Predicate.isObject(block) && typeof block["text"] === "string" ? [block["text"]] : []
    )
    return [texts.join("")]
  })

describe("ask", () => {
  it.effect("an overloaded API (529) is retried after the backoff; the caller gets the answer", () =>
    Effect.gen(function*() {
      const call = yield* ask(QUESTION).pipe(Effect.forkChild)

      // The CLI answered the first attempt with the 529. The library now waits out its backoff (1 s here:
      // jitter off) before it tries again.
      yield* waitForFakes((ps) => ps.some((p) => p.turns === 1))
      yield* TestClock.adjust("900 millis")
      assert.isUndefined(call.pollUnsafe(), "still backing off")
      assert.strictEqual((yield* fakeSessions).reduce((turns, p) => turns + p.turns, 0), 1, "no second attempt yet")

      const elapsedMs = 900 + (yield* advanceUntilDone(call, { stepMs: 100, limitMs: 10_000 }))
      assert.deepStrictEqual(yield* Fiber.join(call), { text: "Paris.", retries: 1 })
      assert.isAtLeast(elapsedMs, 1000, "the backoff was waited for")

      // The question was sent twice (no tool had run, so resending it was safe), each time as a new
      // conversation (on a new CLI, or on the same one after the pool's `/clear`).
      const prompts = (yield* fakeSessions).flatMap(promptsOf)
      assert.deepStrictEqual(prompts.filter((prompt) => prompt !== "/clear"), [QUESTION, QUESTION])
    }).pipe(
      Effect.provide(ClaudeOnFakeSpawner(
        // The first turn meets a 529, the second gets the answer. `sharedTurns`: turns count across the
        // fake CLIs, so the script holds whether the retry runs on the same CLI or on a new one.
        { sharedTurns: true, turns: [{ result: { apiErrorStatus: 529 } }, { text: "Paris." }] },
        { resilience: { retry: { jitter: false, baseDelay: "1 second" } } }
      ))
    ))

  it.effect("an API that stays overloaded: the caller gets Overloaded once the retries run out", () =>
    Effect.gen(function*() {
      const call = yield* ask(QUESTION).pipe(Effect.flip, Effect.forkChild)
      // Four attempts, with 1 s, 2 s and 4 s of backoff between them.
      const elapsedMs = yield* advanceUntilDone(call, { stepMs: 500, limitMs: 60_000 })
      const error = yield* Fiber.join(call)
      assert.strictEqual(error.reason._tag, "Overloaded")
      assert.isAtLeast(elapsedMs, 7000)
      assert.strictEqual((yield* fakeSessions).reduce((turns, p) => turns + p.turns, 0), 4)
    }).pipe(
      Effect.provide(ClaudeOnFakeSpawner(
        { turns: [{ result: { apiErrorStatus: 529 } }] },
        { resilience: { retry: { jitter: false, times: 3 }, circuitBreaker: { enabled: false } } }
      ))
    ))
})

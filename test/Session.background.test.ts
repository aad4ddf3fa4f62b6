/**
 * The CLI's own turns between ours (F25), on the FakeCli, whose `ownTurn` behaves as the real CLI does when a
 * background task settles: a claim waits for that turn, and gives up waiting when the process dies in it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schedule, Stream } from "effect"
import * as Claude from "../src/Claude.ts"
import type * as Session from "../src/Session.ts"
import * as FakeCli from "../src/testing/FakeCli.ts"
import { ClaudeTest, quickShutdown } from "./utils.ts"

const ownTurnRuns = (session: Session.Session) =>
  session.backgroundWork.pipe(
    Effect.repeat({ until: (work) => work.ownTurn, schedule: Schedule.spaced("10 millis") }),
    Effect.timeout("20 seconds")
  )

describe("the CLI's own turns (FakeCli)", () => {
  it.live("F25: a prompt sent while the CLI runs a turn of its own waits for it and gets only its own answer", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({
        options: {
          ...FakeCli.options({ reply: ["first answer", "second answer"], ownTurn: { durationMs: 500, reply: "own" } }),
          timeouts: quickShutdown
        }
      })
      const outOfTurn = yield* session.outOfTurnEvents.pipe(
        Stream.takeUntil((event) => event._tag === "Result"),
        Stream.runCollect,
        Effect.forkScoped
      )
      assert.strictEqual((yield* session.ask("first")).text, "first answer")
      yield* ownTurnRuns(session)
      const second = yield* session.ask("second")
      assert.strictEqual(second.text, "second answer")
      const own = yield* Fiber.join(outOfTurn).pipe(Effect.timeout("10 seconds"))
      assert.deepStrictEqual(own.flatMap((event) => (event._tag === "Result" ? [event.text] : [])), ["own"])
      assert.isTrue(own.some((event) => event._tag === "SessionStarted"))
      assert.isFalse((yield* session.backgroundWork).ownTurn)
    }).pipe(Effect.scoped, Effect.provide(ClaudeTest)))

  it.live("F25: a prompt waiting for the CLI's own turn runs on the replacement when the CLI dies in that turn", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({
        options: {
          ...FakeCli.options({ reply: "an answer", ownTurn: { durationMs: 300, crash: true } }),
          timeouts: quickShutdown
        }
      })
      assert.strictEqual((yield* session.ask("first")).text, "an answer")
      yield* ownTurnRuns(session)
      const before = session.pid
      const second = yield* session.ask("second").pipe(Effect.timeout("30 seconds"))
      assert.strictEqual(second.text, "an answer")
      assert.notStrictEqual(session.pid, before)
      assert.strictEqual(yield* session.restarts, 1)
      assert.isFalse((yield* session.backgroundWork).ownTurn)
    }).pipe(Effect.scoped, Effect.provide(ClaudeTest)))

  it.live("F25: a prompt waiting for the CLI's own turn fails at once when the CLI dies in it and is not replaced", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({
        options: {
          ...FakeCli.options({ reply: "an answer", ownTurn: { durationMs: 300, crash: true } }),
          timeouts: quickShutdown
        },
        restart: { maxRestarts: 0 }
      })
      assert.strictEqual((yield* session.ask("first")).text, "an answer")
      yield* ownTurnRuns(session)
      // Well within the turn deadline (10 minutes by default), which bounds the wait otherwise.
      const failed = yield* Effect.flip(session.ask("second")).pipe(Effect.timeout("20 seconds"))
      assert.strictEqual(failed.reason._tag, "ProtocolError")
      assert.include(failed.message, "Failed")
    }).pipe(Effect.scoped, Effect.provide(ClaudeTest)))
})

import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, References, Scope, SubscriptionRef } from "effect"
import { TestClock } from "effect/testing"
import * as ProcessManager from "../src/ProcessManager.ts"
import * as Session from "../src/Session.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import { ClaudeOnFake, settleUntil } from "./utils.ts"

// A CLI that dies (here: its stdin ends, and it exits 0) while the next turn claims the session. The
// fibers are made to give way to each other every few operations (a scheduler budget of 8 instead of
// 2048), as a busy host makes them at any operation; the sweep starts the death `offset` yields after the
// turn, from "the death is seen first" to "the turn has long been written", so that every interleaving of
// the two in between is run once. Whatever the interleaving, the turn ends (on the replacement, on the
// first process before it died, or failed by its death), and the session is Idle again on a replacement.

/** How one interleaving ended: where turn two ran (or how it failed), and the session after. */
interface Outcome {
  readonly offset: number
  readonly turn: "replacement" | "first" | `failed: ${string}` | "hung"
  readonly state: Session.State
  readonly restarts: number
  /** A third turn, once the session is Idle again. */
  readonly next: "ran" | "not run" | "failed"
}

const interleaving = (offset: number) =>
  Effect.gen(function*() {
    const fake = yield* FakeSpawner.FakeSpawnerState
    const real = yield* ProcessManager.ProcessManager
    const spawned: Array<ProcessManager.CliProcess> = []
    const recording = ProcessManager.ProcessManager.of({
      resolveExecutable: real.resolveExecutable,
      spawn: (request) => Effect.tap(real.spawn(request), (proc) => Effect.sync(() => spawned.push(proc)))
    })
    const scope = yield* Scope.make()
    const session = yield* Session.make({ options: { executable: FakeSpawner.executable } }).pipe(
      Effect.provideService(ProcessManager.ProcessManager, recording),
      Scope.provide(scope)
    )
    yield* session.ask("one")
    const [first] = spawned
    if (first === undefined) return yield* Effect.die(new Error("no process"))

    const turn = yield* session.ask("two").pipe(Effect.exit, Effect.forkChild)
    for (let i = 0; i < offset; i++) yield* Effect.yieldNow
    yield* Effect.forkChild(first.endInput)

    const ended = yield* settleUntil(() => turn.pollUnsafe(), "turn two has ended", "3 seconds").pipe(
      Effect.as(true),
      Effect.catchDefect(() => Effect.succeed(false))
    )
    const exit = ended ? Option.some(yield* Fiber.join(turn)) : Option.none()
    // Replaced: Idle on the second process (or Failed, which the assertions below report).
    const settled = Effect.map(
      Effect.all([SubscriptionRef.get(session.state), session.restarts]),
      ([state, restarts]) => (state === "Failed" || (state === "Idle" && restarts === 1) ? state : undefined)
    )
    yield* settleUntil(settled, "the session is Idle on a replacement", "3 seconds").pipe(
      Effect.catchDefect(() => Effect.void)
    )
    const state = yield* SubscriptionRef.get(session.state)
    const sessions = (yield* fake.processes).filter((p) => p.kind === "session")
    const next = state !== "Idle"
      ? "not run"
      : Exit.isSuccess(yield* Effect.exit(session.ask("three")))
      ? "ran"
      : "failed"
    const where = (e: Exit.Exit<unknown, { readonly reason: { readonly _tag: string } }>): Outcome["turn"] => {
      if (Exit.isFailure(e)) {
        const reason = e.cause.reasons[0]
        return `failed: ${reason?._tag === "Fail" ? reason.error.reason._tag : String(reason?._tag)}`
      }
      return (sessions[0]?.turns ?? 0) >= 2 ? "first" : "replacement"
    }
    const outcome: Outcome = {
      offset,
      turn: Option.match(exit, { onNone: () => "hung", onSome: where }),
      state,
      restarts: yield* session.restarts,
      next
    }
    yield* Fiber.interrupt(turn)
    // A session left Running on a dead process (the bug) is stopped by its ladder, on the Clock.
    const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
    for (let i = 0; i < 30 && closing.pollUnsafe() === undefined; i++) {
      yield* TestClock.adjust("1 second")
      yield* TestClock.withLive(Effect.sleep("1 millis"))
    }
    return outcome
  }).pipe(
    Effect.scoped,
    Effect.provide(ClaudeOnFake({ turns: [{ text: "one" }, {}, {}], sharedTurns: true })),
    Effect.provideService(References.MaxOpsBeforeYield, 8)
  )

describe("Session state transitions under interleaving (TestClock)", () => {
  it.effect(
    "a CLI that dies while the next turn claims the session: the turn ends, the respawn never gives up",
    () =>
      Effect.gen(function*() {
        const outcomes: Array<Outcome> = []
        // Until the turn is well ahead of the death: it ran on the first process, five offsets in a row.
        for (
          let offset = 0;
          offset < 120 && !outcomes.slice(-5).every((o) => o.turn === "first") || outcomes.length < 5;
          offset++
        ) {
          outcomes.push(yield* interleaving(offset))
        }
        const wrong = outcomes.filter((o) =>
          o.turn === "hung" || o.state !== "Idle" || o.restarts !== 1 || o.next !== "ran"
        )
        assert.deepStrictEqual(wrong, [], "every interleaving ends the turn and recovers")
        // The sweep went from one end to the other, through the window in between: the death seen before the
        // turn claimed the session (it waits for the replacement), after (the death fails it: a CLI that exits
        // 0 without a result), and once the turn had its result.
        const phases = outcomes.map((o) => o.turn).filter((turn, i, all) => turn !== all[i - 1])
        assert.deepStrictEqual(
          phases,
          ["replacement", "failed: ProtocolError", "first"],
          outcomes.map((o) => `${o.offset}: ${o.turn}`).join(", ")
        )
      }),
    120_000
  )
})

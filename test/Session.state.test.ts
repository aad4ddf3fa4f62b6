import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, SubscriptionRef } from "effect"
import * as State from "../src/internal/session/state.ts"
import * as Watchdog from "../src/internal/session/watchdog.ts"

const states: ReadonlyArray<State.State> = ["Starting", "Idle", "Running", "Closed", "Failed"]

/** The transition from every state: `[from, verdict, to]`. */
const table = <V>(transition: State.Transition<V>) => states.map((from) => [from, ...transition(from)] as const)

describe("Session state machine (pure transitions)", () => {
  it("claim: Idle becomes Running; a turn waits while a process starts; otherwise refused, naming the state", () => {
    assert.deepStrictEqual(table(State.claim), [
      ["Starting", { _tag: "Wait" }, "Starting"],
      ["Idle", { _tag: "Claimed" }, "Running"],
      ["Running", { _tag: "Refused", state: "Running" }, "Running"],
      ["Closed", { _tag: "Refused", state: "Closed" }, "Closed"],
      ["Failed", { _tag: "Refused", state: "Failed" }, "Failed"]
    ])
  })

  it("ready: only a session waiting for a process takes it (Idle); a failed or closed one does not", () => {
    assert.deepStrictEqual(table(State.ready), [
      ["Starting", true, "Idle"],
      ["Idle", false, "Idle"],
      ["Running", false, "Running"],
      ["Closed", false, "Closed"],
      ["Failed", false, "Failed"]
    ])
  })

  it("settle: only Running becomes Idle (a turn that ended after a stop or a death leaves the state alone)", () => {
    assert.deepStrictEqual(table(State.settle).map(([from, , to]) => [from, to]), [
      ["Starting", "Starting"],
      ["Idle", "Idle"],
      ["Running", "Idle"],
      ["Closed", "Closed"],
      ["Failed", "Failed"]
    ])
  })

  it("died: a death in use (Idle or Running) starts a replacement, or fails the session without crash recovery", () => {
    assert.deepStrictEqual(table(State.died(true)), [
      ["Starting", "expected", "Starting"],
      ["Idle", "recover", "Starting"],
      ["Running", "recover", "Starting"],
      ["Closed", "expected", "Closed"],
      ["Failed", "expected", "Failed"]
    ])
    assert.deepStrictEqual(table(State.died(false)).map(([from, fate, to]) => `${from}:${fate}:${to}`), [
      "Starting:expected:Starting",
      "Idle:failed:Failed",
      "Running:failed:Failed",
      "Closed:expected:Closed",
      "Failed:expected:Failed"
    ])
  })

  it("giveUp, fail, close: Failed and Closed are for good; Closed stays Closed", () => {
    assert.deepStrictEqual(table(State.giveUp).map(([from, gaveUp, to]) => `${from}:${gaveUp}:${to}`), [
      "Starting:true:Failed",
      "Idle:false:Idle",
      "Running:false:Running",
      "Closed:false:Closed",
      "Failed:false:Failed"
    ])
    assert.deepStrictEqual(table(State.fail).map(([, , to]) => to), ["Failed", "Failed", "Failed", "Closed", "Failed"])
    assert.deepStrictEqual(table(State.close).map(([, , to]) => to), ["Closed", "Closed", "Closed", "Closed", "Closed"])
  })
})

describe("Session state owner", () => {
  it.effect("a claim and a death decided on the same state: whichever steps first, the other sees its result", () =>
    Effect.gen(function*() {
      for (const claimFirst of [true, false]) {
        const owner = yield* State.makeOwner
        yield* owner.apply(State.ready)
        // The bookkeeping a step changes is the step's: no one sees the state without it.
        let current: string | undefined
        const claim = owner.apply((state) => {
          const [verdict, next] = State.claim(state)
          if (verdict._tag === "Claimed") current = "turn"
          return [verdict._tag, next]
        })
        const died = owner.apply(State.died(true))
        const [first, second] = claimFirst ? [claim, died] : [died, claim]
        const results = [yield* first, yield* second]
        if (claimFirst) {
          // The turn holds the session when the process dies: the death is a recovery, and fails the turn.
          assert.deepStrictEqual(results, ["Claimed", "recover"])
          assert.strictEqual(current, "turn")
        } else {
          // The death came first: the turn waits for the replacement, and is not current.
          assert.deepStrictEqual(results, ["recover", "Wait"])
          assert.isUndefined(current)
        }
        assert.strictEqual(yield* owner.get, "Starting")
      }
    }))

  it.effect("a step waits for whoever holds the state, then decides on the state it finds", () =>
    Effect.gen(function*() {
      const owner = yield* State.makeOwner
      yield* owner.apply(State.ready)
      // A holder of the state (a `changes` subscriber publishing, an update) keeps the claim waiting ...
      yield* owner.ref.semaphore.take(1)
      const claim = yield* Effect.forkChild(owner.apply(State.claim))
      yield* Effect.yieldNow
      assert.isUndefined(claim.pollUnsafe(), "the claim waits for the state")
      // ... and what the holder decides meanwhile is what the claim finds.
      owner.ref.value = "Starting"
      yield* owner.ref.semaphore.release(1)
      assert.deepStrictEqual(yield* Fiber.join(claim), { _tag: "Wait" })
    }))

  it.effect("started: the state once it is not Starting, at once when it is not", () =>
    Effect.gen(function*() {
      const owner = yield* State.makeOwner
      const waiting = yield* Effect.forkChild(owner.started)
      yield* Effect.yieldNow
      assert.isUndefined(waiting.pollUnsafe(), "waits while Starting")
      yield* owner.apply(State.ready)
      assert.strictEqual(yield* Fiber.join(waiting), "Idle")
      assert.strictEqual(yield* owner.started, "Idle")
      yield* owner.apply(State.died(false))
      assert.strictEqual(yield* owner.started, "Failed")
      assert.strictEqual(yield* SubscriptionRef.get(owner.ref), "Failed")
    }))
})

describe("Session watchdog (pure decision)", () => {
  const deadlines: Watchdog.Deadlines = { firstEvent: 3000, idle: 1000, turn: 10_000 }
  const turn = (lastEventAt: number, sawEvent: boolean): Watchdog.Watched => ({ startedAt: 0, lastEventAt, sawEvent })

  it("before the first event: the first-event deadline, not the (shorter) idle one; waking at least once per idle period", () => {
    assert.deepStrictEqual(Watchdog.next(deadlines, turn(0, false), 0), { _tag: "Wait", millis: 1000 })
    assert.deepStrictEqual(Watchdog.next(deadlines, turn(0, false), 2500), { _tag: "Wait", millis: 500 })
    assert.deepStrictEqual(Watchdog.next(deadlines, turn(0, false), 2999), { _tag: "Wait", millis: 1 })
    assert.deepStrictEqual(Watchdog.next(deadlines, turn(0, false), 3000), {
      _tag: "Expired",
      kind: "firstEvent",
      durationMs: 3000
    })
  })

  it("after an event: the idle deadline from the last one", () => {
    assert.deepStrictEqual(Watchdog.next(deadlines, turn(5000, true), 5200), { _tag: "Wait", millis: 800 })
    assert.deepStrictEqual(Watchdog.next(deadlines, turn(5000, true), 6000), {
      _tag: "Expired",
      kind: "idle",
      durationMs: 1000
    })
  })

  it("the whole-turn deadline, however lively the turn", () => {
    assert.deepStrictEqual(Watchdog.next(deadlines, turn(9900, true), 9950), { _tag: "Wait", millis: 50 })
    assert.deepStrictEqual(Watchdog.next(deadlines, turn(9999, true), 10_000), {
      _tag: "Expired",
      kind: "turn",
      durationMs: 10_000
    })
  })
})

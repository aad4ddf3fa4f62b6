import { assert, describe, it } from "@effect/vitest"
import {
  Clock,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  Option,
  Predicate,
  References,
  Scope,
  Stream,
  SubscriptionRef
} from "effect"
import { TestClock } from "effect/testing"
import * as Claude from "../src/Claude.ts"
import type * as ClaudeError from "../src/ClaudeError.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as DebugLog from "../src/DebugLog.ts"
import * as Session from "../src/Session.ts"
import * as SessionPool from "../src/SessionPool.ts"
import type * as FakeCli from "../src/testing/FakeCli.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import { ClaudeOnFake, pumpClockOnFailure, settleUntil, withSleepProbe } from "./utils.ts"

// Session deadlines on virtual time: the in-process FakeSpawner sleeps on the Effect Clock, so
// TestClock.adjust moves both the fake CLI and the session's watchdog.
//
// A timed-out turn ends only once its process is stopped: the shutdown ladder (stdin EOF, grace, SIGTERM,
// grace, SIGKILL) sleeps on the same Clock, so each test moves the clock through the ladder while still in
// its body, and checks the turn has ended after the last step (never waiting on it: a turn still running
// fails the test instead of hanging it). By then the process has exited, so closing the scope needs no
// more Clock. `pumpClockOnFailure` goes inside `Effect.scoped`: should a test fail half-way, the clock
// keeps moving while the scope's cleanups run.
const executable = FakeSpawner.executable
const grace = 1000
const quick = { shutdownGrace: grace } as const

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), `expected a failure, got ${String(exit)}`)
  const reason = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
  if (reason?._tag !== "Fail") throw new Error(`expected a typed failure, got ${String(reason?._tag)}`)
  return reason.error
}

const assertTimeout = <A>(
  exit: Exit.Exit<A, ClaudeError.ClaudeError>,
  kind: ClaudeError.TimeoutKind,
  durationMs: number
) => {
  const reason = failureOf(exit).reason
  assert.strictEqual(reason._tag, "Timeout", `expected a Timeout, got ${reason._tag}`)
  if (reason._tag === "Timeout") {
    assert.strictEqual(reason.kind, kind)
    assert.strictEqual(reason.durationMs, durationMs)
  }
}

const isRunning = <A, E>(fiber: Fiber.Fiber<A, E>) => fiber.pollUnsafe() === undefined

/** The outcome of a fiber that must have ended by now. */
const ended = <A, E>(fiber: Fiber.Fiber<A, E>, what: string) =>
  Effect.suspend(() => {
    assert.isFalse(isRunning(fiber), `${what} has ended`)
    return Fiber.join(fiber)
  })

const sessionProcess = Effect.gen(function*() {
  const fake = yield* FakeSpawner.FakeSpawnerState
  const found = (yield* fake.processes).filter((p) => p.kind === "session")
  assert.strictEqual(found.length, 1, "one session process")
  const [record] = found
  if (record === undefined) throw new Error("no session process")
  return record
})

const userLines = (p: FakeSpawner.ProcessRecord) =>
  p.stdin.filter((line) => Predicate.isObject(line) && line["type"] === "user").length

/** A turn on its own fiber; `events` holds what the stream delivered so far. */
const startTurn = (session: Session.Session, prompt: string) =>
  Effect.gen(function*() {
    const events: Array<ClaudeEvent> = []
    const fiber = yield* session.send(prompt).pipe(
      Stream.runForEach((event) => Effect.sync(() => events.push(event))),
      Effect.exit,
      Effect.forkChild
    )
    return { events, fiber }
  })

/**
 * Waits for a fiber that must end without any more Clock time, bounded by real time (should it never end,
 * the test fails after `within` instead of hanging until the test timeout).
 */
const settled = <A, E>(fiber: Fiber.Fiber<A, E>, what: string, within: Duration.Input = "2 seconds") =>
  TestClock.withLive(Effect.timeoutOption(Fiber.await(fiber), within)).pipe(
    Effect.flatMap((exit) => {
      assert.isTrue(Option.isSome(exit), `${what} has ended`)
      return Fiber.join(fiber)
    })
  )

/** Joins a fiber that needs Clock time to end, moving the clock a second at a time (at most `seconds`). */
const joinAdjusting = <A, E>(fiber: Fiber.Fiber<A, E>, what: string, seconds = 30) =>
  Effect.gen(function*() {
    for (let i = 0; i < seconds && isRunning(fiber); i++) yield* TestClock.adjust("1 second")
    return yield* ended(fiber, what)
  })

const reasonTag = <A>(exit: Exit.Exit<A, ClaudeError.ClaudeError>) => failureOf(exit).reason._tag

const allow: Session.PermissionDecision = { behavior: "allow" }

/** Right before the deadline: the turn runs, the process has not been told anything. */
const assertUntouched = Effect.gen(function*() {
  const p = yield* sessionProcess
  assert.isFalse(p.stdinClosed, "no stdin EOF before the deadline")
  assert.deepStrictEqual(p.signals, [])
  assert.isTrue(p.running)
})

/**
 * Right after the deadline: the session is Failed and the ladder has started (stdin EOF) on a process that
 * ignores EOF; the turn has not ended yet, it waits for the process to be stopped.
 */
const assertStopping = <A, E>(session: Session.Session, turn: Fiber.Fiber<A, E>) =>
  Effect.gen(function*() {
    assert.strictEqual(yield* SubscriptionRef.get(session.state), "Failed")
    const p = yield* sessionProcess
    assert.isTrue(p.stdinClosed, "the ladder's first rung: stdin EOF")
    assert.deepStrictEqual(p.signals, [], "no signal before the grace period is over")
    assert.isTrue(p.running)
    assert.isTrue(isRunning(turn), "the turn ends once its process is stopped, not before")
  })

/** The process got EOF, then, a grace period later, SIGTERM, and died of it. No process is left. */
const assertStopped = Effect.gen(function*() {
  const fake = yield* FakeSpawner.FakeSpawnerState
  const p = yield* sessionProcess
  assert.isTrue(p.stdinClosed)
  assert.deepStrictEqual(p.signals, ["SIGTERM"])
  assert.deepStrictEqual(p.exit, { _tag: "Signaled", signal: "SIGTERM" })
  assert.strictEqual(yield* fake.live, 0, "no fake process is left running")
})

/**
 * A turn whose deadline is `ms` of TestClock from now: 100 ms before it the turn runs and its process is
 * untouched; at it the session is Failed and the process is being stopped; after the grace period the turn
 * has failed with `Timeout(kind, ms)` and the process is gone.
 */
const expectTimeout = <A>(
  session: Session.Session,
  turn: Fiber.Fiber<Exit.Exit<A, ClaudeError.ClaudeError>>,
  kind: ClaudeError.TimeoutKind,
  ms: number
) =>
  Effect.gen(function*() {
    yield* TestClock.adjust(Duration.millis(ms - 100))
    assert.isTrue(isRunning(turn))
    yield* assertUntouched
    yield* TestClock.adjust("100 millis")
    yield* assertStopping(session, turn)
    yield* TestClock.adjust(grace)
    assertTimeout(yield* ended(turn, "the turn"), kind, ms)
    yield* assertStopped
  })

/** Failed for good: a further turn fails at once, spawns nothing and writes nothing to the old process. */
const assertNeverReused = (session: Session.Session) =>
  Effect.gen(function*() {
    const fake = yield* FakeSpawner.FakeSpawnerState
    assert.strictEqual(yield* SubscriptionRef.get(session.state), "Failed")
    const spawned = yield* fake.spawned
    const prompts = userLines(yield* sessionProcess)
    const error = failureOf(yield* Effect.exit(session.ask("again")))
    assert.strictEqual(error.reason._tag, "ProtocolError")
    assert.match(error.message, /the session is Failed/)
    assert.strictEqual(yield* fake.spawned, spawned, "no process spawned")
    assert.strictEqual(userLines(yield* sessionProcess), prompts, "nothing sent to the stopped process")
    assert.strictEqual(yield* SubscriptionRef.get(session.state), "Failed")
  })

describe("Session timeouts (TestClock)", () => {
  it.effect("F04: the idle clock is paused while a permission callback waits on the host", () =>
    Effect.gen(function*() {
      const idle = 5000
      // When the callback started and when it answered, on the TestClock.
      const waits: Array<{ readonly from: number; readonly to: number }> = []
      const session = yield* Claude.session({
        options: { executable, includePartialMessages: true, timeouts: { idle, ...quick } },
        // The host takes 20 s to decide: longer than the idle timeout, which must not fire meanwhile.
        canUseTool: () =>
          Effect.gen(function*() {
            const from = yield* Clock.currentTimeMillis
            yield* Effect.sleep("20 seconds")
            waits.push({ from, to: yield* Clock.currentTimeMillis })
            return allow
          })
      })
      const turn = yield* session.ask("go").pipe(Effect.exit, Effect.forkChild)
      for (let i = 0; i < 30 && isRunning(turn); i++) yield* TestClock.adjust("1 second")
      const exit = yield* ended(turn, "the turn")
      assert.isTrue(Exit.isSuccess(exit), `the turn completed: ${String(exit)}`)
      if (Exit.isSuccess(exit)) {
        assert.strictEqual(exit.value.text, "done")
        assert.isFalse(exit.value.isError)
      }
      // The callback ran, once, and the host's wait outlasted the idle timeout four times over.
      assert.strictEqual(waits.length, 1, "the permission callback ran once")
      const [wait] = waits
      assert.strictEqual((wait?.to ?? 0) - (wait?.from ?? 0), 20_000)
      assert.isAbove((wait?.to ?? 0) - (wait?.from ?? 0), idle)
      // Its answer is the one the CLI got.
      const p = yield* sessionProcess
      assert.deepStrictEqual(p.controlRequests.map((r) => [r.subtype, r.answers.length]), [["can_use_tool", 1]])
      assert.deepInclude(p.controlRequests[0]?.answers[0]?.["response"], { behavior: "allow" })
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({
        turns: [{
          text: "done",
          toolUse: { name: "Bash", input: { command: "ls" } },
          controlRequests: [{ subtype: "can_use_tool", tool_name: "Bash", input: { command: "ls" } }]
        }]
      }))
    ))

  it.effect("F04: a turn that goes silent mid-reply fails with Timeout(idle); the process is stopped, never reused", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      const session = yield* Claude.session({ options: { executable, timeouts: { idle: 5000, ...quick } } })
      const sawText = yield* Deferred.make<void>()
      const events: Array<ClaudeEvent> = []
      const turn = yield* session.send("go").pipe(
        Stream.runForEach((event) =>
          Effect.andThen(
            Effect.sync(() => events.push(event)),
            event._tag === "AssistantText" ? Deferred.succeed(sawText, undefined) : Effect.void
          )
        ),
        Effect.exit,
        Effect.forkChild
      )
      // The fake wrote half a reply, then went silent for good (it ignores stdin EOF too).
      yield* fake.waitUntil((ps) => ps.some((p) => p.hung))
      yield* Deferred.await(sawText)
      yield* expectTimeout(session, turn, "idle", 5000)

      // What arrived before the stall was delivered; nothing after it.
      assert.deepStrictEqual(events.map((e) => e._tag), ["SessionStarted", "AssistantText"])
      const [, text] = events
      assert.strictEqual(text?._tag === "AssistantText" ? text.text : undefined, "half a reply")
      yield* assertNeverReused(session)
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ turns: [{ text: "half a reply", hang: "midTurn" }] }))
    ))

  it.effect("F04: a turn with no first event fails with Timeout(firstEvent), whatever the idle timeout", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      // The idle timeout is shorter, but only counts once the turn has had an event.
      const session = yield* Claude.session({
        options: { executable, timeouts: { firstEvent: 3000, idle: 1000, ...quick } }
      })
      const { events, fiber: turn } = yield* startTurn(session, "go")
      yield* fake.waitUntil((ps) => ps.some((p) => p.hung && userLines(p) === 1))
      yield* expectTimeout(session, turn, "firstEvent", 3000)
      assert.deepStrictEqual(events, [], "nothing arrived")
      yield* assertNeverReused(session)
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ turns: [{ hang: "beforeFirstEvent" }] }))
    ))

  it.effect("F04: a turn that keeps talking past its deadline fails with Timeout(turn)", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      // A frame every 3 s (11 frames with partial messages): never idle for 5 s, but 33 s in all.
      const session = yield* Claude.session({
        options: { executable, includePartialMessages: true, timeouts: { turn: 10_000, idle: 5000, ...quick } }
      })
      const { events, fiber: turn } = yield* startTurn(session, "go")
      yield* fake.waitUntil((ps) => ps.some((p) => p.sleeping && userLines(p) === 1))
      // On EOF this fake finishes its turn, slowly: its next frame is due at 12 s, past the grace period.
      yield* expectTimeout(session, turn, "turn", 10_000)

      // The frames of 3, 6 and 9 s were delivered.
      assert.deepStrictEqual(
        events.map((e) => (e._tag === "StreamEvent" ? `${e._tag}:${e.eventType}` : e._tag)),
        ["SessionStarted", "StreamEvent:message_start", "StreamEvent:content_block_start"]
      )
      yield* assertNeverReused(session)
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ turns: [{ text: "a long reply", frameDelay: "3 seconds" }] }))
    ))

  it.effect("F04: a CLI that never becomes ready fails the session with Timeout(startup); the process is stopped", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      // Longer than the default deadline of our control requests (10 s), which must not cut start-up short.
      const starting = yield* Claude.session({ options: { executable, timeouts: { startup: 20_000, ...quick } } }).pipe(
        Effect.exit,
        Effect.forkChild
      )
      // `initialize` was received and recorded, never answered.
      yield* fake.waitUntil((ps) =>
        ps.some((p) => p.hung && p.stdin.some((line) => Predicate.isObject(line) && line["type"] === "control_request"))
      )
      yield* TestClock.adjust("19900 millis")
      assert.isTrue(isRunning(starting))
      yield* assertUntouched
      yield* TestClock.adjust("100 millis")
      const p = yield* sessionProcess
      assert.isTrue(p.stdinClosed, "the ladder's first rung: stdin EOF")
      assert.deepStrictEqual(p.signals, [])
      assert.isTrue(isRunning(starting), "start-up fails once the process is stopped, not before")
      yield* TestClock.adjust(grace)
      assertTimeout(yield* ended(starting, "start-up"), "startup", 20_000)
      yield* assertStopped
      // There is no session to reuse, and nothing was spawned in its place.
      assert.strictEqual(userLines(yield* sessionProcess), 0, "no prompt was ever sent")
      assert.deepStrictEqual((yield* fake.processes).map((p) => p.kind).filter((kind) => kind === "session"), [
        "session"
      ])
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ hangBeforeInit: true }))
    ))
})

describe("Session control protocol and turn lifecycle (TestClock)", () => {
  const permissionTurn: FakeSpawner.Turn = {
    text: "never shown",
    toolUse: { name: "Bash", input: { command: "ls" } },
    controlRequests: [{ subtype: "can_use_tool" }]
  }

  /** Runs a turn whose permission request is pending on the host, interrupts it, and returns its exit. */
  const interruptAtPermissionPrompt = (session: Session.Session) =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      const { fiber } = yield* startTurn(session, "needs a tool")
      yield* fake.waitUntil((ps) => ps.some((p) => p.controlRequests.length === 1))
      yield* session.interrupt
      // The CLI withdraws its pending request (control_cancel_request), then ends the turn.
      const p = yield* sessionProcess
      assert.isTrue(
        p.stdin.some((line) => Predicate.isObject(line) && line["type"] === "control_request"),
        "the interrupt was sent"
      )
      return yield* settled(fiber, "the interrupted turn")
    })

  it.effect("control_cancel_request: the withdrawn request's handler is interrupted and never answered", () =>
    Effect.gen(function*() {
      const handler = { started: 0, interrupted: 0, finished: 0 }
      const session = yield* Claude.session({
        options: { executable, timeouts: quick },
        // The host would take 30 s to decide, and then allow.
        canUseTool: () =>
          Effect.sync(() => handler.started++).pipe(
            Effect.andThen(Effect.sleep("30 seconds")),
            Effect.andThen(Effect.sync(() => handler.finished++)),
            Effect.as(allow),
            Effect.onInterrupt(() => Effect.sync(() => handler.interrupted++))
          )
      })
      const exit = yield* interruptAtPermissionPrompt(session)
      assert.strictEqual(reasonTag(exit), "Interrupted")
      assert.deepStrictEqual(handler, { started: 1, interrupted: 1, finished: 0 }, "the handler was interrupted")

      // Past the time the handler would have taken: no late answer for the withdrawn id.
      yield* TestClock.adjust("31 seconds")
      const p = yield* sessionProcess
      assert.deepStrictEqual(p.controlRequests.map((r) => [r.subtype, r.answers.length]), [["can_use_tool", 0]])
      assert.deepStrictEqual(p.controlAnswers, [], "nothing was answered")
      assert.strictEqual(handler.finished, 0)

      // The session goes on.
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Idle")
      const next = yield* session.ask("next")
      assert.strictEqual(next.text, "after")
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ turns: [permissionTurn, { text: "after" }] }))
    ))

  it.effect("control_cancel_request: the idle watchdog works again after a withdrawn request (F04)", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      const session = yield* Claude.session({
        options: { executable, timeouts: { idle: 5000, ...quick } },
        // A host that never decides: only the CLI's withdrawal ends its wait.
        canUseTool: () => Effect.as(Effect.sleep("1 hour"), allow)
      })
      assert.strictEqual(reasonTag(yield* interruptAtPermissionPrompt(session)), "Interrupted")

      // The next turn goes silent: nothing waits on the host any more, so the idle deadline applies.
      const { fiber: turn } = yield* startTurn(session, "go")
      yield* fake.waitUntil((ps) => ps.some((p) => p.hung))
      yield* expectTimeout(session, turn, "idle", 5000)
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ turns: [permissionTurn, { text: "half a reply", hang: "midTurn" }] }))
    ))

  const slowTurns: ReadonlyArray<FakeSpawner.Turn> = [
    // A frame every second of Clock: still running after its first two events.
    { text: "a long first reply", frameDelay: "1 second" },
    { text: "second" }
  ]

  /** The second turn got only its own frames: nothing of the abandoned first one. */
  const assertOwnTurn = (events: ReadonlyArray<ClaudeEvent>, text: string) => {
    const result = events.at(-1)
    assert.strictEqual(result?._tag, "Result")
    if (result?._tag === "Result") {
      assert.strictEqual(result.text, text)
      assert.strictEqual(result.error, undefined)
    }
    assert.strictEqual(events.filter((e) => e._tag === "Result").length, 1, "one result")
    assert.strictEqual(events.filter((e) => e._tag === "SessionStarted").length, 1, "one system/init")
    assert.deepStrictEqual(
      events.flatMap((e) => (e._tag === "AssistantText" ? [e.text] : [])),
      [text],
      "only this turn's text"
    )
  }

  it.effect("abandoned stream (Stream.take): the turn is interrupted, the session is Idle and takes the next turn", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({
        options: { executable, includePartialMessages: true, timeouts: quick }
      })
      const taken = yield* session.send("first").pipe(Stream.take(2), Stream.runCollect, Effect.forkChild)
      const events = yield* joinAdjusting(taken, "the consumer")
      assert.deepStrictEqual(events.map((e) => e._tag), ["SessionStarted", "StreamEvent"])
      // Closing the stream interrupted the turn and waited for its end.
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Idle")
      const p = yield* sessionProcess
      assert.isTrue(
        p.stdin.some((line) =>
          Predicate.isObject(line) && Predicate.isObject(line["request"]) && line["request"]["subtype"] === "interrupt"
        ),
        "an interrupt was sent"
      )
      assert.deepStrictEqual(p.signals, [], "the process was not stopped")

      const { events: second, fiber } = yield* startTurn(session, "second")
      assert.isTrue(Exit.isSuccess(yield* joinAdjusting(fiber, "the second turn")))
      assertOwnTurn(second, "second")
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Idle")
    }).pipe(pumpClockOnFailure, Effect.scoped, Effect.provide(ClaudeOnFake({ turns: slowTurns }))))

  it.effect("abandoned stream (consumer interrupted): the turn is interrupted, the session is Idle again", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      const session = yield* Claude.session({ options: { executable, timeouts: quick } })
      const { events, fiber } = yield* startTurn(session, "first")
      yield* fake.waitUntil((ps) => ps.some((p) => p.sleeping && userLines(p) === 1))
      yield* TestClock.adjust("1 second")
      // Interrupting the consumer returns once the turn has ended: no Clock time needed.
      const interrupting = yield* Effect.forkChild(Fiber.interrupt(fiber))
      yield* settled(interrupting, "interrupting the consumer")
      assert.deepStrictEqual(events.map((e) => e._tag), ["SessionStarted"])
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Idle")
      const { events: second, fiber: next } = yield* startTurn(session, "second")
      assert.isTrue(Exit.isSuccess(yield* joinAdjusting(next, "the second turn")))
      assertOwnTurn(second, "second")
    }).pipe(pumpClockOnFailure, Effect.scoped, Effect.provide(ClaudeOnFake({ turns: slowTurns }))))

  it.effect("abandoned stream: a CLI that does not end the turn within the control timeout is stopped, never reused", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      const session = yield* Claude.session({ options: { executable, timeouts: quick }, controlTimeout: "2 seconds" })
      const taken = yield* session.send("first").pipe(Stream.take(2), Stream.runCollect, Effect.forkChild)
      // The fake wrote its text, then went silent: it answers neither the interrupt nor anything else.
      yield* fake.waitUntil((ps) => ps.some((p) => p.hung))
      yield* TestClock.adjust("1900 millis")
      assert.isTrue(isRunning(taken), "closing the stream waits for the turn to end")
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Running")
      yield* assertUntouched
      yield* TestClock.adjust("100 millis")
      yield* assertStopping(session, taken)
      yield* TestClock.adjust(grace)
      const events = yield* ended(taken, "the consumer")
      assert.deepStrictEqual(events.map((e) => e._tag), ["SessionStarted", "AssistantText"])
      yield* assertStopped
      yield* assertNeverReused(session)
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ turns: [{ text: "half a reply", hang: "midTurn" }] }))
    ))

  it.effect("the end of a turn's stream finds the session Idle, even when updating the state has to wait", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      const session = yield* Claude.session({ options: { executable, timeouts: quick } })
      const consumer = yield* session.send("go").pipe(
        Stream.runDrain,
        Effect.andThen(SubscriptionRef.get(session.state)),
        Effect.forkChild
      )
      yield* fake.waitUntil((ps) => ps.some((p) => p.sleeping && userLines(p) === 1))
      // Someone else holds the state for a moment (a `changes` subscriber, an update) when the result comes.
      yield* Effect.acquireUseRelease(
        session.state.semaphore.take(1),
        () =>
          Effect.gen(function*() {
            yield* TestClock.adjust("1 second")
            // The result has reached the session (its debug log holds it), and the stream has not ended: its
            // end waits for the state, which waits for us.
            yield* settleUntil(
              Effect.map(session.debugLog, (log) =>
                log.frames.some((f) =>
                    f.direction === "in" && Predicate.isObject(f.frame) && f.frame["type"] === "result"
                  )
                  ? true
                  : undefined),
              "the result read by the session"
            )
            assert.isTrue(isRunning(consumer), "the stream does not end before the session is Idle")
          }),
        () => session.state.semaphore.release(1)
      )
      // Whoever the end of the stream wakes up (`ask` returning, the pool taking the session back) sees Idle.
      assert.strictEqual(yield* settled(consumer, "the consumer"), "Idle")
      assert.strictEqual((yield* session.ask("again")).text, "echo: again")
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Idle")
    }).pipe(pumpClockOnFailure, Effect.scoped, Effect.provide(ClaudeOnFake({ turns: [{ delay: "1 second" }, {}] }))))

  it.effect("closing the session's scope mid-turn fails the turn at once with Interrupted, then stops the process", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      const scope = yield* Scope.make()
      const session = yield* Claude.session({ options: { executable, timeouts: quick } }).pipe(Scope.provide(scope))
      const { events, fiber: turn } = yield* startTurn(session, "slow")
      yield* fake.waitUntil((ps) => ps.some((p) => p.sleeping && userLines(p) === 1))
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      // The turn fails before the shutdown ladder has moved at all.
      assert.strictEqual(reasonTag(yield* settled(turn, "the turn")), "Interrupted")
      assert.deepStrictEqual(events, [])
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Closed")
      // The process still gets the ladder: EOF (ignored by a fake busy for an hour), grace, SIGTERM.
      yield* fake.waitUntil((ps) => ps.some((p) => p.stdinClosed))
      assert.isTrue(isRunning(closing))
      yield* TestClock.adjust(grace)
      yield* ended(closing, "closing the scope")
      yield* assertStopped
    }).pipe(pumpClockOnFailure, Effect.scoped, Effect.provide(ClaudeOnFake({ turns: [{ delay: "1 hour" }] }))))

  it.effect("closing the session's scope fails our pending control requests at once", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      const scope = yield* Scope.make()
      const session = yield* Claude.session({ options: { executable, timeouts: quick } }).pipe(Scope.provide(scope))
      const { fiber: turn } = yield* startTurn(session, "go")
      // Silent for good: nothing we ask is ever answered.
      yield* fake.waitUntil((ps) => ps.some((p) => p.hung))
      const setModel = yield* Effect.forkChild(Effect.exit(session.setModel("sonnet")))
      yield* fake.waitUntil((ps) =>
        ps.some((p) =>
          p.stdin.some((line) =>
            Predicate.isObject(line) && Predicate.isObject(line["request"]) &&
            line["request"]["subtype"] === "set_model"
          )
        )
      )
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      assert.strictEqual(reasonTag(yield* settled(turn, "the turn")), "Interrupted")
      assert.strictEqual(reasonTag(yield* settled(setModel, "setModel")), "Interrupted")
      yield* TestClock.adjust(grace)
      yield* ended(closing, "closing the scope")
      yield* assertStopped
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ turns: [{ text: "half a reply", hang: "midTurn" }] }))
    ))
})

describe("F05: control requests after a turn's result", () => {
  it.effect("F05: multi-turn: requests the CLI sends between turns are answered exactly once; no hook skipped", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      const asked: Array<string> = []
      const session = yield* Claude.session({
        options: { executable, timeouts: quick },
        canUseTool: (request) => Effect.sync(() => asked.push(`tool:${request.toolName}`)).pipe(Effect.as(allow)),
        hooks: {
          Stop: [{ handle: () => Effect.sync(() => asked.push("hook:Stop")).pipe(Effect.as({ continue: true })) }]
        }
      })
      const first = yield* session.ask("one")
      assert.strictEqual(first.text, "one")
      // The fake sends its requests after the result, while no turn runs; it takes no message before their answers.
      const [p] = yield* fake.waitUntil((ps) =>
        ps.some((p) =>
          p.kind === "session" && p.controlRequests.length === 2 && p.controlRequests.every((r) => r.answers.length > 0)
        )
      ).pipe(Effect.map((ps) => ps.filter((p) => p.kind === "session")))
      assert.deepStrictEqual(p?.controlRequests.map((r) => r.subtype), ["hook_callback", "can_use_tool"])
      assert.deepStrictEqual(asked.sort(), ["hook:Stop", "tool:Bash"])

      const second = yield* startTurn(session, "two")
      assert.isTrue(Exit.isSuccess(yield* joinAdjusting(second.fiber, "the second turn")))
      assert.strictEqual(second.events.at(-1)?._tag, "Result")
      const after = yield* sessionProcess
      // Exactly one answer each, the permission allowed, the hook continued.
      assert.deepStrictEqual(after.controlRequests.map((r) => r.answers.length), [1, 1])
      const [hook, permission] = after.controlRequests.map((r) => r.answers[0])
      assert.deepStrictEqual(hook?.["response"], { continue: true })
      assert.deepInclude(permission?.["response"], { behavior: "allow" })
      assert.deepStrictEqual(asked.length, 2, "each handler ran once")
      assert.strictEqual(after.turns, 2)
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({
        turns: [
          {
            text: "one",
            controlTimeout: "10 seconds",
            controlRequestsAfterResult: [
              { subtype: "hook_callback", input: { hook_event_name: "Stop", stop_hook_active: false } },
              { subtype: "can_use_tool" }
            ]
          },
          { text: "two" }
        ]
      }))
    ))

  it.effect("F05: one-shot: the CLI exits after the result; the real final result arrives and no hook is skipped", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      let hooks = 0
      const session = yield* Claude.session({
        options: { executable, timeouts: quick },
        hooks: {
          PreToolUse: [{ handle: () => Effect.sync(() => hooks++).pipe(Effect.as({ continue: true })) }]
        }
      })
      const result = yield* session.ask("go")
      assert.strictEqual(result.text, "the real final result")
      assert.strictEqual(result.error, undefined)
      // The hook of the turn was answered before the result was written, once.
      const summary: ReadonlyArray<FakeCli.ControlAnswer> = Reflect.get(result.frame, "fake_control_answers")
      assert.deepStrictEqual(summary.map((a) => [a.subtype, a.count, a.timed_out]), [["hook_callback", 1, false]])
      // The hook sent after the result was answered too, and only then did the process exit (0).
      const [p] = (yield* fake.waitUntil((ps) => ps.some((p) => p.kind === "session" && !p.running)))
        .filter((p) => p.kind === "session")
      assert.deepStrictEqual(p?.controlRequests.map((r) => r.answers.length), [1, 1])
      assert.deepStrictEqual(p?.exit, { _tag: "Exited", code: 0 })
      assert.deepStrictEqual(p?.signals, [])
      assert.strictEqual(hooks, 2)
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({
        turns: [{
          text: "the real final result",
          controlTimeout: "10 seconds",
          controlRequests: [{ subtype: "hook_callback" }],
          controlRequestsAfterResult: [{ subtype: "hook_callback" }],
          exitAfterResult: true
        }]
      }))
    ))
})

// ---------------------------------------------------------------------------------------------------------
// Crash recovery and fail-fast (issue 4)
// ---------------------------------------------------------------------------------------------------------

const sessionProcesses = FakeSpawner.FakeSpawnerState.use((fake) =>
  Effect.map(fake.processes, (ps) => ps.filter((p) => p.kind === "session"))
)

const flagOf = (p: FakeSpawner.ProcessRecord | undefined, name: string) =>
  p?.args.find((arg) => arg.startsWith(`${name}=`))?.slice(name.length + 1)

/** Waits (on real time, the Clock standing still) until the session's state is `wanted`. */
const stateBecomes = (session: Session.Session, wanted: Session.State, within: Duration.Input = "3 seconds") =>
  SubscriptionRef.changes(session.state).pipe(
    Stream.takeUntil((now) => now === wanted),
    Stream.runLast,
    (waiting) => TestClock.withLive(Effect.timeoutOption(waiting, within)),
    Effect.flatMap((last) =>
      Effect.sync(() =>
        assert.deepStrictEqual(Option.flatten(last), Option.some(wanted), `the session became ${wanted}`)
      )
    )
  )

/** Every state the session goes through, from now on. */
const recordStates = (session: Session.Session) =>
  Effect.gen(function*() {
    const seen: Array<Session.State> = []
    yield* SubscriptionRef.changes(session.state).pipe(
      Stream.runForEach((now) => Effect.sync(() => seen.push(now))),
      Effect.forkScoped
    )
    return seen
  })

const crashTurn: FakeSpawner.Turn = { crash: { signal: "SIGKILL" } }

describe("Session crash recovery (TestClock)", () => {
  it.effect("a CLI killed mid-turn: the turn fails with ProcessCrashed, a replacement resumes the conversation", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      const session = yield* Claude.session({ options: { executable, timeouts: quick } })
      const firstPid = session.pid
      const first = yield* session.ask("one")
      const states = yield* recordStates(session)

      const crashed = failureOf(yield* Effect.exit(session.ask("two")))
      assert.strictEqual(crashed.reason._tag, "ProcessCrashed")
      assert.strictEqual(Reflect.get(crashed.reason, "signal"), "SIGKILL")
      assert.isTrue(crashed.isRetryable)
      assert.strictEqual(crashed.sessionId, first.sessionId, "the error names the conversation")
      assert.strictEqual(crashed.turn, 2)

      yield* stateBecomes(session, "Idle")
      assert.deepStrictEqual(states.slice(-3), ["Running", "Starting", "Idle"])
      assert.strictEqual(yield* session.restarts, 1)
      const [dead, replacement] = yield* sessionProcesses
      assert.deepStrictEqual(dead?.exit, { _tag: "Signaled", signal: "SIGKILL" })
      assert.strictEqual(flagOf(dead, "--resume"), undefined)
      assert.strictEqual(flagOf(replacement, "--resume"), first.sessionId, "the replacement resumes the conversation")
      assert.notStrictEqual(session.pid, firstPid)
      assert.strictEqual(session.pid, replacement?.pid)

      // The next turn runs on the replacement, in the same conversation.
      const third = yield* session.ask("three")
      assert.strictEqual(third.text, "three is on the replacement")
      assert.strictEqual(third.sessionId, first.sessionId)
      assert.strictEqual((yield* sessionProcesses).length, 2, "one replacement, no more")
      assert.strictEqual(yield* fake.live, 1)
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(
        ClaudeOnFake({
          sharedTurns: true,
          turns: [{ text: "one" }, crashTurn, { text: "three is on the replacement" }]
        })
      )
    ))

  it.effect("a CLI that exits non-zero mid-turn: ProcessExited, then a replacement", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({ options: { executable, timeouts: quick } })
      const exited = failureOf(yield* Effect.exit(session.ask("one")))
      assert.strictEqual(exited.reason._tag, "ProcessExited")
      assert.strictEqual(Reflect.get(exited.reason, "exitCode"), 3)
      yield* stateBecomes(session, "Idle")
      // The crash came after system/init: the conversation has an id, and the replacement resumes it.
      const [dead, replacement] = yield* sessionProcesses
      assert.deepStrictEqual(dead?.exit, { _tag: "Exited", code: 3 })
      assert.isDefined(flagOf(replacement, "--resume"))
      assert.strictEqual((yield* session.ask("two")).text, "echo: two")
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ sharedTurns: true, turns: [{ crash: { exitCode: 3 } }, {}] }))
    ))

  it.effect("a CLI that exits between turns is replaced too", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({ options: { executable, timeouts: quick } })
      const first = yield* session.ask("one")
      // The fake exits 0 right after its result, as a one-shot run would: the session is left without a CLI.
      yield* stateBecomes(session, "Idle")
      yield* FakeSpawner.FakeSpawnerState.use((fake) =>
        fake.waitUntil((ps) => ps.filter((p) => p.kind === "session").length === 2)
      )
      yield* stateBecomes(session, "Idle")
      assert.strictEqual(yield* session.restarts, 1)
      const [, replacement] = yield* sessionProcesses
      assert.strictEqual(flagOf(replacement, "--resume"), first.sessionId)
      assert.strictEqual((yield* session.ask("two")).sessionId, first.sessionId)
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ sharedTurns: true, turns: [{ text: "one", exitAfterResult: true }, {}] }))
    ))

  it.effect("a turn asked for while the replacement starts waits for it, then runs on it", () =>
    withSleepProbe((probe) =>
      Effect.gen(function*() {
        const fake = yield* FakeSpawner.FakeSpawnerState
        const starting = yield* Claude.session({ options: { executable, timeouts: quick } }).pipe(Effect.forkChild)
        yield* fake.waitUntil((ps) => ps.some((p) => p.kind === "session" && p.sleeping))
        yield* TestClock.adjust("1 second")
        const session = yield* settled(starting, "start-up")
        assert.strictEqual(reasonTag(yield* Effect.exit(session.ask("one"))), "ProcessCrashed")
        // The replacement sleeps a second (Clock) before it answers `initialize`.
        yield* fake.waitUntil((ps) =>
          ps.filter((p) => p.kind === "session" && p.sleeping).length === 1 &&
          ps.filter((p) => p.kind === "session").length === 2
        )
        assert.strictEqual(yield* SubscriptionRef.get(session.state), "Starting")
        const next = yield* startTurn(session, "two")
        // The turn waits for the replacement, bounded by the start-up deadline and the ladder before it, for
        // each restart the session may make: parked on the Clock, it cannot have sent anything.
        const replacementWait = (Duration.toMillis(ClaudeOptions.defaultTimeouts.startup) + 2 * grace) *
          Session.defaultRestart.maxRestarts
        yield* probe.parked(replacementWait, "the turn waiting for the replacement")
        assert.isTrue(isRunning(next.fiber), "the turn waits for the replacement")
        const [, replacement] = yield* sessionProcesses
        assert.strictEqual(userLines(replacement ?? (yield* sessionProcess)), 0, "nothing was sent yet")
        yield* TestClock.adjust("1 second")
        assert.isTrue(Exit.isSuccess(yield* settled(next.fiber, "the turn")))
        assert.strictEqual(next.events.at(-1)?._tag, "Result")
        const [, after] = yield* sessionProcesses
        assert.strictEqual(after?.turns, 1, "the turn ran on the replacement")
      }).pipe(
        pumpClockOnFailure,
        Effect.scoped,
        Effect.provide(ClaudeOnFake({ sharedTurns: true, startupDelay: "1 second", turns: [crashTurn, {}] }))
      )
    ))

  it.effect("restart intensity: a third death within the window fails the session; no replacement is left", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      const session = yield* Claude.session({
        options: { executable, timeouts: quick },
        restart: { maxRestarts: 2, window: "1 minute" }
      })
      for (let i = 1; i <= 2; i++) {
        assert.strictEqual(reasonTag(yield* Effect.exit(session.ask(`crash ${i}`))), "ProcessCrashed")
        yield* stateBecomes(session, "Idle")
        assert.strictEqual(yield* session.restarts, i)
        yield* TestClock.adjust("20 seconds")
      }
      // 40 s after the first replacement: a third death within the minute is one too many.
      assert.strictEqual(reasonTag(yield* Effect.exit(session.ask("crash 3"))), "ProcessCrashed")
      yield* stateBecomes(session, "Failed")
      assert.strictEqual(yield* session.restarts, 2)
      assert.strictEqual((yield* sessionProcesses).length, 3, "no fourth process")
      assert.strictEqual(yield* fake.live, 0, "nothing left running")
      const refused = failureOf(yield* Effect.exit(session.ask("again")))
      assert.match(refused.message, /the session is Failed/)
    }).pipe(pumpClockOnFailure, Effect.scoped, Effect.provide(ClaudeOnFake({ sharedTurns: true, turns: [crashTurn] }))))

  it.effect("restart intensity: deaths further apart than the window are replaced every time", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({
        options: { executable, timeouts: quick },
        restart: { maxRestarts: 2, window: "1 minute" }
      })
      for (let i = 1; i <= 4; i++) {
        assert.strictEqual(reasonTag(yield* Effect.exit(session.ask(`crash ${i}`))), "ProcessCrashed")
        yield* stateBecomes(session, "Idle")
        yield* TestClock.adjust("31 seconds")
      }
      assert.strictEqual(yield* session.restarts, 4)
      assert.strictEqual((yield* session.ask("fine")).text, "echo: fine")
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ sharedTurns: true, turns: [crashTurn, crashTurn, crashTurn, crashTurn, {}] }))
    ))

  it.effect("restart: { maxRestarts: 0 } turns crash recovery off: the session is Failed", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({ options: { executable, timeouts: quick }, restart: { maxRestarts: 0 } })
      assert.strictEqual(reasonTag(yield* Effect.exit(session.ask("one"))), "ProcessCrashed")
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Failed")
      assert.strictEqual((yield* sessionProcesses).length, 1)
    }).pipe(pumpClockOnFailure, Effect.scoped, Effect.provide(ClaudeOnFake({ sharedTurns: true, turns: [crashTurn] }))))

  it.effect("an invalid restart policy is InvalidOptions, before anything is spawned", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      for (const restart of [{ maxRestarts: -1 }, { maxRestarts: 1.5 }, { window: 0 }, { window: Duration.infinity }]) {
        const error = failureOf(yield* Effect.exit(Claude.session({ options: { executable }, restart })))
        assert.strictEqual(error.reason._tag, "InvalidOptions")
      }
      assert.strictEqual(yield* fake.spawned, 0)
    }).pipe(Effect.scoped, Effect.provide(ClaudeOnFake({}))))

  it.effect("SessionPool: a pooled session whose CLI died is not respawned in place nor reused; the pool stops it", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      const pool = yield* SessionPool.SessionPool
      const leased = yield* Effect.scoped(Effect.gen(function*() {
        const session = yield* pool.acquire({ options: { executable, timeouts: quick } })
        const exit = yield* Effect.exit(session.ask("one"))
        return { exit, state: yield* SubscriptionRef.get(session.state) }
      })).pipe(Effect.forkChild)
      yield* fake.waitUntil((ps) => ps.some((p) => p.kind === "session" && p.sleeping))
      yield* TestClock.adjust("1 second")
      const { exit, state } = yield* settled(leased, "the lease")
      assert.strictEqual(reasonTag(exit), "ProcessCrashed")
      // The pool replaces processes itself: its sessions have no restarts of their own.
      assert.strictEqual(state, "Failed")
      const stats = yield* pool.stats
      assert.strictEqual(stats.size, 0, "the dead session went out of the pool")
      assert.strictEqual(stats.retired, 1)
      yield* fake.waitUntil((ps) => ps.every((p) => !p.running))
      assert.strictEqual((yield* sessionProcesses).length, 1, "no replacement was spawned in place")

      // The next lease gets a new process: a new conversation, nothing resumed.
      const next = yield* Effect.scoped(Effect.flatMap(
        pool.acquire({ options: { executable, timeouts: quick } }),
        (session) => session.ask("two")
      )).pipe(Effect.forkChild)
      yield* fake.waitUntil((ps) => ps.some((p) => p.kind === "session" && p.running && p.sleeping))
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* settled(next, "the next lease")).text, "echo: two")
      assert.strictEqual(flagOf((yield* sessionProcesses).at(-1), "--resume"), undefined)
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ sharedTurns: true, startupDelay: "1 second", turns: [crashTurn, {}] }))
    ))
})

describe("F12: fail fast on a refused credential (TestClock)", () => {
  /** The CLI's own 10 retries of a 401, 15 s apart on the Clock: 150 s before its result. */
  const retried = (status: number): FakeSpawner.Turn => ({
    apiRetries: Array.from({ length: 10 }, () => ({ errorStatus: status, delay: "15 seconds" })),
    result: { apiErrorStatus: status }
  })

  const failsFast = (expected: "AuthenticationFailed" | "PermissionRefused") =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      const session = yield* Claude.session({ options: { executable, timeouts: quick } })
      const { events, fiber } = yield* startTurn(session, "hi")
      // No Clock time passes: the first api_retry frame is enough.
      const error = failureOf(yield* settled(fiber, "the turn"))
      assert.strictEqual(error.reason._tag, expected)
      assert.isFalse(error.isRetryable)
      assert.deepStrictEqual(
        events.map((e) => e._tag),
        ["SessionStarted", "ApiRetry"],
        "one retry frame, nothing after"
      )
      // The CLI was told to stop the turn, then got stdin EOF and exited: no signal needed, no replacement.
      const p = yield* sessionProcess
      assert.isTrue(
        p.stdin.some((line) =>
          Predicate.isObject(line) && Predicate.isObject(line["request"]) && line["request"]["subtype"] === "interrupt"
        )
      )
      assert.isTrue(p.stdinClosed)
      assert.isFalse(p.running)
      assert.deepStrictEqual(p.signals, [])
      assert.strictEqual(yield* fake.live, 0)
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Failed")
      assert.strictEqual(yield* session.restarts, 0)
      yield* assertNeverReused(session)
    })

  it.effect("F12: the first api_retry of a 401 fails the turn with AuthenticationFailed and stops the CLI", () =>
    failsFast("AuthenticationFailed").pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ turns: [retried(401)] }))
    ))

  it.effect("F12: a retried 403 fails the turn with PermissionRefused", () =>
    failsFast("PermissionRefused").pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ turns: [retried(403)] }))
    ))

  it.effect("no fail-fast for a 529: the CLI's retries are waited for, and the turn succeeds once one does", () =>
    Effect.gen(function*() {
      const fake = yield* FakeSpawner.FakeSpawnerState
      const session = yield* Claude.session({ options: { executable, timeouts: quick } })
      const { events, fiber } = yield* startTurn(session, "hi")
      yield* fake.waitUntil((ps) => ps.some((p) => p.kind === "session" && p.sleeping && userLines(p) === 1))
      assert.isTrue(isRunning(fiber))
      const exit = yield* joinAdjusting(fiber, "the turn")
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(events.filter((e) => e._tag === "ApiRetry").length, 2)
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Idle")
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({
        turns: [{
          text: "at last",
          apiRetries: [{ errorStatus: 529, delay: "1 second" }, { errorStatus: 529, delay: "2 seconds" }]
        }]
      }))
    ))
})

// ---------------------------------------------------------------------------------------------------------
// Debug log and logs (issue 5)
// ---------------------------------------------------------------------------------------------------------

const lifecycleOf = (log: DebugLog.DebugLog) =>
  log.lifecycle.map((e) => (e.detail === undefined ? e.event : `${e.event}: ${e.detail}`))

describe("Session debug log (TestClock)", () => {
  it.effect("lifecycle with Clock timestamps, the last frames both ways (prompts left out), the stderr tail", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({ options: { executable, timeouts: quick }, debugLog: { frames: 6 } })
      const fiber = yield* Effect.forkChild(session.ask("the secret plan"))
      yield* FakeSpawner.FakeSpawnerState.use((fake) =>
        fake.waitUntil((ps) => ps.some((p) => p.sleeping && userLines(p) === 1))
      )
      yield* TestClock.adjust("2 seconds")
      const result = yield* Fiber.join(fiber)
      const log = yield* session.debugLog

      assert.strictEqual(log.sessionId, result.sessionId)
      assert.strictEqual(log.state, "Idle")
      assert.strictEqual(log.pid, session.pid)
      assert.strictEqual(log.turns, 1)
      assert.deepStrictEqual(lifecycleOf(log), ["spawned: initial", "ready", "turnStarted", "turnEnded: success"])
      const at = (event: string) => log.lifecycle.find((e) => e.event === event)?.at
      assert.strictEqual(at("spawned"), 0, "the TestClock's epoch")
      assert.strictEqual((at("turnEnded") ?? 0) - (at("turnStarted") ?? 0), 2000, "timestamps are the Clock's")
      assert.isTrue(log.lifecycle.every((e) => e.pid === session.pid))

      // The ring keeps the last 6 frames: the turn's, oldest first, ending with the result.
      assert.strictEqual(log.frames.length, 6)
      const types = log.frames.map((f) =>
        `${f.direction}:${Predicate.isObject(f.frame) ? String(f.frame["type"]) : "?"}`
      )
      assert.strictEqual(types.at(-1), "in:result")
      assert.include(types, "out:user")
      assert.include(types, "in:system")
      assert.isTrue(log.frames.every((f, i) => i === 0 || f.at >= (log.frames[i - 1]?.at ?? 0)))
      // The prompt is left out of the log (no tracePrompts).
      assert.notInclude(JSON.stringify(log), "the secret plan")
      const sent = log.frames.find((f) =>
        f.direction === "out" && Predicate.isObject(f.frame) && f.frame["type"] === "user"
      )
      assert.include(JSON.stringify(sent), "prompt left out: 15 characters")
      assert.strictEqual(
        log.stderrTail,
        "fake-cli: starting up, key sk-ant-[REDACTED]\n",
        "credential-shaped text is redacted"
      )
      assert.isUndefined(log.debugFile)
      assert.isUndefined(log.debugFileTail)

      const text = DebugLog.format(log)
      assert.match(text, /^session .+: Idle, pid \d+, 1 turns, 0 restarts/)
      assert.include(text, "1970-01-01T00:00:00.000Z spawned")
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(
        ClaudeOnFake({
          stderr: "fake-cli: starting up, key sk-ant-api03-NOTREAL0123456789",
          turns: [{ delay: "2 seconds", text: "on it" }]
        })
      )
    ))

  it.effect("tracePrompts keeps the prompt in the log's frames", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({ options: { executable, timeouts: quick }, tracePrompts: true })
      yield* session.ask("the open plan")
      const log = yield* session.debugLog
      const sent = log.frames.find((f) =>
        f.direction === "out" && Predicate.isObject(f.frame) && f.frame["type"] === "user"
      )
      assert.include(JSON.stringify(sent?.frame), "the open plan")
    }).pipe(Effect.scoped, Effect.provide(ClaudeOnFake({}))))

  it.effect("a turn's error carries the debug log as it was (DebugLog.of), never in its message", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({ options: { executable, timeouts: { idle: 5000, ...quick } } })
      const { fiber: turn } = yield* startTurn(session, "go")
      yield* FakeSpawner.FakeSpawnerState.use((fake) => fake.waitUntil((ps) => ps.some((p) => p.hung)))
      const error = failureOf(yield* joinAdjusting(turn, "the turn"))
      assert.strictEqual(error.reason._tag, "Timeout")
      const log = DebugLog.of(error)
      assert.isTrue(Option.isSome(log))
      if (Option.isNone(log)) return
      assert.deepStrictEqual(lifecycleOf(log.value), [
        "spawned: initial",
        "ready",
        "turnStarted",
        "stopped: idle timeout",
        "turnEnded: failure: Timeout"
      ])
      assert.strictEqual(log.value.state, "Failed")
      assert.include(log.value.stderrTail, "fake-cli: hanging (simulated)")
      const lastIn = log.value.frames.filter((f) => f.direction === "in").at(-1)
      assert.strictEqual(
        Predicate.isObject(lastIn?.frame) ? lastIn.frame["type"] : undefined,
        "assistant",
        "the last frame before the stall"
      )
      // Not in the message, nor in the encoded error.
      assert.notInclude(error.message, "fake-cli")
      assert.notInclude(JSON.stringify(error), "fake-cli")
      // A turn refused afterwards (the session is Failed) says why, in its log.
      const refused = failureOf(yield* Effect.exit(session.ask("again")))
      assert.strictEqual(refused.reason._tag, "ProtocolError")
      assert.include(
        Option.map(DebugLog.of(refused), lifecycleOf).pipe(Option.getOrElse(() => [])),
        "stopped: idle timeout"
      )
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ turns: [{ text: "half a reply", hang: "midTurn" }] }))
    ))

  it.effect("a session that fails to start: its error has the log (spawnFailed, the stderr tail)", () =>
    Effect.gen(function*() {
      const starting = yield* Effect.forkChild(
        Effect.exit(Claude.session({ options: { executable, timeouts: { ...quick, startup: 3000 } } }))
      )
      yield* FakeSpawner.FakeSpawnerState.use((fake) => fake.waitUntil((ps) => ps.some((p) => p.kind === "session")))
      const error = failureOf(yield* joinAdjusting(starting, "the start-up"))
      const log = Option.getOrUndefined(DebugLog.of(error))
      assert.deepStrictEqual(log === undefined ? [] : lifecycleOf(log), ["spawned: initial", "spawnFailed: Timeout"])
      assert.include(log?.stderrTail, "fake-cli: banner")
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ hangBeforeInit: true, stderr: "fake-cli: banner" }))
    ))

  it.effect("a crash and its replacement are in the lifecycle", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({ options: { executable, timeouts: quick } })
      yield* session.ask("one")
      yield* Effect.exit(session.ask("two"))
      yield* stateBecomes(session, "Idle")
      const log = yield* session.debugLog
      assert.deepStrictEqual(lifecycleOf(log).map((line) => line.replace(/:.*$/, "")), [
        "spawned",
        "ready",
        "turnStarted",
        "turnEnded",
        "turnStarted",
        "died",
        "turnEnded",
        "restarting",
        "spawned",
        "ready"
      ])
      assert.include(lifecycleOf(log), "restarting: ProcessCrashed")
      assert.include(lifecycleOf(log), "spawned: restart")
      assert.strictEqual(log.restarts, 1)
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ sharedTurns: true, turns: [{}, crashTurn, {}] }))
    ))

  const capturingLogger = (lines: Array<unknown>) =>
    Logger.layer([
      Logger.make((options) =>
        lines.push({
          level: options.logLevel,
          message: options.message,
          annotations: options.fiber.getRef(References.CurrentLogAnnotations)
        })
      )
    ])

  it.effect("logs: nothing at the default level for a routine session", () => {
    const lines: Array<unknown> = []
    return Effect.gen(function*() {
      const session = yield* Claude.session({ options: { executable, timeouts: quick } })
      yield* session.ask("one")
      yield* session.reset
    }).pipe(
      Effect.scoped,
      Effect.provide(ClaudeOnFake({}).pipe(Layer.provideMerge(capturingLogger(lines)))),
      Effect.andThen(Effect.sync(() => assert.deepStrictEqual(lines, [])))
    )
  })

  it.effect("logs: the lifecycle at Debug, annotated with the session id, pid and turn", () => {
    const lines: Array<{ level: string; message: unknown; annotations: Record<string, unknown> }> = []
    return Effect.gen(function*() {
      const session = yield* Claude.session({ options: { executable, timeouts: quick } })
      const result = yield* session.ask("one")
      return { result, pid: session.pid }
    }).pipe(
      Effect.scoped,
      Effect.provide(
        ClaudeOnFake({}).pipe(Layer.provideMerge(Layer.merge(
          Logger.layer([Logger.make((options) =>
            lines.push({
              level: options.logLevel,
              message: options.message,
              annotations: { ...options.fiber.getRef(References.CurrentLogAnnotations) }
            })
          )]),
          Layer.succeed(References.MinimumLogLevel, "Debug")
        )))
      ),
      Effect.map(({ result, pid }) => {
        const ours = lines.filter((l) => String(l.message).startsWith("session: "))
        assert.deepStrictEqual(ours.map((l) => [l.level, String(l.message)]), [
          ["Debug", "session: spawned: initial"],
          ["Debug", "session: ready"],
          ["Debug", "session: turnStarted"],
          ["Debug", "session: turnEnded: success"],
          ["Debug", "session: closed"]
        ])
        assert.deepStrictEqual(ours[3]?.annotations, { sessionId: result.sessionId, pid, turn: 1 })
        assert.deepStrictEqual(ours[0]?.annotations, { pid, turn: 0 }, "no session id before the first turn")
      })
    )
  })
})

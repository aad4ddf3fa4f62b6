import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Predicate, Stream, SubscriptionRef } from "effect"
import { TestClock } from "effect/testing"
import * as Claude from "../src/Claude.ts"
import type * as ClaudeError from "../src/ClaudeError.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import type * as Session from "../src/Session.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import { ClaudeOnFake, pumpClockOnFailure } from "./utils.ts"

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
      const session = yield* Claude.session({
        options: { executable, includePartialMessages: true, timeouts: { idle: 5000, ...quick } },
        // The host takes 20 s to decide: longer than the idle timeout, which must not fire meanwhile.
        canUseTool: () => Effect.sleep("20 seconds").pipe(Effect.as({ behavior: "allow" } as const))
      })
      const turn = yield* session.ask("go").pipe(Effect.exit, Effect.forkChild)
      for (let i = 0; i < 30; i++) yield* TestClock.adjust("1 second")
      const exit = yield* ended(turn, "the turn")
      assert.isTrue(Exit.isSuccess(exit), `the turn completed: ${String(exit)}`)
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({
        turns: [{ text: "done", toolUse: { name: "Bash", input: { command: "ls" } }, controlRequests: [{ subtype: "can_use_tool", tool_name: "Bash", input: { command: "ls" } }] }]
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
      yield* TestClock.adjust("4900 millis")
      assert.isTrue(isRunning(turn))
      yield* assertUntouched
      yield* TestClock.adjust("100 millis")
      yield* assertStopping(session, turn)
      yield* TestClock.adjust(grace)
      assertTimeout(yield* ended(turn, "the turn"), "idle", 5000)
      yield* assertStopped

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
      yield* TestClock.adjust("2900 millis")
      assert.isTrue(isRunning(turn))
      yield* assertUntouched
      yield* TestClock.adjust("100 millis")
      yield* assertStopping(session, turn)
      yield* TestClock.adjust(grace)
      assertTimeout(yield* ended(turn, "the turn"), "firstEvent", 3000)
      yield* assertStopped
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
      yield* TestClock.adjust("9900 millis")
      assert.isTrue(isRunning(turn))
      yield* assertUntouched
      yield* TestClock.adjust("100 millis")
      // On EOF this fake finishes its turn, slowly: its next frame is due at 12 s, past the grace period.
      yield* assertStopping(session, turn)
      yield* TestClock.adjust(grace)
      assertTimeout(yield* ended(turn, "the turn"), "turn", 10_000)
      yield* assertStopped

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
      assert.deepStrictEqual((yield* fake.processes).map((p) => p.kind).filter((kind) => kind === "session"), ["session"])
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.provide(ClaudeOnFake({ hangBeforeInit: true }))
    ))
})

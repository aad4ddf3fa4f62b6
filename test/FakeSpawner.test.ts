import { assert, describe, it } from "@effect/vitest"
import { type Cause, Deferred, Effect, Exit, Fiber, type PlatformError, Predicate, Queue, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { TestClock } from "effect/testing"
import * as Claude from "../src/Claude.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import { ClaudeOnFake, pumpClockOnFailure } from "./utils.ts"

type Frame = FakeSpawner.JsonObject

const executable = FakeSpawner.executable
const quick = { shutdownGrace: 1000 } as const

const assertNoneLive = Effect.gen(function*() {
  const state = yield* FakeSpawner.FakeSpawnerState
  assert.strictEqual(yield* state.live, 0, "no fake process is left running")
})

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const reason = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
  if (reason?._tag !== "Fail") throw new Error(`expected a typed failure, got ${String(reason?._tag)}`)
  return reason.error
}

/** The Node spawner names the signal of a death by signal in the error's `cause` only; so does the fake. */
const signalText = (error: PlatformError.PlatformError): string => {
  assert.match(error.message, /^Unknown: ChildProcess\.exitCode \(/)
  return error.cause instanceof Error ? error.cause.message : ""
}

const isRunning = <A, E>(fiber: Fiber.Fiber<A, E>) => fiber.pollUnsafe() === undefined

const sessionOf = (processes: ReadonlyArray<FakeSpawner.ProcessRecord>) => processes.find((p) => p.kind === "session")

const hasUserLine = (p: FakeSpawner.ProcessRecord) =>
  p.stdin.some((line) => Predicate.isObject(line) && line["type"] === "user")

/** One turn on a session of its own: the fake gets stdin EOF when the turn is done, as a one-shot CLI does. */
const oneTurn = (prompt: string, options: ClaudeOptions.Input) =>
  Effect.scoped(Effect.flatMap(Claude.session({ options }), (session) => Stream.runCollect(session.send(prompt))))

describe("FakeSpawnerState.waitUntil", () => {
  it.effect("is bounded on real time: a condition that never holds dies after `within`, naming it, while the TestClock stands still", () =>
    Effect.gen(function*() {
      const state = yield* FakeSpawner.FakeSpawnerState
      const exit = yield* Effect.exit(
        state.waitUntil(() => false, { within: "50 millis", what: "a fake that never comes" })
      )
      const reason = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
      assert.strictEqual(reason?._tag, "Die")
      if (reason?._tag === "Die") {
        assert.match(String(reason.defect), /not reached within .+: a fake that never comes; processes: none/)
      }
    }).pipe(Effect.provide(FakeSpawner.layer())))
})

describe("FakeSpawner through Claude.session", () => {
  it.effect("a normal turn completes on virtual time: delays are Clock sleeps", () =>
    Effect.gen(function*() {
      const state = yield* FakeSpawner.FakeSpawnerState
      const fiber = yield* oneTurn("hi", {
        executable,
        includePartialMessages: true,
        timeouts: { idle: 5000, ...quick }
      }).pipe(Effect.forkChild)
      // The fake took the prompt and sleeps its 3 s `delay`.
      yield* state.waitUntil((ps) => ps.some((p) => hasUserLine(p) && p.sleeping))
      yield* TestClock.adjust("2900 millis")
      const early = sessionOf(yield* state.processes)
      assert.isTrue(early?.sleeping && early.sleeps === 1, "still in the fake's 3 s delay at 2.9 s")
      yield* TestClock.adjust("10 seconds")
      const events = yield* Fiber.join(fiber)

      const tags = events.map((e) => e._tag)
      assert.strictEqual(tags.at(-1), "Result")
      const text = events.flatMap((e) => (e._tag === "AssistantText" ? [e.text] : []))
      assert.deepStrictEqual(text, ["hello from the fake"])
      const deltas = events.filter((e) => e._tag === "TextDelta")
      assert.strictEqual(deltas.length, 3)

      const processes = yield* state.processes
      assert.deepStrictEqual(processes.map((p) => p.kind), ["version", "session"])
      const session = sessionOf(processes)
      assert.deepStrictEqual(session?.exit, { _tag: "Exited", code: 0 })
      assert.isTrue(session?.args.includes("--include-partial-messages"))
      // Delay plus one frameDelay per frame: 11 frames with partial messages.
      assert.strictEqual(session?.sleeps, 12)
      assert.deepStrictEqual(session?.signals, [])
      yield* assertNoneLive
    }).pipe(
      pumpClockOnFailure,
      Effect.provide(
        ClaudeOnFake({ turns: [{ text: "hello from the fake", delay: "3 seconds", frameDelay: "200 millis" }] })
      )
    ))

  it.effect("a fake that hangs mid-turn: idle Timeout after 5 s of Clock, not before", () =>
    Effect.gen(function*() {
      const state = yield* FakeSpawner.FakeSpawnerState
      const sawText = yield* Deferred.make<void>()
      const fiber = yield* Claude.query("hi", { executable, timeouts: { idle: 5000, ...quick } }).pipe(
        Stream.tap((
          event: ClaudeEvent
        ) => (event._tag === "AssistantText" ? Deferred.succeed(sawText, undefined) : Effect.void)),
        Stream.runCollect,
        Effect.exit,
        Effect.forkChild
      )
      yield* state.waitUntil((ps) => ps.some((p) => p.hung))
      yield* Deferred.await(sawText)
      yield* TestClock.adjust("4900 millis")
      // The timeout would close the scope, whose shutdown ladder starts with stdin EOF.
      assert.isTrue(isRunning(fiber))
      assert.isFalse(sessionOf(yield* state.processes)?.stdinClosed, "no idle timeout at 4.9 s")
      // Past 5 s: the timeout fires; the shutdown ladder (EOF, 1 s grace, SIGTERM) runs on the Clock too.
      yield* TestClock.adjust("5 seconds")
      const error = failureOf(yield* Fiber.join(fiber))
      assert.strictEqual(error.reason._tag, "Timeout")
      if (error.reason._tag === "Timeout") assert.strictEqual(error.reason.kind, "idle")

      const session = sessionOf(yield* state.processes)
      assert.deepStrictEqual(session?.signals, ["SIGTERM"])
      assert.deepStrictEqual(session?.exit, { _tag: "Signaled", signal: "SIGTERM" })
      yield* assertNoneLive
    }).pipe(pumpClockOnFailure, Effect.provide(ClaudeOnFake({ turns: [{ text: "half a reply", hang: "midTurn" }] }))))

  it.effect("a fake that never answers initialize: startup Timeout", () =>
    Effect.gen(function*() {
      const state = yield* FakeSpawner.FakeSpawnerState
      const fiber = yield* Claude.query("hi", { executable, timeouts: { startup: 10_000, ...quick } }).pipe(
        Stream.runCollect,
        Effect.exit,
        Effect.forkChild
      )
      const processes = yield* state.waitUntil((ps) =>
        ps.some((p) => p.hung && p.stdin.some((line) => Predicate.isObject(line) && line["type"] === "control_request"))
      )
      // The initialize request arrived and was recorded, but got no answer; the prompt was never sent.
      assert.isFalse(sessionOf(processes)?.stdin.some((line) => Predicate.isObject(line) && line["type"] === "user"))
      yield* TestClock.adjust("9900 millis")
      assert.isTrue(isRunning(fiber))
      assert.isFalse(sessionOf(yield* state.processes)?.stdinClosed, "no startup timeout at 9.9 s")
      yield* TestClock.adjust("5 seconds")
      const error = failureOf(yield* Fiber.join(fiber))
      assert.strictEqual(error.reason._tag, "Timeout")
      if (error.reason._tag === "Timeout") assert.strictEqual(error.reason.kind, "startup")
      yield* assertNoneLive
    }).pipe(pumpClockOnFailure, Effect.provide(ClaudeOnFake({ hangBeforeInit: true }))))

  it.effect("a scripted 529 is Overloaded; the fake exits 1 on EOF after an error result", () =>
    Effect.gen(function*() {
      const state = yield* FakeSpawner.FakeSpawnerState
      const error = failureOf(yield* oneTurn("hi", { executable, timeouts: quick }).pipe(Effect.exit))
      assert.strictEqual(error.reason._tag, "Overloaded")
      assert.isTrue(error.isRetryable)
      assert.deepStrictEqual(sessionOf(yield* state.processes)?.exit, { _tag: "Exited", code: 1 })
      yield* assertNoneLive
    }).pipe(pumpClockOnFailure, Effect.provide(ClaudeOnFake({ turns: [{ result: { apiErrorStatus: 529 } }] }))))

  it.effect("control requests of a turn are each answered exactly once", () =>
    Effect.gen(function*() {
      const state = yield* FakeSpawner.FakeSpawnerState
      const events = yield* oneTurn("run ls", { executable, timeouts: quick })
      const result = events.at(-1)
      assert.strictEqual(result?._tag, "Result")

      const session = sessionOf(yield* state.processes)
      const requests = session?.controlRequests ?? []
      assert.deepStrictEqual(requests.map((r) => r.subtype), ["can_use_tool", "hook_callback", "mystery_request"])
      assert.deepStrictEqual(requests.map((r) => r.answers.length), [1, 1, 1])
      const [canUseTool, hook, mystery] = requests.map((r) => r.answers[0])
      // The library has no permission callback here, so it denies; hooks continue; unknown subtypes are refused.
      assert.strictEqual(canUseTool?.["subtype"], "success")
      assert.deepInclude(canUseTool?.["response"], { behavior: "deny" })
      assert.deepStrictEqual(hook?.["response"], { continue: true })
      assert.strictEqual(mystery?.["subtype"], "error")
      assert.strictEqual(mystery?.["error_code"], "unsupported_request")
      // Every answer the fake got belongs to a request it sent.
      const answers = yield* state.controlAnswers
      assert.strictEqual(answers.length, 3)
      assert.isTrue(answers.every((a) => a.subtype !== undefined))
      // The denial shows in the result, as with the real CLI.
      if (result?._tag === "Result") assert.strictEqual(result.frame.permission_denials?.length, 1)
      yield* assertNoneLive
    }).pipe(
      pumpClockOnFailure,
      Effect.provide(ClaudeOnFake({
        turns: [{
          toolUse: { name: "Bash", input: { command: "ls" } },
          controlRequests: [{ subtype: "can_use_tool" }, { subtype: "hook_callback" }, { subtype: "mystery_request" }]
        }]
      }))
    ))
})

// ---------------------------------------------------------------------------------------------------------
// The fake process on its own, driven through the spawner
// ---------------------------------------------------------------------------------------------------------

const SESSION_ARGS = ["--output-format", "stream-json", "--verbose", "--input-format", "stream-json"]

/** Waits (without the Clock) until `check` finds something in `frames`. */
class Frames {
  readonly all: Array<Frame> = []
  private readonly listeners = new Set<() => void>()

  push(frame: Frame): void {
    this.all.push(frame)
    for (const listener of [...this.listeners]) listener()
  }

  waitFor(predicate: (frame: Frame) => boolean): Effect.Effect<Frame> {
    return Effect.callback<Frame>((resume) => {
      const check = () => {
        const found = this.all.find(predicate)
        if (found === undefined) return false
        this.listeners.delete(check)
        resume(Effect.succeed(found))
        return true
      }
      if (check()) return
      this.listeners.add(check)
      return Effect.sync(() => {
        this.listeners.delete(check)
      })
    })
  }
}

const spawnFake = (args: ReadonlyArray<string> = SESSION_ARGS, options?: ChildProcess.KillOptions) =>
  Effect.gen(function*() {
    const handle = yield* ChildProcess.make(executable, args, { stdin: "pipe", ...options })
    const input = yield* Queue.unbounded<Uint8Array, Cause.Done>()
    yield* Stream.fromQueue(input).pipe(Stream.run(handle.stdin), Effect.ignore, Effect.forkScoped)
    const frames = new Frames()
    const stdoutEnded = yield* Deferred.make<void>()
    yield* handle.stdout.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runForEach((line) =>
        Effect.sync(() => {
          const value: unknown = JSON.parse(line)
          if (Predicate.isObject(value)) frames.push(value)
        })
      ),
      Effect.ignore,
      Effect.ensuring(Deferred.succeed(stdoutEnded, undefined)),
      Effect.forkScoped
    )
    const encoder = new TextEncoder()
    const send = (frame: Frame) => Queue.offer(input, encoder.encode(`${JSON.stringify(frame)}\n`))
    /** Every frame read: stdout has ended (the process exited and its output was drained). */
    const drained = Effect.as(Deferred.await(stdoutEnded), frames.all)
    return { handle, frames, send, end: Queue.end(input), drained }
  })

const user = (text: string) => ({
  type: "user",
  session_id: "",
  message: { role: "user", content: [{ type: "text", text }] },
  parent_tool_use_id: null
})
const control = (requestId: string, request: Frame) => ({ type: "control_request", request_id: requestId, request })
const responseTo = (requestId: string) => (frame: Frame) =>
  frame["type"] === "control_response" && Predicate.isObject(frame["response"]) &&
  frame["response"]["request_id"] === requestId
const isType = (type: string, subtype?: string) => (frame: Frame) =>
  frame["type"] === type && (subtype === undefined || frame["subtype"] === subtype)

describe("FakeSpawner processes", () => {
  it.effect("--version prints the scripted version and exits 0", () =>
    Effect.gen(function*() {
      const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
      const output = yield* spawner.string(ChildProcess.make(executable, ["--version"]))
      assert.strictEqual(output, "9.9.9 (Claude Code)\n")
      assert.strictEqual(yield* spawner.exitCode(ChildProcess.make(executable, ["--version"])), 0)
      const state = yield* FakeSpawner.FakeSpawnerState
      assert.strictEqual(yield* state.spawned, 2)
      yield* assertNoneLive
    }).pipe(pumpClockOnFailure, Effect.provide(FakeSpawner.layer({ version: "9.9.9" }))))

  it.effect("control protocol: initialize after startupDelay, set_model, set_permission_mode, unknown subtype", () =>
    Effect.gen(function*() {
      const state = yield* FakeSpawner.FakeSpawnerState
      const fake = yield* spawnFake()
      yield* fake.send(control("init", { subtype: "initialize" }))
      yield* state.waitUntil((ps) => ps.some((p) => p.sleeping))
      yield* TestClock.adjust("1999 millis")
      assert.isTrue(sessionOf(yield* state.processes)?.sleeping, "initialize waits for the start-up delay")
      yield* TestClock.adjust("1 millis")
      const init = yield* fake.frames.waitFor(responseTo("init"))
      assert.deepInclude(init["response"], { subtype: "success" })

      yield* fake.send(control("m", { subtype: "set_model", model: "sonnet" }))
      yield* fake.send(control("p", { subtype: "set_permission_mode", mode: "plan" }))
      yield* fake.send(control("x", { subtype: "teleport" }))
      const model = yield* fake.frames.waitFor(responseTo("m"))
      assert.deepInclude(model["response"], { subtype: "success", response: { model: "claude-sonnet-5-5" } })
      const mode = yield* fake.frames.waitFor(responseTo("p"))
      assert.deepInclude(mode["response"], { subtype: "success", response: { mode: "plan" } })
      const unknown = yield* fake.frames.waitFor(responseTo("x"))
      assert.deepInclude(unknown["response"], { subtype: "error", error_code: "unsupported_request" })

      yield* fake.send(user("hello"))
      const init2 = yield* fake.frames.waitFor(isType("system", "init"))
      assert.strictEqual(init2["model"], "claude-sonnet-5-5")
      assert.strictEqual(init2["permissionMode"], "plan")
      const result = yield* fake.frames.waitFor(isType("result"))
      assert.strictEqual(result["result"], "echo: hello")
      yield* fake.end
      assert.strictEqual(yield* fake.handle.exitCode, 0)
      const session = sessionOf(yield* state.processes)
      assert.deepStrictEqual(
        session?.stdin.map((line) => (Predicate.isObject(line) ? line["type"] : line)),
        ["control_request", "control_request", "control_request", "control_request", "user"]
      )
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.andThen(assertNoneLive),
      Effect.provide(FakeSpawner.layer({ startupDelay: "2 seconds" }))
    ))

  it.effect("interrupt ends the running turn with error_during_execution / aborted_streaming", () =>
    Effect.gen(function*() {
      const state = yield* FakeSpawner.FakeSpawnerState
      const fake = yield* spawnFake([...SESSION_ARGS, "--include-partial-messages"])
      yield* fake.send(control("init", { subtype: "initialize" }))
      yield* fake.send(user("slow"))
      // Let a few frames out, then interrupt while the fake sleeps before the next one.
      yield* state.waitUntil((ps) => ps.some((p) => p.sleeping))
      yield* TestClock.adjust("3 seconds")
      yield* fake.frames.waitFor((f) => f["type"] === "stream_event")
      yield* fake.send(control("stop", { subtype: "interrupt" }))
      const ack = yield* fake.frames.waitFor(responseTo("stop"))
      assert.deepInclude(ack["response"], { subtype: "success", response: { still_queued: [] } })
      const result = yield* fake.frames.waitFor(isType("result"))
      assert.strictEqual(result["subtype"], "error_during_execution")
      assert.strictEqual(result["terminal_reason"], "aborted_streaming")
      assert.isFalse(fake.frames.all.some((f) => f["type"] === "assistant" && f["aborted"] !== true))
      yield* fake.end
      assert.strictEqual(yield* fake.handle.exitCode, 1, "the last result was an error")
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.andThen(assertNoneLive),
      Effect.provide(FakeSpawner.layer({ turns: [{ frameDelay: "1 second" }] }))
    ))

  it.effect("F05: controlRequestsAfterResult come after the result; the next message waits for their answers", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake()
      yield* fake.send(control("init", { subtype: "initialize" }))
      yield* fake.send(user("one"))
      yield* fake.send(user("two"))
      const request = yield* fake.frames.waitFor(isType("control_request"))
      const requestId = String(request["request_id"])
      assert.deepInclude(request["request"], { subtype: "hook_callback", callback_id: "hook_0" })
      // After the first result, before the second turn: the fake waits for the host's answer.
      const types = fake.frames.all.map((f) => f["type"])
      assert.deepStrictEqual(types.filter((t) => t === "result").length, 1)
      assert.isTrue(types.indexOf("result") < types.indexOf("control_request"))
      yield* fake.send({
        type: "control_response",
        response: { subtype: "success", request_id: requestId, response: { continue: true } }
      })
      // Only then does the second turn run.
      yield* fake.frames.waitFor((f) => isType("result")(f) && f["result"] === "two")
      yield* fake.end
      assert.strictEqual(yield* fake.handle.exitCode, 0)
      const [p] = yield* (yield* FakeSpawner.FakeSpawnerState).processes
      assert.deepStrictEqual(p?.controlRequests.map((r) => [r.subtype, r.answers.length]), [["hook_callback", 1]])
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.andThen(assertNoneLive),
      Effect.provide(FakeSpawner.layer({
        turns: [{ text: "one", controlRequestsAfterResult: [{ subtype: "hook_callback" }] }, { text: "two" }]
      }))
    ))

  it.effect("F05: exitAfterResult exits 0 after the turn, without waiting for stdin EOF", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake()
      yield* fake.send(control("init", { subtype: "initialize" }))
      yield* fake.send(user("once"))
      assert.strictEqual(yield* fake.handle.exitCode, 0)
      const frames = yield* fake.drained
      assert.strictEqual(frames.at(-1)?.["type"], "result")
      assert.strictEqual(frames.at(-1)?.["result"], "only")
      const [p] = yield* (yield* FakeSpawner.FakeSpawnerState).processes
      assert.isFalse(p?.stdinClosed, "stdin was never closed")
      assert.deepStrictEqual(p?.signals, [])
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.andThen(assertNoneLive),
      Effect.provide(FakeSpawner.layer({ turns: [{ text: "only", exitAfterResult: true }] }))
    ))

  it.effect("/clear starts a new conversation with a new session id and its cost from 0; turns follow the script, the last repeats", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake()
      yield* fake.send(control("init", { subtype: "initialize" }))
      for (const text of ["one", "/clear", "two", "three"]) yield* fake.send(user(text))
      yield* fake.end
      assert.strictEqual(yield* fake.handle.exitCode, 0)
      const results = (yield* fake.drained).filter(isType("result"))
      assert.deepStrictEqual(results.map((r) => r["result"]), ["first", "", "again", "again"])
      const reset = fake.frames.all.find(isType("conversation_reset"))
      assert.strictEqual(reset?.["session_id"], results[0]?.["session_id"])
      assert.notStrictEqual(results[2]?.["session_id"], results[0]?.["session_id"])
      assert.strictEqual(results[3]?.["session_id"], results[2]?.["session_id"])
      // As the real CLI (fixture clear-reset): the clear's own result reports 0, the new conversation counts from 0.
      assert.deepStrictEqual(results.map((r) => r["total_cost_usd"]), [0.00064, 0, 0.00064, 0.00128])
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.andThen(assertNoneLive),
      Effect.provide(FakeSpawner.layer({ turns: [{ text: "first" }, { text: "again" }] }))
    ))

  it.effect("kill: death by SIGTERM fails exitCode like the real spawner", () =>
    Effect.gen(function*() {
      const state = yield* FakeSpawner.FakeSpawnerState
      const fake = yield* spawnFake()
      assert.isTrue(yield* fake.handle.isRunning)
      yield* fake.handle.kill()
      assert.isFalse(yield* fake.handle.isRunning)
      const error = yield* Effect.flip(fake.handle.exitCode)
      assert.include(signalText(error), "signal: 'SIGTERM'")
      assert.deepStrictEqual(yield* state.signals, [{ pid: fake.handle.pid, signal: "SIGTERM" }])
      // Writing to a dead process fails (EPIPE), as with a real pipe.
      const write = yield* Effect.flip(Stream.run(Stream.make(new Uint8Array([10])), fake.handle.stdin))
      assert.include(write.message, "EPIPE")
    }).pipe(pumpClockOnFailure, Effect.scoped, Effect.andThen(assertNoneLive), Effect.provide(FakeSpawner.layer())))

  it.effect("a fake that ignores SIGTERM gets SIGKILL after forceKillAfter of Clock time", () =>
    Effect.gen(function*() {
      const state = yield* FakeSpawner.FakeSpawnerState
      const fake = yield* spawnFake()
      const killing = yield* fake.handle.kill({ forceKillAfter: "3 seconds" }).pipe(Effect.forkChild)
      yield* state.waitUntil((ps) => ps.some((p) => p.signals.includes("SIGTERM")))
      yield* TestClock.adjust("2900 millis")
      assert.isTrue(yield* fake.handle.isRunning, "SIGTERM was ignored")
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(killing)
      const error = yield* Effect.flip(fake.handle.exitCode)
      assert.include(signalText(error), "signal: 'SIGKILL'")
      assert.deepStrictEqual((yield* state.signals).map((s) => s.signal), ["SIGTERM", "SIGKILL"])
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.andThen(assertNoneLive),
      Effect.provide(FakeSpawner.layer({ sigterm: "ignore" }))
    ))

  it.effect("sigterm: \"exit\" exits 143 like the real CLI; closing the scope stops a running fake", () =>
    Effect.gen(function*() {
      const state = yield* FakeSpawner.FakeSpawnerState
      const pid = yield* Effect.scoped(Effect.map(spawnFake(), (fake) => fake.handle.pid))
      const [p] = yield* state.processes
      assert.strictEqual(p?.pid, pid)
      assert.deepStrictEqual(p?.signals, ["SIGTERM"])
      assert.deepStrictEqual(p?.exit, { _tag: "Exited", code: 143 })
    }).pipe(pumpClockOnFailure, Effect.andThen(assertNoneLive), Effect.provide(FakeSpawner.layer({ sigterm: "exit" }))))

  it.effect("a crash mid-turn: the frames so far, then death by the scripted signal", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake()
      yield* fake.send(control("init", { subtype: "initialize" }))
      yield* fake.send(user("boom"))
      const error = yield* Effect.flip(fake.handle.exitCode)
      assert.include(signalText(error), "signal: 'SIGSEGV'")
      const frames = yield* fake.drained
      assert.deepStrictEqual(frames.map((f) => f["type"]), ["control_response", "system"])
    }).pipe(
      pumpClockOnFailure,
      Effect.scoped,
      Effect.andThen(assertNoneLive),
      Effect.provide(FakeSpawner.layer({ turns: [{ crash: { signal: "SIGSEGV" } }] }))
    ))
})

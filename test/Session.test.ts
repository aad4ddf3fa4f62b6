import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Exit, Fiber, Option, Predicate, Scope, Stream, SubscriptionRef } from "effect"
import { Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import * as ProcessManager from "../src/ProcessManager.ts"
import * as Session from "../src/Session.ts"
import * as FakeCli from "../src/testing/FakeCli.ts"
import * as TokenManager from "../src/TokenManager.ts"
import { ClaudeTest, quickShutdown, tempDir } from "./utils.ts"

const reasonOf = (exit: Exit.Exit<unknown, { readonly reason: { readonly _tag: string } }>) => {
  if (!Exit.isFailure(exit)) return undefined
  const reason = exit.cause.reasons[0]
  return reason?._tag === "Fail" ? reason.error.reason : undefined
}

describe("Session (against the FakeCli)", () => {
  it.live("runs several turns on one process and keeps its session id", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("session")
      const recordArgv = path.join(dir, "argv.jsonl")
      const session = yield* Claude.session({
        options: { ...FakeCli.options({ recordArgv, reply: ["one", "two"] }), timeouts: quickShutdown }
      })
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Idle")
      const first = yield* session.ask("first")
      const second = yield* session.ask("second")
      assert.strictEqual(first.text, "one")
      assert.strictEqual(second.text, "two")
      assert.strictEqual(first.sessionId, second.sessionId)
      assert.deepStrictEqual(yield* session.sessionId, Option.some(second.sessionId))
      // One process served both turns.
      assert.strictEqual(fs.readFileSync(recordArgv, "utf8").trim().split("\n").length, 1)
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Idle")
    }).pipe(Effect.scoped, Effect.provide(ClaudeTest)))

  it.live("F06: permission callback and hook handlers are asked, each request answered once", () =>
    Effect.gen(function*() {
      const asked: Array<string> = []
      const session = yield* Claude.session({
        options: {
          ...FakeCli.options({
            toolUse: { name: "Bash", input: { command: "ls" } },
            controlRequests: [
              { subtype: "can_use_tool", tool_name: "Bash", input: { command: "ls" } },
              { subtype: "hook_callback", callback_id: "hook_0", input: { hook_event_name: "PreToolUse" } },
              { subtype: "something_new" }
            ]
          }),
          timeouts: quickShutdown
        },
        canUseTool: (request) =>
          Effect.sync(() => {
            asked.push(`tool:${request.toolName}`)
            return { behavior: "deny", message: "not today" } as const
          }),
        hooks: {
          PreToolUse: [{
            matcher: "Bash",
            handle: () => Effect.sync(() => asked.push("hook")).pipe(Effect.as({ continue: true }))
          }]
        }
      })
      const result = yield* session.ask("go")
      assert.deepStrictEqual(asked.sort(), ["hook", "tool:Bash"])
      const answers: ReadonlyArray<FakeCli.ControlAnswer> = Reflect.get(result.frame, "fake_control_answers")
      assert.deepStrictEqual(answers.map((a) => [a.subtype, a.count]), [["can_use_tool", 1], ["hook_callback", 1], [
        "something_new",
        1
      ]])
      assert.strictEqual(Reflect.get(answers[0]?.response?.response ?? {}, "message"), "not today")
      assert.strictEqual(answers[2]?.response?.subtype, "error")
    }).pipe(Effect.scoped, Effect.provide(ClaudeTest)))

  it.live("interrupt ends the running turn with Interrupted; the session takes the next turn", () =>
    Effect.gen(function*() {
      // A first turn of some 65 frames, 100 ms apart: seconds of it are left when its first event arrives.
      const session = yield* Claude.session({
        options: {
          ...FakeCli.options({ frameDelayMs: 100, reply: ["slow ".repeat(12), "ok"], partialChunks: 60 }),
          includePartialMessages: true,
          timeouts: quickShutdown
        }
      })
      const running = yield* Deferred.make<void>()
      const events: Array<string> = []
      const turn = yield* session.send("slow one").pipe(
        Stream.runForEach((event) =>
          Effect.andThen(Effect.sync(() => events.push(event._tag)), Deferred.succeed(running, undefined))
        ),
        Effect.exit,
        Effect.forkChild
      )
      // The turn runs: its first event has arrived.
      yield* Deferred.await(running).pipe(Effect.timeout("10 seconds"))
      yield* session.interrupt
      assert.strictEqual(reasonOf(yield* Fiber.join(turn).pipe(Effect.timeout("10 seconds")))?._tag, "Interrupted")
      assert.strictEqual(events[0], "SessionStarted")
      assert.notInclude(events, "AssistantText", "interrupted before the reply was complete")
      yield* session.setModel("sonnet")
      yield* session.setPermissionMode("plan")
      const next = yield* session.ask("again")
      assert.strictEqual(next.error, undefined)
    }).pipe(Effect.scoped, Effect.provide(ClaudeTest)))

  it.live("F04: a silent turn fails with Timeout(idle) and the session is Failed, never reused", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({
        options: { ...FakeCli.options({ hang: "midTurn" }), timeouts: { ...quickShutdown, idle: 400 } }
      })
      const events: Array<string> = []
      const exit = yield* session.send("hi").pipe(
        Stream.runForEach((e) => Effect.sync(() => events.push(e._tag))),
        Effect.exit
      )
      const reason = reasonOf(exit)
      assert.isTrue(reason?._tag === "Timeout" && Reflect.get(reason, "kind") === "idle")
      assert.include(events, "SessionStarted")
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Failed")
      assert.strictEqual(reasonOf(yield* Effect.exit(session.ask("again")))?._tag, "ProtocolError")
    }).pipe(Effect.scoped, Effect.provide(ClaudeTest)))

  it.live("F03: closing a session waits for the CLI's late transcript write: every completed turn is saved, no SIGTERM", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("f03")
      const sessionFile = path.join(dir, "session.jsonl")
      const signalFile = path.join(dir, "signals.jsonl")
      const scope = yield* Scope.make()
      // The default shutdown grace (5 s); the fake writes its transcript 1 s after stdin EOF, then exits.
      const session = yield* Claude.session({
        options: FakeCli.options({ sessionFile, sessionFileOnEofDelayMs: 1000, signalFile, reply: ["one", "two"] })
      }).pipe(Scope.provide(scope))
      const first = yield* session.ask("first")
      const second = yield* session.ask("second")
      assert.isFalse(fs.existsSync(sessionFile), "nothing is written before stdin EOF")

      const closingAt = yield* Clock.currentTimeMillis
      yield* Scope.close(scope, Exit.void)
      const closedAt = yield* Clock.currentTimeMillis
      // Shutdown waited for the write (1 s) and ended well before the grace period would send SIGTERM (5 s).
      assert.isAtLeast(closedAt - closingAt, 1000)
      assert.isBelow(closedAt - closingAt, 5000)

      // Every completed turn is in the transcript, under the session id a `--resume` would use.
      const lines = fs.readFileSync(sessionFile, "utf8").trim().split("\n").map((line): unknown => JSON.parse(line))
      const field = (line: unknown, key: string) => (Predicate.isObject(line) ? line[key] : undefined)
      assert.deepStrictEqual(
        lines.map((line) => [field(line, "type"), field(line, "session_id"), field(line, "result") ?? null]),
        [
          ["user", first.sessionId, null],
          ["assistant", first.sessionId, "one"],
          ["user", second.sessionId, null],
          ["assistant", second.sessionId, "two"]
        ]
      )
      // Written before any SIGTERM: none was ever sent.
      const written = fs.statSync(sessionFile).mtimeMs
      const signals = fs.existsSync(signalFile) ? fs.readFileSync(signalFile, "utf8").trim().split("\n") : []
      assert.deepStrictEqual(signals, [], "no SIGTERM reached the CLI")
      assert.isAtMost(written, closedAt)
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Closed")
    }).pipe(Effect.scoped, Effect.provide(ClaudeTest)))

  it.live("a session that never becomes ready fails with Timeout(startup)", () =>
    Effect.gen(function*() {
      const exit = yield* Claude.session({
        options: { ...FakeCli.options({ hang: "beforeInit" }), timeouts: { ...quickShutdown, startup: 300 } }
      }).pipe(Effect.exit)
      const reason = reasonOf(exit)
      assert.isTrue(reason?._tag === "Timeout" && Reflect.get(reason, "kind") === "startup")
    }).pipe(Effect.scoped, Effect.provide(ClaudeTest)))

  it.live("crash recovery: a CLI that dies mid-turn is replaced by one started with --resume=<session id>", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("crash")
      const recordArgv = path.join(dir, "argv.jsonl")
      // The second turn of a process dies by SIGKILL right after its system/init.
      const session = yield* Claude.session({
        options: { ...FakeCli.options({ recordArgv, crash: { turn: 2, signal: "SIGKILL" } }), timeouts: quickShutdown }
      })
      const first = yield* session.ask("first")
      const crashed = reasonOf(yield* Effect.exit(session.ask("second")))
      assert.strictEqual(crashed?._tag, "ProcessCrashed")
      yield* SubscriptionRef.changes(session.state).pipe(
        Stream.takeUntil((now) => now === "Idle" || now === "Failed"),
        Stream.runDrain,
        Effect.timeout("10 seconds")
      )
      assert.strictEqual(yield* SubscriptionRef.get(session.state), "Idle")
      const third = yield* session.ask("third")
      assert.strictEqual(third.text, "echo: third")
      assert.strictEqual(third.sessionId, first.sessionId)
      assert.strictEqual(yield* session.restarts, 1)
      const argv = fs.readFileSync(recordArgv, "utf8").trim().split("\n").map((line): unknown => JSON.parse(line))
      const args = argv.map((
        line
      ) => (Predicate.isObject(line) && Array.isArray(line["argv"]) ? line["argv"].filter(Predicate.isString) : []))
      assert.strictEqual(args.length, 2, "one replacement")
      assert.notInclude(args[0] ?? [], `--resume=${first.sessionId}`)
      assert.include(args[1] ?? [], `--resume=${first.sessionId}`)
    }).pipe(Effect.scoped, Effect.provide(ClaudeTest)))

  it.live("a CLI stopped for a resource limit fails the running turn with ResourceLimitExceeded, not as a crash", () =>
    Effect.gen(function*() {
      const session = yield* Session.make({
        options: {
          ...FakeCli.options({ rssGrowMb: 200, frameDelayMs: 200 }),
          timeouts: quickShutdown,
          limits: { maxRssBytes: 128 * 1024 * 1024 }
        },
        restart: { maxRestarts: 0 }
      })
      const exit = yield* Effect.exit(session.ask("grow"))
      assert.strictEqual(reasonOf(exit)?._tag, "ResourceLimitExceeded")
      const log = yield* session.debugLog
      assert.isTrue(
        log.lifecycle.some((e) => e.event === "died" && (e.detail ?? "").includes("rssBytes limit")),
        JSON.stringify(log.lifecycle)
      )
    }).pipe(
      Effect.scoped,
      Effect.provide(
        ProcessManager.layer({ resourceLimits: { sampleInterval: "100 millis", killGrace: "300 millis" } }).pipe(
          Layer.provideMerge(TokenManager.layerTest(Option.none())),
          Layer.provideMerge(NodeServices.layer)
        )
      )
    ))
})

import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Metric, Option, Stream, SubscriptionRef } from "effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as DebugLog from "../src/DebugLog.ts"
import * as Metrics from "../src/Metrics.ts"
import type * as Session from "../src/Session.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { ClaudeTest, eventually, isAlive, processesWithHome, quickShutdown, tempDir } from "./utils.ts"

// Sessions on the real CLI (node_modules/.bin/claude) against the FakeApi on loopback: the control protocol
// (can_use_tool, interrupt) and the conversation-store options (continue, resume + forkSession). Each test has
// its own HOME, a project dir inside it as the CLI's cwd, and proves that no process of that HOME is left.

interface Env {
  readonly options: ClaudeOptions.Input
  readonly api: FakeApi.FakeApi["Service"]
  readonly home: string
  readonly project: string
}

const withRealCli = <A, E>(
  script: FakeApi.Script,
  body: (env: Env) => Effect.Effect<A, E, Claude.Claude | Scope.Scope>
) =>
  Effect.gen(function*() {
    const home = yield* tempDir("session-it")
    const project = path.join(home, "project")
    fs.mkdirSync(project)
    const api = yield* FakeApi.make({ script })
    const options: ClaudeOptions.Input = {
      env: FakeApi.cliEnvironment(api, home),
      cwd: project,
      timeouts: { ...quickShutdown, firstEvent: 20_000, idle: 20_000, turn: 30_000 }
    }
    // Sessions opened by the body close with this inner scope, before the leftover check.
    const result = yield* Effect.scoped(body({ options, api, home, project }))
    yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
    return result
  }).pipe(Effect.scoped, Effect.provide(ClaudeTest))

const reasonOf = (
  exit: Exit.Exit<unknown, { readonly reason: { readonly _tag: string; readonly isRetryable: boolean } }>
) => {
  if (!Exit.isFailure(exit)) return undefined
  const reason = exit.cause.reasons[0]
  return reason?._tag === "Fail" ? reason.error.reason : undefined
}

/** Every content part of every message of a recorded request. */
const partsOf = (request: FakeApi.RecordedRequest | undefined) =>
  (request?.messagesRequest?.messages ?? []).flatMap((m) =>
    typeof m.content === "string" ? [{ type: "text", text: m.content } as const] : m.content
  )

const toolResultsOf = (request: FakeApi.RecordedRequest | undefined) =>
  partsOf(request).filter((p) => p.type === "tool_result")

const collect = <E>(stream: Stream.Stream<ClaudeEvent, E>) => {
  const events: Array<ClaudeEvent> = []
  return stream.pipe(
    Stream.runForEach((event) => Effect.sync(() => events.push(event))),
    Effect.exit,
    Effect.map((exit) => ({ exit, events }))
  )
}

// A Bash command that needs approval in the default permission mode (it writes a file), and whose output and
// side effect both show whether it ran.
const guardedCommand = {
  command: "touch ran-by-tool.txt && echo TOOL-RAN-7781",
  description: "Create a marker file"
}

describe("Session against the real CLI", () => {
  it.live("permission callback: allow lets the tool run, and the turn succeeds", () =>
    withRealCli(
      [FakeApi.toolUse("Bash", guardedCommand, { id: "toolu_allow_1" })], // then the default reply: "Tool said: <result>"
      ({ api, options, project }) =>
        Effect.gen(function*() {
          const asked: Array<Session.PermissionRequest> = []
          const session = yield* Claude.session({
            options: { ...options, permissionMode: "default" },
            canUseTool: (request) =>
              Effect.sync(() => {
                asked.push(request)
                return { behavior: "allow" } as const
              })
          })
          const { events, exit } = yield* collect(session.send("please run the marker command"))
          assert.isTrue(Exit.isSuccess(exit))

          // Asked exactly once, for Bash, with the model's input.
          assert.strictEqual(asked.length, 1)
          assert.strictEqual(asked[0]?.toolName, "Bash")
          assert.deepStrictEqual(asked[0]?.input, guardedCommand)
          assert.strictEqual(asked[0]?.toolUseId, "toolu_allow_1")
          // The control request went through the event stream too.
          assert.isTrue(events.some((e) => e._tag === "ControlRequest" && e.subtype === "can_use_tool"))

          // The tool ran: its result event, its side effect, and the tool_result the API got next.
          const toolResult = events.find((e) => e._tag === "ToolResult")
          assert.isTrue(toolResult?._tag === "ToolResult" && !toolResult.isError)
          if (toolResult?._tag === "ToolResult") {
            assert.strictEqual(toolResult.toolUseId, "toolu_allow_1")
            assert.include(JSON.stringify(toolResult.content), "TOOL-RAN-7781")
          }
          assert.isTrue(fs.existsSync(path.join(project, "ran-by-tool.txt")))
          const requests = yield* api.conversationRequests
          assert.strictEqual(requests.length, 2)
          const [sent] = toolResultsOf(requests[1])
          assert.strictEqual(sent?.tool_use_id, "toolu_allow_1")
          assert.notStrictEqual(sent?.is_error, true)
          assert.include(requests[1] === undefined ? "" : FakeApi.lastToolResult(requests[1]) ?? "", "TOOL-RAN-7781")

          // The turn succeeded, nothing was denied, and the session is ready for more.
          const result = events.at(-1)
          assert.strictEqual(result?._tag, "Result")
          if (result?._tag === "Result") {
            assert.isUndefined(result.error)
            assert.strictEqual(result.text, "Tool said: TOOL-RAN-7781")
            assert.deepStrictEqual(result.frame.permission_denials, [])
          }
          assert.strictEqual(yield* SubscriptionRef.get(session.state), "Idle")
        })
    ))

  it.live("permission callback: deny is reported in permission_denials and sent to the model as an error result", () =>
    withRealCli(
      [FakeApi.toolUse("Bash", guardedCommand, { id: "toolu_deny_1" }), FakeApi.text("Understood, I will not.")],
      ({ api, options, project }) =>
        Effect.gen(function*() {
          const asked: Array<string> = []
          const session = yield* Claude.session({
            options: { ...options, permissionMode: "default" },
            canUseTool: (request) =>
              Effect.sync(() => {
                asked.push(request.toolName)
                return { behavior: "deny", message: "DENIED-BY-TEST: no marker files" } as const
              })
          })
          const { events, exit } = yield* collect(session.send("please run the marker command"))
          // A denial is not a failed turn.
          assert.isTrue(Exit.isSuccess(exit))
          assert.deepStrictEqual(asked, ["Bash"])
          assert.isFalse(fs.existsSync(path.join(project, "ran-by-tool.txt")))

          // The CLI turns the denial into an error tool_result carrying our message...
          const toolResult = events.find((e) => e._tag === "ToolResult")
          assert.isTrue(toolResult?._tag === "ToolResult" && toolResult.isError)
          if (toolResult?._tag === "ToolResult") {
            assert.strictEqual(toolResult.toolUseId, "toolu_deny_1")
            assert.include(JSON.stringify(toolResult.content), "DENIED-BY-TEST: no marker files")
          }
          // ... which is what the model gets next.
          const requests = yield* api.conversationRequests
          assert.strictEqual(requests.length, 2)
          const [sent] = toolResultsOf(requests[1])
          assert.strictEqual(sent?.tool_use_id, "toolu_deny_1")
          assert.strictEqual(sent?.is_error, true)
          assert.include(JSON.stringify(sent?.content), "DENIED-BY-TEST: no marker files")

          // The turn completes, and its result frame lists the denial.
          const result = events.at(-1)
          assert.strictEqual(result?._tag, "Result")
          if (result?._tag === "Result") {
            assert.isUndefined(result.error)
            assert.strictEqual(result.subtype, "success")
            assert.strictEqual(result.text, "Understood, I will not.")
            assert.deepStrictEqual(result.frame.permission_denials, [
              { tool_name: "Bash", tool_use_id: "toolu_deny_1", tool_input: guardedCommand }
            ])
          }
          assert.strictEqual(yield* SubscriptionRef.get(session.state), "Idle")
        })
    ))

  it.live("interrupt mid-stream: the turn fails with Interrupted, the session is Idle and answers the next ask", () => {
    // 40 deltas, 150 ms apart: about 6 s if nobody interrupts.
    const slow = FakeApi.text(Array.from({ length: 40 }, (_, i) => `slow-${i} `), { delayMs: 150 })
    return withRealCli([slow, FakeApi.text("After the interrupt.")], ({ api, options }) =>
      Effect.gen(function*() {
        const session = yield* Claude.session({ options: { ...options, includePartialMessages: true } })
        const firstDelta = yield* Deferred.make<void>()
        const events: Array<ClaudeEvent> = []
        const startedAt = Date.now()
        const turn = yield* session.send("go SLOW please").pipe(
          Stream.runForEach((event) =>
            Effect.andThen(
              Effect.sync(() => events.push(event)),
              event._tag === "TextDelta" ? Deferred.succeed(firstDelta, undefined) : Effect.void
            )
          ),
          Effect.exit,
          Effect.forkChild
        )
        yield* Deferred.await(firstDelta)
        assert.strictEqual(yield* SubscriptionRef.get(session.state), "Running")
        yield* session.interrupt
        const exit = yield* Fiber.join(turn)
        const elapsed = Date.now() - startedAt

        const reason = reasonOf(exit)
        assert.strictEqual(reason?._tag, "Interrupted")
        assert.isFalse(reason?.isRetryable)
        // Stopped well before the 6 s the whole reply would take.
        assert.isBelow(elapsed, 4_000)
        const deltas = events.filter((e) => e._tag === "TextDelta")
        assert.isAbove(deltas.length, 0)
        assert.isBelow(deltas.length, 40)
        // The CLI's own word for it: error_during_execution, terminal_reason aborted_streaming.
        const result = events.at(-1)
        assert.strictEqual(result?._tag, "Result")
        if (result?._tag === "Result") {
          assert.strictEqual(result.subtype, "error_during_execution")
          assert.strictEqual(result.frame.terminal_reason, "aborted_streaming")
          assert.strictEqual(result.error?._tag, "Interrupted")
        }

        // The same process takes the next turn.
        assert.strictEqual(yield* SubscriptionRef.get(session.state), "Idle")
        const next = yield* session.ask("are you still there?")
        assert.isUndefined(next.error)
        assert.strictEqual(next.text, "After the interrupt.")
        assert.strictEqual(next.sessionId, result?._tag === "Result" ? result.sessionId : "")
        assert.strictEqual(yield* SubscriptionRef.get(session.state), "Idle")
        const requests = yield* api.conversationRequests
        assert.strictEqual(requests.length, 2)
        assert.include(FakeApi.lastUserText(requests[1]!), "are you still there?")
        // The CLI keeps the interrupted prompt, the partial answer and its own marker in the history.
        const history = JSON.stringify(requests[1]?.body)
        assert.include(history, "go SLOW please")
        assert.include(history, "slow-0 ")
        assert.include(history, "[Request interrupted by user]")
      }))
  })

  it.live("continue: a new session in the same cwd sees the earlier turn", () =>
    withRealCli(
      [FakeApi.text("Noted."), FakeApi.text("It was DURIAN-5521.")],
      ({ api, options }) =>
        Effect.gen(function*() {
          const first = yield* Effect.scoped(
            Effect.flatMap(Claude.session({ options }), (s) => s.ask("remember the code DURIAN-5521"))
          )
          const continued = yield* Effect.scoped(
            Effect.flatMap(Claude.session({ options: { ...options, continue: true } }), (s) => s.ask("which code?"))
          )
          assert.strictEqual(continued.text, "It was DURIAN-5521.")
          const requests = yield* api.conversationRequests
          assert.strictEqual(requests.length, 2)
          // The first request of the continued session carries the earlier prompt and answer.
          const body = JSON.stringify(requests[1]?.body)
          assert.include(body, "remember the code DURIAN-5521")
          assert.include(body, "Noted.")
          assert.include(FakeApi.lastUserText(requests[1]!), "which code?")
          // Plain continue appends to the same conversation.
          assert.strictEqual(continued.sessionId, first.sessionId)
        })
    ))

  it.live("resume + forkSession: a new session id, with the earlier turn in the request", () =>
    withRealCli(
      [FakeApi.text("Noted."), FakeApi.text("Forked: it was LYCHEE-3390."), FakeApi.text("Original still here.")],
      ({ api, options }) =>
        Effect.gen(function*() {
          const first = yield* Effect.scoped(
            Effect.flatMap(Claude.session({ options }), (s) => s.ask("remember the code LYCHEE-3390"))
          )
          const forked = yield* Effect.scoped(Effect.gen(function*() {
            const session = yield* Claude.session({
              options: { ...options, resume: first.sessionId, forkSession: true }
            })
            const result = yield* session.ask("which code? (fork)")
            return { result, sessionId: yield* session.sessionId }
          }))
          assert.strictEqual(forked.result.text, "Forked: it was LYCHEE-3390.")
          assert.notStrictEqual(forked.result.sessionId, first.sessionId)
          assert.deepStrictEqual(forked.sessionId, Option.some(forked.result.sessionId))
          const requests = yield* api.conversationRequests
          assert.strictEqual(requests.length, 2)
          assert.include(JSON.stringify(requests[1]?.body), "remember the code LYCHEE-3390")
          assert.include(FakeApi.lastUserText(requests[1]!), "which code? (fork)")

          // The fork did not append to the original: resuming it sees the first turn, not the fork's.
          const original = yield* Effect.scoped(
            Effect.flatMap(
              Claude.session({ options: { ...options, resume: first.sessionId } }),
              (s) => s.ask("and the original?")
            )
          )
          assert.strictEqual(original.sessionId, first.sessionId)
          const last = JSON.stringify((yield* api.conversationRequests)[2]?.body)
          assert.include(last, "remember the code LYCHEE-3390")
          assert.notInclude(last, "which code? (fork)")
          assert.notInclude(last, "Forked: it was")
        })
    ))

  it.live("crash recovery: a CLI SIGKILLed mid-turn is replaced; the next turn sees the earlier turns", () =>
    withRealCli(
      [
        FakeApi.text("Noted: PAPAYA."),
        // Streams for 20 s: killed long before its end.
        FakeApi.text(Array.from({ length: 100 }, (_, i) => `slow-${i} `), { delayMs: 200 }),
        FakeApi.text("The word was PAPAYA.")
      ],
      ({ api, options }) =>
        Effect.gen(function*() {
          const session = yield* Claude.session({ options })
          const first = yield* session.ask("remember the word PAPAYA")
          const firstPid = session.pid

          const second = yield* collect(session.send("tell me a long story about MANGO")).pipe(Effect.forkChild)
          // Mid-turn: the CLI is streaming the reply.
          yield* api.awaitConversationRequests(2).pipe(Effect.timeout("10 seconds"))
          yield* Effect.sleep("300 millis")
          yield* Effect.sync(() => process.kill(firstPid, "SIGKILL"))
          const { events, exit } = yield* Fiber.join(second).pipe(Effect.timeout("10 seconds"))
          const reason = reasonOf(exit)
          assert.strictEqual(reason?._tag, "ProcessCrashed")
          assert.strictEqual(reason === undefined ? undefined : Reflect.get(reason, "signal"), "SIGKILL")
          assert.isTrue(reason?.isRetryable)
          assert.strictEqual(events[0]?._tag, "SessionStarted")

          // Running -> Starting (a replacement resumes the conversation) -> Idle.
          yield* SubscriptionRef.changes(session.state).pipe(
            Stream.takeUntil((now) => now === "Idle" || now === "Failed"),
            Stream.runDrain,
            Effect.timeout("15 seconds")
          )
          assert.strictEqual(yield* SubscriptionRef.get(session.state), "Idle")
          assert.strictEqual(yield* session.restarts, 1)
          assert.notStrictEqual(session.pid, firstPid)
          assert.isFalse(isAlive(firstPid))

          const third = yield* session.ask("which word did I ask you to remember?")
          assert.strictEqual(third.text, "The word was PAPAYA.")
          assert.strictEqual(third.sessionId, first.sessionId, "the same conversation")
          const requests = yield* api.conversationRequests
          assert.strictEqual(requests.length, 3)
          const history = JSON.stringify(requests[2]?.body)
          assert.include(history, "remember the word PAPAYA")
          assert.include(history, "Noted: PAPAYA.")
          // The killed turn's prompt was saved before the crash, its partial answer was not.
          assert.include(history, "tell me a long story about MANGO")
          assert.include(FakeApi.lastUserText(requests[2]!), "which word did I ask you to remember?")
        })
    ))

  it.live("F12: a 401 the CLI would retry for minutes fails fast with AuthenticationFailed; the CLI is stopped", () =>
    withRealCli(() => FakeApi.error(401), ({ api, options }) =>
      Effect.gen(function*() {
        // The CLI's default of 10 retries (cliEnvironment sets 0): without fail-fast, ~150 s.
        const session = yield* Claude.session({ options: { ...options, maxApiRetries: 10 } })
        const pid = session.pid
        const started = Date.now()
        const { events, exit } = yield* collect(session.send("hi"))
        const elapsed = Date.now() - started
        const reason = reasonOf(exit)
        assert.strictEqual(reason?._tag, "AuthenticationFailed")
        assert.isFalse(reason?.isRetryable)
        // Not a timing target (the bench has those): only far from the ~150 s the CLI's own retries take.
        assert.isBelow(elapsed, 60_000, `failed after ${elapsed} ms`)
        const retries = events.flatMap((e) => (e._tag === "ApiRetry" ? [e.frame] : []))
        assert.deepStrictEqual(retries.map((r) => [r.error_status, r.attempt, r.max_retries]), [[401, 1, 10]])
        // Stopped before the turn failed, and not replaced.
        assert.isFalse(isAlive(pid))
        assert.strictEqual(yield* SubscriptionRef.get(session.state), "Failed")
        assert.strictEqual(yield* session.restarts, 0)
        assert.isAtMost((yield* api.conversationRequests).length, 2)
        yield* Effect.logInfo(`F12 fail-fast: AuthenticationFailed after ${elapsed} ms`)
      })))

  it.live("F12: a 403 the CLI retries (x-should-retry) fails fast with PermissionRefused", () =>
    withRealCli(() => FakeApi.error(403, { shouldRetry: true }), ({ options }) =>
      Effect.gen(function*() {
        const session = yield* Claude.session({ options: { ...options, maxApiRetries: 10 } })
        const pid = session.pid
        const started = Date.now()
        const { events, exit } = yield* collect(session.send("hi"))
        const elapsed = Date.now() - started
        assert.strictEqual(reasonOf(exit)?._tag, "PermissionRefused")
        // Not a timing target (the bench has those): only far from the ~150 s the CLI's own retries take.
        assert.isBelow(elapsed, 60_000, `failed after ${elapsed} ms`)
        assert.isTrue(events.some((e) => e._tag === "ApiRetry" && e.frame.error_status === 403))
        assert.isFalse(isAlive(pid))
      })))
})

describe("Session observability against the real CLI", () => {
  it.live("debug: true runs the CLI with --debug-file in a temp dir of the session, folded into its debug log, removed on close", () =>
    withRealCli(
      [FakeApi.toolUse("Bash", { command: "echo hi-from-tool" }), FakeApi.text("done")],
      ({ options }) =>
        Effect.gen(function*() {
          const { log, raw, dir } = yield* Effect.scoped(Effect.gen(function*() {
            const session = yield* Claude.session({ options: { ...options, allowedTools: ["Bash"] }, debug: true })
            yield* session.ask("run the echo")
            const log = yield* session.debugLog
            const file = log.debugFile ?? ""
            assert.isTrue(fs.existsSync(file), "the CLI writes its debug log there")
            return { log, raw: fs.readFileSync(file, "utf8"), dir: path.dirname(file) }
          }))
          assert.match(log.debugFile ?? "", /effect-claude-code-debug-[^/]+\/cli-debug\.log$/)
          assert.include(log.debugFileTail, "[DEBUG]")
          assert.include(log.debugFileTail, "tool_dispatch_start tool=Bash")
          assert.isAtMost(Buffer.byteLength(log.debugFileTail ?? ""), DebugLog.defaultLimits.debugFileBytes)
          // The session's temp dir went with the session.
          assert.isFalse(fs.existsSync(dir), "removed when the session closed")
          // The credential the CLI ran with is in neither the CLI's debug file nor the log.
          assert.notInclude(raw, FakeApi.fakeApiKey)
          assert.notInclude(JSON.stringify(log), FakeApi.fakeApiKey)
          assert.notMatch(JSON.stringify(log), /sk-ant-(api|oat)\d\d-[A-Za-z0-9_-]{8,}/)
          assert.deepStrictEqual(log.lifecycle.map((e) => e.event), ["spawned", "ready", "turnStarted", "turnEnded"])
        })
    ))

  it.live("cost: a resumed conversation's earlier cost is read from the CLI (get_usage) and not counted again", () =>
    withRealCli([FakeApi.text("one"), FakeApi.text("two")], ({ options }) =>
      Effect.gen(function*() {
        const first = yield* Effect.scoped(
          Effect.flatMap(Claude.session({ options }), (session) => session.ask("first"))
        )
        const second = yield* Effect.scoped(
          Effect.flatMap(
            Claude.session({ options: { ...options, resume: first.sessionId } }),
            (session) => session.ask("second")
          )
        )
        // The CLI's figure is the conversation's: the second result includes the first turn's cost.
        assert.isAbove(second.costUsd ?? 0, first.costUsd ?? 0)
        const series = (yield* Metric.snapshot).filter((m) => m.id === Metrics.costUsdTotal.id)
        assert.strictEqual(series.length, 1, "one model")
        const counted = series.reduce((sum, m) => sum + (m.type === "Counter" ? Number(m.state.count) : 0), 0)
        assert.isBelow(
          Math.abs(counted - (second.costUsd ?? 0)),
          1e-12,
          `counted ${counted}, the conversation cost ${second.costUsd}`
        )
      }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))))
})

import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Stream } from "effect"
import * as Claude from "../src/Claude.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { ClaudeTest, eventually, processesWithHome, tempDir } from "./utils.ts"

/** The `system/api_retry` frames of a turn, as `[status, attempt, max_retries]`. */
const retriesOf = (events: ReadonlyArray<ClaudeEvent>) =>
  events.flatMap((
    e
  ) => (e._tag === "ApiRetry" ? [[e.frame.error_status ?? null, e.frame.attempt, e.frame.max_retries]] : []))

const collectExit = <E, R>(stream: Stream.Stream<ClaudeEvent, E, R>) => {
  const events: Array<ClaudeEvent> = []
  return stream.pipe(
    Stream.runForEach((event) => Effect.sync(() => events.push(event))),
    Effect.exit,
    Effect.map((exit) => ({ exit, events }))
  )
}

// The real CLI (node_modules/.bin/claude) against the FakeApi on loopback. Each test has its own HOME, and
// proves that no process of that HOME is left when it ends.
const withRealCli = <A, E>(
  script: FakeApi.Script,
  body: (options: ClaudeOptions.Input, api: FakeApi.FakeApi["Service"]) => Effect.Effect<A, E, Claude.Claude>
) =>
  Effect.gen(function*() {
    const home = yield* tempDir("real-cli")
    const api = yield* FakeApi.make({ script })
    // The layer (and its pool) closes before the leftover check.
    const result = yield* body({ env: FakeApi.cliEnvironment(api, home), timeouts: { turn: 30_000 } }, api).pipe(
      Effect.provide(ClaudeTest)
    )
    yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
    return result
  }).pipe(Effect.scoped)

const failureOf = (
  exit: Exit.Exit<unknown, { readonly reason: { readonly _tag: string; readonly isRetryable: boolean } }>
) => {
  if (!Exit.isFailure(exit)) return undefined
  const reason = exit.cause.reasons[0]
  return reason?._tag === "Fail" ? reason.error.reason : undefined
}

const texts = (events: ReadonlyArray<ClaudeEvent>) =>
  events.flatMap((e) => (e._tag === "AssistantText" ? [e.text] : []))

describe("Claude.query against the real CLI", () => {
  it.live("a plain text turn", () =>
    withRealCli([FakeApi.text("Hello from the real CLI test.")], (options, api) =>
      Effect.gen(function*() {
        const events = yield* Claude.query("say hello", options).pipe(Stream.runCollect)
        const started = events.find((e) => e._tag === "SessionStarted")
        assert.isDefined(started)
        assert.deepStrictEqual(texts(events), ["Hello from the real CLI test."])
        const result = events.at(-1)
        assert.isTrue(result?._tag === "Result")
        if (result?._tag === "Result") {
          assert.isUndefined(result.error)
          assert.strictEqual(result.text, "Hello from the real CLI test.")
          assert.strictEqual(result.sessionId, started?._tag === "SessionStarted" ? started.sessionId : "")
          assert.isAbove(result.costUsd ?? 0, 0)
        }
        const requests = yield* api.conversationRequests
        assert.strictEqual(requests.length, 1)
        const [request] = requests
        assert.include(request === undefined ? "" : FakeApi.userTexts(request).join(" "), "say hello")
      })))

  it.live("a turn with a Bash tool call and its result", () =>
    withRealCli([], (options) =>
      Effect.gen(function*() {
        // The default responder calls Bash `echo hi-from-tool` for a prompt with USE_TOOL, then reports it.
        const events = yield* Claude.query("please USE_TOOL now", { ...options, allowedTools: ["Bash"] }).pipe(
          Stream.runCollect
        )
        const toolUse = events.find((e) => e._tag === "ToolUse")
        assert.isTrue(toolUse?._tag === "ToolUse" && toolUse.name === "Bash")
        const toolResult = events.find((e) => e._tag === "ToolResult")
        assert.isTrue(toolResult?._tag === "ToolResult" && !toolResult.isError)
        if (toolResult?._tag === "ToolResult" && toolUse?._tag === "ToolUse") {
          assert.strictEqual(toolResult.toolUseId, toolUse.id)
          assert.include(JSON.stringify(toolResult.content), "hi-from-tool")
        }
        assert.include(texts(events).join(""), "hi-from-tool")
        assert.strictEqual(events.at(-1)?._tag, "Result")
      })))

  it.live("F12: a 401 is a typed AuthenticationFailed, not a success", () =>
    withRealCli([FakeApi.error(401)], (options) =>
      Effect.gen(function*() {
        const exit = yield* Claude.query("hi", options).pipe(Stream.runCollect, Effect.exit)
        const reason = failureOf(exit)
        assert.strictEqual(reason?._tag, "AuthenticationFailed")
        assert.isFalse(reason?.isRetryable)
      })))

  it.live("F12: with the CLI's retries on, a 401 fails fast (the first api_retry) instead of after ~150 s", () =>
    withRealCli(() => FakeApi.error(401), (options, api) =>
      Effect.gen(function*() {
        const started = Date.now()
        const { events, exit } = yield* collectExit(Claude.query("hi", { ...options, maxApiRetries: 10 }))
        const elapsed = Date.now() - started
        const reason = failureOf(exit)
        assert.strictEqual(reason?._tag, "AuthenticationFailed")
        assert.isFalse(reason?.isRetryable)
        // Stopped at the first of the CLI's ten retries: not one of them reached the API (the CLI waits at
        // least half a second before its first), and nothing was tried again.
        assert.deepStrictEqual(retriesOf(events), [[401, 1, 10]])
        assert.strictEqual((yield* api.conversationRequests).length, 1)
        // Not a timing target (the bench has those): only far from the ~150 s the CLI's own retries take.
        assert.isBelow(elapsed, 60_000, `failed after ${elapsed} ms`)
      })))

  it.live("maxApiRetries bounds the CLI's own retries: CLAUDE_CODE_MAX_RETRIES reaches the CLI", () =>
    withRealCli(() => FakeApi.error(500), (options, api) =>
      Effect.gen(function*() {
        const { events, exit } = yield* collectExit(Claude.query("hi", { ...options, maxApiRetries: 2 }))
        assert.strictEqual(failureOf(exit)?._tag, "ApiError")
        assert.deepStrictEqual(retriesOf(events), [[500, 1, 2], [500, 2, 2]])
        assert.strictEqual((yield* api.conversationRequests).length, 3, "the first attempt and two retries")
      })))

  it.live("maxApiRetries bounds the retries of a 529 (which the CLI itself never retries more than twice)", () =>
    withRealCli(() => FakeApi.error(529), (options, api) =>
      Effect.gen(function*() {
        const once = yield* collectExit(Claude.query("hi", { ...options, maxApiRetries: 1 }))
        assert.strictEqual(failureOf(once.exit)?._tag, "Overloaded")
        assert.deepStrictEqual(retriesOf(once.events), [[529, 1, 1]])
        assert.strictEqual((yield* api.conversationRequests).length, 2)
        const capped = yield* collectExit(Claude.query("hi", { ...options, maxApiRetries: 10 }))
        assert.strictEqual(failureOf(capped.exit)?._tag, "Overloaded")
        assert.deepStrictEqual(retriesOf(capped.events), [[529, 1, 10], [529, 2, 10]])
        const none = yield* collectExit(Claude.query("hi", { ...options, maxApiRetries: 0 }))
        assert.deepStrictEqual(retriesOf(none.events), [])
        assert.strictEqual((yield* api.conversationRequests).length, 2 + 3 + 1)
      })))

  it.live("a 529 is a typed, retryable Overloaded", () =>
    withRealCli([FakeApi.error(529)], (options) =>
      Effect.gen(function*() {
        const exit = yield* Claude.query("hi", options).pipe(Stream.runCollect, Effect.exit)
        const reason = failureOf(exit)
        assert.strictEqual(reason?._tag, "Overloaded")
        assert.isTrue(reason?.isRetryable)
      })))

  it.live("partial messages stream as TextDelta events, chunk by chunk", () =>
    withRealCli(
      [FakeApi.text(["Stream", "ing in ", "three parts."], { delayMs: 20 })],
      (options) =>
        Effect.gen(function*() {
          const events = yield* Claude.query("stream please", { ...options, includePartialMessages: true }).pipe(
            Stream.runCollect
          )
          const deltas = events.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : []))
          assert.deepStrictEqual(deltas, ["Stream", "ing in ", "three parts."])
          // Deltas come before the completed block.
          const firstDelta = events.findIndex((e) => e._tag === "TextDelta")
          const block = events.findIndex((e) => e._tag === "AssistantText")
          assert.isTrue(firstDelta >= 0 && firstDelta < block)
          assert.deepStrictEqual(texts(events), ["Streaming in three parts."])
        })
    ))

  it.live("a session: two turns on one process, the second request carries the first turn", () =>
    withRealCli(
      [FakeApi.text("First answer."), FakeApi.text("Second answer.")],
      (options, api) =>
        Effect.scoped(Effect.gen(function*() {
          const session = yield* Claude.session({ options })
          const first = yield* session.ask("remember the word PAPAYA")
          const second = yield* session.ask("what was the word?")
          assert.strictEqual(first.text, "First answer.")
          assert.strictEqual(second.text, "Second answer.")
          assert.strictEqual(first.sessionId, second.sessionId)
          const requests = yield* api.conversationRequests
          assert.strictEqual(requests.length, 2)
          assert.include(JSON.stringify(requests[1]?.body), "PAPAYA")
        }))
    ))

  it.live("resume: a new process with resume sees the earlier turns", () =>
    withRealCli([FakeApi.text("Noted."), FakeApi.text("It was MANGO.")], (options, api) =>
      Effect.gen(function*() {
        const first = yield* Effect.scoped(Effect.flatMap(Claude.session({ options }), (s) => s.ask("remember MANGO")))
        const resumed = yield* Effect.scoped(
          Effect.flatMap(Claude.session({ options: { ...options, resume: first.sessionId } }), (s) =>
            s.ask("which fruit?"))
        )
        assert.strictEqual(resumed.text, "It was MANGO.")
        const requests = yield* api.conversationRequests
        assert.include(JSON.stringify(requests.at(-1)?.body), "remember MANGO")
      })))

  it.live("F18: after reset (/clear) the next request carries none of the previous conversation", () =>
    withRealCli(
      [FakeApi.text("Stored."), FakeApi.text("Fresh start.")],
      (options, api) =>
        Effect.scoped(Effect.gen(function*() {
          const session = yield* Claude.session({ options })
          const first = yield* session.ask("the secret is KIWI-4471")
          const newId = yield* session.reset
          assert.notStrictEqual(newId, first.sessionId)
          const second = yield* session.ask("hello again")
          assert.strictEqual(second.text, "Fresh start.")
          assert.strictEqual(second.sessionId, newId)
          const requests = yield* api.conversationRequests
          const last = JSON.stringify(requests.at(-1)?.body)
          assert.include(last, "hello again")
          assert.notInclude(last, "KIWI-4471")
          assert.notInclude(last, "Stored.")
        }))
    ))
})

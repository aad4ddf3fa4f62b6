import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Console, Effect, Exit, Fiber, Layer, Option, Stream } from "effect"
import { CircuitBreaker } from "effect/persistence"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import type * as ClaudeError from "../src/ClaudeError.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as ProcessManager from "../src/ProcessManager.ts"
import * as Resilience from "../src/Resilience.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import * as TokenManager from "../src/TokenManager.ts"
import { eventually, processesWithHome, tempDir } from "./utils.ts"

// Claude.query with the default Resilience policy, on the real CLI (node_modules/.bin/claude) against the
// FakeApi on loopback. The CLI's own API retries are off (`CLAUDE_CODE_MAX_RETRIES=0` in the FakeApi's
// environment), so each API error reaches the library at once and the library's retry is what recovers.
// Each test has its own HOME and proves no process of it is left; each prints how long the turn took.

const ClaudeResilient = (resilience: Resilience.Settings) =>
  Claude.layerNoDeps.pipe(
    Layer.provideMerge(Layer.merge(SessionPool.layer({ minIdle: 0 }), Resilience.layer(resilience))),
    Layer.provideMerge(ProcessManager.layer()),
    Layer.provide(TokenManager.layerTest(Option.none())),
    Layer.provideMerge(NodeServices.layer)
  )

const withRealCli = <A, E>(
  script: FakeApi.Script,
  body: (
    options: ClaudeOptions.Input,
    api: FakeApi.FakeApi["Service"],
    home: string
  ) => Effect.Effect<A, E, Claude.Claude | Resilience.Resilience>,
  resilience: Resilience.Settings = {}
) =>
  Effect.gen(function*() {
    const home = yield* tempDir("resilience")
    const api = yield* FakeApi.make({ script })
    const options: ClaudeOptions.Input = { env: FakeApi.cliEnvironment(api, home), timeouts: { turn: 60_000 } }
    const result = yield* body(options, api, home).pipe(Effect.provide(ClaudeResilient(resilience)))
    yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
    return result
  }).pipe(Effect.scoped)

const retryings = (events: ReadonlyArray<ClaudeEvent>) =>
  events.filter((e): e is Extract<ClaudeEvent, { readonly _tag: "Retrying" }> => e._tag === "Retrying")

const texts = (events: ReadonlyArray<ClaudeEvent>) =>
  events.flatMap((e) => (e._tag === "AssistantText" ? [e.text] : []))

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const started = Date.now()
    const value = yield* effect
    return [value, Date.now() - started] as const
  })

const apiRetryCount = (events: ReadonlyArray<ClaudeEvent>) => events.filter((e) => e._tag === "ApiRetry").length

const failed = (exit: Exit.Exit<unknown, ClaudeError.ClaudeError>) =>
  Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error.reason : undefined

/** Runs a query to its end: every event it emitted, how it ended, and how long it took. */
const collect = <R>(stream: Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError, R>) =>
  Effect.gen(function*() {
    const events: Array<ClaudeEvent> = []
    const started = Date.now()
    const exit = yield* stream.pipe(Stream.runForEach((event) => Effect.sync(() => events.push(event))), Effect.exit)
    return { events, exit, ms: Date.now() - started }
  })

describe("Resilience against the real CLI", () => {
  it.live("F13: a 429 with retry-after, then success, with the CLI's own retries off: the library retries after its backoff", () =>
    withRealCli([FakeApi.error(429, { retryAfterSeconds: 2 }), FakeApi.text("Recovered after the rate limit.")], (options, api) =>
      Effect.gen(function*() {
        const [events, ms] = yield* timed(Claude.query("hi", options).pipe(Stream.runCollect))
        const [retrying] = retryings(events)
        // CLI 2.1.329 does not pass the retry-after header on when it gives up: the library's backoff applies.
        assert.strictEqual(retrying?.reason._tag, "RateLimited")
        assert.isTrue((retrying?.delayMs ?? 0) >= 800 && (retrying?.delayMs ?? 0) <= 1200, "the first backoff: 1 s ±20 %")
        const result = events.at(-1)
        assert.isTrue(result?._tag === "Result" && result.error === undefined)
        assert.deepStrictEqual(texts(events).at(-1), "Recovered after the rate limit.")
        assert.strictEqual((yield* api.conversationRequests).length, 2)
        yield* Console.log(`F13 429 (retry-after 2 s, CLI retries off) then success: ${ms} ms, library retry after ${retrying?.delayMs} ms`)
      })))

  it.live("F13: 429s with retry-after, the CLI retrying once itself: the library waits at least the CLI's retry-after wait, then succeeds", () =>
    withRealCli(
      [
        FakeApi.error(429, { retryAfterSeconds: 2 }),
        FakeApi.error(429, { retryAfterSeconds: 2 }),
        FakeApi.text("Recovered after the rate limit.")
      ],
      (options, api) =>
        Effect.gen(function*() {
          const env = { ...options.env, CLAUDE_CODE_MAX_RETRIES: "1" }
          const [events, ms] = yield* timed(Claude.query("hi", { ...options, env }).pipe(Stream.runCollect))
          const cliRetry = events.find((e) => e._tag === "ApiRetry")
          assert.isTrue(cliRetry?._tag === "ApiRetry" && cliRetry.status === 429 && (cliRetry.delayMs ?? 0) >= 2000)
          const [retrying] = retryings(events)
          assert.strictEqual(retrying?.reason._tag, "RateLimited")
          // At least the CLI's wait; the CLI's retry counted against the budget (F20), so the backoff is at
          // its second step (2 s ±20 %) and may be the longer of the two.
          assert.isAtLeast(retrying?.delayMs ?? 0, cliRetry?._tag === "ApiRetry" ? (cliRetry.delayMs ?? 0) : Infinity)
          assert.isAtLeast(ms, 4000, "two waits of at least the 2 s retry-after")
          const result = events.at(-1)
          assert.isTrue(result?._tag === "Result" && result.error === undefined)
          assert.strictEqual((yield* api.conversationRequests).length, 3)
          yield* Console.log(
            `F13 429 x2 (retry-after 2 s, CLI retries 1) then success: ${ms} ms, CLI wait ${
              cliRetry?._tag === "ApiRetry" ? cliRetry.delayMs : "?"
            } ms, library retry after ${retrying?.delayMs} ms`
          )
        })
    ))

  it.live("F13: a 529, then success: the turn succeeds after the backoff", () =>
    withRealCli([FakeApi.error(529), FakeApi.text("Recovered after the overload.")], (options, api) =>
      Effect.gen(function*() {
        const [events, ms] = yield* timed(Claude.query("hi", options).pipe(Stream.runCollect))
        const [retrying] = retryings(events)
        assert.strictEqual(retrying?.reason._tag, "Overloaded")
        assert.isTrue((retrying?.delayMs ?? 0) >= 800 && (retrying?.delayMs ?? 0) <= 1200, "the first backoff: 1 s ±20 %")
        const result = events.at(-1)
        assert.isTrue(result?._tag === "Result" && result.error === undefined)
        assert.deepStrictEqual(texts(events).at(-1), "Recovered after the overload.")
        assert.strictEqual((yield* api.conversationRequests).length, 2)
        yield* Console.log(`F13 529 then success: ${ms} ms, retry delay ${retrying?.delayMs} ms`)
      })))

  it.live("F13: 529s past the last retry: the stream fails with Overloaded after the whole backoff", () =>
    withRealCli(() => FakeApi.error(529), (options, api) =>
      Effect.gen(function*() {
        const [exit, ms] = yield* timed(Claude.query("hi", options).pipe(Stream.runCollect, Effect.exit))
        assert.isTrue(Exit.isFailure(exit))
        const reason = Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error.reason : undefined
        assert.strictEqual(reason?._tag, "Overloaded")
        assert.strictEqual((yield* api.conversationRequests).length, 3)
        yield* Console.log(`F13 529 until the policy ends (2 retries): ${ms} ms`)
      }), { retry: { times: 2 } }))

  it.live("F13: the circuit opens after repeated 529s, rejects at once without spawning, and a probe after its window closes it", () =>
    withRealCli(
      [FakeApi.error(529), FakeApi.error(529), FakeApi.text("The API is back.")],
      (options, api) =>
        Effect.gen(function*() {
          const failed = (exit: Exit.Exit<unknown, { readonly reason: { readonly _tag: string } }>) =>
            Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error.reason : undefined
          const run = Claude.query("hi", options).pipe(Stream.runCollect, Effect.exit, timed)
          const [first] = yield* run
          const [second] = yield* run
          assert.strictEqual(failed(first)?._tag, "Overloaded")
          assert.strictEqual(failed(second)?._tag, "Overloaded")
          const [rejected, rejectedMs] = yield* run
          const reason = failed(rejected)
          assert.strictEqual(reason?._tag, "CircuitOpen")
          assert.strictEqual((yield* api.conversationRequests).length, 2, "the rejected turn reached no API")
          assert.isBelow(rejectedMs, 500)
          yield* Effect.sleep("1100 millis")
          const [probe, probeMs] = yield* run
          assert.isTrue(Exit.isSuccess(probe))
          const resilience = yield* Resilience.Resilience
          assert.strictEqual((yield* resilience.circuitState(options))._tag, "Closed")
          yield* Console.log(`F13 circuit: open rejection in ${rejectedMs} ms; probe after the 1 s window succeeded in ${probeMs} ms`)
        }),
      { retry: { times: 0 }, circuitBreaker: { tripPolicy: CircuitBreaker.consecutive(2), openDuration: "1 second" } }
    ))

  it.live("F20: the API answers 500 forever, default settings: ApiError after 4 requests, well within the 60 s deadline; the CLI's retries open the circuit at the next query's first failure, and the one after is rejected unsent", () =>
    withRealCli(() => FakeApi.error(500), (options, api) =>
      Effect.gen(function*() {
        // The CLI's own retries as they are by default (10), not turned off as for the other tests.
        const { CLAUDE_CODE_MAX_RETRIES: _off, ...env } = options.env ?? {}
        const run = collect(Claude.query("hi", { ...options, env }))
        const requests = Effect.map(api.conversationRequests, (all) => all.length)

        const first = yield* run
        const reason = failed(first.exit)
        assert.strictEqual(reason?._tag, "ApiError", `failed with ${reason?._tag}`)
        assert.strictEqual(reason?._tag === "ApiError" ? reason.status : undefined, 500)
        // The first request and the CLI's 3 retries of the budget; its 4th retry is one too many.
        assert.strictEqual(apiRetryCount(first.events), 4)
        assert.strictEqual(retryings(first.events).length, 0, "no retry of the library's on top")
        assert.strictEqual(yield* requests, 4)
        assert.isBelow(first.ms, 60_000, "within the deadline")

        // 4 failures so far; this query's first is the 5th in a row (consecutive(5)): the circuit opens.
        const second = yield* run
        assert.strictEqual(failed(second.exit)?._tag, "CircuitOpen", `failed with ${failed(second.exit)?._tag}`)
        assert.strictEqual(apiRetryCount(second.events), 1)
        assert.strictEqual(yield* requests, 5)

        const third = yield* run
        assert.strictEqual(failed(third.exit)?._tag, "CircuitOpen")
        assert.strictEqual(yield* requests, 5, "the rejected query reached no API")
        yield* Console.log(
          `F20 500 forever, default settings: ApiError in ${first.ms} ms (4 requests); CircuitOpen in ${second.ms} ms (1 request), then in ${third.ms} ms (none)`
        )
      })))

  it.live("F14: a tool ran, then the CLI was killed: the retry resumes the session with --resume, the tool does not run again", () =>
    withRealCli(
      [
        FakeApi.toolUse("Bash", { command: "echo ran >> \"$HOME/tool-runs.txt\" && echo hi-from-tool", description: "Record a run" }),
        FakeApi.hang(),
        FakeApi.text("Done after the resume.")
      ],
      (options, api, home) =>
        Effect.gen(function*() {
          const prompt = "please run the recorder tool once"
          const started = Date.now()
          const fiber = yield* Claude.query(prompt, { ...options, allowedTools: ["Bash"] }).pipe(
            Stream.runCollect,
            Effect.forkChild
          )
          // The second API call (after the tool's result) hangs: the tool ran. Now the CLI dies.
          yield* api.awaitConversationRequests(2).pipe(Effect.timeout("30 seconds"))
          const pids = processesWithHome(home)
          assert.isAbove(pids.length, 0)
          for (const pid of pids) process.kill(pid, "SIGKILL")
          const events = yield* Fiber.join(fiber).pipe(Effect.timeout("60 seconds"))
          const ms = Date.now() - started

          const [retrying] = retryings(events)
          assert.strictEqual(retrying?.reason._tag, "ProcessCrashed")
          const first = events.find((e) => e._tag === "SessionStarted")
          const sessionId = first?._tag === "SessionStarted" ? first.sessionId : "?"
          assert.strictEqual(retrying?.resume, sessionId)
          const result = events.at(-1)
          assert.isTrue(result?._tag === "Result" && result.error === undefined && result.sessionId === sessionId)
          assert.deepStrictEqual(texts(events).at(-1), "Done after the resume.")

          // The tool ran once; the resumed request carries its result, the prompt once, and the continuation.
          assert.strictEqual(fs.readFileSync(path.join(home, "tool-runs.txt"), "utf8"), "ran\n")
          const requests = yield* api.conversationRequests
          assert.strictEqual(requests.length, 3)
          const last = requests[2]
          const userTexts = last === undefined ? [] : FakeApi.userTexts(last)
          assert.strictEqual(userTexts.filter((text) => text.includes(prompt)).length, 1, "the prompt is not sent again")
          assert.isTrue(userTexts.some((text) => text.includes(Resilience.defaultContinuationPrompt)))
          assert.include(JSON.stringify(last?.body), "hi-from-tool")
          yield* Console.log(`F14 tool ran, CLI SIGKILLed, resumed: ${ms} ms in all, retry delay ${retrying?.delayMs} ms`)
        })
    ))
})

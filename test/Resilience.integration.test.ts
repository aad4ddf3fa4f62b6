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

const failureOf = (exit: Exit.Exit<unknown, { readonly reason: ClaudeError.Reason }>) =>
  Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error.reason : undefined

// F14: a Bash tool whose every run appends a line to $HOME/tool-runs.txt. The model asks for it once; a
// resumed attempt (its request carries the continuation prompt) is answered with the same call again, as a
// model that cannot see the first run would: a resume from a transcript without it would run the tool twice.
const f14Prompt = "please run the recorder tool once"
const recorder = "echo ran >> \"$HOME/tool-runs.txt\" && echo hi-from-tool"
// The same, then waiting for a file nobody creates: only the kill ends it.
const blocking = `${recorder} && while [ ! -f "$HOME/never" ]; do sleep 0.05; done`

const f14Script = (command: string, onFirstRequest: { run?: () => void } = {}): FakeApi.Script => (request, index) => {
  if (FakeApi.userTexts(request).some((text) => text.includes(Resilience.defaultContinuationPrompt))) {
    // The model sees the tool's output only when the transcript kept it; else it calls the tool again.
    return JSON.stringify(request.body).includes("hi-from-tool")
      ? FakeApi.text("Done after the resume.")
      : FakeApi.toolUse("Bash", { command: recorder, description: "Record a run" })
  }
  if (index > 0) return FakeApi.hang()
  onFirstRequest.run?.()
  return FakeApi.toolUse("Bash", { command, description: "Record a run" })
}

/** Blocks the test process (the FakeApi in it included) until `check` holds, polling every 10 ms, at most `ms`. */
const holdUntil = (check: () => boolean, ms: number): boolean => {
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (const deadline = Date.now() + ms; Date.now() < deadline; Atomics.wait(pause, 0, 0, 10)) {
    if (check()) return true
  }
  return check()
}

const runsOf = (home: string) => {
  const file = path.join(home, "tool-runs.txt")
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : ""
}

/** The CLI's project directory for the F14 tests' cwd (`<home>/work`). */
const projectDir = (home: string) =>
  path.join(home, ".claude", "projects", path.join(home, "work").replace(/[^a-zA-Z0-9]/g, "-"))

/** SIGKILLs every process of the test's HOME; one that ended meanwhile (a tool's `sleep 0.05`) is fine. */
const killAll = (home: string) => {
  const pids = processesWithHome(home)
  assert.isAbove(pids.length, 0)
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL")
    } catch (error) {
      if (!(error instanceof Error && "code" in error && error.code === "ESRCH")) throw error
    }
  }
}

/** Starts the F14 query on a fiber, keeping its events as they arrive. */
const startF14 = (options: ClaudeOptions.Input, home: string) =>
  Effect.gen(function*() {
    const cwd = path.join(home, "work")
    fs.mkdirSync(cwd, { recursive: true })
    const events: Array<ClaudeEvent> = []
    const fiber = yield* Claude.query(f14Prompt, { ...options, cwd, allowedTools: ["Bash"] }).pipe(
      Stream.runForEach((event) => Effect.sync(() => events.push(event))),
      Effect.exit,
      Effect.forkChild
    )
    const sessionId = () => {
      const started = events.find((e) => e._tag === "SessionStarted")
      return started?._tag === "SessionStarted" ? started.sessionId : undefined
    }
    const transcriptPath = () => path.join(projectDir(home), `${sessionId() ?? "?"}.jsonl`)
    return {
      fiber,
      events,
      sessionId,
      transcriptPath,
      transcript: () => {
        const file = transcriptPath()
        return fs.existsSync(file) && fs.statSync(file).isFile() ? fs.readFileSync(file, "utf8") : ""
      },
      toolUse: () => {
        const found = events.find((e) => e._tag === "ToolUse")
        return found?._tag === "ToolUse" ? found : undefined
      }
    }
  })

const apiRetryCount = (events: ReadonlyArray<ClaudeEvent>) => events.filter((e) => e._tag === "ApiRetry").length

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
    withRealCli(
      [FakeApi.error(429, { retryAfterSeconds: 2 }), FakeApi.text("Recovered after the rate limit.")],
      (options, api) =>
        Effect.gen(function*() {
          const [events, ms] = yield* timed(Claude.query("hi", options).pipe(Stream.runCollect))
          const [retrying] = retryings(events)
          // CLI 2.1.329 does not pass the retry-after header on when it gives up: the library's backoff applies.
          assert.strictEqual(retrying?.reason._tag, "RateLimited")
          assert.isTrue(
            (retrying?.delayMs ?? 0) >= 800 && (retrying?.delayMs ?? 0) <= 1200,
            "the first backoff: 1 s ±20 %"
          )
          const result = events.at(-1)
          assert.isTrue(result?._tag === "Result" && result.error === undefined)
          assert.deepStrictEqual(texts(events).at(-1), "Recovered after the rate limit.")
          assert.strictEqual((yield* api.conversationRequests).length, 2)
          yield* Console.log(
            `F13 429 (retry-after 2 s, CLI retries off) then success: ${ms} ms, library retry after ${retrying?.delayMs} ms`
          )
        })
    ))

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
    withRealCli(
      [FakeApi.error(529), FakeApi.text("Recovered after the overload.")],
      (options, api) =>
        Effect.gen(function*() {
          const [events, ms] = yield* timed(Claude.query("hi", options).pipe(Stream.runCollect))
          const [retrying] = retryings(events)
          assert.strictEqual(retrying?.reason._tag, "Overloaded")
          assert.isTrue(
            (retrying?.delayMs ?? 0) >= 800 && (retrying?.delayMs ?? 0) <= 1200,
            "the first backoff: 1 s ±20 %"
          )
          const result = events.at(-1)
          assert.isTrue(result?._tag === "Result" && result.error === undefined)
          assert.deepStrictEqual(texts(events).at(-1), "Recovered after the overload.")
          assert.strictEqual((yield* api.conversationRequests).length, 2)
          yield* Console.log(`F13 529 then success: ${ms} ms, retry delay ${retrying?.delayMs} ms`)
        })
    ))

  it.live("F13: 529s past the last retry: the stream fails with Overloaded after the whole backoff", () =>
    withRealCli(() => FakeApi.error(529), (options, api) =>
      Effect.gen(function*() {
        const [exit, ms] = yield* timed(Claude.query("hi", options).pipe(Stream.runCollect, Effect.exit))
        assert.isTrue(Exit.isFailure(exit))
        const reason = Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail"
          ? exit.cause.reasons[0].error.reason
          : undefined
        assert.strictEqual(reason?._tag, "Overloaded")
        assert.strictEqual((yield* api.conversationRequests).length, 3)
        yield* Console.log(`F13 529 until the policy ends (2 retries): ${ms} ms`)
      }), { retry: { times: 2 } }))

  it.live("F13: the circuit opens after repeated 529s, rejects at once without spawning, and a probe after its window closes it", () =>
    withRealCli(
      [FakeApi.error(529), FakeApi.error(529), FakeApi.text("The API is back.")],
      (options, api) =>
        Effect.gen(function*() {
          const run = Claude.query("hi", options).pipe(Stream.runCollect, Effect.exit, timed)
          const [first] = yield* run
          const [second] = yield* run
          assert.strictEqual(failureOf(first)?._tag, "Overloaded")
          assert.strictEqual(failureOf(second)?._tag, "Overloaded")
          const [rejected, rejectedMs] = yield* run
          const reason = failureOf(rejected)
          assert.strictEqual(reason?._tag, "CircuitOpen")
          assert.strictEqual((yield* api.conversationRequests).length, 2, "the rejected turn reached no API")
          assert.isBelow(rejectedMs, 500)
          yield* Effect.sleep("1100 millis")
          const [probe, probeMs] = yield* run
          assert.isTrue(Exit.isSuccess(probe))
          const resilience = yield* Resilience.Resilience
          assert.strictEqual((yield* resilience.circuitState(options))._tag, "Closed")
          yield* Console.log(
            `F13 circuit: open rejection in ${rejectedMs} ms; probe after the 1 s window succeeded in ${probeMs} ms`
          )
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
        const reason = failureOf(first.exit)
        assert.strictEqual(reason?._tag, "ApiError", `failed with ${reason?._tag}`)
        assert.strictEqual(reason?._tag === "ApiError" ? reason.status : undefined, 500)
        // The first request and the CLI's 3 retries of the budget; its 4th retry is one too many.
        assert.strictEqual(apiRetryCount(first.events), 4)
        assert.strictEqual(retryings(first.events).length, 0, "no retry of the library's on top")
        assert.strictEqual(yield* requests, 4)
        assert.isBelow(first.ms, 60_000, "within the deadline")

        // 4 failures so far; this query's first is the 5th in a row (consecutive(5)): the circuit opens.
        const second = yield* run
        assert.strictEqual(failureOf(second.exit)?._tag, "CircuitOpen", `failed with ${failureOf(second.exit)?._tag}`)
        assert.strictEqual(apiRetryCount(second.events), 1)
        assert.strictEqual(yield* requests, 5)

        const third = yield* run
        assert.strictEqual(failureOf(third.exit)?._tag, "CircuitOpen")
        assert.strictEqual(yield* requests, 5, "the rejected query reached no API")
        yield* Console.log(
          `F20 500 forever, default settings: ApiError in ${first.ms} ms (4 requests); CircuitOpen in ${second.ms} ms (1 request), then in ${third.ms} ms (none)`
        )
      })))

  // F14 on the real CLI, each window made certain rather than raced: the test polls the transcript file (or
  // keeps the CLI from writing it: a regular file where its project directory goes makes every write fail,
  // and the CLI carries on), waits for the tool's side effect, and only then SIGKILLs the CLI.
  it.live("F14: killed after the tool's result reached the transcript (polled): the retry resumes with --resume, the tool runs once", () =>
    withRealCli(f14Script(recorder), (options, api, home) =>
      Effect.gen(function*() {
        const run = yield* startF14(options, home)
        const toolUse = yield* eventually(() => run.toolUse(), "30 seconds")
        // The window after: the transcript holds the tool's result.
        yield* eventually(
          () => (run.transcript().includes(`"tool_use_id":"${toolUse.id}"`) ? true : undefined),
          "30 seconds"
        )
        assert.strictEqual(runsOf(home), "ran\n")
        killAll(home)
        const exit = yield* Fiber.join(run.fiber).pipe(Effect.timeout("60 seconds"))
        assert.isTrue(Exit.isSuccess(exit))

        const [retrying] = retryings(run.events)
        assert.strictEqual(retrying?.reason._tag, "ProcessCrashed")
        assert.strictEqual(retrying?.resume, run.sessionId())
        const result = run.events.at(-1)
        assert.isTrue(result?._tag === "Result" && result.error === undefined && result.sessionId === run.sessionId())
        assert.deepStrictEqual(texts(run.events).at(-1), "Done after the resume.")

        // The tool ran once; the resumed request carries its result, the prompt once, and the continuation.
        assert.strictEqual(runsOf(home), "ran\n")
        const last = (yield* api.conversationRequests).at(-1)
        const userTexts = last === undefined ? [] : FakeApi.userTexts(last)
        assert.strictEqual(
          userTexts.filter((text) => text.includes(f14Prompt)).length,
          1,
          "the prompt is not sent again"
        )
        assert.isTrue(userTexts.some((text) => text.includes(Resilience.defaultContinuationPrompt)))
        assert.include(JSON.stringify(last?.body), "hi-from-tool")
        yield* Console.log(`F14 after the transcript write: resumed, retry delay ${retrying?.delayMs} ms`)
      })))

  it.live("F14: killed after a tool ran, before any transcript reached disk: TranscriptLost, nothing resent, the tool never runs again", () =>
    withRealCli(f14Script(recorder), (options, api, home) =>
      Effect.gen(function*() {
        // Nothing of the session can reach disk: its project directory is a regular file.
        const blocker = projectDir(home)
        fs.mkdirSync(path.dirname(blocker), { recursive: true })
        fs.writeFileSync(blocker, "")
        const run = yield* startF14(options, home)
        // The tool ran and its result went back to the model: the window the CLI's ~100 ms timer leaves.
        yield* eventually(() => (runsOf(home) === "ran\n" ? true : undefined), "30 seconds")
        yield* api.awaitConversationRequests(2, "30 seconds")
        killAll(home)
        fs.rmSync(blocker)
        const exit = yield* Fiber.join(run.fiber).pipe(Effect.timeout("60 seconds"))

        const reason = failureOf(exit)
        assert.strictEqual(reason?._tag, "TranscriptLost")
        if (reason?._tag === "TranscriptLost") {
          assert.strictEqual(reason.sessionId, run.sessionId())
          assert.strictEqual(reason.transcript, "missing")
          assert.isTrue(reason.toolsMayHaveRun)
        }
        assert.isFalse(fs.existsSync(run.transcriptPath()), "no transcript on disk")
        assert.strictEqual(runsOf(home), "ran\n", "the tool ran once")
        assert.strictEqual(
          (yield* api.conversationRequests).length,
          2,
          "neither the prompt nor a continuation was sent"
        )
        yield* Console.log(`F14 before any transcript write: ${reason?._tag}`)
      })))

  const firstRequest: { run?: () => void } = {}
  it.live("F14: killed after a tool ran, its call not yet in the transcript (the prompt is): TranscriptLost, the tool never runs again", () =>
    withRealCli(f14Script(recorder, firstRequest), (options, api, home) =>
      Effect.gen(function*() {
        // The model's tool call is held back (the FakeApi answers nothing) until the transcript holds the
        // prompt; then its writes are blocked, before the CLI can know of the call.
        const dir = projectDir(home)
        let held = false
        firstRequest.run = () => {
          const holdsPrompt = () =>
            fs.existsSync(dir) && fs.readdirSync(dir).some((name) =>
              name.endsWith(".jsonl") && fs.readFileSync(path.join(dir, name), "utf8").includes(f14Prompt)
            )
          held = holdUntil(holdsPrompt, 20_000)
          fs.renameSync(dir, `${dir}.held`)
          fs.writeFileSync(dir, "")
        }
        const run = yield* startF14(options, home)
        yield* eventually(() => (runsOf(home) === "ran\n" ? true : undefined), "30 seconds")
        yield* api.awaitConversationRequests(2, "30 seconds")
        killAll(home)
        fs.rmSync(dir)
        fs.renameSync(`${dir}.held`, dir)
        assert.isTrue(held, "the transcript held the prompt before the tool call existed")
        assert.include(run.transcript(), f14Prompt)
        assert.notInclude(run.transcript(), `"id":"${run.toolUse()?.id}"`)
        const exit = yield* Fiber.join(run.fiber).pipe(Effect.timeout("60 seconds"))

        const reason = failureOf(exit)
        assert.strictEqual(reason?._tag, "TranscriptLost")
        if (reason?._tag === "TranscriptLost") {
          assert.strictEqual(reason.transcript, "incomplete")
          assert.isTrue(reason.toolsMayHaveRun)
          assert.deepStrictEqual(reason.toolUseIds, [run.toolUse()?.id ?? "?"])
        }
        assert.strictEqual(runsOf(home), "ran\n", "the tool ran once")
        assert.strictEqual(
          (yield* api.conversationRequests).length,
          2,
          "neither the prompt nor a continuation was sent"
        )
        yield* Console.log(`F14 tool call not on disk: ${reason?._tag}`)
      })))

  it.live("F14: killed mid-tool, the transcript holding its call without a result: TranscriptLost, never a resume that could run it again", () =>
    withRealCli(f14Script(blocking), (options, api, home) =>
      Effect.gen(function*() {
        const run = yield* startF14(options, home)
        const toolUse = yield* eventually(() => run.toolUse(), "30 seconds")
        // The tool started (its side effect exists) and cannot finish; its call is on disk, its result cannot be.
        yield* eventually(() => (runsOf(home) === "ran\n" ? true : undefined), "30 seconds")
        yield* eventually(() => (run.transcript().includes(`"id":"${toolUse.id}"`) ? true : undefined), "30 seconds")
        killAll(home)
        const exit = yield* Fiber.join(run.fiber).pipe(Effect.timeout("60 seconds"))

        const reason = failureOf(exit)
        assert.strictEqual(reason?._tag, "TranscriptLost")
        if (reason?._tag === "TranscriptLost") {
          assert.strictEqual(reason.transcript, "incomplete")
          assert.deepStrictEqual(reason.toolUseIds, [toolUse.id])
        }
        assert.notInclude(run.transcript(), `"tool_use_id":"${toolUse.id}"`)
        assert.strictEqual(runsOf(home), "ran\n", "the tool ran once")
        assert.strictEqual(
          (yield* api.conversationRequests).length,
          1,
          "neither the prompt nor a continuation was sent"
        )
        yield* Console.log(`F14 dangling tool call: ${reason?._tag}`)
      })))
})

import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import {
  Config,
  ConfigProvider,
  Context,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  Metric,
  Option,
  Predicate,
  Redacted,
  References,
  Schedule,
  Stream
} from "effect"
import { CircuitBreaker } from "effect/persistence"
import { ChildProcessSpawner } from "effect/process"
import { TestClock } from "effect/testing"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import * as ClaudeError from "../src/ClaudeError.ts"
import { ClaudeEvent } from "../src/ClaudeEvent.ts"
import * as Metrics from "../src/Metrics.ts"
import * as ProcessManager from "../src/ProcessManager.ts"
import * as Resilience from "../src/Resilience.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import * as TokenManager from "../src/TokenManager.ts"
import { pumpClockOnFailure, settleUntil, tempDir, withSleepProbe } from "./utils.ts"

// Claude.query with a Resilience layer on in-process fake CLIs: every backoff, every open circuit is on the
// TestClock. Two fakes sit behind one spawner, so a test decides what a newly spawned CLI does: the
// `primary` script, or the `secondary` one (for processes started with `--resume`, or once the "API"
// is healthy again).

const executable = FakeSpawner.executable
const options = { executable, timeouts: { shutdownGrace: 1000 } } as const

class Fakes extends Context.Service<Fakes, {
  readonly primary: FakeSpawner.FakeSpawnerState["Service"]
  readonly secondary: FakeSpawner.FakeSpawnerState["Service"]
}>()("test/Resilience/Fakes") {}

const TwoFakes = (
  primary: FakeSpawner.Script,
  secondary: FakeSpawner.Script,
  useSecondary: (args: ReadonlyArray<string>) => boolean
) =>
  Layer.syncContext(() => {
    const a = FakeSpawner.make(primary)
    const b = FakeSpawner.make(secondary)
    const spawner = ChildProcessSpawner.make((command) => {
      const args = command._tag === "StandardCommand"
        ? command.args.map((word) => (Redacted.isRedacted(word) ? Redacted.value(word) : word))
        : []
      return useSecondary(args) ? b.spawner.spawn(command) : a.spawner.spawn(command)
    })
    return Context.make(ChildProcessSpawner.ChildProcessSpawner, spawner).pipe(
      Context.add(Fakes, Fakes.of({ primary: a.state, secondary: b.state }))
    )
  })

const ClaudeOn = (
  fakes: Layer.Layer<ChildProcessSpawner.ChildProcessSpawner | Fakes>,
  resilience: Resilience.Settings,
  pool: SessionPool.Settings = { minIdle: 0 }
) => ClaudeWith(fakes, Resilience.layer(resilience), pool)

const ClaudeWith = (
  fakes: Layer.Layer<ChildProcessSpawner.ChildProcessSpawner | Fakes>,
  resilience: Layer.Layer<
    Resilience.Resilience,
    Config.ConfigError,
    Layer.Services<ReturnType<typeof Resilience.layer>>
  >,
  pool: SessionPool.Settings = { minIdle: 0 }
) =>
  Claude.layerNoDeps.pipe(
    Layer.provideMerge(Layer.merge(SessionPool.layer(pool), resilience)),
    Layer.provideMerge(ProcessManager.layer()),
    Layer.provide(TokenManager.layerTest(Option.none())),
    Layer.provideMerge(fakes),
    Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
  )

const resumed = (args: ReadonlyArray<string>) => args.some((arg) => arg.startsWith("--resume="))

/** The first CLI session runs the primary script, every later one the secondary. */
const afterFirstSession = () => {
  let spawned = 0
  return (args: ReadonlyArray<string>) => !args.includes("--version") && spawned++ >= 1
}

const sessions = (state: FakeSpawner.FakeSpawnerState["Service"]) =>
  Effect.map(state.processes, (processes) => processes.filter((p) => p.kind === "session"))

/** Every user message the fakes of a state got (prompts, `/clear`s and continuations). */
const userTexts = (processes: ReadonlyArray<FakeSpawner.ProcessRecord>) =>
  processes.flatMap((p) =>
    p.stdin.flatMap((line) => {
      if (!Predicate.isObject(line) || line["type"] !== "user") return []
      const message = line["message"]
      const content = Predicate.isObject(message) ? message["content"] : undefined
      if (typeof content === "string") return [content]
      if (!Array.isArray(content)) return []
      return [
        content.flatMap((block: unknown) =>
          Predicate.isObject(block) && typeof block["text"] === "string" ? [block["text"]] : []
        ).join("\n")
      ]
    })
  ).filter((text) => text !== "/clear")

const turnsStarted = (state: FakeSpawner.FakeSpawnerState["Service"]) =>
  Effect.map(sessions(state), (processes) => processes.reduce((sum, p) => sum + p.turns, 0))

/**
 * Runs a query on a fiber, keeping its events as they arrive. `until` lets fibers (and the real I/O of
 * the executable check before a spawn) run until a condition holds; no Clock time passes.
 */
const start = (prompt: string, queryOptions: Parameters<typeof Claude.query>[1] = options) =>
  Effect.gen(function*() {
    const events: Array<ClaudeEvent> = []
    const fiber = yield* Claude.query(prompt, queryOptions).pipe(
      Stream.runForEach((event) => Effect.sync(() => events.push(event))),
      Effect.exit,
      Effect.forkChild
    )
    return { fiber, events }
  })

const until = (condition: () => boolean, what: string) =>
  Effect.asVoid(settleUntil(() => (condition() ? true : undefined), what))

const isDone = <A, E>(fiber: Fiber.Fiber<A, E>) => fiber.pollUnsafe() !== undefined

const failureOf = <A>(exit: Exit.Exit<A, ClaudeError.ClaudeError>): ClaudeError.Reason | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const reason = exit.cause.reasons[0]
  return reason?._tag === "Fail" ? reason.error.reason : undefined
}

const retryings = (events: ReadonlyArray<ClaudeEvent>) =>
  events.filter((e): e is Extract<ClaudeEvent, { readonly _tag: "Retrying" }> => e._tag === "Retrying")

const results = (events: ReadonlyArray<ClaudeEvent>) =>
  events.filter((e): e is Extract<ClaudeEvent, { readonly _tag: "Result" }> => e._tag === "Result")

const retriesOf = (reason: string) =>
  Effect.map(Metric.value(Metric.withAttributes(Metrics.retriesTotal, { reason })), (state) => state.count)

/** Runs a query to its end (no Clock time needed: no retry may happen). */
const runNow = (prompt: string, queryOptions: Parameters<typeof Claude.query>[1] = options) =>
  Effect.gen(function*() {
    const { events, fiber } = yield* start(prompt, queryOptions)
    yield* until(() => isDone(fiber), `${prompt} done`)
    return { events, exit: yield* Fiber.join(fiber) }
  })

/**
 * F14: a CLI config dir of the test's own, and the transcript of `sessionId` in it, in the real CLI's shape
 * (one JSON entry a line; tool calls in `assistant` entries, their results in `user` entries).
 */
const configDir = Effect.map(tempDir("f14-config"), (dir) => ({
  dir,
  options: { ...options, env: { CLAUDE_CONFIG_DIR: dir } },
  write: (sessionId: string, toolUseIds: ReadonlyArray<string>, withResults: boolean) => {
    const project = path.join(dir, "projects", "-tmp-f14")
    fs.mkdirSync(project, { recursive: true })
    const entry = (type: string, content: ReadonlyArray<unknown>) =>
      JSON.stringify({ type, isSidechain: false, sessionId, message: { role: type, content } })
    const lines = [
      entry("user", [{ type: "text", text: "run the migration" }]),
      ...toolUseIds.flatMap((id) => [
        entry("assistant", [{ type: "tool_use", id, name: "Bash", input: {} }]),
        ...(withResults ? [entry("user", [{ type: "tool_result", tool_use_id: id, content: "hi-from-tool" }])] : [])
      ])
    ]
    fs.writeFileSync(path.join(project, `${sessionId}.jsonl`), `${lines.join("\n")}\n`)
  }
}))

/** What the real CLI does on `--resume` of a session it has no transcript of (2.1.329): stderr, then exit 1. */
const noConversation: FakeSpawner.Script = {
  stderr: "No conversation found with session ID: 0b7a3f4e-1111-4222-8333-444455556666",
  turns: [{ crash: { exitCode: 1 } }]
}

/** The TranscriptLost a turn failed with, as plain fields (`undefined` for any other outcome). */
const transcriptLost = <A>(exit: Exit.Exit<A, ClaudeError.ClaudeError>) => {
  const reason = failureOf(exit)
  if (reason?._tag !== "TranscriptLost") return undefined
  assert.isFalse(reason.isRetryable)
  assert.include(reason.message, "not sent again")
  const { sessionId, transcript, toolsMayHaveRun, toolUseIds } = reason
  return { sessionId, transcript, toolsMayHaveRun, toolUseIds }
}

const toolUseIdsOf = (events: ReadonlyArray<ClaudeEvent>) => events.flatMap((e) => (e._tag === "ToolUse" ? [e.id] : []))

/** The host's variables, with `variables` over them. */
const overHost = (variables: Record<string, string>) =>
  ConfigProvider.orElse(ConfigProvider.fromEnv({ env: variables }), ConfigProvider.fromEnv())

const overloaded: FakeSpawner.Turn = { result: { apiErrorStatus: 529 } }

/** Every turn of the primary CLI answered 529, one CLI per attempt and none spare: spawns count attempts. */
const OverloadedOneCliPerAttempt = (
  resilience: Resilience.Settings,
  useSecondary: (args: ReadonlyArray<string>) => boolean = () => false
) => ClaudeOn(TwoFakes({ turns: [overloaded] }, {}, useSecondary), resilience, { minIdle: 0, maxTurnsPerProcess: 1 })
const noJitter = { retry: { jitter: false } } as const

describe("Resilience: retry (FakeSpawner, TestClock)", () => {
  it.effect("F13: a 529, then success after the backoff; the stream marks the retry between the attempts", () =>
    withSleepProbe((probe) =>
      Effect.gen(function*() {
        const { primary } = yield* Fakes
        const { events, fiber } = yield* start("hello")
        yield* until(() => retryings(events).length === 1, "the Retrying event")
        const [retrying] = retryings(events)
        assert.strictEqual(retrying?.attempt, 1)
        assert.strictEqual(retrying?.reason._tag, "Overloaded")
        assert.isUndefined(retrying?.resume, "no tool ran: the prompt is sent again")
        // The default policy's first delay: 1 s, jittered by ±20 %.
        const delayMs = retrying?.delayMs ?? 0
        assert.isTrue(delayMs >= 800 && delayMs <= 1200, `delay ${delayMs}`)

        const backoff = yield* probe.parked(delayMs, "the backoff")
        yield* TestClock.adjust(Duration.millis(delayMs - 1))
        // 1 ms short of its end the backoff is still a pending sleep: the next attempt cannot have started.
        assert.deepInclude(probe.pending(delayMs), backoff, "the backoff still waits")
        assert.strictEqual(yield* turnsStarted(primary), 1, "no second attempt before the backoff ran out")
        yield* TestClock.adjust("1 millis")
        yield* until(() => isDone(fiber), "the turn's end")
        const exit = yield* Fiber.join(fiber)
        assert.isTrue(Exit.isSuccess(exit))

        // Attempt 1's events (its failed Result included), the marker, attempt 2's events.
        const tags = events.map((e) => e._tag)
        const marker = tags.indexOf("Retrying")
        const [failed, final] = results(events)
        assert.strictEqual(failed?.error?._tag, "Overloaded")
        assert.isTrue(events.indexOf(failed!) < marker && marker < events.indexOf(final!))
        assert.strictEqual(tags.slice(marker + 1)[0], "SessionStarted", "the next attempt starts after the marker")
        assert.isUndefined(final?.error)
        assert.strictEqual(tags.at(-1), "Result")
        assert.deepStrictEqual(userTexts(yield* sessions(primary)), ["hello", "hello"])
        assert.strictEqual(yield* retriesOf("Overloaded"), 1)
      }).pipe(Effect.provide(ClaudeOn(TwoFakes({ turns: [overloaded, { text: "fine now" }] }, {}, () => false), {})))
    ).pipe(
      Effect.provideService(Metric.MetricRegistry, new Map()),
      pumpClockOnFailure
    ))

  it.effect("a non-retryable reason (401) fails at once: no retry, no Retrying event", () =>
    Effect.gen(function*() {
      const { primary } = yield* Fakes
      const { events, exit } = yield* runNow("hello")
      assert.strictEqual(failureOf(exit)?._tag, "AuthenticationFailed")
      assert.deepStrictEqual(retryings(events), [])
      assert.strictEqual(yield* turnsStarted(primary), 1)
      assert.strictEqual(yield* retriesOf("AuthenticationFailed"), 0)
    }).pipe(
      Effect.provide(ClaudeOn(TwoFakes({ turns: [{ result: { apiErrorStatus: 401 } }, {}] }, {}, () => false), {})),
      Effect.provideService(Metric.MetricRegistry, new Map()),
      pumpClockOnFailure
    ))

  it.effect("F13: a 429's retry-after is the minimum delay, above the backoff", () =>
    withSleepProbe((probe) =>
      Effect.gen(function*() {
        const { primary } = yield* Fakes
        const { events, fiber } = yield* start("hello")
        yield* until(() => retryings(events).length === 1, "the Retrying event")
        const [retrying] = retryings(events)
        assert.strictEqual(retrying?.reason._tag, "RateLimited")
        assert.strictEqual(retrying?.delayMs, 20_000)
        const backoff = yield* probe.parked(20_000, "the retry-after wait")
        yield* TestClock.adjust("19999 millis")
        assert.deepInclude(probe.pending(20_000), backoff, "the wait is still pending at 19.999 s")
        assert.strictEqual(yield* turnsStarted(primary), 1, "still waiting at 19.999 s")
        yield* TestClock.adjust("1 millis")
        yield* until(() => isDone(fiber), "the turn's end")
        assert.isTrue(Exit.isSuccess(yield* Fiber.join(fiber)))
        assert.strictEqual(yield* turnsStarted(primary), 2)
      }).pipe(
        Effect.provide(ClaudeOn(
          TwoFakes(
            {
              turns: [
                { result: { apiErrorStatus: 429, message: "API Error: 429 rate_limit_error (retry-after: 20)" } },
                {}
              ]
            },
            {},
            () => false
          ),
          noJitter
        ))
      )
    ).pipe(pumpClockOnFailure))

  it.effect("F13: a retry-after longer than maxRetryAfter fails at once with the exact retry-after", () =>
    Effect.gen(function*() {
      const { primary } = yield* Fakes
      const { events, exit } = yield* runNow("hello")
      const reason = failureOf(exit)
      assert.strictEqual(reason?._tag, "RateLimited")
      if (reason?._tag === "RateLimited") assert.strictEqual(reason.retryAfterMs, 600_000)
      assert.deepStrictEqual(retryings(events), [])
      assert.strictEqual(yield* turnsStarted(primary), 1)
    }).pipe(
      Effect.provide(ClaudeOn(
        TwoFakes(
          {
            turns: [
              { result: { apiErrorStatus: 429, message: "API Error: 429 rate_limit_error (retry-after: 600)" } },
              {}
            ]
          },
          {},
          () => false
        ),
        {}
      )),
      pumpClockOnFailure
    ))

  const crashAfterTool: FakeSpawner.Script = {
    turns: [{ toolUse: { name: "Bash" }, crash: { signal: "SIGKILL", afterFrames: 3 } }]
  }

  it.effect("F14: a tool_use, then a crash: the retry resumes the session with --resume and never resends the prompt", () =>
    Effect.gen(function*() {
      const { primary, secondary } = yield* Fakes
      const config = yield* configDir
      const { events, fiber } = yield* start("run the migration", config.options)
      yield* until(() => retryings(events).length === 1, "the Retrying event")
      const started = events.find((e) => e._tag === "SessionStarted")
      const sessionId = started?._tag === "SessionStarted" ? started.sessionId : "?"
      const [retrying] = retryings(events)
      assert.strictEqual(retrying?.reason._tag, "ProcessCrashed")
      assert.strictEqual(retrying?.resume, sessionId)
      assert.strictEqual(retrying?.sessionId, sessionId)
      // The CLI got its transcript to disk, the tool's result included: resuming is safe.
      config.write(sessionId, toolUseIdsOf(events), true)
      yield* TestClock.adjust(Duration.millis(retrying?.delayMs ?? 0))
      yield* until(() => isDone(fiber), "the turn's end")
      assert.isTrue(Exit.isSuccess(yield* Fiber.join(fiber)))

      // The first CLI ran the tool and died; the retry ran on a CLI started with --resume=<its session>.
      const [first] = yield* sessions(primary)
      assert.deepStrictEqual(first?.exit, { _tag: "Signaled", signal: "SIGKILL" })
      const second = (yield* sessions(secondary)).find((p) => userTexts([p]).length > 0)
      assert.include(second?.args ?? [], `--resume=${sessionId}`)
      // The prompt went to the first CLI only; the second got the continuation prompt.
      assert.deepStrictEqual(userTexts(yield* sessions(primary)), ["run the migration"])
      assert.deepStrictEqual(userTexts(yield* sessions(secondary)), [Resilience.defaultContinuationPrompt])

      const tags = events.map((e) => e._tag)
      assert.deepStrictEqual(tags.slice(0, tags.indexOf("Retrying") + 1), [
        "SessionStarted",
        "ToolUse",
        "ToolResult",
        "Retrying"
      ])
      assert.strictEqual(events.filter((e) => e._tag === "ToolUse").length, 1, "the tool ran once")
      const final = results(events).at(-1)
      assert.strictEqual(final?.sessionId, sessionId, "the same conversation goes on")
      assert.strictEqual(final?.text, "carried on")
    }).pipe(
      Effect.provide(ClaudeOn(TwoFakes(crashAfterTool, { turns: [{ text: "carried on" }] }, resumed), noJitter)),
      pumpClockOnFailure
    ))

  it.effect("F14: without CLAUDE_CONFIG_DIR in the options, the transcript is read where the context's ConfigProvider puts the host's", () =>
    Effect.gen(function*() {
      const { secondary } = yield* Fakes
      const config = yield* configDir
      assert.notStrictEqual(process.env.CLAUDE_CONFIG_DIR, config.dir)
      const { events, fiber } = yield* start("run the migration").pipe(
        Effect.provideService(ConfigProvider.ConfigProvider, overHost({ CLAUDE_CONFIG_DIR: config.dir }))
      )
      yield* until(() => retryings(events).length === 1, "the Retrying event")
      const [retrying] = retryings(events)
      const sessionId = retrying?.sessionId ?? "?"
      assert.strictEqual(retrying?.resume, sessionId)
      config.write(sessionId, toolUseIdsOf(events), true)
      yield* TestClock.adjust(Duration.millis(retrying?.delayMs ?? 0))
      yield* until(() => isDone(fiber), "the turn's end")
      assert.isTrue(Exit.isSuccess(yield* Fiber.join(fiber)), "the transcript was found: the turn resumed")
      assert.deepStrictEqual(userTexts(yield* sessions(secondary)), [Resilience.defaultContinuationPrompt])
    }).pipe(
      Effect.provide(ClaudeOn(TwoFakes(crashAfterTool, { turns: [{ text: "carried on" }] }, resumed), noJitter)),
      pumpClockOnFailure
    ))

  /** The F14 turn up to its backoff's end, with the transcript `prepare` leaves on disk; then its exit. */
  const lostTranscript = (
    prepare: (config: Effect.Success<typeof configDir>, sessionId: string, toolUseIds: ReadonlyArray<string>) => void
  ) =>
    Effect.gen(function*() {
      const config = yield* configDir
      const { events, fiber } = yield* start("run the migration", config.options)
      yield* until(() => retryings(events).length === 1, "the Retrying event")
      const [retrying] = retryings(events)
      const sessionId = retrying?.sessionId ?? "?"
      assert.strictEqual(retrying?.resume, sessionId)
      prepare(config, sessionId, toolUseIdsOf(events))
      yield* TestClock.adjust(Duration.millis(retrying?.delayMs ?? 0))
      yield* until(() => isDone(fiber), "the turn's end")
      return { events, sessionId, exit: yield* Fiber.join(fiber) }
    })

  it.effect("F14: a tool ran and the CLI died before its transcript reached disk: TranscriptLost, not resent, no CLI started to resume", () =>
    Effect.gen(function*() {
      const { primary, secondary } = yield* Fakes
      const { events, sessionId, exit } = yield* lostTranscript(() => {})
      const toolUseIds = toolUseIdsOf(events)
      assert.deepStrictEqual(transcriptLost(exit), {
        sessionId,
        transcript: "missing",
        toolsMayHaveRun: true,
        toolUseIds
      })
      assert.deepStrictEqual(userTexts(yield* sessions(primary)), ["run the migration"], "the prompt went once")
      assert.deepStrictEqual(yield* sessions(secondary), [], "no CLI was started to resume")
    }).pipe(Effect.provide(ClaudeOn(TwoFakes(crashAfterTool, {}, resumed), noJitter)), pumpClockOnFailure))

  it.effect("F14: the transcript holds a tool call without its result: TranscriptLost (incomplete), never a resume that could run it again", () =>
    Effect.gen(function*() {
      const { secondary } = yield* Fakes
      const { events, exit, sessionId } = yield* lostTranscript((config, id, ids) => config.write(id, ids, false))
      const toolUseIds = toolUseIdsOf(events)
      assert.deepStrictEqual(transcriptLost(exit), {
        sessionId,
        transcript: "incomplete",
        toolsMayHaveRun: true,
        toolUseIds
      })
      assert.deepStrictEqual(yield* sessions(secondary), [], "no CLI was started to resume")
    }).pipe(Effect.provide(ClaudeOn(TwoFakes(crashAfterTool, {}, resumed), noJitter)), pumpClockOnFailure))

  it.effect("F14: the transcript lacks a tool call the CLI reported: TranscriptLost (incomplete)", () =>
    Effect.gen(function*() {
      const { exit, events } = yield* lostTranscript((config, sessionId) => config.write(sessionId, [], false))
      assert.deepStrictEqual(transcriptLost(exit)?.toolUseIds, toolUseIdsOf(events))
      assert.strictEqual(transcriptLost(exit)?.transcript, "incomplete")
    }).pipe(Effect.provide(ClaudeOn(TwoFakes(crashAfterTool, {}, resumed), noJitter)), pumpClockOnFailure))

  it.effect("F14: a resume the CLI refuses with \"No conversation found\" (exit 1) fails with TranscriptLost, never ProcessExited(1)", () =>
    Effect.gen(function*() {
      const { secondary } = yield* Fakes
      const { events, sessionId, exit } = yield* lostTranscript((config, id, ids) => config.write(id, ids, true))
      const toolUseIds = toolUseIdsOf(events)
      assert.deepStrictEqual(transcriptLost(exit), {
        sessionId,
        transcript: "missing",
        toolsMayHaveRun: true,
        toolUseIds
      })
      assert.deepStrictEqual(
        userTexts(yield* sessions(secondary)),
        [Resilience.defaultContinuationPrompt],
        "only the continuation"
      )
    }).pipe(
      Effect.provide(ClaudeOn(TwoFakes(crashAfterTool, noConversation, resumed), noJitter)),
      pumpClockOnFailure
    ))

  it.effect("F14: a query resuming a session the CLI has no transcript of fails with TranscriptLost, no tool having run", () =>
    Effect.gen(function*() {
      const { events, exit } = yield* runNow("carry on", { ...options, resume: "0b7a3f4e-1111-4222-8333-444455556666" })
      const sessionId = "0b7a3f4e-1111-4222-8333-444455556666"
      assert.deepStrictEqual(transcriptLost(exit), {
        sessionId,
        transcript: "missing",
        toolsMayHaveRun: false,
        toolUseIds: []
      })
      assert.deepStrictEqual(retryings(events), [])
    }).pipe(Effect.provide(ClaudeOn(TwoFakes(noConversation, {}, () => false), noJitter)), pumpClockOnFailure))

  it.effect("a crash before any tool ran: the prompt is sent again, on a new conversation", () =>
    Effect.gen(function*() {
      const { primary, secondary } = yield* Fakes
      const { events, fiber } = yield* start("just talk")
      yield* until(() => retryings(events).length === 1, "the Retrying event")
      const [retrying] = retryings(events)
      assert.isUndefined(retrying?.resume)
      yield* TestClock.adjust(Duration.millis(retrying?.delayMs ?? 0))
      yield* until(() => isDone(fiber), "the turn's end")
      assert.isTrue(Exit.isSuccess(yield* Fiber.join(fiber)))
      assert.deepStrictEqual(userTexts(yield* sessions(primary)), ["just talk"])
      assert.deepStrictEqual(userTexts(yield* sessions(secondary)), ["just talk"])
      // The CLI that got the prompt again was started for a new conversation, not to resume one.
      const second = (yield* sessions(secondary)).find((p) => userTexts([p]).length > 0)
      assert.isDefined(second)
      assert.isFalse(resumed(second?.args ?? []), "a new conversation, not a resume")
    }).pipe(
      // The crashed process is replaced by a new one, which runs the secondary script.
      Effect.provide(
        ClaudeOn(TwoFakes({ turns: [{ crash: { signal: "SIGKILL" } }] }, {}, afterFirstSession()), noJitter)
      ),
      pumpClockOnFailure
    ))

  it.effect("the policy ends: after its last retry the stream fails with the last reason; a custom Schedule sets the delays", () =>
    Effect.gen(function*() {
      const { primary } = yield* Fakes
      const { events, fiber } = yield* start("hello")
      yield* until(() => retryings(events).length === 1, "the first Retrying event")
      assert.strictEqual(retryings(events)[0]?.delayMs, 5000)
      yield* TestClock.adjust("5 seconds")
      yield* until(() => retryings(events).length === 2, "the second Retrying event")
      assert.strictEqual(retryings(events)[1]?.delayMs, 5000)
      assert.strictEqual(retryings(events)[1]?.attempt, 2)
      yield* TestClock.adjust("5 seconds")
      yield* until(() => isDone(fiber), "the turn's end")
      assert.strictEqual(failureOf(yield* Fiber.join(fiber))?._tag, "Overloaded")
      assert.strictEqual(yield* turnsStarted(primary), 3)
      assert.strictEqual(yield* retriesOf("Overloaded"), 2)
    }).pipe(
      Effect.provide(ClaudeOn(
        TwoFakes({ turns: [overloaded] }, {}, () => false),
        { retry: { schedule: Schedule.spaced("5 seconds").pipe(Schedule.upTo({ times: 2 })) } }
      )),
      Effect.provideService(Metric.MetricRegistry, new Map()),
      pumpClockOnFailure
    ))

  it.effect("every retry is logged with its attempt, delay and reason", () =>
    Effect.gen(function*() {
      const { events, fiber } = yield* start("hello")
      yield* until(() => retryings(events).length === 1, "the Retrying event")
      yield* TestClock.adjust("1 second")
      yield* until(() => isDone(fiber), "the turn's end")
      const line = logs.find((entry) => entry.message === "Retrying a failed turn")
      assert.isDefined(line)
      assert.strictEqual(line?.annotations["attempt"], 1)
      assert.strictEqual(line?.annotations["nextAttempt"], 2)
      assert.strictEqual(line?.annotations["delayMs"], 1000)
      assert.strictEqual(line?.annotations["reason"], "Overloaded")
    }).pipe(
      Effect.provide(
        ClaudeOn(TwoFakes({ turns: [overloaded, {}] }, {}, () => false), noJitter).pipe(
          Layer.provideMerge(Logger.layer([collector]))
        )
      ),
      pumpClockOnFailure
    ))

  it.effect("{ enabled: false }: a 529 fails the stream at once", () =>
    Effect.gen(function*() {
      const { events, exit } = yield* runNow("hello")
      assert.strictEqual(failureOf(exit)?._tag, "Overloaded")
      assert.deepStrictEqual(retryings(events), [])
    }).pipe(
      Effect.provide(ClaudeOn(TwoFakes({ turns: [overloaded, {}] }, {}, () => false), { enabled: false })),
      pumpClockOnFailure
    ))
})

const logs: Array<{ readonly message: unknown; readonly annotations: Readonly<Record<string, unknown>> }> = []
const collector = Logger.make((options) => {
  const message = Array.isArray(options.message) ? options.message[0] : options.message
  logs.push({ message, annotations: options.fiber.getRef(References.CurrentLogAnnotations) })
})

const circuitOf = (exit: Exit.Exit<unknown, ClaudeError.ClaudeError>) => {
  const reason = failureOf(exit)
  return reason?._tag === "CircuitOpen" ? reason : undefined
}

const stateOf = Effect.flatMap(Resilience.Resilience, (resilience) => resilience.circuitState(options))

const recordTransitions = Effect.gen(function*() {
  const resilience = yield* Resilience.Resilience
  const seen: Array<string> = []
  yield* resilience.transitions.pipe(
    Stream.runForEach((transition: CircuitBreaker.Transition) =>
      Effect.sync(() => seen.push(`${transition.from}->${transition.to}`))
    ),
    Effect.forkScoped({ startImmediately: true })
  )
  return seen
})

const allSessions = Effect.flatMap(
  Fakes,
  ({ primary, secondary }) =>
    Effect.map(Effect.all([sessions(primary), sessions(secondary)]), ([a, b]) => a.length + b.length)
)

describe("Resilience: circuit breaker (FakeSpawner, TestClock)", () => {
  it.effect("F13: opens after 2 failures, rejects at once without spawning, a failing probe re-opens it, a good probe closes it, and it re-opens", () => {
    const api = { healthy: false }
    return Effect.gen(function*() {
      const transitions = yield* recordTransitions
      const key = Resilience.circuitKey(Option.none(), options)

      // Closed: two overloads in a row trip it.
      assert.strictEqual(failureOf((yield* runNow("q1")).exit)?._tag, "Overloaded")
      assert.strictEqual((yield* stateOf)._tag, "Closed")
      assert.strictEqual(failureOf((yield* runNow("q2")).exit)?._tag, "Overloaded")
      const open = yield* stateOf
      assert.strictEqual(open._tag, "Open")
      assert.strictEqual(open.key, key)

      // Open: rejected at once, nothing spawned, with the time it half-opens.
      const spawned = yield* allSessions
      const rejected = circuitOf((yield* runNow("q3")).exit)
      assert.strictEqual(rejected?.halfOpenAtMs, 30_000)
      assert.strictEqual(yield* allSessions, spawned, "a rejected turn spawns nothing")
      yield* TestClock.adjust("29999 millis")
      assert.isDefined(circuitOf((yield* runNow("q3b")).exit), "still open at 29.999 s")

      // Half-open: the probe goes through; it fails, so the circuit opens again.
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(failureOf((yield* runNow("q4")).exit)?._tag, "Overloaded")
      assert.strictEqual(yield* allSessions, spawned + 1, "the probe ran")
      assert.strictEqual(circuitOf((yield* runNow("q5")).exit)?.halfOpenAtMs, 60_000)

      // The API recovers: the next probe succeeds and closes the circuit.
      yield* TestClock.adjust("30 seconds")
      api.healthy = true
      assert.isTrue(Exit.isSuccess((yield* runNow("q6")).exit))
      assert.strictEqual((yield* stateOf)._tag, "Closed")
      assert.isTrue(Exit.isSuccess((yield* runNow("q7")).exit))

      // And re-opens after two more failures in a row.
      api.healthy = false
      assert.strictEqual(failureOf((yield* runNow("q8")).exit)?._tag, "Overloaded")
      assert.strictEqual(failureOf((yield* runNow("q9")).exit)?._tag, "Overloaded")
      assert.isDefined(circuitOf((yield* runNow("q10")).exit))

      yield* Effect.yieldNow
      assert.deepStrictEqual(transitions, [
        "Closed->Open",
        "Open->HalfOpen",
        "HalfOpen->Open",
        "Open->HalfOpen",
        "HalfOpen->Closed",
        "Closed->Open"
      ])
      const gauge = yield* Metric.value(Metric.withAttributes(Metrics.circuitState, { circuit: key }))
      assert.strictEqual(gauge.value, 2, "the gauge says open")
      const rejections = yield* Metric.value(Metric.withAttributes(Metrics.circuitRejectionsTotal, { circuit: key }))
      assert.strictEqual(rejections.count, 4)
    }).pipe(
      Effect.provide(OverloadedOneCliPerAttempt(
        {
          retry: { times: 0 },
          circuitBreaker: { tripPolicy: CircuitBreaker.consecutive(2), openDuration: "30 seconds" }
        },
        () => api.healthy
      )),
      Effect.provideService(Metric.MetricRegistry, new Map()),
      pumpClockOnFailure
    )
  })

  it.effect("failures that say nothing about the API (a crash, a 401) never open the circuit", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 3; i++) {
        assert.strictEqual(failureOf((yield* runNow(`q${i}`)).exit)?._tag, "AuthenticationFailed")
      }
      assert.strictEqual((yield* stateOf)._tag, "Closed")
    }).pipe(
      Effect.provide(ClaudeOn(
        TwoFakes({ turns: [{ result: { apiErrorStatus: 401 } }] }, {}, () => false),
        { circuitBreaker: { tripPolicy: CircuitBreaker.consecutive(1) } }
      )),
      pumpClockOnFailure
    ))

  it.effect("F20: a circuit that opens while a query retries fails that query at once with CircuitOpen: no wait for its half-open time", () =>
    Effect.gen(function*() {
      const transitions = yield* recordTransitions
      // Attempt 1's failure opens the circuit (until 5 s): the query fails then, with no Retrying and no wait.
      const { events, exit } = yield* runNow("hello")
      const open = circuitOf(exit)
      assert.isDefined(open, `failed with ${failureOf(exit)?._tag}`)
      assert.strictEqual(open?.halfOpenAtMs, 5000)
      assert.deepStrictEqual(retryings(events), [])
      assert.strictEqual(results(events)[0]?.error?._tag, "Overloaded", "the stream still carries the attempt's Result")
      assert.strictEqual(yield* allSessions, 1)
      assert.deepStrictEqual(transitions, ["Closed->Open"])
    }).pipe(
      Effect.provide(OverloadedOneCliPerAttempt(
        {
          retry: { jitter: false },
          circuitBreaker: { tripPolicy: CircuitBreaker.consecutive(1), openDuration: "5 seconds" }
        }
      )),
      pumpClockOnFailure
    ))

  it.effect("F20: a query whose next attempt meets a circuit another query opened fails at once with CircuitOpen", () =>
    Effect.gen(function*() {
      // A fails (1 of 2) and waits its 1 s backoff; meanwhile B fails (2 of 2) and opens the circuit.
      const a = yield* start("a")
      yield* until(() => retryings(a.events).length === 1, "A's Retrying event")
      const b = yield* runNow("b")
      assert.isDefined(circuitOf(b.exit), `B failed with ${failureOf(b.exit)?._tag}`)
      yield* TestClock.adjust("1 second")
      yield* until(() => isDone(a.fiber), "A's end, at its next attempt")
      const open = circuitOf(yield* Fiber.join(a.fiber))
      assert.strictEqual(open?.halfOpenAtMs, 30_000)
      assert.strictEqual(retryings(a.events).length, 1, "A does not wait for the half-open time")
      assert.strictEqual(yield* allSessions, 2, "A's rejected attempt spawned nothing")
    }).pipe(
      Effect.provide(OverloadedOneCliPerAttempt(
        {
          retry: { jitter: false },
          circuitBreaker: { tripPolicy: CircuitBreaker.consecutive(2), openDuration: "30 seconds" }
        }
      )),
      pumpClockOnFailure
    ))

  it.effect("F20: a probe whose CLI is about to retry a failure ends there: the circuit opens again and the query fails with CircuitOpen", () =>
    Effect.gen(function*() {
      assert.isDefined(circuitOf((yield* runNow("opens it")).exit))
      yield* TestClock.adjust("5 seconds")
      // The probe: its CLI's first retry is its failure (one retry of the budget of 1, counted once).
      const { events, exit } = yield* runNow("the probe")
      assert.strictEqual(circuitOf(exit)?.halfOpenAtMs, 5000 + 5000, `failed with ${failureOf(exit)?._tag}`)
      assert.strictEqual(events.filter((e) => e._tag === "ApiRetry").length, 1)
      assert.deepStrictEqual(retryings(events), [])
      assert.strictEqual((yield* stateOf)._tag, "Open")
    }).pipe(
      Effect.provide(ClaudeOn(
        TwoFakes(
          {
            sharedTurns: true,
            turns: [overloaded, { apiRetries: [{ errorStatus: 500 }], result: { apiErrorStatus: 500 } }]
          },
          {},
          () => false
        ),
        {
          retry: { jitter: false, times: 1 },
          circuitBreaker: { tripPolicy: CircuitBreaker.consecutive(1), openDuration: "5 seconds" }
        },
        { minIdle: 0, maxTurnsPerProcess: 1 }
      )),
      pumpClockOnFailure
    ))
})

const apiRetries = (events: ReadonlyArray<ClaudeEvent>) => events.filter((e) => e._tag === "ApiRetry")

/** A turn on which the CLI retries a 500 `retries` times by itself, each after `delay`, then reports it. */
const serverErrors = (retries: number, delay: Duration.Input = "1 second"): FakeSpawner.Turn => ({
  apiRetries: Array.from({ length: retries }, () => ({ errorStatus: 500, delay })),
  result: { apiErrorStatus: 500 }
})

/** Lets the CLI of a query announce `count` retries, crossing each 1 s wait. */
const crossCliRetries = (events: ReadonlyArray<ClaudeEvent>, count: number) =>
  Effect.gen(function*() {
    for (let i = 1; i <= count; i++) {
      yield* until(() => apiRetries(events).length >= i, `the CLI's retry ${i}`)
      if (i < count) yield* TestClock.adjust("1 second")
    }
  })

/**
 * The first CLI retries by itself (`retries`), then the API answers, then the CLI dies; the next CLI answers.
 * No circuit breaker.
 */
const recoversThenCrashes = (retries: ReadonlyArray<FakeSpawner.ApiRetry>, settings: Resilience.Settings) =>
  ClaudeOn(
    TwoFakes(
      // Frames: system/init, one per retry, the answer; then the crash.
      {
        turns: [{
          apiRetries: retries,
          text: "the API is back",
          crash: { signal: "SIGKILL", afterFrames: retries.length + 2 }
        }]
      },
      { turns: [{ text: "done" }] },
      afterFirstSession()
    ),
    { ...settings, circuitBreaker: { enabled: false } }
  )

describe("Resilience: failing fast (F20, FakeSpawner, TestClock)", () => {
  it.effect("F20: the CLI's own retries count against the retry budget: at the one past `times` the CLI is stopped and the query fails with the API's error", () =>
    Effect.gen(function*() {
      const { primary } = yield* Fakes
      const { events, fiber } = yield* start("hello")
      yield* crossCliRetries(events, 4)
      yield* until(() => isDone(fiber), "the query's end at the CLI's 4th retry")
      const reason = failureOf(yield* Fiber.join(fiber))
      assert.strictEqual(reason?._tag, "ApiError")
      if (reason?._tag === "ApiError") assert.strictEqual(reason.status, 500)
      assert.strictEqual(apiRetries(events).length, 4, "3 retries of the budget, the 4th is one too many")
      assert.deepStrictEqual(retryings(events), [], "no retry of the library's own on top")
      const [cli, ...others] = yield* sessions(primary)
      assert.strictEqual(others.length, 0)
      assert.strictEqual(cli?.turns, 1)
      // Its turn was stopped (an `interrupt`, as for any turn its consumer leaves), not left to retry.
      assert.isTrue(
        (cli?.stdin ?? []).some((line) =>
          Predicate.isObject(line) && Predicate.isObject(line["request"]) && line["request"]["subtype"] === "interrupt"
        ),
        "the CLI was told to stop the turn"
      )
      // The CLI's 4th wait was cut short, not left to run out: no time has passed since it started, and the
      // fake no longer sleeps.
      const [stopped] = yield* sessions(primary)
      assert.deepStrictEqual([stopped?.sleeps, stopped?.sleeping], [4, false], "the CLI's 4th wait was cut short")
      // So a minute later (the fake runs in-process: the adjust returns once all it woke has suspended again)
      // it has not gone on to a 5th request either.
      yield* TestClock.adjust("1 minute")
      const [later] = yield* sessions(primary)
      assert.deepStrictEqual([later?.sleeps, later?.sleeping], [4, false], "no wait for a 5th request started")
    }).pipe(
      Effect.provide(
        ClaudeOn(TwoFakes({ turns: [serverErrors(10)] }, {}, () => false), { circuitBreaker: { enabled: false } })
      ),
      pumpClockOnFailure
    ))

  it.effect("F20: the CLI's own retries count against the circuit: it opens at the 3rd (of consecutive(3)), the query fails at once with CircuitOpen, the next one spawns nothing", () =>
    Effect.gen(function*() {
      const { events, fiber } = yield* start("hello")
      yield* crossCliRetries(events, 3)
      yield* until(() => isDone(fiber), "the query's end at the CLI's 3rd retry")
      const exit = yield* Fiber.join(fiber)
      assert.strictEqual(circuitOf(exit)?.halfOpenAtMs, 2000 + 30_000, `failed with ${failureOf(exit)?._tag}`)
      assert.strictEqual(apiRetries(events).length, 3)
      assert.strictEqual((yield* stateOf)._tag, "Open")
      assert.strictEqual(yield* allSessions, 1)
      assert.isDefined(circuitOf((yield* runNow("again")).exit))
      assert.strictEqual(yield* allSessions, 1, "the rejected query spawned nothing")
    }).pipe(
      Effect.provide(ClaudeOn(
        TwoFakes({ turns: [serverErrors(10)] }, {}, () => false),
        {
          retry: { times: 10 },
          circuitBreaker: { tripPolicy: CircuitBreaker.consecutive(3), openDuration: "30 seconds" }
        }
      )),
      pumpClockOnFailure
    ))

  it.effect("F20: no retry starts past the query's deadline (60 s by default, from its first failure): the query fails then with its last failure", () =>
    Effect.gen(function*() {
      const { primary } = yield* Fakes
      const { events, fiber } = yield* start("hello")
      // Failures at 0 s and 25 s are retried; the one at 50 s is not, as its retry would start at 75 s.
      for (let i = 1; i <= 2; i++) {
        yield* until(() => retryings(events).length === i, `Retrying ${i}`)
        yield* TestClock.adjust("25 seconds")
      }
      yield* until(() => isDone(fiber), "the query's end at 50 s")
      assert.strictEqual(failureOf(yield* Fiber.join(fiber))?._tag, "Overloaded")
      assert.strictEqual(retryings(events).length, 2)
      assert.strictEqual(yield* turnsStarted(primary), 3)
      const line = logs.find((entry) => String(entry.message).includes("deadline"))
      assert.strictEqual(line?.annotations["deadlineMs"], 60_000)
    }).pipe(
      Effect.provide(
        ClaudeOn(
          TwoFakes({ turns: [overloaded] }, {}, () => false),
          {
            retry: { schedule: Schedule.spaced("25 seconds").pipe(Schedule.upTo({ times: 10 })) },
            circuitBreaker: { enabled: false }
          }
        ).pipe(Layer.provideMerge(Logger.layer([collector])))
      ),
      pumpClockOnFailure
    ))

  it.effect("F20: a CLI retry whose wait would end past the deadline stops the CLI at once (the deadline is configurable)", () =>
    Effect.gen(function*() {
      const { events, fiber } = yield* start("hello")
      // Retry 1 at 0 s waits 4 s; retry 2, at 4 s, would wait 8 s: past the 10 s deadline.
      yield* until(() => apiRetries(events).length === 1, "the CLI's retry 1")
      yield* TestClock.adjust("4 seconds")
      yield* until(() => isDone(fiber), "the query's end at the CLI's retry 2")
      const reason = failureOf(yield* Fiber.join(fiber))
      assert.strictEqual(reason?._tag, "ApiError")
      assert.strictEqual(apiRetries(events).length, 2)
      assert.deepStrictEqual(retryings(events), [])
    }).pipe(
      Effect.provide(ClaudeOn(
        TwoFakes(
          {
            turns: [{
              apiRetries: [{ errorStatus: 500, delay: "4 seconds" }, { errorStatus: 500, delay: "8 seconds" }],
              result: { apiErrorStatus: 500 }
            }]
          },
          {},
          () => false
        ),
        { retry: { times: 10, deadline: "10 seconds" }, circuitBreaker: { enabled: false } }
      )),
      pumpClockOnFailure
    ))

  it.effect("F20: the API answering again ends a run of failures: the CLI's retries before it no longer count against the budget", () =>
    Effect.gen(function*() {
      const { events, fiber } = yield* start("hello")
      // 3 CLI retries (the whole budget), then the API answers, then the CLI dies: a retry is still left.
      yield* crossCliRetries(events, 3)
      yield* TestClock.adjust("1 second")
      yield* until(() => retryings(events).length === 1, "the Retrying event after the crash")
      assert.strictEqual(retryings(events)[0]?.reason._tag, "ProcessCrashed")
      yield* TestClock.adjust(Duration.millis(retryings(events)[0]?.delayMs ?? 0))
      yield* until(() => isDone(fiber), "the turn's end")
      assert.isTrue(Exit.isSuccess(yield* Fiber.join(fiber)))
    }).pipe(
      Effect.provide(
        recoversThenCrashes(Array.from({ length: 3 }, () => ({ errorStatus: 500, delay: "1 second" })), noJitter)
      ),
      pumpClockOnFailure
    ))

  it.effect("F20: the API answering again ends a run of failures: a later failure gets a deadline of its own", () =>
    Effect.gen(function*() {
      const { events, fiber } = yield* start("hello")
      // A CLI retry at 0 s waits 4 s (within the 4.5 s deadline); the API answers, then the CLI dies at 4 s.
      // Its retry at 5 s would be past the first run's deadline, not past the one the crash starts.
      yield* until(() => apiRetries(events).length === 1, "the CLI's retry")
      yield* TestClock.adjust("4 seconds")
      yield* until(() => retryings(events).length === 1 || isDone(fiber), "the Retrying event after the crash")
      assert.strictEqual(retryings(events)[0]?.reason._tag, "ProcessCrashed")
      yield* TestClock.adjust("1 second")
      yield* until(() => isDone(fiber), "the turn's end")
      assert.isTrue(Exit.isSuccess(yield* Fiber.join(fiber)))
    }).pipe(
      Effect.provide(
        recoversThenCrashes([{ errorStatus: 500, delay: "4 seconds" }], {
          retry: { jitter: false, deadline: "4500 millis" }
        })
      ),
      pumpClockOnFailure
    ))

  it.effect("F20: the deadline counts from a query's first failure: a slow healthy turn (a minute before each frame) is not cut by a 30 s deadline", () =>
    Effect.gen(function*() {
      const { primary } = yield* Fakes
      const { events, fiber } = yield* start("hello")
      // A minute before each frame: once the fake sleeps before its next frame, a minute wakes it.
      const asleepOrDone = Effect.map(
        sessions(primary),
        (ps) => (ps.some((p) => p.sleeping) || isDone(fiber) ? true : undefined)
      )
      for (let i = 0; i < 20; i++) {
        yield* settleUntil(asleepOrDone, "the fake asleep before a frame, or the turn's end")
        if (isDone(fiber)) break
        yield* TestClock.adjust("1 minute")
      }
      yield* until(() => isDone(fiber), "the turn's end")
      assert.isTrue(Exit.isSuccess(yield* Fiber.join(fiber)))
      assert.strictEqual(results(events).at(-1)?.text, "slow but fine")
    }).pipe(
      Effect.provide(ClaudeOn(
        TwoFakes({ turns: [{ frameDelay: "1 minute", text: "slow but fine" }] }, {}, () => false),
        { retry: { deadline: "30 seconds" } }
      )),
      pumpClockOnFailure
    ))
})

const resultEvent = (
  costUsd: number,
  usage: Readonly<Record<string, unknown>>,
  error: ClaudeError.Reason | undefined
) =>
  ClaudeEvent.Result({
    sessionId: "s-1",
    subtype: "success",
    isError: error !== undefined,
    text: undefined,
    costUsd,
    usage,
    durationMs: undefined,
    durationApiMs: undefined,
    numTurns: 1,
    error,
    frame: {
      type: "result",
      subtype: "success",
      is_error: error !== undefined,
      session_id: "s-1",
      total_cost_usd: costUsd
    }
  })

describe("Resilience.run", () => {
  it.effect("F14: cost and usage are counted once: the final Result sums what each attempt's Result reported", () =>
    Effect.gen(function*() {
      const resilience = yield* Resilience.Resilience
      const overloadedReason = new ClaudeError.Overloaded({ detail: "overloaded" })
      let calls = 0
      const attempt: Resilience.Attempt = () => {
        calls++
        return calls === 1
          ? Stream.make(
            resultEvent(
              0.25,
              { input_tokens: 10, output_tokens: 2, server_tool_use: { web_search_requests: 1 } },
              overloadedReason
            )
          ).pipe(
            Stream.concat(Stream.fail(ClaudeError.make(overloadedReason)))
          )
          : Stream.make(
            resultEvent(0.5, {
              input_tokens: 5,
              output_tokens: 3,
              server_tool_use: { web_search_requests: 0 },
              service_tier: "standard"
            }, undefined)
          )
      }
      const events: Array<ClaudeEvent> = []
      const fiber = yield* resilience.run("hi", undefined, attempt).pipe(
        Stream.runForEach((event) => Effect.sync(() => events.push(event))),
        Effect.forkChild
      )
      yield* until(() => retryings(events).length === 1, "the Retrying event")
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      const [first, final] = results(events)
      assert.strictEqual(first?.costUsd, 0.25, "a failed attempt's Result is its own")
      assert.strictEqual(final?.costUsd, 0.75)
      assert.deepStrictEqual(final?.usage, {
        input_tokens: 15,
        output_tokens: 5,
        server_tool_use: { web_search_requests: 1 },
        service_tier: "standard"
      })
      assert.strictEqual(final?.frame.total_cost_usd, 0.5, "the frame stays the CLI's own")
      assert.deepStrictEqual(events.map((e) => e._tag), ["Result", "Retrying", "Result"])
    }).pipe(
      Effect.provide(
        Resilience.layer(noJitter).pipe(
          Layer.provide(Layer.mergeAll(TokenManager.layerTest(Option.none()), NodeFileSystem.layer, NodePath.layer))
        )
      ),
      pumpClockOnFailure
    ))

  it("circuit keys name the credential's identity and the model, never a secret", () => {
    const secret = "sk-ant-api03-very-secret-value"
    const credential = TokenManager.makeCredential("ANTHROPIC_API_KEY", Redacted.make(secret))
    const key = Resilience.circuitKey(Option.some(credential), { model: "sonnet" })
    assert.strictEqual(key, `${credential.identity}/sonnet`)
    const viaEnv = Resilience.circuitKey(Option.none(), { env: { ANTHROPIC_API_KEY: secret } })
    assert.notInclude(viaEnv, secret)
    assert.notStrictEqual(viaEnv, Resilience.circuitKey(Option.none(), {}))
    assert.strictEqual(Resilience.circuitKey(Option.none(), undefined), "cli-login/default")
  })

  it("only retryable reasons are retried; overload, rate limits, 5xx and lost connections count against the circuit", () => {
    assert.isTrue(Resilience.countsAgainstCircuit(new ClaudeError.Overloaded({ detail: "" })))
    assert.isTrue(Resilience.countsAgainstCircuit(new ClaudeError.RateLimited({ detail: "" })))
    assert.isTrue(Resilience.countsAgainstCircuit(new ClaudeError.ApiError({ status: null, detail: "" })))
    assert.isTrue(Resilience.countsAgainstCircuit(new ClaudeError.ApiError({ status: 503, detail: "" })))
    assert.isFalse(Resilience.countsAgainstCircuit(new ClaudeError.ApiError({ status: 400, detail: "" })))
    assert.isFalse(
      Resilience.countsAgainstCircuit(new ClaudeError.ProcessCrashed({ signal: "SIGKILL", stderrTail: "" }))
    )
    const rateLimited = new ClaudeError.RateLimited({ detail: "" })
    assert.deepStrictEqual(
      Resilience.minimumDelay(new ClaudeError.RateLimited({ detail: "", retryAfterMs: 1500 }), 0),
      { ms: 1500, exact: true }
    )
    assert.deepStrictEqual(Resilience.minimumDelay(rateLimited, 1000, { rateLimitResetsAtMs: 61_000 }), {
      ms: 60_000,
      exact: true
    })
    assert.deepStrictEqual(Resilience.minimumDelay(rateLimited, 0, { cliRetryDelayMs: 2334 }), {
      ms: 2334,
      exact: false
    })
    assert.deepStrictEqual(Resilience.minimumDelay(new ClaudeError.CircuitOpen({ halfOpenAtMs: 9000 }), 4000), {
      ms: 5000,
      exact: true
    })
    assert.isUndefined(Resilience.minimumDelay(new ClaudeError.Overloaded({ detail: "" }), 0))
    assert.isUndefined(
      Resilience.minimumDelay(new ClaudeError.ProcessCrashed({ signal: "SIGKILL", stderrTail: "" }), 0, {
        cliRetryDelayMs: 5
      })
    )
  })
})

describe("Resilience.layerConfig", () => {
  const overloadedOnce = () => TwoFakes({ turns: [overloaded, { text: "fine now" }] }, {}, () => false)

  it.effect("takes settings that may be Configs, read from the context's provider: times = 0 turns retrying off", () =>
    Effect.gen(function*() {
      const { primary } = yield* Fakes
      const { events, exit } = yield* runNow("hello")
      assert.strictEqual(failureOf(exit)?._tag, "Overloaded")
      assert.deepStrictEqual(retryings(events), [])
      assert.strictEqual(yield* turnsStarted(primary), 1)
    }).pipe(
      Effect.provide(
        ClaudeWith(overloadedOnce(), Resilience.layerConfig({ retry: { times: Config.Int("ECC_TEST_RETRIES") } }))
      ),
      Effect.provideService(ConfigProvider.ConfigProvider, overHost({ ECC_TEST_RETRIES: "0" })),
      pumpClockOnFailure
    ))

  it.effect("without settings it is the default policy: a 529 is retried after the backoff", () =>
    Effect.gen(function*() {
      const { primary } = yield* Fakes
      const { events, fiber } = yield* start("hello")
      yield* until(() => retryings(events).length === 1, "the Retrying event")
      yield* TestClock.adjust(Duration.millis(retryings(events)[0]?.delayMs ?? 0))
      yield* until(() => isDone(fiber), "the turn's end")
      assert.isTrue(Exit.isSuccess(yield* Fiber.join(fiber)))
      assert.strictEqual(yield* turnsStarted(primary), 2)
    }).pipe(Effect.provide(ClaudeWith(overloadedOnce(), Resilience.layerConfig())), pumpClockOnFailure))

  it.effect("a setting the provider cannot give fails the layer with its ConfigError", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Layer.build(Resilience.layerConfig({ retry: { times: Config.Int("ECC_TEST_RETRIES") } }))
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const reason = exit.cause.reasons[0]
        assert.isTrue(reason?._tag === "Fail" && reason.error instanceof Config.ConfigError, String(reason))
      }
    }).pipe(
      Effect.provide(
        Layer.merge(TokenManager.layerTest(Option.none()), Layer.merge(NodeFileSystem.layer, NodePath.layer))
      ),
      Effect.provideService(ConfigProvider.ConfigProvider, overHost({ ECC_TEST_RETRIES: "three" }))
    ))
})

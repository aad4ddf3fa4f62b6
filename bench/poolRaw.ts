/**
 * pool.ttfe.warmVsRaw: time to first event of a warm pooled turn against a raw driver writing to an
 * equally warm CLI, on the real CLI against the in-process FakeApi, `includePartialMessages: true`.
 *
 * - ours: `Claude.query` on a `SessionPool` (max 1, no spares) whose one process already served a
 *   conversation and was recycled with a verified `/clear`; timed from just before the query's stream is
 *   run to the consumer seeing the first `StreamEvent` / `TextDelta`.
 * - raw: one CLI spawned by `raw.ts` (child_process, readline, JSON.parse) with the same argv and
 *   environment, `initialize`d, that served a conversation and then took a `/clear` verified the way the
 *   pool verifies it (a `conversation_reset` frame and a `result` with a new session id); timed from just
 *   before its `stdin.write` of the user line to its readline handing over the first `stream_event` line.
 *   After each sample it gets a verified `/clear` again.
 *
 * Both CLIs run in one empty scratch directory, each with a HOME of its own. Samples are interleaved
 * (ours, raw, ...) after one warm-up of each; before each sample the other side's reset has finished (the
 * pool is back to one idle, reset process) and both processes have been left alone for a quiet pause, so
 * neither side's sample overlaps the other's work and both CLIs have been idle for about as long. The
 * value is ours' median over raw's median.
 */
import { Cause, Effect, Stream } from "effect"
import * as Claude from "../src/Claude.ts"
import * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { INITIALIZE_LINE, type RawCli, rawEnvironment, spawnRaw, stringField, userLine } from "./raw.ts"
import { median, type Result } from "./report.ts"
import { claudeBin, interleaved, pairedSummary, realLayer, round, scopedHome, stats } from "./support.ts"

const PROMPT = "Say hello for the benchmark."
const REPLY = ["Hello ", "from the ", "benchmark."]
const SAMPLE_TIMEOUT_MS = 30_000
/** Longer than the CLI's ~100 ms transcript timer: what a turn leaves for later is done before the next. */
const QUIET_MS = 200
const TARGET = 1.05

interface Timing {
  /** Just before the query / the stdin write -> the consumer sees the first stream event. */
  readonly ttfeMs: number
  /** Just before the query / the stdin write -> the FakeApi has the turn's Messages request. */
  readonly requestMs: number
}

/** When the FakeApi last received a conversation request (`performance.now()`). */
const apiClock = { lastRequestAt: 0 }

const cliOptions = (api: FakeApi.FakeApi["Service"], home: string, cwd: string): ClaudeOptions.Input => ({
  includePartialMessages: true,
  env: FakeApi.cliEnvironment(api, home),
  executable: claudeBin,
  cwd,
  timeouts: { shutdownGrace: 1_000 }
})

const quiet = Effect.sleep(QUIET_MS)

/**
 * Waits (real time) until the pool has nothing to do (the sweeper aside) and its process, if it has one
 * yet, is idle: the recycled one, its reset done.
 */
const settled = (pool: SessionPool.SessionPool["Service"]) =>
  Effect.gen(function*() {
    for (;;) {
      const s = yield* pool.stats
      if (s.tasks <= 1 && (s.size === 0 || (s.size === 1 && s.keys[0]?.idle === 1))) return s
      yield* Effect.sleep("5 millis")
    }
  }).pipe(Effect.timeoutOrElse({
    duration: SAMPLE_TIMEOUT_MS,
    orElse: () => Effect.die(new Error("the pool did not settle to one idle process"))
  }))

const isStreamEvent = (tag: string) => tag === "StreamEvent" || tag === "TextDelta"

// -----------------------------------------------------------------------------
// raw: one long-lived CLI, a turn, then a verified /clear
// -----------------------------------------------------------------------------

/** Runs one turn of `text` on `cli`; resolves with the first stream event's time and the result's session id. */
const rawTurn = async (cli: RawCli, text: string) => {
  let firstAt: number | undefined
  let reset = false
  let sessionId: string | undefined
  const startedAt = performance.now()
  const ended = cli.until((frame) => {
    if (frame.type === "stream_event" && firstAt === undefined) firstAt = performance.now()
    if (frame.type === "conversation_reset") reset = true
    if (frame.type !== "result") return false
    sessionId = stringField(frame, "session_id")
    return true
  }, SAMPLE_TIMEOUT_MS)
  cli.write(userLine(text))
  await ended
  return { startedAt, firstAt, reset, sessionId }
}

/** `/clear`, verified as the pool verifies it: a `conversation_reset` and a new session id. */
const rawReset = async (cli: RawCli, before: string | undefined) => {
  const cleared = await rawTurn(cli, "/clear")
  if (!cleared.reset || cleared.sessionId === undefined || cleared.sessionId === before) {
    throw new Error(`the raw CLI's /clear was not confirmed: ${JSON.stringify(cleared)}`)
  }
}

const rawSample = async (cli: RawCli): Promise<Timing | string> => {
  try {
    apiClock.lastRequestAt = 0
    const turn = await rawTurn(cli, PROMPT)
    if (turn.firstAt === undefined) return "raw: the turn had no stream event"
    const timing = { ttfeMs: turn.firstAt - turn.startedAt, requestMs: apiClock.lastRequestAt - turn.startedAt }
    await rawReset(cli, turn.sessionId)
    return timing
  } catch (error) {
    return `raw failed: ${error instanceof Error ? error.message : String(error)}`
  }
}

/** A raw CLI, initialized, that served one conversation and was reset; stopped when the scope closes. */
const warmRawCli = (args: ReadonlyArray<string>, env: Record<string, string>, cwd: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const cli = spawnRaw(claudeBin, args, env, cwd)
      const initialized = cli.until(
        (frame) => frame.type === "control_response" && frame.requestId === "initialize",
        SAMPLE_TIMEOUT_MS
      )
      cli.write(INITIALIZE_LINE)
      await initialized
      const first = await rawTurn(cli, PROMPT)
      await rawReset(cli, first.sessionId)
      return cli
    }),
    (cli) => Effect.promise(() => cli.stop())
  )

// -----------------------------------------------------------------------------
// the benchmark
// -----------------------------------------------------------------------------

const warmVsRaw = (pairs: number) =>
  Effect.gen(function*() {
    const api = yield* FakeApi.make({
      script: () => {
        apiClock.lastRequestAt = performance.now()
        return FakeApi.text(REPLY)
      }
    })
    const cwd = yield* scopedHome
    const oursOptions = cliOptions(api, yield* scopedHome, cwd)
    const rawOptions = yield* ClaudeOptions.validate(cliOptions(api, yield* scopedHome, cwd))
    const rawArgv = ClaudeOptions.toArgs(rawOptions)
    const cli = yield* warmRawCli(rawArgv, rawEnvironment(ClaudeOptions.toEnv(rawOptions)), cwd)
    const pool = yield* SessionPool.SessionPool
    const claude = yield* Claude.Claude

    const query = claude.query(PROMPT, oursOptions)
    const oursSample = Effect.gen(function*() {
      yield* settled(pool)
      yield* quiet
      apiClock.lastRequestAt = 0
      let firstAt: number | undefined
      const startedAt = performance.now()
      yield* query.pipe(
        Stream.runForEach((event) =>
          Effect.sync(() => {
            if (firstAt === undefined && isStreamEvent(event._tag)) firstAt = performance.now()
          })
        ),
        Effect.timeout(SAMPLE_TIMEOUT_MS)
      )
      // The recycle (a verified /clear) is done before the raw side's sample starts.
      yield* settled(pool)
      if (firstAt === undefined) return "ours: the turn had no stream event"
      const timing: Timing = { ttfeMs: firstAt - startedAt, requestMs: apiClock.lastRequestAt - startedAt }
      return timing
    }).pipe(Effect.catchCause((cause) => Effect.succeed(`ours failed: ${Cause.pretty(cause).slice(0, 800)}`)))
    const rawOnce = Effect.andThen(quiet, Effect.promise(() => rawSample(cli)))

    // The pool's process serves its first conversation and is recycled; the raw one did so above.
    const firstConversation = yield* oursSample
    const runs = yield* interleaved(pairs, oursSample, rawOnce, (a, b) => a.ttfeMs / b.ttfeMs)
    const { spawned, retired } = yield* settled(pool)
    return { ...runs, firstConversation, spawned, retired, argv: rawArgv }
  }).pipe(Effect.scoped, Effect.provide(realLayer({ max: 1, minIdle: 0, sweepInterval: "1 hour" })))

export const ttfeWarmVsRaw = async (options?: { readonly pairs?: number }): Promise<Result> => {
  const pairs = Math.max(12, options?.pairs ?? 20)
  const run = await Effect.runPromise(warmVsRaw(pairs))
  const failures = typeof run.firstConversation === "string" ? [run.firstConversation, ...run.failures] : run.failures
  const value = median(run.ours.map((s) => s.ttfeMs))
  const baselineValue = median(run.baseline.map((s) => s.ttfeMs))
  const ratio = value / baselineValue
  return {
    id: "pool.ttfe.warmVsRaw",
    unit: "ms",
    value,
    baseline: "raw child_process + readline driver of an equally warm CLI (same argv and env, after a verified /clear)",
    baselineValue,
    ratio,
    target: `<= ${TARGET}`,
    met: run.ours.length >= 12 && run.baseline.length >= 12 && failures.length === 0 && run.spawned === 1 &&
      ratio <= TARGET,
    detail: {
      ratio: "ours / raw: median ttfe of ours over median ttfe of raw",
      ttfeMs:
        "ours: just before Claude.query's stream is run -> the consumer sees the first StreamEvent/TextDelta; raw: just before stdin.write of the user line -> readline hands over the first stream_event line",
      requestMs:
        "the same start -> the FakeApi has the turn's Messages request: the CLI's own work before it asks the API (and ours' path to the CLI's stdin); ttfe - requestMs is the API's first bytes reaching the consumer",
      ours:
        "SessionPool max 1, minIdle 0, through Claude.query: its one process served a conversation and was recycled with a verified /clear before each sample",
      raw:
        "one CLI, initialized, one conversation served, then a /clear verified (conversation_reset and a new session id) before each sample",
      order:
        `interleaved: ours, raw, ... after one warm-up of each; before each sample the other side's reset is done and both CLIs were left alone for ${QUIET_MS} ms`,
      cwd: "both CLIs in one empty scratch directory, a HOME of their own each",
      pairs,
      pairedRatio: pairedSummary("ours / raw ttfe within each interleaved pair", run.paired),
      oursMs: {
        ttfe: stats(run.ours.map((s) => s.ttfeMs), { samples: true }),
        request: stats(run.ours.map((s) => s.requestMs)),
        afterRequest: stats(run.ours.map((s) => s.ttfeMs - s.requestMs))
      },
      rawMs: {
        ttfe: stats(run.baseline.map((s) => s.ttfeMs), { samples: true }),
        request: stats(run.baseline.map((s) => s.requestMs)),
        afterRequest: stats(run.baseline.map((s) => s.ttfeMs - s.requestMs))
      },
      requestOverheadMs: round(
        median(run.ours.map((s) => s.requestMs)) - median(run.baseline.map((s) => s.requestMs))
      ),
      poolSpawned: run.spawned,
      poolRetired: run.retired,
      warmUpConversation: run.firstConversation,
      argv: run.argv,
      failures
    }
  }
}

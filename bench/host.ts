/**
 * turn.overhead.host: the library's own share of a turn's latency, with the CLI's own time left out.
 *
 * The CLI is a stub (`stub-cli.mjs`) that timestamps, on the clock all processes of the machine share
 * (`performance.timeOrigin + performance.now()`), when it is about to write its `initialize` reply and its
 * first `stream_event`; the host timestamps, on the same clock, when the user line is handed to the
 * child's stdin stream and when the consumer sees that first event. The host's share of a turn is
 *
 *   promptLegMs (initialize reply written -> the user line handed to the child's stdin stream)
 *   + eventLegMs (first stream_event written -> the consumer sees it),
 *
 * each leg holding one pipe transit and one wake-up of the host (the same for both drivers) and the host's
 * work. Ours is `Claude.query` on a cold process (a `SessionPool` of its own per run, max 1, no spares), so
 * the prompt leg is the session's reader, `initialize` answered, the session ready, the pool's hand-off,
 * the lease, the turn's start (span, queue, watchdog), the user frame's encoding and the stdin queue and
 * writer fiber; the event leg is stdout through the StreamHandler, the session's routing, the turn's queue
 * and the query's stream. The stdin stream is where the spawner's stdin sink writes to Node (a tapped
 * spawner marks the chunk there). Raw is `raw.ts` (spawn, readline, JSON.parse, `stdin.write`) on the same
 * stub, argv and environment, marked just before its `stdin.write`. Runs are interleaved (ours, raw, ...)
 * after `WARMUPS` warm-up runs of each (the executable's version check, page cache, and the host's code
 * compiled as in a service that has served a few turns); the value is ours' median minus raw's median. The stub's read of the prompt is
 * recorded too (`stdinToStubMs`), outside the figure: that is the stub waking, which on a loaded machine
 * takes milliseconds either way.
 *
 * The two clocks are checked first (`detail.clockCheck`): a stub in clock mode answers pings with its own
 * timestamp, and the offset it implies (NTP style, from the round trip's midpoint) is bounded by half the
 * round trip.
 */
import { NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit, Layer, Option, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Readline from "node:readline"
import * as Claude from "../src/Claude.ts"
import * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as ProcessManager from "../src/ProcessManager.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as TokenManager from "../src/TokenManager.ts"
import { INITIALIZE_LINE, rawEnvironment, spawnRaw, userLine } from "./raw.ts"
import { median, type Result } from "./report.ts"
import {
  freshHome,
  interleaved,
  medianDifference,
  pairedSummary,
  removeHome,
  round,
  summaryOf,
  tappedSpawner
} from "./support.ts"

export const stubCli = path.join(import.meta.dirname, "stub-cli.mjs")

const PROMPT = "Say hello for the benchmark."
const RUN_TIMEOUT_MS = 20_000
const TARGET_MS = 0.5
/** Warm-up runs of each side, discarded: the host's code runs as in a service that has served a few turns. */
const WARMUPS = 8
const USER_PREFIX = "{\"type\":\"user\""

/** The clock every process of this machine shares, in milliseconds. */
export const sharedNow = () => performance.timeOrigin + performance.now()

/** What the stub appends for each prompt turn (shared-clock milliseconds). */
export interface StubMarks {
  readonly pid: number
  readonly turn: number
  readonly initRepliedAt: number | undefined
  readonly promptAt: number
  readonly eventAt: number
}

const isStubMarks = (value: unknown): value is StubMarks =>
  typeof value === "object" && value !== null && "promptAt" in value && typeof value.promptAt === "number" &&
  "eventAt" in value && typeof value.eventAt === "number"

/** The marks of every prompt turn the stubs writing to `file` ran, in order. */
export const readMarks = (file: string): Array<StubMarks> => {
  if (!fs.existsSync(file)) return []
  return fs.readFileSync(file, "utf8").split("\n").filter((line) => line !== "").map((line): unknown =>
    JSON.parse(line)
  )
    .filter(isStubMarks)
}

/** A stub's environment: its marks file, and a scratch HOME (leftover checks find benchmark processes by it). */
export const stubEnv = (home: string): { readonly HOME: string; readonly BENCH_STUB_MARKS: string } => ({
  HOME: home,
  BENCH_STUB_MARKS: path.join(home, "marks.jsonl")
})

const stubOptions = (home: string): ClaudeOptions.Input => ({
  includePartialMessages: true,
  env: stubEnv(home),
  executable: stubCli,
  timeouts: { shutdownGrace: 1_000 }
})

interface Sample {
  /** initialize reply about to be written by the stub -> the user line handed to the child's stdin stream. */
  readonly promptLegMs: number
  /** First stream_event about to be written by the stub -> the consumer sees it. */
  readonly eventLegMs: number
  /** promptLegMs + eventLegMs. */
  readonly hostMs: number
  /** The user line handed to the stdin stream -> the stub's read of it returned (pipe, and the stub waking). */
  readonly stdinToStubMs: number
}

/** What the host saw of a run: when the user line was handed to the stdin stream, and its first event. */
interface HostMarks {
  readonly handedAt: number | undefined
  readonly consumerAt: number | undefined
}

const sampleOf = (marks: ReadonlyArray<StubMarks>, host: HostMarks): Sample | string => {
  const first = marks[0]
  if (marks.length !== 1 || first === undefined) return `expected the marks of one prompt turn, got ${marks.length}`
  const { consumerAt, handedAt } = host
  if (first.initRepliedAt === undefined || consumerAt === undefined || handedAt === undefined) {
    return `incomplete timestamps: ${JSON.stringify({ ...first, ...host })}`
  }
  const promptLegMs = handedAt - first.initRepliedAt
  const eventLegMs = consumerAt - first.eventAt
  return { promptLegMs, eventLegMs, hostMs: promptLegMs + eventLegMs, stdinToStubMs: first.promptAt - handedAt }
}

const isStreamEvent = (tag: string) => tag === "StreamEvent" || tag === "TextDelta"

// -----------------------------------------------------------------------------
// ours: Claude.query on a cold process, a pool of its own per run
// -----------------------------------------------------------------------------

/** When the user line of the run being measured was handed to the child's stdin stream; reset per run. */
const handed: { at: number | undefined } = { at: undefined }
const markHanded = () => {
  handed.at ??= sharedNow()
}

const isUserLine = (chunk: Uint8Array) =>
  Buffer.from(chunk.buffer, chunk.byteOffset, Math.min(chunk.byteLength, USER_PREFIX.length)).toString("latin1") ===
    USER_PREFIX

/**
 * Shared by every run of ours: the ProcessManager (its version check is done once, in the warm-up) over a
 * spawner that marks the user line where it enters the child's stdin stream.
 */
const oursLayer = ProcessManager.layer().pipe(
  Layer.provideMerge(TokenManager.layerTest(Option.none())),
  Layer.provide(
    tappedSpawner(() => ({
      stdin: (chunk) => {
        if (isUserLine(chunk)) markHanded()
      }
    })).pipe(Layer.provide(NodeServices.layer))
  ),
  Layer.provideMerge(NodeServices.layer)
)

/** One query on the stub; resolves once its pool (and so its process) is closed. */
const queryOnce = (home: string) =>
  Effect.gen(function*() {
    handed.at = undefined
    const pool = yield* SessionPool.make({ max: 1, minIdle: 0, sweepInterval: "1 hour" })
    const claude = yield* Effect.provideService(Claude.make, SessionPool.SessionPool, pool)
    let consumerAt: number | undefined
    yield* claude.query(PROMPT, stubOptions(home)).pipe(
      Stream.runForEach((event) =>
        Effect.sync(() => {
          if (consumerAt === undefined && isStreamEvent(event._tag)) consumerAt = sharedNow()
        })
      ),
      Effect.timeout(RUN_TIMEOUT_MS)
    )
    return { consumerAt, handedAt: handed.at }
  }).pipe(Effect.scoped)

// The stub writes its marks at its result; they are read once the pool has stopped it.
const runOurs = Effect.acquireUseRelease(
  Effect.sync(freshHome),
  (home) =>
    Effect.exit(queryOnce(home)).pipe(Effect.map((exit): Sample | string =>
      Exit.isSuccess(exit)
        ? sampleOf(readMarks(stubEnv(home).BENCH_STUB_MARKS), exit.value)
        : `ours failed: ${Cause.pretty(exit.cause).slice(0, 1000)}`
    )),
  (home) => Effect.sync(() => removeHome(home))
)

// -----------------------------------------------------------------------------
// raw: spawn, readline, JSON.parse, write
// -----------------------------------------------------------------------------

const rawRun = async (args: ReadonlyArray<string>): Promise<Sample | string> => {
  const home = freshHome()
  const env = stubEnv(home)
  const cli = spawnRaw(stubCli, args, rawEnvironment(env))
  try {
    let consumerAt: number | undefined
    let handedAt: number | undefined
    const turn = cli.until((frame) => {
      if (frame.type === "control_response" && frame.requestId === "initialize") {
        handedAt = sharedNow()
        cli.write(userLine(PROMPT))
      } else if (frame.type === "stream_event" && consumerAt === undefined) consumerAt = sharedNow()
      return frame.type === "result"
    }, RUN_TIMEOUT_MS)
    cli.write(INITIALIZE_LINE)
    await turn
    await cli.stop()
    return sampleOf(readMarks(env.BENCH_STUB_MARKS), { consumerAt, handedAt })
  } catch (error) {
    await cli.stop(0)
    return `raw failed: ${error instanceof Error ? error.message : String(error)}`
  } finally {
    removeHome(home)
  }
}

// -----------------------------------------------------------------------------
// the clock check
// -----------------------------------------------------------------------------

/** Offsets (µs) of a clock-mode stub's clock against ours, one per ping, and the round trips (µs). */
const clockPings = (
  pings: number
): Promise<{ readonly offsetsUs: Array<number>; readonly roundTripsUs: Array<number> }> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(stubCli, [], {
      env: { ...process.env, BENCH_STUB_MODE: "clock" },
      stdio: ["pipe", "pipe", "inherit"]
    })
    const offsetsUs: Array<number> = []
    const roundTripsUs: Array<number> = []
    const ping = () => child.stdin.write(`${sharedNow()}\n`)
    child.on("error", reject)
    Readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const back = sharedNow()
      const [sent, theirs] = line.split(" ").map(Number)
      if (sent === undefined || theirs === undefined) return reject(new Error(`clock stub said ${line}`))
      offsetsUs.push((theirs - (sent + back) / 2) * 1000)
      roundTripsUs.push((back - sent) * 1000)
      if (offsetsUs.length < pings) ping()
      else child.stdin.end()
    })
    child.on("close", () => resolve({ offsetsUs, roundTripsUs }))
    ping()
  })

const clockCheck = async (processes: number, pings: number) => {
  const runs = []
  for (let i = 0; i < processes; i++) runs.push(await clockPings(pings))
  // The ping with the shortest round trip bounds the offset best (its midpoint is the least uncertain).
  const bestOffsets = runs.map(({ offsetsUs, roundTripsUs }) => {
    const best = roundTripsUs.indexOf(Math.min(...roundTripsUs))
    return { offsetUs: round(offsetsUs[best] ?? NaN, 1), roundTripUs: round(roundTripsUs[best] ?? NaN, 1) }
  })
  return {
    note:
      "per clock-mode stub process: the offset of its shared clock against the host's implied by its fastest ping (µs; the true offset is within ± half that round trip); and the median over all pings",
    processes,
    pings,
    bestOffsets,
    medianOffsetUs: round(median(runs.flatMap((r) => r.offsetsUs)), 1),
    medianRoundTripUs: round(median(runs.flatMap((r) => r.roundTripsUs)), 1)
  }
}

// -----------------------------------------------------------------------------
// the benchmark
// -----------------------------------------------------------------------------

const figures = ["hostMs", "promptLegMs", "eventLegMs", "stdinToStubMs"] as const

export const turnOverheadHost = async (options?: { readonly runs?: number }): Promise<Result> => {
  const runs = Math.max(12, options?.runs ?? 20)
  const clock = await clockCheck(3, 50)
  const program = Effect.gen(function*() {
    // The argv the library uses for these options (the env is not on argv).
    const args = ClaudeOptions.toArgs(yield* ClaudeOptions.validate(stubOptions(os.tmpdir())))
    const { baseline: raw, failures, ours, paired } = yield* interleaved(
      runs,
      runOurs,
      Effect.promise(() => rawRun(args)),
      (a, b) => a.hostMs - b.hostMs,
      WARMUPS
    )
    return { args, ours, raw, paired, failures }
  }).pipe(Effect.provide(oursLayer))

  const { args, failures, ours, paired, raw } = await Effect.runPromise(program)
  const { baselineValue, overhead, value } = medianDifference(ours, raw, (s) => s.hostMs)
  return {
    id: "turn.overhead.host",
    unit: "ms",
    value,
    baseline: "node:child_process + readline driver of the same stub CLI, argv and env",
    baselineValue,
    ratio: overhead,
    target: `<= ${TARGET_MS} ms overhead`,
    met: ours.length >= 12 && raw.length >= 12 && overhead <= TARGET_MS,
    detail: {
      ratio: "ours - baseline (ms): median hostMs of ours minus median hostMs of raw",
      hostMs: "promptLegMs + eventLegMs, on the clock all processes share (performance.timeOrigin + performance.now())",
      promptLegMs:
        "the stub is about to write its initialize reply -> the user line is handed to the child's stdin stream. Ours: the session's reader, initialize answered, the session ready, the pool's hand-off and lease, Claude.query's send (turn span, queue, watchdog), the user frame's encoding, the stdin queue and its writer fiber (marked in the spawner's stdin sink); raw: readline, JSON.parse, then the mark just before stdin.write",
      eventLegMs:
        "the stub is about to write its first stream_event line -> the consumer sees it. Ours: stdout stream, StreamHandler (lines, decode), the session's routing, the turn's queue, Claude.query's stream; raw: readline, JSON.parse",
      stdinToStubMs:
        "not in the figure: the user line handed to the stdin stream -> the stub's blocking read of it returned (pipe transit and the stub being woken and scheduled)",
      cli:
        "bench/stub-cli.mjs: synchronous stub, system/init at once, the first stream_event alone 20 ms later, the rest 20 ms after",
      ours:
        "Claude.query on a SessionPool of its own per run (max 1, minIdle 0), closed after the run: a cold process each run",
      pairedDifferenceMs: pairedSummary(
        "hostMs of ours minus raw within each interleaved pair where both runs succeeded",
        paired
      ),
      promptLegOverheadMs: round(median(ours.map((s) => s.promptLegMs)) - median(raw.map((s) => s.promptLegMs))),
      eventLegOverheadMs: round(median(ours.map((s) => s.eventLegMs)) - median(raw.map((s) => s.eventLegMs))),
      requestedRuns: runs,
      warmupRuns: WARMUPS,
      order: `interleaved: ours, raw, ours, raw, ... after ${WARMUPS} warm-up runs of each`,
      argv: args,
      clockCheck: clock,
      failures,
      oursRuns: summaryOf(ours, figures),
      rawRuns: summaryOf(raw, figures),
      loadAverage: os.loadavg().map((l) => round(l, 2))
    }
  }
}

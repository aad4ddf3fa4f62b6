/**
 * turn.overhead.firstEvent: milliseconds from writing the prompt to the first
 * `stream_event` frame, through `Claude.query` on a cold process against a raw
 * `node:child_process` driver of the same CLI, argv and environment, both
 * against the same in-process FakeApi. Runs are interleaved (ours, raw, ...)
 * after one warm-up of each; medians are reported. Both sides spawn a new CLI
 * for every run: `Claude.query` goes through the `SessionPool`, so each run of
 * ours has a pool of its own (max 1, no spares), closed at the end of the run
 * (warm processes are `pool.ttfe.warmVsCold`'s subject, not this one's).
 *
 * Besides the end-to-end time (which includes the CLI's own work and its
 * request to the FakeApi, so its run-to-run noise is far larger than 1 ms),
 * each run records the host-side latency alone: from the stdout chunk holding
 * the `initialize` response to the prompt bytes reaching the child's stdin
 * stream, plus from the stdout chunk holding the first `stream_event` to the
 * moment the consumer sees it (`detail.hostOverheadMs`).
 */
import { NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit, Layer, Option, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as os from "node:os"
import * as Readline from "node:readline"
import * as Claude from "../src/Claude.ts"
import * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import * as TokenManager from "../src/TokenManager.ts"
import { frameOf, INITIALIZE_LINE, rawEnvironment, userLine } from "./raw.ts"
import { median, type Result } from "./report.ts"
import {
  claudeBin,
  freshHome,
  interleaved,
  medianDifference,
  pairedSummary,
  removeHome,
  scopedHome,
  summaryOf,
  tappedProcessManager,
  tappedSpawner
} from "./support.ts"

const PROMPT = "Say hello for the benchmark."
const REPLY = "Hello from the benchmark."
const RUN_TIMEOUT_MS = 20_000
const USER_PREFIX = "{\"type\":\"user\""
/** Timestamps (`performance.now()`) of one turn. */
interface Probe {
  /** The stdout chunk holding the `initialize` control_response arrived. */
  controlChunkAt?: number
  /** The prompt line was handed to stdin (ours: offered to the library's stdin queue). */
  promptAt?: number
  /** The prompt bytes reached the child's stdin stream (ours: the spawner's stdin sink; raw: = promptAt). */
  promptPipedAt?: number
  /** The stdout chunk holding the first `stream_event` frame arrived. */
  eventChunkAt?: number
  /** The consumer saw the first event of a `stream_event` frame. */
  eventAt?: number
  startedAt?: number
  endedAt?: number
}

interface Sample {
  /** promptAt -> eventAt: the reported metric. */
  readonly firstEventMs: number
  /** controlChunkAt -> promptPipedAt: reacting to the `initialize` response. */
  readonly promptLatencyMs: number
  /** eventChunkAt -> eventAt: delivering the first stream event to the consumer. */
  readonly eventLatencyMs: number
  /** promptAt -> promptPipedAt (0 for raw). */
  readonly queueMs: number
  /** promptLatencyMs + eventLatencyMs: the host's part only, without the CLI's. */
  readonly hostMs: number
  /** From starting the turn to the end of its stream / the CLI's exit. */
  readonly turnMs: number
}

const toSample = (probe: Probe): Sample | string => {
  const { controlChunkAt, endedAt, eventAt, eventChunkAt, promptAt, promptPipedAt, startedAt } = probe
  if (
    controlChunkAt === undefined || promptAt === undefined || promptPipedAt === undefined ||
    eventChunkAt === undefined || eventAt === undefined || startedAt === undefined || endedAt === undefined
  ) {
    return `incomplete timestamps: ${JSON.stringify(probe)}`
  }
  return {
    firstEventMs: eventAt - promptAt,
    promptLatencyMs: promptPipedAt - controlChunkAt,
    eventLatencyMs: eventAt - eventChunkAt,
    queueMs: promptPipedAt - promptAt,
    hostMs: (promptPipedAt - controlChunkAt) + (eventAt - eventChunkAt),
    turnMs: endedAt - startedAt
  }
}

/** Marks the first chunks holding the control response and the first stream event. */
const observeChunk = (probe: Probe, chunk: Uint8Array) => {
  if (probe.controlChunkAt !== undefined && probe.eventChunkAt !== undefined) return
  const now = performance.now()
  const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  if (probe.controlChunkAt === undefined && buffer.includes("\"control_response\"")) probe.controlChunkAt = now
  if (probe.eventChunkAt === undefined && buffer.includes("\"stream_event\"")) probe.eventChunkAt = now
}

const startsWithUser = (chunk: Uint8Array) =>
  chunk.byteLength >= USER_PREFIX.length &&
  Buffer.from(chunk.buffer, chunk.byteOffset, USER_PREFIX.length).toString("latin1") === USER_PREFIX

// -----------------------------------------------------------------------------
// ours: Claude.query on a ProcessManager that timestamps the prompt write, over
// a spawner that timestamps the child's stdin and stdout where they meet Node
// -----------------------------------------------------------------------------

interface ProbeSlot {
  current: Probe | undefined
}

const instrumentedSpawner = (slot: ProbeSlot) =>
  tappedSpawner(() => {
    const probe = slot.current
    return probe === undefined ? undefined : {
      stdin: (chunk) => {
        if (probe.promptPipedAt === undefined && startsWithUser(chunk)) probe.promptPipedAt = performance.now()
      },
      stdout: (chunk) => observeChunk(probe, chunk)
    }
  })

const instrumentedProcessManager = (slot: ProbeSlot) =>
  tappedProcessManager(() => {
    const probe = slot.current
    return probe === undefined ? undefined : (line) => {
      if (probe.promptAt === undefined && line.startsWith(USER_PREFIX)) probe.promptAt = performance.now()
    }
  })

/**
 * What every run of ours shares: the (instrumented) ProcessManager, whose version check of the executable
 * is done once, in the warm-up; the credential; the instrumented spawner. The `SessionPool` and the
 * `Claude` service are per run (see {@link runOurs}).
 */
const oursLayer = (slot: ProbeSlot) =>
  instrumentedProcessManager(slot).pipe(
    Layer.provideMerge(TokenManager.layerTest(Option.none())),
    Layer.provide(instrumentedSpawner(slot).pipe(Layer.provide(NodeServices.layer))),
    Layer.provideMerge(NodeServices.layer)
  )

const oursOptions = (api: FakeApi.FakeApi["Service"], home: string): ClaudeOptions.Input => ({
  includePartialMessages: true,
  env: FakeApi.cliEnvironment(api, home),
  executable: claudeBin,
  // Not on argv; only bounds the shutdown ladder should a run go wrong.
  timeouts: { shutdownGrace: 1_000 }
})

/**
 * One `Claude.query` on a cold process. `Claude.query` leases from the `SessionPool` and recycles the
 * process with `/clear` afterwards, so each run gets a pool of its own (max 1, no spares) that is closed
 * when the run ends: its one process is spawned for this query, and stopped before the next run, so no
 * idle CLI or background reset of an earlier run overlaps a later (raw or ours) run.
 */
const runOurs = (api: FakeApi.FakeApi["Service"], slot: ProbeSlot) =>
  Effect.gen(function*() {
    const home = yield* scopedHome
    const pool = yield* SessionPool.make({ max: 1, minIdle: 0, sweepInterval: "1 hour" })
    const claude = yield* Effect.provideService(Claude.make, SessionPool.SessionPool, pool)
    const probe: Probe = {}
    slot.current = probe
    probe.startedAt = performance.now()
    const exit = yield* claude.query(PROMPT, oursOptions(api, home)).pipe(
      Stream.runForEach((event) =>
        Effect.sync(() => {
          if (probe.eventAt === undefined && (event._tag === "TextDelta" || event._tag === "StreamEvent")) {
            probe.eventAt = performance.now()
          }
        })
      ),
      Effect.timeout(RUN_TIMEOUT_MS),
      Effect.exit
    )
    probe.endedAt = performance.now()
    slot.current = undefined
    const { spawned } = yield* pool.stats
    if (Exit.isSuccess(exit) && spawned !== 1) return `ours ran on ${spawned} spawned processes, not one cold one`
    return Exit.isSuccess(exit) ? toSample(probe) : `ours failed: ${Cause.pretty(exit.cause).slice(0, 1000)}`
  }).pipe(Effect.scoped)

// -----------------------------------------------------------------------------
// raw: node:child_process, readline, JSON.parse
// -----------------------------------------------------------------------------

const rawTurn = (args: ReadonlyArray<string>, env: Record<string, string>): Promise<Sample | string> =>
  new Promise((resolve) => {
    const probe: Probe = { startedAt: performance.now() }
    const child = ChildProcess.spawn(claudeBin, args, {
      env,
      stdio: ["pipe", "pipe", "pipe"],
      detached: process.platform !== "win32"
    })
    let problem: string | undefined
    let stderr = ""
    let settled = false
    const settle = (outcome: Sample | string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(outcome)
    }
    const killGroup = () => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
      try {
        process.kill(-child.pid, "SIGKILL")
      } catch {
        child.kill("SIGKILL")
      }
    }
    const timer = setTimeout(() => {
      problem = `raw timed out after ${RUN_TIMEOUT_MS} ms; stderr: ${stderr.slice(-500)}`
      killGroup()
      // Should something still hold the pipes open, stop waiting anyway.
      setTimeout(() => {
        child.stdout.destroy()
        child.stderr.destroy()
        settle(problem ?? "raw timed out")
      }, 3_000).unref()
    }, RUN_TIMEOUT_MS)
    child.on("error", (error) => {
      problem = `raw spawn failed: ${error.message}`
    })
    child.stdin.on("error", () => {})
    child.stderr.setEncoding("utf8")
    child.stderr.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-4096)
    })
    // Registered before readline's own listener, so it sees each chunk first.
    child.stdout.on("data", (chunk: Buffer) => observeChunk(probe, chunk))
    const lines = Readline.createInterface({ input: child.stdout, crlfDelay: Infinity })
    let prompted = false
    lines.on("line", (line) => {
      const frame = frameOf(line)
      if (frame === undefined) return
      if (!prompted && frame.type === "control_response" && frame.requestId === "initialize") {
        prompted = true
        probe.promptAt = performance.now()
        probe.promptPipedAt = probe.promptAt
        child.stdin.write(userLine(PROMPT))
      } else if (frame.type === "stream_event") {
        if (probe.eventAt === undefined) probe.eventAt = performance.now()
      } else if (frame.type === "result") {
        child.stdin.end()
      }
    })
    child.on("close", (code, signal) => {
      probe.endedAt = performance.now()
      if (problem !== undefined) return settle(problem)
      if (code !== 0) return settle(`raw exited with ${code ?? signal}; stderr: ${stderr.slice(-500)}`)
      settle(toSample(probe))
    })
    child.stdin.write(INITIALIZE_LINE)
  })

const runRaw = (api: FakeApi.FakeApi["Service"], args: ReadonlyArray<string>) =>
  Effect.acquireUseRelease(
    Effect.sync(freshHome),
    // The environment the library gives its CLI for these options (toEnv), so both sides get the same frames.
    (home) =>
      Effect.flatMap(ClaudeOptions.validate(oursOptions(api, home)), (options) =>
        Effect.promise(() => rawTurn(args, rawEnvironment(ClaudeOptions.toEnv(options))))),
    (home) =>
      Effect.sync(() => removeHome(home))
  )

// -----------------------------------------------------------------------------
// the benchmark
// -----------------------------------------------------------------------------

const round = (n: number) => Math.round(n * 1000) / 1000

const figures = ["firstEventMs", "hostMs", "promptLatencyMs", "eventLatencyMs", "queueMs", "turnMs"] as const

export const turnOverhead = (options?: { readonly runs?: number }): Promise<Result> => {
  const runs = Math.max(1, options?.runs ?? 12)
  const slot: ProbeSlot = { current: undefined }
  const program = Effect.gen(function*() {
    const api = yield* FakeApi.make({ script: () => FakeApi.text(REPLY) })
    // The argv the library uses for these options (the env is not on argv).
    const validated = yield* ClaudeOptions.validate(oursOptions(api, os.tmpdir()))
    const args = ClaudeOptions.toArgs(validated)

    // Warm-up (version check of the executable, JIT, page cache): one of each, discarded.
    const { baseline: raw, failures, ours, paired } = yield* interleaved(
      runs,
      runOurs(api, slot),
      runRaw(api, args),
      (a, b) => a.firstEventMs - b.firstEventMs
    )
    const requests = yield* api.conversationRequests
    return { ours, raw, paired, failures, args, conversationRequests: requests.length }
  }).pipe(Effect.scoped, Effect.provide(oursLayer(slot)))

  return Effect.runPromise(program).then(({ args, conversationRequests, failures, ours, paired, raw }) => {
    const { baselineValue, overhead, value } = medianDifference(ours, raw, (s) => s.firstEventMs)
    return {
      id: "turn.overhead.firstEvent",
      unit: "ms",
      value,
      baseline: "node:child_process + readline driver of the same CLI, argv and env",
      baselineValue,
      ratio: overhead,
      target: "<= 1 ms overhead",
      met: ours.length > 0 && raw.length > 0 && overhead <= 1,
      detail: {
        ratio: "ours - baseline (ms): median firstEventMs of ours minus median firstEventMs of raw",
        firstEventMs:
          "from the prompt write (ours: offered to the library's stdin queue) to the consumer seeing the first event of a stream_event frame",
        hostMs:
          "host-side latency only, without the CLI's: stdout chunk with the initialize control_response -> prompt bytes reach the child's stdin stream (promptLatencyMs), plus stdout chunk with the first stream_event -> consumer sees it (eventLatencyMs). Ours: chunks timestamped where the spawner's Node streams become Effect streams; raw: in a 'data' listener",
        queueMs:
          "ours only: the prompt offered to the library's stdin queue -> its bytes reach the spawner's stdin sink",
        pairedDifferenceMs: pairedSummary(
          "firstEventMs of ours minus raw within each interleaved pair where both runs succeeded",
          paired
        ),
        hostOverheadMs: round(median(ours.map((s) => s.hostMs)) - median(raw.map((s) => s.hostMs))),
        turnMs: "from starting the turn (ours: running the query stream; raw: spawn) to the end of the stream / exit",
        oursSetup:
          "Claude.query on a SessionPool of its own per run (max 1, minIdle 0), closed after the run: one cold process per run, no idle CLI or background /clear left to overlap the next run",
        requestedRuns: runs,
        warmupRuns: 1,
        order: "interleaved: ours, raw, ours, raw, ...",
        runTimeoutMs: RUN_TIMEOUT_MS,
        argv: args,
        conversationRequests,
        failures,
        ours: summaryOf(ours, figures),
        raw: summaryOf(raw, figures)
      }
    }
  })
}

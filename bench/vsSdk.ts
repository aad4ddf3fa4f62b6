/**
 * The `vs-sdk.*` benchmarks: this library against the official Agent SDK (`@anthropic-ai/claude-agent-sdk`),
 * both driving the same CLI binary (the `@anthropic-ai/claude-code` devDependency's, the SDK through
 * `pathToClaudeCodeExecutable`) against the same in-process FakeApi, with the same environment (offline,
 * `ENABLE_TOOL_SEARCH=false` so the MCP tool is not deferred behind ToolSearch), in one empty scratch cwd,
 * each side with a HOME of its own.
 *
 * Each side runs in a node of its own (`vsSdk-ours.child.ts`, `agentSdk.child.ts`, started with
 * `--expose-gc`, commands over IPC), so its host memory and CPU are its own; the FakeApi runs in this
 * process. Everything is one run, with the sides' rounds interleaved (ours, SDK, ours, SDK, ...):
 *
 * - throughput phase: rounds of 50 one-shot turns, 25 at a time (`Sizes`). Ours: `Claude.query` on a
 *   `SessionPool` of 25 warm processes (spawned by the warm-up round, recycled with a verified
 *   `/clear` after each turn). SDK: `query()` per turn, a new CLI each. A round lasts from its first call
 *   to the side being settled again (ours: every process idle, its reset done; SDK: every CLI exited), so
 *   the work a turn leaves behind counts against its round.
 *   - `vs-sdk.throughput`: turns per second, ours / SDK.
 *   - `vs-sdk.cpuLimit`: our turns per second over the machine's ceiling for our CLI work: cores / the
 *     CPU seconds our pooled CLIs used per turn (`/proc/<pid>/stat` utime + stime across each round).
 * - tool phase: 20 sequential turns per side, interleaved turn by turn, in which the FakeApi has
 *   the model call `mcp__calc__add` and then answers with text. Ours: an effect/ai toolkit as
 *   `config.tools` (McpTools) on a pool of one warm process; SDK: `tool()` + `createSdkMcpServer`.
 *   - `vs-sdk.tool`: p50 from the query's start to its Result, ours / SDK.
 */
import { Cause, Effect, Predicate, Schema } from "effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { hostEnvironmentAllowList } from "../src/ProcessManager.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import * as Leftovers from "../src/testing/Leftovers.ts"
import { median, type Result } from "./report.ts"
import {
  claudeBin,
  type Interleaved,
  interleaved,
  pairedSummary,
  quantile,
  round,
  scopedHome,
  stats
} from "./support.ts"
import {
  CALC_INPUT,
  clockTicks,
  type Command,
  cpuSnapshot,
  type Phase,
  REPLY,
  TOOL_ANSWER,
  TOOL_NAME
} from "./vsSdkChild.ts"
import { Memory, RoundReply, SetupReply, TeardownReply, ToolTurnReply } from "./vsSdkReplies.ts"

/** The sizes of a run: turns per round, how many at once, measured pairs of rounds (after one warm-up each), tool turns. */
export interface Sizes {
  readonly turns: number
  readonly concurrency: number
  readonly rounds: number
  readonly toolTurns: number
}

const defaultSizes: Sizes = { turns: 50, concurrency: 25, rounds: 3, toolTurns: 20 }
const TOOL_WARMUPS = 2
/** Longest a child may take over one command. */
const COMMAND_TIMEOUT_MS = 10 * 60_000

const THROUGHPUT_TARGET = 8
const CPU_LIMIT_TARGET = 0.85
const TOOL_TARGET = 0.5

const Ready = Schema.Struct({ side: Schema.String, node: Schema.String, memory: Memory })

const Answer = Schema.Struct({
  id: Schema.Number,
  ok: Schema.Boolean,
  value: Schema.optionalKey(Schema.Unknown),
  error: Schema.optionalKey(Schema.String)
})
const decodeAnswer = Schema.decodeUnknownOption(Answer)

// -----------------------------------------------------------------------------
// the children
// -----------------------------------------------------------------------------

type Side = "ours" | "sdk"

interface SideProcess {
  readonly side: Side
  readonly pid: number
  readonly ready: typeof Ready.Type
  readonly request: (command: Command) => Promise<unknown>
  /** Disconnects (the child exits once its commands are answered); SIGKILL after 30 s. Idempotent. */
  readonly stop: () => Promise<void>
}

const childFile: Record<Side, string> = { ours: "vsSdk-ours.child.ts", sdk: "agentSdk.child.ts" }

const startSide = (side: Side): Promise<SideProcess> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.fork(path.join(import.meta.dirname, childFile[side]), [], {
      execArgv: ["--expose-gc", "--conditions=effect-claude-code-source"],
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      serialization: "json"
    })
    let stderr = ""
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-4000)))
    const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
    let nextId = 1
    let exited: Error | undefined
    const exit = new Promise<void>((done) =>
      child.on("exit", (code, signal) => {
        exited = new Error(`${side}'s child exited with ${code ?? signal}: ${stderr}`)
        for (const p of pending.values()) p.reject(exited)
        pending.clear()
        reject(exited)
        done()
      })
    )
    child.on("error", reject)
    child.on("message", (message: unknown) => {
      const answer = decodeAnswer(message)
      if (answer._tag === "None") return
      const { error, id, ok, value } = answer.value
      if (id === 0) {
        const ready = Schema.decodeUnknownOption(Ready)(value)
        if (ready._tag === "None") reject(new Error(`${side}'s child: not a ready message: ${JSON.stringify(value)}`))
        else resolve({ side, pid: child.pid ?? -1, ready: ready.value, request, stop })
        return
      }
      const p = pending.get(id)
      pending.delete(id)
      if (ok) p?.resolve(value)
      else p?.reject(new Error(`${side}: ${error ?? "failed"}`))
    })
    const request = (command: Command) =>
      new Promise<unknown>((resolveRequest, rejectRequest) => {
        if (exited !== undefined) return rejectRequest(exited)
        const id = nextId++
        const timer = setTimeout(() => {
          pending.delete(id)
          rejectRequest(new Error(`${side}: ${command.op} took over ${COMMAND_TIMEOUT_MS} ms`))
        }, COMMAND_TIMEOUT_MS)
        pending.set(id, {
          resolve: (value) => {
            clearTimeout(timer)
            resolveRequest(value)
          },
          reject: (error) => {
            clearTimeout(timer)
            rejectRequest(error)
          }
        })
        child.send({ id, command })
      })
    const stop = async () => {
      if (child.connected) child.disconnect()
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
      await exit
      clearTimeout(timer)
    }
  })

/** A side's child for as long as the scope lives. */
const sideProcess = (side: Side) =>
  Effect.acquireRelease(Effect.promise(() => startSide(side)), (p) => Effect.promise(() => p.stop()))

/** A command's answer decoded with `schema`; a failure is a defect. */
const ask = <A>(child: SideProcess, command: Command, schema: Schema.ConstraintDecoder<A>) =>
  Effect.tryPromise(() => child.request(command)).pipe(
    Effect.flatMap((value) => Schema.decodeUnknownEffect(schema)(value)),
    Effect.orDie
  )

/** As `ask`, but a failure is the sample's failure (a string, as `interleaved` wants). */
const sample = <A>(child: SideProcess, command: Command, schema: Schema.ConstraintDecoder<A>) =>
  ask(child, command, schema).pipe(
    Effect.catchCause((cause) =>
      Effect.succeed(`${child.side} ${command.op} failed: ${Cause.pretty(cause).slice(0, 800)}`)
    )
  )

// -----------------------------------------------------------------------------
// the machine
// -----------------------------------------------------------------------------

/** Busy CPU seconds of the whole machine so far (`/proc/stat`: all but idle and iowait). */
const machineBusySeconds = (): number => {
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0] ?? ""
  const [, ...fields] = line.trim().split(/\s+/)
  const values = fields.map(Number)
  const total = values.reduce((a, b) => a + b, 0)
  return (total - (values[3] ?? 0) - (values[4] ?? 0)) / clockTicks
}

/** What the machine did during one command: its busy CPU, this process's (the FakeApi), and the load. */
const watched = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const busyBefore = machineBusySeconds()
    const selfBefore = process.cpuUsage()
    const startedAt = performance.now()
    const value = yield* effect
    const wallS = (performance.now() - startedAt) / 1000
    const self = process.cpuUsage(selfBefore)
    return {
      value,
      wallS,
      machineBusyCpuS: machineBusySeconds() - busyBefore,
      fakeApiCpuS: (self.user + self.system) / 1e6,
      loadAverage1m: round(os.loadavg()[0] ?? NaN, 2)
    }
  })

/** The variables of the host a CLI of ours inherits (ProcessManager's allow-list), given to both sides. */
const hostEnvironment = (): Record<string, string> =>
  Object.fromEntries(
    hostEnvironmentAllowList.flatMap((name) => {
      const value = process.env[name]
      return value === undefined || value === "" ? [] : [[name, value]]
    })
  )

// -----------------------------------------------------------------------------
// the run
// -----------------------------------------------------------------------------

const offersCalc = (request: FakeApi.RecordedRequest) =>
  (request.messagesRequest?.tools ?? []).some((tool) => Predicate.hasProperty(tool, "name") && tool.name === TOOL_NAME)

/** A tool result to answer: the final text. The calculator offered: call it. Otherwise the plain reply. */
const reply = (request: FakeApi.RecordedRequest): FakeApi.Reply =>
  FakeApi.lastToolResult(request) !== undefined
    ? FakeApi.text(TOOL_ANSWER)
    : offersCalc(request)
    ? FakeApi.toolUse(TOOL_NAME, CALC_INPUT)
    : FakeApi.text(REPLY)

/** Which phases a run has. */
export interface Phases {
  readonly throughput: boolean
  readonly tool: boolean
}

interface RoundSample {
  readonly reply: RoundReply
  /** The command's wall time, seen from here. */
  readonly wallS: number
  readonly machineBusyCpuS: number
  readonly fakeApiCpuS: number
  readonly loadAverage1m: number
  /** SDK rounds: CPU seconds our idle pooled CLIs used meanwhile. */
  readonly oursIdleCliCpuS?: number
}

export interface VsSdkRun {
  readonly sizes: Sizes
  readonly cores: number
  readonly clockTicks: number
  readonly ready: Record<Side, typeof Ready.Type>
  readonly throughput?: {
    readonly setup: Record<Side, SetupReply>
    readonly runs: Interleaved<RoundSample>
    readonly teardown: Record<Side, TeardownReply>
  }
  readonly tool?: {
    readonly runs: Interleaved<ToolTurnReply>
    readonly teardown: Record<Side, TeardownReply>
  }
  readonly leftoverProcesses: Record<Side, number>
  readonly conversationRequests: number
}

const cpuOf = (pids: ReadonlyArray<number>) => {
  const snapshot = cpuSnapshot(pids)
  return () => {
    let seconds = 0
    for (const [pid, after] of cpuSnapshot(pids)) seconds += after - (snapshot.get(pid) ?? after)
    return seconds
  }
}

const run = (phases: Phases, sizes: Sizes) =>
  Effect.gen(function*() {
    const counter = { conversationRequests: 0 }
    const api = yield* FakeApi.make({
      recordRequests: 0,
      script: (request) => {
        counter.conversationRequests++
        return reply(request)
      }
    })
    const cwd = yield* scopedHome
    const homes: Record<Side, string> = { ours: yield* scopedHome, sdk: yield* scopedHome }
    const env = (side: Side) => ({
      ...hostEnvironment(),
      ...FakeApi.cliEnvironment(api, homes[side]),
      ENABLE_TOOL_SEARCH: "false"
    })
    const children: Record<Side, SideProcess> = { ours: yield* sideProcess("ours"), sdk: yield* sideProcess("sdk") }
    const setup = (side: Side, phase: Phase, concurrency: number) =>
      ask(children[side], {
        op: "setup",
        phase,
        concurrency,
        env: env(side),
        cwd,
        home: homes[side],
        executable: claudeBin
      }, SetupReply)
    const teardown = (side: Side) => ask(children[side], { op: "teardown" }, TeardownReply)

    let throughput: VsSdkRun["throughput"]
    if (phases.throughput) {
      const setups = {
        ours: yield* setup("ours", "throughput", sizes.concurrency),
        sdk: yield* setup("sdk", "throughput", sizes.concurrency)
      }
      const roundCommand: Command = { op: "round", turns: sizes.turns, concurrency: sizes.concurrency }
      const roundOf = (side: Side) =>
        watched(sample(children[side], roundCommand, RoundReply)).pipe(
          Effect.map(({ value, ...machine }): RoundSample | string =>
            typeof value === "string" ? value : { reply: value, ...machine }
          )
        )
      const oursRound = roundOf("ours")
      // Our pooled CLIs stay up, idle, while the SDK's round runs: what they use meanwhile is measured.
      const sdkRound = Effect.suspend(() => {
        const idle = cpuOf(Leftovers.withHome(homes.ours))
        return Effect.map(roundOf("sdk"), (s) => (typeof s === "string" ? s : { ...s, oursIdleCliCpuS: idle() }))
      })
      const runs = yield* interleaved(sizes.rounds, oursRound, sdkRound, (a, b) => tps(a.reply) / tps(b.reply))
      throughput = { setup: setups, runs, teardown: { ours: yield* teardown("ours"), sdk: yield* teardown("sdk") } }
    }

    let tool: VsSdkRun["tool"]
    if (phases.tool) {
      yield* setup("ours", "tool", 1)
      yield* setup("sdk", "tool", 1)
      const turn = (side: Side) => sample(children[side], { op: "toolTurn" }, ToolTurnReply)
      const runs = yield* interleaved(
        sizes.toolTurns,
        Effect.map(turn("ours"), toolOutcome("ours")),
        Effect.map(turn("sdk"), toolOutcome("sdk")),
        (a, b) => a.ms / b.ms,
        TOOL_WARMUPS
      )
      tool = { runs, teardown: { ours: yield* teardown("ours"), sdk: yield* teardown("sdk") } }
    }

    yield* Effect.promise(() => Promise.all([children.ours.stop(), children.sdk.stop()]))
    const result: VsSdkRun = {
      sizes,
      cores: os.availableParallelism(),
      clockTicks,
      ready: { ours: children.ours.ready, sdk: children.sdk.ready },
      ...(throughput === undefined ? {} : { throughput }),
      ...(tool === undefined ? {} : { tool }),
      leftoverProcesses: {
        ours: Leftovers.withHome(homes.ours).length,
        sdk: Leftovers.withHome(homes.sdk).length
      },
      conversationRequests: counter.conversationRequests
    }
    return result
  }).pipe(Effect.scoped)

/** A tool turn that failed, did not call the handler exactly once, or did not end with the final text, failed. */
const toolOutcome = (side: Side) => (turn: ToolTurnReply | string): ToolTurnReply | string => {
  if (typeof turn === "string") return turn
  if (turn.failure !== undefined) return `${side}: ${turn.failure}`
  if (turn.calls !== 1) return `${side}: the handler ran ${turn.calls} times`
  if (turn.text !== TOOL_ANSWER) return `${side}: the result was ${JSON.stringify(turn.text)}`
  return turn
}

// -----------------------------------------------------------------------------
// the results
// -----------------------------------------------------------------------------

/** Turns per second of a round: the turns that reached their Result, over the round's start -> settled. */
const tps = (r: RoundReply) => r.latenciesMs.length / (r.settledMs / 1000)

const sum = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0)

const sideSummary = (
  cores: number,
  samples: ReadonlyArray<RoundSample>,
  setup: SetupReply,
  teardown: TeardownReply,
  ready: Memory
) => {
  const replies = samples.map((s) => s.reply)
  const turns = sum(replies.map((r) => r.latenciesMs.length))
  return {
    turnsPerSecond: stats(replies.map(tps), { samples: true }),
    turnsPerSecondToLastResult: stats(replies.map((r) => r.latenciesMs.length / (r.lastResultMs / 1000)), {
      samples: true
    }),
    latencyMs: {
      note: "each turn, from just before the query to its Result; all measured rounds pooled",
      ...stats(replies.flatMap((r) => r.latenciesMs))
    },
    roundMs: {
      lastResult: stats(replies.map((r) => r.lastResultMs)),
      done: stats(replies.map((r) => r.doneMs)),
      settled: stats(replies.map((r) => r.settledMs))
    },
    cpuSecondsPerTurn: {
      cli: round(sum(replies.map((r) => r.cliCpuS)) / turns),
      host: round(sum(replies.map((r) => r.hostCpuS)) / turns),
      fakeApi: round(sum(samples.map((s) => s.fakeApiCpuS)) / turns),
      machine: round(sum(samples.map((s) => s.machineBusyCpuS)) / turns),
      othersOnTheMachine: round(
        sum(samples.map((s) => s.machineBusyCpuS - s.reply.cliCpuS - s.reply.hostCpuS - s.fakeApiCpuS)) / turns
      )
    },
    machineUtilisation: {
      note: "busy CPU of the whole machine over cores x wall time, each round",
      samples: samples.map((s) => round(s.machineBusyCpuS / (cores * s.wallS), 3))
    },
    hostMemoryMiB: {
      afterImport: ready,
      afterSetup: setup.memory,
      peakDuringRounds: {
        rssMiB: Math.max(...replies.map((r) => r.peakMemory.rssMiB)),
        heapUsedMiB: Math.max(...replies.map((r) => r.peakMemory.heapUsedMiB))
      },
      afterTeardown: teardown.memory
    },
    lifetimeCliCpuS: round(teardown.lifetimeCliCpuS, 2),
    cliProcesses: replies.map((r) => r.cliProcesses),
    cliProcessesGone: replies.map((r) => r.cliProcessesGone),
    settled: replies.every((r) => r.settled),
    texts: [...new Set(replies.flatMap((r) => r.texts))],
    loadAverage1m: samples.map((s) => s.loadAverage1m),
    failures: replies.flatMap((r) => r.failures)
  }
}

const throughputOf = (run: VsSdkRun) => {
  const t = run.throughput
  if (t === undefined) throw new Error("the throughput phase did not run")
  const ours = sideSummary(run.cores, t.runs.ours, t.setup.ours, t.teardown.ours, run.ready.ours.memory)
  const sdk = sideSummary(run.cores, t.runs.baseline, t.setup.sdk, t.teardown.sdk, run.ready.sdk.memory)
  const failures = [...t.runs.failures, ...ours.failures, ...sdk.failures]
  const clean = failures.length === 0 && t.runs.ours.length === run.sizes.rounds &&
    t.runs.baseline.length === run.sizes.rounds &&
    ours.settled && sdk.settled && run.leftoverProcesses.ours === 0 && run.leftoverProcesses.sdk === 0 &&
    t.teardown.ours.leftoverProcesses === 0 && t.teardown.sdk.leftoverProcesses === 0
  return { t, ours, sdk, failures, clean }
}

const common = (run: VsSdkRun) => ({
  setup:
    "both sides drive node_modules/.bin/claude (@anthropic-ai/claude-code 2.1.329; the SDK through pathToClaudeCodeExecutable) against one in-process FakeApi, with the same env (ProcessManager's host allow-list + FakeApi.cliEnvironment + ENABLE_TOOL_SEARCH=false), in one empty scratch cwd, a HOME of their own each",
  hosts:
    "each side in a node of its own (--expose-gc), commands over IPC; the FakeApi in the bench's process. hostMemoryMiB is that child's process.memoryUsage(): afterImport/afterSetup/afterTeardown after full GCs, peakDuringRounds the highest of samples every 50 ms",
  node: run.ready.ours.node,
  cores: run.cores,
  clockTicks: run.clockTicks,
  leftoverProcesses: run.leftoverProcesses,
  conversationRequests: run.conversationRequests
})

export const throughputResult = (run: VsSdkRun): Result => {
  const { clean, failures, ours, sdk, t } = throughputOf(run)
  const value = ours.turnsPerSecond.median
  const baselineValue = sdk.turnsPerSecond.median
  const ratio = value / baselineValue
  return {
    id: "vs-sdk.throughput",
    unit: "turns/s",
    value,
    baseline: `Agent SDK query() per turn (a new CLI each), ${run.sizes.concurrency} at once`,
    baselineValue,
    ratio,
    target: `>= ${THROUGHPUT_TARGET}`,
    met: clean && ratio >= THROUGHPUT_TARGET,
    detail: {
      value:
        `median over ${run.sizes.rounds} rounds of ${run.sizes.turns} one-shot turns, ${run.sizes.concurrency} at once, of turns / (round start -> settled); ours: Claude.query on a SessionPool of ${run.sizes.concurrency} warm processes`,
      ratio: "ours / SDK: median turns per second of each",
      order:
        "interleaved rounds: ours, SDK, ours, SDK, ... after one warm-up round of each (ours' spawns its processes)",
      settled: "ours: every pooled process idle again, its /clear verified; SDK: every CLI it started has exited",
      pairedRatio: pairedSummary("ours / SDK turns per second within each interleaved pair", t.runs.paired),
      p50LatencyMs: { ours: ours.latencyMs.median, sdk: sdk.latencyMs.median },
      cpuBoundRatio: {
        note:
          "the SDK's CLI CPU seconds per turn over ours': the ratio both sides would reach if each were bound by its CLIs' CPU alone, whatever else the machine ran (the SDK's rounds are longer and take more of other work's CPU)",
        value: round(sdk.cpuSecondsPerTurn.cli / ours.cpuSecondsPerTurn.cli, 3)
      },
      ours: {
        ...ours,
        pool: t.runs.ours.map((s) => s.reply.pool),
        idleCliCpuSDuringSdkRounds: t.runs.baseline.map((s) => round(s.oursIdleCliCpuS ?? NaN, 3))
      },
      sdk,
      failures,
      ...common(run)
    }
  }
}

export const cpuLimitResult = (run: VsSdkRun): Result => {
  const { clean, failures, ours, t } = throughputOf(run)
  const perTurn = ours.cpuSecondsPerTurn
  const ceiling = run.cores / perTurn.cli
  const value = ours.turnsPerSecond.median
  const ratio = value / ceiling
  const perRound = t.runs.ours.map((s) => {
    const turns = s.reply.latenciesMs.length
    return round(tps(s.reply) / (run.cores / (s.reply.cliCpuS / turns)), 3)
  })
  return {
    id: "vs-sdk.cpuLimit",
    unit: "turns/s",
    value,
    baseline: `the machine's ceiling: ${run.cores} cores / our CLIs' CPU seconds per warm turn`,
    baselineValue: ceiling,
    ratio,
    target: `>= ${CPU_LIMIT_TARGET}`,
    met: clean && ratio >= CPU_LIMIT_TARGET,
    detail: {
      value: "ours' turns per second of vs-sdk.throughput (median of its rounds)",
      baselineValue:
        "cores / CPU seconds per turn of our pooled CLIs: /proc/<pid>/stat utime+stime of every process with ours' HOME, from each round's start to settled (their /clear recycles included), summed over the measured rounds, over the turns",
      ratio: "value / ceiling",
      perRoundRatio: perRound,
      cpuSecondsPerTurn: perTurn,
      cpuSecondsPerTurnNote:
        "cli: our pooled CLIs; host: ours' node (the library); fakeApi: the bench's process (the FakeApi serving every request); machine: all busy CPU of the machine during our rounds; othersOnTheMachine: machine - the three (other work on this shared machine)",
      ceilingWithHostAndApi: round(run.cores / (perTurn.cli + perTurn.host + perTurn.fakeApi), 3),
      ratioToCeilingWithHostAndApi: round(value / (run.cores / (perTurn.cli + perTurn.host + perTurn.fakeApi)), 3),
      sdkCliCpuSecondsPerTurn: throughputOf(run).sdk.cpuSecondsPerTurn.cli,
      loadAverage1m: ours.loadAverage1m,
      failures,
      ...common(run)
    }
  }
}

export const toolResult = (run: VsSdkRun): Result => {
  const t = run.tool
  if (t === undefined) throw new Error("the tool phase did not run")
  const oursMs = t.runs.ours.map((s) => s.ms)
  const sdkMs = t.runs.baseline.map((s) => s.ms)
  const value = median(oursMs)
  const baselineValue = median(sdkMs)
  const ratio = value / baselineValue
  const clean = t.runs.failures.length === 0 && oursMs.length === run.sizes.toolTurns &&
    sdkMs.length === run.sizes.toolTurns &&
    run.leftoverProcesses.ours === 0 && run.leftoverProcesses.sdk === 0 &&
    t.teardown.ours.leftoverProcesses === 0 && t.teardown.sdk.leftoverProcesses === 0
  return {
    id: "vs-sdk.tool",
    unit: "ms",
    value,
    baseline: "Agent SDK query() per turn with tool() + createSdkMcpServer",
    baselineValue,
    ratio,
    target: `<= ${TOOL_TARGET}`,
    met: clean && ratio <= TOOL_TARGET,
    detail: {
      value:
        `p50 over ${run.sizes.toolTurns} sequential turns of just before the query -> its Result, in which the FakeApi has the model call ${TOOL_NAME} (handled in the host) and then answers with text; ours: Claude.query with the toolkit as config.tools on a pool of one warm process (recycled between turns)`,
      ratio: "ours / SDK: p50 of each",
      order:
        `interleaved turn by turn: ours, SDK, ... after ${TOOL_WARMUPS} warm-up pairs; each side settled (ours' recycle done, the SDK's CLI exited) before the other's turn`,
      checked: "each turn called the handler exactly once and ended with the scripted final text",
      pairedRatio: pairedSummary("ours / SDK within each interleaved pair", t.runs.paired),
      oursMs: stats(oursMs, { samples: true }),
      sdkMs: stats(sdkMs, { samples: true }),
      p90: { ours: round(quantile(oursMs, 0.9)), sdk: round(quantile(sdkMs, 0.9)) },
      hostMemoryAfterTeardownMiB: { ours: t.teardown.ours.memory, sdk: t.teardown.sdk.memory },
      failures: t.runs.failures,
      ...common(run)
    }
  }
}

/**
 * The three benchmarks over one run, started by the first of them that is asked for; `phases` says which
 * phases that run has (run.ts asks only for the ones of the benchmarks it was told to run).
 */
export const vsSdk = (phases: Phases, sizes: Sizes = defaultSizes) => {
  let shared: Promise<VsSdkRun> | undefined
  const once = () => (shared ??= Effect.runPromise(run(phases, sizes)))
  return {
    throughput: () => once().then(throughputResult),
    cpuLimit: () => once().then(cpuLimitResult),
    tool: () => once().then(toolResult)
  }
}

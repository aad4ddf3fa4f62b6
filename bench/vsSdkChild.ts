/**
 * The plumbing both sides' child processes of `vsSdk.ts` share: the commands the parent sends over IPC, the
 * loop that answers them, memory samples, and CPU times from `/proc`. It imports neither effect nor the
 * Agent SDK, so neither side's host memory holds the other's code (the reply types are `import type`).
 */
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as Leftovers from "../src/testing/Leftovers.ts"
import type { Memory, PeakMemory, RoundReply, SetupReply, TeardownReply, ToolTurnReply } from "./vsSdkReplies.ts"

/** The prompt of the throughput phase's one-shot turns, and what the FakeApi answers it with. */
export const PROMPT = "Say hello for the benchmark."
export const REPLY: ReadonlyArray<string> = ["Hello ", "from the ", "benchmark."]

/** The tool phase: the prompt, the tool the FakeApi has the model call (with `CALC_INPUT`), the final text. */
export const TOOL_PROMPT = "What is 2 + 40? Use the calculator."
export const TOOL_NAME = "mcp__calc__add"
export const CALC_INPUT = { a: 2, b: 40 }
export const TOOL_ANSWER = "2 and 40 make 42."

/** The phase a side is set up for: one-shot turns at a concurrency, or sequential turns calling a tool. */
export type Phase = "throughput" | "tool"

export interface Setup {
  readonly op: "setup"
  readonly phase: Phase
  /** How many turns run at once in the phase's rounds (1 for the tool phase). */
  readonly concurrency: number
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string
  readonly home: string
  readonly executable: string
}

export type Command =
  | Setup
  | { readonly op: "round"; readonly turns: number; readonly concurrency: number }
  | { readonly op: "toolTurn" }
  | { readonly op: "teardown" }

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> => typeof u === "object" && u !== null

const isStringRecord = (u: unknown): u is Readonly<Record<string, string>> =>
  isRecord(u) && Object.values(u).every((v) => typeof v === "string")

/** The command of a message from the parent (`{ id, command }`), or `undefined` if it is not one. */
const commandOf = (u: unknown): Command | undefined => {
  if (!isRecord(u) || !isRecord(u.command)) return undefined
  const c = u.command
  switch (c.op) {
    case "setup":
      return (c.phase === "throughput" || c.phase === "tool") && typeof c.concurrency === "number" &&
          isStringRecord(c.env) && typeof c.cwd === "string" && typeof c.home === "string" &&
          typeof c.executable === "string"
        ? {
          op: "setup",
          phase: c.phase,
          concurrency: c.concurrency,
          env: c.env,
          cwd: c.cwd,
          home: c.home,
          executable: c.executable
        }
        : undefined
    case "round":
      return typeof c.turns === "number" && typeof c.concurrency === "number"
        ? { op: "round", turns: c.turns, concurrency: c.concurrency }
        : undefined
    case "toolTurn":
    case "teardown":
      return { op: c.op }
    default:
      return undefined
  }
}

/**
 * Answers the parent's commands one at a time with `handle`: `{ id, ok: true, value }`, or
 * `{ id, ok: false, error }` when it throws. First sends `{ id: 0, ok: true, value: ready }`. The process
 * ends when the parent disconnects.
 */
const serve = (ready: unknown, handle: (command: Command) => Promise<unknown>): void => {
  const send = process.send?.bind(process)
  if (send === undefined) {
    console.error("run by vsSdk.ts, with an IPC channel")
    process.exit(2)
  }
  let queue = Promise.resolve()
  const answer = async (message: unknown) => {
    const id = isRecord(message) && typeof message.id === "number" ? message.id : -1
    const command = commandOf(message)
    try {
      if (command === undefined) throw new Error(`not a command: ${JSON.stringify(message)}`)
      send({ id, ok: true, value: await handle(command) })
    } catch (error) {
      send({ id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) })
    }
  }
  process.on("message", (message) => {
    queue = queue.then(() => answer(message))
  })
  process.on("disconnect", () => {
    queue = queue.then(() => process.exit(0))
  })
  send({ id: 0, ok: true, value: ready })
}

/** What one side does for the commands; `S` is what its setup makes for the phase. */
export interface Driver<S> {
  readonly side: "ours" | "sdk"
  readonly setup: (command: Setup) => S
  /** A round of one-shot turns; the side settled at its end. */
  readonly round: (state: S, turns: number, concurrency: number) => Promise<RoundReply>
  /** One tool turn. */
  readonly toolTurn: (state: S) => Promise<Turn | string>
  /** After a tool turn: waits until the side is settled, or says why it is not. */
  readonly settle: (state: S) => Promise<string | undefined>
  /** Calls of the side's tool handler so far. */
  readonly toolCalls: () => number
  /** Ends the phase: its CLIs stopped (then awaited gone by their HOME). */
  readonly teardown: (state: S) => Promise<void>
}

/** Serves the parent's commands with `driver`, one phase set up at a time. */
export const serveSide = async <S>(driver: Driver<S>): Promise<void> => {
  let current: { readonly state: S; readonly home: string } | undefined
  const phase = () => {
    if (current === undefined) throw new Error("no setup")
    return current
  }
  serve({ side: driver.side, node: process.version, memory: await settledMemory() }, async (command) => {
    switch (command.op) {
      case "setup": {
        if (current !== undefined) throw new Error("already set up")
        current = { state: driver.setup(command), home: command.home }
        const reply: SetupReply = { memory: await settledMemory() }
        return reply
      }
      case "round":
        return driver.round(phase().state, command.turns, command.concurrency)
      case "toolTurn": {
        const { state } = phase()
        const callsBefore = driver.toolCalls()
        const outcome = await driver.toolTurn(state)
        // Settled before the other side's turn starts.
        const unsettled = await driver.settle(state)
        return toolTurnReply(outcome, driver.toolCalls() - callsBefore, unsettled)
      }
      case "teardown": {
        const { home, state } = phase()
        current = undefined
        await driver.teardown(state)
        await until(() => Leftovers.withHome(home).length === 0, 30_000)
        // A moment for Node to reap the last of them (their CPU time).
        await sleep(50)
        const reply: TeardownReply = {
          memory: await settledMemory(),
          leftoverProcesses: Leftovers.withHome(home).length,
          lifetimeCliCpuS: childrenCpuSeconds()
        }
        return reply
      }
    }
  })
}

const MiB = 1024 * 1024
const mib = (bytes: number) => Math.round((bytes / MiB) * 100) / 100

/** This process's memory after full GCs (when run with `--expose-gc`), in MiB. */
export const settledMemory = async (): Promise<Memory> => {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.()
    await new Promise((resolve) => setImmediate(resolve))
  }
  const m = process.memoryUsage()
  return {
    rssMiB: mib(m.rss),
    heapUsedMiB: mib(m.heapUsed),
    heapTotalMiB: mib(m.heapTotal),
    externalMiB: mib(m.external),
    gc: globalThis.gc !== undefined
  }
}

/** Samples this process's RSS and heap used every 50 ms until `stop`, which gives the peaks in MiB. */
export const memorySampler = () => {
  let rss = 0
  let heapUsed = 0
  const sample = () => {
    rss = Math.max(rss, process.memoryUsage.rss())
    heapUsed = Math.max(heapUsed, process.memoryUsage().heapUsed)
  }
  sample()
  const timer = setInterval(sample, 50)
  timer.unref()
  return {
    stop: (): PeakMemory => {
      clearInterval(timer)
      sample()
      return { rssMiB: mib(rss), heapUsedMiB: mib(heapUsed) }
    }
  }
}

/** A turn that reached its Result: just before the query -> the Result, and when that was. */
export interface Turn {
  readonly ms: number
  readonly resultAt: number
  readonly text: string | undefined
}

/** What a side adds to a round's reply: its CLIs' CPU and processes, and its pool. */
type CliFigures = Pick<RoundReply, "cliCpuS" | "cliProcesses" | "cliProcessesGone" | "pool">

/**
 * Starts timing a round: this process's CPU, memory samples and the clock. `done` when every turn has
 * ended, then `settled` (whether the side settled) gives the reply, with the side's CLI figures.
 */
export const roundTimer = () => {
  const hostBefore = process.cpuUsage()
  const memory = memorySampler()
  const startedAt = performance.now()
  let doneAt = NaN
  return {
    done: () => {
      doneAt = performance.now()
    },
    settled: (outcomes: ReadonlyArray<Turn | string>, settled: boolean, cli: () => CliFigures): RoundReply => {
      const settledAt = performance.now()
      const host = process.cpuUsage(hostBefore)
      const peakMemory = memory.stop()
      const ok = outcomes.flatMap((o) => (typeof o === "string" ? [] : [o]))
      return {
        latenciesMs: ok.map((t) => t.ms),
        failures: outcomes.flatMap((o) => (typeof o === "string" ? [o] : [])),
        lastResultMs: Math.max(...ok.map((t) => t.resultAt)) - startedAt,
        doneMs: doneAt - startedAt,
        settledMs: settledAt - startedAt,
        settled,
        hostCpuS: (host.user + host.system) / 1e6,
        peakMemory,
        texts: [...new Set(ok.map((t) => t.text ?? "<none>"))],
        ...cli()
      }
    }
  }
}

/** The reply to a tool turn: its outcome, the handler's calls during it, and what kept the side from settling. */
const toolTurnReply = (outcome: Turn | string, calls: number, unsettled: string | undefined): ToolTurnReply =>
  typeof outcome === "string"
    ? { ms: NaN, calls, text: "", failure: outcome }
    : { ms: outcome.ms, calls, text: outcome.text ?? "", ...(unsettled === undefined ? {} : { failure: unsettled }) }

/** Clock ticks per second of `/proc/<pid>/stat` times. */
export const clockTicks: number = (() => {
  try {
    const ticks = Number(ChildProcess.execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim())
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100
  } catch {
    return 100
  }
})()

/** The fields of `/proc/<pid>/stat` after the command name, from field 3 (state) on. */
const statFields = (pid: number | "self"): Array<string> | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).trim().split(" ")
  } catch {
    return undefined
  }
}

/** CPU seconds a process has used itself (utime + stime), if it is still there. */
export const cpuSecondsOf = (pid: number): number | undefined => {
  const fields = statFields(pid)
  return fields === undefined ? undefined : (Number(fields[11]) + Number(fields[12])) / clockTicks
}

/** CPU seconds of this process's children that have exited and been waited for (cutime + cstime). */
export const childrenCpuSeconds = (): number => {
  const fields = statFields("self")
  return fields === undefined ? NaN : (Number(fields[13]) + Number(fields[14])) / clockTicks
}

/** The CPU seconds of each of `pids` now (those still there). */
export const cpuSnapshot = (pids: ReadonlyArray<number>): Map<number, number> =>
  new Map(pids.flatMap((pid) => {
    const seconds = cpuSecondsOf(pid)
    const entry: [number, number] = [pid, seconds ?? NaN]
    return seconds === undefined ? [] : [entry]
  }))

/** Runs `run(i)` for i in 0..n-1 with at most `concurrency` running at once; resolves with the outcomes in order. */
export const forEachLimited = async <A>(
  n: number,
  concurrency: number,
  run: (i: number) => Promise<A>
): Promise<Array<A>> => {
  const out: Array<A> = []
  let next = 0
  const worker = async () => {
    for (let i = next++; i < n; i = next++) out[i] = await run(i)
  }
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker))
  return out
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `done` every 20 ms until it holds or `ms` have passed; whether it held. */
export const until = async (done: () => boolean, ms: number): Promise<boolean> => {
  const deadline = performance.now() + ms
  while (!done()) {
    if (performance.now() > deadline) return false
    await sleep(20)
  }
  return true
}

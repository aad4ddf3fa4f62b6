/**
 * Our side of `vs-sdk.*`, in a node of its own (run by `vsSdk.ts`, commands over IPC): `Claude.query` on a
 * `SessionPool` of warm CLIs (the layer of the pool benchmarks: no Resilience, no HealthChecker), and for
 * the tool phase an effect/ai toolkit served in-process (`config.tools`).
 */
import { Cause, Effect, Layer, ManagedRuntime, Schema, Stream } from "effect"
import { Tool, Toolkit } from "effect/ai"
import * as Claude from "../src/Claude.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as Leftovers from "../src/testing/Leftovers.ts"
import { realLayer } from "./support.ts"
import {
  cpuSnapshot,
  type Phase,
  PROMPT,
  roundTimer,
  serveSide,
  TOOL_NAME,
  TOOL_PROMPT,
  type Turn
} from "./vsSdkChild.ts"

const Add = Tool.make("add", {
  description: "Adds two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Number
})
const Calc = Toolkit.make(Add)

/** Calls of the tool's handler so far. */
const handler = { calls: 0 }
const CalcLive = Calc.toLayer({
  add: ({ a, b }) =>
    Effect.sync(() => {
      handler.calls++
      return a + b
    })
})

/**
 * Throughput: as many processes as turns run at once, spawned by the warm-up round and kept (no spares
 * beyond them, no sweeps, no idle retirement during the run). Tool: one process, recycled between turns.
 */
const poolSettings = (phase: Phase, concurrency: number): SessionPool.Settings =>
  phase === "throughput"
    ? { max: concurrency, minIdle: 0, maxIdleTime: "1 hour", sweepInterval: "1 hour", acquireTimeout: "5 minutes" }
    : { max: 1, minIdle: 0, maxIdleTime: "1 hour", sweepInterval: "1 hour" }

const layerFor = (phase: Phase, concurrency: number) =>
  Layer.merge(realLayer(poolSettings(phase, concurrency)), CalcLive)

interface State {
  readonly home: string
  readonly options: ClaudeOptions.Input
  readonly runtime: ManagedRuntime.ManagedRuntime<Layer.Success<ReturnType<typeof layerFor>>, never>
}

/**
 * Waits until every process of the pool is idle (its reset done) and nothing waits; false after 2 minutes.
 */
const settled = Effect.gen(function*() {
  const pool = yield* SessionPool.SessionPool
  for (let i = 0; i < 6000; i++) {
    const s = yield* pool.stats
    if (s.waiting === 0 && s.tasks <= 1 && s.keys.every((k) => k.starting + k.busy + k.resetting === 0)) return true
    yield* Effect.sleep("20 millis")
  }
  return false
})

/** A query run to its end, timed from just before its stream is run to its Result event. */
const timed = <E, R>(query: Stream.Stream<ClaudeEvent, E, R>) =>
  Effect.gen(function*() {
    let result: { readonly at: number; readonly text: string | undefined } | undefined
    const startedAt = performance.now()
    yield* Stream.runForEach(query, (event) =>
      Effect.sync(() => {
        if (event._tag === "Result") result = { at: performance.now(), text: event.text }
      }))
    if (result === undefined) return "the query had no Result"
    const turn: Turn = { ms: result.at - startedAt, resultAt: result.at, text: result.text }
    return turn
  }).pipe(Effect.catchCause((cause) => Effect.succeed(`the query failed: ${Cause.pretty(cause).slice(0, 600)}`)))

/** The one-shot turn of the throughput phase. */
const plainTurn = (options: ClaudeOptions.Input) => timed(Claude.query(PROMPT, options))

/** The turn of the tool phase: the calculator served in-process, the model told to call it. */
const toolTurn = (options: ClaudeOptions.Input) =>
  timed(Claude.query(TOOL_PROMPT, { ...options, allowedTools: [TOOL_NAME] }, { tools: { calc: Calc } }))

const round = (s: State, turns: number, concurrency: number) =>
  Effect.gen(function*() {
    const pool = yield* SessionPool.SessionPool
    const before = yield* pool.stats
    const cpuBefore = cpuSnapshot(Leftovers.withHome(s.home))
    const timer = roundTimer()
    const outcomes = yield* Effect.forEach(Array.from({ length: turns }, (_, i) => i), () => plainTurn(s.options), {
      concurrency
    })
    timer.done()
    const isSettled = yield* settled
    const after = yield* pool.stats
    return timer.settled(outcomes, isSettled, () => {
      const cpuAfter = cpuSnapshot(Leftovers.withHome(s.home))
      let cliCpuS = 0
      for (const [pid, seconds] of cpuAfter) cliCpuS += seconds - (cpuBefore.get(pid) ?? 0)
      return {
        cliCpuS,
        cliProcesses: cpuAfter.size,
        cliProcessesGone: [...cpuBefore.keys()].filter((pid) => !cpuAfter.has(pid)).length,
        pool: { spawned: after.spawned - before.spawned, retired: after.retired - before.retired, size: after.size }
      }
    })
  })

await serveSide<State>({
  side: "ours",
  setup: (command) => ({
    home: command.home,
    options: {
      env: command.env,
      executable: command.executable,
      cwd: command.cwd,
      timeouts: { startup: 120_000, shutdownGrace: 1_000 }
    },
    runtime: ManagedRuntime.make(layerFor(command.phase, command.concurrency))
  }),
  round: (s, turns, concurrency) => s.runtime.runPromise(round(s, turns, concurrency)),
  toolTurn: (s) => s.runtime.runPromise(toolTurn(s.options)),
  settle: async (s) => ((await s.runtime.runPromise(settled)) ? undefined : "the pool did not settle after the turn"),
  toolCalls: () => handler.calls,
  teardown: (s) => s.runtime.dispose()
})

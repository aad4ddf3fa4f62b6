/**
 * The measurement of `soak.heapPer1000Turns`, run by `soak.ts` in a node of its own started with
 * `--expose-gc`, so its heap holds nothing but this benchmark. Prints one JSON line (the last line of stdout).
 *
 * `Claude.query` turns, one after another, on the real FakeCli executable (`src/testing/fake-cli.mjs`,
 * spawned as an OS process) through the pool with its defaults (a warm spare per key) and
 * `maxTurnsPerProcess: 5`, so a process is replaced every 5 turns. After a warm-up, the heap after full GCs
 * is read every `checkpoint` turns; the value is the least-squares slope of heap used over turns, in MiB
 * per 1000 turns, outside V8's code spaces (compiled code and bytecode, which grow while the JIT warms up
 * and stop at the program's size; their slope and that of `heapUsed` are reported too). The baseline is the same on one process that is never replaced
 * (`maxTurnsPerProcess` above the number of turns): what turns cost without replacements.
 *
 * `BENCH_SOAK_TURNS` (default 3000), `BENCH_SOAK_WARMUP` (default 500) and `BENCH_SOAK_CHECKPOINT`
 * (default 250) tune it; `BENCH_SOAK_SPAWNER=1` runs the same on the in-process FakeSpawner instead, whose
 * state keeps a record of every process it spawned (so its slope includes the double's own records).
 */
import { Effect, Layer, Stream } from "effect"
import * as v8 from "node:v8"
import * as Claude from "../src/Claude.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeCli from "../src/testing/FakeCli.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import { fakeLayer, MiB, realLayer, round } from "./support.ts"

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) {
  console.error("run with --expose-gc")
  process.exit(2)
}

const turns = Math.max(1, Number(process.env.BENCH_SOAK_TURNS ?? 3000))
const warmup = Math.max(0, Number(process.env.BENCH_SOAK_WARMUP ?? 500))
const checkpoint = Math.max(1, Number(process.env.BENCH_SOAK_CHECKPOINT ?? 250))
const onSpawner = process.env.BENCH_SOAK_SPAWNER === "1"
const REPLACED_EVERY = 5

const options: ClaudeOptions.Input = onSpawner
  ? { executable: FakeSpawner.executable }
  : { ...FakeCli.options({}), timeouts: { shutdownGrace: 1_000 } }

/**
 * V8's spaces for compiled code and bytecode. What they hold grows while the JIT warms up (more functions
 * reach the optimising tiers) and stops at the program's code size; it is not memory kept per turn.
 */
const codeSpaces = new Set([
  "code_space",
  "code_large_object_space",
  "trusted_space",
  "trusted_large_object_space",
  "shared_trusted_space",
  "shared_trusted_large_object_space"
])

interface Heap {
  /** `heapUsed`, MiB. */
  readonly heapUsed: number
  /** Heap used outside the code spaces (the program's objects), MiB. */
  readonly objects: number
  readonly code: number
}

/** Heap after full GCs, with a turn of the event loop between them (finalizers, weak refs). */
const settledHeap = Effect.promise(async (): Promise<Heap> => {
  for (let i = 0; i < 6; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  let code = 0
  let all = 0
  for (const space of v8.getHeapSpaceStatistics()) {
    all += space.space_used_size
    if (codeSpaces.has(space.space_name)) code += space.space_used_size
  }
  return { heapUsed: process.memoryUsage().heapUsed / MiB, objects: (all - code) / MiB, code: code / MiB }
})

/** Least-squares slope of `ys` over `xs`. */
const slope = (xs: ReadonlyArray<number>, ys: ReadonlyArray<number>): number => {
  const n = xs.length
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += ((xs[i] ?? 0) - mx) * ((ys[i] ?? 0) - my)
    den += ((xs[i] ?? 0) - mx) ** 2
  }
  return den === 0 ? NaN : num / den
}

const soak = (maxTurnsPerProcess: number) => {
  const pool: SessionPool.Settings = { maxTurnsPerProcess }
  const run = Effect.gen(function*() {
    const claude = yield* Claude.Claude
    const sessions = yield* SessionPool.SessionPool
    let failed = 0
    const turn = claude.query("Say hello for the soak benchmark.", options).pipe(
      Stream.runDrain,
      Effect.catch(() => Effect.sync(() => failed++))
    )
    for (let i = 0; i < warmup; i++) yield* turn
    const xs: Array<number> = []
    const points: Array<Heap> = []
    const startedAt = performance.now()
    for (let done = 0; done <= turns; done += checkpoint) {
      xs.push(done)
      points.push(yield* settledHeap)
      if (done + checkpoint > turns) break
      for (let i = 0; i < checkpoint; i++) yield* turn
    }
    const turnsRun = xs.at(-1) ?? 0
    const msPerTurn = (performance.now() - startedAt) / Math.max(1, turnsRun)
    const perThousand = (ys: ReadonlyArray<number>) => round(slope(xs, ys) * 1000, 4)
    const pooled = yield* sessions.stats
    return {
      maxTurnsPerProcess,
      turns: turnsRun,
      failed,
      msPerTurn: round(msPerTurn, 2),
      processesSpawned: pooled.spawned,
      objectsPer1000TurnsMiB: perThousand(points.map((p) => p.objects)),
      heapUsedPer1000TurnsMiB: perThousand(points.map((p) => p.heapUsed)),
      codePer1000TurnsMiB: perThousand(points.map((p) => p.code)),
      objectsMiB: points.map((p) => round(p.objects, 3)),
      codeMiB: points.map((p) => round(p.code, 3)),
      heapUsedMiB: points.map((p) => round(p.heapUsed, 3))
    }
  })
  return onSpawner
    ? run.pipe(Effect.provide(Layer.fresh(fakeLayer({}, pool))))
    : run.pipe(Effect.provide(Layer.fresh(realLayer(pool))))
}

const program = Effect.gen(function*() {
  const replaced = yield* soak(REPLACED_EVERY)
  const oneProcess = yield* soak(warmup + turns + 1)
  return { onSpawner, warmup, checkpoint, replaced, oneProcess }
})

Effect.runPromise(program).then(
  (result) => {
    console.log(JSON.stringify(result))
  },
  (error) => {
    console.error(error)
    process.exit(1)
  }
)

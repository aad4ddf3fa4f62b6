/**
 * The measurement of `soak.heapPer1000Turns`, run by `soak.ts` in a node of its own started with
 * `--expose-gc`, so its heap holds nothing but this benchmark. Prints one JSON line (the last line of stdout).
 *
 * `Claude.query` turns, one after another, on the real FakeCli executable (`src/testing/fake-cli.mjs`,
 * spawned as an OS process) through the pool with its defaults (a warm spare per key) and, by default,
 * `maxTurnsPerProcess: 5`, so a process is replaced every 5 turns (`BENCH_SOAK_MODE=oneProcess`: the
 * baseline, one process never replaced). Every `checkpoint` turns the heap is read at a quiescent point:
 *
 * - the pool idle: nothing starting, busy or resetting, no background task but the sweeper (a retired
 *   process's stop, a spare's spawn and a `/clear` run in the background and hold memory while they run);
 * - the same processes alive at every reading: the one of the last turn, recycled, and the warm spare.
 *   Replacements leave one of them alone for a moment; at such a point more turns are run first. Otherwise
 *   the readings mix pool states that differ by a whole process (~0.1 MiB);
 * - after full GCs with a turn of the event loop between them (finalizers, weak refs);
 * - outside V8's code spaces (compiled code and bytecode), whose size grows while the JIT warms up.
 *
 * The value is the least-squares slope of heap used (outside the code spaces) over the turns after the
 * warm-up, in MiB per 1000 turns. It still holds V8's metadata of the compiled code that lives outside
 * those spaces (feedback vectors, the dependent-code lists of optimised code), which grows with the JIT
 * too: while code grows (the first ~3000 turns replacing processes, where spawn and shutdown paths reach
 * the optimising tiers), the heap does, by ~0.05 MiB per 1000 turns, then both flatten. Heap snapshots
 * taken at quiescent points 3000 turns apart (turns 3000 and 6000) found the JavaScript objects of the
 * program no larger (+320 bytes and -15 KB in two runs replacing processes, -5.7 KB on one process), and
 * what growth is left (~0.01 MiB per 1000 turns, either way) in V8's code metadata: the lists of optimised
 * code that depends on each hidden class (`dependent_code`, +27 to 41 KB).
 * So the warm-up (default 3000 turns) lasts until the code has mostly stopped growing, and the slopes of
 * the warm-up are reported too (`warmup`), as is the code's slope over the measured turns (measured: ~0.065
 * MiB per 1000 turns, against ~0.68 in the warm-up).
 *
 * `BENCH_SOAK_TURNS` (default 3000), `BENCH_SOAK_WARMUP` (default 3000) and `BENCH_SOAK_CHECKPOINT`
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
const warmup = Math.max(0, Number(process.env.BENCH_SOAK_WARMUP ?? 3000))
const checkpoint = Math.max(1, Number(process.env.BENCH_SOAK_CHECKPOINT ?? 250))
const onSpawner = process.env.BENCH_SOAK_SPAWNER === "1"
const oneProcess = process.env.BENCH_SOAK_MODE === "oneProcess"
const REPLACED_EVERY = 5
/** Processes alive at a reading: the one of the last turn, recycled, and the pool's warm spare. */
const LIVE = 2

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
  /** Heap used outside the code spaces (the program's objects and V8's metadata of its code), MiB. */
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

/** Nothing in flight: no process starting, busy or resetting, no background task but the sweeper. */
const isQuiet = (stats: SessionPool.Stats) =>
  stats.tasks <= 1 && stats.keys.every((key) => key.starting === 0 && key.busy === 0 && key.resetting === 0)

interface Point extends Heap {
  readonly turns: number
  readonly live: number
}

const soak = (maxTurnsPerProcess: number) => {
  const pool: SessionPool.Settings = { maxTurnsPerProcess }
  const run = Effect.gen(function*() {
    const claude = yield* Claude.Claude
    const sessions = yield* SessionPool.SessionPool
    let failed = 0
    let done = 0
    let turnMs = 0
    const turn = Effect.gen(function*() {
      const startedAt = performance.now()
      yield* claude.query("Say hello for the soak benchmark.", options).pipe(
        Stream.runDrain,
        Effect.catch(() => Effect.sync(() => failed++))
      )
      turnMs += performance.now() - startedAt
      done++
    })
    const quiet = Effect.gen(function*() {
      for (let i = 0; i < 1000; i++) {
        const stats = yield* sessions.stats
        if (isQuiet(stats)) return stats
        yield* Effect.sleep("10 millis")
      }
      return yield* Effect.die(new Error(`the pool did not go quiet in 10 s: ${JSON.stringify(yield* sessions.stats)}`))
    })
    // A quiescent point with LIVE processes; a few more turns where a replacement left one alone.
    const reading = Effect.gen(function*() {
      let stats = yield* quiet
      for (let extra = 0; stats.size !== LIVE && extra < 20; extra++) {
        yield* turn
        stats = yield* quiet
      }
      const heap = yield* settledHeap
      return { turns: done, live: stats.size, ...heap }
    })
    const points: Array<Point> = []
    const readAt = (target: number) =>
      Effect.gen(function*() {
        while (done < target) yield* turn
        const point = yield* reading
        points.push(point)
        return point.turns
      })
    // Readings through the warm-up too (from its first checkpoint), for its slopes; the measured turns
    // start at its last reading.
    let start = 0
    for (let target = checkpoint; target <= Math.max(checkpoint, warmup); target += checkpoint) {
      start = yield* readAt(target)
    }
    for (let target = start + checkpoint; target <= start + turns; target += checkpoint) yield* readAt(target)
    const measured = points.filter((p) => p.turns >= start)
    const warming = points.filter((p) => p.turns <= start)
    const perThousand = (ps: ReadonlyArray<Point>, of: (p: Point) => number) =>
      round(slope(ps.map((p) => p.turns), ps.map(of)) * 1000, 4)
    const stats = yield* sessions.stats
    return {
      maxTurnsPerProcess,
      turns: (measured.at(-1)?.turns ?? 0) - (measured[0]?.turns ?? 0),
      failed,
      msPerTurn: round(turnMs / Math.max(1, done), 2),
      processesSpawned: stats.spawned,
      objectsPer1000TurnsMiB: perThousand(measured, (p) => p.objects),
      heapUsedPer1000TurnsMiB: perThousand(measured, (p) => p.heapUsed),
      codePer1000TurnsMiB: perThousand(measured, (p) => p.code),
      warmup: {
        turns: warmup,
        objectsPer1000TurnsMiB: perThousand(warming, (p) => p.objects),
        codePer1000TurnsMiB: perThousand(warming, (p) => p.code)
      },
      points: points.map((p) => ({
        turns: p.turns,
        live: p.live,
        objectsMiB: round(p.objects, 4),
        codeMiB: round(p.code, 3),
        heapUsedMiB: round(p.heapUsed, 3)
      }))
    }
  })
  return onSpawner
    ? run.pipe(Effect.provide(Layer.fresh(fakeLayer({}, pool))))
    : run.pipe(Effect.provide(Layer.fresh(realLayer(pool))))
}

Effect.runPromise(soak(oneProcess ? warmup + turns + 100 : REPLACED_EVERY)).then(
  (result) => {
    console.log(JSON.stringify({ onSpawner, mode: oneProcess ? "oneProcess" : "replaced", checkpoint, ...result }))
  },
  (error) => {
    console.error(error)
    process.exit(1)
  }
)

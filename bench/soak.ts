/**
 * soak.heapPer1000Turns (F23): heap growth after GC per 1000 `Claude.query` turns on the real FakeCli
 * executable (an OS process per CLI), with the pool replacing its process every 5 turns
 * (`maxTurnsPerProcess: 5`, a warm spare per key as by default), over 3000 turns after a warm-up of 500.
 * Heap after full GCs every 250 turns, least-squares slope, outside V8's code spaces (see
 * `soak.child.ts`); baseline: the same turns on one process that is never replaced. Measured in a node of
 * its own with `--expose-gc`. `detail.fakeSpawner` is the same on the in-process FakeSpawner, whose state
 * keeps a record of every spawned process and stdin line (its slopes include the double's records).
 */
import type { Result } from "./report.ts"
import { runChild } from "./support.ts"

interface Soak {
  readonly turns: number
  readonly failed: number
  readonly msPerTurn: number
  readonly processesSpawned: number
  readonly objectsPer1000TurnsMiB: number
  readonly heapUsedPer1000TurnsMiB: number
  readonly codePer1000TurnsMiB: number
}

interface SoakOutput {
  readonly replaced: Soak & Readonly<Record<string, unknown>>
  readonly oneProcess: Soak & Readonly<Record<string, unknown>>
}

const TARGET_MIB = 0.05

const lastJsonLine = (stdout: string): SoakOutput => JSON.parse(stdout.trim().split("\n").at(-1) ?? "")

export const soakHeap = async (): Promise<Result> => {
  const real = lastJsonLine(await runChild("soak.child.ts", process.env, 15 * 60_000))
  const fake = lastJsonLine(await runChild("soak.child.ts", { ...process.env, BENCH_SOAK_SPAWNER: "1" }))
  const value = real.replaced.objectsPer1000TurnsMiB
  const baselineValue = real.oneProcess.objectsPer1000TurnsMiB
  return {
    id: "soak.heapPer1000Turns",
    unit: "MiB/1000 turns",
    value,
    baseline: "the same FakeCli turns on one process, never replaced",
    baselineValue,
    ratio: value / baselineValue,
    target: `<= ${TARGET_MIB}`,
    met: real.replaced.failed === 0 && real.replaced.turns >= 3000 && value <= TARGET_MIB,
    detail: {
      value:
        "least-squares slope of heap used after full GCs (outside V8's code spaces) over turns, x1000; a process replaced every 5 turns",
      real,
      fakeSpawner: {
        note: "in-process FakeSpawner: its state records every process and stdin line, so its slopes include the double's records",
        ...fake
      }
    }
  }
}

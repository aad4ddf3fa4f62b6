/**
 * soak.heapPer1000Turns (F23): heap growth per 1000 `Claude.query` turns on the real FakeCli executable
 * (an OS process per CLI), with the pool replacing its process every 5 turns (`maxTurnsPerProcess: 5`, a
 * warm spare per key as by default), over 3000 turns after a warm-up of 3000. The heap is read every 250
 * turns at a quiescent point (the pool idle, the same two processes alive, full GCs), outside V8's code
 * spaces; the value is the least-squares slope (see `soak.child.ts` for what it holds, and why the warm-up
 * lasts until the code stops growing). Baseline: the same turns on one process that is never replaced.
 * Each run is a node of its own with `--expose-gc`. `detail.fakeSpawner` is the same on the in-process
 * FakeSpawner, whose state keeps a record of every spawned process and stdin line (its slopes include the
 * double's records).
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

const TARGET_MIB = 0.05

const lastJsonLine = (stdout: string): Soak & Readonly<Record<string, unknown>> =>
  JSON.parse(stdout.trim().split("\n").at(-1) ?? "")

const soakRun = async (env: NodeJS.ProcessEnv) =>
  lastJsonLine(await runChild("soak.child.ts", { ...process.env, ...env }, 15 * 60_000))

export const soakHeap = async (): Promise<Result> => {
  const replaced = await soakRun({})
  const oneProcess = await soakRun({ BENCH_SOAK_MODE: "oneProcess" })
  const fakeReplaced = await soakRun({ BENCH_SOAK_SPAWNER: "1" })
  const fakeOneProcess = await soakRun({ BENCH_SOAK_SPAWNER: "1", BENCH_SOAK_MODE: "oneProcess" })
  const value = replaced.objectsPer1000TurnsMiB
  const baselineValue = oneProcess.objectsPer1000TurnsMiB
  return {
    id: "soak.heapPer1000Turns",
    unit: "MiB/1000 turns",
    value,
    baseline: "the same FakeCli turns on one process, never replaced",
    baselineValue,
    ratio: value / baselineValue,
    target: `<= ${TARGET_MIB}`,
    met: replaced.failed === 0 && replaced.turns >= 3000 && value <= TARGET_MIB,
    detail: {
      value: "least-squares slope, x1000, of heap used outside V8's code spaces at quiescent points (the pool idle, " +
        "the process of the last turn and the spare alive, after full GCs), over 3000 turns after a warm-up " +
        "of 3000; a process replaced every 5 turns. It includes V8's metadata of compiled code outside those " +
        "spaces, which grows while the JIT warms up: see warmup and codePer1000TurnsMiB",
      real: { replaced, oneProcess },
      fakeSpawner: {
        note:
          "in-process FakeSpawner: its state records every process and stdin line, so its slopes include the double's records",
        replaced: fakeReplaced,
        oneProcess: fakeOneProcess
      }
    }
  }
}

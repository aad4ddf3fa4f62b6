/**
 * `npm run bench`: every benchmark, then `bench/results/latest.json` and a table.
 * Exits 0 whether or not the targets are met; the table says which are not.
 * `BENCH_HEAVY=1` also runs the heavy ones (sessions.concurrent.real: minutes, GBs).
 * `npm run bench -- <id> ...` runs only the benchmarks named (`npm run bench -- soak.heapPer1000Turns`).
 */
import { concurrentFake, concurrentReal } from "./concurrent.ts"
import { containmentOverhead } from "./containment.ts"
import { decodeThroughput } from "./decode.ts"
import { turnOverheadHost } from "./host.ts"
import { acquireP99, ttfeWarmVsCold } from "./pool.ts"
import { ttfeWarmVsRaw } from "./poolRaw.ts"
import { type Entry, isSkipped, type Result, table, write } from "./report.ts"
import { soakHeap } from "./soak.ts"
import { leftoverProcesses } from "./support.ts"
import { turnOverhead } from "./turn.ts"
import { vsSdk } from "./vsSdk.ts"

const results: Array<Entry> = []
const only = new Set(process.argv.slice(2))
const wanted = (id: string) => only.size === 0 || only.has(id)

/** A benchmark that threw is recorded as not met, with the error, and the others still run. */
const failed = (id: string, unit: string, target: string, error: unknown): Result => ({
  id,
  unit,
  value: NaN,
  baseline: "-",
  baselineValue: NaN,
  ratio: NaN,
  target,
  met: false,
  detail: { error: error instanceof Error ? (error.stack ?? error.message) : String(error) }
})

const bench = async (id: string, unit: string, target: string, run: () => Entry | Promise<Entry>) => {
  if (!wanted(id)) return
  console.log(`${id} ...`)
  const startedAt = performance.now()
  try {
    results.push(await run())
  } catch (error) {
    console.error(error)
    results.push(failed(id, unit, target, error))
  }
  console.log(`  ${((performance.now() - startedAt) / 1000).toFixed(1)} s`)
}

await bench("decode.throughput", "MiB/s", ">= 0.5", () => decodeThroughput())
await bench("turn.overhead.firstEvent", "ms", "<= 1 ms overhead", () => turnOverhead())
await bench("turn.overhead.host", "ms", "<= 0.5 ms overhead", () => turnOverheadHost())
await bench("pool.ttfe.warmVsCold", "ms", "<= 0.10", () => ttfeWarmVsCold())
await bench("pool.ttfe.warmVsRaw", "ms", "<= 1.05", () => ttfeWarmVsRaw())
await bench("spawn.containment.overhead", "ms", "<= 10 ms per spawn", () => containmentOverhead())
await bench("pool.acquire", "ms", "p99 <= 1 ms", () => acquireP99())
await bench("sessions.concurrent.fake", "MiB/session", "<= 0.25", () => concurrentFake())
await bench("soak.heapPer1000Turns", "MiB/1000 turns", "<= 0.05", () => soakHeap())
// One run for the three (started by the first): the phases of the ones asked for.
const sdk = vsSdk({
  throughput: wanted("vs-sdk.throughput") || wanted("vs-sdk.cpuLimit"),
  tool: wanted("vs-sdk.tool")
})
await bench("vs-sdk.throughput", "turns/s", ">= 8", sdk.throughput)
await bench("vs-sdk.cpuLimit", "turns/s", ">= 0.85", sdk.cpuLimit)
await bench("vs-sdk.tool", "ms", "<= 0.5", sdk.tool)
await bench("sessions.concurrent.real", "sessions", ">= 100 with zero failures", () => concurrentReal())

const unknown = [...only].filter((id) => !results.some((r) => r.id === id))
if (unknown.length > 0) console.log(`no benchmark named: ${unknown.join(", ")}`)
const leftovers = leftoverProcesses()
const file = write(results)
console.log()
console.log(table(results))
console.log()
const missed = results.filter((r) => !isSkipped(r) && !r.met)
if (missed.length > 0) console.log(`targets NOT met: ${missed.map((r) => r.id).join(", ")}`)
const skipped = results.filter(isSkipped)
if (skipped.length > 0) console.log(`skipped: ${skipped.map((r) => `${r.id} (${r.reason})`).join("; ")}`)
if (leftovers.length > 0) console.log(`WARNING: benchmark processes still running: ${leftovers.join(", ")}`)
console.log(`written to ${file}`)

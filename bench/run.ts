/**
 * `npm run bench`: every benchmark, then `bench/results/latest.json` and a table.
 * Exits 0 whether or not the targets are met; the table says which are not.
 */
import { decodeThroughput } from "./decode.ts"
import { type Result, table, write } from "./report.ts"
import { turnOverhead } from "./turn.ts"

const results: Array<Result> = []

console.log("decode.throughput ...")
results.push(decodeThroughput())

console.log("turn.overhead.firstEvent ...")
results.push(await turnOverhead())

const file = write(results)
console.log()
console.log(table(results))
console.log()
const missed = results.filter((r) => !r.met)
if (missed.length > 0) console.log(`targets NOT met: ${missed.map((r) => r.id).join(", ")}`)
console.log(`written to ${file}`)

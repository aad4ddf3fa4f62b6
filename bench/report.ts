import * as fs from "node:fs"
import * as path from "node:path"

export interface Result {
  readonly id: string
  readonly unit: string
  readonly value: number
  readonly baseline: string
  readonly baselineValue: number
  /**
   * How `value` compares with `baselineValue`: ours / baseline for throughputs, memory and latency ratios;
   * ours - baseline for the overhead in ms. `detail.ratio` says which when it is not ours / baseline.
   */
  readonly ratio: number
  readonly target: string
  readonly met: boolean
  readonly detail: Readonly<Record<string, unknown>>
}

/** A benchmark that did not run this time, listed with the reason (`value`, `ratio` and `met` are `null`). */
export interface Skipped {
  readonly id: string
  readonly unit: string
  readonly value: null
  readonly baseline: string
  readonly baselineValue: null
  readonly ratio: null
  readonly target: string
  readonly met: null
  readonly skipped: true
  readonly reason: string
  readonly detail: Readonly<Record<string, unknown>>
}

export type Entry = Result | Skipped

export const isSkipped = (entry: Entry): entry is Skipped => "skipped" in entry && entry.skipped === true

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2
}

export const write = (results: ReadonlyArray<Entry>) => {
  const dir = path.join(import.meta.dirname, "results")
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, "latest.json")
  fs.writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), node: process.version, results }, null, 2))
  return file
}

const fixed = (n: number) => (Math.abs(n) < 0.01 && n !== 0 ? n.toPrecision(2) : n.toFixed(2))

export const table = (results: ReadonlyArray<Entry>): string => {
  const rows = results.map((r) =>
    isSkipped(r)
      ? [r.id, "-", `- (${r.baseline})`, "-", r.target, `skipped: ${r.reason}`]
      : [
        r.id,
        `${fixed(r.value)} ${r.unit}`,
        `${fixed(r.baselineValue)} ${r.unit} (${r.baseline})`,
        r.ratio.toFixed(3),
        r.target,
        r.met ? "met" : "NOT met"
      ]
  )
  const header = ["id", "ours", "baseline", "ratio", "target", ""]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n")
}

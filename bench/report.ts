import * as fs from "node:fs"
import * as path from "node:path"

export interface Result {
  readonly id: string
  readonly unit: string
  readonly value: number
  readonly baseline: string
  readonly baselineValue: number
  /** ours / baseline for throughputs; ours - baseline for the overhead in ms (see `detail`). */
  readonly ratio: number
  readonly target: string
  readonly met: boolean
  readonly detail: Readonly<Record<string, unknown>>
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2
}

export const write = (results: ReadonlyArray<Result>) => {
  const dir = path.join(import.meta.dirname, "results")
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, "latest.json")
  fs.writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), node: process.version, results }, null, 2))
  return file
}

export const table = (results: ReadonlyArray<Result>): string => {
  const rows = results.map((r) => [
    r.id,
    `${r.value.toFixed(2)} ${r.unit}`,
    `${r.baselineValue.toFixed(2)} ${r.unit} (${r.baseline})`,
    r.ratio.toFixed(3),
    r.target,
    r.met ? "met" : "NOT met"
  ])
  const header = ["id", "ours", "baseline", "ratio", "target", ""]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n")
}

/**
 * decode.throughput: the StreamHandler (line splitting, JSON, Schema validation,
 * event mapping) against plain `JSON.parse` of the same pre-split lines, in the
 * same process, interleaved, medians of several rounds.
 */
import { Effect, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as StreamHandler from "../src/StreamHandler.ts"
import { median, type Result } from "./report.ts"

const fixturesDir = path.join(import.meta.dirname, "..", "test", "fixtures", "claude-cli-2.1.329")
const CHUNK = 64 * 1024

const corpus = (targetBytes: number) => {
  const lines = fs.readdirSync(fixturesDir)
    .filter((name) => fs.existsSync(path.join(fixturesDir, name, "stdout.jsonl")))
    .flatMap((name) => fs.readFileSync(path.join(fixturesDir, name, "stdout.jsonl"), "utf8").split("\n"))
    .filter((line) => line.trim() !== "")
  const all: Array<string> = []
  let bytes = 0
  while (bytes < targetBytes) {
    for (const line of lines) {
      all.push(line)
      bytes += line.length + 1
    }
  }
  const encoded = new TextEncoder().encode(all.join("\n") + "\n")
  const chunks: Array<Uint8Array> = []
  for (let i = 0; i < encoded.length; i += CHUNK) chunks.push(encoded.subarray(i, i + CHUNK))
  return { lines: all, chunks, bytes: encoded.length }
}

const timeIt = (f: () => void) => {
  const start = performance.now()
  f()
  return performance.now() - start
}

export const decodeThroughput = (options?: { readonly megabytes?: number; readonly rounds?: number }): Result => {
  const { bytes, chunks, lines } = corpus((options?.megabytes ?? 32) * 1024 * 1024)
  const rounds = options?.rounds ?? 7
  let events = 0
  const ours = () => {
    events = Effect.runSync(
      Stream.fromIterable(chunks).pipe(StreamHandler.events(), Stream.runFold(() => 0, (n) => n + 1))
    )
  }
  const baseline = () => {
    for (const line of lines) JSON.parse(line)
  }
  // Warm both paths up before measuring.
  ours()
  baseline()
  const oursMs: Array<number> = []
  const baselineMs: Array<number> = []
  for (let i = 0; i < rounds; i++) {
    baselineMs.push(timeIt(baseline))
    oursMs.push(timeIt(ours))
  }
  const mbps = (ms: number) => bytes / 1024 / 1024 / (ms / 1000)
  const value = mbps(median(oursMs))
  const baselineValue = mbps(median(baselineMs))
  return {
    id: "decode.throughput",
    unit: "MiB/s",
    value,
    baseline: "JSON.parse of the same pre-split lines",
    baselineValue,
    ratio: value / baselineValue,
    target: ">= 0.5",
    met: value / baselineValue >= 0.5,
    detail: { corpusBytes: bytes, lines: lines.length, events, rounds }
  }
}

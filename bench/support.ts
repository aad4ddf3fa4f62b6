/**
 * Shared pieces of the benchmarks: the real CLI, scratch HOMEs, statistics,
 * the library's layers (real CLI or in-process fake), and leftover checks.
 */
import { NodeFileSystem, NodePath, NodeServices } from "@effect/platform-node"
import { Effect, Layer, Option, Sink, Stream } from "effect"
import { ChildProcessSpawner } from "effect/process"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import * as ProcessManager from "../src/ProcessManager.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import * as Leftovers from "../src/testing/Leftovers.ts"
import * as TokenManager from "../src/TokenManager.ts"
import { median } from "./report.ts"

export const claudeBin = path.join(import.meta.dirname, "..", "node_modules", ".bin", "claude")

/** Every scratch HOME of the benchmarks starts with this, so leftovers can be found by it. */
export const homePrefix = path.join(os.tmpdir(), "bench-home-")

export const freshHome = (): string => fs.mkdtempSync(homePrefix)
export const removeHome = (home: string): void => fs.rmSync(home, { recursive: true, force: true })

/** A scratch HOME for as long as the scope lives. */
export const scopedHome = Effect.acquireRelease(Effect.sync(freshHome), (home) => Effect.sync(() => removeHome(home)))

export const quantile = (values: ReadonlyArray<number>, q: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const at = (sorted.length - 1) * q
  const lo = Math.floor(at)
  const hi = Math.ceil(at)
  return (sorted[lo] ?? NaN) + ((sorted[hi] ?? NaN) - (sorted[lo] ?? NaN)) * (at - lo)
}

export const round = (n: number, digits = 4): number => {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

export const stats = (values: ReadonlyArray<number>, options?: { readonly samples?: boolean }) => ({
  n: values.length,
  median: round(quantile(values, 0.5)),
  p25: round(quantile(values, 0.25)),
  p75: round(quantile(values, 0.75)),
  p99: round(quantile(values, 0.99)),
  min: round(Math.min(...values)),
  max: round(Math.max(...values)),
  ...(options?.samples === true ? { samples: values.map((v) => round(v)) } : {})
})

/** The runs of one side, and the `stats` (with samples) of each of their named figures. */
export const summaryOf = <K extends string>(
  samples: ReadonlyArray<Readonly<Record<K, number>>>,
  figures: ReadonlyArray<K>
) => ({
  runs: samples.length,
  ...Object.fromEntries(figures.map((figure) => [figure, stats(samples.map((s) => s[figure]), { samples: true })]))
})

/** Ours against the baseline on one figure: each side's median, and ours' minus the baseline's. */
export const medianDifference = <S>(ours: ReadonlyArray<S>, baseline: ReadonlyArray<S>, figure: (s: S) => number) => {
  const value = median(ours.map(figure))
  const baselineValue = median(baseline.map(figure))
  return { value, baselineValue, overhead: value - baselineValue }
}

export const MiB = 1024 * 1024

/** Samples of two sides run in turns: what each side measured, and what `compare` made of each pair. */
export interface Interleaved<S> {
  readonly ours: Array<S>
  readonly baseline: Array<S>
  /** `compare(ours, baseline)` for each pair in which both runs succeeded. */
  readonly paired: Array<number>
  /** Why runs failed (a run fails by returning a string), warm-ups included. */
  readonly failures: Array<string>
}

/**
 * `warmups` runs of each side (discarded; default 1), then `pairs` pairs run in turns: ours, baseline, ours, ...
 * A run gives its sample, or a string saying why it failed.
 */
export const interleaved = <S, E, R>(
  pairs: number,
  ours: Effect.Effect<S | string, E, R>,
  baseline: Effect.Effect<S | string, E, R>,
  compare: (ours: S, baseline: S) => number,
  warmups = 1
) =>
  Effect.gen(function*() {
    const result: Interleaved<S> = { ours: [], baseline: [], paired: [], failures: [] }
    const keep = (into: Array<S> | undefined, outcome: S | string): S | undefined => {
      if (typeof outcome === "string") {
        result.failures.push(outcome)
        return undefined
      }
      into?.push(outcome)
      return outcome
    }
    for (let i = 0; i < warmups; i++) {
      keep(undefined, yield* ours)
      keep(undefined, yield* baseline)
    }
    for (let i = 0; i < pairs; i++) {
      const a = keep(result.ours, yield* ours)
      const b = keep(result.baseline, yield* baseline)
      if (a !== undefined && b !== undefined) result.paired.push(compare(a, b))
    }
    return result
  })

/** The median and quartiles of paired comparisons, with the samples, for a benchmark's detail. */
export const pairedSummary = (note: string, paired: ReadonlyArray<number>) => ({
  note,
  median: round(median(paired)),
  p25: round(quantile(paired, 0.25)),
  p75: round(quantile(paired, 0.75)),
  samples: paired.map((d) => round(d))
})

/** The library on Node with no credential of the host's (the real CLI gets the FakeApi's through `env`). */
export const realLayer = (pool: SessionPool.Settings = { minIdle: 0 }, processes?: ProcessManager.Settings) =>
  Claude.layerNoDeps.pipe(
    Layer.provideMerge(SessionPool.layer(pool)),
    Layer.provideMerge(ProcessManager.layer(processes)),
    Layer.provideMerge(TokenManager.layerTest(Option.none())),
    Layer.provideMerge(NodeServices.layer)
  )

/** The library on the in-process fake CLI: real FileSystem and Path (for the executable check), no OS processes. */
export const fakeLayer = (script: FakeSpawner.Script = {}, pool: SessionPool.Settings = { minIdle: 0 }) =>
  Claude.layerNoDeps.pipe(
    Layer.provideMerge(SessionPool.layer(pool)),
    Layer.provideMerge(ProcessManager.layer()),
    Layer.provideMerge(TokenManager.layerTest(Option.none())),
    Layer.provideMerge(FakeSpawner.layer(script)),
    Layer.provideMerge(Layer.merge(NodeFileSystem.layer, NodePath.layer))
  )

/** What a tapped spawner shows of one child's pipes, chunk by chunk, as they meet the Effect streams. */
export interface ChunkTaps {
  readonly stdin?: (chunk: Uint8Array) => void
  readonly stdout?: (chunk: Uint8Array) => void
}

/**
 * The spawner of the context with taps on each child's stdin sink and stdout stream, where the Node streams
 * become Effect ones; `onSpawn` is asked at each spawn (`undefined`: that child is not tapped).
 */
export const tappedSpawner = (onSpawn: () => ChunkTaps | undefined) =>
  Layer.effect(
    ChildProcessSpawner.ChildProcessSpawner,
    Effect.map(Effect.service(ChildProcessSpawner.ChildProcessSpawner), (real) =>
      ChildProcessSpawner.make((command) =>
        Effect.map(real.spawn(command), (handle) => {
          const taps = onSpawn()
          if (taps === undefined) {
            return handle
          }
          const { stdin, stdout } = taps
          return ChildProcessSpawner.makeHandle({
            ...handle,
            stdin: stdin === undefined ? handle.stdin : Sink.mapInput(handle.stdin, (chunk: Uint8Array) => {
              stdin(chunk)
              return chunk
            }),
            stdout: stdout === undefined ? handle.stdout : handle.stdout.pipe(Stream.map((chunk) => {
              stdout(chunk)
              return chunk
            }))
          })
        })
      ))
  )

/**
 * The ProcessManager with a tap on each process's `write` (the line as the session hands it over, before
 * the stdin queue); `onSpawn` is asked at each spawn (`undefined`: that process is not tapped).
 */
export const tappedProcessManager = (
  onSpawn: () => ((line: string) => void) | undefined,
  settings?: ProcessManager.Settings
) =>
  Layer.effect(
    ProcessManager.ProcessManager,
    Effect.map(ProcessManager.make(settings), (real) =>
      ProcessManager.ProcessManager.of({
        resolveExecutable: real.resolveExecutable,
        spawn: (request) =>
          Effect.map(real.spawn(request), (proc): ProcessManager.CliProcess => {
            const onWrite = onSpawn()
            if (onWrite === undefined) return proc
            return {
              ...proc,
              write: (line) =>
                Effect.suspend(() => {
                  onWrite(line)
                  return proc.write(line)
                })
            }
          })
      }))
  )

/** Pids of live processes (not this one) whose HOME is a benchmark scratch HOME. */
export const leftoverProcesses = (): Array<number> => Leftovers.withHome(homePrefix, { prefix: true })

/** Resident memory of a process in bytes (`VmRSS`), if it is still there. */
export const rssOf = (pid: number): number | undefined => {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024
  } catch {
    return undefined
  }
}

/** Proportional set size of a process in bytes (`Pss` of smaps_rollup: shared pages split between their users). */
export const pssOf = (pid: number): number | undefined => {
  try {
    const match = /^Pss:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024
  } catch {
    return undefined
  }
}

/** `MemAvailable` of the machine in bytes. */
export const memAvailable = (): number | undefined => {
  try {
    const match = /^MemAvailable:\s+(\d+)\s+kB/m.exec(fs.readFileSync("/proc/meminfo", "utf8"))
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024
  } catch {
    return undefined
  }
}

/**
 * Runs a benchmark file of this directory in a node of its own with `--expose-gc` (its heap holds nothing
 * but that benchmark) and resolves with its stdout; killed after `timeoutMs`.
 */
export const runChild = (file: string, env: NodeJS.ProcessEnv, timeoutMs = 5 * 60_000): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(
      process.execPath,
      ["--expose-gc", "--conditions=effect-claude-code-source", path.join(import.meta.dirname, file)],
      { env, stdio: ["ignore", "pipe", "pipe"] }
    )
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-4000)))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(stdout)
      else reject(new Error(`${file} exited with ${code ?? signal}: ${stderr}`))
    })
  })

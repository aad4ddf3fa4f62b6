/**
 * Shared pieces of the benchmarks: the real CLI, scratch HOMEs, statistics,
 * the library's layers (real CLI or in-process fake), and leftover checks.
 */
import { NodeFileSystem, NodePath, NodeServices } from "@effect/platform-node"
import { Effect, Layer, Option } from "effect"
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

export const MiB = 1024 * 1024

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

/**
 * Resource limits of a CLI process, so that one runaway CLI (or a tool it
 * runs) cannot take the host down.
 *
 * Limits are per session: they are part of the options (`ClaudeOptions.limits`),
 * hence of the pool key, so processes with different limits are never shared.
 * The `ProcessManager` applies them when it spawns the CLI:
 *
 * - `maxCpuSeconds`, `maxOpenFiles`, `maxProcesses` go to the kernel, through
 *   util-linux `prlimit` in the launcher (`prlimit --cpu=N:N+1 --core=0
 *   --nofile=N --nproc=N -- [setpriv ... --] [nice ... --] <cli> <args...>`,
 *   every program `exec`s the next: one pid, no shell). Where `prlimit` is not
 *   found (macOS, Windows, a minimal Linux image) or is turned off
 *   (`Settings.prlimit: false`), the watchdog enforces them instead, where it
 *   can sample the process (see below).
 * - `maxRssBytes` is always the watchdog's: the kernel has no working RSS
 *   limit (`RLIMIT_RSS` is ignored by Linux), and a cgroup is not ours to make.
 * - The **watchdog** samples the process every `sampleInterval` (default 1 s),
 *   on its own fiber, never on the hot path: `VmRSS` of `/proc/<pid>/status`,
 *   `utime + stime` of `/proc/<pid>/stat`, the entries of `/proc/<pid>/fd`, the
 *   processes of its process group. Over a limit, it records why
 *   (`CliProcess.stoppedFor`: a `ResourceLimitExceeded` reason) and stops the
 *   process: SIGTERM to its process group, SIGKILL `killGrace` (default 1 s)
 *   later.
 * - `niceness` is applied by `nice -n <n>` in the launcher (every thread and
 *   child inherits it), or, without a `nice` executable, by `setpriority` on the
 *   CLI's pid right after the spawn. Raising priority (a negative niceness)
 *   needs privileges: without them `nice` warns and runs the CLI at the
 *   default priority.
 * - `maxWallTime` is the turn deadline: `ClaudeOptions.timeout(options, "turn")`
 *   is the smaller of `timeouts.turn` and `limits.maxWallTime`, and a turn that
 *   runs longer fails with `Timeout` (kind `"turn"`) and its process is stopped,
 *   as for any timed-out turn.
 *
 * When the kernel enforces a limit, the process learns it the hard way:
 * `RLIMIT_CPU` sends SIGXCPU at the limit (SIGKILL one second later, should it
 * be ignored); `RLIMIT_NOFILE` makes `open` fail with EMFILE; `RLIMIT_NPROC`
 * makes `fork` (and thread creation) fail with EAGAIN. A CLI that dies of
 * SIGXCPU, or exits with EMFILE on its stderr, is reported as stopped for that
 * limit too ({@link fromExit}).
 *
 * | limit | Linux with `prlimit` | Linux without `prlimit` | macOS | Windows |
 * |---|---|---|---|---|
 * | `maxRssBytes` | watchdog (`/proc`) | watchdog (`/proc`) | not enforced¹ | not enforced¹ |
 * | `maxCpuSeconds` | kernel (`RLIMIT_CPU`: SIGXCPU) | watchdog (`/proc`) | not enforced¹ | not enforced¹ |
 * | `maxOpenFiles` | kernel (`RLIMIT_NOFILE`: EMFILE) | watchdog (`/proc/<pid>/fd`) | not enforced¹ | not enforced¹ |
 * | `maxProcesses` | kernel (`RLIMIT_NPROC`)² | watchdog (process group) | not enforced¹ | not enforced¹ |
 * | `niceness` | `nice -n` | `nice -n` | `nice -n` | `setpriority` (priority class) |
 * | `maxWallTime` | turn deadline | turn deadline | turn deadline | turn deadline |
 *
 * ¹ Unless a `sample` function is given in the settings: the watchdog then
 * enforces these with it on any platform. A limit that cannot be enforced is
 * logged once (warning) per ProcessManager and resource.
 *
 * ² `RLIMIT_NPROC` is the kernel's, with the kernel's meaning: it counts every
 * process *and thread* of the user, not only the CLI's, and does not apply to
 * root (nor to `CAP_SYS_RESOURCE`). Set it to the user's budget. The watchdog
 * fallback counts the processes of the CLI's process group (the CLI, its tools,
 * its MCP servers) instead.
 *
 * A limit at or above the host's own hard limit (`/proc/self/limits`) is not
 * passed to `prlimit` (which could not raise it, and need not: the inherited one
 * is stricter). With `maxCpuSeconds`, core dumps are turned off (`--core=0`):
 * SIGXCPU would otherwise dump the CLI's whole heap to disk.
 *
 * @since 0.1.0
 */
import { NodeFileSystem } from "@effect/platform-node"
import { Duration, Effect, FileSystem, Option, Schema } from "effect"
import * as nodeFs from "node:fs"
import * as ClaudeError from "./ClaudeError.ts"

// A positive, finite duration (a `Duration`, or milliseconds); the same shape as `ClaudeOptions.DurationInput`,
// repeated here because ClaudeOptions imports this module.
const DurationInput = Schema.Union([
  Schema.Duration.check(
    Schema.makeFilter((d: Duration.Duration) =>
      (Duration.isFinite(d) && Duration.toMillis(d) > 0) || "must be positive and finite"
    )
  ),
  Schema.Finite.check(Schema.isGreaterThan(0))
])

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))

/**
 * The limits of one CLI process. Each is optional; none is set by default.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Limits = Schema.Struct({
  /** Resident memory in bytes; over it, the watchdog stops the process. */
  maxRssBytes: Schema.optionalKey(PositiveInt),
  /** CPU time (user + system) in seconds over the process's life. */
  maxCpuSeconds: Schema.optionalKey(PositiveInt),
  /** Open file descriptors. */
  maxOpenFiles: Schema.optionalKey(PositiveInt),
  /** Processes: `RLIMIT_NPROC` (see the module's notes) or, from the watchdog, the CLI's process group. */
  maxProcesses: Schema.optionalKey(PositiveInt),
  /** Scheduling niceness, -20 (first) to 19 (last). */
  niceness: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: -20, maximum: 19 }))),
  /** The longest turn: the `turn` timeout, whichever of the two is smaller. */
  maxWallTime: Schema.optionalKey(DurationInput)
})

/**
 * The limits of one CLI process, as {@link Limits} decodes them.
 *
 * @since 0.1.0
 * @category models
 */
export type Limits = typeof Limits.Type

/**
 * What a limit is about, as `ResourceLimitExceeded.resource` names it.
 *
 * @since 0.1.0
 * @category models
 */
export type Resource = "rssBytes" | "cpuSeconds" | "openFiles" | "processes"

/**
 * The limit of each resource in {@link Limits}.
 *
 * @since 0.1.0
 * @category constants
 */
export const limitOf: Readonly<Record<Resource, "maxRssBytes" | "maxCpuSeconds" | "maxOpenFiles" | "maxProcesses">> = {
  rssBytes: "maxRssBytes",
  cpuSeconds: "maxCpuSeconds",
  openFiles: "maxOpenFiles",
  processes: "maxProcesses"
}

const resources: ReadonlyArray<Resource> = ["rssBytes", "cpuSeconds", "openFiles", "processes"]

/**
 * What a sample of a running process holds.
 *
 * @since 0.1.0
 * @category models
 */
export interface Usage {
  readonly rssBytes: number
  /** User + system CPU time of the process itself (not of children it reaped). */
  readonly cpuSeconds: number
  /** Open file descriptors, when asked for. */
  readonly openFiles?: number | undefined
  /** Live processes of its process group (itself included), when asked for. */
  readonly processes?: number | undefined
  /** Bytes read and written so far (pipes and sockets included), when known: a sign of life. */
  readonly ioBytes?: number | undefined
}

/**
 * What to sample beyond memory and CPU (each costs a directory read).
 *
 * @since 0.1.0
 * @category models
 */
export interface SampleRequest {
  readonly openFiles?: boolean | undefined
  readonly processes?: boolean | undefined
}

/**
 * Reads a process's usage; `None` when the process is gone (or a zombie), or cannot be read here.
 *
 * @since 0.1.0
 * @category models
 */
export type Sampler = (pid: number, request?: SampleRequest) => Effect.Effect<Option.Option<Usage>>

/**
 * How the `ProcessManager` enforces limits.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** Apply `maxCpuSeconds`, `maxOpenFiles`, `maxProcesses` with util-linux `prlimit` when found. Default `true`. */
  readonly prlimit?: boolean | undefined
  /** Apply `niceness` with a `nice` executable when found (else `setpriority` after the spawn). Default `true`. */
  readonly nice?: boolean | undefined
  /** How often the watchdog samples a process (Effect `Clock`). Default 1 second. */
  readonly sampleInterval?: Duration.Input | undefined
  /** How long a process stopped for a limit gets between SIGTERM and SIGKILL. Default 1 second. */
  readonly killGrace?: Duration.Input | undefined
  /** Reads usage. Default: {@link Proc} `sample` where there is a `/proc`; elsewhere none, and the watchdog does not run. */
  readonly sample?: Sampler | undefined
}

// ---------------------------------------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------------------------------------

/** `USER_HZ`: the unit of `utime` and `stime`, 100 on every Linux ABI. */
const CLOCK_TICKS = 100

/**
 * The fields of `/proc/<pid>/stat` after the command name (which may contain spaces and parentheses):
 * index 0 is field 3 (`state`), 2 is `pgrp`, 11 `utime`, 12 `stime`, 16 `nice`.
 *
 * @since 0.1.0
 * @category proc
 */
export const statFields = (stat: string): ReadonlyArray<string> => stat.slice(stat.lastIndexOf(")") + 2).split(" ")

/**
 * Hard limits of a process, from `/proc/<pid>/limits` (`Infinity` for unlimited).
 *
 * @since 0.1.0
 * @category models
 */
export interface HardLimits {
  readonly cpuSeconds: number
  readonly openFiles: number
  readonly processes: number
}

const parseHardLimits = (text: string): HardLimits => {
  const hard = (name: string): number => {
    const value = new RegExp(`^${name}\\s+\\S+\\s+(\\S+)`, "m").exec(text)?.[1]
    return value === undefined || value === "unlimited" ? Infinity : Number(value)
  }
  return { cpuSeconds: hard("Max cpu time"), openFiles: hard("Max open files"), processes: hard("Max processes") }
}

const running = (stat: string): boolean => {
  const state = statFields(stat)[0]
  return state !== undefined && state !== "" && state !== "Z" && state !== "X"
}

/**
 * What `/proc` tells about the processes of this host, read through a `FileSystem` at each call: nothing
 * is read ahead, nothing kept. Made by {@link makeProc}.
 *
 * @since 0.1.0
 * @category proc
 */
export interface Proc {
  /** Whether there is a `/proc` to read (Linux): looked at once, when the reader was made. */
  readonly available: boolean
  /**
   * Samples a process: `VmRSS`, `utime + stime` and the I/O counters, and on request its open descriptors and
   * the processes of its group (the group led by `pid`: the CLI's, since it is spawned detached).
   */
  readonly sample: Sampler
  /** Whether a process runs: from `/proc/<pid>/stat` (a zombie is not running), else by signal 0. */
  readonly isAlive: (pid: number) => Effect.Effect<boolean>
  /** The niceness of a process (`/proc/<pid>/stat` field 19), when readable. */
  readonly niceness: (pid: number) => Effect.Effect<Option.Option<number>>
  /** The hard limits of `pid` (default: this process), or `None` where they cannot be read. */
  readonly hardLimits: (pid?: number | "self") => Effect.Effect<Option.Option<HardLimits>>
}

// Signal 0 tests a pid where there is no /proc. EPERM: it exists, it is just not ours to signal.
const signalZero = (pid: number): Effect.Effect<boolean> =>
  Effect.try({
    try: () => process.kill(pid, 0),
    catch: (error) => ({ eperm: error instanceof Error && "code" in error && error.code === "EPERM" })
  }).pipe(Effect.catch(({ eperm }) => Effect.succeed(eperm)))

const readerOf = (fs: FileSystem.FileSystem, available: boolean): Proc => {
  // A process can end between two reads: every read may find nothing, and says so with `None`.
  const readText = (file: string) => Effect.option(fs.readFileString(file))
  const listDir = (dir: string) => Effect.option(fs.readDirectory(dir))

  // The live processes of a group: every `/proc/<pid>/stat` whose `pgrp` it is.
  const countGroup = (pgid: string) =>
    listDir("/proc").pipe(
      Effect.flatMap((entries) =>
        Effect.forEach(
          Option.getOrElse(entries, (): ReadonlyArray<string> => []).filter((entry) => /^\d+$/.test(entry)),
          (entry) =>
            Effect.map(
              readText(`/proc/${entry}/stat`),
              Option.exists((stat) => running(stat) && statFields(stat)[2] === pgid)
            ),
          { concurrency: 16 }
        )
      ),
      Effect.map((members) => members.filter(Boolean).length)
    )

  const sample: Sampler = Effect.fnUntraced(function*(pid: number, request?: SampleRequest) {
    const [stat, status, io] = yield* Effect.all(
      [readText(`/proc/${pid}/stat`), readText(`/proc/${pid}/status`), readText(`/proc/${pid}/io`)],
      { concurrency: "unbounded" }
    )
    if (Option.isNone(stat) || Option.isNone(status)) return Option.none()
    const fields = statFields(stat.value)
    if (fields[0] === "Z" || fields[0] === "X") return Option.none()
    const [openFiles, processes] = yield* Effect.all([
      request?.openFiles === true
        ? Effect.map(listDir(`/proc/${pid}/fd`), Option.map((fds) => fds.length))
        : Effect.succeedNone,
      // The group the process belongs to (the CLI leads it, or the unshare that forked it into a namespace).
      request?.processes === true ? Effect.asSome(countGroup(fields[2] ?? String(pid))) : Effect.succeedNone
    ], { concurrency: "unbounded" })
    const rssKb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status.value)?.[1]
    const ticks = Number(fields[11] ?? Number.NaN) + Number(fields[12] ?? Number.NaN)
    const rchar = Option.isSome(io) ? /^rchar:\s+(\d+)/m.exec(io.value)?.[1] : undefined
    const wchar = Option.isSome(io) ? /^wchar:\s+(\d+)/m.exec(io.value)?.[1] : undefined
    const usage: Usage = {
      rssBytes: rssKb === undefined ? 0 : Number(rssKb) * 1024,
      cpuSeconds: Number.isFinite(ticks) ? ticks / CLOCK_TICKS : 0,
      ...(request?.openFiles === true ? { openFiles: Option.getOrUndefined(openFiles) } : {}),
      ...(request?.processes === true ? { processes: Option.getOrUndefined(processes) } : {}),
      ...(rchar === undefined || wchar === undefined ? {} : { ioBytes: Number(rchar) + Number(wchar) })
    }
    return Option.some(usage)
  })

  return {
    available,
    sample,
    isAlive: (pid) =>
      pid <= 0
        ? Effect.succeed(false)
        : available
        ? Effect.map(readText(`/proc/${pid}/stat`), Option.exists(running))
        : signalZero(pid),
    niceness: (pid) =>
      Effect.map(
        readText(`/proc/${pid}/stat`),
        Option.flatMap((stat) => Option.map(Option.fromNullishOr(statFields(stat)[16]), Number))
      ),
    hardLimits: (pid = "self") => Effect.map(readText(`/proc/${pid}/limits`), Option.map(parseHardLimits))
  }
}

/**
 * A {@link Proc} on the context's `FileSystem`. Whether there is a `/proc` (`/proc/self/stat`) is looked at
 * here, once: make it when a layer is built, not at import.
 *
 * @since 0.1.0
 * @category proc
 */
export const makeProc: Effect.Effect<Proc, never, FileSystem.FileSystem> = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const available = yield* fs.exists("/proc/self/stat").pipe(Effect.orElseSucceed(() => false))
  return readerOf(fs, available)
})

// ---------------------------------------------------------------------------------------------------------
// The synchronous readers the ProcessManager and the SessionPool still call: removed once both take a
// `Proc` from `makeProc` at their layer's build.
// ---------------------------------------------------------------------------------------------------------

let hasProc: boolean | undefined

/**
 * Whether this platform has a `/proc` to sample (Linux). Looked at on the first call, not at import.
 *
 * @deprecated Read {@link Proc} `available` from {@link makeProc}.
 * @since 0.1.0
 * @category proc
 */
export const procAvailable =
  (): boolean => (hasProc ??= process.platform === "linux" && nodeFs.existsSync("/proc/self/stat"))

/**
 * {@link Proc} `sample`, on Node's file system.
 *
 * @deprecated Use {@link Proc} `sample` from {@link makeProc}.
 * @since 0.1.0
 * @category proc
 */
export const sampleProc: Sampler = (pid, request) =>
  FileSystem.FileSystem.use((fs) => readerOf(fs, true).sample(pid, request)).pipe(Effect.provide(NodeFileSystem.layer))

/**
 * The hard limits of `pid` (default: this process), or `None` where there is no `/proc`; read synchronously.
 *
 * @deprecated Use {@link Proc} `hardLimits` from {@link makeProc}.
 * @since 0.1.0
 * @category proc
 */
export const hardLimits = (pid: number | "self" = "self"): Option.Option<HardLimits> =>
  Option.map(Option.liftThrowable(() => nodeFs.readFileSync(`/proc/${pid}/limits`, "utf8"))(), parseHardLimits)

// ---------------------------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------------------------

/**
 * What the machine offers to enforce limits with.
 *
 * @since 0.1.0
 * @category models
 */
export interface Means {
  /** A usable `prlimit` executable. */
  readonly prlimit: boolean
  /** A usable `nice` executable. */
  readonly nice: boolean
  /** A sampler that works here (the `/proc` one on Linux, or the settings'). */
  readonly sampler: boolean
  /** The host's hard limits, when known: limits at or above them are already in force. */
  readonly hostHard?: HardLimits | undefined
  /**
   * Whether the kernel's signals at the CPU limit (SIGXCPU, then SIGKILL) reach the process. They do not
   * reach the first process of a PID namespace (the kernel shields a namespace's init from signals it has no
   * handler for, its own kernel's included), so there `maxCpuSeconds` is the watchdog's. Default `true`.
   */
  readonly cpuSignals?: boolean | undefined
}

/**
 * How the limits of one process are enforced.
 *
 * @since 0.1.0
 * @category models
 */
export interface Plan {
  /** Arguments of `prlimit` (before its `--`); empty when it is not used. */
  readonly prlimitArgs: ReadonlyArray<string>
  /** Arguments of `nice` (before its `--`); empty when it is not used. */
  readonly niceArgs: ReadonlyArray<string>
  /** Niceness to set with `setpriority` after the spawn (no `nice` executable). */
  readonly setPriority: Option.Option<number>
  /** Enforced by the kernel (`prlimit`). */
  readonly kernel: ReadonlyArray<Resource>
  /** Enforced by the watchdog. */
  readonly watchdog: ReadonlyArray<Resource>
  /** Set, but not enforceable here. */
  readonly unenforced: ReadonlyArray<Resource>
}

/**
 * Decides how each limit is enforced, and the launcher arguments. Pure.
 *
 * @since 0.1.0
 * @category planning
 */
export const plan = (limits: Limits | undefined, means: Means): Plan => {
  const prlimitArgs: Array<string> = []
  const kernel: Array<Resource> = []
  const watchdog: Array<Resource> = []
  const unenforced: Array<Resource> = []
  const hard = means.hostHard
  for (const resource of resources) {
    const limit = limits?.[limitOf[resource]]
    if (limit === undefined) continue
    const byKernel = resource !== "rssBytes" && means.prlimit &&
      (resource !== "cpuSeconds" || means.cpuSignals !== false)
    if (byKernel) {
      kernel.push(resource)
      if (resource === "cpuSeconds") {
        const cap = hard?.cpuSeconds ?? Infinity
        // SIGXCPU at the soft limit, SIGKILL a second later (at the hard one) should it be ignored.
        if (limit < cap) prlimitArgs.push(`--cpu=${limit}:${Math.min(limit + 1, cap)}`, "--core=0")
      } else if (resource === "openFiles") {
        if (limit < (hard?.openFiles ?? Infinity)) prlimitArgs.push(`--nofile=${limit}`)
      } else if (limit < (hard?.processes ?? Infinity)) {
        prlimitArgs.push(`--nproc=${limit}`)
      }
    } else if (means.sampler) {
      watchdog.push(resource)
    } else {
      unenforced.push(resource)
    }
  }
  const nice = limits?.niceness
  return {
    prlimitArgs,
    niceArgs: nice !== undefined && means.nice ? ["-n", String(nice)] : [],
    setPriority: nice !== undefined && !means.nice ? Option.some(nice) : Option.none(),
    kernel,
    watchdog,
    unenforced
  }
}

/**
 * The first watchdog limit a sample is over, as the reason to stop the process with. Pure.
 *
 * @since 0.1.0
 * @category enforcement
 */
export const exceeded = (
  limits: Limits | undefined,
  watched: ReadonlyArray<Resource>,
  usage: Usage
): Option.Option<ClaudeError.ResourceLimitExceeded> => {
  for (const resource of watched) {
    const limit = limits?.[limitOf[resource]]
    const observed = usage[resource]
    if (limit !== undefined && observed !== undefined && observed > limit) {
      return Option.some(new ClaudeError.ResourceLimitExceeded({ resource, limit, observed }))
    }
  }
  return Option.none()
}

const emfile = /\bEMFILE\b|too many open files/i

/**
 * A kernel-enforced limit read from how the process ended: death by SIGXCPU (or by SIGKILL with its CPU
 * time at the limit) under `maxCpuSeconds`; a failed exit with EMFILE on stderr under `maxOpenFiles`.
 * Where the kernel gives no reading, `observed` is the limit itself. Pure.
 *
 * @since 0.1.0
 * @category enforcement
 */
export const fromExit = (
  limits: Limits | undefined,
  applied: Plan,
  exit:
    | { readonly _tag: "Exited"; readonly code: number }
    | { readonly _tag: "Signaled"; readonly signal: string },
  evidence: { readonly stderrTail: string; readonly lastUsage: Option.Option<Usage> }
): Option.Option<ClaudeError.ResourceLimitExceeded> => {
  const cpu = limits?.maxCpuSeconds
  if (cpu !== undefined && applied.kernel.includes("cpuSeconds") && exit._tag === "Signaled") {
    const used = Option.match(evidence.lastUsage, { onNone: () => 0, onSome: (u) => u.cpuSeconds })
    if (exit.signal === "SIGXCPU" || (exit.signal === "SIGKILL" && used >= cpu)) {
      return Option.some(
        new ClaudeError.ResourceLimitExceeded({ resource: "cpuSeconds", limit: cpu, observed: Math.max(cpu, used) })
      )
    }
  }
  const files = limits?.maxOpenFiles
  const failed = exit._tag === "Signaled" || exit.code !== 0
  if (files !== undefined && applied.kernel.includes("openFiles") && failed && emfile.test(evidence.stderrTail)) {
    return Option.some(new ClaudeError.ResourceLimitExceeded({ resource: "openFiles", limit: files, observed: files }))
  }
  return Option.none()
}

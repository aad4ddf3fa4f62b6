/**
 * Resource limits bite: on real processes (the FakeCli, through the ProcessManager's real launcher:
 * prlimit, setpriv, nice), and on the FakeSpawner with the TestClock for the watchdog's timing, the wall
 * time of a turn and the pool's replacement of a stopped process.
 */
import { NodeFileSystem, NodePath, NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Option, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as fs from "node:fs"
import * as path from "node:path"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as ProcessManager from "../src/ProcessManager.ts"
import * as Protocol from "../src/Protocol.ts"
import * as ResourceLimits from "../src/ResourceLimits.ts"
import * as Session from "../src/Session.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as StreamHandler from "../src/StreamHandler.ts"
import * as FakeCli from "../src/testing/FakeCli.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import * as TokenManager from "../src/TokenManager.ts"
import * as FakeFileSystem from "./support/fakeFileSystem.ts"
import {
  eventually,
  hasPidNamespace,
  isAlive,
  joinAdjusting,
  pumpClockOnFailure,
  quickShutdown,
  readJson,
  tempDir
} from "./utils.ts"

const MiB = 1024 * 1024
const hasPrlimit = process.platform === "linux" && fs.existsSync("/usr/bin/prlimit")

// ---------------------------------------------------------------------------------------------------------
// Real processes
// ---------------------------------------------------------------------------------------------------------

/** The ProcessManager on Node, with a quick watchdog (100 ms) and kill grace (300 ms). */
const OnNode = (
  resourceLimits: ResourceLimits.Settings = {},
  containment: ProcessManager.Settings["containment"] = "auto"
) =>
  ProcessManager.layer({
    containment,
    resourceLimits: { sampleInterval: "100 millis", killGrace: "300 millis", ...resourceLimits }
  }).pipe(
    Layer.provideMerge(TokenManager.layerTest(Option.none())),
    Layer.provideMerge(NodeServices.layer)
  )

const spawnFake = (behavior: FakeCli.Behavior, limits: ResourceLimits.Limits) =>
  Effect.gen(function*() {
    const processes = yield* ProcessManager.ProcessManager
    const options = yield* ClaudeOptions.validate({ ...FakeCli.options(behavior), timeouts: quickShutdown, limits })
    return yield* processes.spawn({ options, args: ClaudeOptions.toArgs(options) })
  })

/** Writes a prompt and reads the turn's events until its result, or until stdout ends (the process died). */
const runTurn = (proc: ProcessManager.CliProcess, prompt: string) =>
  Effect.andThen(
    proc.write(Protocol.encodeLine(Protocol.userMessage(prompt))),
    proc.stdout.pipe(
      StreamHandler.events(),
      Stream.takeUntil((event) => event._tag === "Result"),
      Stream.runCollect,
      Effect.orElseSucceed((): Array<ClaudeEvent> => [])
    )
  ).pipe(Effect.timeout("15 seconds"))

const resultOf = (events: ReadonlyArray<ClaudeEvent>) => {
  const last = events.at(-1)
  return last?._tag === "Result" ? last : undefined
}

/** The niceness of a process, from the host's /proc. */
const nicenessOf = (pid: number) => Effect.flatMap(ResourceLimits.makeProc, (proc) => proc.niceness(pid))

const procLimits = (pid: number) => fs.readFileSync(`/proc/${pid}/limits`, "utf8")

/**
 * The limits of the CLI once the launcher's programs have exec'ed it: right after the spawn the pid may still
 * be `prlimit` or `setpriv`, so wait for a line that only the CLI's limits can have.
 */
const limitsOnceExeced = (pid: number, line: RegExp) =>
  eventually(() => {
    const limits = procLimits(pid)
    return line.test(limits) ? limits : undefined
  }, "3 seconds")

/** The stop reason, once the process has exited (bounded). */
const stopReason = (proc: ProcessManager.CliProcess) =>
  Effect.gen(function*() {
    const exit = yield* proc.exit.pipe(Effect.timeout("10 seconds"))
    const reason = yield* proc.stoppedFor
    return { exit, reason: Option.getOrUndefined(reason) }
  })

describe("ResourceLimits on real processes (FakeCli)", () => {
  it.live("maxRssBytes: a CLI that allocates past the limit is stopped by the watchdog, with the reason recorded", () =>
    Effect.gen(function*() {
      // The fake grows at the turn's start, then never finishes the turn: only the watchdog ends it, however
      // slowly a loaded machine samples (a turn that completed by itself raced the sampler).
      const proc = yield* spawnFake({ rssGrowMb: 200, hang: "midTurn" }, { maxRssBytes: 128 * MiB })
      assert.deepStrictEqual(proc.enforcement.watchdog, ["rssBytes"])
      yield* runTurn(proc, "grow")
      const { exit, reason } = yield* stopReason(proc)
      assert.strictEqual(reason?.resource, "rssBytes")
      assert.strictEqual(reason?.limit, 128 * MiB)
      assert.isAbove(reason?.observed ?? 0, 128 * MiB)
      // SIGTERM to the group: the fake exits 143 on it, as the real CLI does.
      assert.deepStrictEqual(exit, { _tag: "Exited", code: 143 })
      assert.isFalse(isAlive(proc.pid))
      // A grace a loaded machine cannot overrun: the fake exits at SIGTERM, the SIGKILL after 300 ms raced it.
    }).pipe(Effect.scoped, Effect.provide(OnNode({ killGrace: "5 seconds" }))))

  it.live("maxRssBytes: a lean CLI under the limit is left alone", () => {
    // The real sampler, counted: what the watchdog read, and how often.
    const readings: Array<number> = []
    const sample: ResourceLimits.Sampler = (pid, request) =>
      Effect.flatMap(ResourceLimits.makeProc, (proc) => proc.sample(pid, request)).pipe(
        Effect.provide(NodeFileSystem.layer),
        Effect.tap((usage) =>
          Effect.sync(() => {
            if (Option.isSome(usage)) readings.push(usage.value.rssBytes)
          })
        )
      )
    return Effect.gen(function*() {
      const proc = yield* spawnFake({ reply: "lean" }, { maxRssBytes: 512 * MiB })
      const result = resultOf(yield* runTurn(proc, "hi"))
      assert.strictEqual(result?.text, "lean")
      // Three more readings after the turn, each under the limit, each left alone.
      const seen = readings.length
      yield* eventually(() => (readings.length >= seen + 3 ? true : undefined), "5 seconds")
      assert.isTrue(readings.every((rss) => rss > 0 && rss < 512 * MiB), `readings: ${readings.join(", ")}`)
      assert.isTrue(isAlive(proc.pid))
      assert.deepStrictEqual(yield* proc.stoppedFor, Option.none())
    }).pipe(Effect.scoped, Effect.provide(OnNode({ sample })))
  })

  // Outside a PID namespace: the first process of one is shielded from the kernel's SIGXCPU (see the next test).
  it.live.skipIf(!hasPrlimit)(
    "maxCpuSeconds through prlimit: a CLI burning CPU dies of SIGXCPU at the limit",
    () =>
      Effect.gen(function*() {
        const proc = yield* spawnFake({ burnCpuMs: 20_000 }, { maxCpuSeconds: 1 })
        assert.deepStrictEqual(proc.enforcement.kernel, ["cpuSeconds"])
        assert.deepStrictEqual(proc.enforcement.watchdog, [])
        // The kernel holds the limit: soft 1 s (SIGXCPU), hard 2 s (SIGKILL); no core dump.
        const limits = yield* limitsOnceExeced(proc.pid, /^Max cpu time\s+1\s+2\s+seconds/m)
        assert.match(limits, /^Max core file size\s+0\s+0/m)
        yield* runTurn(proc, "burn")
        const { exit, reason } = yield* stopReason(proc)
        assert.deepStrictEqual(exit, { _tag: "Signaled", signal: "SIGXCPU" })
        assert.strictEqual(reason?.resource, "cpuSeconds")
        assert.strictEqual(reason?.limit, 1)
        assert.isFalse(isAlive(proc.pid))
      }).pipe(Effect.scoped, Effect.provide(OnNode({}, "environmentSweep")))
  )

  it.live.runIf(hasPidNamespace)(
    "maxCpuSeconds in a PID namespace: the watchdog's, since the kernel's SIGXCPU does not reach the namespace's first process",
    () =>
      Effect.gen(function*() {
        const proc = yield* spawnFake({ burnCpuMs: 20_000 }, { maxCpuSeconds: 1 })
        assert.strictEqual(proc.containment, "pidNamespace")
        assert.deepStrictEqual(proc.enforcement.kernel, [])
        assert.deepStrictEqual(proc.enforcement.watchdog, ["cpuSeconds"])
        yield* runTurn(proc, "burn")
        const { reason } = yield* stopReason(proc)
        assert.strictEqual(reason?.resource, "cpuSeconds")
        assert.isAbove(reason?.observed ?? 0, 1)
        yield* eventually(() => (isAlive(proc.pid) ? undefined : true), "3 seconds")
      }).pipe(Effect.scoped, Effect.provide(OnNode({}, "pidNamespace")))
  )

  it.live("maxCpuSeconds without prlimit: the watchdog reads utime + stime and stops the CLI", () =>
    Effect.gen(function*() {
      const proc = yield* spawnFake({ burnCpuMs: 20_000 }, { maxCpuSeconds: 1 })
      assert.deepStrictEqual(proc.enforcement.watchdog, ["cpuSeconds"])
      assert.notMatch(procLimits(proc.pid), /^Max cpu time\s+1\s/m)
      yield* runTurn(proc, "burn")
      const { exit, reason } = yield* stopReason(proc)
      assert.strictEqual(reason?.resource, "cpuSeconds")
      assert.isAbove(reason?.observed ?? 0, 1)
      assert.deepStrictEqual(exit, { _tag: "Exited", code: 143 })
      assert.isFalse(isAlive(proc.pid))
    }).pipe(Effect.scoped, Effect.provide(OnNode({ prlimit: false, killGrace: "5 seconds" }))))

  it.live.skipIf(!hasPrlimit)(
    "maxOpenFiles through prlimit: opening more files fails with EMFILE; the CLI goes on",
    () =>
      Effect.gen(function*() {
        const proc = yield* spawnFake({ openFiles: 200, reply: "still here" }, { maxOpenFiles: 64 })
        yield* limitsOnceExeced(proc.pid, /^Max open files\s+64\s+64\s+files/m)
        const result = resultOf(yield* runTurn(proc, "open"))
        assert.strictEqual(result?.text, "still here")
        const report: FakeCli.OpenFilesReport | undefined = result === undefined
          ? undefined
          : Reflect.get(result.frame, "fake_open_files")
        assert.strictEqual(report?.error, "EMFILE")
        assert.isBelow(report?.opened ?? 200, 64)
        assert.include(yield* proc.stderrTail, "EMFILE")
        // Not stopped: the limit made a call fail, the process is fine.
        assert.isTrue(isAlive(proc.pid))
        assert.deepStrictEqual(yield* proc.stoppedFor, Option.none())
      }).pipe(Effect.scoped, Effect.provide(OnNode()))
  )

  it.live.skipIf(!hasPrlimit)(
    "maxOpenFiles through prlimit: a CLI that dies of EMFILE is reported as over its limit",
    () =>
      Effect.gen(function*() {
        const proc = yield* spawnFake({ openFiles: 200, openFilesExitOnError: true }, { maxOpenFiles: 64 })
        yield* runTurn(proc, "open")
        const { exit, reason } = yield* stopReason(proc)
        assert.deepStrictEqual(exit, { _tag: "Exited", code: 1 })
        assert.strictEqual(reason?.resource, "openFiles")
        assert.strictEqual(reason?.limit, 64)
      }).pipe(Effect.scoped, Effect.provide(OnNode()))
  )

  it.live("maxOpenFiles without prlimit: the watchdog counts /proc/<pid>/fd and stops the CLI", () =>
    Effect.gen(function*() {
      const proc = yield* spawnFake({ openFiles: 200, frameDelayMs: 200 }, { maxOpenFiles: 64 })
      assert.deepStrictEqual(proc.enforcement.watchdog, ["openFiles"])
      yield* runTurn(proc, "open")
      const { reason } = yield* stopReason(proc)
      assert.strictEqual(reason?.resource, "openFiles")
      assert.isAbove(reason?.observed ?? 0, 200)
      assert.isFalse(isAlive(proc.pid))
    }).pipe(Effect.scoped, Effect.provide(OnNode({ prlimit: false }))))

  it.live.skipIf(!hasPrlimit)(
    "maxProcesses through prlimit: RLIMIT_NPROC is set on the CLI",
    () =>
      Effect.gen(function*() {
        const proc = yield* spawnFake({ reply: "ok" }, { maxProcesses: 5000 })
        assert.deepStrictEqual(proc.enforcement.kernel, ["processes"])
        yield* limitsOnceExeced(proc.pid, /^Max processes\s+5000\s+5000\s+processes/m)
        assert.strictEqual(resultOf(yield* runTurn(proc, "hi"))?.text, "ok")
      }).pipe(Effect.scoped, Effect.provide(OnNode()))
  )

  it.live("maxProcesses without prlimit: the watchdog counts the CLI's process group and stops it, tools included", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("nproc")
      const pidFile = path.join(dir, "pids.json")
      const proc = yield* spawnFake({ spawnChildren: 3, pidFile, hang: "beforeInit" }, { maxProcesses: 2 })
      const pids = yield* eventually(() => {
        const file = readJson<FakeCli.PidFile>(pidFile)
        return file !== undefined && file.children.length === 3 ? [file.pid, ...file.children] : undefined
      })
      const { reason } = yield* stopReason(proc)
      assert.strictEqual(reason?.resource, "processes")
      // The CLI and its tools, over the limit of 2: all 4, or 3 when a reading came while the third was
      // still being started (a loaded machine).
      assert.oneOf(reason?.observed, [3, 4])
      // The group got the signal: the CLI's children are gone too.
      yield* eventually(() => (pids.every((pid) => !isAlive(pid)) ? true : undefined), "3 seconds")
      // Outside a namespace the CLI leads its group: the CLI and its 3 children (in one, unshare leads it too).
    }).pipe(Effect.scoped, Effect.provide(OnNode({ prlimit: false }, "environmentSweep"))))

  it.live("niceness: the CLI runs at the niceness asked for (nice in the launcher)", () =>
    Effect.gen(function*() {
      const proc = yield* spawnFake({ reply: "ok" }, { niceness: 7 })
      assert.deepStrictEqual(proc.enforcement.setPriority, Option.none())
      // Once the turn ran, the pid is the CLI's (nice has exec'ed it).
      assert.strictEqual(resultOf(yield* runTurn(proc, "hi"))?.text, "ok")
      assert.deepStrictEqual(yield* nicenessOf(proc.pid), Option.some(7))
    }).pipe(Effect.scoped, Effect.provide(OnNode())))

  it.live("niceness without a nice executable: setpriority right after the spawn", () =>
    Effect.gen(function*() {
      const proc = yield* spawnFake({ reply: "ok" }, { niceness: 9 })
      assert.deepStrictEqual(proc.enforcement.setPriority, Option.some(9))
      assert.strictEqual(resultOf(yield* runTurn(proc, "hi"))?.text, "ok")
      assert.deepStrictEqual(yield* nicenessOf(proc.pid), Option.some(9))
    }).pipe(Effect.scoped, Effect.provide(OnNode({ nice: false }))))

  it.live("a session whose CLI is stopped for its memory fails the running turn, and the process is gone", () =>
    Effect.gen(function*() {
      const session = yield* Session.make({
        options: {
          ...FakeCli.options({ rssGrowMb: 200, frameDelayMs: 200 }),
          timeouts: quickShutdown,
          limits: { maxRssBytes: 128 * MiB }
        },
        restart: { maxRestarts: 0 }
      })
      const pid = session.pid
      const exit = yield* Effect.exit(session.ask("grow").pipe(Effect.timeout("15 seconds")))
      assert.isTrue(Exit.isFailure(exit))
      const failure = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
      const tag = failure?._tag === "Fail" && "reason" in failure.error ? failure.error.reason._tag : undefined
      // The Session reads `CliProcess.stoppedFor`: the limit, not the SIGTERM that enforced it, is the reason.
      assert.strictEqual(tag, "ResourceLimitExceeded")
      yield* eventually(() => (isAlive(pid) ? undefined : true), "3 seconds")
    }).pipe(Effect.scoped, Effect.provide(OnNode())))
})

// ---------------------------------------------------------------------------------------------------------
// Pure parts
// ---------------------------------------------------------------------------------------------------------

describe("ResourceLimits.plan", () => {
  const all = { maxRssBytes: 100, maxCpuSeconds: 10, maxOpenFiles: 256, maxProcesses: 64, niceness: 5 }

  it("Linux with prlimit and nice: CPU, files and processes to the kernel, memory to the watchdog", () => {
    const plan = ResourceLimits.plan(all, { prlimit: true, nice: true, sampler: true })
    assert.deepStrictEqual(plan.prlimitArgs, ["--cpu=10:11", "--core=0", "--nofile=256", "--nproc=64"])
    assert.deepStrictEqual(plan.niceArgs, ["-n", "5"])
    assert.deepStrictEqual(plan.kernel, ["cpuSeconds", "openFiles", "processes"])
    assert.deepStrictEqual(plan.watchdog, ["rssBytes"])
    assert.deepStrictEqual(plan.unenforced, [])
    assert.deepStrictEqual(plan.setPriority, Option.none())
  })

  it("without prlimit: the watchdog takes every limit it can sample", () => {
    const plan = ResourceLimits.plan(all, { prlimit: false, nice: true, sampler: true })
    assert.deepStrictEqual(plan.prlimitArgs, [])
    assert.deepStrictEqual(plan.watchdog, ["rssBytes", "cpuSeconds", "openFiles", "processes"])
  })

  it("nothing to sample with and no prlimit (macOS, Windows): only niceness applies, by setpriority without nice", () => {
    const plan = ResourceLimits.plan(all, { prlimit: false, nice: false, sampler: false })
    assert.deepStrictEqual(plan.unenforced, ["rssBytes", "cpuSeconds", "openFiles", "processes"])
    assert.deepStrictEqual(plan.setPriority, Option.some(5))
    assert.deepStrictEqual(plan.niceArgs, [])
  })

  it("a limit at or above the host's hard limit is not passed on (the inherited one is stricter)", () => {
    const plan = ResourceLimits.plan(all, {
      prlimit: true,
      nice: true,
      sampler: true,
      hostHard: { cpuSeconds: 10, openFiles: 1024, processes: 32 }
    })
    assert.deepStrictEqual(plan.prlimitArgs, ["--nofile=256"])
    assert.deepStrictEqual(plan.kernel, ["cpuSeconds", "openFiles", "processes"])
  })

  it("no limits: no launcher arguments, no watchdog", () => {
    const plan = ResourceLimits.plan(undefined, { prlimit: true, nice: true, sampler: true })
    assert.deepStrictEqual([plan.prlimitArgs, plan.niceArgs, plan.kernel, plan.watchdog], [[], [], [], []])
  })

  it("exceeded: the first watched limit the sample is over", () => {
    const over = ResourceLimits.exceeded(all, ["rssBytes", "openFiles"], {
      rssBytes: 50,
      cpuSeconds: 99,
      openFiles: 300
    })
    assert.isTrue(Option.isSome(over))
    if (Option.isSome(over)) {
      assert.deepStrictEqual([over.value.resource, over.value.limit, over.value.observed], ["openFiles", 256, 300])
      assert.include(over.value.message, "openFiles limit (300 > 256)")
      assert.isTrue(over.value.isRetryable)
    }
    // CPU is over, but not watched (the kernel has it).
    assert.isTrue(Option.isNone(ResourceLimits.exceeded(all, ["rssBytes"], { rssBytes: 50, cpuSeconds: 99 })))
  })

  it("fromExit: SIGXCPU under a kernel CPU limit; EMFILE on stderr under a kernel file limit; nothing otherwise", () => {
    const plan = ResourceLimits.plan(all, { prlimit: true, nice: true, sampler: true })
    const none = { stderrTail: "", lastUsage: Option.none<ResourceLimits.Usage>() }
    const cpu = ResourceLimits.fromExit(all, plan, { _tag: "Signaled", signal: "SIGXCPU" }, none)
    assert.strictEqual(Option.getOrUndefined(cpu)?.resource, "cpuSeconds")
    const files = ResourceLimits.fromExit(all, plan, { _tag: "Exited", code: 1 }, {
      ...none,
      stderrTail: "Error: EMFILE: too many open files, open '/x'"
    })
    assert.strictEqual(Option.getOrUndefined(files)?.resource, "openFiles")
    assert.isTrue(
      Option.isNone(ResourceLimits.fromExit(all, plan, { _tag: "Exited", code: 0 }, { ...none, stderrTail: "EMFILE" }))
    )
    assert.isTrue(Option.isNone(ResourceLimits.fromExit(all, plan, { _tag: "Signaled", signal: "SIGKILL" }, none)))
    assert.isTrue(
      Option.isNone(ResourceLimits.fromExit(undefined, plan, { _tag: "Signaled", signal: "SIGXCPU" }, none))
    )
  })
})

// ---------------------------------------------------------------------------------------------------------
// /proc through FileSystem
// ---------------------------------------------------------------------------------------------------------

/** A `/proc/<pid>/stat` line: `comm` may hold spaces and parentheses, as the kernel writes it. */
const statLine = (
  pid: number,
  o: {
    readonly comm?: string
    readonly state?: string
    readonly pgrp?: number
    readonly utime?: number
    readonly stime?: number
    readonly nice?: number
  }
) =>
  `${pid} (${o.comm ?? "node"}) ${o.state ?? "S"} 1 ${o.pgrp ?? pid} ${o.pgrp ?? pid} 0 -1 4194560 120 0 0 0 ` +
  `${o.utime ?? 0} ${o.stime ?? 0} 0 0 20 ${o.nice ?? 0} 11 0 3350 1130496000 52000 18446744073709551615\n`

const limitsFile = [
  "Limit                     Soft Limit           Hard Limit           Units     ",
  "Max cpu time              unlimited            unlimited            seconds   ",
  "Max processes             63704                63704                processes ",
  "Max open files            1024                 1048576              files     "
].join("\n")

/** A host with a CLI (42) that leads a group with a tool (43) and a zombie (44), and a stranger (45). */
const fakeHost = () =>
  FakeFileSystem.layer({
    "/proc/self/stat": statLine(7, {}),
    "/proc/self/limits": limitsFile,
    "/proc/42/stat": statLine(42, { comm: "claude (v2) -p", utime: 150, stime: 50, nice: 7 }),
    "/proc/42/status": "Name:\tclaude\nVmPeak:\t 999999 kB\nVmRSS:\t  204800 kB\n",
    "/proc/42/io": "rchar: 1000\nwchar: 234\nsyscr: 5\n",
    ...Object.fromEntries([0, 1, 2, 17].map((fd) => [`/proc/42/fd/${fd}`, ""])),
    "/proc/43/stat": statLine(43, { pgrp: 42 }),
    "/proc/43/status": "VmRSS:\t 1024 kB\n",
    "/proc/44/stat": statLine(44, { pgrp: 42, state: "Z" }),
    "/proc/44/status": "Name:\tzombie\n",
    "/proc/45/stat": statLine(45, { pgrp: 7 }),
    // Its stat is there, its status is not (it ended between the two reads).
    "/proc/46/stat": statLine(46, {})
  })

describe("ResourceLimits.makeProc: /proc through a FileSystem", () => {
  it.effect("a sample reads the process at the time of the call: memory, CPU, I/O, and on request descriptors and group", () => {
    const { fake, layer } = fakeHost()
    return Effect.gen(function*() {
      const proc = yield* ResourceLimits.makeProc
      assert.deepStrictEqual(fake.asked, ["/proc/self/stat"], "making it only looks for a /proc")
      assert.isTrue(proc.available)
      const full = yield* proc.sample(42, { openFiles: true, processes: true })
      // The group: 42 itself and its tool 43; the zombie 44 and the stranger 45 are not counted.
      assert.deepStrictEqual(
        full,
        Option.some({ rssBytes: 204800 * 1024, cpuSeconds: 2, openFiles: 4, processes: 2, ioBytes: 1234 })
      )
      // Without the request: no directory is listed, and the keys are absent.
      fake.asked.length = 0
      assert.deepStrictEqual(
        yield* proc.sample(42),
        Option.some({ rssBytes: 204800 * 1024, cpuSeconds: 2, ioBytes: 1234 })
      )
      assert.sameMembers(fake.asked, ["/proc/42/stat", "/proc/42/status", "/proc/42/io"])
      // Nothing is kept: the next sample sees the process as it now is.
      fake.files.set("/proc/42/status", "VmRSS:\t 409600 kB\n")
      fake.files.set("/proc/42/stat", statLine(42, { utime: 900, stime: 100 }))
      fake.files.delete("/proc/42/io")
      assert.deepStrictEqual(yield* proc.sample(42), Option.some({ rssBytes: 409600 * 1024, cpuSeconds: 10 }))
    }).pipe(Effect.provide(layer))
  })

  it.effect("a process that is gone, a zombie, or one that ended between two reads samples as None", () =>
    Effect.gen(function*() {
      const proc = yield* ResourceLimits.makeProc
      assert.deepStrictEqual(yield* proc.sample(99), Option.none())
      assert.deepStrictEqual(yield* proc.sample(44), Option.none())
      assert.deepStrictEqual(yield* proc.sample(46), Option.none())
      // A process without an io file (another user's) still samples, without I/O counters.
      assert.deepStrictEqual(
        yield* proc.sample(43, { openFiles: true }),
        Option.some({ rssBytes: 1024 * 1024, cpuSeconds: 0, openFiles: undefined })
      )
    }).pipe(Effect.provide(fakeHost().layer)))

  it.effect("isAlive reads the state (a zombie is not alive), niceness field 19, hardLimits the limits file", () =>
    Effect.gen(function*() {
      const proc = yield* ResourceLimits.makeProc
      assert.deepStrictEqual(
        yield* Effect.forEach([42, 43, 44, 99, 0, -1], proc.isAlive),
        [true, true, false, false, false, false]
      )
      assert.deepStrictEqual(yield* proc.niceness(42), Option.some(7))
      assert.deepStrictEqual(yield* proc.niceness(99), Option.none())
      assert.deepStrictEqual(
        yield* proc.hardLimits(),
        Option.some({ cpuSeconds: Infinity, openFiles: 1048576, processes: 63704 })
      )
      assert.deepStrictEqual(yield* proc.hardLimits(42), Option.none())
    }).pipe(Effect.provide(fakeHost().layer)))

  it.effect("without a /proc: not available, nothing samples, and isAlive asks the kernel with signal 0", () => {
    const { fake, layer } = FakeFileSystem.layer({})
    return Effect.gen(function*() {
      const proc = yield* ResourceLimits.makeProc
      assert.isFalse(proc.available)
      assert.deepStrictEqual(yield* proc.sample(process.pid), Option.none())
      fake.asked.length = 0
      // This process exists; a pid above the kernel's highest (2^22) cannot.
      assert.deepStrictEqual(yield* Effect.forEach([process.pid, 2 ** 30], proc.isAlive), [true, false])
      assert.deepStrictEqual(fake.asked, [], "signal 0, no file")
    }).pipe(Effect.provide(layer))
  })

  it.effect.skipIf(process.platform !== "linux")(
    "on Node's FileSystem: the host's own /proc",
    () =>
      Effect.gen(function*() {
        const proc = yield* ResourceLimits.makeProc
        assert.isTrue(proc.available)
        const usage = Option.getOrThrow(yield* proc.sample(process.pid, { openFiles: true, processes: true }))
        assert.isAbove(usage.rssBytes, 10 * MiB)
        assert.isAbove(usage.openFiles ?? 0, 2)
        assert.isAtLeast(usage.processes ?? 0, 1, "itself, at least")
        assert.isTrue(yield* proc.isAlive(process.pid))
        assert.isTrue(Option.isSome(yield* proc.hardLimits()))
      }).pipe(Effect.provide(NodeFileSystem.layer))
  )
})

describe("ClaudeOptions.limits", () => {
  it.effect("validates limits and rejects nonsense, naming the field", () =>
    Effect.gen(function*() {
      const ok = yield* ClaudeOptions.validate({ limits: { maxRssBytes: 1024, niceness: -5, maxWallTime: 1000 } })
      assert.strictEqual(ok.limits?.maxRssBytes, 1024)
      const bad = yield* Effect.flip(ClaudeOptions.validate({ limits: { maxCpuSeconds: 0, niceness: 40 } }))
      assert.strictEqual(bad.reason._tag, "InvalidOptions")
      assert.include(bad.message, "maxCpuSeconds")
      assert.include(bad.message, "niceness")
    }))

  it.effect("maxWallTime bounds the turn timeout: the smaller of the two wins", () =>
    Effect.gen(function*() {
      const wall = yield* ClaudeOptions.validate({ limits: { maxWallTime: Duration.seconds(30) } })
      assert.strictEqual(Duration.toMillis(ClaudeOptions.timeout(wall, "turn")), 30_000)
      const turn = yield* ClaudeOptions.validate({ timeouts: { turn: 10_000 }, limits: { maxWallTime: 30_000 } })
      assert.strictEqual(Duration.toMillis(ClaudeOptions.timeout(turn, "turn")), 10_000)
      // Other deadlines are not affected.
      assert.strictEqual(
        Duration.toMillis(ClaudeOptions.timeout(wall, "idle")),
        Duration.toMillis(ClaudeOptions.defaultTimeouts.idle)
      )
    }))

  it.effect("limits are part of the pool key, and never on argv", () =>
    Effect.gen(function*() {
      const plain = yield* ClaudeOptions.validate({})
      const limited = yield* ClaudeOptions.validate({ limits: { maxRssBytes: 1024 } })
      assert.notStrictEqual(SessionPool.keyOf(plain, {}, Option.none()), SessionPool.keyOf(limited, {}, Option.none()))
      assert.deepStrictEqual(ClaudeOptions.toArgs(limited), ClaudeOptions.toArgs(plain))
    }))
})

// ---------------------------------------------------------------------------------------------------------
// FakeSpawner and TestClock
// ---------------------------------------------------------------------------------------------------------

const executable = FakeSpawner.executable

/** What the injected sampler reports, per fake pid (default: a lean process). */
const readings = new Map<number, ResourceLimits.Usage>()
const sampled: Array<number> = []
const fakeSampler: ResourceLimits.Sampler = (pid) =>
  Effect.sync(() => {
    sampled.push(pid)
    return Option.some(readings.get(pid) ?? { rssBytes: 10 * MiB, cpuSeconds: 0 })
  })

const OnFake = (script: FakeSpawner.Script = {}) =>
  ProcessManager.layer({
    resourceLimits: { sample: fakeSampler, sampleInterval: "1 second", killGrace: "2 seconds", prlimit: false }
  }).pipe(
    Layer.provideMerge(TokenManager.layerTest(Option.none())),
    Layer.provideMerge(FakeSpawner.layer(script)),
    Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
  )

const sessionRecords = FakeSpawner.FakeSpawnerState.use((state) => state.processes).pipe(
  Effect.map((processes) => processes.filter((p) => p.kind === "session"))
)

describe("ResourceLimits on the FakeSpawner (TestClock)", () => {
  it.effect("the watchdog samples on the Clock and stops a process over its limit: SIGTERM, then SIGKILL after the grace", () =>
    Effect.gen(function*() {
      readings.clear()
      sampled.length = 0
      const processes = yield* ProcessManager.ProcessManager
      const options = yield* ClaudeOptions.validate({
        executable,
        timeouts: { shutdownGrace: 1000 },
        limits: { maxRssBytes: 100 * MiB }
      })
      const proc = yield* processes.spawn({ options, args: ClaudeOptions.toArgs(options) })
      yield* TestClock.adjust("3 seconds")
      assert.deepStrictEqual(sampled, [proc.pid, proc.pid, proc.pid, proc.pid], "at the spawn, then once a second")
      assert.deepStrictEqual(yield* proc.stoppedFor, Option.none())
      readings.set(proc.pid, { rssBytes: 300 * MiB, cpuSeconds: 1 })
      yield* TestClock.adjust("1 second")
      // Recorded before the signal; the fake ignores SIGTERM, so it is still running.
      const reason = Option.getOrUndefined(yield* proc.stoppedFor)
      assert.deepStrictEqual([reason?.resource, reason?.observed], ["rssBytes", 300 * MiB])
      const [record] = yield* sessionRecords
      assert.deepStrictEqual(record?.signals, ["SIGTERM"])
      assert.isTrue(record?.running)
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual((yield* sessionRecords)[0]?.signals, ["SIGTERM", "SIGKILL"])
      assert.deepStrictEqual(yield* proc.exit, { _tag: "Signaled", signal: "SIGKILL" })
      // No more sampling once it is stopped.
      const count = sampled.length
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(sampled.length, count)
    }).pipe(Effect.scoped, Effect.provide(OnFake({ sigterm: "ignore" })), pumpClockOnFailure))

  it.effect("no limits, no watchdog: nothing is sampled", () =>
    Effect.gen(function*() {
      sampled.length = 0
      const processes = yield* ProcessManager.ProcessManager
      const options = yield* ClaudeOptions.validate({ executable, timeouts: { shutdownGrace: 1000 } })
      const proc = yield* processes.spawn({ options, args: ClaudeOptions.toArgs(options) })
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(sampled, [])
      assert.deepStrictEqual(proc.enforcement.watchdog, [])
    }).pipe(Effect.scoped, Effect.provide(OnFake()), pumpClockOnFailure))

  it.effect("maxWallTime: a turn longer than the limit fails with Timeout(turn) at the limit", () =>
    Effect.gen(function*() {
      const session = yield* Session.make({
        options: { executable, timeouts: { shutdownGrace: 1000 }, limits: { maxWallTime: Duration.seconds(5) } }
      })
      const fiber = yield* Effect.forkChild(Effect.exit(session.ask("slow")))
      yield* FakeSpawner.FakeSpawnerState.use((state) => state.waitUntil((ps) => ps.some((p) => p.sleeping)))
      for (let i = 0; i < 10; i++) yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.join(fiber)
      const failure = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
      const reason = failure?._tag === "Fail" ? failure.error.reason : undefined
      assert.strictEqual(reason?._tag, "Timeout")
      if (reason?._tag === "Timeout") assert.deepStrictEqual([reason.kind, reason.durationMs], ["turn", 5000])
    }).pipe(
      Effect.scoped,
      Effect.provide(OnFake({ turns: [{ text: "late", delay: "60 seconds" }] })),
      pumpClockOnFailure
    ))

  it.effect("a pooled process stopped for a limit mid-turn is replaced: the next lease gets a new process", () =>
    Effect.gen(function*() {
      readings.clear()
      const pool = yield* SessionPool.SessionPool
      const config = { options: { executable, timeouts: { shutdownGrace: 1000 }, limits: { maxRssBytes: 100 * MiB } } }
      const first = yield* Effect.forkChild(
        Effect.scoped(
          Effect.flatMap(
            pool.acquire(config),
            (session) => Effect.map(Effect.exit(session.ask("grow")), (exit) => ({ pid: session.pid, exit }))
          )
        )
      )
      yield* FakeSpawner.FakeSpawnerState.use((state) =>
        state.waitUntil((ps) => ps.some((p) => p.kind === "session" && p.sleeping))
      )
      const [victim] = yield* sessionRecords
      readings.set(victim?.pid ?? 0, { rssBytes: 200 * MiB, cpuSeconds: 1 })
      const { exit, pid } = yield* joinAdjusting(first, "the turn over its limit", 30)
      assert.strictEqual(pid, victim?.pid)
      assert.isTrue(Exit.isFailure(exit), "the running turn failed")
      const second = yield* Effect.scoped(
        Effect.flatMap(pool.acquire(config), (session) => Effect.as(session.ask("again"), session.pid))
      ).pipe(Effect.forkChild)
      assert.notStrictEqual(yield* joinAdjusting(second, "the next lease", 30), pid, "a new process")
      assert.isFalse((yield* sessionRecords).find((p) => p.pid === pid)?.running)
    }).pipe(
      Effect.provide(
        SessionPool.layer({ minIdle: 0 }).pipe(
          Layer.provideMerge(OnFake({ turns: [{ text: "ok", delay: "10 seconds" }] }))
        )
      ),
      pumpClockOnFailure
    ))
})

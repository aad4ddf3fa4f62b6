/**
 * How many sessions a host holds.
 *
 * sessions.concurrent.fake: host memory per session, with 1000 `Claude.session`s
 * on the in-process FakeSpawner (no OS processes), all open at once, each
 * having run one turn. Heap used after a full GC with all of them open, minus
 * heap used after a full GC before they opened, over 1000. Measured in a node
 * of its own with `--expose-gc` (`concurrent-fake.child.ts`).
 *
 * sessions.concurrent.real: real CLIs (node_modules/.bin/claude, each with its
 * own HOME and config dir, against one in-process FakeApi) open at the same
 * time, each completing one turn. Start-up is ramped (a bounded number of
 * CLIs starting at once, 2 cores); once all are open they run their turns all
 * at once and stay open until every turn is done. Heavy (minutes, GBs): runs
 * only with `BENCH_HEAVY=1`, otherwise listed as skipped.
 * `BENCH_REAL_SESSIONS` (default 100) and `BENCH_REAL_START_CONCURRENCY`
 * (default 4) tune it.
 */
import { Cause, Duration, Effect, Exit, Scope } from "effect"
import * as os from "node:os"
import * as Claude from "../src/Claude.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import type * as Session from "../src/Session.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import type { Entry, Result } from "./report.ts"
import {
  claudeBin,
  freshHome,
  leftoverProcesses,
  memAvailable,
  MiB,
  pssOf,
  realLayer,
  removeHome,
  round,
  rssOf,
  runChild,
  stats
} from "./support.ts"

// -----------------------------------------------------------------------------
// sessions.concurrent.fake
// -----------------------------------------------------------------------------

interface FakeChildOutput {
  readonly n: number
  readonly ours: {
    readonly perSession: {
      readonly heapUsedMiB: number
      readonly externalMiB: number
      readonly arrayBuffersMiB: number
      readonly rssMiB: number
    }
    readonly ok: number
    readonly states: Readonly<Record<string, number>>
  } & Readonly<Record<string, unknown>>
  readonly baseline: { readonly perSession: { readonly heapUsedMiB: number } } & Readonly<Record<string, unknown>>
  readonly fakeProcessesStillRunning: number
}

export const concurrentFake = async (): Promise<Result> => {
  const stdout = await runChild("concurrent-fake.child.ts", process.env)
  const lastLine = stdout.trim().split("\n").at(-1) ?? ""
  const out = JSON.parse(lastLine) as FakeChildOutput
  const value = out.ours.perSession.heapUsedMiB
  const baselineValue = out.baseline.perSession.heapUsedMiB
  return {
    id: "sessions.concurrent.fake",
    unit: "MiB/session",
    value,
    baseline: "the fake CLI + a minimal driver (stdin queue, stdout reader fiber), same FakeSpawner",
    baselineValue,
    ratio: value / baselineValue,
    target: "<= 0.25",
    met: out.ours.ok === out.n && out.fakeProcessesStillRunning === 0 && value <= 0.25,
    detail: {
      value:
        "heap used after full GCs while all sessions are open and have run a turn, minus heap used after full GCs before they opened, over the number of sessions; in a node of its own with --expose-gc",
      hostMiBPerSession: {
        note:
          "heap plus off-heap (external: ArrayBuffers, e.g. each process's stderr tail buffer); rss only grows (the heap keeps its pages)",
        heapPlusExternal: round(out.ours.perSession.heapUsedMiB + out.ours.perSession.externalMiB, 5),
        ...out.ours.perSession
      },
      libraryShareMiB: {
        note: "ours minus the baseline (heap only): roughly what the library keeps per session beyond the fake CLI",
        heapUsed: round(value - baselineValue, 5)
      },
      ...out
    }
  }
}

// -----------------------------------------------------------------------------
// sessions.concurrent.real
// -----------------------------------------------------------------------------

const realTarget = ">= 100 with zero failures"
const realBaseline = "sessions attempted"

export const concurrentRealSkipped = (reason: string): Entry => ({
  id: "sessions.concurrent.real",
  unit: "sessions",
  value: null,
  baseline: realBaseline,
  baselineValue: null,
  ratio: null,
  target: realTarget,
  met: null,
  skipped: true,
  reason,
  detail: { howToRun: "BENCH_HEAVY=1 npm run bench (BENCH_REAL_SESSIONS, BENCH_REAL_START_CONCURRENCY to tune)" }
})

const PROMPT = "Say hello for the concurrency benchmark."
const REPLY = ["Hello ", "from one ", "of many."]

interface Opened {
  readonly index: number
  readonly session: Session.Session
  readonly startMs: number
}

const totalRss = () => {
  const pids = leftoverProcesses()
  let rss = 0
  let pss = 0
  for (const pid of pids) {
    rss += rssOf(pid) ?? 0
    pss += pssOf(pid) ?? 0
  }
  return { processes: pids.length, rssMiB: round(rss / MiB, 1), pssMiB: round(pss / MiB, 1) }
}

const loadAverage = () => os.loadavg().map((l) => round(l, 2))

export const concurrentReal = async (options?: {
  readonly sessions?: number
  readonly startConcurrency?: number
  readonly log?: (line: string) => void
}): Promise<Entry> => {
  if (process.env.BENCH_HEAVY !== "1") {
    return concurrentRealSkipped("heavy (minutes, GBs of memory): set BENCH_HEAVY=1 to run it")
  }
  const n = Math.max(1, options?.sessions ?? Number(process.env.BENCH_REAL_SESSIONS ?? 100))
  const startConcurrency = Math.max(
    1,
    options?.startConcurrency ?? Number(process.env.BENCH_REAL_START_CONCURRENCY ?? 4)
  )
  const log = options?.log ?? ((line: string) => console.log(`  ${line}`))

  const program = Effect.gen(function*() {
    const api = yield* FakeApi.make({ script: () => FakeApi.text(REPLY) })
    const cliOptions = (home: string): ClaudeOptions.Input => ({
      includePartialMessages: true,
      env: FakeApi.cliEnvironment(api, home),
      executable: claudeBin,
      cwd: home,
      timeouts: { startup: Duration.minutes(2), firstEvent: Duration.minutes(5), shutdownGrace: Duration.seconds(2) }
    })
    const memBefore = memAvailable()
    const hostBefore = process.memoryUsage().rss

    // Each session in a scope of its own (its HOME removed after its process is gone), all closed at once at the end.
    const scopes: Array<Scope.Closeable> = []
    const closeAll = Effect.suspend(() =>
      Effect.forEach(scopes, (scope) => Scope.close(scope, Exit.void), { concurrency: 16, discard: true })
    )
    yield* Effect.addFinalizer(() => closeAll)

    const failures: Array<string> = []
    let opened = 0
    const open = (index: number) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        scopes.push(scope)
        const home = freshHome()
        yield* Scope.addFinalizer(scope, Effect.sync(() => removeHome(home)))
        const startedAt = performance.now()
        const exit = yield* Claude.session({ options: cliOptions(home) }).pipe(Scope.provide(scope), Effect.exit)
        const startMs = performance.now() - startedAt
        if (Exit.isFailure(exit)) {
          failures.push(`session ${index} did not start: ${Cause.pretty(exit.cause).slice(0, 600)}`)
          return undefined
        }
        opened++
        if (opened % 10 === 0) {
          log(
            `${opened}/${n} open (${totalRss().pssMiB} MiB PSS in CLIs, MemAvailable ${
              Math.round((memAvailable() ?? 0) / MiB)
            } MiB, load ${loadAverage().join(" ")})`
          )
        }
        return { index, session: exit.value, startMs } satisfies Opened
      })

    const rampStartedAt = performance.now()
    const all = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), open, { concurrency: startConcurrency })
    const rampMs = performance.now() - rampStartedAt
    const sessions = all.filter((s): s is Opened => s !== undefined)
    const openRss = totalRss()
    const memOpen = memAvailable()
    const loadOpen = loadAverage()
    log(`all ${sessions.length} open in ${round(rampMs / 1000, 1)} s; turns start`)

    const turnsStartedAt = performance.now()
    const turns = yield* Effect.forEach(
      sessions,
      ({ index, session }) =>
        Effect.gen(function*() {
          const startedAt = performance.now()
          const exit = yield* Effect.exit(session.ask(PROMPT))
          const ms = performance.now() - startedAt
          if (Exit.isFailure(exit)) {
            failures.push(`session ${index}: turn failed: ${Cause.pretty(exit.cause).slice(0, 600)}`)
            return undefined
          }
          if (exit.value.error !== undefined) {
            failures.push(`session ${index}: turn ended in error: ${JSON.stringify(exit.value.error).slice(0, 600)}`)
            return undefined
          }
          return ms
        }),
      { concurrency: "unbounded" }
    )
    const turnsMs = performance.now() - turnsStartedAt
    const turnTimes = turns.filter((ms): ms is number => ms !== undefined)
    const afterTurnRss = totalRss()
    const memAfterTurns = memAvailable()
    const loadTurns = loadAverage()
    const hostAfter = process.memoryUsage().rss
    const conversationRequests = (yield* api.conversationRequests).length
    log(`${turnTimes.length}/${sessions.length} turns done in ${round(turnsMs / 1000, 1)} s; closing`)

    const closeStartedAt = performance.now()
    yield* closeAll
    const closeMs = performance.now() - closeStartedAt
    return {
      ok: turnTimes.length,
      opened: sessions.length,
      failures,
      rampMs,
      turnsMs,
      closeMs,
      startTimes: sessions.map((s) => s.startMs),
      turnTimes,
      openRss,
      afterTurnRss,
      memBefore,
      memOpen,
      memAfterTurns,
      loadOpen,
      loadTurns,
      hostBefore,
      hostAfter,
      conversationRequests
    }
  }).pipe(Effect.scoped, Effect.provide(realLayer()))

  const startedAt = performance.now()
  const r = await Effect.runPromise(program)
  const totalMs = performance.now() - startedAt
  const leftovers = leftoverProcesses()
  const mib = (bytes: number | undefined) => (bytes === undefined ? null : round(bytes / MiB, 1))
  const result: Result = {
    id: "sessions.concurrent.real",
    unit: "sessions",
    value: r.ok,
    baseline: realBaseline,
    baselineValue: n,
    ratio: r.ok / n,
    target: realTarget,
    met: r.failures.length === 0 && r.ok === n && r.ok >= 100 && leftovers.length === 0,
    detail: {
      value: "real CLIs open at the same time that each completed one turn (ok: Result without error)",
      ratio: "completed / attempted (baselineValue is the number attempted)",
      attempted: n,
      opened: r.opened,
      completed: r.ok,
      failures: r.failures,
      startConcurrency,
      setup:
        "Claude.session per CLI, own HOME/CLAUDE_CONFIG_DIR and cwd (a scratch dir), one in-process FakeApi; ramped start-up (startConcurrency at a time), then every turn at once while all stay open",
      timesS: {
        rampUp: round(r.rampMs / 1000, 2),
        turns: round(r.turnsMs / 1000, 2),
        close: round(r.closeMs / 1000, 2),
        total: round(totalMs / 1000, 2)
      },
      startMs: stats(r.startTimes),
      turnMs: stats(r.turnTimes),
      cliMemory: {
        note:
          "sums over every process with one of the benchmark's HOMEs (the CLIs and anything they started): VmRSS (counts shared pages once per process) and Pss (shared pages split)",
        open: r.openRss,
        afterTurns: r.afterTurnRss,
        perSessionMiB: {
          rss: round(r.afterTurnRss.rssMiB / Math.max(1, r.opened), 1),
          pss: round(r.afterTurnRss.pssMiB / Math.max(1, r.opened), 1)
        }
      },
      machineMemAvailableMiB: { before: mib(r.memBefore), allOpen: mib(r.memOpen), afterTurns: mib(r.memAfterTurns) },
      hostRssMiB: { before: mib(r.hostBefore), afterTurns: mib(r.hostAfter) },
      loadAverage: { allOpen: r.loadOpen, afterTurns: r.loadTurns },
      conversationRequests: r.conversationRequests,
      leftoverProcesses: leftovers.length
    }
  }
  return result
}

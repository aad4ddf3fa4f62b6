/**
 * spawn.containment.overhead: what binding a CLI's descendants to its life costs per spawn.
 * - The reported value: the launcher's own cost, the time to run `/bin/true` through
 *   `unshare --pid --fork --kill-child` (a user namespace too when not root) against `/bin/true` started
 *   directly (the baseline), 60 interleaved samples each: the PID namespace's price, without the CLI's
 *   start-up jitter (tens of ms) that would drown it.
 * - `detail.session`: the time from just before `Claude.session` to the session in hand (spawn,
 *   `initialize`) on the real CLI, `containment: "pidNamespace"` against `"processGroup"`, interleaved.
 * - `detail.sweepMs`: the environment sweep, the fallback, costs a scan of `/proc` when a CLI ends; timed on
 *   its own, with the number of processes scanned.
 */
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as Claude from "../src/Claude.ts"
import * as Containment from "../src/internal/containment.ts"
import type { Result } from "./report.ts"
import { claudeBin, quantile, realLayer, round, scopedHome, stats } from "./support.ts"

const SAMPLES = 12
const LAUNCHER_SAMPLES = 60

const runMs = (argv: ReadonlyArray<string>) => {
  const started = performance.now()
  const done = ChildProcess.spawnSync(argv[0] ?? "true", argv.slice(1), { stdio: "ignore", timeout: 10_000 })
  if (done.status !== 0) throw new Error(`${argv.join(" ")} exited ${done.status}`)
  return performance.now() - started
}
const TARGET_MS = 10

type Mechanism = "pidNamespace" | "processGroup"

const obtainMs = (mechanism: Mechanism, home: string) =>
  Effect.gen(function*() {
    const started = performance.now()
    const session = yield* Claude.session({ options: { executable: claudeBin, env: { HOME: home }, cwd: home } })
    const ms = performance.now() - started
    if (session.pid <= 0) return yield* Effect.die(new Error(`no pid under ${mechanism}`))
    return ms
  }).pipe(Effect.scoped, Effect.provide(realLayer({ minIdle: 0 }, { containment: mechanism })))

export const containmentOverhead = (): Promise<Result> =>
  Effect.gen(function*() {
    const nsHome = yield* scopedHome
    const groupHome = yield* scopedHome
    yield* obtainMs("pidNamespace", nsHome)
    yield* obtainMs("processGroup", groupHome)
    const ns: Array<number> = []
    const group: Array<number> = []
    for (let i = 0; i < SAMPLES; i++) {
      ns.push(yield* obtainMs("pidNamespace", nsHome))
      group.push(yield* obtainMs("processGroup", groupHome))
    }
    const unshare = Containment.unshareArgs("unshare", process.getuid?.() === 0)
    const launched: Array<number> = []
    const direct: Array<number> = []
    for (let i = 0; i < LAUNCHER_SAMPLES; i++) {
      launched.push(runMs([...unshare, "/bin/true"]))
      direct.push(runMs(["/bin/true"]))
    }
    const sweepMs: Array<number> = []
    for (let i = 0; i < 20; i++) {
      const started = performance.now()
      yield* Containment.sweep(crypto.randomUUID())
      sweepMs.push(performance.now() - started)
    }
    const launchedP50 = quantile(launched, 0.5)
    const directP50 = quantile(direct, 0.5)
    const overhead = launchedP50 - directP50
    return {
      id: "spawn.containment.overhead",
      unit: "ms",
      value: round(launchedP50, 3),
      baseline: "/bin/true started directly",
      baselineValue: round(directP50, 3),
      ratio: round(overhead, 3),
      target: `<= ${TARGET_MS} ms per spawn`,
      met: overhead <= TARGET_MS,
      detail: {
        ratio: "ours - baseline (ms, p50 of running /bin/true through the PID-namespace launcher)",
        launcher: unshare.join(" "),
        session: {
          pidNamespace: stats(ns),
          processGroup: stats(group),
          p50DifferenceMs: round(quantile(ns, 0.5) - quantile(group, 0.5), 2)
        },
        sweepMs: stats(sweepMs),
        processesScanned: fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).length
      }
    } satisfies Result
  }).pipe(Effect.scoped, Effect.runPromise)

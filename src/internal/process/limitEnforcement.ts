/**
 * How a CLI's resource limits are enforced (see `ResourceLimits`): by the kernel, through `prlimit` in
 * front of the launcher, at a `nice` niceness (or `setpriority` after the spawn), or by a watchdog fiber
 * that samples the process and stops it over a limit, recording why.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Option, type Scope } from "effect"
import type { ChildProcessSpawner } from "effect/process"
import * as os from "node:os"
import type * as ClaudeError from "../../ClaudeError.ts"
import * as ResourceLimits from "../../ResourceLimits.ts"
import type * as Containment from "../containment.ts"
import type { Programs } from "./programs.ts"

/**
 * How the limits of one spawn are enforced, and the launcher's programs that apply them: `before` goes
 * in front of the whole command line (`prlimit ... --`), `after` right before the executable (`nice ... --`).
 *
 * @since 0.1.0
 * @category models
 */
export interface SpawnPlan {
  readonly applied: ResourceLimits.Plan
  readonly before: ReadonlyArray<string>
  readonly after: ReadonlyArray<string>
}

/**
 * What the watchdog of one process found.
 *
 * @since 0.1.0
 * @category models
 */
export interface Watchdog {
  /** The limit the process was stopped for, if the watchdog stopped it. */
  readonly stopped: () => ClaudeError.ResourceLimitExceeded | undefined
  /** The last usage sampled. */
  readonly lastUsage: () => Option.Option<ResourceLimits.Usage>
}

/**
 * Builds the planner and the watchdog from the ProcessManager's `resourceLimits` settings; the sampler
 * and the host's hard limits are read here, once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(programs: Programs, settings: ResourceLimits.Settings) {
  const sampleInterval = Duration.fromInputUnsafe(settings.sampleInterval ?? Duration.seconds(1))
  const killGrace = Duration.fromInputUnsafe(settings.killGrace ?? Duration.seconds(1))
  const sampler = settings.sample ?? (ResourceLimits.procAvailable() ? ResourceLimits.sampleProc : undefined)
  const hostHard = Option.getOrUndefined(ResourceLimits.hardLimits())
  const unenforcedWarned = new Set<ResourceLimits.Resource>()

  const plan = Effect.fnUntraced(function*(
    limits: ResourceLimits.Limits | undefined,
    mechanism: Containment.Mechanism
  ) {
    const kernelWanted = limits?.maxCpuSeconds !== undefined || limits?.maxOpenFiles !== undefined ||
      limits?.maxProcesses !== undefined
    const prlimit = kernelWanted ? yield* programs.prlimit : Option.none<string>()
    const nice = limits?.niceness === undefined ? Option.none<string>() : yield* programs.nice
    const applied = ResourceLimits.plan(limits, {
      prlimit: Option.isSome(prlimit),
      nice: Option.isSome(nice),
      sampler: sampler !== undefined,
      hostHard,
      cpuSignals: mechanism !== "pidNamespace"
    })
    for (const resource of applied.unenforced) {
      if (unenforcedWarned.has(resource)) continue
      unenforcedWarned.add(resource)
      yield* Effect.logWarning(
        `limits.${ResourceLimits.limitOf[resource]} cannot be enforced on ${process.platform}: no prlimit and no ` +
          "process sampler (pass resourceLimits.sample to the ProcessManager)"
      )
    }
    const before = Option.isSome(prlimit) && applied.prlimitArgs.length > 0
      ? [prlimit.value, ...applied.prlimitArgs, "--"]
      : []
    const after = Option.isSome(nice) && applied.niceArgs.length > 0 ? [nice.value, ...applied.niceArgs, "--"] : []
    return { applied, before, after } satisfies SpawnPlan
  })

  // No `nice` to launch with (Windows): the priority is set right after the spawn.
  const setPriority = (pid: number, applied: ResourceLimits.Plan) =>
    Option.match(applied.setPriority, {
      onNone: () => Effect.void,
      onSome: (priority) =>
        Effect.try({ try: () => os.setPriority(pid, priority), catch: (error) => String(error) }).pipe(
          Effect.catch((message) => Effect.logWarning(`could not set the CLI's niceness to ${priority}: ${message}`))
        )
    })

  // Resource limits the watchdog enforces: sampled on its own fiber, every `sampleInterval` of the Clock.
  // Over a limit, the reason is recorded first, then the process group gets SIGTERM, and SIGKILL after
  // `killGrace`: the reader sees stdout end, and the session reads `stoppedFor` to classify the death.
  const watch = Effect.fnUntraced(function*(target: {
    readonly handle: ChildProcessSpawner.ChildProcessHandle
    /** The pid to sample: the CLI's own (in a PID namespace, not the spawned process's). */
    readonly pid: number
    readonly limits: ResourceLimits.Limits | undefined
    readonly applied: ResourceLimits.Plan
    readonly hasExited: () => boolean
  }): Effect.fn.Return<Watchdog, never, Scope.Scope> {
    const { applied, handle, hasExited, limits, pid } = target
    let stopped: ClaudeError.ResourceLimitExceeded | undefined
    let lastUsage = Option.none<ResourceLimits.Usage>()
    const stopFor = (reason: ClaudeError.ResourceLimitExceeded) =>
      Effect.suspend(() => {
        if (stopped !== undefined || hasExited()) return Effect.void
        stopped = reason
        return Effect.logWarning(
          `${reason.message}: SIGTERM to its process group, SIGKILL if still running after the grace`
        ).pipe(
          Effect.andThen(handle.kill({ killSignal: "SIGTERM", forceKillAfter: killGrace }).pipe(Effect.ignore)),
          Effect.annotateLogs({ pid: handle.pid, resource: reason.resource })
        )
      })
    if (sampler !== undefined && applied.watchdog.length > 0) {
      const wanted = {
        openFiles: applied.watchdog.includes("openFiles"),
        processes: applied.watchdog.includes("processes")
      }
      yield* Effect.gen(function*() {
        while (!hasExited() && stopped === undefined) {
          const usage = yield* sampler(pid, wanted)
          if (Option.isSome(usage)) {
            lastUsage = usage
            const over = ResourceLimits.exceeded(limits, applied.watchdog, usage.value)
            if (Option.isSome(over)) return yield* stopFor(over.value)
          }
          yield* Effect.sleep(sampleInterval)
        }
      }).pipe(Effect.forkScoped)
    }
    return { stopped: () => stopped, lastUsage: () => lastUsage }
  })

  return { plan, setPriority, watch }
})

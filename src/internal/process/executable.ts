/**
 * Which CLI runs, and how it is launched: the first executable candidate, its `--version` checked once
 * per path (a failed check is not remembered, so a fixed install is picked up), through the fullest
 * launcher that works.
 *
 * @since 0.1.0
 */
import { Cache, Cause, Duration, Effect, Exit, Option, Result } from "effect"
import { ChildProcessSpawner } from "effect/process"
import * as ClaudeError from "../../ClaudeError.ts"
import * as Containment from "../containment.ts"
import * as HostEnvironment from "../hostEnvironment.ts"
import * as Launcher from "./launcher.ts"
import type { Programs } from "./programs.ts"

/**
 * The oldest CLI version whose protocol this library speaks.
 *
 * @since 0.1.0
 * @category versions
 */
export const minimumVersion = "2.1.0"

/**
 * Compares dotted versions numerically.
 *
 * @since 0.1.0
 * @category versions
 */
export const isAtLeast = (version: string, minimum: string): boolean => {
  const parse = (v: string) => v.split(".").map((part) => Number.parseInt(part, 10))
  const have = parse(version)
  const need = parse(minimum)
  for (let i = 0; i < need.length; i++) {
    const a = have[i] ?? 0
    const b = need[i] ?? 0
    if (Number.isNaN(a)) return false
    if (a !== b) return a > b
  }
  return true
}

/**
 * A found, version-checked CLI, and the launcher it runs behind.
 *
 * @since 0.1.0
 * @category models
 */
export interface Resolved {
  readonly executable: { readonly path: string; readonly version: string }
  readonly launcher: Launcher.Launcher
}

const versionPattern = /(\d+\.\d+\.\d+)/

const versionFailed = (executable: string, error: { readonly message: string }) =>
  ClaudeError.make(new ClaudeError.SpawnFailed({ executable, description: `\`--version\` failed: ${error.message}` }))

/**
 * Builds the resolver: `resolve(explicit)` finds the CLI (`explicit` first, see `Programs.cliCandidates`)
 * and checks it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(programs: Programs, versionTimeout: Duration.Input) {
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  const isRoot = process.getuid?.() === 0

  const versionOutput = (launcher: Launcher.Launcher, executable: string) =>
    Effect.gen(function*() {
      const env = {
        PATH: (yield* HostEnvironment.variable("PATH")) ?? "",
        HOME: (yield* HostEnvironment.variable("HOME")) ?? ""
      }
      return yield* spawner.string(
        Launcher.command(Launcher.args(launcher, isRoot), executable, ["--version"], {
          stdin: "ignore",
          env,
          forceKillAfter: Duration.seconds(1)
        })
      )
    }).pipe(Effect.timeout(versionTimeout))

  // The version check runs `--version` the way sessions will run the CLI: through setpriv when there is
  // one, then in a PID namespace when one is wanted. A launcher that prints no version (a setpriv without
  // `--pdeathsig`, an `unshare` the kernel or a seccomp profile refuses) is dropped, and the CLI is checked,
  // and later run, without it. A check that times out is the CLI's fault: no second try.
  const tryLauncher = Effect.fnUntraced(function*(launcher: Launcher.Launcher, executable: string) {
    const attempt = yield* Effect.result(versionOutput(launcher, executable))
    if (Result.isFailure(attempt) && Cause.isTimeoutError(attempt.failure)) {
      return yield* Effect.fail(versionFailed(executable, attempt.failure))
    }
    return Result.isSuccess(attempt) && versionPattern.test(attempt.success)
      ? Option.some(attempt.success)
      : Option.none<string>()
  })

  const checkVersion = Effect.fnUntraced(function*(executable: string) {
    const setpriv = yield* programs.setpriv
    const unshare = yield* programs.unshare
    // The launchers to try, the fullest first: in the usual case one `--version` run proves them all.
    const none = Option.none<string>()
    const both = Option.isSome(setpriv) && Option.isSome(unshare)
    const tries: Array<Launcher.Launcher> = [
      { setpriv, unshare },
      ...(both ? [{ setpriv: none, unshare }, { setpriv, unshare: none }] : [])
    ]
    let launcher = Launcher.none
    let output: string | undefined
    for (const candidate of tries) {
      if (Option.isNone(candidate.setpriv) && Option.isNone(candidate.unshare)) break
      const attempt = yield* tryLauncher(candidate, executable)
      if (Option.isSome(attempt)) {
        launcher = candidate
        output = attempt.value
        break
      }
    }
    if (Option.isSome(setpriv) && Option.isNone(launcher.setpriv)) {
      yield* Effect.logWarning(
        `\`${setpriv.value} --pdeathsig SIGKILL\` cannot run ${executable}: it runs without a parent-death signal`
      )
    }
    if (Option.isSome(unshare) && Option.isNone(launcher.unshare)) {
      yield* Effect.logWarning(
        `\`${Containment.unshareArgs(unshare.value, isRoot).join(" ")}\` cannot run ${executable}: the processes ` +
          "it starts are bound to it by the environment sweep"
      )
    }
    if (output === undefined) {
      output = yield* versionOutput(launcher, executable).pipe(
        Effect.mapError((error) => versionFailed(executable, error))
      )
    }
    const version = versionPattern.exec(output)?.[1]
    if (version === undefined || !isAtLeast(version, minimumVersion)) {
      return yield* ClaudeError.fail(
        new ClaudeError.CliVersionUnsupported({
          executable,
          version: version ?? output.trim().slice(0, 100),
          required: `>= ${minimumVersion}`
        })
      )
    }
    return { version, launcher }
  })

  // Checked once per executable path; a failed check is not remembered, so a fixed install is picked up.
  const versions = yield* Cache.makeWith(checkVersion, {
    capacity: 64,
    timeToLive: (exit) => (Exit.isSuccess(exit) ? Duration.infinity : Duration.zero)
  })

  return Effect.fnUntraced(function*(explicit: string | undefined) {
    const searched = yield* programs.cliCandidates(explicit)
    for (const candidate of searched) {
      if (yield* programs.isExecutableFile(candidate)) {
        const { launcher, version } = yield* Cache.get(versions, candidate)
        return { executable: { path: candidate, version }, launcher } satisfies Resolved
      }
    }
    return yield* ClaudeError.fail(new ClaudeError.CliNotFound({ searched: [...searched] }))
  })
})

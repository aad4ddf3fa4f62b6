/**
 * Where the programs a spawn needs are: the CLI's executable (its candidates, in the order they are
 * tried) and the launcher's helpers (util-linux `setpriv`, `prlimit`, `unshare`; `nice`), each of those
 * looked up once, only on a platform that has it and only when a setting wants it.
 *
 * @since 0.1.0
 */
import { Effect, FileSystem, Option, Path } from "effect"
import * as HostEnvironment from "../hostEnvironment.ts"

/**
 * Which helper programs are wanted at all (from the ProcessManager's settings).
 *
 * @since 0.1.0
 * @category models
 */
export interface Wanted {
  readonly parentDeathSignal: boolean
  readonly prlimit: boolean
  readonly nice: boolean
  /** A PID namespace may be used (`containment` is `"auto"` or `"pidNamespace"`). */
  readonly pidNamespace: boolean
  /** Where this library is installed: `node_modules/.bin` above it is searched for the CLI. */
  readonly packageDir: string
}

/**
 * The lookups, bound to a file system.
 *
 * @since 0.1.0
 * @category models
 */
export interface Programs {
  /** A regular file this process may execute (any file on Windows). */
  readonly isExecutableFile: (file: string) => Effect.Effect<boolean>
  /**
   * Where the CLI may be: the explicit path, else `CLAUDE_CODE_EXECUTABLE`, else `claude` in each
   * directory of `PATH`, then in each `node_modules/.bin` above the working directory and above this
   * library.
   */
  readonly cliCandidates: (explicit: string | undefined) => Effect.Effect<ReadonlyArray<string>>
  readonly setpriv: Effect.Effect<Option.Option<string>>
  readonly prlimit: Effect.Effect<Option.Option<string>>
  readonly unshare: Effect.Effect<Option.Option<string>>
  readonly nice: Effect.Effect<Option.Option<string>>
}

/**
 * Builds the lookups; each helper's is cached, run at its first use.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(wanted: Wanted) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path

  const isExecutableFile = (file: string) =>
    fs.stat(file).pipe(
      Effect.map((info) => info.type === "File" && (process.platform === "win32" || (info.mode & 0o111) !== 0)),
      Effect.orElseSucceed(() => false)
    )

  const nodeModulesBins = (start: string): Array<string> => {
    const found: Array<string> = []
    let dir = path.resolve(start)
    for (;;) {
      found.push(path.join(dir, "node_modules", ".bin", "claude"))
      const parent = path.dirname(dir)
      if (parent === dir) return found
      dir = parent
    }
  }

  const cliCandidates = Effect.fnUntraced(function*(explicit: string | undefined) {
    if (explicit !== undefined) return [path.resolve(explicit)]
    const fromEnv = yield* HostEnvironment.variable("CLAUDE_CODE_EXECUTABLE")
    if (fromEnv !== undefined) return [path.resolve(fromEnv)]
    const pathDirs = yield* HostEnvironment.searchPath
    return [
      ...pathDirs.map((dir) => path.join(dir, "claude")),
      ...nodeModulesBins(process.cwd()),
      ...nodeModulesBins(wanted.packageDir)
    ]
  })

  // A helper program of the launcher (setpriv, prlimit, nice): on `PATH`, else in /usr/bin or /bin.
  const findProgram = Effect.fnUntraced(function*(name: string) {
    const pathDirs = (yield* HostEnvironment.searchPath).filter((dir) => path.isAbsolute(dir))
    for (const candidate of [...pathDirs.map((dir) => path.join(dir, name)), `/usr/bin/${name}`, `/bin/${name}`]) {
      if (yield* isExecutableFile(candidate)) return Option.some(candidate)
    }
    return Option.none<string>()
  })
  const lookedUpOnce = (when: boolean, name: string) =>
    Effect.cached(when ? findProgram(name) : Effect.succeed(Option.none<string>()))

  const linux = process.platform === "linux"
  return {
    isExecutableFile,
    cliCandidates,
    // Whether this setpriv takes `--pdeathsig` (util-linux >= 2.33; busybox's does not) the version check finds out.
    setpriv: yield* lookedUpOnce(wanted.parentDeathSignal && linux, "setpriv"),
    prlimit: yield* lookedUpOnce(wanted.prlimit && linux, "prlimit"),
    unshare: yield* lookedUpOnce(wanted.pidNamespace && linux, "unshare"),
    nice: yield* lookedUpOnce(wanted.nice && process.platform !== "win32", "nice")
  } satisfies Programs
})

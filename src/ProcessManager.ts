/**
 * Spawns and supervises Claude Code CLI processes.
 *
 * - the executable comes from the options, then `CLAUDE_CODE_EXECUTABLE`, then
 *   `PATH`, then `node_modules/.bin`; its version is checked once per path;
 * - the child's environment is an allow-list of the host's, plus the
 *   credential (kept `Redacted`), plus the user's additions;
 * - the child leads its own process group, so signals reach the tools and MCP
 *   servers it starts;
 * - stderr is always drained, into a bounded tail, so a full pipe can never
 *   block the CLI;
 * - the process lives exactly as long as its scope. Closing the scope runs the
 *   shutdown ladder: stdin EOF, grace, SIGTERM to the group, grace, SIGKILL;
 * - should the host die without closing its scopes (SIGKILL, OOM killer), the
 *   CLI goes too. On Linux, when util-linux `setpriv` is found (on `PATH`, or
 *   `/usr/bin/setpriv`, `/bin/setpriv`; looked up once), the CLI is started as
 *   `setpriv --pdeathsig SIGKILL -- <executable> <args...>`: setpriv execs the
 *   CLI (same pid, same process group) with a parent-death signal, so the
 *   kernel kills it the moment the host dies, even in the middle of a turn.
 *   The version check runs through setpriv too, and proves it works.
 *   Elsewhere (macOS, Windows, Linux without a `setpriv` that takes
 *   `--pdeathsig`, i.e. util-linux >= 2.33, or `parentDeathSignal: false`) the
 *   fallback is stdin EOF: the CLI exits once it has finished its running
 *   turn, which can take a while. The signal reaches the CLI, not the tools
 *   it started; with a `ProcessReaper` in the context (`Claude.layer` has
 *   one) the CLI's whole process group, tools and MCP servers included, is
 *   SIGKILLed when the host dies, on any platform with process groups.
 *   Caveat: the kernel sends the parent-death signal when the *thread* that
 *   spawned the CLI exits, so a host that spawns from a `worker_thread` loses
 *   its CLIs when that worker ends.
 * - nothing the CLI starts outlives it (`Settings.containment`): the real CLI
 *   starts each Bash tool in a session of its own, out of reach of its group.
 *   On Linux the CLI runs as the first process of a PID namespace of its own
 *   (`unshare --pid --fork --kill-child`, after setpriv, with a user namespace
 *   when the host is not root), whose every process the kernel kills when the
 *   CLI dies; where namespaces are refused, a marker in the CLI's environment
 *   is swept from `/proc` when the CLI exits, its scope closes, or (through the
 *   reaper) the host dies. In a namespace `CliProcess.pid` is the CLI's own pid
 *   (the spawned process is unshare, which leads the group and forwards the
 *   CLI's exit: a SIGKILL, which util-linux 2.38 reports as exit 1 and a line
 *   on stderr, is read back as the signal).
 * - before the spawn, the `cwd` is checked (one that does not exist is `InvalidOptions` naming it, not a
 *   missing executable), and so are the kernel's limits on argv and the environment: a system prompt too
 *   long for one argument (131071 bytes of UTF-8, `--system-prompt=` included) goes through
 *   `--system-prompt-file` / `--append-system-prompt-file`, a 0600 file in a temp dir that lives as long as
 *   the process; anything else too long is `InvalidOptions` naming it, its size and the limit;
 * - resource limits (`options.limits`, see `ResourceLimits` for which limit
 *   applies how on which platform): CPU time, open files and processes go to
 *   the kernel through util-linux `prlimit` in front of the launcher
 *   (`prlimit <limits> -- setpriv --pdeathsig SIGKILL -- nice -n <n> --
 *   <executable> <args...>`: each execs the next, no shell, one pid); memory,
 *   and the rest where there is no `prlimit`, are watched by a sampling fiber
 *   that stops the process over a limit. `CliProcess.stoppedFor` tells why a
 *   process was stopped, so that its turn fails with `ResourceLimitExceeded`
 *   rather than as a crash.
 *
 * @since 0.1.0
 */
import {
  Cache,
  Cause,
  Config,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  FileSystem,
  Layer,
  Option,
  Path,
  type PlatformError,
  Queue,
  Redacted,
  Result,
  type Scope,
  Stream
} from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import * as ClaudeError from "./ClaudeError.ts"
import * as ClaudeOptions from "./ClaudeOptions.ts"
import * as Containment from "./internal/containment.ts"
import * as ArgvLimits from "./internal/argvLimits.ts"
import { StderrTail } from "./internal/stderrTail.ts"
import * as ProcessReaper from "./ProcessReaper.ts"
import * as ResourceLimits from "./ResourceLimits.ts"
import * as TokenManager from "./TokenManager.ts"
import type * as TurnOutcome from "./TurnOutcome.ts"

/**
 * The oldest CLI version whose protocol this library speaks.
 *
 * @since 0.1.0
 * @category constants
 */
export const minimumVersion = "2.1.0"

/**
 * Host variables a CLI may inherit. Everything else (other services' secrets,
 * tokens of unrelated tools) stays out of the child and of the tools it runs.
 *
 * @since 0.1.0
 * @category constants
 */
export const hostEnvironmentAllowList: ReadonlyArray<string> = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  "TERM",
  "LANG",
  "LC_ALL",
  "LC_CTYPE",
  "TZ",
  "TMPDIR",
  "TMP",
  "TEMP",
  "XDG_CONFIG_HOME",
  "XDG_CACHE_HOME",
  "XDG_DATA_HOME",
  "XDG_STATE_HOME",
  "XDG_RUNTIME_DIR",
  "CLAUDE_CONFIG_DIR",
  "ANTHROPIC_BASE_URL",
  "NODE_EXTRA_CA_CERTS",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "SYSTEMROOT",
  "COMSPEC",
  "PATHEXT",
  "USERPROFILE",
  "APPDATA",
  "LOCALAPPDATA"
]

/**
 * What to run: validated options and the argv they map to.
 *
 * @since 0.1.0
 * @category models
 */
export interface SpawnRequest {
  readonly options: ClaudeOptions.ClaudeOptions
  readonly args: ReadonlyArray<string>
}

/**
 * A resolved, version-checked CLI executable.
 *
 * @since 0.1.0
 * @category models
 */
export interface Executable {
  readonly path: string
  readonly version: string
}

/**
 * A running CLI process. Its stdout must be consumed (once); its stderr is drained for you.
 *
 * @since 0.1.0
 * @category models
 */
export interface CliProcess {
  readonly pid: number
  readonly executable: Executable
  /** Raw stdout bytes. Ends when the CLI closes stdout. */
  readonly stdout: Stream.Stream<Uint8Array, ClaudeError.ClaudeError>
  /** Writes one line to stdin; `false` when stdin is already closed (the CLI exited or EOF was sent). */
  readonly write: (line: string) => Effect.Effect<boolean>
  /** Closes stdin (EOF): the CLI finishes its running turn, then exits. */
  readonly endInput: Effect.Effect<void>
  /** Waits for the process to exit. */
  readonly exit: Effect.Effect<TurnOutcome.ExitStatus>
  /** The exit status, if the process has exited. */
  readonly exitStatus: Effect.Effect<Option.Option<TurnOutcome.ExitStatus>>
  /** The last bytes the CLI wrote to stderr. */
  readonly stderrTail: Effect.Effect<string>
  /** Runs the shutdown ladder now (idempotent); closing the scope does the same. */
  readonly shutdown: Effect.Effect<void>
  /**
   * Why the process was stopped, when a resource limit stopped it: the watchdog's reading over a limit
   * (`rssBytes`, and `cpuSeconds` / `openFiles` / `processes` where there is no `prlimit`), or, once the
   * process has exited, a kernel-enforced limit read from its end (SIGXCPU; EMFILE on stderr). Read it when
   * the process has died, before classifying its exit: a process stopped for a limit dies by SIGTERM (or
   * SIGKILL), which would otherwise read as a crash.
   */
  readonly stoppedFor: Effect.Effect<Option.Option<ClaudeError.ResourceLimitExceeded>>
  /** How this process's limits are enforced (kernel, watchdog, not at all). */
  readonly enforcement: ResourceLimits.Plan
  /** What binds the processes the CLI starts to its life (see `Settings.containment`). */
  readonly containment: Containment.Mechanism
}

/**
 * @since 0.1.0
 * @category services
 */
export class ProcessManager extends Context.Service<ProcessManager, {
  readonly spawn: (request: SpawnRequest) => Effect.Effect<CliProcess, ClaudeError.ClaudeError, Scope.Scope>
  readonly resolveExecutable: (
    options: ClaudeOptions.ClaudeOptions
  ) => Effect.Effect<Executable, ClaudeError.ClaudeError>
}>()("effect-claude-code/ProcessManager") {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** Bytes of stderr kept per process. Default 64 KiB. */
  readonly stderrTailBytes?: number | undefined
  /** Bounds the `--version` check. Default 15 s. */
  readonly versionCheckTimeout?: Duration.Input | undefined
  /**
   * On Linux, start the CLI through util-linux `setpriv --pdeathsig SIGKILL`, so it dies with the host
   * even when the host is SIGKILLed mid-turn. No effect elsewhere, or when no `setpriv` that takes
   * `--pdeathsig` is found (the fallback is stdin EOF). Default `true`.
   */
  readonly parentDeathSignal?: boolean | undefined
  /**
   * How the credential reaches the CLI:
   * - `"fileDescriptor"` (default): through a pipe on fd 3, named by `CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR`
   *   or `CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR`. The CLI reads it once at start-up; it is never in the
   *   CLI's environment, so the tools it runs (Bash, MCP servers) cannot see it (F17).
   * - `"environment"`: as `ANTHROPIC_API_KEY` / `CLAUDE_CODE_OAUTH_TOKEN`, which the CLI passes on to
   *   every tool it runs.
   */
  readonly credentialDelivery?: "fileDescriptor" | "environment" | undefined
  /** How `options.limits` are enforced: `prlimit`, `nice`, the watchdog's interval, kill grace and sampler. */
  readonly resourceLimits?: ResourceLimits.Settings | undefined
  /**
   * What binds the processes a CLI starts (its Bash tools, which the real CLI starts in sessions of their
   * own, its MCP servers) to the CLI's life, so that none outlives the CLI, its scope or the host:
   * - `"pidNamespace"`: the CLI is the first process of a PID namespace of its own (util-linux `unshare`,
   *   with a user namespace when the host is not root); when it dies, the kernel kills every process in it.
   *   A spawn fails with `SpawnFailed` where this cannot run.
   * - `"environmentSweep"`: the CLI's environment carries a marker its descendants inherit; when the CLI
   *   exits or its scope closes (and, through the `ProcessReaper`, when the host dies) every process with
   *   the marker is SIGKILLed. Linux only (`/proc`); a process that clears its environment escapes it.
   * - `"processGroup"`: the CLI's process group only (tools that leave it outlive the CLI).
   * - `"auto"` (default): `pidNamespace` where `unshare` works (checked once with the version check), else
   *   `environmentSweep` on Linux, else `processGroup`.
   */
  readonly containment?: "auto" | Containment.Mechanism | undefined
}

/** The fd the credential is written to, and the variables that tell the CLI where to read it. */
const CREDENTIAL_FD = 3
const descriptorVariable: Record<TokenManager.CredentialVariable, string> = {
  ANTHROPIC_API_KEY: "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR",
  CLAUDE_CODE_OAUTH_TOKEN: "CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR"
}

const STDIN_QUEUE_CAPACITY = 64

/** The programs that start the CLI, each exec'ing the next: setpriv (parent-death signal), unshare (PID namespace). */
interface Launcher {
  readonly setpriv: Option.Option<string>
  readonly unshare: Option.Option<string>
}

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

// The spawner reports a signal death as a PlatformError whose cause says
// "Process interrupted due to receipt of signal: 'SIGTERM'".
const signalOf = (error: PlatformError.PlatformError): string => {
  const cause = error.cause instanceof Error ? error.cause.message : ""
  return /signal:? '?(SIG[A-Z0-9]+)/.exec(`${error.message} ${cause}`)?.[1] ?? "unknown signal"
}

/**
 * Builds the service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(settings?: Settings) {
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const tokens = yield* TokenManager.TokenManager
  const reaper = yield* Effect.serviceOption(ProcessReaper.ProcessReaper)
  const tailBytes = settings?.stderrTailBytes ?? 64 * 1024
  const versionTimeout = settings?.versionCheckTimeout ?? Duration.seconds(15)
  const parentDeathSignal = settings?.parentDeathSignal ?? true
  const containment = settings?.containment ?? "auto"
  const credentialDelivery = settings?.credentialDelivery ?? "fileDescriptor"
  const limitSettings = settings?.resourceLimits ?? {}
  const sampleInterval = Duration.fromInputUnsafe(limitSettings.sampleInterval ?? Duration.seconds(1))
  const killGrace = Duration.fromInputUnsafe(limitSettings.killGrace ?? Duration.seconds(1))
  const sampler = limitSettings.sample ?? (ResourceLimits.procAvailable() ? ResourceLimits.sampleProc : undefined)
  const hostHard = Option.getOrUndefined(ResourceLimits.hardLimits())
  const unenforcedWarned = new Set<ResourceLimits.Resource>()

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

  const candidates = Effect.fnUntraced(function*(explicit: string | undefined) {
    if (explicit !== undefined) return [path.resolve(explicit)]
    const fromEnv = yield* Config.option(Config.String("CLAUDE_CODE_EXECUTABLE")).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    if (Option.isSome(fromEnv)) return [path.resolve(fromEnv.value)]
    const pathDirs = (process.env.PATH ?? "").split(process.platform === "win32" ? ";" : ":").filter((dir) => dir !== "")
    return [
      ...pathDirs.map((dir) => path.join(dir, "claude")),
      ...nodeModulesBins(process.cwd()),
      ...nodeModulesBins(path.dirname(fileURLToPath(import.meta.url)))
    ]
  })

  // A helper program of the launcher (setpriv, prlimit, nice): on `PATH`, else in /usr/bin or /bin.
  const findProgram = Effect.fnUntraced(function*(name: string) {
    const pathDirs = (process.env.PATH ?? "").split(":").filter((dir) => path.isAbsolute(dir))
    for (const candidate of [...pathDirs.map((dir) => path.join(dir, name)), `/usr/bin/${name}`, `/bin/${name}`]) {
      if (yield* isExecutableFile(candidate)) return Option.some(candidate)
    }
    return Option.none<string>()
  })

  // Where util-linux `setpriv` is, if anywhere: looked up once, only on Linux and only when wanted. Whether
  // it takes `--pdeathsig` (util-linux >= 2.33; busybox's does not) the version check finds out.
  const setprivLocation = yield* Effect.cached(
    !parentDeathSignal || process.platform !== "linux" ? Effect.succeed(Option.none<string>()) : findProgram("setpriv")
  )
  // util-linux `prlimit` (Linux) and `nice` (POSIX): looked up once, the first time a limit needs them.
  const prlimitLocation = yield* Effect.cached(
    limitSettings.prlimit === false || process.platform !== "linux"
      ? Effect.succeed(Option.none<string>())
      : findProgram("prlimit")
  )
  // util-linux `unshare`, for a PID namespace per CLI: looked up once, only on Linux and only when wanted.
  const unshareLocation = yield* Effect.cached(
    process.platform !== "linux" || (containment !== "auto" && containment !== "pidNamespace")
      ? Effect.succeed(Option.none<string>())
      : findProgram("unshare")
  )
  const isRoot = process.getuid?.() === 0
  const niceLocation = yield* Effect.cached(
    limitSettings.nice === false || process.platform === "win32"
      ? Effect.succeed(Option.none<string>())
      : findProgram("nice")
  )

  const setprivPrefix = (launcher: Launcher): ReadonlyArray<string> => [
    ...Option.match(launcher.setpriv, {
      onNone: () => [],
      onSome: (setpriv) => [setpriv, "--pdeathsig", "SIGKILL", "--"]
    }),
    ...Option.match(launcher.unshare, { onNone: () => [], onSome: (unshare) => Containment.unshareArgs(unshare, isRoot) })
  ]

  // The CLI's command line, after the launcher's programs, each of which execs the next:
  // `[prlimit <limits> --] [setpriv --pdeathsig SIGKILL --] [nice -n <n> --] <executable> <args...>`.
  // The pid, the process group and the signals are the CLI's own.
  const cliCommand = (
    prefix: ReadonlyArray<string>,
    executable: string,
    args: ReadonlyArray<string>,
    options: ChildProcess.CommandOptions
  ) => {
    const [program, ...rest] = [...prefix, executable, ...args]
    return ChildProcess.make(program ?? executable, rest, options)
  }

  // How the limits of a spawn are enforced, and the launcher programs that apply them.
  const limitPlan = Effect.fnUntraced(function*(
    limits: ResourceLimits.Limits | undefined,
    mechanism: Containment.Mechanism
  ) {
    const kernelWanted = limits?.maxCpuSeconds !== undefined || limits?.maxOpenFiles !== undefined ||
      limits?.maxProcesses !== undefined
    const prlimit = kernelWanted ? yield* prlimitLocation : Option.none<string>()
    const nice = limits?.niceness === undefined ? Option.none<string>() : yield* niceLocation
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
    const before = Option.isSome(prlimit) && applied.prlimitArgs.length > 0 ? [prlimit.value, ...applied.prlimitArgs, "--"] : []
    const after = Option.isSome(nice) && applied.niceArgs.length > 0 ? [nice.value, ...applied.niceArgs, "--"] : []
    return { applied, before, after }
  })

  const versionOutput = (launcher: Launcher, executable: string) =>
    spawner.string(
      cliCommand(setprivPrefix(launcher), executable, ["--version"], {
        stdin: "ignore",
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
        forceKillAfter: Duration.seconds(1)
      })
    ).pipe(Effect.timeout(versionTimeout))

  const versionPattern = /(\d+\.\d+\.\d+)/

  const versionFailed = (executable: string, error: { readonly message: string }) =>
    ClaudeError.make(new ClaudeError.SpawnFailed({ executable, description: `\`--version\` failed: ${error.message}` }))

  // The version check runs `--version` the way sessions will run the CLI: through setpriv when there is
  // one, then in a PID namespace when one is wanted. A launcher that prints no version (a setpriv without
  // `--pdeathsig`, an `unshare` the kernel or a seccomp profile refuses) is dropped, and the CLI is checked,
  // and later run, without it. A check that times out is the CLI's fault: no second try.
  const tryLauncher = Effect.fnUntraced(function*(launcher: Launcher, executable: string) {
    const attempt = yield* Effect.result(versionOutput(launcher, executable))
    if (Result.isFailure(attempt) && Cause.isTimeoutError(attempt.failure)) {
      return yield* Effect.fail(versionFailed(executable, attempt.failure))
    }
    return Result.isSuccess(attempt) && versionPattern.test(attempt.success)
      ? Option.some(attempt.success)
      : Option.none<string>()
  })

  const checkVersion = Effect.fnUntraced(function*(executable: string) {
    const setpriv = yield* setprivLocation
    const unshare = yield* unshareLocation
    // The launchers to try, the fullest first: in the usual case one `--version` run proves them all.
    const none = Option.none<string>()
    const both = Option.isSome(setpriv) && Option.isSome(unshare)
    const tries: Array<Launcher> = [
      { setpriv, unshare },
      ...(both ? [{ setpriv: none, unshare }, { setpriv, unshare: none }] : [])
    ]
    let launcher: Launcher = { setpriv: none, unshare: none }
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

  // The executable, and the setpriv that launches it (if any).
  const resolve = Effect.fnUntraced(function*(options: ClaudeOptions.ClaudeOptions) {
    const searched = yield* candidates(options.executable)
    for (const candidate of searched) {
      if (yield* isExecutableFile(candidate)) {
        const { launcher, version } = yield* Cache.get(versions, candidate)
        const executable: Executable = { path: candidate, version }
        return { executable, launcher }
      }
    }
    return yield* ClaudeError.fail(new ClaudeError.CliNotFound({ searched }))
  })

  const resolveExecutable = Effect.fn("ProcessManager.resolveExecutable")(function*(
    options: ClaudeOptions.ClaudeOptions
  ) {
    const { executable } = yield* resolve(options)
    return executable
  })

  const environment = Effect.fnUntraced(function*(options: ClaudeOptions.ClaudeOptions) {
    const env: Record<string, string | Redacted.Redacted<string>> = {}
    for (const name of hostEnvironmentAllowList) {
      const value = process.env[name]
      if (value !== undefined) env[name] = value
    }
    const credential = yield* tokens.getToken
    const viaDescriptor = Option.isSome(credential) && credentialDelivery === "fileDescriptor"
    if (Option.isSome(credential)) {
      if (viaDescriptor) env[descriptorVariable[credential.value.variable]] = String(CREDENTIAL_FD)
      else env[credential.value.variable] = credential.value.value
    }
    return {
      env: { ...env, ...options.env },
      descriptorSecret: viaDescriptor ? Option.map(credential, (c) => c.value) : Option.none()
    }
  })

  // The mechanism a spawn gets: the PID namespace when the version check found it works, else the sweep
  // (Linux), else the group; `"pidNamespace"` asked for and not to be had is a typed failure.
  const containmentOf = (launcher: Launcher) =>
    Effect.suspend((): Effect.Effect<Containment.Mechanism, ClaudeError.ClaudeError> => {
      if (Option.isSome(launcher.unshare)) return Effect.succeed("pidNamespace")
      if (containment === "pidNamespace") {
        return ClaudeError.fail(
          new ClaudeError.SpawnFailed({
            executable: "unshare",
            description: "containment \"pidNamespace\" asked for, but `unshare --pid` is not found or not allowed here"
          })
        )
      }
      if (containment === "processGroup" || !ResourceLimits.procAvailable()) return Effect.succeed("processGroup")
      return Effect.succeed("environmentSweep")
    })
  // A missing cwd makes the spawn fail with ENOENT, which reads as a missing executable: checked first, and
  // named as what it is.
  const checkCwd = (cwd: string) =>
    fs.stat(cwd).pipe(
      Effect.map((info) => (info.type === "Directory" ? undefined : "is not a directory")),
      Effect.catch((error) =>
        Effect.succeed(error.reason._tag === "NotFound" ? "does not exist" : `cannot be used: ${error.message}`)
      ),
      Effect.flatMap((problem) =>
        problem === undefined
          ? Effect.void
          : ClaudeError.fail(new ClaudeError.InvalidOptions({ issues: `cwd: ${JSON.stringify(cwd)} ${problem}` }))
      )
    )

  // The kernel's bounds on argv and the environment (see argvLimits.ts), checked before the spawn: a value
  // the CLI also reads from a file goes into one, in a private temp dir that lives as long as the process
  // (registered before it, so removed after it has exited); anything else too long is InvalidOptions.
  const argvFor = Effect.fnUntraced(function*(
    prefix: ReadonlyArray<string>,
    executable: string,
    requested: ReadonlyArray<string>,
    env: Readonly<Record<string, string | Redacted.Redacted<string>>>
  ) {
    const plain: Record<string, string> = {}
    for (const [name, value] of Object.entries(env)) plain[name] = Redacted.isRedacted(value) ? Redacted.value(value) : value
    const { plan, problems } = ArgvLimits.planArgs(requested)
    const issues = [...problems, ...ArgvLimits.envProblems(plain)]
    if (issues.length > 0) return yield* ClaudeError.fail(new ClaudeError.InvalidOptions({ issues: issues.join("; ") }))
    const args = [...plan.args]
    if (plan.files.length > 0) {
      const written = Effect.gen(function*() {
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "effect-claude-code-args-" })
        for (const file of plan.files) {
          const location = path.join(dir, `${file.flag.slice(2)}-${file.index}`)
          yield* fs.writeFileString(location, file.content, { mode: 0o600 })
          args[file.index] = `${file.flag}=${location}`
        }
      })
      yield* written.pipe(
        Effect.mapError((error) =>
          ClaudeError.make(new ClaudeError.SpawnFailed({
            executable,
            description: `could not write a long argument to a temp file: ${error.message}`
          }))
        )
      )
    }
    const total = ArgvLimits.totalProblem([...prefix, executable, ...args], plain)
    if (total !== undefined) return yield* ClaudeError.fail(new ClaudeError.InvalidOptions({ issues: total }))
    return args
  })

  const spawn = Effect.fn("ProcessManager.spawn")(function*(request: SpawnRequest) {
    if (request.options.cwd !== undefined) yield* checkCwd(request.options.cwd)
    const { executable, launcher } = yield* resolve(request.options)
    const grace = ClaudeOptions.timeout(request.options, "shutdownGrace")
    const { env, descriptorSecret } = yield* environment(request.options)
    const limits = request.options.limits
    const mechanism = yield* containmentOf(launcher)
    const { after, applied, before } = yield* limitPlan(limits, mechanism)
    // The sweep's marker: unique to this CLI, inherited by whatever it starts.
    const marker = mechanism === "environmentSweep" ? Option.some(crypto.randomUUID()) : Option.none<string>()
    if (Option.isSome(marker)) env[Containment.markerVariable] = marker.value
    const sweep = Option.match(marker, {
      onNone: () => Effect.void,
      onSome: (value) =>
        Containment.sweep(value).pipe(
          Effect.tap((killed) =>
            killed > 0 ? Effect.logDebug(`SIGKILLed ${killed} process(es) the CLI left behind`) : Effect.void
          )
        )
    })
    const prefix = [...before, ...setprivPrefix(launcher), ...after]
    const args = yield* argvFor(prefix, executable.path, request.args, env)
    // Registered before the spawn, so they run after the spawner's own finalizer has killed the group: the
    // sweep takes what left the group, and the reaper keeps watching until both are done.
    let watched: number | undefined
    if (Option.isSome(reaper)) {
      yield* Effect.addFinalizer(() => (watched === undefined ? Effect.void : reaper.value.unwatch(watched)))
    }
    yield* Effect.addFinalizer(() => sweep)
    const handle = yield* spawner.spawn(
      cliCommand(prefix, executable.path, args, {
        env,
        extendEnv: false,
        ...(Option.isSome(descriptorSecret) ? { additionalFds: { fd3: { type: "input" } } } : {}),
        ...(request.options.cwd === undefined ? {} : { cwd: request.options.cwd }),
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
        // Its own process group: signals reach the CLI's tools and MCP servers too.
        detached: process.platform !== "win32",
        killSignal: "SIGTERM",
        // Never optional: without it a CLI that ignores SIGTERM would keep its scope open forever.
        forceKillAfter: grace
      })
    ).pipe(
      // Named after the CLI, even when it was started through the launcher's programs.
      Effect.mapError((error) =>
        ClaudeError.make(
          error.reason._tag === "NotFound"
            ? new ClaudeError.CliNotFound({ searched: [executable.path] })
            : new ClaudeError.SpawnFailed({ executable: executable.path, description: error.message })
        )
      )
    )
    if (Option.isSome(reaper) && process.platform !== "win32") {
      yield* reaper.value.watch(handle.pid, Option.getOrUndefined(marker))
      watched = handle.pid
    }
    // In a PID namespace the spawned process is `unshare`, which forks the CLI: the CLI's own pid is the one
    // sampled for resources and reported to the session. The group, and so every signal, stays unshare's.
    const cliPid = mechanism === "pidNamespace"
      ? (yield* Containment.forkedChild(handle.pid, 5_000)) ?? handle.pid
      : handle.pid
    // The credential goes down its pipe and the pipe is closed: the CLI reads it to EOF at start-up.
    if (Option.isSome(descriptorSecret)) {
      yield* Stream.make(new TextEncoder().encode(Redacted.value(descriptorSecret.value))).pipe(
        Stream.run(handle.getInputFd(CREDENTIAL_FD)),
        Effect.timeout(Duration.seconds(5)),
        Effect.ignore
      )
    }
    yield* Effect.annotateCurrentSpan({
      pid: cliPid,
      executable: executable.path,
      parentDeathSignal: Option.isSome(launcher.setpriv),
      containment: mechanism,
      ...(applied.kernel.length > 0 ? { "limits.kernel": applied.kernel.join(",") } : {}),
      ...(applied.watchdog.length > 0 ? { "limits.watchdog": applied.watchdog.join(",") } : {})
    })
    // No `nice` to launch with (Windows): the priority is set right after the spawn.
    if (Option.isSome(applied.setPriority)) {
      const priority = applied.setPriority.value
      yield* Effect.try({
        try: () => os.setPriority(cliPid, priority),
        catch: (error) => error
      }).pipe(
        Effect.catch((error) => Effect.logWarning(`could not set the CLI's niceness to ${priority}: ${String(error)}`))
      )
    }

    const tail = new StderrTail(tailBytes)
    yield* handle.stderr.pipe(
      Stream.runForEachArray((chunks) => Effect.sync(() => chunks.forEach((chunk) => tail.push(chunk)))),
      Effect.ignore,
      Effect.forkScoped
    )

    const exited = yield* Deferred.make<TurnOutcome.ExitStatus>()
    let exitStatus: TurnOutcome.ExitStatus | undefined
    // unshare exits with its CLI's code and dies of its CLI's signal, but for SIGKILL (see Containment).
    const stderrText = () => {
      const text = tail.text()
      return mechanism === "pidNamespace" ? text.replace(Containment.sigkillNotPassedOn, "") : text
    }
    yield* handle.exitCode.pipe(
      Effect.map((code): TurnOutcome.ExitStatus =>
        mechanism === "pidNamespace" && code === 1 && Containment.sigkillNotPassedOn.test(tail.text())
          ? { _tag: "Signaled", signal: "SIGKILL" }
          : { _tag: "Exited", code }
      ),
      Effect.catch((error) => Effect.succeed<TurnOutcome.ExitStatus>({ _tag: "Signaled", signal: signalOf(error) })),
      // The CLI is gone, killed from outside perhaps (the OOM killer): whatever it started goes with it.
      Effect.tap(() => sweep),
      Effect.flatMap((status) => {
        exitStatus = status
        return Deferred.succeed(exited, status)
      }),
      Effect.forkScoped
    )

    // stdin is fed from a queue by one fiber. If the CLI has gone (EPIPE), the
    // writer stops and the queue is shut, so writes report `false` instead of
    // failing or blocking: the real error is the CLI's, read from its output.
    const input = yield* Queue.bounded<Uint8Array, Cause.Done>(STDIN_QUEUE_CAPACITY)
    const encoder = new TextEncoder()
    yield* Stream.fromQueue(input).pipe(
      Stream.run(handle.stdin),
      Effect.ignore,
      Effect.ensuring(Queue.shutdown(input)),
      Effect.forkScoped
    )
    const write = (line: string) => Queue.offer(input, encoder.encode(line))
    const endInput = Effect.asVoid(Queue.end(input))

    // Resource limits the watchdog enforces: sampled on its own fiber, every `sampleInterval` of the Clock.
    // Over a limit, the reason is recorded first, then the process group gets SIGTERM, and SIGKILL after
    // `killGrace`: the reader sees stdout end, and the session reads `stoppedFor` to classify the death.
    let stopped: ClaudeError.ResourceLimitExceeded | undefined
    let lastUsage = Option.none<ResourceLimits.Usage>()
    const stopFor = (reason: ClaudeError.ResourceLimitExceeded) =>
      Effect.suspend(() => {
        if (stopped !== undefined || exitStatus !== undefined) return Effect.void
        stopped = reason
        return Effect.logWarning(`${reason.message}: SIGTERM to its process group, SIGKILL if still running after the grace`).pipe(
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
        while (exitStatus === undefined && stopped === undefined) {
          const usage = yield* sampler(cliPid, wanted)
          if (Option.isSome(usage)) {
            lastUsage = usage
            const over = ResourceLimits.exceeded(limits, applied.watchdog, usage.value)
            if (Option.isSome(over)) return yield* stopFor(over.value)
          }
          yield* Effect.sleep(sampleInterval)
        }
      }).pipe(Effect.forkScoped)
    }

    const shutdown = yield* Effect.cached(
      Effect.gen(function*() {
        yield* endInput
        const afterEof = yield* Deferred.await(exited).pipe(Effect.timeoutOption(grace))
        if (Option.isNone(afterEof)) {
          yield* Effect.logDebug("CLI still running after stdin EOF and grace; sending SIGTERM to its group")
          yield* handle.kill({ killSignal: "SIGTERM", forceKillAfter: grace }).pipe(Effect.ignore)
        }
        yield* Deferred.await(exited).pipe(Effect.timeoutOption(Duration.seconds(2)))
      }).pipe(Effect.annotateLogs({ pid: handle.pid }))
    )
    yield* Effect.addFinalizer(() => shutdown)

    return {
      pid: cliPid,
      executable,
      stdout: handle.stdout.pipe(
        Stream.mapError((error) =>
          ClaudeError.make(new ClaudeError.ProtocolError({ detail: `reading the CLI's stdout failed: ${error.message}` }))
        )
      ),
      write,
      endInput,
      exit: Deferred.await(exited),
      exitStatus: Effect.sync(() => Option.fromNullishOr(exitStatus)),
      stderrTail: Effect.sync(stderrText),
      shutdown,
      stoppedFor: Effect.sync(() => {
        if (stopped !== undefined) return Option.some(stopped)
        if (exitStatus === undefined) return Option.none()
        return ResourceLimits.fromExit(limits, applied, exitStatus, { stderrTail: stderrText(), lastUsage })
      }),
      enforcement: applied,
      containment: mechanism
    } satisfies CliProcess
  })

  return ProcessManager.of({ spawn, resolveExecutable })
})

/**
 * The ProcessManager on top of a `ChildProcessSpawner`, `FileSystem`, `Path` and `TokenManager`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (settings?: Settings) => Layer.effect(ProcessManager, make(settings))

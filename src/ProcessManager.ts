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
import { Context, Deferred, Duration, Effect, Layer, Option, Path, type Scope, Stream } from "effect"
import { ChildProcessSpawner } from "effect/process"
import { fileURLToPath } from "node:url"
import * as ClaudeError from "./ClaudeError.ts"
import * as ClaudeOptions from "./ClaudeOptions.ts"
import * as Containment from "./internal/containment.ts"
import * as Credential from "./internal/process/credential.ts"
import * as Executables from "./internal/process/executable.ts"
import * as ExitStatus from "./internal/process/exitStatus.ts"
import * as Launcher from "./internal/process/launcher.ts"
import * as LimitEnforcement from "./internal/process/limitEnforcement.ts"
import * as Preflight from "./internal/process/preflight.ts"
import * as Programs from "./internal/process/programs.ts"
import * as Shutdown from "./internal/process/shutdown.ts"
import * as StdinWriter from "./internal/process/stdinWriter.ts"
import * as StderrTail from "./internal/stderrTail.ts"
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
export const minimumVersion = Executables.minimumVersion

/**
 * Host variables a CLI may inherit. Everything else (other services' secrets,
 * tokens of unrelated tools) stays out of the child and of the tools it runs.
 * They are read through `Config`, from the `ConfigProvider` of the context the
 * spawn runs in (Effect's default reads `process.env`), as are `PATH` (where
 * the CLI and the launcher's programs are looked up), `HOME` and
 * `CLAUDE_CODE_EXECUTABLE`; a variable set to the empty string counts as unset.
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
  readonly containment: ContainmentMechanism
}

/**
 * What binds the processes a CLI starts to its life: `pidNamespace` (the kernel kills the namespace with the CLI),
 * `environmentSweep` (a marker in the environment, swept from /proc), `processGroup` (the group alone: tools that
 * leave it escape).
 *
 * @since 0.1.0
 * @category models
 */
export type ContainmentMechanism = "pidNamespace" | "environmentSweep" | "processGroup"

/**
 * Spawns CLI processes, each living as long as its scope (see the module documentation), and resolves
 * the executable a spawn would run.
 *
 * @since 0.1.0
 * @category services
 */
export class ProcessManager extends Context.Service<ProcessManager, {
  /** Starts a CLI that lives as long as the scope: checked before, contained while, stopped by the ladder after. */
  readonly spawn: (request: SpawnRequest) => Effect.Effect<CliProcess, ClaudeError.ClaudeError, Scope.Scope>
  /** The executable a spawn would run, its version checked. */
  readonly resolveExecutable: (
    options: ClaudeOptions.ClaudeOptions
  ) => Effect.Effect<Executable, ClaudeError.ClaudeError>
}>()("effect-claude-code/ProcessManager") {}

/**
 * The settings of {@link layer} and {@link make}.
 *
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
  readonly containment?: "auto" | ContainmentMechanism | undefined
}

/**
 * Compares dotted versions numerically.
 *
 * @since 0.1.0
 * @category versions
 */
export const isAtLeast: (version: string, minimum: string) => boolean = Executables.isAtLeast

/**
 * Builds the service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(settings?: Settings) {
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  const tokens = yield* TokenManager.TokenManager
  const reaper = yield* Effect.serviceOption(ProcessReaper.ProcessReaper)
  const path = yield* Path.Path
  const tailBytes = settings?.stderrTailBytes ?? 64 * 1024
  const containment = settings?.containment ?? "auto"
  const credentialDelivery = settings?.credentialDelivery ?? "fileDescriptor"
  const limitSettings = settings?.resourceLimits ?? {}
  const programs = yield* Programs.make({
    parentDeathSignal: settings?.parentDeathSignal ?? true,
    prlimit: limitSettings.prlimit !== false,
    nice: limitSettings.nice !== false,
    pidNamespace: containment === "auto" || containment === "pidNamespace",
    packageDir: path.dirname(fileURLToPath(import.meta.url))
  })
  const resolve = yield* Executables.make(programs, settings?.versionCheckTimeout ?? Duration.seconds(15))
  const limits = yield* LimitEnforcement.make(programs, limitSettings)
  const preflight = yield* Preflight.make()
  const isRoot = process.getuid?.() === 0

  const resolveExecutable = Effect.fn("ProcessManager.resolveExecutable")(function*(
    options: ClaudeOptions.ClaudeOptions
  ) {
    const { executable } = yield* resolve(options.executable)
    return executable
  })

  const spawn = Effect.fn("ProcessManager.spawn")(function*(request: SpawnRequest) {
    if (request.options.cwd !== undefined) yield* preflight.checkCwd(request.options.cwd)
    const { executable, launcher } = yield* resolve(request.options.executable)
    const grace = ClaudeOptions.timeout(request.options, "shutdownGrace")
    const { descriptorSecret, env } = yield* Credential.environment(
      hostEnvironmentAllowList,
      yield* tokens.getToken,
      credentialDelivery,
      request.options
    )
    const mechanism = yield* Containment.choose(containment, Option.isSome(launcher.unshare))
    const { after, applied, before } = yield* limits.plan(request.options.limits, mechanism)
    // The sweep's marker: unique to this CLI, inherited by whatever it starts.
    const marker = mechanism === "environmentSweep" ? Option.some(crypto.randomUUID()) : Option.none<string>()
    if (Option.isSome(marker)) env[Containment.markerVariable] = marker.value
    const sweep = Containment.sweepMarked(marker)
    const prefix = [...before, ...Launcher.args(launcher, isRoot), ...after]
    const args = yield* preflight.argv(prefix, executable.path, request.args, env)
    // Registered before the spawn, so they run after the spawner's own finalizer has killed the group: the
    // sweep takes what left the group, and the reaper keeps watching until both are done.
    let watched: number | undefined
    if (Option.isSome(reaper)) {
      yield* Effect.addFinalizer(() => (watched === undefined ? Effect.void : reaper.value.unwatch(watched)))
    }
    yield* Effect.addFinalizer(() => sweep)
    const handle = yield* spawner.spawn(
      Launcher.command(prefix, executable.path, args, {
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
    if (Option.isSome(descriptorSecret)) yield* Credential.send(handle, descriptorSecret.value)
    yield* Effect.annotateCurrentSpan({
      pid: cliPid,
      executable: executable.path,
      parentDeathSignal: Option.isSome(launcher.setpriv),
      containment: mechanism,
      ...(applied.kernel.length > 0 ? { "limits.kernel": applied.kernel.join(",") } : {}),
      ...(applied.watchdog.length > 0 ? { "limits.watchdog": applied.watchdog.join(",") } : {})
    })
    yield* limits.setPriority(cliPid, applied)

    const tail = yield* StderrTail.drain(handle.stderr, tailBytes)
    const exit = yield* ExitStatus.watch(handle, mechanism, tail, sweep)
    const { endInput, write } = yield* StdinWriter.make(handle.stdin)
    const watchdog = yield* limits.watch({
      handle,
      pid: cliPid,
      limits: request.options.limits,
      applied,
      hasExited: () => exit.status() !== undefined
    })
    const shutdown = yield* Shutdown.ladder({ handle, endInput, exited: exit.exited, grace })
    yield* Effect.addFinalizer(() => shutdown)

    return {
      pid: cliPid,
      executable,
      stdout: handle.stdout.pipe(
        Stream.mapError((error) =>
          ClaudeError.make(
            new ClaudeError.ProtocolError({ detail: `reading the CLI's stdout failed: ${error.message}` })
          )
        )
      ),
      write,
      endInput,
      exit: Deferred.await(exit.exited),
      exitStatus: Effect.sync(() => Option.fromNullishOr(exit.status())),
      stderrTail: Effect.sync(exit.stderrText),
      shutdown,
      stoppedFor: Effect.sync(() => {
        const stopped = watchdog.stopped()
        if (stopped !== undefined) return Option.some(stopped)
        const status = exit.status()
        if (status === undefined) return Option.none()
        return ResourceLimits.fromExit(request.options.limits, applied, status, {
          stderrTail: exit.stderrText(),
          lastUsage: watchdog.lastUsage()
        })
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

/**
 * What binds the processes a CLI starts to the CLI's own life, however they detach.
 *
 * The real CLI starts each Bash tool in a session and process group of its own, so a signal to the CLI's
 * group, or the CLI's parent-death signal, leaves running tools behind. Two mechanisms hold on Linux without
 * root:
 *
 * - `pidNamespace`: the CLI runs as the first process of a PID namespace of its own (util-linux
 *   `unshare --pid --fork --kill-child`, in a user namespace of its own when the host is not root). When the
 *   first process of a PID namespace dies, for whatever reason, the kernel SIGKILLs every other process of
 *   it: a new session, a new group or a double fork does not get out.
 * - `environmentSweep`, the fallback where namespaces are not allowed (containers whose seccomp profile
 *   refuses `unshare`, kernels with `user.max_user_namespaces = 0`): the CLI's environment carries a marker
 *   that its descendants inherit; when the CLI ends, every live process whose environment holds the marker
 *   is SIGKILLed, until none is left. A process that clears its own environment escapes it.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as ClaudeError from "../ClaudeError.ts"
import * as ResourceLimits from "../ResourceLimits.ts"

/** The variable that marks a CLI's descendants for the sweep; its value is unique per CLI. */
export const markerVariable = "EFFECT_CLAUDE_CODE_CONTAINER"

/** How descendants are bound to the CLI. `processGroup`: only by the group (tools that leave it escape). */
export type Mechanism = "pidNamespace" | "environmentSweep" | "processGroup"

/**
 * The mechanism a spawn gets under `setting`: the PID namespace when the version check found that
 * `unshare` runs the CLI (`namespaceWorks`), else the sweep (Linux, with `/proc`), else the group;
 * `"pidNamespace"` asked for and not to be had is a typed failure.
 */
export const choose = (
  setting: "auto" | Mechanism,
  namespaceWorks: boolean
): Effect.Effect<Mechanism, ClaudeError.ClaudeError> =>
  Effect.suspend((): Effect.Effect<Mechanism, ClaudeError.ClaudeError> => {
    if (namespaceWorks) return Effect.succeed("pidNamespace")
    if (setting === "pidNamespace") {
      return ClaudeError.fail(
        new ClaudeError.SpawnFailed({
          executable: "unshare",
          description: "containment \"pidNamespace\" asked for, but `unshare --pid` is not found or not allowed here"
        })
      )
    }
    if (setting === "processGroup" || !ResourceLimits.procAvailable()) return Effect.succeed("processGroup")
    return Effect.succeed("environmentSweep")
  })

const readText = (file: string, encoding: BufferEncoding): string | undefined => {
  try {
    return fs.readFileSync(file, encoding)
  } catch {
    return undefined
  }
}

const numericEntries = (dir: string): Array<string> => {
  try {
    return fs.readdirSync(dir).filter((entry) => /^\d+$/.test(entry))
  } catch {
    return []
  }
}

/** The arguments in front of the CLI that start it in a PID namespace of its own. */
export const unshareArgs = (unshare: string, isRoot: boolean): ReadonlyArray<string> => [
  unshare,
  // Without root, a PID namespace needs a user namespace; the user stays who it is inside.
  ...(isRoot ? [] : ["--user", "--map-current-user"]),
  "--pid",
  "--fork",
  // SIGKILL the CLI when unshare itself dies (the host's group was killed, the parent-death signal).
  "--kill-child",
  "--"
]

/** The live processes whose environment holds `variable=value` exactly (Linux `/proc`), this one excepted. */
export const marked = (value: string): Array<number> => {
  const needle = `\u0000${markerVariable}=${value}\u0000`
  return numericEntries("/proc").flatMap((entry) => {
    const pid = Number(entry)
    if (pid === process.pid) return []
    const environ = readText(`/proc/${entry}/environ`, "latin1")
    if (environ === undefined || !`\u0000${environ}\u0000`.includes(needle)) return []
    const stat = readText(`/proc/${entry}/stat`, "utf8")
    return stat === undefined || /^\d+ \(.*\) [ZX]/s.test(stat) ? [] : [pid]
  })
}

/**
 * SIGKILLs every process that carries the marker, round after round (a double fork under way shows its
 * grandchild only after its child is gone), at most `rounds` times. Returns how many were killed.
 */
export const sweep = (value: string, rounds = 5): Effect.Effect<number> =>
  Effect.sync(() => {
    let killed = 0
    for (let round = 0; round < rounds; round++) {
      const found = marked(value)
      if (found.length === 0) break
      for (const pid of found) {
        try {
          process.kill(pid, "SIGKILL")
          killed++
        } catch {
          // Gone already, or not ours.
        }
      }
    }
    return killed
  })

/**
 * The sweep of one CLI's marker, if it has one, logging what it killed: run when the CLI exits, when its
 * scope closes (and, through the reaper, when the host dies).
 */
export const sweepMarked = (marker: Option.Option<string>): Effect.Effect<void> =>
  Option.match(marker, {
    onNone: () => Effect.void,
    onSome: (value) =>
      sweep(value).pipe(
        Effect.flatMap((killed) =>
          killed > 0 ? Effect.logDebug(`SIGKILLed ${killed} process(es) the CLI left behind`) : Effect.void
        )
      )
  })

/** The children of `pid`, from `/proc/<pid>/task/<pid>/children`, else from every process's parent. */
export const childrenOf = (pid: number): Array<number> => {
  const listed = readText(`/proc/${pid}/task/${pid}/children`, "utf8")
  if (listed !== undefined) return listed.split(" ").filter((s) => s.trim() !== "").map(Number)
  return numericEntries("/proc").flatMap((entry) => {
    const stat = readText(`/proc/${entry}/stat`, "utf8")
    const ppid = stat === undefined ? undefined : /\) \S+ (\d+)/s.exec(stat)?.[1]
    return ppid === String(pid) ? [Number(entry)] : []
  })
}

// The programs that exec one another in front of the CLI until unshare forks it.
const launcherPrograms = new Set(["unshare", "setpriv", "prlimit", "nice"])

const isLauncher = (pid: number): boolean => {
  try {
    const exe = fs.readlinkSync(`/proc/${pid}/exe`)
    return launcherPrograms.has(exe.slice(exe.lastIndexOf("/") + 1))
  } catch {
    return false
  }
}

/**
 * The pid of the process `unshare --fork` started (the CLI, in the host's numbering), polled on real time:
 * this waits for the kernel, not for the program's logic, so it must not depend on a test's `TestClock`.
 * `undefined` when none appeared within `timeoutMs` (unshare failed, or has exited).
 */
export const forkedChild = (leader: number, timeoutMs: number): Effect.Effect<number | undefined> =>
  Effect.callback<number | undefined>((resume) => {
    const deadline = Date.now() + timeoutMs
    let timer: ReturnType<typeof setTimeout> | undefined
    const poll = () => {
      const child = childrenOf(leader)[0]
      if (child !== undefined) return resume(Effect.succeed(child))
      // Not (or no longer) one of the launcher's programs: gone, or a spawner of no real processes.
      if (Date.now() >= deadline || !isLauncher(leader)) return resume(Effect.succeed(undefined))
      timer = setTimeout(poll, 1)
    }
    poll()
    return Effect.sync(() => clearTimeout(timer))
  })

/**
 * util-linux 2.38's `unshare --fork` cannot pass on a SIGKILL of its child: resetting the signal fails, it
 * says so on stderr and exits 1. This line is how such a death is told from a CLI that exited 1 itself.
 */
export const sigkillNotPassedOn = /(?:^|\n)unshare: sigprocmask unblock failed[^\n]*\n?$/

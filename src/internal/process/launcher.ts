/**
 * The programs in front of the CLI, each of which execs the next, so that the pid, the process group and
 * the signals stay the CLI's own:
 * `[prlimit <limits> --] [setpriv --pdeathsig SIGKILL --] [unshare ... --] [nice -n <n> --] <executable> <args...>`.
 *
 * @since 0.1.0
 */
import { Option } from "effect"
import { ChildProcess } from "effect/process"
import * as Containment from "../containment.ts"

/**
 * The launcher the version check found working: setpriv (a parent-death signal) and unshare (a PID
 * namespace), each where there is one that runs the CLI.
 *
 * @since 0.1.0
 * @category models
 */
export interface Launcher {
  readonly setpriv: Option.Option<string>
  readonly unshare: Option.Option<string>
}

/**
 * No launcher: the CLI runs by itself.
 *
 * @since 0.1.0
 * @category constructors
 */
export const none: Launcher = { setpriv: Option.none(), unshare: Option.none() }

/**
 * The arguments setpriv and unshare put in front of the CLI (`isRoot`: no user namespace is needed).
 *
 * @since 0.1.0
 * @category arguments
 */
export const args = (launcher: Launcher, isRoot: boolean): ReadonlyArray<string> => [
  ...Option.match(launcher.setpriv, {
    onNone: () => [],
    onSome: (setpriv) => [setpriv, "--pdeathsig", "SIGKILL", "--"]
  }),
  ...Option.match(launcher.unshare, { onNone: () => [], onSome: (unshare) => Containment.unshareArgs(unshare, isRoot) })
]

/**
 * The command that runs `executable` with `args` behind `prefix`, the programs that launch it. No shell.
 *
 * @since 0.1.0
 * @category constructors
 */
export const command = (
  prefix: ReadonlyArray<string>,
  executable: string,
  args: ReadonlyArray<string>,
  options: ChildProcess.CommandOptions
): ChildProcess.Command => {
  const [program, ...rest] = [...prefix, executable, ...args]
  return ChildProcess.make(program ?? executable, rest, options)
}

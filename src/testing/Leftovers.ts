/**
 * Finding processes a test left behind, on Linux (`/proc`): the check every
 * test of a CLI-driving program should end with.
 *
 * ```ts
 * // Give each test its own HOME for the CLI, then, once its layer has closed:
 * assert.deepStrictEqual(Leftovers.withHome(home), [])
 * ```
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"

const readText = (file: string, encoding: BufferEncoding): string | undefined => {
  try {
    return fs.readFileSync(file, encoding)
  } catch {
    return undefined
  }
}

/**
 * Whether a process is alive. A zombie (exited, not yet reaped) counts as dead.
 *
 * @since 0.1.0
 * @category processes
 */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  const stat = readText(`/proc/${pid}/stat`, "utf8")
  return stat !== undefined && !/^\d+ \(.*\) Z/.test(stat)
}

/**
 * Live processes (this one excepted) whose environment has `HOME` equal to
 * `home`, or, with `{ prefix: true }`, starting with it.
 *
 * @since 0.1.0
 * @category processes
 */
export const withHome = (home: string, options?: { readonly prefix?: boolean }): Array<number> => {
  const needle = `\u0000HOME=${home}${options?.prefix === true ? "" : "\u0000"}`
  let entries: Array<string>
  try {
    entries = fs.readdirSync("/proc")
  } catch {
    return []
  }
  return entries.flatMap((entry) => {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) return []
    // Gone, or not ours to read: not a leftover of ours.
    const environ = readText(`/proc/${entry}/environ`, "latin1")
    return environ !== undefined && `\u0000${environ}`.includes(needle) && isAlive(Number(entry)) ? [Number(entry)] : []
  })
}

/**
 * The raw driver the latency benchmarks measure the library against: `node:child_process.spawn`, one
 * `stdin.write` per frame, `node:readline` and `JSON.parse` on stdout, nothing else. The same CLI, argv
 * and environment as the library's side.
 */
import * as ChildProcess from "node:child_process"
import * as Readline from "node:readline"
import * as ProcessManager from "../src/ProcessManager.ts"

export const INITIALIZE_LINE =
  "{\"type\":\"control_request\",\"request_id\":\"initialize\",\"request\":{\"subtype\":\"initialize\"}}\n"

/** A user frame as one stdin line, the way a minimal driver writes it. */
export const userLine = (text: string) =>
  JSON.stringify({
    type: "user",
    session_id: "",
    message: { role: "user", content: [{ type: "text", text }] },
    parent_tool_use_id: null
  }) + "\n"

/** One stdout line as a raw driver sees it: its `type`, the request id of a control_response, the object. */
export interface Frame {
  readonly type: unknown
  readonly requestId: unknown
  readonly value: object
}

export const frameOf = (line: string): Frame | undefined => {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return undefined
  }
  if (typeof value !== "object" || value === null || !("type" in value)) return undefined
  const response = "response" in value ? value.response : undefined
  const requestId = typeof response === "object" && response !== null && "request_id" in response
    ? response.request_id
    : undefined
  return { type: value.type, requestId, value }
}

/** A string field of a frame, if it has one. */
export const stringField = (frame: Frame, name: string): string | undefined => {
  const value: unknown = Reflect.get(frame.value, name)
  return typeof value === "string" ? value : undefined
}

/** The environment `ProcessManager` gives the CLI: the allow-listed host variables, then the options' `env`. */
export const rawEnvironment = (additions: Readonly<Record<string, string>>): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const name of ProcessManager.hostEnvironmentAllowList) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  return { ...env, ...additions }
}

/** A long-lived CLI process driven raw: frames are handed to whoever waits for them with {@link RawCli.until}. */
export interface RawCli {
  readonly pid: number | undefined
  readonly write: (line: string) => void
  /**
   * Hands every frame from now on to `onFrame` until it returns `true` (then resolves); rejects after
   * `timeoutMs`, or when the process exits first.
   */
  readonly until: (onFrame: (frame: Frame) => boolean, timeoutMs: number) => Promise<void>
  /** stdin EOF, then SIGKILL to the process group if it has not exited within `graceMs`. */
  readonly stop: (graceMs?: number) => Promise<void>
  readonly stderrTail: () => string
}

export const spawnRaw = (
  executable: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  cwd?: string
): RawCli => {
  const child = ChildProcess.spawn(executable, args, {
    env,
    ...(cwd === undefined ? {} : { cwd }),
    stdio: ["pipe", "pipe", "pipe"],
    detached: process.platform !== "win32"
  })
  let stderr = ""
  let exited = false
  let spawnError: string | undefined
  let waiter: { readonly onFrame: (frame: Frame) => boolean; readonly done: (problem?: string) => void } | undefined
  const exit = new Promise<void>((resolve) =>
    child.on("close", () => {
      exited = true
      waiter?.done(`the CLI exited${spawnError === undefined ? "" : ` (${spawnError})`}; stderr: ${stderr.slice(-500)}`)
      resolve()
    })
  )
  child.on("error", (error) => {
    spawnError = error.message
  })
  child.stdin.on("error", () => {})
  child.stderr.setEncoding("utf8")
  child.stderr.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4096)
  })
  Readline.createInterface({ input: child.stdout, crlfDelay: Infinity }).on("line", (line) => {
    const frame = frameOf(line)
    if (frame !== undefined && waiter?.onFrame(frame) === true) waiter.done()
  })
  const killGroup = () => {
    if (child.pid === undefined || exited) return
    try {
      process.kill(-child.pid, "SIGKILL")
    } catch {
      child.kill("SIGKILL")
    }
  }
  return {
    pid: child.pid,
    write: (line) => {
      child.stdin.write(line)
    },
    until: (onFrame, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        if (exited) return reject(new Error(`the CLI has exited; stderr: ${stderr.slice(-500)}`))
        const timer = setTimeout(
          () => done(`no such frame within ${timeoutMs} ms; stderr: ${stderr.slice(-500)}`),
          timeoutMs
        )
        const done = (problem?: string) => {
          clearTimeout(timer)
          waiter = undefined
          if (problem === undefined) resolve()
          else reject(new Error(problem))
        }
        waiter = { onFrame, done }
      }),
    stop: async (graceMs = 3_000) => {
      child.stdin.end()
      const timer = setTimeout(killGroup, graceMs)
      await exit
      clearTimeout(timer)
    },
    stderrTail: () => stderr
  }
}

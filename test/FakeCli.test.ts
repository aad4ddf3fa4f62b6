import { assert, describe, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as FakeCli from "../src/testing/FakeCli.ts"
import { eventually } from "./utils.ts"

// Drives fake-cli.mjs as a real child process, the way the library will: pipes on all three fds, one
// process group per fake (detached), the whole group SIGKILLed when the test's scope closes.

/**
 * How a write into a pipe whose reader has gone fails: EPIPE; or, once Node has closed the child's stdin
 * (the child exited meanwhile, as happens on a loaded machine), the pending write is cancelled (ECANCELED)
 * or refused (ERR_STREAM_DESTROYED).
 */
const pipeGone = ["EPIPE", "ECANCELED", "ERR_STREAM_DESTROYED"]

const SESSION_ARGS = ["--output-format", "stream-json", "--verbose", "--input-format", "stream-json"]
const WAIT_MS = 4_000

type Frame = { readonly [key: string]: unknown }

interface ExitInfo {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

const isRecord = (value: unknown): value is Frame => typeof value === "object" && value !== null

/** Reads a nested field: `get(frame, "response", "subtype")`. */
const get = (value: unknown, ...keys: ReadonlyArray<string | number>): unknown => {
  let current = value
  for (const key of keys) {
    if (!isRecord(current)) return undefined
    current = Reflect.get(current, key)
  }
  return current
}

const asArray = (value: unknown): ReadonlyArray<unknown> => (Array.isArray(value) ? value : [])

const kind = (frame: Frame): string => {
  const subtype = frame["subtype"]
  return typeof subtype === "string" ? `${String(frame["type"])}/${subtype}` : String(frame["type"])
}

const userMessage = (text: string, uuid?: string): Frame => ({
  type: "user",
  session_id: "",
  message: { role: "user", content: [{ type: "text", text }] },
  parent_tool_use_id: null,
  ...(uuid === undefined ? {} : { uuid })
})

const controlRequest = (requestId: string, request: Frame): Frame => ({
  type: "control_request",
  request_id: requestId,
  request
})

const controlSuccess = (requestId: unknown, response: Frame): Frame => ({
  type: "control_response",
  response: { subtype: "success", request_id: requestId, response }
})

/** A running fake: stdout split into lines on bytes (so split UTF-8 is reassembled), JSON lines parsed. */
class FakeProcess {
  /** Raw stdout reads, as they arrived. */
  readonly chunks: Array<Buffer> = []
  /** stdout lines without the "\n" (a "\r" is kept). */
  readonly lines: Array<string> = []
  /** The lines that parsed as JSON objects. */
  readonly frames: Array<Frame> = []
  stderr = ""
  readonly closed: Promise<ExitInfo>
  private partial: Array<Buffer> = []
  private readonly listeners = new Set<() => void>()
  private exitInfo: ExitInfo | undefined

  readonly child: ChildProcess

  constructor(child: ChildProcess) {
    this.child = child
    child.stdout?.on("data", (chunk: Buffer) => this.onStdout(chunk))
    child.stderr?.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString("utf8")
      this.notify()
    })
    // The host must survive the fake closing its stdin early (F07).
    child.stdin?.on("error", () => undefined)
    this.closed = new Promise((resolve) => {
      child.on("close", (code, signal) => {
        this.exitInfo = { code, signal }
        this.notify()
        resolve(this.exitInfo)
      })
    })
  }

  get pid(): number {
    const pid = this.child.pid
    if (pid === undefined) throw new Error("fake-cli did not start")
    return pid
  }

  send(frame: Frame): void {
    this.child.stdin?.write(`${JSON.stringify(frame)}\n`)
  }

  end(): void {
    this.child.stdin?.end()
  }

  /** The first frame (from the start of the output) that matches, waiting up to `timeoutMs`. */
  waitFor(predicate: (frame: Frame) => boolean, timeoutMs = WAIT_MS): Effect.Effect<Frame> {
    return Effect.promise(() => this.until(() => this.frames.find(predicate), timeoutMs, "a matching frame"))
  }

  /** stderr so far, once it matches `pattern`, waiting up to `timeoutMs`. */
  waitForStderr(pattern: RegExp, timeoutMs = WAIT_MS): Effect.Effect<string> {
    return Effect.promise(() =>
      this.until(() => (pattern.test(this.stderr) ? this.stderr : undefined), timeoutMs, `stderr matching ${pattern}`)
    )
  }

  waitForType(type: string, timeoutMs = WAIT_MS): Effect.Effect<Frame> {
    return this.waitFor((frame) => kind(frame) === type || frame["type"] === type, timeoutMs)
  }

  /** Exit code and signal, once the process exited and its stdout/stderr closed. */
  exit(timeoutMs = WAIT_MS): Effect.Effect<ExitInfo> {
    return Effect.promise(() => this.until(() => this.exitInfo, timeoutMs, "the process to exit"))
  }

  types(): ReadonlyArray<string> {
    return this.frames.map(kind)
  }

  private until<A>(check: () => A | undefined, timeoutMs: number, what: string): Promise<A> {
    return new Promise((resolve, reject) => {
      const attempt = (): boolean => {
        const found = check()
        if (found === undefined) return false
        cleanup()
        resolve(found)
        return true
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(
          new Error(
            `timed out waiting for ${what}; frames: ${this.types().join(", ")}; stderr: ${this.stderr.slice(-500)}`
          )
        )
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        this.listeners.delete(listener)
      }
      const listener = () => {
        if (!attempt() && this.exitInfo !== undefined && check() === undefined) {
          cleanup()
          reject(
            new Error(
              `fake-cli exited (${JSON.stringify(this.exitInfo)}) before ${what}; frames: ${
                this.types().join(", ")
              }; stderr: ${this.stderr.slice(-500)}`
            )
          )
        }
      }
      this.listeners.add(listener)
      if (!attempt() && this.exitInfo !== undefined) listener()
    })
  }

  private onStdout(chunk: Buffer): void {
    this.chunks.push(chunk)
    let start = 0
    for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
      this.partial.push(chunk.subarray(start, newline))
      this.onLine(Buffer.concat(this.partial).toString("utf8"))
      this.partial = []
      start = newline + 1
    }
    if (start < chunk.length) this.partial.push(chunk.subarray(start))
    this.notify()
  }

  private onLine(line: string): void {
    this.lines.push(line)
    try {
      const parsed: unknown = JSON.parse(line)
      if (isRecord(parsed) && !Array.isArray(parsed)) this.frames.push(parsed)
    } catch {
      // garbage lines stay in `lines` only
    }
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener()
  }
}

const killGroup = (pid: number | undefined): void => {
  if (pid === undefined) return
  try {
    process.kill(-pid, "SIGKILL")
  } catch {
    // already gone
  }
}

/** Starts the fake in its own process group; the scope's finalizer kills the whole group. */
const spawnFake = (
  behavior: FakeCli.Behavior = {},
  args: ReadonlyArray<string> = SESSION_ARGS,
  env: Record<string, string> = {}
): Effect.Effect<FakeProcess, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const options = FakeCli.options(behavior)
      const child = spawn(options.executable, [...args], {
        env: { ...process.env, ...options.env, ...env },
        stdio: ["pipe", "pipe", "pipe"],
        detached: true
      })
      return new FakeProcess(child)
    }),
    (fake) => Effect.sync(() => killGroup(fake.child.pid))
  )

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "fakecli-test-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const sleep = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/** Polls until `check` returns a value (or fails the test after `timeoutMs`). */
const poll = <A>(check: () => A | undefined, timeoutMs = WAIT_MS): Effect.Effect<A> =>
  Effect.promise(async () => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = check()
      if (value !== undefined) return value
      if (Date.now() > deadline) throw new Error(`not met within ${timeoutMs} ms: ${check.toString()}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })

const readJson = (file: string): unknown => JSON.parse(readFileSync(file, "utf8"))

/** /proc/<pid>/stat: state and process group; undefined when the process is gone. */
const procStat = (pid: number): { readonly state: string; readonly pgrp: number } | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return { state: fields[0] ?? "?", pgrp: Number(fields[2]) }
  } catch {
    return undefined
  }
}

const isAlive = (pid: number): boolean => {
  const stat = procStat(pid)
  return stat !== undefined && stat.state !== "Z"
}

describe("FakeCli", () => {
  it("exposes an executable script", () => {
    assert.isTrue(FakeCli.path.endsWith("fake-cli.mjs"))
    assert.strictEqual(statSync(FakeCli.path).mode & 0o111, 0o111)
    const options = FakeCli.options({ reply: "hi" })
    assert.strictEqual(options.executable, FakeCli.path)
    assert.deepStrictEqual(JSON.parse(options.env["FAKE_CLI_BEHAVIOR"] ?? "null"), { reply: "hi" })
    // The whole environment, with and without a coverage run's NODE_V8_COVERAGE: FakeCli.environment.test.ts.
    assert.strictEqual(FakeCli.environment().FAKE_CLI_BEHAVIOR, "{}")
  })

  it.live("--version prints the real CLI's version line", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake({}, ["--version"])
      const exit = yield* fake.exit()
      assert.deepStrictEqual(exit, { code: 0, signal: null })
      assert.deepStrictEqual(fake.lines, [`${FakeCli.version} (Claude Code)`])
    }))

  it.live("answers initialize, runs a turn like the real CLI, exits 0 on EOF", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const argvFile = join(dir, "argv.jsonl")
      const stdinFile = join(dir, "stdin.log")
      const fake = yield* spawnFake({ recordArgv: argvFile, recordStdin: stdinFile })

      fake.send(controlRequest("init_1", { subtype: "initialize" }))
      const init = yield* fake.waitForType("control_response")
      assert.strictEqual(get(init, "response", "subtype"), "success")
      assert.strictEqual(get(init, "response", "request_id"), "init_1")
      assert.strictEqual(get(init, "response", "response", "pid"), fake.pid)
      assert.isAbove(asArray(get(init, "response", "response", "commands")).length, 0)
      assert.isAbove(asArray(get(init, "response", "response", "models")).length, 0)

      const uuid = "11111111-1111-4111-8111-111111111111"
      fake.send(userMessage("say hello", uuid))
      const result = yield* fake.waitForType("result/success")
      fake.end()
      const exit = yield* fake.exit()

      assert.deepStrictEqual(exit, { code: 0, signal: null })
      assert.deepStrictEqual(fake.types(), [
        "control_response",
        "command_lifecycle",
        "command_lifecycle",
        "system/init",
        "assistant",
        "result/success",
        "command_lifecycle"
      ])
      assert.deepStrictEqual(
        fake.frames.filter((frame) => frame["type"] === "command_lifecycle").map((frame) => frame["state"]),
        ["queued", "started", "completed"]
      )
      const systemInit = fake.frames[3]
      const sessionId = get(systemInit, "session_id")
      assert.isString(sessionId)
      assert.strictEqual(get(systemInit, "model"), "claude-opus-5-5")
      assert.strictEqual(get(systemInit, "cwd"), process.cwd())
      assert.strictEqual(get(fake.frames[4], "message", "content", 0, "text"), "echo: say hello")
      assert.strictEqual(get(result, "is_error"), false)
      assert.strictEqual(get(result, "result"), "echo: say hello")
      assert.strictEqual(get(result, "session_id"), sessionId)
      assert.strictEqual(get(result, "num_turns"), 1)
      assert.strictEqual(get(result, "user_message_uuid"), uuid)
      assert.isNumber(get(result, "total_cost_usd"))
      assert.isNumber(get(result, "duration_ms"))
      assert.isNumber(get(result, "usage", "output_tokens"))

      const recorded = readJson(argvFile)
      assert.strictEqual(get(recorded, "pid"), fake.pid)
      assert.deepStrictEqual(get(recorded, "argv"), SESSION_ARGS)
      const stdinLines = readFileSync(stdinFile, "utf8").trim().split("\n")
      assert.strictEqual(stdinLines.length, 2)
      assert.strictEqual(get(JSON.parse(stdinLines[1] ?? "null"), "uuid"), uuid)
    }))

  it.live("streams partial messages and honours --model, --session-id and reply lists", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake(
        { reply: ["first reply, in pieces", "second"], partialChunks: 4 },
        [...SESSION_ARGS, "--include-partial-messages", "--model", "sonnet", "--session-id=fixed-session"]
      )
      fake.send(userMessage("one"))
      fake.send(userMessage("two"))
      yield* fake.waitFor((frame) => frame["type"] === "result" && frame["result"] === "second")
      const deltas = fake.frames
        .filter((frame) => get(frame, "event", "delta", "type") === "text_delta")
        .map((frame) => String(get(frame, "event", "delta", "text")))
      assert.strictEqual(deltas.slice(0, 4).join(""), "first reply, in pieces")
      const events = fake.frames.filter((frame) => frame["type"] === "stream_event").map((f) => get(f, "event", "type"))
      assert.deepStrictEqual(events.slice(0, 2), ["message_start", "content_block_start"])
      assert.deepStrictEqual(events.slice(-3), ["content_block_stop", "message_delta", "message_stop"])
      const inits = fake.frames.filter((frame) => kind(frame) === "system/init")
      assert.strictEqual(inits.length, 2)
      assert.strictEqual(get(inits[0], "model"), "claude-sonnet-5-5")
      assert.strictEqual(get(inits[0], "session_id"), "fixed-session")
    }))

  it.live("interrupt ends the running turn; other control requests get the real CLI's replies", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake({ frameDelayMs: 50, partialChunks: 20, reply: "a slow and rather long reply" }, [
        ...SESSION_ARGS,
        "--include-partial-messages"
      ])
      fake.send(userMessage("go slow", "55555555-5555-4555-8555-555555555555"))
      yield* fake.waitFor((frame) => get(frame, "event", "delta", "type") === "text_delta")
      fake.send(controlRequest("int_1", { subtype: "interrupt" }))
      const result = yield* fake.waitForType("result")
      assert.strictEqual(result["subtype"], "error_during_execution")
      assert.strictEqual(result["is_error"], true)
      assert.strictEqual(result["terminal_reason"], "aborted_streaming")
      assert.isFalse("result" in result)
      const interrupted = yield* fake.waitFor((frame) => get(frame, "response", "request_id") === "int_1")
      assert.deepStrictEqual(get(interrupted, "response", "response"), { still_queued: [] })
      assert.isTrue(fake.frames.some((frame) => frame["type"] === "assistant" && frame["aborted"] === true))
      assert.isTrue(
        fake.frames.some((frame) => get(frame, "message", "content", 0, "text") === "[Request interrupted by user]")
      )
      yield* fake.waitFor((frame) => frame["state"] === "cancelled")

      fake.send(controlRequest("mode_1", { subtype: "set_permission_mode", mode: "acceptEdits" }))
      fake.send(controlRequest("model_1", { subtype: "set_model", model: "sonnet" }))
      fake.send(controlRequest("bogus_1", { subtype: "no_such_subtype" }))
      fake.send(controlRequest("mcp_1", { subtype: "mcp_status" }))
      const reply = (id: string) => fake.waitFor((frame) => get(frame, "response", "request_id") === id)
      assert.deepStrictEqual(get(yield* reply("mode_1"), "response", "response"), { mode: "acceptEdits" })
      assert.deepStrictEqual(get(yield* reply("model_1"), "response", "response"), { model: "claude-sonnet-5-5" })
      assert.deepStrictEqual(get(yield* reply("mcp_1"), "response", "response"), { mcpServers: [] })
      const bogus = yield* reply("bogus_1")
      assert.strictEqual(get(bogus, "response", "subtype"), "error")
      assert.strictEqual(get(bogus, "response", "error_code"), "unsupported_request")
      assert.strictEqual(get(bogus, "response", "error"), "Unsupported control request subtype: no_such_subtype")

      // The last result was an error: EOF exits 1.
      fake.end()
      assert.deepStrictEqual(yield* fake.exit(), { code: 1, signal: null })
    }))

  it.live("/clear resets the conversation with a new session id, and its cost to 0", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake()
      fake.send(userMessage("before"))
      fake.send(userMessage("/clear"))
      fake.send(userMessage("after"))
      yield* fake.waitFor((frame) => frame["type"] === "result" && frame["result"] === "echo: after")
      const reset = yield* fake.waitForType("conversation_reset")
      assert.isString(reset["new_conversation_id"])
      const sessions = fake.frames.filter((frame) => kind(frame) === "system/init").map((frame) => frame["session_id"])
      assert.strictEqual(sessions.length, 3)
      assert.strictEqual(reset["session_id"], sessions[0])
      assert.notStrictEqual(sessions[1], sessions[0])
      assert.strictEqual(sessions[2], sessions[1])
      assert.isTrue(fake.frames.some((frame) => frame["local_command"] === "clear"))
      // As the real CLI (fixture clear-reset): the clear's own result reports 0, the new conversation counts from 0.
      const costs = fake.frames.filter((frame) => frame["type"] === "result").map((frame) => frame["total_cost_usd"])
      assert.deepStrictEqual(costs, [0.00064, 0, 0.00064])
    }))

  it.live("F11: garbage mode mixes junk lines, CRLF, unknown types and UTF-8 split across reads", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake({ garbage: true, reply: "text:" })
      fake.send(userMessage("hi"))
      const result = yield* fake.waitForType("result")
      const expected = `text: ${FakeCli.unicodeSample}`
      assert.strictEqual(result["result"], expected)
      const assistant = yield* fake.waitForType("assistant")
      assert.strictEqual(get(assistant, "message", "content", 0, "text"), expected)

      // Some read ended inside a multi-byte sequence.
      const decoder = new TextDecoder("utf-8", { fatal: true })
      const splitReads = fake.chunks.filter((chunk) => {
        try {
          decoder.decode(chunk)
          return false
        } catch {
          return true
        }
      })
      assert.isAbove(splitReads.length, 0)

      const junk = fake.lines.filter((line) => {
        try {
          const parsed: unknown = JSON.parse(line)
          return !isRecord(parsed) || Array.isArray(parsed)
        } catch {
          return true
        }
      })
      assert.isAtLeast(junk.length, 8)
      assert.isTrue(fake.lines.some((line) => line.includes("Welcome to Claude Code")))
      assert.isTrue(fake.lines.includes(""))
      assert.isTrue(fake.lines.includes("\"a bare JSON string\""))
      assert.isTrue(fake.lines.includes("42"))
      assert.isTrue(fake.lines.some((line) => line.endsWith("\r") && line.includes("\"subtype\":\"status\"")))
      assert.isTrue(fake.frames.some((frame) => frame["type"] === "future_frame" && frame["x"] === 1))
    }))

  it.live("F10: a huge line of exactly the requested size, then the normal result", () =>
    Effect.gen(function*() {
      const size = 3 * 1024 * 1024
      const fake = yield* spawnFake({ hugeLineBytes: size })
      fake.send(userMessage("big"))
      const result = yield* fake.waitForType("result")
      assert.strictEqual(result["result"], "echo: big")
      const huge = fake.lines.filter((line) => line.length >= size)
      assert.strictEqual(huge.length, 1)
      assert.strictEqual(Buffer.byteLength(huge[0] ?? ""), size)
      assert.isTrue(
        fake.frames.some((frame) => String(get(frame, "message", "content", 0, "text")).length > size - 1000)
      )
    }))

  it.live("F09: a stdout flood stalls on a slow reader, then every frame arrives before exit", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const progressFile = join(dir, "progress.json")
      const total = 4 * 1024 * 1024
      const fake = yield* spawnFake({ stdoutFloodBytes: total, floodFrameBytes: 4096, progressFile })
      fake.child.stdout?.pause()
      fake.send(userMessage("flood"))
      // Nobody reads: the writer stalls far below the total.
      const stalled = yield* poll(() => (existsSync(progressFile) ? readJson(progressFile) : undefined))
      yield* sleep(300)
      // The first report may come before the writer reaches the pipe's limit (a slow machine): it may have
      // moved on since, but never far, and never to the end.
      const still = readJson(progressFile)
      assert.strictEqual(get(still, "done"), false)
      assert.isAtLeast(Number(get(still, "bytes")), Number(get(stalled, "bytes")))
      assert.isBelow(Number(get(still, "bytes")), total / 4)

      fake.child.stdout?.resume()
      const exit = yield* fake.exit()
      assert.deepStrictEqual(exit, { code: 0, signal: null })
      const result = yield* fake.waitForType("result")
      const seqs = fake.frames.filter((frame) => typeof frame["fake_flood_seq"] === "number").map((f) =>
        f["fake_flood_seq"]
      )
      assert.strictEqual(seqs.length, get(result, "fake_flood", "frames"))
      assert.isTrue(seqs.every((seq, index) => seq === index))
      assert.isAtLeast(Number(get(result, "fake_flood", "bytes")), total)
      assert.strictEqual(get(readJson(progressFile), "done"), true)
    }))

  it.live("F08: a stderr flood blocks all stdout until someone reads stderr", () =>
    Effect.gen(function*() {
      const total = 1024 * 1024
      const fake = yield* spawnFake({ stderrFloodBytes: total })
      fake.child.stderr?.pause()
      fake.send(controlRequest("init_1", { subtype: "initialize" }))
      yield* sleep(300)
      assert.strictEqual(fake.frames.length, 0)
      fake.child.stderr?.resume()
      yield* fake.waitForType("control_response")
      // stdout and stderr are separate pipes: the flood's tail may still be in flight.
      yield* eventually(() => (fake.stderr.length >= total ? true : undefined))
      assert.strictEqual(fake.stderr.length, total)
    }))

  it.live("crash: dies by the configured signal mid-turn, without a result", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake({ crash: { afterFrames: 2, signal: "SIGKILL" }, reply: "never finished" })
      fake.send(userMessage("hi"))
      const exit = yield* fake.exit()
      assert.deepStrictEqual(exit, { code: null, signal: "SIGKILL" })
      assert.deepStrictEqual(fake.types(), ["system/init", "assistant"])
    }))

  it.live("F14: crash after a tool ran (SIGSEGV)", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake({
        toolUse: { name: "Bash", input: { command: "touch x" } },
        crash: { when: "afterToolUse", signal: "SIGSEGV" }
      })
      fake.send(userMessage("use a tool"))
      const exit = yield* fake.exit()
      assert.deepStrictEqual(exit, { code: null, signal: "SIGSEGV" })
      assert.deepStrictEqual(fake.types(), ["system/init", "assistant", "user"])
      assert.strictEqual(get(fake.frames[1], "message", "content", 0, "type"), "tool_use")
      assert.strictEqual(get(fake.frames[2], "message", "content", 0, "type"), "tool_result")
      assert.strictEqual(
        get(fake.frames[2], "message", "content", 0, "tool_use_id"),
        get(fake.frames[1], "message", "content", 0, "id")
      )
    }))

  it.live("SIGTERM exits 143 at once; ignoreSigterm survives it", () =>
    Effect.gen(function*() {
      const plain = yield* spawnFake()
      const stubborn = yield* spawnFake({ ignoreSigterm: true })
      // Wait until both are up (and have installed their handlers).
      plain.send(userMessage("up?"))
      stubborn.send(userMessage("up?"))
      yield* plain.waitForType("result")
      yield* stubborn.waitForType("result")
      plain.child.kill("SIGTERM")
      stubborn.child.kill("SIGTERM")
      assert.deepStrictEqual(yield* plain.exit(), { code: 143, signal: null })
      // Its handler has run, and chose to stay.
      yield* stubborn.waitForStderr(/ignoring SIGTERM/)
      assert.isTrue(isAlive(stubborn.pid))
      stubborn.send(userMessage("still there"))
      yield* stubborn.waitFor((frame) => frame["result"] === "echo: still there")
    }))

  it.live("F02: spawnChildren starts grandchildren in the fake's process group and writes their pids", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const pidFile = join(dir, "pids.json")
      const fake = yield* spawnFake({ spawnChildren: 2, pidFile })
      const pids = yield* poll(() => (existsSync(pidFile) ? readJson(pidFile) : undefined))
      assert.strictEqual(get(pids, "pid"), fake.pid)
      const children = asArray(get(pids, "children")).map(Number)
      assert.strictEqual(children.length, 2)
      for (const child of children) {
        assert.isTrue(isAlive(child))
        assert.strictEqual(procStat(child)?.pgrp, fake.pid)
      }
      // Killing the group, as the library must, takes the grandchildren too.
      killGroup(fake.pid)
      yield* poll(() => (children.every((child) => !isAlive(child)) ? true : undefined))
    }))

  it.live("F06: control requests wait for the host's answers and report them, duplicates counted", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake({
        controlRequests: [{ subtype: "can_use_tool" }, { subtype: "hook_callback" }, { subtype: "some_unknown" }],
        controlTimeoutMs: 600,
        controlGraceMs: 100
      })
      fake.send(userMessage("please use a tool"))
      const request = (subtype: string) =>
        fake.waitFor((frame) => frame["type"] === "control_request" && get(frame, "request", "subtype") === subtype)
      const permission = yield* request("can_use_tool")
      const hook = yield* request("hook_callback")
      yield* request("some_unknown")
      assert.strictEqual(get(permission, "request", "tool_name"), "Bash")
      assert.strictEqual(get(hook, "request", "callback_id"), "hook_0")
      assert.strictEqual(get(hook, "request", "input", "hook_event_name"), "PreToolUse")

      const deny = controlSuccess(permission["request_id"], { behavior: "deny", message: "not allowed by test" })
      fake.send(deny)
      fake.send(deny) // a buggy host answering twice
      fake.send(controlSuccess(hook["request_id"], { continue: true }))
      // some_unknown stays unanswered: it times out.

      const result = yield* fake.waitForType("result")
      const answers = asArray(result["fake_control_answers"])
      assert.deepStrictEqual(answers.map((answer) => get(answer, "subtype")), [
        "can_use_tool",
        "hook_callback",
        "some_unknown"
      ])
      assert.deepStrictEqual(answers.map((answer) => get(answer, "count")), [2, 1, 0])
      assert.deepStrictEqual(answers.map((answer) => get(answer, "timed_out")), [false, false, true])
      assert.strictEqual(get(answers[0], "response", "response", "behavior"), "deny")
      assert.deepStrictEqual(get(answers[1], "response", "response"), { continue: true })

      const denials = asArray(result["permission_denials"])
      assert.strictEqual(denials.length, 1)
      assert.strictEqual(get(denials[0], "tool_name"), "Bash")
      assert.strictEqual(get(denials[0], "tool_use_id"), get(permission, "request", "tool_use_id"))
      const toolResult = yield* fake.waitForType("user")
      assert.strictEqual(get(toolResult, "message", "content", 0, "is_error"), true)
      assert.strictEqual(get(toolResult, "message", "content", 0, "content"), "not allowed by test")
    }))

  it.live("F07: exitImmediately prints the 401 failure and exits 1 without reading a big prompt", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake({ exitImmediately: { exitCode: 1, stderr: "Invalid API key" } })
      // The host writes a 1 MiB prompt at once; the fake never reads it and exits, so the write fails.
      const written = new Promise<Error | null | undefined>((resolve) => {
        fake.child.stdin?.write(`${JSON.stringify(userMessage("x".repeat(1024 * 1024)))}\n`, resolve)
      })
      const exit = yield* fake.exit()
      assert.deepStrictEqual(exit, { code: 1, signal: null })
      assert.deepStrictEqual(fake.types(), ["system/init", "assistant", "result/success"])
      const result = fake.frames[2]
      assert.strictEqual(get(result, "is_error"), true)
      assert.strictEqual(get(result, "api_error_status"), 401)
      assert.match(String(get(result, "result")), /^Failed to authenticate\. API Error: 401/)
      assert.strictEqual(get(fake.frames[1], "error"), "authentication_failed")
      assert.strictEqual(fake.stderr, "Invalid API key\n")

      const error = yield* Effect.promise(() => written)
      assert.oneOf(get(error, "code"), pipeGone)
    }))

  it.live("F07: exitMidPrompt answers initialize, then exits at the first bytes of a user line: the rest of a 1 MiB write meets EPIPE", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake({ exitMidPrompt: { exitCode: 1, stderr: "Invalid API key" } })
      fake.send(controlRequest("init_1", { subtype: "initialize" }))
      const init = yield* fake.waitForType("control_response")
      assert.strictEqual(get(init, "response", "request_id"), "init_1")
      assert.strictEqual(get(init, "response", "subtype"), "success")
      const line = `${JSON.stringify(userMessage("x".repeat(1024 * 1024)))}\n`
      const written = new Promise<Error | null | undefined>((resolve) => fake.child.stdin?.write(line, resolve))
      const exit = yield* fake.exit()
      assert.deepStrictEqual(exit, { code: 1, signal: null })
      // Nothing after the initialize answer: no turn started.
      assert.deepStrictEqual(fake.types(), ["control_response"])
      const read = /^fake-cli: exiting mid-prompt, after (\d+) bytes of a user line\nInvalid API key\n$/.exec(
        fake.stderr
      )
      assert.isNotNull(read, fake.stderr)
      const bytes = Number(read?.[1])
      assert.isAbove(bytes, 0)
      assert.isBelow(bytes, Buffer.byteLength(line), "the fake read only the start of the line")
      // The host's write went into a pipe whose reader had gone.
      const error = yield* Effect.promise(() => written)
      assert.oneOf(get(error, "code"), pipeGone)
    }))

  it.live("F04: hang midTurn goes silent before the result and does not exit on EOF", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake({ hang: "midTurn" })
      fake.send(controlRequest("init_1", { subtype: "initialize" }))
      fake.send(userMessage("hi"))
      yield* fake.waitForType("assistant")
      fake.send(controlRequest("int_1", { subtype: "interrupt" }))
      fake.end()
      // It has seen the EOF, and stays.
      yield* fake.waitForStderr(/stdin closed while hung; not exiting/)
      assert.isTrue(isAlive(fake.pid))
      assert.deepStrictEqual(fake.types(), ["control_response", "system/init", "assistant"])
    }))

  it.live("F03: the session file is written late after EOF; api retries and API errors", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const sessionFile = join(dir, "session.jsonl")
      const fake = yield* spawnFake({
        sessionFile,
        sessionFileOnEofDelayMs: 300,
        apiRetry: [{ error_status: 529, error: "overloaded" }, { error_status: 401, error: "authentication_failed" }],
        apiError: { status: 401 }
      })
      fake.send(userMessage("hi"))
      const result = yield* fake.waitForType("result")
      assert.strictEqual(result["subtype"], "success")
      assert.strictEqual(result["is_error"], true)
      assert.strictEqual(result["api_error_status"], 401)
      assert.strictEqual(result["terminal_reason"], "api_error")
      const retries = fake.frames.filter((frame) => kind(frame) === "system/api_retry")
      assert.deepStrictEqual(retries.map((frame) => [frame["attempt"], frame["error_status"], frame["error"]]), [
        [1, 529, "overloaded"],
        [2, 401, "authentication_failed"]
      ])

      const endedAt = Date.now()
      fake.end()
      yield* fake.waitForStderr(/writing the transcript in 300 ms/)
      assert.deepStrictEqual(yield* fake.exit(), { code: 1, signal: null })
      // Written late, 300 ms after the EOF (file times are coarse: a few ms behind the process's clock).
      assert.isAtLeast(statSync(sessionFile).mtimeMs - endedAt, 250)
      const transcript = readFileSync(sessionFile, "utf8").trim().split("\n")
      assert.strictEqual(transcript.length, 2)
      assert.strictEqual(get(JSON.parse(transcript[0] ?? "null"), "session_id"), result["session_id"])
    }))

  it.live("F03: a SIGTERM during the late write loses the transcript; signalFile records the signal", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const sessionFile = join(dir, "session.jsonl")
      const signalFile = join(dir, "signals.jsonl")
      // A late write far longer than the test: the SIGTERM always comes during it.
      const fake = yield* spawnFake({ sessionFile, sessionFileOnEofDelayMs: 60_000, signalFile })
      fake.send(userMessage("hi"))
      yield* fake.waitForType("result")
      fake.end()
      yield* fake.waitForStderr(/writing the transcript in 60000 ms/)
      const before = Date.now()
      fake.child.kill("SIGTERM")
      assert.deepStrictEqual(yield* fake.exit(), { code: 143, signal: null })
      assert.isFalse(existsSync(sessionFile), "the transcript was never written")
      const records: ReadonlyArray<unknown> = readFileSync(signalFile, "utf8").trim().split("\n").map((line) =>
        JSON.parse(line)
      )
      assert.strictEqual(records.length, 1)
      const [record] = records
      assert.strictEqual(get(record, "signal"), "SIGTERM")
      assert.strictEqual(get(record, "pid"), fake.pid)
      const at = get(record, "at")
      assert.isTrue(typeof at === "number" && at >= before - 5, "received after it was sent")
    }))

  it.live("F15: rssGrowMb holds memory after each turn", () =>
    Effect.gen(function*() {
      const fake = yield* spawnFake({ rssGrowMb: 64 })
      fake.send(userMessage("grow"))
      yield* fake.waitForType("result")
      const status = readFileSync(`/proc/${fake.pid}/status`, "utf8")
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1])
      assert.isAbove(rssKb, 64 * 1024)
    }))
})

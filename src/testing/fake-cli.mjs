#!/usr/bin/env node
// A fake Claude Code CLI for tests.
//
// It speaks the session protocol of the real CLI (2.1.329): run it with
// `--output-format stream-json --verbose --input-format stream-json`, write one JSON object per line to
// its stdin and read one JSON object per line from its stdout. Frame shapes follow the recorded transcripts
// of the real CLI (../shared/fixtures/claude-cli-2.1.329); fakeFrames.mjs builds them, for this fake and for
// the in-process FakeSpawner.ts alike. On top of that it misbehaves on demand, for the faults the real CLI
// cannot be made to show (crashes, hangs, garbage, huge lines, floods, stuck signals, grandchildren,
// unanswered control requests, ...).
//
// The behaviour comes from the environment variable FAKE_CLI_BEHAVIOR, a JSON object whose keys are all
// optional. `src/testing/FakeCli.ts` documents every knob (`FakeCli.Behavior`) and builds the variable.
//
// Plain ESM with node built-ins and its sibling fakeFrames.mjs only, so it runs on any Node >= 20 without a
// build step.

import { spawn } from "node:child_process"
import { randomBytes, randomUUID } from "node:crypto"
import { once } from "node:events"
import { appendFileSync, openSync, readFileSync, readlinkSync, renameSync, writeFileSync } from "node:fs"
import { constants } from "node:os"
import { createInterface } from "node:readline"
import { setTimeout as sleep } from "node:timers/promises"
import {
  apiError,
  CliFrames,
  controlAnswer,
  controlCancel,
  controlRequest,
  controlSuccess as controlSuccessFrame,
  controlUnsupported,
  defaultToolUse,
  deniedMessage,
  flagValue,
  isAllowed,
  permissionDenial,
  promptText,
  resolveModel,
  version as VERSION
} from "./fakeFrames.mjs"

/** The multi-byte text that garbage mode trickles out one byte at a time (also exported by FakeCli.ts). */
const UNICODE_SAMPLE = "héllo wörld — 日本語 🎉"
const CHUNK_BYTES = 64 * 1024

// ---------------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------------

const argv = process.argv.slice(2)
const behavior = readBehavior()

function readBehavior() {
  const raw = process.env.FAKE_CLI_BEHAVIOR
  if (raw === undefined || raw.trim() === "") return {}
  try {
    const parsed = JSON.parse(raw)
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) return parsed
  } catch {
    // reported below
  }
  // A broken configuration is a bug in the test, not a fault to simulate: fail loudly.
  process.stderr.write(`fake-cli: FAKE_CLI_BEHAVIOR must be a JSON object, got: ${raw}\n`)
  process.exit(2)
}

/** Every frame comes from here, and so do the conversation's session id and cost, the model and the permission mode. */
const frames = new CliFrames({
  sessionId: initialSessionId(),
  model: resolveModel(flagValue(argv, "--model") ?? "default"),
  permissionMode: flagValue(argv, "--permission-mode") ?? "default",
  cwd: process.cwd(),
  version: VERSION,
  apiKeySource: process.env.ANTHROPIC_API_KEY ? "ANTHROPIC_API_KEY" : "none",
  uuid: randomUUID,
  requestId: () => `req_fake_${randomBytes(6).toString("hex")}`,
  now: Date.now
})

const state = {
  includePartialMessages: argv.includes("--include-partial-messages"),
  reportsSessionState: process.env.CLAUDE_CODE_SDK_READS_SESSION_STATE === "1",
  sessionState: "idle",
  /** Turns started so far; the running turn's `index`. `/clear` turns are not counted. */
  turnCount: 0,
  lastResultOk: true,
  /** Once hung, the process reads stdin but never writes again and never exits by itself. */
  hung: false,
  stdinEnded: false,
  finishing: false,
  /** User messages waiting for the running turn to end (the real CLI queues them too). */
  queue: [],
  /** The running turn, if any. */
  current: undefined,
  /** Our control requests by request_id, with every answer the host sent for them. */
  controlRequests: new Map(),
  /** What `sessionFile` gets: the conversation as user/assistant lines. */
  transcript: [],
  children: [],
  /** Memory held on purpose (`rssGrowMb`). */
  ballast: [],
  /** File descriptors held on purpose (`openFiles`). */
  descriptors: []
}

/** `--session-id` wins, then `--resume <id>` (kept unless `--fork-session`), else a fresh id. */
function initialSessionId() {
  const explicit = flagValue(argv, "--session-id")
  if (explicit) return explicit
  const resumed = flagValue(argv, "--resume")
  if (resumed && !argv.includes("--fork-session")) return resumed
  return randomUUID()
}

// ---------------------------------------------------------------------------------------------------------
// Output: every stdout write goes through one queue, so a line written in several pieces (trickled bytes,
// a huge line in chunks) is never interleaved with a control response written meanwhile. Writes wait for
// 'drain' when the pipe is full, so a slow reader really slows the writer down.
// ---------------------------------------------------------------------------------------------------------

let stdoutQueue = Promise.resolve()

function withStdout(task) {
  const run = stdoutQueue.then(task)
  stdoutQueue = run.catch(() => undefined)
  return run
}

async function writeChunk(stream, chunk, progress) {
  const accepted = stream.write(chunk)
  progress?.add(Buffer.byteLength(chunk))
  if (!accepted) {
    progress?.report()
    await once(stream, "drain")
  }
}

const emitLine = (line, progress) => withStdout(() => writeChunk(process.stdout, `${line}\n`, progress))
const emit = (frame, progress) => emitLine(JSON.stringify(frame), progress)

/** Resolves once everything written so far has left the process. */
const flushStream = (stream) => new Promise((resolve) => stream.write("", () => resolve()))

async function shutdown(code) {
  await withStdout(() => flushStream(process.stdout))
  await flushStream(process.stderr)
  process.exit(code)
}

// The host closed our stdout: nobody can hear us any more. A hung fake stays hung, as a CLI stuck in a turn does.
process.stdout.on("error", (error) => {
  if (state.hung) return
  process.stderr.write(`fake-cli: stdout failed (${error.code ?? error.message}), exiting\n`)
  process.exit(1)
})
// A closed stderr is no reason to stop.
process.stderr.on("error", () => undefined)

/** Progress of a flood, written to `progressFile` so a test can watch backpressure stall the writer. */
function makeProgress(phase) {
  const file = behavior.progressFile
  let bytes = 0
  let frames = 0
  let reported = 0
  const report = (done = false) => {
    if (!file) return
    reported = bytes
    // Write-then-rename so a reader never sees half a file.
    const temporary = `${file}.${process.pid}.tmp`
    writeFileSync(temporary, JSON.stringify({ phase, bytes, frames, done, pid: process.pid, at: Date.now() }))
    renameSync(temporary, file)
  }
  return {
    add(n) {
      bytes += n
      if (bytes - reported >= 256 * 1024) report()
    },
    frame() {
      frames++
    },
    report: () => report(false),
    done: () => report(true),
    get bytes() {
      return bytes
    },
    get frames() {
      return frames
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Frames the shared builders (fakeFrames.mjs) do not make: they exist in this fake only
// ---------------------------------------------------------------------------------------------------------

const now = () => new Date().toISOString()
const messageId = () => `msg_${randomBytes(12).toString("hex")}`
const toolUseId = () => `toolu_${randomBytes(10).toString("hex")}`

/** Reports idle / running, on changes only (the real CLI only reports this to hosts that ask for it). */
async function setSessionState(sessionState) {
  if (!state.reportsSessionState || state.sessionState === sessionState) return
  state.sessionState = sessionState
  await emit({
    type: "system",
    subtype: "session_state_changed",
    state: sessionState,
    sdk_host_only: true,
    uuid: randomUUID(),
    session_id: frames.sessionId
  })
}

/** The two frames an API failure produces: a synthetic assistant message and an `is_error` result. */
function apiErrorFrames(turn, spec) {
  const error = apiError(spec.status ?? 401, spec)
  return [frames.apiErrorAssistant(turn, error), frames.apiErrorResult(turn, error)]
}

// ---------------------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------------------

/** Dies as configured by `crash` once the turn reaches `point`. Never returns when it fires. */
async function maybeCrash(turn, point) {
  const crash = behavior.crash
  if (!crash || turn.index !== (crash.turn ?? 1)) return
  const when = crash.when ?? "midTurn"
  const due = when === "midTurn" ? point === "frame" && turn.frames >= (crash.afterFrames ?? 1) : point === when
  if (!due) return
  // Let the frames written so far reach the host: the point is a turn cut off half-way, not lost output.
  await withStdout(() => flushStream(process.stdout))
  process.stderr.write(`fake-cli: simulated crash (${crash.signal ?? `exit ${crash.exitCode ?? 1}`})\n`)
  await flushStream(process.stderr)
  if (crash.signal) {
    // Our own SIGTERM handler would turn a SIGTERM into exit 143 (or ignore it).
    process.removeAllListeners(crash.signal)
    dieBySignal(crash.signal)
    // Signals that Node handles itself would not kill us; fall back to the shell's code for them.
    await sleep(1000)
  }
  process.exit(crash.exitCode ?? 1)
}

/** Goes silent for good if `hang` names this point (first turn only). Never returns when it fires. */
async function maybeHang(turn, point) {
  if (behavior.hang !== point || turn.index !== 1) return
  await hang()
}

async function hang() {
  state.hung = true
  process.stderr.write("fake-cli: hanging (simulated)\n")
  // stdin alone would not keep us alive after EOF.
  setInterval(() => undefined, 60_000)
  await new Promise(() => undefined)
}

function growMemory() {
  const mb = behavior.rssGrowMb
  if (!mb) return
  // Filled, so the pages are really touched and show up in RSS.
  state.ballast.push(Buffer.alloc(mb * 1024 * 1024, 1))
}

/** Keeps one core busy for `burnCpuMs` of wall time, in 20 ms slices so that signals and stdin are still served. */
async function burnCpu() {
  const ms = behavior.burnCpuMs
  if (!ms) return
  const end = Date.now() + ms
  let sink = 0
  while (Date.now() < end) {
    const slice = Math.min(end, Date.now() + 20)
    while (Date.now() < slice) sink += Math.sqrt(sink + 1)
    await new Promise((resolve) => setImmediate(resolve))
  }
  return sink
}

/**
 * Opens (and holds) `openFiles` more descriptors of /dev/null. On failure (EMFILE under a low RLIMIT_NOFILE)
 * it says so on stderr and, with `openFilesExitOnError`, exits 1 like a CLI dying of an uncaught EMFILE;
 * otherwise the turn goes on and its result reports `fake_open_files`.
 */
async function openFiles(turn) {
  const wanted = behavior.openFiles
  if (!wanted) return
  let opened = 0
  let error = null
  for (; opened < wanted; opened++) {
    try {
      state.descriptors.push(openSync("/dev/null", "r"))
    } catch (e) {
      error = e?.code ?? String(e)
      break
    }
  }
  turn.openFiles = { requested: wanted, opened, held: state.descriptors.length, error }
  if (error === null) return
  process.stderr.write(`fake-cli: ${error}: too many open files (opened ${opened} of ${wanted})\n`)
  if (behavior.openFilesExitOnError) await shutdown(1)
}

// Our pid as the host sees it: in a PID namespace of our own (the ProcessManager's containment) we are 1
// inside, but /proc is the host's, so /proc/self names us in the host's numbering.
function hostPid() {
  try {
    return Number(readlinkSync("/proc/self"))
  } catch {
    return process.pid
  }
}

// The children we started, in the host's numbering (see hostPid).
function hostChildren() {
  try {
    const self = hostPid()
    return readFileSync(`/proc/${self}/task/${self}/children`, "utf8").split(" ").filter((s) => s.trim() !== "").map(
      Number
    )
  } catch {
    return undefined
  }
}

// As the first process of a PID namespace (the ProcessManager's containment), a signal we send ourselves is
// ignored: the kernel protects a namespace's init from its own namespace, and the host's processes are out
// of reach. We then exit as a shell reports a death by signal, 128 + its number, which the host reads as
// that signal. (A real CLI's crash is the kernel's fault signal, or a kill from outside: both arrive.)
function dieBySignal(signal) {
  if (process.pid !== 1) return process.kill(process.pid, signal)
  process.exit(128 + (constants.signals[signal] ?? 9))
}

function spawnChildren() {
  const count = behavior.spawnChildren ?? 0
  const detach = behavior.detachChildren
  for (let i = 0; i < count; i++) {
    // stdio "ignore" so they do not hold our pipes open; unref so they do not keep us alive.
    if (detach === "doubleFork") {
      // A child that starts a grandchild in a session of its own and exits: the grandchild is orphaned.
      spawn("setsid", ["sh", "-c", "sleep 600 &"], { stdio: "ignore" }).unref()
      continue
    }
    // `setsid`: a session and process group of their own, as the real CLI starts its Bash tools; else in
    // our group, like stdio MCP servers.
    const child = spawn("sleep", ["600"], { stdio: "ignore", detached: detach === "setsid" })
    child.unref()
    state.children.push(child.pid)
  }
  // In the host's numbering where we can tell it (see hostPid).
  const listed = hostChildren()
  if (listed !== undefined && detach !== "doubleFork") state.children = listed
}

function writePidFile() {
  if (!behavior.pidFile) return
  // Written aside, then renamed: a reader never sees it half-written.
  writeFileSync(`${behavior.pidFile}.tmp`, JSON.stringify({ pid: hostPid(), children: state.children }))
  renameSync(`${behavior.pidFile}.tmp`, behavior.pidFile)
}

async function floodStderr() {
  const total = behavior.stderrFloodBytes ?? 0
  if (total <= 0) return
  const progress = makeProgress("stderr")
  let line = 0
  while (progress.bytes < total) {
    // Debug-log-looking lines, written in large chunks; awaiting 'drain' blocks us while nobody reads.
    let chunk = ""
    while (chunk.length < CHUNK_BYTES && progress.bytes + chunk.length < total) {
      chunk += `[DEBUG] fake-cli stderr flood line ${String(line++).padStart(8, "0")} ${"-".repeat(40)}\n`
    }
    await writeChunk(process.stderr, chunk.slice(0, total - progress.bytes), progress)
  }
  progress.done()
}

/** Lines a real CLI has been seen to mix into stdout, none of them a frame. */
const GARBAGE_LINES = [
  "[DEBUG] Loading settings from /home/user/.claude/settings.json",
  "",
  "\"a bare JSON string\"",
  "42",
  "   ",
  "[1,2,3]",
  "{not json at all",
  "Warning: something noisy happened in a dependency"
]

async function emitBanner() {
  await emitLine("\u001b[2m╭────────────────────────────────────╮\u001b[0m")
  await emitLine(`\u001b[2m│ ✻ Welcome to Claude Code v${VERSION} (fake) │\u001b[0m`)
  await emitLine("\u001b[2m╰────────────────────────────────────╯\u001b[0m")
}

async function emitGarbage(turn) {
  for (const line of GARBAGE_LINES) await emitLine(line)
  // A frame of a type this protocol version does not know: decoders must pass it on.
  await turn.emit({ type: "future_frame", x: 1, session_id: frames.sessionId, uuid: randomUUID() })
  // A valid frame terminated by CRLF.
  await withStdout(() =>
    writeChunk(
      process.stdout,
      `${
        JSON.stringify({
          type: "system",
          subtype: "status",
          status: "requesting",
          session_id: frames.sessionId,
          uuid: randomUUID()
        })
      }\r\n`
    )
  )
  turn.frames++
}

/**
 * Writes one frame with every byte >= 0x80 as its own write, pausing after each, so the reader sees UTF-8
 * sequences split across reads. ASCII runs go out in one piece to keep it quick.
 */
function trickle(line) {
  return withStdout(async () => {
    const bytes = Buffer.from(`${line}\n`, "utf8")
    let start = 0
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] < 0x80) continue
      if (i > start) await writeChunk(process.stdout, bytes.subarray(start, i))
      await writeChunk(process.stdout, bytes.subarray(i, i + 1))
      await sleep(2)
      start = i + 1
    }
    if (start < bytes.length) await writeChunk(process.stdout, bytes.subarray(start))
  })
}

/** One line of exactly `hugeLineBytes` bytes (newline not counted), written in chunks. */
async function emitHugeLine(turn) {
  const total = behavior.hugeLineBytes
  const progress = makeProgress("hugeLine")
  let prefix = ""
  let suffix = ""
  if ((behavior.hugeLineKind ?? "frame") === "frame") {
    const frame = JSON.stringify(frames.assistant(turn, messageId(), [{ type: "text", text: "" }]))
    const at = frame.indexOf("\"text\":\"\"") + "\"text\":\"".length
    prefix = frame.slice(0, at)
    suffix = frame.slice(at)
  }
  let padding = Math.max(0, total - Buffer.byteLength(prefix) - Buffer.byteLength(suffix))
  const block = Buffer.alloc(CHUNK_BYTES, "x")
  await withStdout(async () => {
    await writeChunk(process.stdout, prefix, progress)
    while (padding > 0) {
      const size = Math.min(padding, CHUNK_BYTES)
      await writeChunk(process.stdout, block.subarray(0, size), progress)
      padding -= size
    }
    await writeChunk(process.stdout, `${suffix}\n`, progress)
  })
  progress.frame()
  progress.done()
  turn.frames++
  await maybeCrash(turn, "frame")
}

/**
 * An `assistant` frame whose `tool_use` input nests arrays `deepLineDepth` levels deep: valid JSON that
 * `JSON.parse` takes, and `JSON.stringify` (or any recursive walk) of the parsed value overflows the stack.
 */
async function emitDeepLine(turn) {
  const depth = behavior.deepLineDepth
  const placeholder = "__fake_deep_value__"
  const frame = frames.toolUse(turn, messageId(), { name: "Bash", input: { deep: placeholder }, id: toolUseId() })
  const line = JSON.stringify(frame).replace(JSON.stringify(placeholder), "[".repeat(depth) + "]".repeat(depth))
  await emitLine(line)
  turn.frames++
  await maybeCrash(turn, "frame")
}

/** `stdoutFloodBytes` worth of numbered assistant frames, as fast as the reader takes them. */
async function emitFlood(turn) {
  const total = behavior.stdoutFloodBytes
  const frameBytes = behavior.floodFrameBytes ?? 8192
  const progress = makeProgress("stdout")
  const id = messageId()
  for (let seq = 0; progress.bytes < total; seq++) {
    const label = `flood ${seq} `
    const frame = frames.assistant(turn, id, [{ type: "text", text: label }], { fake_flood_seq: seq })
    const padding = Math.max(0, frameBytes - JSON.stringify(frame).length - 1)
    frame.message.content[0].text = label + "x".repeat(padding)
    await turn.emit(frame, { delay: false, progress })
    progress.frame()
  }
  progress.done()
  return { frames: progress.frames, bytes: progress.bytes }
}

// ---------------------------------------------------------------------------------------------------------
// Turns
// ---------------------------------------------------------------------------------------------------------

class Turn {
  constructor(message, index) {
    this.message = message
    this.index = index
    this.prompt = promptText(message)
    this.abort = new AbortController()
    this.startedAt = Date.now()
    /** Frames written by this turn, for `crash.afterFrames`. */
    this.frames = 0
    /** Text already streamed as deltas: what an interrupt leaves behind. */
    this.streamedText = ""
    this.apiMessageId = undefined
    this.numTurns = 1
    this.permissionDenials = []
    this.controlAnswers = []
    /** Control requests this turn sent the host. */
    this.controlEntries = []
    /** Why the tool was not allowed to run, if it was not. */
    this.toolDenied = undefined
    /** What `openFiles` did in this turn. */
    this.openFiles = undefined
  }

  /**
   * Writes one frame of this turn: honours `frameDelayMs`, stops at an interrupt (between frames, never
   * inside one), counts for `crash`. `trickled` writes it with split UTF-8 (garbage mode).
   */
  async emit(frame, { delay = true, progress, trickled = false } = {}) {
    const signal = this.abort.signal
    if (delay && behavior.frameDelayMs) await sleep(behavior.frameDelayMs, undefined, { signal })
    signal.throwIfAborted()
    await (trickled ? trickle(JSON.stringify(frame)) : emit(frame, progress))
    this.frames++
    await maybeCrash(this, "frame")
  }
}

function replyText(turn) {
  const reply = behavior.reply
  let text
  if (Array.isArray(reply)) text = reply[Math.min(turn.index, reply.length) - 1]
  else if (typeof reply === "string") text = reply
  text ??= `echo: ${turn.prompt}`
  return behavior.garbage ? `${text} ${UNICODE_SAMPLE}` : text
}

async function emitText(turn, text) {
  const id = messageId()
  turn.apiMessageId = id
  const steps = frames.text(turn, id, text, {
    partial: state.includePartialMessages,
    chunks: behavior.partialChunks ?? 3
  })
  for (const { frame, delta } of steps) {
    // Garbage mode writes the completed block with its UTF-8 split across reads.
    await turn.emit(frame, { trickled: behavior.garbage === true && frame.type === "assistant" })
    turn.streamedText += delta
  }
}

/**
 * Sends every configured control request at once (the host must serve several outstanding requests), then
 * waits for an answer to each, up to `controlTimeoutMs`, plus `controlGraceMs` to catch duplicate answers.
 */
async function runControlRequests(turn, tool) {
  const specs = behavior.controlRequests ?? []
  if (specs.length === 0) return
  const entries = []
  for (const spec of specs) {
    const request = frames.controlRequestBody(spec, tool)
    const entry = { request_id: randomUUID(), subtype: request.subtype, responses: [] }
    entry.answered = new Promise((resolve) => (entry.resolve = resolve))
    state.controlRequests.set(entry.request_id, entry)
    entries.push(entry)
    turn.controlEntries.push(entry)
    await turn.emit(controlRequest(entry.request_id, request))
  }
  const signal = turn.abort.signal
  await waitAtMost(Promise.all(entries.map((entry) => entry.answered)), behavior.controlTimeoutMs ?? 10_000, signal)
  await sleep(behavior.controlGraceMs ?? 50, undefined, { signal })
  for (const entry of entries) {
    turn.controlAnswers.push(controlAnswer(entry.request_id, entry.subtype, entry.responses))
    const response = entry.responses[0]
    if (entry.subtype === "can_use_tool" && !isAllowed(response)) {
      turn.permissionDenials.push(permissionDenial(tool))
      turn.toolDenied = deniedMessage(response)
    }
  }
}

/** Waits for `promise` or `ms`, whichever comes first; rejects if `signal` aborts meanwhile. */
async function waitAtMost(promise, ms, signal) {
  let timer
  let onAbort
  const deadline = new Promise((resolve) => (timer = setTimeout(resolve, ms)))
  const aborted = new Promise((_, reject) => {
    onAbort = () => reject(signal.reason)
    signal.addEventListener("abort", onAbort, { once: true })
  })
  try {
    signal.throwIfAborted()
    await Promise.race([promise, deadline, aborted])
  } finally {
    clearTimeout(timer)
    signal.removeEventListener("abort", onAbort)
  }
}

async function runToolUse(turn) {
  const needsTool = behavior.toolUse !== undefined ||
    (behavior.controlRequests ?? []).some((spec) => spec.subtype === "can_use_tool")
  const spec = behavior.toolUse ?? defaultToolUse
  const tool = { name: spec.name ?? "Bash", input: spec.input ?? {}, id: toolUseId() }
  if (needsTool) await turn.emit(frames.toolUse(turn, messageId(), tool))
  await runControlRequests(turn, tool)
  if (!needsTool) return
  turn.numTurns = 2
  await turn.emit(frames.toolResult(tool, spec.output ?? "hi-from-tool", turn.toolDenied))
  await maybeCrash(turn, "afterToolUse")
}

async function turnBody(turn) {
  await maybeHang(turn, "beforeFirstEvent")
  await turn.emit(frames.systemInit())
  if (behavior.garbage) await emitGarbage(turn)
  for (const [i, retry] of (behavior.apiRetry ?? []).entries()) {
    await turn.emit(
      frames.apiRetry(i + 1, behavior.apiRetry.length, {
        retry_delay_ms: 500 * 2 ** i,
        error_status: null,
        error: "server_error",
        ...retry
      })
    )
  }
  if (behavior.apiError) {
    const [assistant, result] = apiErrorFrames(turn, behavior.apiError)
    await turn.emit(assistant)
    await maybeCrash(turn, "beforeResult")
    await maybeHang(turn, "midTurn")
    await turn.emit(result)
    return result
  }
  await runToolUse(turn)
  if (behavior.deepLineDepth) await emitDeepLine(turn)
  if (behavior.hugeLineBytes) await emitHugeLine(turn)
  const flood = behavior.stdoutFloodBytes ? await emitFlood(turn) : undefined
  const text = replyText(turn)
  await emitText(turn, text)
  await maybeCrash(turn, "beforeResult")
  await maybeHang(turn, "midTurn")
  const result = frames.result(turn, { result: text, ...(flood ? { fake_flood: flood } : {}) })
  await turn.emit(result)
  return result
}

async function interrupted(turn) {
  // Requests the host has not answered yet are withdrawn, as the real CLI does with control_cancel_request.
  for (const entry of turn.controlEntries) {
    if (entry.responses.length === 0) await emit(controlCancel(entry.request_id))
  }
  if (turn.streamedText !== "") {
    await emit(
      frames.assistant(turn, turn.apiMessageId, [{ type: "text", text: turn.streamedText }], { aborted: true })
    )
  }
  await emit(frames.interruptedUser())
  const result = frames.interruptedResult(turn)
  await emit(result)
  return result
}

/** `/clear`: a new conversation (and session id) in the same process, as the real CLI does it. */
async function clearConversation(message) {
  for (const frame of frames.clear(typeof message.uuid === "string" ? message.uuid : undefined)) await emit(frame)
  state.transcript = []
  state.lastResultOk = true
}

async function runTurn(message) {
  const commandUuid = typeof message.uuid === "string" ? message.uuid : undefined
  if (promptText(message).trim() === "/clear") return clearConversation(message)
  const turn = new Turn(message, ++state.turnCount)
  state.current = turn
  growMemory()
  await burnCpu()
  await openFiles(turn)
  await setSessionState("running")
  if (commandUuid) await emit(frames.lifecycle(commandUuid, "started"))
  let result
  try {
    result = await turnBody(turn)
  } catch (error) {
    if (!turn.abort.signal.aborted) throw error
    result = await interrupted(turn)
  } finally {
    state.current = undefined
  }
  state.lastResultOk = result.is_error !== true
  state.transcript.push(
    { type: "user", session_id: frames.sessionId, message: message.message ?? null, timestamp: now() },
    { type: "assistant", session_id: frames.sessionId, result: result.result ?? null, timestamp: now() }
  )
  if (commandUuid) await emit(frames.lifecycle(commandUuid, turn.abort.signal.aborted ? "cancelled" : "completed"))
  if (state.queue.length === 0) await setSessionState("idle")
  if (behavior.stdoutFloodBytes) await shutdown(0)
  await maybeHang(turn, "afterResult")
  if (behavior.ownTurn && turn.index === 1) setTimeout(() => void ownTurn(turn), behavior.ownTurn.afterMs ?? 0)
}

/**
 * A turn of the CLI's own after the first one, as the real CLI runs one to tell the model a background task
 * settled: `running`, init, an assistant message and a result no prompt asked for, then `idle`; or it dies
 * (`crash: true`) in the middle of it.
 */
async function ownTurn(first) {
  const { durationMs = 0, crash = false, reply = "a background task settled" } = behavior.ownTurn
  state.current = first
  await setSessionState("running")
  await emit(frames.systemInit())
  await new Promise((resolve) => setTimeout(resolve, durationMs))
  if (crash) process.exit(1)
  await emit(frames.assistant(first, `msg_own_${first.index}`, [{ type: "text", text: reply }]))
  await emit(frames.result(first, { result: reply }))
  state.current = undefined
  await setSessionState("idle")
  pump()
}

function pump() {
  if (state.current || state.hung || state.queue.length === 0) return
  const message = state.queue.shift()
  runTurn(message).then(
    () => {
      pump()
      void maybeFinish()
    },
    (error) => {
      process.stderr.write(`fake-cli: internal error: ${error?.stack ?? error}\n`)
      process.exit(70)
    }
  )
}

/** After stdin EOF: finish the queued turns, optionally write the session file late, then exit. */
async function maybeFinish() {
  if (!state.stdinEnded || state.current || state.queue.length > 0 || state.hung || state.finishing) return
  state.finishing = true
  if (behavior.sessionFile) {
    if (behavior.sessionFileOnEofDelayMs) {
      // So a test knows the late write has begun (a SIGTERM from now on loses it).
      process.stderr.write(`fake-cli: stdin closed; writing the transcript in ${behavior.sessionFileOnEofDelayMs} ms\n`)
      await sleep(behavior.sessionFileOnEofDelayMs)
    }
    const lines = state.transcript.map((entry) => JSON.stringify(entry))
    writeFileSync(behavior.sessionFile, lines.length > 0 ? `${lines.join("\n")}\n` : "")
  }
  await shutdown(state.lastResultOk ? 0 : 1)
}

// ---------------------------------------------------------------------------------------------------------
// Control requests from the host
// ---------------------------------------------------------------------------------------------------------

const controlSuccess = (requestId, response) => emit(controlSuccessFrame(requestId, response))

async function handleControlRequest(frame) {
  const requestId = frame.request_id
  const request = frame.request ?? {}
  switch (request.subtype) {
    case "initialize":
      return controlSuccess(requestId, frames.initializeResponse(hostPid(), state.current !== undefined))
    case "interrupt": {
      await controlSuccess(requestId, { still_queued: [] })
      state.current?.abort.abort()
      return
    }
    case "set_model": {
      frames.model = resolveModel(request.model ?? "default")
      return controlSuccess(requestId, { model: frames.model })
    }
    case "set_permission_mode": {
      frames.permissionMode = request.mode ?? frames.permissionMode
      await controlSuccess(requestId, { mode: frames.permissionMode })
      return emit(frames.permissionModeStatus())
    }
    case "set_max_thinking_tokens":
      return controlSuccess(requestId, {})
    case "mcp_status":
      return controlSuccess(requestId, { mcpServers: [] })
    default:
      return emit(controlUnsupported(requestId, String(request.subtype)))
  }
}

function handleControlResponse(frame) {
  const response = frame.response ?? {}
  const entry = state.controlRequests.get(response.request_id)
  if (!entry) {
    process.stderr.write(`fake-cli: control_response for unknown request ${response.request_id}\n`)
    return
  }
  entry.responses.push(response)
  if (entry.responses.length === 1) entry.resolve()
  else process.stderr.write(`fake-cli: duplicate control_response for ${response.request_id}\n`)
}

// ---------------------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------------------

function onLine(raw) {
  if (behavior.recordStdin) appendFileSync(behavior.recordStdin, `${raw}\n`)
  if (state.hung) return
  const line = raw.trim()
  if (line === "") return
  let frame
  try {
    frame = JSON.parse(line)
  } catch {
    process.stderr.write(`fake-cli: ignoring a stdin line that is not JSON: ${line.slice(0, 80)}\n`)
    return
  }
  switch (frame?.type) {
    case "user": {
      state.queue.push(frame)
      void setSessionState("running")
      // The real CLI acknowledges a user message that carries a uuid right away, before its turn starts.
      if (typeof frame.uuid === "string") void emit(frames.lifecycle(frame.uuid, "queued"))
      return pump()
    }
    case "control_request":
      return void handleControlRequest(frame)
    case "control_response":
      return handleControlResponse(frame)
    default:
      // keep_alive, control_cancel_request, and anything newer: nothing to do.
      return
  }
}

function readStdin() {
  const input = createInterface({ input: process.stdin, crlfDelay: Infinity })
  input.on("line", onLine)
  input.on("close", () => {
    state.stdinEnded = true
    // Said on stderr (stdout stays silent), so a test knows the hung fake has seen EOF and stays.
    if (state.hung) process.stderr.write("fake-cli: stdin closed while hung; not exiting\n")
    void maybeFinish()
  })
}

// ---------------------------------------------------------------------------------------------------------
// Start-up
// ---------------------------------------------------------------------------------------------------------

/**
 * Like the real CLI: with `CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR` (or `CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR`)
 * set, the credential is read to EOF from that descriptor at start-up.
 */
function credentialFromDescriptor() {
  const fd = process.env.CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR ?? process.env.CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR
  if (fd === undefined || argv.includes("--version")) return undefined
  // Node hands the child a socket, not a pipe: read the descriptor itself (a socket has no /proc path to open).
  try {
    return readFileSync(Number(fd), "utf8").trim()
  } catch {
    return undefined
  }
}

async function main() {
  if (behavior.recordArgv) appendFileSync(behavior.recordArgv, `${JSON.stringify({ pid: hostPid(), argv })}\n`)
  const credential = credentialFromDescriptor()
  if (behavior.recordEnv) {
    writeFileSync(
      behavior.recordEnv,
      JSON.stringify({ ...process.env, ...(credential ? { FAKE_CLI_CREDENTIAL_FROM_FD: credential } : {}) })
    )
  }

  if (argv.includes("--version") || argv.includes("-v")) {
    process.stdout.write(`${VERSION} (Claude Code)\n`)
    return shutdown(0)
  }

  // The real CLI exits 143 straight away on SIGTERM, mid-turn, without a result.
  process.on("SIGTERM", () => {
    if (behavior.signalFile) {
      appendFileSync(behavior.signalFile, `${JSON.stringify({ signal: "SIGTERM", pid: hostPid(), at: Date.now() })}\n`)
    }
    if (behavior.ignoreSigterm) process.stderr.write("fake-cli: ignoring SIGTERM\n")
    else process.exit(143)
  })

  spawnChildren()
  writePidFile()
  await floodStderr()
  if (behavior.garbage) await emitBanner()

  const early = behavior.exitImmediately
  if (early) {
    // Exits without ever reading stdin, so a host that writes now hits a closed pipe.
    const frames = early.stdout ?? defaultEarlyExitFrames()
    for (const frame of frames) await (typeof frame === "string" ? emitLine(frame) : emit(frame))
    if (early.stderr) process.stderr.write(early.stderr.endsWith("\n") ? early.stderr : `${early.stderr}\n`)
    return shutdown(early.exitCode ?? 1)
  }

  if (behavior.hang === "beforeInit") void hang()
  if (behavior.exitMidPrompt) readStdinUntilUserLine(behavior.exitMidPrompt)
  else readStdin()
}

/**
 * `exitMidPrompt` (F07): stdin is read in raw chunks, not lines, so the fake sees the first bytes of a user
 * line long before a large one has all arrived. Whole lines before it are served as usual (`initialize` is
 * answered); at the first bytes of a user line the fake closes its end of stdin, so the rest of the host's
 * write meets a pipe whose reader is gone (EPIPE), says how much of the line it read, and exits.
 */
function readStdinUntilUserLine(spec) {
  const userLine = /^[ \t]*\{[ \t]*"type"[ \t]*:[ \t]*"user"/
  let pending = Buffer.alloc(0)
  const onData = (chunk) => {
    pending = Buffer.concat([pending, chunk])
    for (;;) {
      if (userLine.test(pending.subarray(0, 64).toString("utf8"))) {
        void exitMidPrompt(spec, pending.length)
        return
      }
      const newline = pending.indexOf(0x0a)
      if (newline === -1) return
      onLine(pending.subarray(0, newline).toString("utf8"))
      pending = pending.subarray(newline + 1)
    }
  }
  process.stdin.on("data", onData)
  process.stdin.on("end", () => {
    state.stdinEnded = true
    void maybeFinish()
  })
}

async function exitMidPrompt(spec, bytes) {
  process.stdin.removeAllListeners("data")
  // Our end of the pipe goes first: whatever the host still writes meets a reader that is gone.
  process.stdin.destroy()
  process.stderr.write(`fake-cli: exiting mid-prompt, after ${bytes} bytes of a user line\n`)
  if (spec.stderr) process.stderr.write(spec.stderr.endsWith("\n") ? spec.stderr : `${spec.stderr}\n`)
  await shutdown(spec.exitCode ?? 1)
}

/** What an early exit prints by default: the CLI failing its first request with a 401. */
function defaultEarlyExitFrames() {
  const turn = new Turn({ type: "user", message: { role: "user", content: "" } }, 1)
  return [frames.systemInit(), ...apiErrorFrames(turn, { status: 401 })]
}

main().catch((error) => {
  process.stderr.write(`fake-cli: internal error: ${error?.stack ?? error}\n`)
  process.exit(70)
})

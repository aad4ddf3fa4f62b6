#!/usr/bin/env node
// A stub Claude Code CLI for turn.overhead.host: it speaks just enough of the stream-json session protocol
// (frames from ../src/testing/fakeFrames.mjs, the fakes' shapes of the real CLI 2.1.329) and timestamps, on
// the clock every process of this machine shares (performance.timeOrigin + performance.now(): the wall clock
// at process start plus the monotonic clock since), the moments the host's share of a turn starts and ends:
//
// - `initRepliedAt`: it is about to write its `initialize` control_response to the host;
// - `promptAt`: the read that completed the user line returned;
// - `eventAt`: it is about to write its first `stream_event` line.
//
// The marks are taken just before the writes, not after: a write to a pipe wakes the reader, which may take
// this CPU at once and run its whole reaction before the writer, preempted, takes a timestamp.
//
// It is fully synchronous (blocking reads and writes on fds 0 and 1, no event loop), so its own reaction
// time is the same whoever drives it and adds nothing that differs between two drivers.
//
// A prompt turn writes `system/init` at once, then after BENCH_STUB_GAP_MS (default 20) its first
// `stream_event` alone, then after the gap again the rest of the reply and the `result`: the host gets the
// first stream event in a read of its own, as it does from the real CLI (which waits for the API between
// them). `/clear` starts a new conversation as the real CLI does. Any other control request is answered
// with an empty success. Marks of each prompt turn are appended to the file BENCH_STUB_MARKS as a JSON line,
// before the rest of the reply is written.
//
// BENCH_STUB_MODE=clock: a clock check instead. Each line from the host is its timestamp; the stub answers
// `<that> <its own timestamp at the read>` so the host can estimate the two clocks' offset (NTP style).
//
// `--version` prints the version the fakes imitate. Exits 0 at stdin EOF.

import { randomBytes, randomUUID } from "node:crypto"
import { appendFileSync, readSync, writeSync } from "node:fs"
import { CliFrames, controlSuccess, flagValue, promptText, resolveModel, version } from "../src/testing/fakeFrames.mjs"

const argv = process.argv.slice(2)
const now = () => performance.timeOrigin + performance.now()

if (argv.includes("--version")) {
  writeSync(1, `${version} (Claude Code)\n`)
  process.exit(0)
}

const REPLY = "Hello from the benchmark."
const gapMs = Number(process.env.BENCH_STUB_GAP_MS ?? "20")
const marksFile = process.env.BENCH_STUB_MARKS
const sleeper = new Int32Array(new SharedArrayBuffer(4))
const sleep = (ms) => Atomics.wait(sleeper, 0, 0, ms)

const writeAll = (text) => {
  const bytes = Buffer.from(text)
  let offset = 0
  while (offset < bytes.length) {
    try {
      offset += writeSync(1, bytes, offset)
    } catch (error) {
      if (error.code !== "EAGAIN") throw error
      sleep(1)
    }
  }
}
const writeFrames = (...frames) => writeAll(frames.map((frame) => `${JSON.stringify(frame)}\n`).join(""))

/** One blocking read of stdin: the bytes and when the read returned; `undefined` at EOF. */
const buffer = Buffer.alloc(1 << 16)
const read = () => {
  for (;;) {
    try {
      const n = readSync(0, buffer, 0, buffer.length, null)
      return n === 0 ? undefined : { text: buffer.toString("utf8", 0, n), at: now() }
    } catch (error) {
      if (error.code === "EOF") return undefined
      if (error.code !== "EAGAIN") throw error
      sleep(1)
    }
  }
}

/** Calls `onLine(line, at)` for each complete line, `at` being when the read that completed it returned. */
const eachLine = (onLine) => {
  let pending = ""
  for (let chunk = read(); chunk !== undefined; chunk = read()) {
    pending += chunk.text
    let newline = pending.indexOf("\n")
    while (newline >= 0) {
      const line = pending.slice(0, newline)
      pending = pending.slice(newline + 1)
      if (line.trim() !== "") onLine(line, chunk.at)
      newline = pending.indexOf("\n")
    }
  }
}

if (process.env.BENCH_STUB_MODE === "clock") {
  eachLine((line, at) => writeAll(`${line.trim()} ${at}\n`))
  process.exit(0)
}

const frames = new CliFrames({
  sessionId: flagValue(argv, "--session-id") ?? randomUUID(),
  model: resolveModel(flagValue(argv, "--model") ?? "default"),
  permissionMode: flagValue(argv, "--permission-mode") ?? "default",
  cwd: process.cwd(),
  version,
  apiKeySource: "none",
  uuid: randomUUID,
  requestId: () => `req_stub_${randomBytes(6).toString("hex")}`,
  now: Date.now
})

let initRepliedAt
let turns = 0

const promptTurn = (message, promptAt) => {
  turns++
  const turn = { message, numTurns: 1, startedAt: Date.now(), permissionDenials: [], controlAnswers: [] }
  const id = `msg_stub_${turns}`
  const [first, ...rest] = [...frames.text(turn, id, REPLY, { partial: true, chunks: 3 })].map((step) => step.frame)
  writeFrames(frames.systemInit())
  sleep(gapMs)
  const eventAt = now()
  writeFrames(first)
  // Before the result: whoever reads the marks once the turn has ended finds this turn's.
  if (marksFile !== undefined) {
    appendFileSync(
      marksFile,
      `${JSON.stringify({ pid: process.pid, turn: turns, initRepliedAt, promptAt, eventAt })}\n`
    )
  }
  sleep(gapMs)
  writeFrames(...rest, frames.result(turn, { result: REPLY }))
}

eachLine((line, at) => {
  const frame = JSON.parse(line)
  if (frame.type === "control_request") {
    const subtype = frame.request?.subtype
    const answer = subtype === "initialize" ? frames.initializeResponse(process.pid, false) : {}
    if (subtype === "initialize") initRepliedAt = now()
    writeFrames(controlSuccess(frame.request_id, answer))
  } else if (frame.type === "user") {
    if (promptText(frame).trim() === "/clear") writeFrames(...frames.clear(frame.uuid))
    else promptTurn(frame, at)
  }
})
process.exit(0)

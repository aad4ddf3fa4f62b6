import { assert, describe, it } from "@effect/vitest"
import { DebugLog } from "../src/index.ts"

const base: DebugLog.DebugLog = {
  sessionId: "sess-1",
  state: "Failed",
  pid: 4242,
  turns: 2,
  restarts: 1,
  lifecycle: [],
  frames: [],
  stderrTail: "",
  debugFile: undefined,
  debugFileTail: undefined
}

describe("DebugLog.format", () => {
  it("renders every part: lifecycle with pid and detail, frames both ways, stderr and the CLI's debug log indented", () => {
    const text = DebugLog.format({
      ...base,
      lifecycle: [
        { at: 0, event: "spawned", pid: 4242, turn: 0, detail: undefined },
        { at: 1500, event: "died", pid: 4242, turn: 2, detail: "exit code 1" },
        { at: 2000, event: "failed", pid: undefined, turn: 2, detail: "restart intensity reached" }
      ],
      frames: [
        { at: 1000, direction: "out", frame: { type: "user", note: "prompt left out: 5 characters" } },
        { at: 1200, direction: "in", frame: { type: "result", subtype: "success" } }
      ],
      stderrTail: "first line\nError: boom\n\n",
      debugFile: "/tmp/debug.txt",
      debugFileTail: "[DEBUG] a\n[DEBUG] b\n"
    })
    assert.strictEqual(
      text,
      [
        "session sess-1: Failed, pid 4242, 2 turns, 1 restarts",
        "lifecycle:",
        "  1970-01-01T00:00:00.000Z spawned pid=4242 turn=0",
        "  1970-01-01T00:00:01.500Z died pid=4242 turn=2 exit code 1",
        "  1970-01-01T00:00:02.000Z failed turn=2 restart intensity reached",
        "frames:",
        "  1970-01-01T00:00:01.000Z -> {\"type\":\"user\",\"note\":\"prompt left out: 5 characters\"}",
        "  1970-01-01T00:00:01.200Z <- {\"type\":\"result\",\"subtype\":\"success\"}",
        "stderr:",
        "  first line",
        "  Error: boom",
        "cli debug log:",
        "  [DEBUG] a",
        "  [DEBUG] b"
      ].join("\n")
    )
  })

  it("a session not yet started: no session id, no pid, nothing logged, no debug log section", () => {
    assert.strictEqual(
      DebugLog.format({ ...base, sessionId: undefined, pid: undefined, state: "Starting", turns: 0, restarts: 0 }),
      ["session (no session id yet): Starting, pid -, 0 turns, 0 restarts", "lifecycle:", "frames:", "stderr:"].join(
        "\n"
      )
    )
  })
})

import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { ClaudeEvent, Protocol, StreamHandler } from "../src/index.ts"

const fixturesDir = path.join(import.meta.dirname, "fixtures", "claude-cli-2.1.329")

/** The first frame of a recorded transcript that passes `match`, as a JSON object to vary. */
const recorded = (name: string, match: (frame: Record<string, unknown>) => boolean): Record<string, unknown> => {
  const frames = fs.readFileSync(path.join(fixturesDir, name, "stdout.jsonl"), "utf8").split("\n")
    .filter((line) => line.trim() !== "").map((line): Record<string, unknown> => JSON.parse(line))
  const frame = frames.find(match)
  if (frame === undefined) throw new Error(`no such frame in ${name}`)
  return frame
}

const textDelta = recorded(
  "tool-hook-partial",
  (f) => f.type === "stream_event" && JSON.stringify(f).includes("text_delta")
)
const assistant = recorded("basic", (f) => f.type === "assistant")
const decodedAssistant = Protocol.decode(assistant)
/** The real assistant frame of basic with other content blocks. */
const assistantMessage = (content: ReadonlyArray<unknown>) => {
  if (decodedAssistant.kind !== "assistant") throw new Error("basic's assistant frame no longer decodes as one")
  return { ...decodedAssistant.frame, message: { ...decodedAssistant.frame.message, content } }
}

/** The one event a line makes (fails if it makes several). */
const only = (line: unknown) => {
  const events = StreamHandler.fromLine(JSON.stringify(line), 3)
  assert.strictEqual(events.length, 1, JSON.stringify(events))
  const [event] = events
  if (event === undefined) throw new Error("no event")
  return event
}

describe("StreamHandler: frames a session sees less often", () => {
  it("system/status frames of the real CLI are Status events: what it is doing, or null when it stops", () => {
    const requesting = only(
      recorded("interrupt-and-controls", (f) => f.subtype === "status" && f.status === "requesting")
    )
    assert.isTrue(requesting._tag === "Status" && requesting.status === "requesting")
    const stopped = only(recorded("interrupt-and-controls", (f) => f.subtype === "status" && f.status === null))
    assert.isTrue(stopped._tag === "Status" && stopped.status === null)
    // One whose status is not text is a mismatch, kept whole as Unknown.
    const odd = only({ ...recorded("tool-hook-partial", (f) => f.subtype === "status"), status: 3 })
    assert.isTrue(odd._tag === "Unknown" && odd.mismatch)
  })

  it("a thinking delta is a ThinkingDelta, with its block index and parent tool use", () => {
    const event = only({
      ...textDelta,
      parent_tool_use_id: "toolu_parent",
      event: { type: "content_block_delta", index: 2, delta: { type: "thinking_delta", thinking: "hmm" } }
    })
    assert.isTrue(event._tag === "ThinkingDelta")
    if (event._tag !== "ThinkingDelta") return
    assert.deepStrictEqual([event.thinking, event.index, event.parentToolUseId], ["hmm", 2, "toolu_parent"])
  })

  it("a delta without the field its type names, or of a type this library does not know, stays a StreamEvent", () => {
    for (const delta of [{ type: "thinking_delta" }, { type: "signature_delta", signature: "sig" }, "not an object"]) {
      const event = only({ ...textDelta, event: { type: "content_block_delta", index: 0, delta } })
      assert.isTrue(event._tag === "StreamEvent" && event.eventType === "content_block_delta", JSON.stringify(delta))
    }
    // Without an index the delta is block 0.
    const noIndex = only({
      ...textDelta,
      event: { type: "content_block_delta", delta: { type: "text_delta", text: "x" } }
    })
    assert.isTrue(noIndex._tag === "TextDelta" && noIndex.index === 0 && noIndex.parentToolUseId === null)
  })

  it("an assistant frame: thinking blocks, blocks of other types, and no blocks at all", () => {
    const events = StreamHandler.fromLine(
      JSON.stringify(assistantMessage([
        { type: "thinking", thinking: "let me see", signature: "s" },
        { type: "redacted_thinking", data: "opaque" },
        { type: "text", text: "done" }
      ])),
      1
    )
    assert.deepStrictEqual(events.map((event) => event._tag), ["AssistantThinking", "AssistantBlock", "AssistantText"])
    const [thinking, other] = events
    assert.isTrue(thinking?._tag === "AssistantThinking" && thinking.thinking === "let me see")
    assert.isTrue(
      other?._tag === "AssistantBlock" &&
        JSON.stringify(other.block) === "{\"type\":\"redacted_thinking\",\"data\":\"opaque\"}"
    )
    // A frame is never dropped: with no blocks it is a Frame event.
    const empty = only(assistantMessage([]))
    assert.isTrue(empty._tag === "Frame" && empty.frame.type === "assistant")
  })

  it("system/permission_denied is a PermissionDenied event", () => {
    const event = only({ type: "system", subtype: "permission_denied", session_id: "s", uuid: "u", tool_name: "Bash" })
    assert.isTrue(event._tag === "PermissionDenied" && event.frame.subtype === "permission_denied")
  })

  it("rate_limit_event is a RateLimit event with its status and reset time, when the frame has them", () => {
    const event = only({
      type: "rate_limit_event",
      session_id: "s",
      uuid: "u",
      rate_limit_info: { status: "allowed_warning", resetsAt: 1_800_000_000 }
    })
    assert.isTrue(event._tag === "RateLimit")
    if (event._tag !== "RateLimit") return
    assert.deepStrictEqual([event.status, event.resetsAt], ["allowed_warning", 1_800_000_000])
    const bare = only({ type: "rate_limit_event", session_id: "s", uuid: "u" })
    assert.isTrue(bare._tag === "RateLimit" && bare.status === undefined && bare.resetsAt === undefined)
  })

  it("system/init without a tool list has no tools; api_retry without a status or error has null for both", () => {
    const init = recorded("basic", (f) => f.type === "system" && f.subtype === "init")
    const { tools: _tools, ...withoutTools } = init
    const started = only(withoutTools)
    assert.isTrue(
      started._tag === "SessionStarted" && started.tools.length === 0 && started.sessionId === init.session_id
    )

    const retry = recorded("api-529", (f) => f.type === "system" && f.subtype === "api_retry")
    const { error: _error, error_status: _status, ...bare } = retry
    const event = only(bare)
    assert.isTrue(event._tag === "ApiRetry")
    if (event._tag !== "ApiRetry") return
    assert.deepStrictEqual([event.status, event.error, event.attempt, event.maxRetries], [null, null, 1, 2])
  })
})

describe("ClaudeEvent.isDiagnostic", () => {
  it("is true of what the handler reports about the byte stream, false of frames", () => {
    const malformed = StreamHandler.fromLine("not json", 1)
    const oversized = StreamHandler.fromLineItem({ _tag: "Oversized", line: 2, bytes: 99, head: "{" }, 10)
    const unknown = StreamHandler.fromLine(JSON.stringify({ type: "brand_new" }), 3)
    const frame = StreamHandler.fromLine(JSON.stringify(assistant), 4)
    assert.deepStrictEqual(
      [...malformed, ...oversized, ...unknown, ...frame].map((event) => [event._tag, ClaudeEvent.isDiagnostic(event)]),
      [["Malformed", true], ["Oversized", true], ["Unknown", false], ["AssistantText", false]]
    )
  })
})

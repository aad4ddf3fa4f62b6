import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { ClaudeEvent } from "../src/ClaudeEvent.ts"
import * as StreamHandler from "../src/StreamHandler.ts"

const fixturesDir = path.join(import.meta.dirname, "fixtures", "claude-cli-2.1.329")
const transcripts = fs.readdirSync(fixturesDir).filter((name) =>
  fs.existsSync(path.join(fixturesDir, name, "stdout.jsonl"))
)
const encoder = new TextEncoder()

const decodeChunks = (chunks: ReadonlyArray<Uint8Array>, options?: StreamHandler.Options) =>
  Stream.fromIterable(chunks).pipe(StreamHandler.events(options), Stream.runCollect)

const bytesOf = (text: string) => encoder.encode(text)

/** Splits bytes into chunks of `size` bytes, cutting through lines and characters alike. */
const chunked = (bytes: Uint8Array, size: number): Array<Uint8Array> => {
  const chunks: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size))
  return chunks
}

describe("StreamHandler", () => {
  describe("fixtures", () => {
    for (const name of transcripts) {
      it.effect(`decodes every line of ${name} without loss`, () =>
        Effect.gen(function*() {
          const text = fs.readFileSync(path.join(fixturesDir, name, "stdout.jsonl"), "utf8")
          const lines = text.split("\n").filter((line) => line.trim() !== "")
          // Odd chunk sizes split lines and multi-byte characters at every place.
          const events = yield* decodeChunks(chunked(bytesOf(text), 997))
          assert.strictEqual(events.filter(ClaudeEvent.$is("Malformed")).length, 0)
          assert.strictEqual(events.filter(ClaudeEvent.$is("Unknown")).length, 0, "every fixture frame type is known")
          const frames = new Set<unknown>()
          for (const event of events) if ("frame" in event) frames.add(event.frame)
          assert.strictEqual(frames.size, lines.length, "one decoded frame per line")
          // Lossless: each decoded frame re-serialises to exactly its line.
          const serialised = [...frames].map((frame) => JSON.stringify(frame))
          assert.deepStrictEqual(serialised, lines.map((line) => JSON.stringify(JSON.parse(line))))
        }))
    }

    it.effect("maps a tool-use transcript to tool, result and delta events", () =>
      Effect.gen(function*() {
        const text = fs.readFileSync(path.join(fixturesDir, "tool-hook-partial", "stdout.jsonl"), "utf8")
        const events = yield* decodeChunks([bytesOf(text)])
        const toolUse = events.find(ClaudeEvent.$is("ToolUse"))
        assert.strictEqual(toolUse?.name, "Bash")
        const toolResult = events.find(ClaudeEvent.$is("ToolResult"))
        assert.strictEqual(toolResult?.toolUseId, toolUse?.id)
        assert.strictEqual(toolResult?.content, "hi-from-tool")
        assert.isTrue(events.some(ClaudeEvent.$is("TextDelta")))
        assert.isTrue(events.some((e) => e._tag === "ControlRequest" && e.subtype === "hook_callback"))
        const result = events.findLast(ClaudeEvent.$is("Result"))
        assert.strictEqual(result?.error, undefined)
        assert.isAbove(result?.costUsd ?? 0, 0)
      }))

    it.effect("F12: an API failure dressed as success carries a typed error", () =>
      Effect.gen(function*() {
        const text = fs.readFileSync(path.join(fixturesDir, "api-401", "stdout.jsonl"), "utf8")
        const events = yield* decodeChunks([bytesOf(text)])
        const result = events.findLast(ClaudeEvent.$is("Result"))
        assert.strictEqual(result?.subtype, "success")
        assert.strictEqual(result?.error?._tag, "AuthenticationFailed")
      }))
  })

  describe("framing", () => {
    it.effect("F11: CRLF, blank lines, garbage and unknown types become events, nothing valid is dropped", () =>
      Effect.gen(function*() {
        const input = [
          "Debug: starting up\r\n",
          "\r\n",
          "\"a bare string\"\n",
          "{\"type\":\"future_frame\",\"x\":1}\r\n",
          "{\"type\":\"keep_alive\"}\r\n",
          "   \n",
          "{not json\n",
          "{\"type\":\"system\",\"subtype\":\"brand_new\",\"session_id\":\"s\"}"
        ].join("")
        const events = yield* decodeChunks(chunked(bytesOf(input), 3))
        assert.deepStrictEqual(events.map((e) => e._tag), [
          "Malformed",
          "Malformed",
          "Unknown",
          "Frame",
          "Malformed",
          "Frame"
        ])
        const unknown = events[2]
        assert.isTrue(unknown?._tag === "Unknown" && unknown.frame.x === 1 && !unknown.mismatch)
      }))

    it.effect("F11: UTF-8 split byte by byte across reads decodes byte-exact", () =>
      Effect.gen(function*() {
        const text = "héllo wörld — 日本語 🎉"
        const frame = { type: "assistant", message: { content: [{ type: "text", text }] } }
        const events = yield* decodeChunks(chunked(bytesOf(`${JSON.stringify(frame)}\n`), 1))
        const assistant = events[0]
        assert.isTrue(assistant?._tag === "AssistantText" && assistant.text === text)
      }))

    it.effect("F10: an oversized line is one diagnostic and the stream goes on", () =>
      Effect.gen(function*() {
        const limit = 64 * 1024
        const huge = JSON.stringify({
          type: "assistant",
          message: { content: [{ type: "text", text: "x".repeat(limit * 4) }] }
        })
        const after = JSON.stringify({ type: "keep_alive" })
        const events = yield* decodeChunks(chunked(bytesOf(`${huge}\n${after}\n`), 4096), { maxLineBytes: limit })
        assert.deepStrictEqual(events.map((e) => e._tag), ["Oversized", "Frame"])
        const oversized = events[0]
        assert.isTrue(oversized?._tag === "Oversized" && oversized.bytes === huge.length && oversized.limit === limit)
      }))

    it.effect("F10: a line just under the limit is delivered", () =>
      Effect.gen(function*() {
        const line = JSON.stringify({ type: "keep_alive", pad: "y".repeat(1000) })
        const events = yield* decodeChunks(chunked(bytesOf(`${line}\n`), 100), { maxLineBytes: line.length })
        assert.deepStrictEqual(events.map((e) => e._tag), ["Frame"])
      }))

    it.effect("a last line without a newline is still decoded", () =>
      Effect.gen(function*() {
        const events = yield* decodeChunks([bytesOf("{\"type\":\"keep_alive\"}")])
        assert.deepStrictEqual(events.map((e) => e._tag), ["Frame"])
      }))

    it.effect("a known type with the wrong shape is kept as Unknown, flagged as a mismatch", () =>
      Effect.gen(function*() {
        const events = yield* decodeChunks([bytesOf("{\"type\":\"result\",\"subtype\":3}\n")])
        const event = events[0]
        assert.isTrue(event?._tag === "Unknown" && event.mismatch && event.type === "result")
      }))

    it.effect("a batch of reads handed over at once is decoded and passed on read by read", () =>
      Effect.gen(function*() {
        const read = (n: number) => bytesOf(`${JSON.stringify({ type: "keep_alive", n })}\n`.repeat(n))
        // One upstream chunk of three reads: three chunks of events, not one holding all of them.
        const batches = yield* Stream.fromIterable([read(1), read(2), read(3)]).pipe(
          StreamHandler.events(),
          Stream.chunks,
          Stream.runCollect
        )
        assert.deepStrictEqual(batches.map((batch) => batch.length), [1, 2, 3])
        const lines = yield* Stream.fromIterable([read(2), read(1)]).pipe(
          StreamHandler.lines(),
          Stream.chunks,
          Stream.runCollect
        )
        assert.deepStrictEqual(lines.map((batch) => batch.map((item) => item.line)), [[1, 2], [3]])
      }))

    it.effect("an upstream failure still delivers the last partial line before it fails", () =>
      Effect.gen(function*() {
        const tags = yield* Stream.fromIterable([bytesOf("{\"type\":\"keep_alive\"}\n{\"type\":\"keep")]).pipe(
          Stream.concat(Stream.fail("boom")),
          StreamHandler.events(),
          Stream.map((event) => event._tag),
          Stream.catch((error) => Stream.make(`failed: ${error}`)),
          Stream.runCollect
        )
        assert.deepStrictEqual(tags, ["Frame", "Malformed", "failed: boom"])
      }))

    it.effect("pulls input only as fast as events are consumed (backpressure)", () =>
      Effect.gen(function*() {
        let pulled = 0
        const line = bytesOf(`${JSON.stringify({ type: "keep_alive" })}\n`)
        const source = Stream.fromIterable(Array.from({ length: 10_000 }, () => line)).pipe(
          Stream.rechunk(1),
          Stream.tap(() => Effect.sync(() => pulled++))
        )
        const taken = yield* source.pipe(StreamHandler.events(), Stream.take(5), Stream.runCollect)
        assert.strictEqual(taken.length, 5)
        assert.isBelow(pulled, 100, "the source is not drained ahead of the consumer")
      }))
  })
})

/**
 * F21: one line nested 100000 deep. `JSON.parse` takes it; `JSON.stringify` of what it parsed, and any
 * recursive walk over it, overflow the stack. The fake CLI writes such a frame (an `assistant` tool use
 * whose input nests arrays 100000 deep, the `deepLineDepth` knob) between a normal tool call and the reply.
 * A live turn reports that line as one diagnostic and delivers every other frame; `decode` of the same
 * output exits 0 and counts the diagnostic.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../../src/Claude.ts"
import type { ClaudeEvent } from "../../src/ClaudeEvent.ts"
import * as StreamHandler from "../../src/StreamHandler.ts"
import * as FakeCli from "../../src/testing/FakeCli.ts"
import { ClaudeTest, quickShutdown, tempDir } from "../utils.ts"

const DEPTH = 100_000
const root = path.join(import.meta.dirname, "..", "..")

/** What an event is, without the parts that differ from run to run (ids, times). */
const shape = (event: ClaudeEvent) => (event._tag === "AssistantText" ? `AssistantText:${event.text}` : event._tag)

const turn = (behavior: FakeCli.Behavior) =>
  Claude.query("go", { ...FakeCli.options(behavior), timeouts: { ...quickShutdown, firstEvent: 20_000 } }).pipe(
    Stream.runCollect,
    Effect.provide(ClaudeTest)
  )

describe("F21: deeply nested lines", () => {
  it.live("F21: a line nested 100000 deep is one diagnostic; every other frame of the turn arrives", () =>
    Effect.gen(function*() {
      const behavior = { reply: "still here", toolUse: { name: "Bash", input: { command: "ls" } } }
      const plain = yield* turn(behavior)
      const events = yield* turn({ ...behavior, deepLineDepth: DEPTH })

      const diagnostics = events.filter((e) => e._tag === "Malformed")
      assert.strictEqual(diagnostics.length, 1)
      const diagnostic = diagnostics[0]
      assert.isTrue(diagnostic?._tag === "Malformed" && diagnostic.error.includes("nested deeper than"))
      // The same events as the turn without the deep line, in the same order, plus the diagnostic.
      assert.deepStrictEqual(events.filter((e) => e._tag !== "Malformed").map(shape), plain.map(shape))
      assert.isTrue(events.some((e) => e._tag === "ToolUse" && e.name === "Bash"))
      const last = events.at(-1)
      assert.isTrue(last?._tag === "Result" && last.text === "still here" && last.error === undefined)
      // Nothing delivered is too deep to serialise.
      for (const event of events) assert.isString(JSON.stringify(event))
    }))

  it.live("F21: decode of the same output exits 0 and counts the deep line as a diagnostic", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("f21")
      const file = path.join(dir, "stdout.jsonl")
      // The fake CLI's own output for one turn (stdin EOF ends it after the result).
      const user = JSON.stringify({
        type: "user",
        session_id: "",
        message: { role: "user", content: [{ type: "text", text: "go" }] },
        parent_tool_use_id: null
      })
      const output = execFileSync(process.execPath, [
        FakeCli.path,
        "--output-format=stream-json",
        "--verbose",
        "--input-format=stream-json"
      ], {
        input: `${user}\n`,
        env: { ...process.env, ...FakeCli.environment({ reply: "still here", deepLineDepth: DEPTH }) },
        encoding: "utf8",
        timeout: 20_000,
        maxBuffer: 16 * 1024 * 1024
      })
      fs.writeFileSync(file, output)
      const lines = output.split("\n").filter((line) => line.trim() !== "")
      assert.isTrue(lines.some((line) => line.includes("[".repeat(DEPTH))), "the fake wrote the deep line")

      // execFileSync throws on a non-zero exit: getting here is exit 0.
      const printed = execFileSync(
        process.execPath,
        [path.join(root, "bin", "effect-claude-code.js"), "decode", file],
        {
          cwd: root,
          encoding: "utf8",
          timeout: 20_000
        }
      ).trimEnd().split("\n")
      assert.deepStrictEqual(JSON.parse(printed.at(-1) ?? "{}").summary, {
        lines: lines.length,
        frames: lines.length - 1,
        unknown: 0,
        malformed: 1,
        oversized: 0
      })
      const decoded = printed.slice(0, -1).map((line) => JSON.parse(line))
      assert.isTrue(decoded.some((e) => e._tag === "Malformed" && String(e.error).includes("nested deeper than")))
      assert.isTrue(decoded.some((e) => e._tag === "Result" && e.text === "still here"))
    }).pipe(Effect.scoped))

  it.effect("F21: the bound is exact: 512 levels is a frame, 513 a diagnostic, brackets inside strings do not count", () =>
    Effect.gen(function*() {
      const nested = (depth: number) =>
        JSON.stringify({ type: "keep_alive", pad: "x".repeat(2000) }).replace(
          "}",
          `,"v":${"[".repeat(depth - 1)}${"]".repeat(depth - 1)}}`
        )
      const tags = (line: string) =>
        Stream.make(new TextEncoder().encode(`${line}\n`)).pipe(
          StreamHandler.events(),
          Stream.map((e) => e._tag),
          Stream.runCollect
        )
      assert.deepStrictEqual(yield* tags(nested(512)), ["Frame"])
      assert.deepStrictEqual(yield* tags(nested(513)), ["Malformed"])
      const quoted = JSON.stringify({ type: "keep_alive", text: `${"[".repeat(5000)}"\\{` })
      assert.deepStrictEqual(yield* tags(quoted), ["Frame"])
    }))
})

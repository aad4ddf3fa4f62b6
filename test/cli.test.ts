import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..")
const bin = path.join(root, "bin", "effect-claude-code.js")
const fixturesDir = path.join(import.meta.dirname, "fixtures", "claude-cli-2.1.329")
const transcripts = fs.readdirSync(fixturesDir).filter((n) => fs.existsSync(path.join(fixturesDir, n, "stdout.jsonl")))

const runDecode = (args: ReadonlyArray<string>, input?: string) =>
  execFileSync(process.execPath, [bin, "decode", ...args], { cwd: root, input, encoding: "utf8", timeout: 20_000 })

/** Strings a transcript must not lose: assistant texts, tool names, result texts, session ids. */
const mustKeep = (lines: ReadonlyArray<string>): Array<string> => {
  const wanted: Array<string> = []
  for (const line of lines) {
    const frame = JSON.parse(line)
    if (typeof frame.session_id === "string" && frame.session_id !== "") wanted.push(frame.session_id)
    if (frame.type === "result" && typeof frame.result === "string") wanted.push(frame.result)
    if (frame.type === "assistant") {
      for (const block of frame.message.content) {
        if (block.type === "text") wanted.push(block.text)
        if (block.type === "tool_use") wanted.push(block.name)
      }
    }
  }
  return wanted
}

describe("effect-claude-code decode", () => {
  for (const name of transcripts) {
    it(`loses nothing of ${name}`, () => {
      const file = path.join(fixturesDir, name, "stdout.jsonl")
      const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "")
      const output = runDecode([file]).trimEnd().split("\n")
      const summary = JSON.parse(output.at(-1) ?? "{}").summary
      assert.deepStrictEqual(summary, {
        lines: lines.length,
        frames: lines.length,
        unknown: 0,
        malformed: 0,
        oversized: 0
      })
      const events = output.slice(0, -1).map((line) => JSON.parse(line))
      const printed = JSON.stringify(events)
      for (const text of mustKeep(lines)) assert.include(printed, JSON.stringify(text).slice(1, -1))
    })
  }

  it("reads standard input and counts garbage, unknown and oversized lines", () => {
    const input = [
      "banner text",
      JSON.stringify({ type: "brand_new_frame", n: 1 }),
      JSON.stringify({ type: "keep_alive", pad: "z".repeat(5000) }),
      JSON.stringify({ type: "keep_alive" })
    ].join("\r\n")
    const output = runDecode(["--max-line-bytes", "2048"], input).trimEnd().split("\n")
    assert.deepStrictEqual(JSON.parse(output.at(-1) ?? "{}").summary, {
      lines: 4,
      frames: 2,
      unknown: 1,
      malformed: 1,
      oversized: 1
    })
  })

  it("exits non-zero when the input cannot be read", () => {
    assert.throws(() => runDecode([path.join(root, "no-such-file.jsonl")]))
  })
})

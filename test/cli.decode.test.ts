import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { decodeTranscript } from "../src/cli.ts"
import { StreamHandler } from "../src/index.ts"
import { tempDir } from "./utils.ts"

const root = path.join(import.meta.dirname, "..")
const bin = path.join(root, "bin", "effect-claude-code.js")
const fixture = path.join(import.meta.dirname, "fixtures", "claude-cli-2.1.329", "tool-hook-partial", "stdout.jsonl")

/** Runs the command line as a user would, bounded: exit status, stdout, stderr. */
const run = (args: ReadonlyArray<string>, input = "") => {
  const child = spawnSync(process.execPath, [bin, ...args], { cwd: root, input, encoding: "utf8", timeout: 45_000 })
  if (child.error !== undefined) throw child.error
  return { status: child.status, stdout: child.stdout, stderr: child.stderr }
}

/** A printed event: a JSON object with a `_tag`. */
const isEvent = (u: unknown): u is { readonly _tag: string; readonly [field: string]: unknown } =>
  typeof u === "object" && u !== null && "_tag" in u && typeof u._tag === "string"

const jsonLines = (text: string): Array<unknown> =>
  text.split("\n").filter((line) => line !== "").map((line): unknown => JSON.parse(line))

/** What the library's own pipeline makes of the bytes, as JSON values. */
const libraryEvents = (bytes: Uint8Array, maxLineBytes: number) =>
  Stream.make(bytes).pipe(
    StreamHandler.events({ maxLineBytes }),
    Stream.runCollect,
    Effect.map((events) => events.map((event): unknown => JSON.parse(JSON.stringify(event))))
  )

describe("effect-claude-code decode (the command line)", () => {
  it.effect("prints of a file exactly the events a live session's StreamHandler makes of it, then the counts", () =>
    Effect.gen(function*() {
      const recorded = fs.readFileSync(fixture, "utf8").split("\n").filter((line) => line.trim() !== "")
      const limit = Math.max(...recorded.map((line) => Buffer.byteLength(line))) + 100
      const oversized = JSON.stringify({ type: "keep_alive", pad: "y".repeat(limit) })
      // The real transcript with CRLF line ends, and between its frames every kind of line the CLI should
      // never print: garbage, JSON that is no frame, a frame type this library does not know, blank lines, a
      // line over the limit; the last line has no newline.
      const text = [
        recorded[0],
        "Warning: something on stdout",
        "",
        ...recorded.slice(1, 3),
        "[1, 2, 3]",
        JSON.stringify({ type: "frame_from_the_future", x: 1 }),
        oversized,
        "   ",
        ...recorded.slice(3)
      ].join("\r\n")
      const file = path.join(yield* tempDir("decode"), "transcript.jsonl")
      fs.writeFileSync(file, text)

      const { status, stderr, stdout } = run(["decode", "--max-line-bytes", String(limit), file])
      assert.strictEqual(status, 0, stderr)
      const printed = jsonLines(stdout)
      assert.deepStrictEqual(printed.slice(0, -1), yield* libraryEvents(new TextEncoder().encode(text), limit))
      assert.deepStrictEqual(printed.at(-1), {
        summary: { lines: recorded.length + 4, frames: recorded.length + 1, unknown: 1, malformed: 2, oversized: 1 }
      })
      const diagnostics = printed.filter(isEvent)
        .filter((event) => event._tag === "Malformed" || event._tag === "Oversized" || event._tag === "Unknown")
        .map(({ _tag, bytes, line, text, type }) => ({ _tag, line, text, type, bytes }))
      // Line numbers are the file's (the blank third line is skipped but counted, as an editor counts it); an
      // oversized line's size is of all its bytes before the newline, its CR included.
      assert.deepStrictEqual(diagnostics, [
        { _tag: "Malformed", line: 2, text: "Warning: something on stdout", type: undefined, bytes: undefined },
        { _tag: "Malformed", line: 6, text: "[1,2,3]", type: undefined, bytes: undefined },
        { _tag: "Unknown", line: undefined, text: undefined, type: "frame_from_the_future", bytes: undefined },
        { _tag: "Oversized", line: 8, text: undefined, type: undefined, bytes: Buffer.byteLength(oversized) + 1 }
      ])
    }))

  it("reads a CLI transcript file as well: its messages are the stream's events, its own entries Unknown, whole", () => {
    const transcript = path.join(
      import.meta.dirname,
      "fixtures",
      "claude-cli-2.1.329",
      "transcript-tool-use",
      "transcript.jsonl"
    )
    const { status, stderr, stdout } = run(["decode", transcript])
    assert.strictEqual(status, 0, stderr)
    const printed = jsonLines(stdout)
    const events = printed.filter(isEvent)
    const tags = events.map((event) => event._tag)
    assert.includeMembers(tags, ["UserMessage", "AssistantText", "ToolUse", "ToolResult"])
    assert.isFalse(
      events.some((event) => event._tag === "Unknown" && event["mismatch"] === true),
      "every message decodes"
    )
    assert.isFalse(events.some((event) => event._tag === "Malformed"))
    const toolUse = events.find((event) => event._tag === "ToolUse")
    assert.deepInclude(toolUse, { id: "toolu_fixture_1", name: "Bash", input: { command: "echo hi" } })
    assert.deepInclude(events.find((event) => event._tag === "ToolResult"), {
      toolUseId: "toolu_fixture_1",
      isError: false
    })
    const queue = events.find((event) => event._tag === "Unknown" && event["type"] === "queue-operation")
    assert.deepInclude(queue, { mismatch: false })
    const lines = fs.readFileSync(transcript, "utf8").split("\n").filter((line) => line !== "").length
    assert.deepStrictEqual(printed.at(-1), {
      summary: { lines, frames: lines, unknown: lines - 6, malformed: 0, oversized: 0 }
    })
  })

  it("reads standard input when no file is given; empty input is a summary of zeros", () => {
    const { status, stdout } = run(["decode"], "\n\n")
    assert.strictEqual(status, 0)
    assert.deepStrictEqual(jsonLines(stdout), [{
      summary: { lines: 0, frames: 0, unknown: 0, malformed: 0, oversized: 0 }
    }])
  })

  it("exits 1 with the reason on standard error, and prints nothing on standard output, when the file cannot be read", () => {
    const missing = path.join(root, "no-such-transcript.jsonl")
    const { status, stderr, stdout } = run(["decode", missing])
    assert.strictEqual(status, 1)
    assert.strictEqual(stdout, "")
    // Said once, by the command, with the file and the platform's reason; the runtime does not log it again.
    const complaints = stderr.trim().split("\n")
    assert.lengthOf(complaints, 1, stderr)
    assert.match(complaints[0] ?? "", /^effect-claude-code decode: cannot read .*no-such-transcript\.jsonl: .*NotFound/)
  })

  it.skipIf(!fs.existsSync("/dev/full"))(
    "exits 1 with the reason on standard error when standard output cannot be written",
    () => {
      // /dev/full refuses every write with ENOSPC, as a full disk or a closed pipe's reader would.
      const full = fs.openSync("/dev/full", "w")
      const child = spawnSync(process.execPath, [bin, "decode"], {
        cwd: root,
        input: `${JSON.stringify({ type: "keep_alive" })}\n`,
        stdio: ["pipe", full, "pipe"],
        encoding: "utf8",
        timeout: 45_000
      })
      fs.closeSync(full)
      assert.strictEqual(child.status, 1)
      assert.match(child.stderr, /^effect-claude-code decode: cannot write standard output: .*ENOSPC/)
    }
  )

  it("refuses a --max-line-bytes that is no number, and a subcommand that does not exist, with exit 1", () => {
    const badFlag = run(["decode", "--max-line-bytes", "lots"], "")
    assert.strictEqual(badFlag.status, 1)
    assert.include(badFlag.stderr, "Invalid value for flag --max-line-bytes: \"lots\"")
    const badCommand = run(["frobnicate"])
    assert.strictEqual(badCommand.status, 1)
    assert.include(badCommand.stderr, "Unknown subcommand \"frobnicate\"")
  })

  it("--help names the decode command and its options; --version the package's version", () => {
    const help = run(["--help"])
    assert.strictEqual(help.status, 0)
    assert.include(help.stdout, "effect-claude-code <subcommand>")
    assert.match(help.stdout, /decode\s+Decode a Claude Code stream-json transcript into effect-claude-code events/)
    const decodeHelp = run(["decode", "--help"])
    assert.strictEqual(decodeHelp.status, 0)
    assert.include(decodeHelp.stdout, "effect-claude-code decode [flags] [<file>]")
    assert.include(decodeHelp.stdout, "standard input when omitted")
    assert.match(decodeHelp.stdout, /--max-line-bytes integer\s+Lines longer than this are reported as oversized/)
    const version = run(["--version"])
    assert.strictEqual(version.status, 0)
    assert.strictEqual(version.stdout.trim(), "effect-claude-code v0.1.0")
  })
})

describe("decodeTranscript (what the command prints, in process)", () => {
  const decoded = (text: string, maxLineBytes?: number) =>
    decodeTranscript(
      Stream.make(new TextEncoder().encode(text)),
      maxLineBytes === undefined ? undefined : { maxLineBytes }
    )
      .pipe(Stream.runCollect, Effect.map((chunks) => jsonLines(chunks.join(""))))

  it.effect("counts a line once however many events it makes: an assistant frame of two blocks is one frame", () =>
    Effect.gen(function*() {
      const assistant = JSON.stringify({
        type: "assistant",
        session_id: "s",
        uuid: "u",
        parent_tool_use_id: null,
        message: { id: "m", role: "assistant", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] }
      })
      const printed = yield* decoded(`${assistant}\n`)
      assert.deepStrictEqual(printed.slice(0, -1).filter(isEvent).map((event) => event._tag), [
        "AssistantText",
        "AssistantText"
      ])
      assert.deepStrictEqual(printed.at(-1), {
        summary: { lines: 1, frames: 1, unknown: 0, malformed: 0, oversized: 0 }
      })
    }))

  it.effect("uses the StreamHandler's default line limit when given none", () =>
    Effect.gen(function*() {
      const line = `${JSON.stringify({ type: "keep_alive", pad: "z".repeat(70_000) })}\n`
      assert.deepStrictEqual((yield* decoded(line)).at(-1), {
        summary: { lines: 1, frames: 1, unknown: 0, malformed: 0, oversized: 0 }
      })
      assert.deepStrictEqual((yield* decoded(line, 65_536)).at(-1), {
        summary: { lines: 1, frames: 0, unknown: 0, malformed: 0, oversized: 1 }
      })
    }))
})

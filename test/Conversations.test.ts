/**
 * Conversations on a transcript the real CLI wrote (test/fixtures/claude-cli-2.1.329/transcript-tool-use), laid
 * out in a temp config dir as the CLI lays it out: what a crash, a newer CLI or a long transcript leave in the
 * file is read without a crash.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Conversations from "../src/Conversations.ts"
import * as Transcript from "../src/Transcript.ts"
import { tempDir } from "./utils.ts"

const fixture = path.join(
  import.meta.dirname,
  "fixtures",
  "claude-cli-2.1.329",
  "transcript-tool-use",
  "transcript.jsonl"
)
const ada = "5a1e0c2b-7d3f-4e8a-9b61-2c4d6e8f0a1b"
const recorded = fs.readFileSync(fixture, "utf8")

/** A config dir holding the fixture (as edited by `edit`) as the conversation `ada` of the project `/home/user`. */
const withTranscript = <A, E>(
  edit: (text: string) => string,
  body: (file: string) => Effect.Effect<A, E, Conversations.Conversations>
) =>
  Effect.gen(function*() {
    const configDir = yield* tempDir("conversations-unit")
    const project = path.join(configDir, "projects", Transcript.projectDirName("/home/user"))
    fs.mkdirSync(project, { recursive: true })
    const file = path.join(project, `${ada}.jsonl`)
    fs.writeFileSync(file, edit(recorded))
    return yield* body(file).pipe(
      Effect.provide(Conversations.layer({ configDir }).pipe(Layer.provide(NodeServices.layer)))
    )
  }).pipe(Effect.scoped)

describe("Conversations on a captured transcript", () => {
  it.effect("a line cut off by a crash and an entry of a newer CLI: a Malformed diagnostic and an Unknown event, and the messages still read", () =>
    withTranscript(
      (text) =>
        `${text}${JSON.stringify({ type: "entry-from-the-future", sessionId: ada, x: 1 })}\n{"type":"assistant","mess`,
      () =>
        Effect.gen(function*() {
          const conversations = yield* Conversations.Conversations
          const events = yield* conversations.readTranscript(ada).pipe(Stream.runCollect)
          const lines = recorded.split("\n").filter((line) => line !== "").length
          assert.deepInclude(events.at(-1), { _tag: "Malformed", line: lines + 2 })
          assert.deepInclude(events.at(-2), { _tag: "Unknown", type: "entry-from-the-future", mismatch: false })
          const messages = yield* conversations.getSessionMessages(ada)
          assert.strictEqual(messages.map((m) => m.type).join(" "), "user assistant user assistant user assistant")
          assert.deepStrictEqual(
            messages.map((m) => m.events.map((event) => event._tag)),
            [["UserMessage"], ["AssistantText"], ["UserMessage"], ["ToolUse"], ["ToolResult"], ["AssistantText"]]
          )
          const info = Option.getOrUndefined(yield* conversations.getSessionInfo(ada))
          assert.strictEqual(info?.firstPrompt, "My name is Ada.")
          assert.strictEqual(info?.cwd, "/home/user")
        })
    ))

  it.effect("a transcript past 64 KiB: the title is read from its tail, the first prompt and start time from its head", () =>
    withTranscript(
      (text) => {
        const filler = JSON.stringify({ type: "filler", sessionId: ada, pad: "x".repeat(200 * 1024) })
        const title = JSON.stringify({ type: "custom-title", customTitle: "Long one", sessionId: ada })
        return `${text}${filler}\n${title}\n`
      },
      (file) =>
        Effect.gen(function*() {
          const conversations = yield* Conversations.Conversations
          const info = Option.getOrUndefined(yield* conversations.getSessionInfo(ada, { dir: "/home/user" }))
          assert.strictEqual(info?.summary, "Long one")
          assert.strictEqual(info?.firstPrompt, "My name is Ada.")
          assert.strictEqual(info?.fileSize, fs.statSync(file).size)
          assert.strictEqual(info?.createdAt, Date.parse(JSON.parse(recorded.split("\n")[0] ?? "{}").timestamp))
        })
    ))

  it.effect("a subagent's transcript (its first entry a sidechain) and an empty file are not conversations", () =>
    withTranscript(
      // As a subagent's transcript starts: with its first message, a sidechain (no queue entries before it).
      (text) =>
        text.split("\n").filter((line) => !line.includes(`"queue-operation"`)).join("\n")
          .replace(`"isSidechain":false`, `"isSidechain":true`),
      (file) =>
        Effect.gen(function*() {
          const conversations = yield* Conversations.Conversations
          fs.writeFileSync(path.join(path.dirname(file), "11111111-2222-4333-8444-555555555555.jsonl"), "")
          assert.include(fs.readFileSync(file, "utf8").split("\n")[0], `"isSidechain":true`)
          assert.deepStrictEqual(yield* conversations.listSessions(), [])
          const empty = yield* Effect.flip(conversations.getSessionMessages("11111111-2222-4333-8444-555555555555"))
          assert.strictEqual(empty.reason, "NotFound")
        })
    ))

  it.effect("renameSession appends the entry the SDK appends; a fork's file holds fresh ids chained as the source's", () =>
    withTranscript((text) => text, (file) =>
      Effect.gen(function*() {
        const conversations = yield* Conversations.Conversations
        yield* conversations.renameSession(ada, " Renamed ")
        yield* conversations.tagSession(ada, "t")
        const tail = fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-2).map((line): unknown =>
          JSON.parse(line)
        )
        assert.deepStrictEqual(tail, [
          { type: "custom-title", customTitle: "Renamed", sessionId: ada },
          { type: "tag", tag: "t", sessionId: ada }
        ])
        const { sessionId } = yield* conversations.forkSession(ada)
        const forked = fs.readFileSync(path.join(path.dirname(file), `${sessionId}.jsonl`), "utf8").trimEnd().split(
          "\n"
        )
          .map((line): Record<string, unknown> => JSON.parse(line))
        const uuids = new Set(forked.map((entry) => entry["uuid"]))
        assert.isTrue(forked.every((entry) => entry["sessionId"] === sessionId))
        assert.isTrue(
          forked.every((entry) =>
            entry["parentUuid"] === undefined || entry["parentUuid"] === null || uuids.has(entry["parentUuid"])
          )
        )
        assert.isFalse(forked.some((entry) => recorded.includes(String(entry["uuid"]))), "no uuid of the source")
        assert.deepInclude(forked.at(-1), { type: "custom-title", customTitle: "Renamed (fork)" })
        assert.strictEqual(fs.statSync(path.join(path.dirname(file), `${sessionId}.jsonl`)).mode & 0o777, 0o600)
      })))

  it("projectDirName names a long cwd as the CLI does: cut at 200 characters, then a hash of the path", () => {
    const long = `/tmp/${"a".repeat(250)}`
    const name = Transcript.projectDirName(long)
    assert.strictEqual(name.slice(0, 201), `-tmp-${"a".repeat(195)}-`)
    assert.match(name.slice(201), /^[0-9a-z]+$/)
    assert.strictEqual(Transcript.projectDirName("/tmp/a_b.c"), "-tmp-a-b-c")
  })
})

import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Transcript from "../src/Transcript.ts"
import { tempDir } from "./utils.ts"

// Entries in the shapes CLI 2.1.329 writes (trimmed): request blobs and attachments carry `message` too, and
// must not count; a subagent's entries are sidechains.
const lines = [
  { type: "user", message: { role: "user", content: [{ type: "text", text: "run it" }] } },
  { type: "api-request-blob", message: { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_b" }] } },
  { type: "assistant", message: { content: [{ type: "tool_use", id: "toolu_a", name: "Bash", input: {} }] } },
  {
    type: "user",
    message: { content: [{ tool_use_id: "toolu_a", type: "tool_result", content: "hi", is_error: false }] }
  },
  { type: "assistant", message: { content: [{ type: "tool_use", id: "toolu_b", name: "Bash", input: {} }] } },
  { type: "assistant", isSidechain: true, message: { content: [{ type: "tool_use", id: "toolu_sub", name: "Read" }] } }
].map((entry) => JSON.stringify(entry))

describe("Transcript", () => {
  it("F14: finds the tool calls without a result, those the CLI reported included; skips cut-off lines", () => {
    const contents = Transcript.parse("t.jsonl", `${lines.join("\n")}\n{"type":"user","mess`)
    assert.deepStrictEqual(contents.toolUseIds, ["toolu_a", "toolu_b"])
    assert.deepStrictEqual([...contents.toolResultIds], ["toolu_a"])
    assert.deepStrictEqual(Transcript.unresolved(contents), ["toolu_b"])
    assert.deepStrictEqual(Transcript.unresolved(contents, ["toolu_a", "toolu_c"]), ["toolu_b", "toolu_c"])
  })

  it("the config dir: CLAUDE_CONFIG_DIR, else $HOME/.claude; the project dir name of a cwd", () => {
    assert.strictEqual(Transcript.configDir({ HOME: "/h", CLAUDE_CONFIG_DIR: "/c" }), "/c")
    assert.strictEqual(Transcript.configDir({ HOME: "/h/" }), "/h/.claude")
    assert.isUndefined(Transcript.configDir({}))
    assert.strictEqual(Transcript.projectDirName("/tmp/a_b.c"), "-tmp-a-b-c")
  })

  it.effect("read: the session's file in whichever project directory holds it; None when none does", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("transcript")
      const project = path.join(dir, "projects", Transcript.projectDirName("/some/cwd"))
      fs.mkdirSync(project, { recursive: true })
      fs.mkdirSync(path.join(dir, "projects", "-other"))
      fs.writeFileSync(path.join(project, "s1.jsonl"), lines.join("\n"))
      const transcripts = yield* Transcript.Transcript
      const found = yield* transcripts.read(dir, "s1")
      assert.isTrue(Option.isSome(found) && found.value.path === path.join(project, "s1.jsonl"))
      assert.isTrue(Option.isNone(yield* transcripts.read(dir, "s2")))
      assert.isTrue(Option.isNone(yield* transcripts.read(path.join(dir, "absent"), "s1")))
    }).pipe(Effect.provide(Transcript.layer.pipe(Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))))))
})

import { assert, describe, it } from "@effect/vitest"
import * as SlashCommands from "../src/internal/slashCommands.ts"
import type * as Protocol from "../src/Protocol.ts"

// What the real CLI 2.1.329 did with each prompt (against the FakeApi): "command" when it answered without
// an API request (`/model x` then switched the process's model), "text" when the API got the text as is.
const observed: ReadonlyArray<readonly [string, Protocol.UserContent, "command" | "text"]> = [
  ["a string", "/model claude-opus-4-1", "command"],
  ["one text block", [{ type: "text", text: "/model claude-opus-4-1" }], "command"],
  [
    "the last of two blocks",
    [{ type: "text", text: "hi" }, { type: "text", text: "/model claude-opus-4-1" }],
    "command"
  ],
  ["a command without arguments", "/cost", "command"],
  ["the first of two blocks", [{ type: "text", text: "/model claude-opus-4-1" }, { type: "text", text: "hi" }], "text"],
  ["a leading space", " /model claude-opus-4-1", "text"],
  ["a leading newline", "\n/model claude-opus-4-1", "text"],
  ["a doubled slash", "//model claude-opus-4-1", "text"],
  ["a path", "/etc/passwd what is this file", "text"],
  ["plain text", "what does /model do?", "text"]
]

describe("slash commands in prompts", () => {
  for (const [form, prompt, cli] of observed) {
    it(`F19: ${form}: read as ${cli}, as the CLI 2.1.329 reads it`, () => {
      assert.strictEqual(SlashCommands.commandIn(prompt) === undefined ? "text" : "command", cli)
    })
  }

  it("F19: a command's name and arguments are parsed as the CLI parses them", () => {
    assert.deepStrictEqual(SlashCommands.commandIn("/config  permissionMode=plan "), {
      name: "config",
      args: "permissionMode=plan"
    })
    assert.deepStrictEqual(SlashCommands.commandIn("/plugin:cmd"), { name: "plugin:cmd", args: "" })
    assert.strictEqual(SlashCommands.render({ name: "model", args: "opus" }), "/model opus")
    assert.strictEqual(SlashCommands.render({ name: "cost", args: "" }), "/cost")
  })

  it("F19: what a command may change: reports, the process, or settings other CLIs read", () => {
    const reach = (name: string, args = "") => SlashCommands.reachOf({ name, args })
    assert.deepStrictEqual(
      [reach("cost"), reach("context"), reach("model"), reach("config"), reach("output-style")],
      ["nothing", "nothing", "nothing", "nothing", "nothing"]
    )
    assert.deepStrictEqual(
      [reach("model", "opus"), reach("effort", "high"), reach("compact"), reach("rename", "x"), reach("my-skill")],
      ["process", "process", "process", "process", "process"]
    )
    assert.deepStrictEqual(
      [
        reach("config", "permissionMode=plan"),
        reach("Config", "model=opus"),
        reach("autocompact", "100000"),
        reach("output-style", "Concise"),
        reach("auto-mode-setup")
      ],
      ["shared", "shared", "shared", "shared", "shared"]
    )
  })
})

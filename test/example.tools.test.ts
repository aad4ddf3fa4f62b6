import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..")

describe("npm run example:tools (examples/tools.ts)", () => {
  it("serves an effect/ai toolkit to the real CLI: the model's call runs the handler here and its answer goes back", () => {
    const { ANTHROPIC_API_KEY: _key, CLAUDE_CODE_OAUTH_TOKEN: _token, ...env } = process.env
    const output = execFileSync(process.execPath, ["--conditions=effect-claude-code-source", "examples/tools.ts"], {
      cwd: root,
      env,
      encoding: "utf8",
      timeout: 30_000
    })
    assert.deepStrictEqual(output.trim().split("\n"), [
      "[model] calls mcp__calc__add {\"a\":2,\"b\":40}",
      "[handler] add(2, 40) in the host process",
      "[cli] the tool answered [{\"type\":\"text\",\"text\":\"42\"}]",
      "[result] 2 and 40 make 42."
    ])
  })
})

import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..")

describe("npm run example:structured (examples/structured.ts)", () => {
  it("gets a typed object from the real CLI twice: by Claude.generateObject and by LanguageModel.generateObject", () => {
    const { ANTHROPIC_API_KEY: _key, CLAUDE_CODE_OAUTH_TOKEN: _token, ...env } = process.env
    const output = execFileSync(
      process.execPath,
      ["--conditions=effect-claude-code-source", "examples/structured.ts"],
      {
        cwd: root,
        env,
        encoding: "utf8",
        timeout: 30_000
      }
    )
    assert.deepStrictEqual(output.trim().split("\n"), [
      "[Claude.generateObject] Planning at 2026-12-03T10:00:00.000Z with ada, alan",
      "[result] success, the object as text: {\"title\":\"Planning\",\"at\":\"2026-12-03T10:00:00.000Z\",\"attendees\":[\"ada\",\"alan\"]}",
      "[LanguageModel.generateObject] Planning, a Date: true"
    ])
  })
})

import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..")

describe("npm start (examples/demo.ts)", () => {
  it("runs a turn offline against the FakeApi and ends with a summary line", () => {
    const { ANTHROPIC_API_KEY: _key, CLAUDE_CODE_OAUTH_TOKEN: _token, ...env } = process.env
    const output = execFileSync(process.execPath, ["--conditions=development", "examples/demo.ts"], {
      cwd: root,
      env,
      encoding: "utf8",
      timeout: 30_000
    })
    assert.include(output, "offline FakeApi")
    assert.include(output, "[tool] Bash")
    assert.include(output, "[tool result] \"hello from a tool\"")
    assert.match(output, /\d+ turn\(s\) in \d+ ms .* cost \$\d+\.\d+, session [0-9a-f-]{36}/)
  })
})

describe("npm run example:pool (examples/pool.ts)", () => {
  it("runs three conversations on one warm process, none seeing another's turns", () => {
    const output = execFileSync(process.execPath, ["--conditions=development", "examples/pool.ts"], {
      cwd: root,
      encoding: "utf8",
      timeout: 30_000
    })
    const lines = output.trim().split("\n")
    assert.strictEqual(lines.length, 4, output)
    assert.include(lines[2], "Forty-two.")
    assert.include(lines[2], "pool: 1 process(es), 1 spawned")
    assert.strictEqual(lines[3], "no conversation saw another's turns")
  })
})

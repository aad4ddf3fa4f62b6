import { assert, describe, it } from "@effect/vitest"
import * as FakeCli from "../src/testing/FakeCli.ts"

/** Runs `f` with `NODE_V8_COVERAGE` set to `value` (unset for `undefined`), then puts the host's back. */
const withCoverageVariable = <A>(value: string | undefined, f: () => A): A => {
  const saved = process.env.NODE_V8_COVERAGE
  if (value === undefined) delete process.env.NODE_V8_COVERAGE
  else process.env.NODE_V8_COVERAGE = value
  try {
    return f()
  } finally {
    if (saved === undefined) delete process.env.NODE_V8_COVERAGE
    else process.env.NODE_V8_COVERAGE = saved
  }
}

describe("FakeCli.environment", () => {
  it("is the behaviour alone outside a coverage run", () => {
    withCoverageVariable(undefined, () => {
      assert.deepStrictEqual(FakeCli.environment(), { FAKE_CLI_BEHAVIOR: "{}" })
      assert.deepStrictEqual(FakeCli.environment({ reply: "hi" }), { FAKE_CLI_BEHAVIOR: "{\"reply\":\"hi\"}" })
    })
  })

  it("passes the host's NODE_V8_COVERAGE on, which the CLI's allow-listed environment would drop", () => {
    withCoverageVariable("/tmp/v8-coverage-dir", () => {
      assert.deepStrictEqual(FakeCli.environment(), {
        FAKE_CLI_BEHAVIOR: "{}",
        NODE_V8_COVERAGE: "/tmp/v8-coverage-dir"
      })
      assert.strictEqual(FakeCli.options({ reply: "hi" }).env.NODE_V8_COVERAGE, "/tmp/v8-coverage-dir")
    })
  })

  it("ignores an empty NODE_V8_COVERAGE (Node collects nothing for it)", () => {
    withCoverageVariable("", () => {
      assert.deepStrictEqual(FakeCli.environment(), { FAKE_CLI_BEHAVIOR: "{}" })
    })
  })
})

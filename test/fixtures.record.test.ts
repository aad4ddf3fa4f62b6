/**
 * `npm run fixtures:record` stays in step with the committed transcripts: the recorder re-records `basic` and
 * `noinit` from the pinned CLI and the FakeApi into a temp dir, and their decoded events (ids, timestamps and
 * durations normalised) equal the committed folders'. The CLI is gone afterwards, its process group with it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as path from "node:path"
import { decodedEvents, decodedFolder, diffEvents } from "../scripts/fixtures/decoded.ts"
import { scenarios } from "../scripts/fixtures/index.ts"
import { recordScenario } from "../scripts/fixtures/record.ts"
import { isAlive, tempDir } from "./utils.ts"

const committed = path.join(import.meta.dirname, "fixtures", "claude-cli-2.1.329")

describe("fixtures:record", () => {
  for (const name of ["basic", "noinit"]) {
    it.live(
      `re-records ${name} into a temp dir with the committed fixture's decoded events`,
      () =>
        Effect.gen(function*() {
          const scenario = scenarios.find((s) => s.name === name)
          assert.isDefined(scenario)
          if (scenario === undefined) return
          const out = yield* tempDir("fixtures-record")
          const recorded = yield* recordScenario(scenario, out).pipe(Effect.timeout("45 seconds"), Effect.orDie)
          assert.strictEqual(recorded.code, 0)
          const before = decodedFolder(path.join(committed, name)) ?? []
          const after = decodedFolder(recorded.dir) ?? []
          assert.isAbove(before.length, 3)
          assert.deepStrictEqual(diffEvents(before, after), [])
          assert.isFalse(recorded.pid !== undefined && isAlive(recorded.pid), "the recorded CLI is still alive")
        }).pipe(Effect.scoped),
      60_000
    )
  }

  it("the check sees a difference: another answer text is a `-`/`+` pair", () => {
    const line = (text: string) =>
      JSON.stringify({
        type: "assistant",
        message: { id: "msg_1", role: "assistant", content: [{ type: "text", text }] }
      })
    const diff = diffEvents(decodedEvents([line("one")]), decodedEvents([line("two")]))
    assert.strictEqual(diff.length, 2)
    assert.match(diff[0] ?? "", /^\+ .*"two"/)
    assert.match(diff[1] ?? "", /^- .*"one"/)
  })
})

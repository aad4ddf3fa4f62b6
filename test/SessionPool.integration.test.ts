import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { withRealPool } from "./utils.ts"

// The pool on the real CLI (node_modules/.bin/claude) against the FakeApi (see `withRealPool`).
/** Waits (real time, bounded) until no process of the pool is starting or being recycled. */
const settled = SessionPool.SessionPool.use((pool) => pool.stats).pipe(
  Effect.filterOrFail((stats) => stats.keys.every((key) => key.starting === 0 && key.resetting === 0)),
  Effect.retry(Schedule.spaced("20 millis")),
  Effect.timeoutOrElse({
    duration: "10 seconds",
    orElse: () => Effect.die(new Error("the pool did not settle (a process starting or resetting) within 10 s"))
  })
)

const firstUserTexts = (request: FakeApi.RecordedRequest | undefined) =>
  request === undefined ? [] : FakeApi.userTexts(request)

describe("SessionPool against the real CLI", () => {
  it.live("F18: two conversations through one pooled process: the second sees nothing of the first", () =>
    withRealPool(
      [FakeApi.text("Stored."), FakeApi.text("Still stored."), FakeApi.text("Fresh start.")],
      { max: 1, minIdle: 0 },
      (options, api) =>
        Effect.gen(function*() {
          const pool = yield* SessionPool.SessionPool
          const first = yield* Effect.scoped(Effect.gen(function*() {
            const session = yield* pool.acquire({ options })
            yield* session.ask("the secret is KIWI-4471")
            const again = yield* session.ask("and the code is PLUM-99")
            return { pid: session.pid, sessionId: again.sessionId }
          }))
          const second = yield* Effect.scoped(Effect.gen(function*() {
            const session = yield* pool.acquire({ options })
            const result = yield* session.ask("hello, who are you?")
            return { pid: session.pid, sessionId: result.sessionId, text: result.text }
          }))
          assert.strictEqual(second.pid, first.pid, "one process served both conversations")
          assert.notStrictEqual(second.sessionId, first.sessionId)
          assert.strictEqual(second.text, "Fresh start.")
          const requests = yield* api.conversationRequests
          assert.strictEqual(requests.length, 3)
          // The earlier conversation's second request carried its first turn; the new one's carries nothing of it.
          assert.include(JSON.stringify(requests[1]?.body), "KIWI-4471")
          const fresh = JSON.stringify(requests[2]?.body)
          assert.include(fresh, "hello, who are you?")
          for (const secret of ["KIWI-4471", "PLUM-99", "Stored."]) assert.notInclude(fresh, secret)
          assert.deepStrictEqual(firstUserTexts(requests[2]).filter((text) => text.includes("KIWI")), [])
          const stats = yield* pool.stats
          assert.strictEqual(stats.spawned, 1)
        })
    ))

  it.live("Claude.query reuses a warm process; a different cwd never shares it (F18)", () =>
    withRealPool(
      [FakeApi.text("one"), FakeApi.text("two"), FakeApi.text("three")],
      { max: 4, minIdle: 0 },
      (options, _api, home) =>
        Effect.gen(function*() {
          const pool = yield* SessionPool.SessionPool
          const pidOf = (config: ClaudeOptions.Input) =>
            Effect.scoped(
              Effect.flatMap(pool.acquire({ options: config }), (session) => Effect.as(session.ask("hi"), session.pid))
            )
          const a = yield* pidOf(options)
          const otherCwd = path.join(home, "elsewhere")
          fs.mkdirSync(otherCwd, { recursive: true })
          const b = yield* pidOf({ ...options, cwd: otherCwd })
          yield* settled
          const stats = yield* pool.stats
          assert.notStrictEqual(a, b)
          assert.strictEqual(stats.keys.length, 2)
          const events = yield* Claude.query("third", options).pipe(Stream.runCollect)
          assert.strictEqual(events.at(-1)?._tag, "Result")
          assert.strictEqual((yield* pool.stats).spawned, 2, "the query ran on the first key's warm process")
        })
    ))
})

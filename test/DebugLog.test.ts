import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, FileSystem, Layer, Option, Schema, Stream } from "effect"
import * as Claude from "../src/Claude.ts"
import * as ClaudeError from "../src/ClaudeError.ts"
import { ClaudeEvent } from "../src/ClaudeEvent.ts"
import * as DebugLog from "../src/DebugLog.ts"
import { readTail } from "../src/internal/debugLog.ts"
import * as Resilience from "../src/Resilience.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import * as TokenManager from "../src/TokenManager.ts"
import { ClaudeOnFake, tempDir } from "./utils.ts"

const options = { executable: FakeSpawner.executable, timeouts: { shutdownGrace: 1000 } } as const

const failureOf = <A>(exit: Exit.Exit<A, ClaudeError.ClaudeError>): ClaudeError.ClaudeError => {
  const reason = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
  if (reason?._tag !== "Fail") throw new Error(`expected a typed failure, got ${String(exit)}`)
  return reason.error
}

/** The API refused the turn with a 429 and no retry-after; the stream said when the limit resets (in 60 s). */
const rateLimited = (resetsAt: number) =>
  ClaudeEvent.RateLimit({
    status: "rejected",
    resetsAt,
    frame: { type: "rate_limit_event", rate_limit_info: { status: "rejected", resetsAt } }
  })

describe("DebugLog: the log travels on the error", () => {
  it.effect("a session's error carries its log; a Resilience-rebuilt one (retry-after from the stream) still does", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({ options })
      const direct = failureOf(yield* Effect.exit(session.ask("hello")))
      assert.strictEqual(direct.reason._tag, "RateLimited")
      const log = Option.getOrUndefined(DebugLog.of(direct))
      assert.isDefined(log, "the session's error has its debug log")
      assert.strictEqual(log?.sessionId, direct.sessionId)
      assert.deepStrictEqual(log?.lifecycle.map((e) => e.event), ["spawned", "ready", "turnStarted", "turnEnded"])

      // Resilience rebuilds a RateLimited error without retry-after from the stream's rate_limit_event.
      const resilience = yield* Resilience.Resilience
      const attempt = () => Stream.concat(Stream.make(rateLimited(60)), session.send("again"))
      const rebuilt = failureOf(yield* Effect.exit(Stream.runDrain(resilience.run("again", options, attempt))))
      assert.strictEqual(rebuilt.reason._tag, "RateLimited")
      assert.strictEqual(
        Reflect.get(rebuilt.reason, "retryAfterMs"),
        60_000,
        "rebuilt: the retry-after came from the stream"
      )
      const carried = Option.getOrUndefined(DebugLog.of(rebuilt))
      assert.isDefined(carried, "the rebuilt error keeps the debug log")
      assert.strictEqual(carried?.turns, 2, "the log of the turn that failed")
      assert.strictEqual(rebuilt.sessionId, direct.sessionId)
      assert.strictEqual(rebuilt.turn, 2)
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(
        ClaudeOnFake({ turns: [{ result: { apiErrorStatus: 429 } }] }),
        Resilience.layer({ retry: { times: 0 } }).pipe(
          Layer.provide(Layer.mergeAll(TokenManager.layerTest(Option.none()), NodeFileSystem.layer, NodePath.layer))
        )
      ))
    ))

  it("the log is outside the error's message, its encoded form and JSON; an error without one has none", () => {
    const log: DebugLog.DebugLog = {
      sessionId: "s-1",
      state: "Failed",
      pid: 42,
      turns: 1,
      restarts: 0,
      lifecycle: [],
      frames: [{ at: 0, direction: "in", frame: { type: "marker-in-the-log" } }],
      stderrTail: "marker-in-the-log",
      debugFile: undefined,
      debugFileTail: undefined
    }
    const reason = new ClaudeError.ProtocolError({ detail: "the CLI exited" })
    const error = ClaudeError.make(reason, { sessionId: "s-1", turn: 1, debugLog: log })
    assert.strictEqual(DebugLog.of(error).pipe(Option.getOrUndefined), log)
    assert.strictEqual(error.debugLog, log)
    assert.notInclude(error.message, "marker-in-the-log")
    assert.notInclude(JSON.stringify(error), "marker-in-the-log")
    assert.notInclude(JSON.stringify(Schema.encodeSync(ClaudeError.ClaudeError)(error)), "marker-in-the-log")
    assert.isTrue(Option.isNone(DebugLog.of(ClaudeError.make(reason, { sessionId: "s-1" }))))
  })
})

describe("DebugLog: the tail of the CLI's debug file (FileSystem)", () => {
  it.effect("the last bytes, from a line boundary when cut; all of a short file; undefined when there is no file", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* tempDir("debuglog")
      const file = `${dir}/cli-debug.log`
      yield* fs.writeFileString(file, "first line\nsecond line\nthird\n")
      assert.strictEqual(yield* readTail(fs, file, 12), "third\n", "cut mid-line: from the next line")
      assert.strictEqual(yield* readTail(fs, file, 1024), "first line\nsecond line\nthird\n")
      assert.strictEqual(yield* readTail(fs, file, 0), "")
      assert.isUndefined(yield* readTail(fs, `${dir}/not-written-yet.log`, 1024))
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer)))
})

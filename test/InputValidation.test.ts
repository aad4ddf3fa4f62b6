/**
 * Bad input gets a typed error, before anything is spawned or written: unknown keys at every level of the
 * options and configs (F24), config values of the wrong kind, prompts that are neither text nor content
 * blocks, and a `cwd` that does not exist.
 *
 * Bad input is built the way it reaches a library from outside TypeScript's reach: parsed from JSON.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Stream } from "effect"
import * as fc from "fast-check"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import type * as ClaudeError from "../src/ClaudeError.ts"
import * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as Validation from "../src/internal/validation.ts"
import type * as Session from "../src/Session.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import { ClaudeOnFake, tempDir } from "./utils.ts"

const executable = FakeSpawner.executable

/** What a JSON config file gives: any shape at all, typed as whatever the caller expects. */
const fromJson = <A>(value: unknown): A => JSON.parse(JSON.stringify(value))

const failureOf = <A>(exit: Exit.Exit<A, ClaudeError.ClaudeError>): ClaudeError.ClaudeError => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  const reason = exit.cause.reasons[0]
  if (reason?._tag !== "Fail") throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
  return reason.error
}

const sessionProcesses = FakeSpawner.FakeSpawnerState.use((fake) =>
  Effect.map(fake.processes, (ps) => ps.filter((p) => p.kind === "session"))
)

/** The keys of each level of the options and of a session config, and how to reach that level. */
const levels: ReadonlyArray<{ readonly path: ReadonlyArray<string>; readonly keys: ReadonlyArray<string> }> = [
  {
    path: [],
    keys: ["options", "canUseTool", "hooks", "controlTimeout", "restart", "tracePrompts", "debug", "debugLog"]
  },
  {
    path: ["options"],
    keys: [
      "model",
      "fallbackModel",
      "systemPrompt",
      "appendSystemPrompt",
      "maxTurns",
      "maxBudgetUsd",
      "allowedTools",
      "disallowedTools",
      "tools",
      "permissionMode",
      "cwd",
      "additionalDirectories",
      "mcpServers",
      "strictMcpConfig",
      "resume",
      "continue",
      "forkSession",
      "includePartialMessages",
      "settings",
      "settingSources",
      "env",
      "executable",
      "timeouts",
      "maxApiRetries",
      "maxLineBytes",
      "limits"
    ]
  },
  { path: ["options", "timeouts"], keys: ["startup", "firstEvent", "idle", "turn", "shutdownGrace"] },
  {
    path: ["options", "limits"],
    keys: ["maxRssBytes", "maxCpuSeconds", "maxOpenFiles", "maxProcesses", "niceness", "maxWallTime"]
  },
  { path: ["restart"], keys: ["maxRestarts", "window"] },
  { path: ["debugLog"], keys: ["frames", "lifecycleEvents", "debugFileBytes"] },
  { path: ["hooks"], keys: ["PreToolUse", "PostToolUse", "UserPromptSubmit", "Stop", "Notification"] }
]
const allKeys = new Set(levels.flatMap((level) => level.keys))

/** A misspelling of a key: a letter dropped, doubled, swapped with the next, or its case flipped. */
const misspelling = (key: string) =>
  fc.tuple(fc.nat({ max: key.length - 1 }), fc.constantFrom("drop", "double", "swap", "case")).map(([i, how]) => {
    const c = key[i] ?? ""
    switch (how) {
      case "drop":
        return key.slice(0, i) + key.slice(i + 1)
      case "double":
        return key.slice(0, i) + c + key.slice(i)
      case "swap":
        return key.slice(0, i) + (key[i + 1] ?? "") + c + key.slice(i + 2)
      case "case":
        return key.slice(0, i) + (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) + key.slice(i + 1)
    }
  }).filter((typo) => typo !== "" && !allKeys.has(typo))

/** Sets `value` at `keys` inside `target`, making the objects on the way. */
const setIn = (target: Record<string, unknown>, keys: ReadonlyArray<string>, value: unknown) => {
  let node = target
  for (const key of keys.slice(0, -1)) {
    const next = node[key]
    const child: Record<string, unknown> = typeof next === "object" && next !== null ? { ...next } : {}
    node[key] = child
    node = child
  }
  node[keys[keys.length - 1] ?? ""] = value
}

describe("F24: unknown keys", () => {
  it("F24: unknown and misspelled option keys fail with InvalidOptions naming each one with its path", () => {
    const error = failureOf(Effect.runSyncExit(ClaudeOptions.validate({
      temperature: 0.2,
      topK: 5,
      model: "claude-sonnet-4-5",
      timeouts: { idel: 1000, turn: 5000 },
      limits: { maxRss: 1024 }
    })))
    assert.strictEqual(error.reason._tag, "InvalidOptions")
    for (const key of ["temperature", "topK", "timeouts.idel", "limits.maxRss"]) assert.include(error.message, key)
    // The near miss is pointed out, so the fix is obvious.
    assert.include(error.message, "timeouts.idel: unknown key (did you mean idle?)")
    assert.isFalse(error.isRetryable)
  })

  it("F24: a misspelled key at any level of a session config is named with its path (property)", () => {
    const typo = fc.constantFrom(...levels).chain((level) =>
      fc.constantFrom(...level.keys).chain(misspelling).map((key) => [...level.path, key])
    )
    fc.assert(
      fc.property(fc.uniqueArray(typo, { minLength: 1, maxLength: 4, selector: (p) => p.join(".") }), (typos) => {
        const config: Record<string, unknown> = { options: { executable } }
        for (const keys of typos) setIn(config, keys, 1)
        const error = failureOf(Effect.runSyncExit(Validation.validateSessionConfig(config)))
        assert.strictEqual(error.reason._tag, "InvalidOptions")
        for (const keys of typos) assert.include(error.message, `${keys.join(".")}: unknown key`)
      }),
      { numRuns: 300 }
    )
  })

  it.effect("F24: Claude.session fails with InvalidOptions before anything is spawned", () =>
    Effect.gen(function*() {
      const error = failureOf(
        yield* Effect.exit(Claude.session(fromJson<Session.Config>({
          options: { executable, temperature: 0.2, timeouts: { idel: 1000 } },
          debugLogs: { frames: 1 }
        })))
      )
      assert.strictEqual(error.reason._tag, "InvalidOptions")
      for (const key of ["options.temperature", "options.timeouts.idel", "debugLogs"]) {
        assert.include(error.message, key)
      }
      assert.lengthOf(yield* sessionProcesses, 0)
    }).pipe(Effect.scoped, Effect.provide(ClaudeOnFake({}))))

  it.effect("F24: a pool lease and a Claude.query with unknown keys fail before anything is spawned", () =>
    Effect.gen(function*() {
      const pool = yield* SessionPool.SessionPool
      const lease = failureOf(
        yield* Effect.exit(pool.acquire(fromJson<SessionPool.LeaseConfig>({ options: { executable }, stiky: true })))
      )
      assert.strictEqual(lease.reason._tag, "InvalidOptions")
      assert.include(lease.message, "stiky: unknown key (did you mean sticky?)")

      const query = failureOf(
        yield* Effect.exit(Stream.runDrain(Claude.query(
          "hi",
          fromJson({ executable, topK: 5 }),
          fromJson<Claude.QueryConfig>({ tracePrompt: true })
        )))
      )
      assert.strictEqual(query.reason._tag, "InvalidOptions")
      assert.include(query.message, "options.topK: unknown key")
      assert.include(query.message, "config.tracePrompt: unknown key (did you mean tracePrompts?)")
      assert.lengthOf(yield* sessionProcesses, 0)
    }).pipe(Effect.scoped, Effect.provide(ClaudeOnFake({}))))
})

describe("config values", () => {
  it.effect("F24: config values of the wrong kind fail with InvalidOptions naming the field, before any spawn", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
        [{ controlTimeout: "abc" }, "controlTimeout"],
        [{ controlTimeout: -5 }, "controlTimeout"],
        [{ controlTimeout: 0 }, "controlTimeout"],
        [{ debug: "yes" }, "debug"],
        [{ tracePrompts: 1 }, "tracePrompts"],
        [{ debugLog: { frames: -1 } }, "debugLog.frames"],
        [{ debugLog: { debugFileBytes: 1.5 } }, "debugLog.debugFileBytes"],
        [{ canUseTool: "allow" }, "canUseTool"],
        [{ hooks: { PreToolUse: [{ matcher: "Bash" }] } }, "hooks.PreToolUse[0].handle"],
        [{ restart: { window: "soon" } }, "restart.window"]
      ]
      for (const [config, field] of cases) {
        const error = failureOf(
          yield* Effect.exit(Claude.session(fromJson<Session.Config>({ options: { executable }, ...config })))
        )
        assert.strictEqual(error.reason._tag, "InvalidOptions", JSON.stringify(config))
        assert.include(error.message, `${field}:`, JSON.stringify(config))
      }
      assert.lengthOf(yield* sessionProcesses, 0)
      // Every accepted form of a duration still is.
      for (const controlTimeout of [500, "2 seconds", [1, 0], { seconds: 3 }]) {
        assert.isTrue(
          Exit.isSuccess(Effect.runSyncExit(Validation.validateSessionConfig({ controlTimeout }))),
          JSON.stringify(controlTimeout)
        )
      }
    }).pipe(Effect.scoped, Effect.provide(ClaudeOnFake({}))))
})

describe("prompts", () => {
  it.effect("a prompt that is neither text nor content blocks fails with InvalidPrompt; nothing is written", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({ options: { executable } })
      for (const prompt of [123, {}, [{ type: "bogus" }], [{ type: "text" }], null, [[{ type: "text", text: "x" }]]]) {
        const sent = failureOf(yield* Effect.exit(Stream.runDrain(session.send(fromJson(prompt)))))
        assert.strictEqual(sent.reason._tag, "InvalidPrompt", JSON.stringify(prompt))
        assert.isFalse(sent.isRetryable)
        const asked = failureOf(yield* Effect.exit(session.ask(fromJson(prompt))))
        assert.strictEqual(asked.reason._tag, "InvalidPrompt", JSON.stringify(prompt))
      }
      const query = failureOf(
        yield* Effect.exit(Stream.runDrain(Claude.query(fromJson([{ type: "bogus" }]), { executable })))
      )
      assert.strictEqual(query.reason._tag, "InvalidPrompt")
      assert.include(query.message, "[0]: Expected a content block of type")
      // Only the session's own process, which never received a user message.
      const processes = yield* sessionProcesses
      assert.lengthOf(processes, 1)
      const written = processes.flatMap((p) => p.stdin)
      assert.isFalse(
        written.some((frame) => typeof frame === "object" && frame !== null && "type" in frame && frame.type === "user")
      )
      // The session is still usable.
      const result = yield* session.ask([{ type: "text", text: "hello" }])
      assert.isUndefined(result.error)
    }).pipe(Effect.scoped, Effect.provide(ClaudeOnFake({}))))

  it("a prompt nested too deep to serialise is an InvalidPrompt, not a stack overflow", () => {
    let content: unknown = "leaf"
    for (let i = 0; i < 100_000; i++) content = [content]
    const block = { type: "tool_result", tool_use_id: "t", content }
    const error = failureOf(Effect.runSyncExit(Validation.validatePrompt([block])))
    assert.strictEqual(error.reason._tag, "InvalidPrompt")
    assert.include(error.message, "nested deeper than")
  })
})

describe("cwd", () => {
  it.effect("a cwd that does not exist is InvalidOptions naming the cwd, not CliNotFound", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("cwd")
      const missing = path.join(dir, "does", "not", "exist")
      const error = failureOf(yield* Effect.exit(Claude.session({ options: { executable, cwd: missing } })))
      assert.strictEqual(error.reason._tag, "InvalidOptions")
      assert.include(error.message, missing)
      const file = failureOf(yield* Effect.exit(Claude.session({ options: { executable, cwd: executable } })))
      assert.strictEqual(file.reason._tag, "InvalidOptions")
      assert.include(file.message, "not a directory")
      assert.lengthOf(yield* sessionProcesses, 0)
    }).pipe(Effect.scoped, Effect.provide(ClaudeOnFake({}))))
})

import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Option } from "effect"
import * as fc from "fast-check"
import * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as SessionPool from "../src/SessionPool.ts"

const validateSync = (input: unknown) => Effect.runSyncExit(ClaudeOptions.validate(input))

describe("ClaudeOptions", () => {
  it.effect("maps options to single --flag=value tokens after the session flags", () =>
    Effect.gen(function*() {
      const options = yield* ClaudeOptions.validate({
        model: "claude-sonnet-4-5",
        fallbackModel: "claude-haiku-4-5",
        systemPrompt: "You are terse.",
        appendSystemPrompt: "Answer in French.",
        maxTurns: 3,
        maxBudgetUsd: 0.5,
        allowedTools: ["Bash(git *)", "Read"],
        disallowedTools: ["WebFetch"],
        tools: ["Bash", "Read"],
        permissionMode: "acceptEdits",
        additionalDirectories: ["/tmp/a", "/tmp/b"],
        mcpServers: { files: { command: "mcp-files", args: ["--root", "/"] } },
        strictMcpConfig: true,
        resume: "1fb6c51c-23bf-4cc0-a621-cf6a577c9e8d",
        forkSession: true,
        includePartialMessages: true,
        settingSources: ["project"]
      })
      assert.deepStrictEqual(ClaudeOptions.toArgs(options, { permissionPromptTool: true }), [
        "--output-format=stream-json",
        "--verbose",
        "--input-format=stream-json",
        "--model=claude-sonnet-4-5",
        "--fallback-model=claude-haiku-4-5",
        "--system-prompt=You are terse.",
        "--append-system-prompt=Answer in French.",
        "--max-turns=3",
        "--max-budget-usd=0.5",
        "--allowedTools=Bash(git *),Read",
        "--disallowedTools=WebFetch",
        "--tools=Bash,Read",
        "--permission-mode=acceptEdits",
        "--add-dir=/tmp/a",
        "--add-dir=/tmp/b",
        "--mcp-config={\"mcpServers\":{\"files\":{\"command\":\"mcp-files\",\"args\":[\"--root\",\"/\"]}}}",
        "--strict-mcp-config",
        "--resume=1fb6c51c-23bf-4cc0-a621-cf6a577c9e8d",
        "--fork-session",
        "--include-partial-messages",
        "--setting-sources=project",
        "--permission-prompt-tool=stdio"
      ])
    }))

  it.effect("the SDK's permission mode \"default\" is passed as the SDK passes it, so settings cannot change it", () =>
    Effect.gen(function*() {
      const options = yield* ClaudeOptions.validate({ permissionMode: "default" })
      assert.deepStrictEqual(ClaudeOptions.toArgs(options), [
        ...ClaudeOptions.sessionFlags,
        "--permission-mode=default"
      ])
    }))

  it.effect("the Agent SDK's options map to the CLI's flags as the SDK maps them, each value glued to its flag", () =>
    Effect.gen(function*() {
      const argsOf = (input: ClaudeOptions.Input) =>
        Effect.map(ClaudeOptions.validate(input), (options) => ClaudeOptions.toArgs(options).slice(3))
      const agents = { reviewer: { description: "Reviews code", prompt: "You review code.", tools: ["Read"] } }
      assert.deepStrictEqual(yield* argsOf({ agents, agent: "reviewer" }), [
        `--agents=${JSON.stringify(agents)}`,
        "--agent=reviewer"
      ])
      assert.deepStrictEqual(yield* argsOf({ thinking: { type: "enabled", budgetTokens: 2048 } }), [
        "--max-thinking-tokens=2048"
      ])
      assert.deepStrictEqual(yield* argsOf({ thinking: { type: "enabled", display: "omitted" } }), [
        "--thinking=adaptive",
        "--thinking-display=omitted"
      ])
      assert.deepStrictEqual(yield* argsOf({ thinking: { type: "disabled" } }), ["--thinking=disabled"])
      assert.deepStrictEqual(yield* argsOf({ maxThinkingTokens: 1024 }), ["--max-thinking-tokens=1024"])
      assert.deepStrictEqual(yield* argsOf({ effort: "high", betas: ["context-1m-2025-08-07"] }), [
        "--effort=high",
        "--betas=context-1m-2025-08-07"
      ])
      assert.deepStrictEqual(
        yield* argsOf({ systemPrompt: { type: "preset", preset: "claude_code", append: "Be brief." } }),
        [
          "--append-system-prompt=Be brief."
        ]
      )
      assert.deepStrictEqual(yield* argsOf({ settings: { model: "opus" }, sandbox: { enabled: true } }), [
        "--settings={\"model\":\"opus\",\"sandbox\":{\"enabled\":true,\"failIfUnavailable\":true}}"
      ])
      assert.deepStrictEqual(yield* argsOf({ settings: { permissions: { defaultMode: "plan" } } }), [
        "--settings={\"permissions\":{\"defaultMode\":\"plan\"}}"
      ])
      assert.deepStrictEqual(
        yield* argsOf({ includeHookEvents: true, allowDangerouslySkipPermissions: true, permissionMode: "plan" }),
        ["--permission-mode=plan", "--allow-dangerously-skip-permissions", "--include-hook-events"]
      )
      assert.deepStrictEqual(yield* argsOf({ extraArgs: { "no-chrome": null, "mcp-debug-level": "--print hi" } }), [
        "--no-chrome",
        "--mcp-debug-level=--print hi"
      ])
    }))

  it("extraArgs cannot set a flag an option owns, the protocol's flags, or anything that is not a flag name", () => {
    const exit = validateSync({
      extraArgs: { "model": "opus", "print": null, "--output-format": "text", "p": "hello", "two words": "x" }
    })
    assert.isTrue(Exit.isFailure(exit))
    const message = Exit.isFailure(exit)
      ? String(exit.cause.reasons[0]?._tag === "Fail" && exit.cause.reasons[0].error.message)
      : ""
    assert.include(message, "\"model\" is set by model")
    assert.include(message, "\"print\" is set by the protocol (prompts go over stdin)")
    assert.include(message, "\"--output-format\" is set by the protocol")
    assert.include(message, "\"p\" is set by the protocol")
    assert.include(message, "\"two words\" is not a flag name")
  })

  it("thinking and maxThinkingTokens, or systemPrompt.append and appendSystemPrompt, cannot be used together", () => {
    for (
      const input of [
        { thinking: { type: "disabled" as const }, maxThinkingTokens: 10 },
        {
          systemPrompt: { type: "preset" as const, preset: "claude_code" as const, append: "a" },
          appendSystemPrompt: "b"
        }
      ]
    ) {
      const exit = validateSync(input)
      assert.isTrue(Exit.isFailure(exit))
    }
  })

  it("invalid options fail with a typed InvalidOptions naming each problem", () => {
    const exit = validateSync({ maxTurns: 0, permissionMode: "yolo", env: { "BAD NAME": "x" }, cwd: "" })
    assert.isTrue(Exit.isFailure(exit))
    if (Exit.isFailure(exit)) {
      const error = exit.cause.reasons[0]
      assert.isTrue(error?._tag === "Fail" && error.error.reason._tag === "InvalidOptions")
      const message = error?._tag === "Fail" ? error.error.message : ""
      for (const field of ["maxTurns", "permissionMode", "env", "cwd"]) assert.include(message, field)
      assert.isFalse(error?._tag === "Fail" && error.error.isRetryable)
    }
  })

  it("rejects forkSession without resume or continue, and resume with continue", () => {
    assert.isTrue(Exit.isFailure(validateSync({ forkSession: true })))
    assert.isTrue(Exit.isFailure(validateSync({ resume: "abc", continue: true })))
    assert.isTrue(Exit.isSuccess(validateSync({ continue: true, forkSession: true })))
  })

  it("rejects a resume id that is not a session id (it could otherwise smuggle text)", () => {
    assert.isTrue(Exit.isFailure(validateSync({ resume: "--dangerously-skip-permissions" })))
    assert.isTrue(Exit.isFailure(validateSync({ resume: "a b" })))
  })

  // What every CLI of ours is started with, unless env says otherwise (see ClaudeOptions.toEnv).
  const reportsState = { CLAUDE_CODE_SDK_READS_SESSION_STATE: "1" }

  it.effect("the CLI reports its session state unless env turns it off", () =>
    Effect.gen(function*() {
      const options = yield* ClaudeOptions.validate({ env: { CLAUDE_CODE_SDK_READS_SESSION_STATE: "0" } })
      assert.deepStrictEqual(ClaudeOptions.toEnv(options), { CLAUDE_CODE_SDK_READS_SESSION_STATE: "0" })
    }))

  it.effect("maxApiRetries maps to the child's CLAUDE_CODE_MAX_RETRIES, over one in env, and never to argv", () =>
    Effect.gen(function*() {
      const options = yield* ClaudeOptions.validate({
        maxApiRetries: 2,
        env: { CLAUDE_CODE_MAX_RETRIES: "10", OTHER: "x" }
      })
      assert.deepStrictEqual(ClaudeOptions.toEnv(options), {
        ...reportsState,
        CLAUDE_CODE_MAX_RETRIES: "2",
        OTHER: "x"
      })
      assert.deepStrictEqual(ClaudeOptions.toArgs(options), [...ClaudeOptions.sessionFlags])
      const none = yield* ClaudeOptions.validate({ maxApiRetries: 0 })
      assert.deepStrictEqual(ClaudeOptions.toEnv(none), { ...reportsState, CLAUDE_CODE_MAX_RETRIES: "0" })
      // Without the option, env passes through untouched (the CLI's default applies).
      assert.deepStrictEqual(ClaudeOptions.toEnv(yield* ClaudeOptions.validate({ env: { A: "1" } })), {
        ...reportsState,
        A: "1"
      })
      assert.deepStrictEqual(ClaudeOptions.toEnv(yield* ClaudeOptions.validate({})), reportsState)
    }))

  it.effect("maxApiRetries is part of the pool key: processes with other retry bounds are not shared", () =>
    Effect.gen(function*() {
      const key = (input: ClaudeOptions.Input) =>
        Effect.map(ClaudeOptions.validate(input), (options) => SessionPool.keyOf(options, {}, Option.none()))
      const one = yield* key({ maxApiRetries: 1 })
      assert.strictEqual(yield* key({ maxApiRetries: 1 }), one)
      assert.notStrictEqual(yield* key({ maxApiRetries: 2 }), one)
      assert.notStrictEqual(yield* key({}), one)
    }))

  it("maxApiRetries must be a non-negative integer", () => {
    for (const maxApiRetries of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const exit = validateSync({ maxApiRetries })
      assert.isTrue(Exit.isFailure(exit), String(maxApiRetries))
      if (Exit.isFailure(exit)) {
        const error = exit.cause.reasons[0]
        assert.isTrue(error?._tag === "Fail" && error.error.reason._tag === "InvalidOptions")
        assert.include(error?._tag === "Fail" ? error.error.message : "", "maxApiRetries")
      }
    }
    assert.isTrue(Exit.isSuccess(validateSync({ maxApiRetries: 10 })))
  })

  it("rejects NUL characters, which cannot cross argv", () => {
    assert.isTrue(Exit.isFailure(validateSync({ systemPrompt: "a\u0000b" })))
  })

  it("timeouts accept Durations and milliseconds and fall back to defaults", () => {
    const exit = validateSync({ timeouts: { idle: Duration.seconds(3), turn: 1500 } })
    assert.isTrue(Exit.isSuccess(exit))
    if (Exit.isSuccess(exit)) {
      assert.strictEqual(Duration.toMillis(ClaudeOptions.timeout(exit.value, "idle")), 3000)
      assert.strictEqual(Duration.toMillis(ClaudeOptions.timeout(exit.value, "turn")), 1500)
      assert.strictEqual(
        Duration.toMillis(ClaudeOptions.timeout(exit.value, "startup")),
        Duration.toMillis(ClaudeOptions.defaultTimeouts.startup)
      )
    }
    assert.isTrue(Exit.isFailure(validateSync({ timeouts: { idle: -5 } })))
  })

  it("F16: no option value can become a separate flag", () => {
    const value = fc.string({ unit: "binary", maxLength: 60 }).filter((s) => !s.includes("\u0000"))
    const nonEmpty = value.filter((s) => s.length > 0)
    fc.assert(
      fc.property(
        fc.record({
          model: nonEmpty,
          systemPrompt: value,
          appendSystemPrompt: value,
          allowedTools: fc.array(nonEmpty, { minLength: 1, maxLength: 3 }),
          disallowedTools: fc.array(nonEmpty, { minLength: 1, maxLength: 3 }),
          additionalDirectories: fc.array(nonEmpty, { minLength: 1, maxLength: 3 }),
          settings: nonEmpty
        }),
        (input) => {
          const exit = validateSync(input)
          assert.isTrue(Exit.isSuccess(exit))
          if (!Exit.isSuccess(exit)) return
          const args = ClaudeOptions.toArgs(exit.value)
          // Every token is a flag we chose; each value travels glued to its flag.
          const flags = args.map((arg) => arg.split("=")[0])
          const allowed = new Set([
            "--output-format",
            "--verbose",
            "--input-format",
            "--model",
            "--system-prompt",
            "--append-system-prompt",
            "--allowedTools",
            "--disallowedTools",
            "--add-dir",
            "--settings"
          ])
          for (const flag of flags) assert.isTrue(allowed.has(flag ?? ""), `unexpected token ${flag}`)
          assert.strictEqual(args.length, 3 + 6 + input.additionalDirectories.length)
          assert.include(args, `--system-prompt=${input.systemPrompt}`)
          assert.include(args, `--model=${input.model}`)
        }
      ),
      { numRuns: 500 }
    )
  })
})

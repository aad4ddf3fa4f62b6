/**
 * The Agent SDK's options, on the real CLI against the FakeApi: each one shown by what it changes (the
 * request the API receives, or the session's own init frame and events), not by the flag alone.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Predicate, Result, Schema, Stream } from "effect"
import { Tool, Toolkit } from "effect/ai"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import type * as ClaudeError from "../src/ClaudeError.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { ClaudeTest, eventually, processesWithHome, tempDir } from "./utils.ts"

interface Turn {
  readonly events: ReadonlyArray<ClaudeEvent>
  readonly request: FakeApi.RecordedRequest | undefined
  /** Why the turn failed, if it did (its events are then none). */
  readonly failure: ClaudeError.ClaudeError | undefined
}

/** A turn's options and prompt ("hello" when none), or how to make them from the turns before it. */
type TurnInput =
  | (ClaudeOptions.Input & { readonly prompt?: string })
  | ((before: ReadonlyArray<Turn>) => ClaudeOptions.Input & { readonly prompt?: string })

/** Runs one turn per input in one HOME (each on a process of its own), and gives the events and request of each. */
const turnsWith = (...inputs: ReadonlyArray<TurnInput>) => turnsIn(() => undefined, ...inputs)

/** {@link turnsWith}, then `inspect` sees the HOME once every CLI is gone. */
const turnsIn = (inspect: (home: string) => unknown, ...inputs: ReadonlyArray<TurnInput>) =>
  Effect.gen(function*() {
    const home = yield* tempDir("options")
    const api = yield* FakeApi.make({ script: (_request, _index) => FakeApi.text("ok") })
    const env = FakeApi.cliEnvironment(api, home)
    const turns: Array<Turn> = []
    yield* Effect.forEach(inputs, (input) =>
      Effect.gen(function*() {
        const before = (yield* api.conversationRequests).length
        const { prompt = "hello", ...options } = typeof input === "function" ? input(turns) : input
        const outcome = yield* Claude.query(prompt, { ...options, env: { ...env, ...options.env } }).pipe(
          Stream.runCollect,
          Effect.result
        )
        const requests = (yield* api.conversationRequests).slice(before)
        turns.push({
          events: Result.isSuccess(outcome) ? outcome.success : [],
          request: requests[0],
          failure: Result.isFailure(outcome) ? outcome.failure : undefined
        })
      })).pipe(Effect.provide(ClaudeTest))
    yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
    inspect(home)
    return turns
  }).pipe(Effect.scoped)

const body = (request: FakeApi.RecordedRequest | undefined): Record<string, unknown> =>
  Predicate.isObject(request?.body) ? { ...request.body } : {}

const systemText = (request: FakeApi.RecordedRequest | undefined): string => {
  const system = request?.messagesRequest?.system
  return Array.isArray(system)
    ? system.map((block) => (Predicate.hasProperty(block, "text") ? String(block.text) : "")).join("\n")
    : String(system ?? "")
}

const initOf = (events: ReadonlyArray<ClaudeEvent>) => {
  const started = events.find((event) => event._tag === "SessionStarted")
  return started?._tag === "SessionStarted" ? started.frame : undefined
}

/** A field of the init frame that `Protocol.SystemInit` does not type (it keeps every field). */
const initField = (turn: Turn | undefined, field: string): unknown => {
  const init: Record<string, unknown> = { ...initOf(turn?.events ?? []) }
  return init[field]
}

describe("the Agent SDK's options on the real CLI", () => {
  it.live("effort and thinking reach the API request: output_config.effort, thinking disabled, a thinking budget", () =>
    Effect.gen(function*() {
      const [effort, disabled, budget, older] = yield* turnsWith(
        { effort: "high" },
        { thinking: { type: "disabled" }, model: "claude-sonnet-4-5" },
        { thinking: { type: "enabled", budgetTokens: 3000 }, model: "claude-sonnet-4-5" },
        { maxThinkingTokens: 2500, model: "claude-sonnet-4-5" }
      )
      assert.deepStrictEqual(body(effort?.request).output_config, { effort: "high" })
      assert.deepStrictEqual(body(disabled?.request).thinking, { type: "disabled" })
      assert.deepInclude(body(budget?.request).thinking, { type: "enabled", budget_tokens: 3000 })
      assert.deepInclude(body(older?.request).thinking, { type: "enabled", budget_tokens: 2500 })
    }))

  it.live("betas reach the API as anthropic-beta headers", () =>
    Effect.gen(function*() {
      const [plain, beta] = yield* turnsWith({}, { betas: ["context-1m-2025-08-07"] })
      assert.notInclude(plain?.request?.headers["anthropic-beta"] ?? "", "context-1m-2025-08-07")
      assert.include(beta?.request?.headers["anthropic-beta"] ?? "", "context-1m-2025-08-07")
    }))

  it.live("agents are offered to the model by name and description; agent runs the main thread as one of them", () =>
    Effect.gen(function*() {
      const agents = { reviewer: { description: "Reviews code for bugs", prompt: "You are the reviewer agent." } }
      const [offered, running] = yield* turnsWith({ agents }, { agents, agent: "reviewer" })
      const messages = JSON.stringify(offered?.request?.messagesRequest?.messages ?? [])
      assert.include(messages, "reviewer")
      assert.include(messages, "Reviews code for bugs")
      assert.notInclude(systemText(offered?.request), "You are the reviewer agent.")
      assert.include(systemText(running?.request), "You are the reviewer agent.")
    }))

  it.live("systemPrompt: the claude_code preset keeps Claude Code's prompt and appends to it; a string replaces it", () =>
    Effect.gen(function*() {
      const [plain, preset, custom] = yield* turnsWith(
        {},
        { systemPrompt: { type: "preset", preset: "claude_code", append: "Answer in haiku." } },
        { systemPrompt: "You only say ok." }
      )
      const claudeCode = systemText(plain?.request)
      const appended = systemText(preset?.request)
      assert.isAbove(claudeCode.length, 1000)
      assert.include(appended, "Answer in haiku.")
      assert.isAtLeast(appended.length, claudeCode.length)
      assert.include(systemText(custom?.request), "You only say ok.")
      assert.isBelow(systemText(custom?.request).length, 1000)
    }))

  it.live("settings as an object are the CLI's settings; permissionMode \"default\" wins over their defaultMode", () =>
    Effect.gen(function*() {
      const settings = { permissions: { defaultMode: "plan" } }
      const [fromSettings, asked] = yield* turnsWith({ settings }, { settings, permissionMode: "default" })
      assert.strictEqual(initOf(fromSettings?.events ?? [])?.permissionMode, "plan")
      assert.strictEqual(initOf(asked?.events ?? [])?.permissionMode, "default")
    }))

  it.live("includeHookEvents: a settings hook's run arrives as HookStarted and HookResponse events, with its output", () =>
    Effect.gen(function*() {
      const settings = { hooks: { UserPromptSubmit: [{ hooks: [{ type: "command", command: "echo hooked" }] }] } }
      const [quiet, reported] = yield* turnsWith({ settings }, { settings, includeHookEvents: true })
      const hookEvents = (turn: Turn | undefined) =>
        (turn?.events ?? []).filter((event) => event._tag === "HookStarted" || event._tag === "HookResponse")
      assert.lengthOf(hookEvents(quiet), 0)
      const [started, response] = hookEvents(reported)
      assert.strictEqual(started?._tag, "HookStarted")
      assert.deepInclude(response, {
        _tag: "HookResponse",
        hookEvent: "UserPromptSubmit",
        outcome: "success",
        exitCode: 0,
        output: "hooked\n"
      })
      assert.strictEqual(
        started?._tag === "HookStarted" ? started.hookId : "",
        response?._tag === "HookResponse" ? response.hookId : undefined
      )
    }))

  it.live("extraArgs passes a flag this library has no option for: --disable-slash-commands empties the init's commands", () =>
    Effect.gen(function*() {
      const [plain, bare] = yield* turnsWith({}, { extraArgs: { "disable-slash-commands": null } })
      const commands = initField(plain, "slash_commands")
      assert.isAbove(Array.isArray(commands) ? commands.length : 0, 0)
      assert.deepStrictEqual(initField(bare, "slash_commands"), [])
    }))

  it.live("sessionId names the new conversation; resume continues it with its context", () =>
    Effect.gen(function*() {
      const sessionId = "5a1e0c2b-7d3f-4e8a-9b61-2c4d6e8f0a1b"
      const [first, second] = yield* turnsWith(
        { sessionId, prompt: "My name is Ada." },
        { resume: sessionId, prompt: "What is my name?" }
      )
      assert.strictEqual(initOf(first?.events ?? [])?.session_id, sessionId)
      assert.include(JSON.stringify(second?.request?.messagesRequest?.messages ?? []), "My name is Ada.")
    }))

  it.live("resumeSessionAt resumes a conversation up to a message, without what came after it", () =>
    Effect.gen(function*() {
      const sessionId = "0b7c3d5e-1f2a-4b6c-8d9e-a1b2c3d4e5f6"
      // The uuid of turn 1's answer: where the resumed conversation is cut.
      const answerOf = (turn: Turn | undefined) => {
        const answer = turn?.events.find((event) => event._tag === "AssistantText")
        return answer?._tag === "AssistantText" ? answer.frame.uuid ?? "" : ""
      }
      const [first, , third, rewound] = yield* turnsWith(
        { sessionId, prompt: "First: the sky is green." },
        { resume: sessionId, prompt: "Second: the sea is red." },
        { resume: sessionId, prompt: "Third: what did I say?" },
        (before) => ({ resume: sessionId, resumeSessionAt: answerOf(before[0]), prompt: "Fourth: and now?" })
      )
      assert.notStrictEqual(answerOf(first), "")
      const full = JSON.stringify(third?.request?.messagesRequest?.messages ?? [])
      const cut = JSON.stringify(rewound?.request?.messagesRequest?.messages ?? [])
      assert.include(full, "Second: the sea is red.")
      assert.include(cut, "First: the sky is green.")
      assert.notInclude(cut, "Second: the sea is red.")
    }))

  it.live("persistSession false leaves no transcript on disk; by default the conversation is kept", () => {
    const transcripts = (home: string) => {
      const projects = path.join(home, ".claude", "projects")
      return fs.existsSync(projects)
        ? fs.readdirSync(projects, { recursive: true }).filter((file) => String(file).endsWith(".jsonl"))
        : []
    }
    let kept: ReadonlyArray<unknown> = []
    let dropped: ReadonlyArray<unknown> = ["not inspected"]
    return Effect.gen(function*() {
      yield* turnsIn((home) => (kept = transcripts(home)), {})
      yield* turnsIn((home) => (dropped = transcripts(home)), { persistSession: false })
      assert.isAbove(kept.length, 0)
      assert.lengthOf(dropped, 0)
    })
  })

  it.live("plugins load a local plugin: its commands are the session's, its MCP servers too unless skipMcpDiscovery", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("plugin")
      fs.mkdirSync(path.join(dir, ".claude-plugin"))
      fs.mkdirSync(path.join(dir, "commands"))
      fs.writeFileSync(path.join(dir, ".claude-plugin", "plugin.json"), JSON.stringify({ name: "demo" }))
      fs.writeFileSync(path.join(dir, "commands", "hello.md"), "---\ndescription: Says hello\n---\nSay hello.\n")
      fs.writeFileSync(path.join(dir, ".mcp.json"), JSON.stringify({ mcpServers: { echo: { command: "/bin/true" } } }))
      const [plain, loaded, noMcp] = yield* turnsWith(
        {},
        { plugins: [{ type: "local", path: dir }] },
        { plugins: [{ type: "local", path: dir, skipMcpDiscovery: true }] }
      )
      const commands = (turn: Turn | undefined) => JSON.stringify(initField(turn, "slash_commands") ?? [])
      const servers = (turn: Turn | undefined) => JSON.stringify(initField(turn, "mcp_servers") ?? [])
      assert.notInclude(commands(plain), "demo:hello")
      assert.include(commands(loaded), "demo:hello")
      assert.include(servers(loaded), "plugin:demo:echo")
      assert.include(commands(noMcp), "demo:hello")
      assert.notInclude(servers(noMcp), "plugin:demo:echo")
    }))

  it.live("sandbox reaches the CLI's settings: enabled on a host without its tools, the CLI refuses to start", () =>
    Effect.gen(function*() {
      // No bubblewrap or socat on this PATH, whatever the machine has: the sandbox is unavailable for sure.
      const env = { PATH: "/nonexistent" }
      const [plain, refused] = yield* turnsWith({ env }, { env, sandbox: { enabled: true } })
      assert.isUndefined(plain?.failure)
      assert.isDefined(plain?.request)
      assert.strictEqual(refused?.failure?.reason._tag, "ProcessExited")
      assert.include(refused?.failure?.message, "sandbox required but unavailable")
      assert.isUndefined(refused?.request)
    }))

  it.live("permissionPromptToolName: the CLI asks an in-process MCP tool before Bash runs; allow runs it, deny refuses it", () => {
    const Approve = Tool.make("approve", {
      description: "Decides whether a tool may run",
      parameters: Schema.Struct({ tool_name: Schema.String, input: Schema.Unknown }),
      success: Schema.String
    })
    const Perm = Toolkit.make(Approve)
    const asked: Array<string> = []
    const decide = (allow: boolean) =>
      Perm.toLayer({
        approve: ({ input, tool_name }) =>
          Effect.sync(() => {
            asked.push(tool_name)
            return JSON.stringify(
              allow ? { behavior: "allow", updatedInput: input } : { behavior: "deny", message: "not today" }
            )
          })
      })
    // A command that changes something: the CLI lets read-only ones (a bare echo) run without asking.
    const bash = FakeApi.toolUse("Bash", {
      command: "mkdir -p made && echo parity-approved",
      description: "Makes a dir"
    })
    return Effect.gen(function*() {
      const home = yield* tempDir("permission-tool")
      const api = yield* FakeApi.make({ script: [bash, FakeApi.text("ran"), bash, FakeApi.text("refused")] })
      const options: ClaudeOptions.Input = {
        env: { ...FakeApi.cliEnvironment(api, home), ENABLE_TOOL_SEARCH: "false" },
        allowedTools: ["mcp__perm__approve"],
        permissionPromptToolName: "mcp__perm__approve",
        cwd: home
      }
      const run = (allow: boolean) =>
        Claude.query("run it", options, { tools: { perm: Perm } }).pipe(
          Stream.runCollect,
          Effect.provide(decide(allow))
        )
      yield* Effect.all([run(true), run(false)]).pipe(Effect.provide(ClaudeTest))
      yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
      const requests = yield* api.conversationRequests
      assert.deepStrictEqual(asked, ["Bash", "Bash"])
      assert.include(requests[1] === undefined ? "" : FakeApi.lastToolResult(requests[1]) ?? "", "parity-approved")
      assert.include(requests[3] === undefined ? "" : FakeApi.lastToolResult(requests[3]) ?? "", "not today")
      assert.isTrue(fs.existsSync(path.join(home, "made")))
    }).pipe(Effect.scoped)
  })

  it.effect("permissionPromptToolName beside a canUseTool is refused before anything starts", () =>
    Effect.gen(function*() {
      const error = yield* Claude.query("hi", { permissionPromptToolName: "mcp__perm__approve" }, {
        canUseTool: () => Effect.succeed({ behavior: "allow" as const })
      }).pipe(Stream.runDrain, Effect.flip)
      assert.strictEqual(error.reason._tag, "InvalidOptions")
      assert.include(error.message, "canUseTool and options.permissionPromptToolName cannot be used together")
    }).pipe(Effect.provide(ClaudeTest)))

  it.live("enableFileCheckpointing: the CLI backs up a file before its Write tool changes it; without it, no backups", () =>
    Effect.gen(function*() {
      const backups: Array<ReadonlyArray<string>> = []
      for (const enableFileCheckpointing of [true, false]) {
        yield* Effect.gen(function*() {
          const home = yield* tempDir("checkpoint")
          const file = path.join(home, "notes.txt")
          fs.writeFileSync(file, "the original\n")
          const api = yield* FakeApi.make({
            script: [FakeApi.toolUse("Write", { file_path: file, content: "changed\n" }), FakeApi.text("done")]
          })
          const options = { env: FakeApi.cliEnvironment(api, home), cwd: home, enableFileCheckpointing }
          yield* Claude.query("edit it", { ...options, permissionMode: "acceptEdits" }).pipe(
            Stream.runDrain,
            Effect.provide(ClaudeTest)
          )
          yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
          assert.strictEqual(fs.readFileSync(file, "utf8"), "changed\n")
          const history = path.join(home, ".claude", "file-history")
          backups.push(
            fs.existsSync(history)
              ? fs.readdirSync(history, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile())
                .map((entry) => fs.readFileSync(path.join(entry.parentPath, entry.name), "utf8"))
              : []
          )
        }).pipe(Effect.scoped)
      }
      assert.deepStrictEqual(backups, [["the original\n"], []])
    }))
})

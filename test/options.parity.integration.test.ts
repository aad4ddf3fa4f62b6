/**
 * The Agent SDK's options, on the real CLI against the FakeApi: each one shown by what it changes (the
 * request the API receives, or the session's own init frame and events), not by the flag alone.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Predicate, Stream } from "effect"
import * as Claude from "../src/Claude.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { ClaudeTest, eventually, processesWithHome, tempDir } from "./utils.ts"

/** Runs one turn per options (each on a process of its own), and gives the events and requests of each. */
const turnsWith = (...inputs: ReadonlyArray<ClaudeOptions.Input>) =>
  Effect.gen(function*() {
    const home = yield* tempDir("options")
    const api = yield* FakeApi.make({ script: (_request, _index) => FakeApi.text("ok") })
    const env = FakeApi.cliEnvironment(api, home)
    const turns = yield* Effect.forEach(inputs, (input) =>
      Effect.gen(function*() {
        const before = (yield* api.conversationRequests).length
        const events = yield* Claude.query("hello", { ...input, env: { ...env, ...input.env } }).pipe(
          Stream.runCollect
        )
        const requests = (yield* api.conversationRequests).slice(before)
        return { events, request: requests[0] }
      })).pipe(Effect.provide(ClaudeTest))
    yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
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

  it.live("includeHookEvents: a settings hook's run arrives as hook_started and hook_response frames, with its output", () =>
    Effect.gen(function*() {
      const settings = { hooks: { UserPromptSubmit: [{ hooks: [{ type: "command", command: "echo hooked" }] }] } }
      const [quiet, reported] = yield* turnsWith({ settings }, { settings, includeHookEvents: true })
      const hookFrames = (events: ReadonlyArray<ClaudeEvent>): Array<object> =>
        events.flatMap((event) =>
          event._tag === "Frame" && event.frame.type === "system" && Predicate.hasProperty(event.frame, "subtype") &&
            typeof event.frame.subtype === "string" && event.frame.subtype.startsWith("hook_")
            ? [event.frame]
            : []
        )
      assert.lengthOf(hookFrames(quiet?.events ?? []), 0)
      const frames = hookFrames(reported?.events ?? [])
      assert.deepStrictEqual(frames.map((frame) => Predicate.hasProperty(frame, "subtype") ? frame.subtype : ""), [
        "hook_started",
        "hook_response"
      ])
      assert.deepInclude(frames[1], { hook_event: "UserPromptSubmit", output: "hooked\n", outcome: "success" })
    }))

  it.live("extraArgs passes a flag this library has no option for: --disable-slash-commands empties the init's commands", () =>
    Effect.gen(function*() {
      const [plain, bare] = yield* turnsWith({}, { extraArgs: { "disable-slash-commands": null } })
      const commands = (events: ReadonlyArray<ClaudeEvent>) => {
        const init = initOf(events)
        return Predicate.hasProperty(init, "slash_commands") && Array.isArray(init.slash_commands)
          ? init.slash_commands
          : undefined
      }
      assert.isAbove(commands(plain?.events ?? [])?.length ?? 0, 0)
      assert.deepStrictEqual(commands(bare?.events ?? []), [])
    }))
})

/**
 * Hooks on the real CLI (2.1.329) against the FakeApi: for the events the CLI fires offline, the handler's
 * typed input, and its answer changing what the CLI does (a PreToolUse deny stops the tool, a failing
 * handler's `onFailure`, `additionalContext` in the next API request, a Stop block that makes the CLI go on).
 * The events it does not fire offline are covered by the Schema tests in `test/Hooks.schema.test.ts`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import type * as Hooks from "../src/Hooks.ts"
import type * as Session from "../src/Session.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { ClaudeTest, eventually, processesWithHome, tempDir } from "./utils.ts"

const withSession = <A, E>(
  script: FakeApi.Script,
  config: (home: string) => Omit<Session.Config, "options">,
  body: (session: Session.Session, api: FakeApi.FakeApi["Service"], home: string) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const home = yield* tempDir("hooks")
    const api = yield* FakeApi.make({ script })
    const options = { env: FakeApi.cliEnvironment(api, home), cwd: home, timeouts: { turn: 30_000 } }
    const result = yield* Effect.scoped(
      Effect.flatMap(Claude.session({ ...config(home), options }), (session) => body(session, api, home))
    ).pipe(Effect.provide(ClaudeTest))
    yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
    return result
  }).pipe(Effect.scoped)

const mkdir = (dir: string) => FakeApi.toolUse("Bash", { command: `mkdir -p ${dir}`, description: "Makes a dir" })
const allow = () => Effect.succeed({ behavior: "allow" as const })
const bodyText = (request: FakeApi.RecordedRequest | undefined) => JSON.stringify(request?.body ?? null)

describe("hooks on the real CLI", () => {
  it.live("PreToolUse: the handler gets the typed input; a deny stops the tool and its reason reaches the model", () => {
    const seen: Array<Hooks.Input<"PreToolUse">> = []
    return withSession(
      (_, index) => (index === 0 ? mkdir("made") : FakeApi.text("done")),
      () => ({
        canUseTool: allow,
        hooks: {
          PreToolUse: [{
            matcher: "Bash",
            handle: (input) =>
              Effect.sync(() => {
                seen.push(input)
                return {
                  hookSpecificOutput: {
                    hookEventName: "PreToolUse" as const,
                    permissionDecision: "deny" as const,
                    permissionDecisionReason: "no dirs today"
                  }
                }
              })
          }]
        }
      }),
      (session, api, home) =>
        Effect.gen(function*() {
          yield* session.ask("make it")
          assert.lengthOf(seen, 1)
          assert.strictEqual(seen[0]?.tool_name, "Bash")
          assert.deepInclude(seen[0]?.tool_input, { command: "mkdir -p made" })
          assert.strictEqual(seen[0]?.cwd, home)
          assert.isFalse(fs.existsSync(path.join(home, "made")))
          const requests = yield* api.conversationRequests
          assert.include(FakeApi.lastToolResult(requests[1] ?? requests[0]!) ?? "", "no dirs today")
        })
    )
  })

  it.live("a failing handler: onFailure block stops the tool, the default lets it run", () =>
    Effect.gen(function*() {
      const run = (onFailure: Hooks.FailurePolicy | undefined) =>
        withSession(
          (_, index) => (index === 0 ? mkdir("made") : FakeApi.text("done")),
          () => ({
            canUseTool: allow,
            hooks: { PreToolUse: [{ onFailure, handle: () => Effect.fail("the policy service is down") }] }
          }),
          (session, api, home) =>
            Effect.gen(function*() {
              yield* session.ask("make it")
              const log = yield* session.debugLog
              assert.isTrue(log.lifecycle.some((e) => e.event === "hookFailed"))
              const requests = yield* api.conversationRequests
              return { made: fs.existsSync(path.join(home, "made")), result: FakeApi.lastToolResult(requests[1]!) }
            })
        )
      const blocked = yield* run("block")
      assert.isFalse(blocked.made)
      assert.include(blocked.result ?? "", "onFailure is \"block\"")
      const continued = yield* run(undefined)
      assert.isTrue(continued.made)
    }))

  it.live("UserPromptSubmit and PostToolUse: additionalContext reaches the model's next request", () =>
    withSession(
      (_, index) => (index === 0 ? mkdir("made") : FakeApi.text("done")),
      () => ({
        canUseTool: allow,
        hooks: {
          UserPromptSubmit: [{
            handle: (input) =>
              Effect.succeed({
                hookSpecificOutput: {
                  hookEventName: "UserPromptSubmit" as const,
                  additionalContext: `prompt-context-for:${input.prompt}`
                }
              })
          }],
          PostToolUse: [{
            handle: (input) =>
              Effect.succeed({
                hookSpecificOutput: {
                  hookEventName: "PostToolUse" as const,
                  additionalContext: `post-context-for:${input.tool_name}`
                }
              })
          }]
        }
      }),
      (session, api) =>
        Effect.gen(function*() {
          yield* session.ask("make it")
          const [first, second] = yield* api.conversationRequests
          assert.include(bodyText(first), "prompt-context-for:make it")
          assert.notInclude(bodyText(first), "post-context-for")
          assert.include(bodyText(second), "post-context-for:Bash")
        })
    ))

  it.live("Stop: a block with a reason makes the CLI go on, the reason reaching the model", () => {
    let stops = 0
    return withSession(
      [FakeApi.text("first"), FakeApi.text("second")],
      () => ({
        hooks: {
          Stop: [{
            handle: (input) =>
              Effect.sync(() => {
                stops++
                return input.stop_hook_active ? {} : { decision: "block" as const, reason: "not done: keep going" }
              })
          }]
        }
      }),
      (session, api) =>
        Effect.gen(function*() {
          const result = yield* session.ask("go")
          assert.strictEqual(result.text, "second")
          assert.strictEqual(stops, 2)
          const requests = yield* api.conversationRequests
          assert.lengthOf(requests, 2)
          assert.include(bodyText(requests[1]), "not done: keep going")
        })
    )
  })

  it.live("the other events it fires offline reach their typed handlers, in the real CLI's form", () => {
    const fired = new Map<string, Array<unknown>>()
    const record = <E extends Hooks.HookEvent>(event: E): ReadonlyArray<Hooks.Hook<E>> => [{
      handle: (input) =>
        Effect.sync(() => {
          fired.set(event, [...(fired.get(event) ?? []), input])
          return { continue: true }
        })
    }]
    const lastIsToolResult = (request: FakeApi.RecordedRequest) => {
      const messages: ReadonlyArray<unknown> = Reflect.get(Object(request.body), "messages") ?? []
      return JSON.stringify(messages.at(-1) ?? null).includes("\"tool_result\"")
    }
    return withSession(
      (request) => {
        const last = FakeApi.lastUserText(request)
        if (last.includes("subagent-task")) return FakeApi.text("sub done")
        if (lastIsToolResult(request)) return FakeApi.text("after the tool")
        if (last.includes("fail a tool")) return FakeApi.toolUse("Bash", { command: "false", description: "Fails" })
        if (last.includes("ask first")) return mkdir("asked")
        // After the failed turn the next prompt reached the API in the same user message as the failed one.
        if (last.includes("use an agent")) {
          return FakeApi.toolUse("Agent", {
            description: "sub",
            prompt: "subagent-task",
            subagent_type: "general-purpose"
          })
        }
        if (last.includes("fail the api")) return FakeApi.error(500)
        return FakeApi.text("plain")
      },
      (home) => {
        fs.mkdirSync(path.join(home, ".claude", "commands"), { recursive: true })
        fs.writeFileSync(path.join(home, ".claude", "commands", "greet.md"), "Greet $ARGUMENTS")
        return {
          canUseTool: allow,
          hooks: {
            PostToolUseFailure: record("PostToolUseFailure"),
            PostToolBatch: record("PostToolBatch"),
            MessageDisplay: record("MessageDisplay"),
            PermissionRequest: record("PermissionRequest"),
            PreModelSwitch: record("PreModelSwitch"),
            PostModelSwitch: record("PostModelSwitch"),
            UserPromptExpansion: record("UserPromptExpansion"),
            PreCompact: record("PreCompact"),
            PostCompact: record("PostCompact"),
            SessionStart: record("SessionStart"),
            SessionEnd: record("SessionEnd"),
            StopFailure: record("StopFailure"),
            SubagentStart: record("SubagentStart"),
            SubagentStop: record("SubagentStop")
          }
        }
      },
      (session) =>
        Effect.gen(function*() {
          yield* session.ask("fail a tool")
          yield* session.ask("ask first")
          yield* session.setModel("claude-sonnet-4-5")
          yield* session.command("greet", "Ada")
          yield* session.command("compact")
          yield* session.reset
          yield* Effect.flip(session.ask("fail the api"))
          yield* session.ask("use an agent")
          yield* eventually(() => (fired.has("SubagentStop") ? true : undefined), "10 seconds")
          const one = <E extends Hooks.HookEvent>(event: E): Record<string, unknown> => Object(fired.get(event)?.[0])
          assert.deepInclude(one("PostToolUseFailure"), { tool_name: "Bash", error: "Exit code 1" })
          assert.isArray(one("PostToolBatch")["tool_calls"])
          assert.strictEqual(typeof one("MessageDisplay")["delta"], "string")
          assert.deepInclude(one("PermissionRequest"), { tool_name: "Bash" })
          assert.deepInclude(one("PreModelSwitch"), { to_model: "claude-sonnet-4-5", source: "sdk" })
          assert.deepInclude(one("PostModelSwitch"), { to_model: "claude-sonnet-4-5" })
          assert.deepInclude(one("UserPromptExpansion"), { command_name: "greet", command_args: "Ada" })
          assert.deepInclude(one("PreCompact"), { trigger: "manual" })
          assert.deepInclude(one("PostCompact"), { trigger: "manual" })
          const starts = (fired.get("SessionStart") ?? []).map((input) => Reflect.get(Object(input), "source"))
          assert.includeMembers(starts, ["compact", "clear"])
          assert.deepInclude(one("SessionEnd"), { reason: "clear" })
          assert.deepInclude(one("StopFailure"), { error: "server_error" })
          assert.deepInclude(one("SubagentStart"), { agent_type: "general-purpose" })
          assert.strictEqual(typeof one("SubagentStop")["agent_transcript_path"], "string")
        })
    )
  })
})

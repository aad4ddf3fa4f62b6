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
})

/**
 * Permission answers beyond allow and deny, on the real CLI against the FakeApi: the suggestions the CLI
 * sends with `can_use_tool`, "always allow" rules in an answer (`updatedPermissions`), and a denial that
 * stops the turn (`interrupt`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as Claude from "../src/Claude.ts"
import type * as Session from "../src/Session.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { ClaudeTest, eventually, processesWithHome, tempDir } from "./utils.ts"

// Commands that change something: the CLI asks before each (a bare echo it lets run without asking).
const bash = (dir: string) =>
  FakeApi.toolUse("Bash", { command: `mkdir -p ${dir} && echo made ${dir}`, description: "Makes a dir" })

const withSession = <A, E>(
  script: FakeApi.Script,
  canUseTool: (request: Session.PermissionRequest) => Effect.Effect<Session.PermissionDecision>,
  body: (session: Session.Session, api: FakeApi.FakeApi["Service"]) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const home = yield* tempDir("permissions")
    const api = yield* FakeApi.make({ script })
    const options = { env: FakeApi.cliEnvironment(api, home), cwd: home, timeouts: { turn: 30_000 } }
    const result = yield* Effect.scoped(
      Effect.flatMap(Claude.session({ options, canUseTool }), (session) => body(session, api))
    ).pipe(Effect.provide(ClaudeTest))
    yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
    return result
  }).pipe(Effect.scoped)

describe("permission answers on the real CLI", () => {
  it.live("the request carries the CLI's suggestions, typed; an allow with a session rule is not asked again", () => {
    const asked: Array<Session.PermissionRequest> = []
    return withSession(
      [bash("one"), FakeApi.text("first"), bash("two"), FakeApi.text("second")],
      (request) =>
        Effect.sync(() => {
          asked.push(request)
          return {
            behavior: "allow" as const,
            updatedPermissions: [{
              type: "addRules" as const,
              rules: [{ toolName: "Bash" }],
              behavior: "allow" as const,
              destination: "session" as const
            }]
          }
        }),
      (session, api) =>
        Effect.gen(function*() {
          yield* session.ask("make one")
          yield* session.ask("make two")
          assert.lengthOf(asked, 1)
          const [first] = asked
          assert.strictEqual(first?.toolName, "Bash")
          assert.isAbove(first?.suggestions.length ?? 0, 0)
          assert.isTrue(first?.suggestions.some((s) => s.type === "addRules" && s.behavior === "allow"))
          const requests = yield* api.conversationRequests
          assert.include(requests[3] === undefined ? "" : FakeApi.lastToolResult(requests[3]) ?? "", "made two")
        })
    )
  })

  it.live("a denial with interrupt stops the turn: it fails Interrupted, and the model is not asked again", () =>
    withSession(
      [bash("never"), FakeApi.text("should not be asked for")],
      () => Effect.succeed({ behavior: "deny" as const, message: "not here", interrupt: true }),
      (session, api) =>
        Effect.gen(function*() {
          const error = yield* session.send("make it").pipe(Stream.runDrain, Effect.flip)
          assert.strictEqual(error.reason._tag, "Interrupted")
          assert.lengthOf(yield* api.conversationRequests, 1)
        })
    ))
})

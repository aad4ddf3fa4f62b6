/**
 * MCP elicitations on the real CLI (2.1.329) against the FakeApi: a stdio MCP server of ours asks the user
 * for input while its tool runs; the CLI asks the host (`elicitation`), and the session's `onElicitation`
 * answers, or, without one, the request is declined. The tool's result, which the model gets, says which.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import type * as Session from "../src/Session.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { ClaudeTest, eventually, processesWithHome, tempDir } from "./utils.ts"

const server = path.join(import.meta.dirname, "support", "elicitingMcpServer.mjs")

/** One turn in which the model calls the server's `ask` tool; gives what the tool told the model. */
const toolResultWith = (config: Omit<Session.Config, "options">) =>
  Effect.gen(function*() {
    const home = yield* tempDir("elicitation")
    const api = yield* FakeApi.make({
      script: (_request, index) => (index === 0 ? FakeApi.toolUse("mcp__asker__ask", {}) : FakeApi.text("thanks"))
    })
    const options = {
      env: FakeApi.cliEnvironment(api, home),
      cwd: home,
      mcpServers: { asker: { type: "stdio" as const, command: process.execPath, args: [server] } },
      allowedTools: ["mcp__asker__ask"],
      timeouts: { turn: 60_000 }
    }
    yield* Effect.scoped(
      Effect.flatMap(Claude.session({ ...config, options }), (session) => session.ask("who am I?"))
    ).pipe(Effect.provide(ClaudeTest))
    yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
    const requests = yield* api.conversationRequests
    return requests.length > 1 ? FakeApi.lastToolResult(requests[1]!) : undefined
  }).pipe(Effect.scoped)

describe("MCP elicitations on the real CLI", () => {
  it.live("onElicitation answers the server's question: the tool gets the user's answer", () =>
    Effect.gen(function*() {
      const asked: Array<Session.ElicitationRequest> = []
      const result = yield* toolResultWith({
        onElicitation: (request) =>
          Effect.sync(() => {
            asked.push(request)
            return { action: "accept" as const, content: { name: "Ada" } }
          })
      })
      assert.strictEqual(result, "the user is Ada")
      assert.strictEqual(asked.length, 1)
      assert.strictEqual(asked[0]?.serverName, "asker")
      assert.strictEqual(asked[0]?.message, "What is your name?")
      assert.deepInclude(asked[0]?.requestedSchema, { type: "object" })
    }), 90_000)

  it.live(
    "without onElicitation the question is declined: the tool hears so, and the turn ends",
    () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* toolResultWith({}), "the user chose decline")
      }),
    90_000
  )

  it.live("an onElicitation that fails declines the question", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* toolResultWith({ onElicitation: () => Effect.fail("no one is there") }),
        "the user chose decline"
      )
    }), 90_000)
})

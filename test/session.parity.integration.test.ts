/**
 * What an Agent SDK user reads off a session, on the real CLI against the FakeApi.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as Claude from "../src/Claude.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { ClaudeTest, eventually, processesWithHome, tempDir } from "./utils.ts"

describe("a session's server info on the real CLI", () => {
  it.live("serverInfo is the CLI's initialize reply: its commands, agents, models, account and version", () =>
    Effect.gen(function*() {
      const home = yield* tempDir("server-info")
      const api = yield* FakeApi.make({ script: [] })
      const options = {
        env: FakeApi.cliEnvironment(api, home),
        agents: { reviewer: { description: "Reviews code", prompt: "You review code." } }
      }
      yield* Effect.scoped(Effect.gen(function*() {
        const session = yield* Claude.session({ options })
        const info = Option.getOrUndefined(yield* session.serverInfo)
        assert.isDefined(info)
        // The version of the CLI that runs (the pinned one, or the newest under npm run test:latest-cli).
        assert.match(info?.claude_code_version ?? "", /^\d+\.\d+\.\d+/)
        // The CLI's own view of its pid: 1 inside the PID namespace it runs in here; the host's is session.pid.
        assert.isNumber(info?.pid)
        assert.isTrue(info?.commands?.some((command) => command.name === "clear"))
        assert.isTrue(info?.agents?.some((agent) => agent.name === "reviewer" && agent.description === "Reviews code"))
        assert.isAbove(info?.models?.length ?? 0, 0)
        assert.deepInclude(info?.account, { apiKeySource: "ANTHROPIC_API_KEY" })
        // Fields not typed here are kept as the CLI sent them.
        assert.isTrue(Array.isArray(Reflect.get(info ?? {}, "capabilities")))
      })).pipe(Effect.provide(ClaudeTest))
      yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
    }).pipe(Effect.scoped))
})

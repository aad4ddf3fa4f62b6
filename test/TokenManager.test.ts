import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Option, Redacted, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import * as ProcessManager from "../src/ProcessManager.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as TokenManager from "../src/TokenManager.ts"
import * as FakeCli from "../src/testing/FakeCli.ts"
import { quickShutdown, readJson, tempDir } from "./utils.ts"

const CANARY = "sk-ant-canary-7f3b9c1d-never-print-me"

const credentialFrom = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const tokens = yield* TokenManager.TokenManager
    return yield* tokens.credential
  }).pipe(
    Effect.provide(TokenManager.layerConfig),
    Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))
  )

describe("TokenManager", () => {
  it.effect("prefers CLAUDE_CODE_OAUTH_TOKEN, then ANTHROPIC_API_KEY, else none", () =>
    Effect.gen(function*() {
      const both = yield* credentialFrom({ CLAUDE_CODE_OAUTH_TOKEN: "oauth-1", ANTHROPIC_API_KEY: "key-1" })
      assert.strictEqual(Option.getOrUndefined(both)?.variable, "CLAUDE_CODE_OAUTH_TOKEN")
      const key = yield* credentialFrom({ ANTHROPIC_API_KEY: "key-1" })
      assert.strictEqual(Option.getOrUndefined(key)?.variable, "ANTHROPIC_API_KEY")
      assert.isTrue(Option.isNone(yield* credentialFrom({})))
    }))

  it("a credential shows only its identity hash, never its value", () => {
    const credential = TokenManager.makeCredential("ANTHROPIC_API_KEY", Redacted.make(CANARY))
    assert.match(credential.identity, /^[0-9a-f]{16}$/)
    assert.notInclude(String(credential.value), CANARY)
    assert.notInclude(JSON.stringify(credential), CANARY)
    assert.strictEqual(Redacted.value(credential.value), CANARY)
  })

  it.live("F17: the credential reaches the CLI's environment only: not argv, not errors", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("f17")
      const recordEnv = path.join(dir, "env.json")
      const recordArgv = path.join(dir, "argv.jsonl")
      const layer = Claude.layerNoDeps.pipe(
        Layer.provideMerge(SessionPool.layer({ minIdle: 0 })),
        Layer.provide(ProcessManager.layer()),
        Layer.provide(TokenManager.layer(Option.some(TokenManager.makeCredential("ANTHROPIC_API_KEY", Redacted.make(CANARY))))),
        Layer.provide(NodeServices.layer)
      )
      const exit = yield* Claude.query("hi", {
        ...FakeCli.options({ recordEnv, recordArgv, apiError: { status: 401 } }),
        timeouts: quickShutdown
      }).pipe(Stream.runCollect, Effect.exit, Effect.provide(layer))
      assert.strictEqual(readJson<Record<string, string>>(recordEnv)?.ANTHROPIC_API_KEY, CANARY)
      assert.notInclude(fs.readFileSync(recordArgv, "utf8"), CANARY)
      assert.isTrue(Exit.isFailure(exit))
      assert.notInclude(JSON.stringify(exit), CANARY)
      assert.notInclude(String(exit), CANARY)
    }))
})

import { NodeFileSystem, NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import {
  Clock,
  ConfigProvider,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  Option,
  Redacted,
  References,
  Stream,
  Tracer
} from "effect"
import { TestClock } from "effect/testing"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import * as ClaudeError from "../src/ClaudeError.ts"
import * as ProcessManager from "../src/ProcessManager.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import * as FakeCli from "../src/testing/FakeCli.ts"
import * as TokenManager from "../src/TokenManager.ts"
import * as FakeFileSystem from "./support/fakeFileSystem.ts"
import { captureSpans, quickShutdown, readJson, tempDir } from "./utils.ts"

const CANARY = "sk-ant-canary-7f3b9c1d-never-print-me"

const credentialFrom = (env: Record<string, string>, settings: TokenManager.Settings = {}) =>
  TokenManager.TokenManager.use((tokens) => tokens.getToken).pipe(
    Effect.provide(TokenManager.layerConfig(settings)),
    Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env })),
    Effect.provide(NodeFileSystem.layer)
  )

const OAUTH = "sk-ant-oat01-abc"
const KEY = "sk-ant-api03-xyz"
const key = (value: string, source?: TokenManager.Source) =>
  TokenManager.makeCredential("ANTHROPIC_API_KEY", Redacted.make(value), { source })

const reasonOf = <A, E>(exit: Exit.Exit<A, E>) => {
  const failure = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
  return failure?._tag === "Fail" && ClaudeError.isClaudeError(failure.error) ? failure.error.reason : undefined
}

describe("TokenManager", () => {
  it.effect("sources in order: the Layer's value, CLAUDE_CODE_OAUTH_TOKEN, ANTHROPIC_API_KEY, a file, an Effect", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("tokens")
      const file = path.join(dir, "token")
      fs.writeFileSync(file, `${KEY}-file\n`)
      const vault = { fromEffect: Effect.succeedSome({ value: Redacted.make(`${KEY}-vault`) }) }
      const sourceOf = (env: Record<string, string>, settings: TokenManager.Settings) =>
        Effect.map(credentialFrom(env, settings), (c) => Option.getOrUndefined(c)?.source)
      assert.strictEqual(
        yield* sourceOf({ CLAUDE_CODE_OAUTH_TOKEN: OAUTH }, { credential: key(`${KEY}-explicit`), file, ...vault }),
        "layer"
      )
      assert.strictEqual(
        yield* sourceOf({ CLAUDE_CODE_OAUTH_TOKEN: OAUTH, ANTHROPIC_API_KEY: KEY }, { file, ...vault }),
        "CLAUDE_CODE_OAUTH_TOKEN"
      )
      assert.strictEqual(yield* sourceOf({ ANTHROPIC_API_KEY: KEY }, { file, ...vault }), "ANTHROPIC_API_KEY")
      assert.strictEqual(yield* sourceOf({}, { file, ...vault }), "file")
      assert.strictEqual(yield* sourceOf({ EFFECT_CLAUDE_CODE_TOKEN_FILE: file }, {}), "file")
      assert.strictEqual(yield* sourceOf({}, vault), "effect")
      assert.strictEqual(yield* sourceOf({}, {}), undefined)
      // An oauth-looking value from a file travels as CLAUDE_CODE_OAUTH_TOKEN.
      fs.writeFileSync(file, OAUTH)
      assert.strictEqual(
        Option.getOrUndefined(yield* credentialFrom({}, { file }))?.variable,
        "CLAUDE_CODE_OAUTH_TOKEN"
      )
    }))

  it.effect("validation names the source and the problem, never the value", () =>
    Effect.gen(function*() {
      const cases: Array<readonly [Record<string, string>, string, string]> = [
        [{ ANTHROPIC_API_KEY: `${KEY} ${CANARY}` }, "ANTHROPIC_API_KEY", "whitespace"],
        [{ ANTHROPIC_API_KEY: `${KEY}\u0007` }, "ANTHROPIC_API_KEY", "control"],
        [{ CLAUDE_CODE_OAUTH_TOKEN: KEY }, "CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat"],
        [{ ANTHROPIC_API_KEY: "canary-without-prefix" }, "ANTHROPIC_API_KEY", "sk-ant-"]
      ]
      for (const [env, source, problem] of cases) {
        const exit = yield* Effect.exit(credentialFrom(env))
        const reason = reasonOf(exit)
        assert.strictEqual(reason?._tag, "InvalidCredential")
        assert.include(reason?.message, source)
        assert.include(reason?.message, problem)
        for (const value of Object.values(env)) if (value !== "") assert.notInclude(String(exit), value)
        assert.notInclude(String(exit), CANARY)
      }
      // An empty file, or an empty explicit value (an empty variable counts as unset).
      const dir = yield* tempDir("empty-token")
      fs.writeFileSync(path.join(dir, "token"), "\n")
      const emptyFile = reasonOf(yield* Effect.exit(credentialFrom({}, { file: path.join(dir, "token") })))
      assert.include(emptyFile?.message, "empty")
      const emptyValue = reasonOf(yield* Effect.exit(credentialFrom({}, { credential: key("") })))
      assert.include(emptyValue?.message, "the Layer's value is not usable: it is empty")
      // A gateway's keys: no prefix check.
      const gateway = yield* credentialFrom({ ANTHROPIC_API_KEY: "gw-123" }, { anyPrefix: true })
      assert.isTrue(Option.isSome(gateway))
      // A configured file that cannot be read is an error, not a silent fall-through.
      const missing = reasonOf(yield* Effect.exit(credentialFrom({}, { file: "/nonexistent/token" })))
      assert.strictEqual(missing?._tag, "InvalidCredential")
      assert.include(missing?.message, "/nonexistent/token")
    }))

  it.effect("a token file is re-read when it changes: rotation shows in changes", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("token-file")
      const file = path.join(dir, "token")
      fs.writeFileSync(file, `${KEY}-one`)
      yield* Effect.gen(function*() {
        const tokens = yield* TokenManager.TokenManager
        const first = Option.getOrThrow(yield* tokens.getToken)
        assert.strictEqual(Option.getOrThrow(yield* tokens.getToken).identity, first.identity)
        fs.writeFileSync(file, `${KEY}-two-longer`)
        const second = Option.getOrThrow(yield* tokens.getToken)
        assert.notStrictEqual(second.identity, first.identity)
        assert.strictEqual(Redacted.value(second.value), `${KEY}-two-longer`)
        const seen = yield* tokens.changes.pipe(Stream.take(1), Stream.runCollect)
        assert.deepStrictEqual(seen, [Option.some(second.identity)])
      }).pipe(Effect.provide(TokenManager.layer({ file }).pipe(Layer.provide(NodeFileSystem.layer))))
    }))

  it.effect("a token file is read through the FileSystem: unreadable (permission denied) or missing, it fails typed, naming the file and why", () => {
    const file = "/run/secrets/anthropic-api-key"
    const { fake, layer } = FakeFileSystem.layer({ [file]: { fails: "PermissionDenied" } })
    let vaultCalls = 0
    const vault = Effect.sync(() => {
      vaultCalls++
      return Option.some({ value: Redacted.make(`${KEY}-vault`) })
    })
    return Effect.gen(function*() {
      const tokens = yield* TokenManager.TokenManager
      const denied = yield* Effect.exit(tokens.getToken)
      assert.strictEqual(
        reasonOf(denied)?.message,
        `The credential from the file ${file} is not usable: it cannot be read: permission denied`
      )
      // An error, not a fall-through to the vault.
      assert.strictEqual(vaultCalls, 0)
      fake.files.delete(file)
      assert.strictEqual(
        reasonOf(yield* Effect.exit(tokens.getToken))?.message,
        `The credential from the file ${file} is not usable: it does not exist`
      )
      // Readable again (the secret was mounted): its credential, and the vault is still never asked.
      fake.files.set(file, `${KEY}-mounted\n`)
      const credential = Option.getOrThrow(yield* tokens.getToken)
      assert.deepStrictEqual([credential.source, Redacted.value(credential.value)], ["file", `${KEY}-mounted`])
      assert.strictEqual(vaultCalls, 0)
    }).pipe(Effect.provide(TokenManager.layer({ file, fromEffect: vault }).pipe(Layer.provide(layer))))
  })

  it.effect("a token file is stat'ed for every credential asked for, and read again only when it changed", () => {
    const file = "/run/secrets/token"
    const { fake, layer } = FakeFileSystem.layer({ [file]: `${KEY}-one` })
    return Effect.gen(function*() {
      const tokens = yield* TokenManager.TokenManager
      const first = Option.getOrThrow(yield* tokens.getToken)
      assert.strictEqual(Option.getOrThrow(yield* tokens.getToken).identity, first.identity)
      assert.deepStrictEqual(fake.asked, [file, file, file], "stat, read, then a stat only")
      fake.asked.length = 0
      fake.files.set(file, `${KEY}-two`)
      const second = Option.getOrThrow(yield* tokens.getToken)
      assert.notStrictEqual(second.identity, first.identity)
      assert.strictEqual(Redacted.value(second.value), `${KEY}-two`)
      assert.deepStrictEqual(fake.asked, [file, file], "changed: stat, then read")
    }).pipe(Effect.provide(TokenManager.layer({ file }).pipe(Layer.provide(layer))))
  })

  it.effect("a vault Effect runs once; refresh runs before a known expiry (TestClock) and on demand", () =>
    Effect.gen(function*() {
      let vaultCalls = 0
      let refreshes = 0
      const now = yield* Clock.currentTimeMillis
      const layer = TokenManager.layer({
        fromEffect: Effect.sync(() => {
          vaultCalls++
          return Option.some({ value: Redacted.make(`${KEY}-vault`), expiresAt: now + 60 * 60_000 })
        }),
        refresh: Effect.sync(() => {
          refreshes++
          return { value: Redacted.make(`${KEY}-refreshed-${refreshes}`), expiresAt: now + 2 * 60 * 60_000 }
        }),
        refreshBefore: "5 minutes"
      })
      yield* Effect.gen(function*() {
        const tokens = yield* TokenManager.TokenManager
        const first = Option.getOrThrow(yield* tokens.getToken)
        yield* tokens.getToken
        assert.strictEqual(vaultCalls, 1)
        assert.strictEqual(first.source, "effect")
        // The vault's credential expires in an hour: refreshed at 55 minutes.
        yield* TestClock.adjust("54 minutes")
        assert.strictEqual(refreshes, 0)
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(refreshes, 1)
        const second = Option.getOrThrow(yield* tokens.getToken)
        assert.strictEqual(second.source, "refresh")
        assert.notStrictEqual(second.identity, first.identity)
        // On demand, after an authentication failure say.
        const third = Option.getOrThrow(yield* tokens.refresh)
        assert.strictEqual(refreshes, 2)
        assert.strictEqual(Option.getOrThrow(yield* tokens.getToken).identity, third.identity)
        assert.strictEqual(vaultCalls, 1)
      }).pipe(Effect.provide(layer.pipe(Layer.provide(NodeFileSystem.layer))))
    }))

  it.effect("two first uses at once run the vault once, and share its credential", () =>
    Effect.gen(function*() {
      let vaultCalls = 0
      const layer = TokenManager.layer({
        // A network round trip: both uses arrive while it runs.
        fromEffect: Effect.sync(() => vaultCalls++).pipe(
          Effect.andThen(Effect.sleep("1 second")),
          Effect.as(Option.some({ value: Redacted.make(`${KEY}-vault`) }))
        )
      })
      yield* Effect.gen(function*() {
        const tokens = yield* TokenManager.TokenManager
        const both = yield* Effect.all([tokens.getToken, tokens.getToken], { concurrency: 2 }).pipe(Effect.forkChild)
        yield* TestClock.adjust("1 second")
        yield* TestClock.adjust("1 second")
        const [first, second] = yield* Fiber.join(both)
        assert.strictEqual(vaultCalls, 1)
        assert.strictEqual(Option.getOrThrow(first).identity, Option.getOrThrow(second).identity)
      }).pipe(Effect.provide(layer.pipe(Layer.provide(NodeFileSystem.layer))))
    }))

  it.effect("a vault that failed is asked again at the next use (a failure is not kept)", () =>
    Effect.gen(function*() {
      let vaultCalls = 0
      const layer = TokenManager.layer({
        fromEffect: Effect.suspend(() =>
          ++vaultCalls === 1
            ? ClaudeError.fail(new ClaudeError.ApiError({ status: 503, detail: "vault down" }))
            : Effect.succeedSome({ value: Redacted.make(`${KEY}-vault`) })
        )
      })
      yield* Effect.gen(function*() {
        const tokens = yield* TokenManager.TokenManager
        assert.strictEqual(reasonOf(yield* Effect.exit(tokens.getToken))?._tag, "ApiError")
        assert.strictEqual(Option.getOrThrow(yield* tokens.getToken).source, "effect")
        yield* tokens.getToken
        assert.strictEqual(vaultCalls, 2)
      }).pipe(Effect.provide(layer.pipe(Layer.provide(NodeFileSystem.layer))))
    }))

  it.effect("a failed scheduled refresh is retried on its Schedule", () =>
    Effect.gen(function*() {
      let attempts = 0
      const now = yield* Clock.currentTimeMillis
      const layer = TokenManager.layer({
        credential: TokenManager.makeCredential("ANTHROPIC_API_KEY", Redacted.make(KEY), {
          expiresAt: now + 10 * 60_000
        }),
        refresh: Effect.suspend(() => {
          attempts++
          return attempts < 3
            ? ClaudeError.fail(new ClaudeError.ApiError({ status: 503, detail: "vault down" }))
            : Effect.succeed({ value: Redacted.make(`${KEY}-new`) })
        })
      })
      yield* Effect.gen(function*() {
        const tokens = yield* TokenManager.TokenManager
        yield* tokens.getToken
        yield* TestClock.adjust("5 minutes")
        assert.strictEqual(attempts, 1)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(attempts, 2)
        yield* TestClock.adjust("2 seconds")
        assert.strictEqual(attempts, 3)
        assert.strictEqual(Option.getOrThrow(yield* tokens.getToken).source, "refresh")
      }).pipe(Effect.provide(layer.pipe(Layer.provide(NodeFileSystem.layer))))
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
        Layer.provide(
          TokenManager.layerTest(Option.some(TokenManager.makeCredential("ANTHROPIC_API_KEY", Redacted.make(CANARY))))
        ),
        Layer.provide(NodeServices.layer)
      )
      const exit = yield* Claude.query("hi", {
        ...FakeCli.options({ recordEnv, recordArgv, apiError: { status: 401 } }),
        timeouts: quickShutdown
      }).pipe(Stream.runCollect, Effect.exit, Effect.provide(layer))
      // Down a pipe on fd 3, not in the environment.
      const seen = readJson<Record<string, string>>(recordEnv)
      assert.strictEqual(seen?.FAKE_CLI_CREDENTIAL_FROM_FD, CANARY)
      assert.strictEqual(seen?.CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR, "3")
      assert.isUndefined(seen?.ANTHROPIC_API_KEY)
      assert.notInclude(fs.readFileSync(recordArgv, "utf8"), CANARY)
      assert.isTrue(Exit.isFailure(exit))
      assert.notInclude(JSON.stringify(exit), CANARY)
      assert.notInclude(String(exit), CANARY)
    }))

  it.live("credentialDelivery: \"environment\" passes the credential as ANTHROPIC_API_KEY instead (the CLI's tools see it)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("delivery")
      const recordEnv = path.join(dir, "env.json")
      const layer = Claude.layerNoDeps.pipe(
        Layer.provideMerge(SessionPool.layer({ minIdle: 0 })),
        Layer.provide(ProcessManager.layer({ credentialDelivery: "environment" })),
        Layer.provide(
          TokenManager.layerTest(Option.some(TokenManager.makeCredential("ANTHROPIC_API_KEY", Redacted.make(CANARY))))
        ),
        Layer.provide(NodeServices.layer)
      )
      yield* Claude.query("hi", { ...FakeCli.options({ recordEnv }), timeouts: quickShutdown }).pipe(
        Stream.runDrain,
        Effect.provide(layer)
      )
      const seen = readJson<Record<string, string>>(recordEnv)
      assert.strictEqual(seen?.ANTHROPIC_API_KEY, CANARY)
      assert.isUndefined(seen?.CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR)
    }))

  it.live("F17: a canary credential is in none of argv, the CLI's environment, the tools' environment, logs, spans or errors", () =>
    Effect.gen(function*() {
      const home = yield* tempDir("f17-real")
      const api = yield* FakeApi.make({
        script: [
          FakeApi.toolUse("Bash", { command: "env; tr '\\0' '\\n' < /proc/self/environ" }),
          FakeApi.text("Printed the environment."),
          FakeApi.error(401, { message: "invalid x-api-key" })
        ]
      })
      // The FakeApi's own key is left out: the credential comes from the TokenManager only.
      const { ANTHROPIC_API_KEY: _fakeKey, ...env } = FakeApi.cliEnvironment(api, home)
      const logs: Array<string> = []
      const { spans, tracer } = captureSpans()
      const layer = Claude.layerNoDeps.pipe(
        Layer.provideMerge(SessionPool.layer({ minIdle: 0 })),
        Layer.provideMerge(ProcessManager.layer()),
        Layer.provide(
          TokenManager.layerTest(Option.some(TokenManager.makeCredential("ANTHROPIC_API_KEY", Redacted.make(CANARY))))
        ),
        Layer.provideMerge(NodeServices.layer),
        Layer.provideMerge(Logger.layer([Logger.map(Logger.formatJson, (line) => logs.push(line))])),
        Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "All"))
      )
      const outcome = yield* Effect.scoped(Effect.gen(function*() {
        const session = yield* Claude.session({ options: { env, allowedTools: ["Bash"], timeouts: quickShutdown } })
        const procFiles = ["cmdline", "environ"].map((name) =>
          fs.readFileSync(`/proc/${session.pid}/${name}`, "latin1")
        )
        const result = yield* session.ask("print your environment")
        const failed = yield* Effect.exit(session.ask("once more"))
        return { procFiles, result, failed }
      })).pipe(Effect.withSpan("f17.test"), Effect.provide(layer), Effect.provideService(Tracer.Tracer, tracer))
      const requests = yield* api.conversationRequests
      // The credential did reach the CLI: the API saw it.
      assert.strictEqual(requests[0]?.headers["x-api-key"], FakeApi.fingerprint(CANARY))
      assert.strictEqual(outcome.result.text, "Printed the environment.")
      // The tool ran and printed its environment, which went back to the API: no canary in it.
      const toolOutput = JSON.stringify(requests[1]?.body)
      assert.include(toolOutput, `HOME=${home}`)
      assert.isTrue(Exit.isFailure(outcome.failed))
      const places: Record<string, string> = {
        "/proc/<pid>/cmdline": outcome.procFiles[0] ?? "",
        "/proc/<pid>/environ": outcome.procFiles[1] ?? "",
        "the tools' environment (as sent to the API)": toolOutput,
        "log lines": logs.join("\n"),
        "spans": JSON.stringify(spans.map((span) => ({
          name: span.name,
          attributes: [...span.attributes],
          events: span.events.map(([name, , attributes]) => [name, attributes]),
          status: String(span.status._tag === "Ended" ? span.status.exit : "")
        }))),
        "the error": `${String(outcome.failed)} ${JSON.stringify(outcome.failed)}`
      }
      assert.isAbove(logs.length + spans.length, 0)
      for (const [place, text] of Object.entries(places)) assert.notInclude(text, CANARY, `the canary is in ${place}`)
      assert.include(places["/proc/<pid>/environ"], "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR=3")
    }))
})

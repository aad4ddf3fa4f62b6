/**
 * F22: an option value past the argv limit. Linux refuses any single argument (and environment string) of
 * more than 131072 bytes with its terminating NUL (MAX_ARG_STRLEN), so at most 131071 bytes of UTF-8, with
 * E2BIG. The limit is on the whole token, `--system-prompt=<value>`: its 16-byte flag counts.
 *
 * The system prompts have a file form in the CLI (`--system-prompt-file`, `--append-system-prompt-file`):
 * a token that would be too long goes through a temp file that lives as long as the process. The real CLI
 * (node_modules/.bin/claude) against the FakeApi shows that the prompt reaches the Messages API byte for
 * byte either way. Options with no file form fail with a typed `InvalidOptions` naming the option, its size
 * and the limit, before anything is spawned.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Stream } from "effect"
import * as fs from "node:fs"
import * as Claude from "../../src/Claude.ts"
import type * as ClaudeError from "../../src/ClaudeError.ts"
import * as SessionPool from "../../src/SessionPool.ts"
import * as FakeApi from "../../src/testing/FakeApi.ts"
import { ClaudeTest, eventually, processesWithHome, tempDir } from "../utils.ts"

const LIMIT = 128 * 1024
const FLAG = "--system-prompt="

/** Text of exactly `size` bytes of UTF-8, with 2-, 3- and 4-byte characters, and lines that look like flags. */
const textOfBytes = (size: number, marker: string): string => {
  const parts: Array<string> = [marker]
  let bytes = Buffer.byteLength(marker)
  const piece = "\n--dangerously-skip-permissions héllo 日本語 🎉 "
  const pieceBytes = Buffer.byteLength(piece)
  while (bytes + pieceBytes <= size) {
    parts.push(piece)
    bytes += pieceBytes
  }
  parts.push("x".repeat(size - bytes))
  return parts.join("")
}

const commandLine = (pid: number): string => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")
  } catch {
    return ""
  }
}

/** The texts of the `system` blocks of a recorded request. */
const systemTexts = (request: FakeApi.RecordedRequest): Array<string> => {
  const system = request.messagesRequest?.system
  if (typeof system === "string") return [system]
  if (!Array.isArray(system)) return []
  return system.flatMap((block: unknown) =>
    typeof block === "object" && block !== null && "text" in block && typeof block.text === "string" ? [block.text] : []
  )
}

const failureOf = <A>(exit: Exit.Exit<A, ClaudeError.ClaudeError>): ClaudeError.ClaudeError => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  const reason = exit.cause.reasons[0]
  if (reason?._tag !== "Fail") throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
  return reason.error
}

/** One turn of the real CLI with these system prompts: what the API got, and the CLI's command line. */
const turnWith = (prompts: { readonly systemPrompt?: string; readonly appendSystemPrompt?: string }) =>
  Effect.gen(function*() {
    const home = yield* tempDir("f22")
    const api = yield* FakeApi.make({ script: [FakeApi.text("Read it.")] })
    const { argv, result } = yield* Effect.scoped(Effect.gen(function*() {
      const session = yield* Claude.session({
        options: {
          ...prompts,
          cwd: home,
          env: FakeApi.cliEnvironment(api, home),
          timeouts: { turn: 60_000, shutdownGrace: 1000 }
        }
      })
      const argv = commandLine(session.pid)
      return { argv, result: yield* session.ask("hello") }
    })).pipe(Effect.provide(ClaudeTest))
    assert.isUndefined(result.error)
    assert.strictEqual(result.text, "Read it.")
    const [request] = yield* api.conversationRequests
    assert.isDefined(request)
    // Every process is gone, and with them their temp files.
    yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
    return { argv, system: request === undefined ? [] : systemTexts(request) }
  })

describe("F22: option values past the argv limit", () => {
  it.live(
    "F22: a --system-prompt token of 128 KiB - 1 bytes goes on argv and arrives byte for byte",
    () =>
      Effect.gen(function*() {
        const value = textOfBytes(LIMIT - 1 - FLAG.length, "F22-ARGV-MARKER")
        assert.strictEqual(Buffer.byteLength(`${FLAG}${value}`), LIMIT - 1)
        const { argv, system } = yield* turnWith({ systemPrompt: value })
        assert.include(argv, "F22-ARGV-MARKER", "it went on argv")
        assert.isTrue(system.includes(value), "the system prompt reached the API byte for byte")
      }),
    90_000
  )

  it.live(
    "F22: a --system-prompt token of 128 KiB bytes (and a 200 KB appended prompt) goes through a file and arrives byte for byte",
    () =>
      Effect.gen(function*() {
        // 131072 bytes with the NUL would be E2BIG: one byte past the limit.
        const value = textOfBytes(LIMIT - FLAG.length, "F22-FILE-MARKER")
        assert.strictEqual(Buffer.byteLength(`${FLAG}${value}`) + 1, LIMIT + 1)
        const appended = textOfBytes(200 * 1024, "F22-APPEND-MARKER")
        const { argv, system } = yield* turnWith({ systemPrompt: value, appendSystemPrompt: appended })
        assert.notInclude(argv, "F22-FILE-MARKER")
        assert.notInclude(argv, "F22-APPEND-MARKER")
        assert.include(argv, "--system-prompt-file=")
        assert.include(argv, "--append-system-prompt-file=")
        assert.isBelow(Buffer.byteLength(argv), 8 * 1024)
        // The CLI sends the system prompt and the appended one as one block, joined by a blank line.
        assert.isTrue(system.includes(`${value}\n\n${appended}`), "both prompts reached the API byte for byte")
        // The temp files were the process's: gone with it.
        const leftover = /--system-prompt-file=([^\0]+)/.exec(argv)?.[1]
        assert.isDefined(leftover)
        assert.isFalse(fs.existsSync(leftover ?? ""), "the temp file is removed with the process")
      }),
    90_000
  )

  it.live(
    "F22: an option with no file form past the limit is InvalidOptions naming it, its size and the limit; nothing is spawned",
    () =>
      Effect.gen(function*() {
        const home = yield* tempDir("f22-typed")
        const model = failureOf(
          yield* Effect.exit(Stream.runDrain(Claude.query("hi", { cwd: home, model: "m".repeat(LIMIT) })))
        )
        assert.strictEqual(model.reason._tag, "InvalidOptions")
        assert.include(model.message, "model: its argument (--model=...) is 131081 bytes")
        assert.include(model.message, String(LIMIT))
        const env = failureOf(
          yield* Effect.exit(Stream.runDrain(Claude.query("hi", { cwd: home, env: { BIG: "b".repeat(LIMIT) } })))
        )
        assert.strictEqual(env.reason._tag, "InvalidOptions")
        assert.include(env.message, "env.BIG: BIG=... is 131077 bytes")
        assert.strictEqual((yield* (yield* SessionPool.SessionPool).stats).spawned, 0)
      }).pipe(Effect.scoped, Effect.provide(ClaudeTest)),
    30_000
  )
})

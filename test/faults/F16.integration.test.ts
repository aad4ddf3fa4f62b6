/**
 * F16: argv cannot carry a large prompt (Linux refuses any single argument over 128 KiB with E2BIG), and a
 * value that starts with `-` must never become a flag. Prompts go over stdin, as stream-json user messages.
 *
 * The real CLI (node_modules/.bin/claude) against the FakeApi: a 500 KB prompt, full of multi-byte
 * characters and lines that look like flags, reaches the Messages API byte for byte, and no process of the
 * session has any of it on its command line. (The property test that no option value can become a flag of
 * its own is in test/ClaudeOptions.test.ts.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as Claude from "../../src/Claude.ts"
import * as FakeApi from "../../src/testing/FakeApi.ts"
import { ClaudeTest, eventually, processesWithHome, tempDir } from "../utils.ts"

const MARKER = "F16-PROMPT-MARKER-5b7e"

/** At least 500 KiB of UTF-8: numbered lines that start with `--`, with 2-, 3- and 4-byte characters. */
const bigPrompt = (() => {
  const lines: Array<string> = []
  let bytes = 0
  for (let i = 0; bytes < 500 * 1024; i++) {
    const line = `--dangerously-skip-permissions -p ${MARKER} line ${i}: héllo wörld — 日本語 🎉 "quoted" $HOME \`x\``
    lines.push(line)
    bytes += Buffer.byteLength(line, "utf8") + 1
  }
  return `${lines.join("\n")}\nEnd of the big prompt.`
})()

const commandLine = (pid: number): string => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")
  } catch {
    return ""
  }
}

describe("F16: large prompts travel over stdin", () => {
  it.live("F16: a 500 KB prompt goes over stdin and arrives intact; argv holds none of it", () =>
    Effect.gen(function*() {
      assert.isAtLeast(Buffer.byteLength(bigPrompt, "utf8"), 500 * 1024)
      const home = yield* tempDir("f16")
      const api = yield* FakeApi.make({ script: [FakeApi.text("Got the big one.")] })

      const { argv, result } = yield* Effect.scoped(Effect.gen(function*() {
        const session = yield* Claude.session({
          options: {
            cwd: home,
            env: FakeApi.cliEnvironment(api, home),
            timeouts: { turn: 30_000, shutdownGrace: 1000 }
          }
        })
        // Every process of this session (the CLI, and whatever it started), while the turn runs and after.
        const argv: Array<string> = [commandLine(session.pid)]
        const result = yield* session.ask(bigPrompt)
        for (const pid of processesWithHome(home)) argv.push(commandLine(pid))
        return { argv, result }
      })).pipe(Effect.provide(ClaudeTest))

      assert.isUndefined(result.error)
      assert.strictEqual(result.text, "Got the big one.")

      // The Messages API got the exact text: one text part equal to the prompt, byte for byte.
      const [request, ...more] = yield* api.conversationRequests
      assert.strictEqual(more.length, 0)
      assert.isDefined(request)
      const texts = request === undefined ? [] : FakeApi.userTexts(request)
      const arrived = texts.find((text) => text.includes(MARKER))
      assert.isDefined(arrived, "the prompt reached the API")
      assert.strictEqual(Buffer.byteLength(arrived ?? "", "utf8"), Buffer.byteLength(bigPrompt, "utf8"))
      assert.isTrue(arrived === bigPrompt, "the prompt arrived byte for byte")

      // argv carried none of it: not the marker, not a line of it, nothing near its size.
      assert.isNotEmpty(argv[0] ?? "", "the CLI's command line was read")
      for (const line of argv) {
        assert.notInclude(line, MARKER)
        assert.notInclude(line, "héllo wörld")
        assert.isBelow(line.length, 8 * 1024)
      }

      yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
    }).pipe(Effect.scoped))
})

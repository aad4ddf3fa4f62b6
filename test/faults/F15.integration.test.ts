/**
 * F15: concurrent CLIs corrupt a shared config file; memory grows in long sessions.
 *
 * - 16 real CLIs (node_modules/.bin/claude, offline against one FakeApi) run two turns each, in parallel,
 *   each with its own config dir: every turn completes with its own answer, and afterwards every JSON file
 *   each CLI wrote is valid JSON and every transcript holds exactly its own conversation.
 * - A FakeCli that grows its RSS past the pool's `maxRssBytes` is retired after its turn: the next
 *   conversation of its key gets a new process, while a lean process of another key is reused.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../../src/Claude.ts"
import * as SessionPool from "../../src/SessionPool.ts"
import * as FakeApi from "../../src/testing/FakeApi.ts"
import * as FakeCli from "../../src/testing/FakeCli.ts"
import { ClaudeTest, ClaudeTestWith, eventually, isAlive, processesWithHome, tempDir } from "../utils.ts"

const CLIS = 16

/** `[F15 #07]`: the marker of conversation 7; padded, so no marker is a prefix of another. */
const marker = (i: number) => `[F15 #${String(i).padStart(2, "0")}]`
const markerPattern = /\[F15 #\d\d\] (first|second)/g

/** The last marked prompt of a request: the turn it asks for (the CLI adds its own reminders around it). */
const askedFor = (request: FakeApi.RecordedRequest) =>
  [...FakeApi.lastUserText(request).matchAll(markerPattern)].at(-1)?.[0] ?? "(no marked prompt)"

const filesUnder = (dir: string): Array<string> =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? filesUnder(path.join(dir, entry.name)) : [path.join(dir, entry.name)]
    )
    : []

/** Parses a file as JSON; the problem as a string when it is not valid. */
const jsonProblem = (file: string): string | undefined => {
  try {
    JSON.parse(fs.readFileSync(file, "utf8"))
    return undefined
  } catch (error) {
    return `${file}: ${String(error)}`
  }
}

const vmRssBytes = (pid: number): number | undefined => {
  try {
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]
    return kb === undefined ? undefined : Number(kb) * 1024
  } catch {
    return undefined
  }
}

describe("F15: concurrent CLIs and memory growth", () => {
  it.live(
    "F15: 16 real CLI sessions in parallel, each with its own config dir: all complete, every config file stays valid JSON",
    () =>
      Effect.gen(function*() {
        const root = yield* tempDir("f15")
        const api = yield* FakeApi.make({ script: (request) => FakeApi.text(`answer to ${askedFor(request)}`) })
        const homes = Array.from({ length: CLIS }, (_, i) => {
          const home = path.join(root, `cli-${i}`)
          fs.mkdirSync(home)
          return home
        })

        const conversations = yield* Effect.forEach(
          homes,
          (home, i) =>
            Effect.scoped(Effect.gen(function*() {
              // cwd = the config dir's home: the transcript goes under projects/<cwd>, and no git status is read.
              const session = yield* Claude.session({
                options: { cwd: home, env: FakeApi.cliEnvironment(api, home), timeouts: { turn: 45_000, shutdownGrace: 2000 } }
              })
              const first = yield* session.ask(`${marker(i)} first`)
              const second = yield* session.ask(`${marker(i)} second`)
              return { home, i, first, second }
            })),
          { concurrency: "unbounded" }
        ).pipe(Effect.provide(ClaudeTest), Effect.timeout("50 seconds"))

        // Every turn completed, with the answer to its own prompt, in one conversation per CLI.
        for (const { first, i, second } of conversations) {
          assert.strictEqual(first.text, `answer to ${marker(i)} first`)
          assert.strictEqual(second.text, `answer to ${marker(i)} second`)
          assert.strictEqual(first.sessionId, second.sessionId)
        }
        assert.strictEqual(new Set(conversations.map((c) => c.first.sessionId)).size, CLIS)
        const requests = yield* api.conversationRequests
        assert.strictEqual(requests.length, 2 * CLIS)

        // Every CLI is gone (sessions closed: the CLIs wrote their last state and exited).
        yield* eventually(() => (homes.every((home) => processesWithHome(home).length === 0) ? true : undefined), "10 seconds")

        for (const { first, home, i } of conversations) {
          const configDir = path.join(home, ".claude")
          const files = filesUnder(configDir)
          // The CLI's own config file, rewritten on every start and turn, is there and valid...
          assert.include(files, path.join(configDir, ".claude.json"))
          // ... and so is every other JSON file it wrote (backups, plugin state).
          const jsonFiles = files.filter((file) => file.endsWith(".json") || /\.json\.backup\.\d+$/.test(file))
          assert.deepStrictEqual(jsonFiles.flatMap((file) => jsonProblem(file) ?? []), [])
          // The transcript: one valid JSON line per entry, this conversation's turns, no other's.
          const transcripts = files.filter((file) => file.endsWith(`${first.sessionId}.jsonl`))
          assert.strictEqual(transcripts.length, 1, `one transcript for ${marker(i)} in ${configDir}`)
          const lines = fs.readFileSync(transcripts[0] ?? "", "utf8").split("\n").filter((line) => line.trim() !== "")
          assert.deepStrictEqual(
            lines.flatMap((line, n) => {
              try {
                JSON.parse(line)
                return []
              } catch {
                return [`line ${n + 1}`]
              }
            }),
            []
          )
          const text = lines.join("\n")
          assert.include(text, `${marker(i)} first`)
          assert.include(text, `${marker(i)} second`)
          const others = [...text.matchAll(/\[F15 #(\d\d)\]/g)].map((m) => Number(m[1])).filter((n) => n !== i)
          assert.deepStrictEqual(others, [], `transcript of ${marker(i)} mentions no other conversation`)
        }
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "F15: a FakeCli whose RSS grows past maxRssBytes is retired after its turn and replaced, never reused; a lean one is reused",
    () =>
      Effect.gen(function*() {
        const limit = 160 * 1024 * 1024
        // What the pool's sweeper read, per pid: the default sampler's reading of /proc, recorded.
        const samples: Array<{ readonly pid: number; readonly rss: number }> = []
        const sampleRss = (pid: number) =>
          Effect.sync(() => {
            const rss = vmRssBytes(pid)
            if (rss !== undefined) samples.push({ pid, rss })
            return Option.fromUndefinedOr(rss)
          })
        const overLimitSamples = (pid: number) => samples.filter((s) => s.pid === pid && s.rss > limit).length

        const quick = { timeouts: { shutdownGrace: 300 } } as const
        const lean = { ...FakeCli.options({ reply: "lean" }), ...quick }
        // Every turn allocates (and holds) 256 MiB more; slow frames keep the turn going across several sweeps.
        const bloated = { ...FakeCli.options({ reply: "bloated", rssGrowMb: 256, frameDelayMs: 50 }), ...quick }

        const result = yield* Effect.gen(function*() {
          const pool = yield* SessionPool.SessionPool
          const turn = (options: typeof lean, prompt: string) =>
            Effect.scoped(Effect.gen(function*() {
              const session = yield* pool.acquire({ options })
              const answer = yield* session.ask(prompt)
              return { pid: session.pid, text: answer.text }
            }))

          const leanFirst = yield* turn(lean, "hello")
          const bloatedFirst = yield* Effect.scoped(Effect.gen(function*() {
            const session = yield* pool.acquire({ options: bloated })
            const answer = yield* session.ask("grow")
            // The process really is over the limit, and the sweeper has seen it so (twice: the first
            // sighting has marked it by the time the second is taken) before the lease ends.
            const rss = vmRssBytes(session.pid) ?? 0
            assert.isAbove(rss, limit, `RSS ${rss} of the bloated process`)
            yield* eventually(() => (overLimitSamples(session.pid) >= 2 ? true : undefined), "5 seconds")
            return { pid: session.pid, text: answer.text }
          }))
          assert.strictEqual(bloatedFirst.text, "bloated")

          // Straight after the lease ends, the next conversation of that key gets a new process.
          const bloatedSecond = yield* turn(bloated, "again")
          assert.notStrictEqual(bloatedSecond.pid, bloatedFirst.pid, "the bloated process was not reused")
          assert.strictEqual(bloatedSecond.text, "bloated")
          // The bloated process is gone, not parked somewhere.
          yield* eventually(() => (isAlive(bloatedFirst.pid) ? undefined : true), "5 seconds")

          // The lean process saw many sweeps, stayed under the limit, and is reused (after its /clear).
          const leanRss = samples.filter((s) => s.pid === leanFirst.pid).map((s) => s.rss)
          assert.isAbove(leanRss.length, 0, "the lean process was sampled")
          assert.isBelow(Math.max(...leanRss), limit)
          const leanSecond = yield* turn(lean, "hello again")
          assert.strictEqual(leanSecond.pid, leanFirst.pid, "the lean process was reused")
          assert.isTrue(isAlive(leanFirst.pid))

          return yield* pool.stats
        }).pipe(
          Effect.provide(ClaudeTestWith({ max: 4, minIdle: 0, maxRssBytes: limit, sweepInterval: "50 millis", sampleRss })),
          Effect.timeout("40 seconds")
        )
        // Both bloated processes were retired (the second one too: it grew past the limit in its turn);
        // three processes spawned in all.
        assert.strictEqual(result.spawned, 3)
        assert.isAtLeast(result.retired, 1)
      }),
    60_000
  )
})

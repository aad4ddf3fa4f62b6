/**
 * F15: concurrent CLIs corrupt a shared config file; memory grows in long sessions.
 *
 * - 16 real CLIs (node_modules/.bin/claude, offline against one FakeApi) started by one SessionPool on one
 *   shared HOME, as in production (no CLAUDE_CONFIG_DIR: all of them read and rewrite `~/.claude.json` and
 *   `~/.claude/`), run two turns each, at once: every turn completes with its own answer; the config file,
 *   seeded as a user's would be, is valid and complete at every read while they run and after (no seeded
 *   key lost, none of the keys a single CLI writes missing), and so is every other JSON file under `~/.claude`;
 *   each transcript, in the one shared projects dir, holds exactly its own conversation. (The CLI 2.1.329
 *   writes the file atomically, to `.claude.json.tmp.<pid>.<random>` opened O_EXCL and renamed over it, seen
 *   with strace; a CLI wrapped by a script that rewrites the file in place fails this test, and the CLIs
 *   themselves exit with "configuration file ... is corrupted".)
 * - A FakeCli that grows its RSS past the pool's `maxRssBytes` is retired after its turn: the next
 *   conversation of its key gets a new process, while a lean process of another key is reused.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Predicate, Schedule } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as SessionPool from "../../src/SessionPool.ts"
import * as FakeApi from "../../src/testing/FakeApi.ts"
import * as FakeCli from "../../src/testing/FakeCli.ts"
import { ClaudeTestWith, eventually, isAlive, processesWithHome, tempDir } from "../utils.ts"

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

/** Parses a file (or a text) as JSON; the problem as a string when it is not valid. */
const jsonProblem = (source: string, what: "file" | "text" = "file"): string | undefined => {
  try {
    JSON.parse(what === "file" ? fs.readFileSync(source, "utf8") : source)
    return undefined
  } catch (error) {
    return `${what === "file" ? source : "text"}: ${String(error)}`
  }
}

/** What is wrong with the config file as read now (unreadable, not JSON, a seeded key lost or changed). */
const configProblem = (file: string, seeded: Record<string, unknown>): string | undefined => {
  let text: string
  try {
    text = fs.readFileSync(file, "utf8")
  } catch (error) {
    return `unreadable: ${String(error)}`
  }
  let config: Record<string, unknown>
  try {
    config = JSON.parse(text)
  } catch (error) {
    return `not JSON (${text.length} bytes): ${String(error)}`
  }
  const projects = Predicate.isObject(config.projects) ? config.projects : {}
  const lost = [
    ...Object.entries(seeded).filter(([key, value]) => key !== "projects" && config[key] !== value).map(([key]) => key),
    ...Object.keys(Predicate.isObject(seeded.projects) ? seeded.projects : {}).filter((p) => !(p in projects)).map((
      p
    ) => `projects[${p}]`)
  ]
  return lost.length === 0 ? undefined : `lost or changed: ${lost.join(", ")}`
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
    "F15: 16 real CLIs of one SessionPool on one shared HOME, turns at once: ~/.claude.json stays valid JSON and keeps every key",
    () =>
      Effect.gen(function*() {
        // A CLAUDE_CONFIG_DIR of the host's would pass the allow-list and take the CLIs' writes elsewhere.
        assert.isUndefined(process.env.CLAUDE_CONFIG_DIR, "run this test without CLAUDE_CONFIG_DIR set")
        const home = yield* tempDir("f15-home")
        const configFile = path.join(home, ".claude.json")
        // A config as a user's machine has it: an identity, projects, a key of ours the CLI does not know.
        const seeded = {
          userID: "f15f15f15f15f15f15f15f15f15f15f15f15f15f15f15f15f15f15f15f15f15f",
          projects: {
            "/seed/project-a": { allowedTools: ["Bash(ls)"] },
            "/seed/project-b": { hasTrustDialogAccepted: true }
          },
          f15SeededKey: "kept"
        }
        fs.writeFileSync(configFile, JSON.stringify(seeded, null, 2))
        const api = yield* FakeApi.make({ script: (request) => FakeApi.text(`answer to ${askedFor(request)}`) })
        // Production: no CLAUDE_CONFIG_DIR, so every CLI reads and rewrites $HOME/.claude.json and $HOME/.claude/.
        const { CLAUDE_CONFIG_DIR: _configDir, ...env } = FakeApi.cliEnvironment(api, home)
        const options = { cwd: home, env, timeouts: { turn: 30_000, shutdownGrace: 1000 } }

        // While the CLIs run, a reader reads the file as a starting CLI would: every read must be whole.
        const badReads: Array<string> = []
        let reads = 0
        const versions = new Set<string>()
        const watcher = Effect.sync(() => {
          reads++
          versions.add(fs.existsSync(configFile) ? fs.readFileSync(configFile, "utf8") : "")
          const problem = configProblem(configFile, seeded)
          if (problem !== undefined && badReads.length < 5) badReads.push(problem)
        }).pipe(Effect.repeat(Schedule.spaced("5 millis")))

        const { baseline, conversations } = yield* Effect.gen(function*() {
          const pool = yield* SessionPool.SessionPool
          // What one CLI alone makes of the seeded file: the keys every later state must still have.
          yield* Effect.scoped(
            Effect.flatMap(pool.acquire({ options }), (session) => session.ask(`${marker(99)} first`))
          )
          const baseline = Object.keys(JSON.parse(fs.readFileSync(configFile, "utf8")))
          const running = yield* Effect.forkChild(watcher)
          const conversations = yield* Effect.forEach(
            Array.from({ length: CLIS }, (_, i) => i),
            (i) =>
              Effect.scoped(Effect.gen(function*() {
                const session = yield* pool.acquire({ options })
                const first = yield* session.ask(`${marker(i)} first`)
                const second = yield* session.ask(`${marker(i)} second`)
                return { i, pid: session.pid, first, second }
              })),
            { concurrency: "unbounded" }
          )
          yield* Fiber.interrupt(running)
          return { baseline, conversations }
        }).pipe(
          Effect.provide(ClaudeTestWith({ max: CLIS + 1, minIdle: 0 })),
          Effect.timeout("40 seconds")
        )
        // The pool is closed: every CLI wrote its last state and exited.
        yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "10 seconds")

        // One process per conversation, all at once, each answering its own prompts.
        assert.strictEqual(new Set(conversations.map((c) => c.pid)).size, CLIS)
        for (const { first, i, second } of conversations) {
          assert.strictEqual(first.text, `answer to ${marker(i)} first`)
          assert.strictEqual(second.text, `answer to ${marker(i)} second`)
        }

        console.log(`F15 shared HOME: ${reads} reads, ${versions.size} versions of the config seen while the CLIs ran`)
        // The CLIs did rewrite the file while they ran (else this would prove nothing), and no read caught it
        // half-written or short of a key.
        assert.isAtLeast(versions.size, 2, "the config was rewritten while the CLIs ran")
        assert.deepStrictEqual(badReads, [], "every read of the config while the CLIs ran was valid and complete")
        assert.isUndefined(configProblem(configFile, seeded))
        const final = JSON.parse(fs.readFileSync(configFile, "utf8"))
        assert.deepStrictEqual(baseline.filter((key) => !(key in final)), [], "no key one CLI writes was lost")
        // Every other JSON file the CLIs keep under the shared ~/.claude is valid too.
        const jsonFiles = filesUnder(path.join(home, ".claude")).filter((file) =>
          file.endsWith(".json") || /\.json\.backup\.\d+$/.test(file)
        )
        assert.deepStrictEqual(jsonFiles.flatMap((file) => jsonProblem(file) ?? []), [])
        // Each conversation's transcript, in the one shared projects dir: valid lines, its turns, no other's.
        const files = filesUnder(path.join(home, ".claude", "projects"))
        for (const { first, i } of conversations) {
          const transcripts = files.filter((file) => file.endsWith(`${first.sessionId}.jsonl`))
          assert.strictEqual(transcripts.length, 1, `one transcript for ${marker(i)}`)
          const lines = fs.readFileSync(transcripts[0] ?? "", "utf8").split("\n").filter((line) => line.trim() !== "")
          assert.deepStrictEqual(
            lines.flatMap((line, n) => (jsonProblem(line, "text") === undefined ? [] : [`line ${n + 1}`])),
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
          Effect.provide(
            ClaudeTestWith({ max: 4, minIdle: 0, maxRssBytes: limit, sweepInterval: "50 millis", sampleRss })
          ),
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

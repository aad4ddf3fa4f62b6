import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { eventually, tempDir } from "./utils.ts"

const root = path.join(import.meta.dirname, "..")

/** Pids of live processes whose HOME is under `dir`. */
const processesWithHomeUnder = (dir: string): Array<number> =>
  fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid).filter((entry) => {
    try {
      return `\u0000${fs.readFileSync(`/proc/${entry}/environ`, "latin1")}`.includes(`\u0000HOME=${dir}/`)
    } catch {
      return false // gone, or not ours to read
    }
  }).map(Number)

/** The environment without a credential of the host's: the examples run offline against the FakeApi. */
const offlineEnv = (): Record<string, string | undefined> => {
  const { ANTHROPIC_API_KEY: _key, CLAUDE_CODE_OAUTH_TOKEN: _token, ...env } = process.env
  return env
}

describe("npm start (examples/demo.ts)", () => {
  it("runs a turn offline against the FakeApi and ends with a summary line and a metrics summary", () => {
    const output = execFileSync(process.execPath, ["--conditions=effect-claude-code-source", "examples/demo.ts"], {
      cwd: root,
      env: offlineEnv(),
      encoding: "utf8",
      timeout: 30_000
    })
    assert.include(output, "offline FakeApi")
    assert.include(output, "[tool] Bash")
    assert.include(output, "[tool result] \"hello from a tool\"")
    assert.match(output, /\d+ turn\(s\) in \d+ ms .* cost \$\d+\.\d+, session [0-9a-f-]{36}/)
    // The metrics summary: every claude_* series of the registry, one per line.
    const summary = output.slice(output.indexOf("\nmetrics summary ("))
    const header = /^\nmetrics summary \((\d+) claude_\* series\):\n/.exec(summary)
    assert.isNotNull(header, output)
    const rows = summary.split("\n").slice(2).filter((line) => line !== "")
    assert.strictEqual(rows.length, Number(header?.[1]), summary)
    for (const row of rows) assert.match(row, /^ {2}claude_\w+( \{[^}]*\})? +\S.*$/)
    // The turn's metrics: one successful turn, its tokens and cost by model, its timings, the CLI it ran on.
    const row = (pattern: RegExp) => assert.isTrue(rows.some((r) => pattern.test(r)), `${pattern} in\n${summary}`)
    row(/^ {2}claude_turns_total \{outcome=success, reason=none\} +1$/)
    row(/^ {2}claude_turn_duration_seconds \{outcome=success\} +\d+(\.\d+)? s$/)
    row(/^ {2}claude_time_to_first_event_seconds +\d+(\.\d+)? s$/)
    row(/^ {2}claude_input_tokens_total \{model=[\w.-]+\} +[1-9]\d*$/)
    row(/^ {2}claude_output_tokens_total \{model=[\w.-]+\} +[1-9]\d*$/)
    row(/^ {2}claude_cost_usd_total \{model=[\w.-]+\} +\$0\.\d*[1-9]\d*$/)
    row(/^ {2}claude_process_spawns_total \{kind=initial\} +[1-9]\d*$/)
  })
})

describe("npm run example:pool (examples/pool.ts)", () => {
  it("runs three conversations on one warm process, none seeing another's turns", () => {
    const output = execFileSync(process.execPath, ["--conditions=effect-claude-code-source", "examples/pool.ts"], {
      cwd: root,
      encoding: "utf8",
      timeout: 30_000
    })
    const lines = output.trim().split("\n")
    assert.strictEqual(lines.length, 4, output)
    assert.include(lines[2], "Forty-two.")
    assert.include(lines[2], "pool: 1 process(es), 1 spawned")
    assert.strictEqual(lines[3], "no conversation saw another's turns")
  })
})

describe("npm run example:prometheus (examples/prometheus.ts)", () => {
  it.live("runs a turn offline, serves its claude_* metrics at /metrics on 127.0.0.1, and stops on SIGTERM", () =>
    Effect.gen(function*() {
      // The example's HOME (and the CLI's temp files) go under a TMPDIR of the test's: gone when it stops.
      const tmp = yield* tempDir("prometheus-example")
      const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
      const handle = yield* spawner.spawn(
        ChildProcess.make(process.execPath, ["--conditions=effect-claude-code-source", "examples/prometheus.ts"], {
          cwd: root,
          env: { ...offlineEnv(), METRICS_PORT: "0", TMPDIR: tmp },
          stderr: "pipe",
          forceKillAfter: "5 seconds"
        })
      )
      const stderr = yield* handle.stderr.pipe(Stream.decodeText(), Stream.mkString, Effect.forkScoped)
      const stdout = yield* handle.stdout.pipe(
        Stream.decodeText(),
        Stream.splitLines,
        Stream.takeUntil((line) => line.startsWith("serving")),
        Stream.runCollect,
        Effect.timeoutOrElse({
          duration: "45 seconds",
          orElse: () =>
            Effect.flatMap(Fiber.join(stderr), (err) => Effect.die(new Error(`no serving line; stderr: ${err}`)))
        })
      )
      assert.match(stdout[0] ?? "", /^one turn: The tool said hello\. \(\$\d+\.\d+, session [0-9a-f-]{36}\)$/)
      const url = /http:\/\/127\.0\.0\.1:\d+\/metrics/.exec(stdout.at(-1) ?? "")?.[0]
      assert.isDefined(url, stdout.join("\n"))

      const scrape = Effect.promise(async () => {
        const response = await fetch(url ?? "", { signal: AbortSignal.timeout(10_000) })
        return {
          status: response.status,
          contentType: response.headers.get("content-type"),
          body: await response.text()
        }
      })
      const first = yield* scrape
      assert.strictEqual(first.status, 200)
      assert.strictEqual(first.contentType, "text/plain; version=0.0.4; charset=utf-8")
      const samples = first.body.split("\n").filter((line) => line !== "" && !line.startsWith("#"))
      for (const line of samples) assert.match(line, /^claude_[a-zA-Z0-9_:]*(\{.*\})? \S+$/)
      // The turn it ran: one success, its duration in the histogram's +Inf bucket, its cost and the CLI's spawn.
      const sample = (prefix: string) => {
        const line = samples.find((l) => l.startsWith(prefix))
        assert.isDefined(line, `${prefix} in\n${first.body}`)
        return Number(line?.slice(line.lastIndexOf(" ") + 1))
      }
      assert.strictEqual(sample("claude_turns_total{outcome=\"success\",reason=\"none\"} "), 1)
      assert.strictEqual(sample("claude_turn_duration_seconds_bucket{outcome=\"success\",le=\"+Inf\"} "), 1)
      assert.strictEqual(sample("claude_turn_duration_seconds_count{outcome=\"success\"} "), 1)
      assert.isAbove(sample("claude_cost_usd_total{model="), 0)
      assert.isAtLeast(sample("claude_process_spawns_total{kind=\"initial\"} "), 1)
      assert.include(first.body, "# TYPE claude_turn_duration_seconds histogram\n")
      for (const line of first.body.split("\n").filter((l) => l.startsWith("#"))) {
        assert.match(line, /^# (HELP claude_\S+ .*|TYPE claude_\S+ (counter|gauge|histogram|summary))$/)
      }
      // Scraping counts nothing: a second scrape has the same turn, token and cost series. (The pool's gauges
      // and spawn counter may still move: the released process is being recycled and a spare may be starting.)
      const turnSeries = (body: string) =>
        body.split("\n").filter((line) =>
          /^claude_(turn|time_to_first_event|input_tokens|output_tokens|cache_|cost_usd)/.test(line)
        )
      assert.deepStrictEqual(turnSeries((yield* scrape).body), turnSeries(first.body))

      yield* handle.kill({ killSignal: "SIGTERM", forceKillAfter: "10 seconds" })
      // Its finalizers ran: the CLI is gone, then its HOME (a CLI still running would write into it again).
      yield* eventually(() => (processesWithHomeUnder(tmp).length === 0 ? true : undefined), "10 seconds")
      const left = fs.readdirSync(tmp).filter((f) => f.startsWith("effect-claude-code-prometheus-"))
      assert.deepStrictEqual(left, [])
    }).pipe(Effect.provide(NodeServices.layer)))
})

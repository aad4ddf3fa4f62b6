/**
 * `npm start`: one Claude Code turn, streamed.
 *
 * With ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN set it talks to Anthropic.
 * Without, it starts the bundled FakeApi on loopback (scripted with one tool
 * call and a short answer) and points the real CLI at it: no network needed.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Metric, Option, Stream } from "effect"
import { Claude, type ClaudeOptions } from "effect-claude-code"
import { FakeApi } from "effect-claude-code/testing"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const write = (text: string) => Effect.sync(() => process.stdout.write(text))

// Offline: a fresh HOME for the CLI and the FakeApi it talks to, both gone when the program ends.
const offlineOptions = Effect.gen(function*() {
  const home = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-claude-code-demo-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  const api = yield* FakeApi.make({
    script: [
      FakeApi.toolUse("Bash", { command: "echo 'hello from a tool'", description: "Say hello" }),
      FakeApi.text(
        ["The tool said ", "\"hello from a tool\". ", "Every event you just saw ", "arrived as a typed Effect Stream."],
        { delayMs: 60 }
      )
    ]
  })
  yield* Console.log(`(no credential set: using the offline FakeApi at ${api.url})\n`)
  return { env: FakeApi.cliEnvironment(api, home) } satisfies ClaudeOptions.Input
})

// The metrics summary: every `claude_*` series in Effect's metric registry, whatever the library records.
const formatNumber = (n: number | bigint) =>
  typeof n === "bigint" ? n.toString() : Number.isInteger(n) ? n.toString() : Number(n.toPrecision(3)).toString()

const describeSeries = (snapshot: Metric.Metric.Snapshot): string => {
  const unit = snapshot.id.endsWith("_seconds")
    ? " s"
    : snapshot.attributes?.["time_unit"] === "milliseconds"
    ? " ms"
    : ""
  const money = snapshot.id.includes("_usd") ? "$" : ""
  const show = (n: number | bigint) => `${money}${formatNumber(n)}${unit}`
  switch (snapshot.type) {
    case "Counter":
      return show(snapshot.state.count)
    case "Gauge":
      return show(snapshot.state.value)
    case "Histogram":
    case "Summary": {
      const { count, max, min, sum } = snapshot.state
      return count === 0
        ? "no observations"
        : count === 1
        ? show(sum)
        : `${count} observations, mean ${show(sum / count)} (min ${show(min)}, max ${show(max)})`
    }
    case "Frequency":
      return [...snapshot.state.occurrences].map(([key, n]) => `${key}: ${n}`).join(", ")
  }
}

const metricsSummary = Effect.gen(function*() {
  const rows = (yield* Metric.snapshot)
    .filter((snapshot) => snapshot.id.startsWith("claude_"))
    .map((snapshot) => {
      const labels = Object.entries(snapshot.attributes ?? {})
        .filter(([key]) => key !== "time_unit" && key !== "unit")
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, value]) => `${key}=${value}`)
      return [`${snapshot.id}${labels.length > 0 ? ` {${labels.join(", ")}}` : ""}`, describeSeries(snapshot)] as const
    })
    .sort(([a], [b]) => a.localeCompare(b))
  const width = Math.max(0, ...rows.map(([name]) => name.length))
  yield* Console.log(`\nmetrics summary (${rows.length} claude_* series):`)
  for (const [name, value] of rows) yield* Console.log(`  ${name.padEnd(width)}  ${value}`)
})

const turn = Effect.fn("demo.turn")(function*(base: ClaudeOptions.Input) {
  const started = Date.now()
  const prompt = "Run `echo 'hello from a tool'` with Bash, then tell me in one sentence what it printed."
  yield* Console.log(`> ${prompt}\n`)
  yield* Claude.query(prompt, { ...base, allowedTools: ["Bash"], includePartialMessages: true }).pipe(
    Stream.runForEach((event) => {
      switch (event._tag) {
        case "TextDelta":
          return write(event.text)
        case "ToolUse":
          return write(`[tool] ${event.name} ${JSON.stringify(event.input)}\n`)
        case "ToolResult":
          return write(`[tool result] ${JSON.stringify(event.content)}\n\n`)
        case "Result":
          return write(
            `\n\n${event.numTurns ?? 0} turn(s) in ${Date.now() - started} ms (API ${event.durationApiMs ?? 0} ms), ` +
              `cost $${(event.costUsd ?? 0).toFixed(5)}, session ${event.sessionId}\n`
          )
        default:
          return Effect.void
      }
    })
  )
  yield* metricsSummary
})

const program = Effect.gen(function*() {
  const oauth = yield* Config.option(Config.String("CLAUDE_CODE_OAUTH_TOKEN"))
  const apiKey = yield* Config.option(Config.String("ANTHROPIC_API_KEY"))
  const online = Option.isSome(oauth) || Option.isSome(apiKey)
  // Acquired before the Claude layer is built, so the offline HOME outlives the CLI that uses it.
  const base = online ? {} : yield* offlineOptions
  yield* turn(base).pipe(
    Effect.tapError((error) => Console.error(`\nThe turn failed: ${error.message}`)),
    Effect.provide(Claude.layer)
  )
}).pipe(Effect.scoped)

NodeRuntime.runMain(program, { disableErrorReporting: true })

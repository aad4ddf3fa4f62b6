import { assert, describe, it } from "@effect/vitest"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { layerTracing } from "../examples/otel.ts"
import * as Claude from "../src/Claude.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { ClaudeTest, eventually, processesWithHome, tempDir } from "./utils.ts"

// The prompt carries a marker that must not appear in any span (name, attribute, event).
const marker = "PROMPT-MARKER-3f9c1e"
const prompt = `Run the echo with Bash, then say what it printed. ${marker}`

// `echo` runs without approval; a command that writes a file needs it (in the default permission mode).
const echo = { command: "echo 'hello from a tool'", description: "Say hello" }
const guarded = { command: "touch ran-by-tool.txt && echo 'hello from a tool'", description: "Create a marker file" }
const scriptWith = (input: typeof echo) => [FakeApi.toolUse("Bash", input), FakeApi.text("The tool said hello.")]

/**
 * Runs `body` on the real CLI (node_modules/.bin/claude) against the FakeApi, under the example's
 * `NodeSdk` layer with an in-memory exporter, and returns what it returned with every span that ended.
 * The spans are read once the Claude layer (pool, processes) has closed, before the tracing layer does
 * (its shutdown empties the exporter).
 */
const traced = <A, E>(
  script: FakeApi.Script,
  body: (options: ClaudeOptions.Input) => Effect.Effect<A, E, Claude.Claude>
) => {
  const exporter = new InMemorySpanExporter()
  return Effect.gen(function*() {
    const home = yield* tempDir("otel")
    const project = path.join(home, "project")
    fs.mkdirSync(project)
    const api = yield* FakeApi.make({ script })
    const options = { env: FakeApi.cliEnvironment(api, home), cwd: project, timeouts: { turn: 30_000 } }
    const result = yield* body(options).pipe(
      Effect.provide(ClaudeTest)
    )
    yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
    return { result, spans: exporter.getFinishedSpans().slice() }
  }).pipe(Effect.scoped, Effect.provide(layerTracing(new SimpleSpanProcessor(exporter))))
}

const childrenOf = (spans: ReadonlyArray<ReadableSpan>, parent: ReadableSpan) =>
  spans.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId)

const ancestorsOf = (spans: ReadonlyArray<ReadableSpan>, span: ReadableSpan): Array<string> => {
  const parent = spans.find((s) => s.spanContext().spanId === span.parentSpanContext?.spanId)
  return parent === undefined ? [] : [parent.name, ...ancestorsOf(spans, parent)]
}

/** The span tree, one span per line, indented under its parent, with its attributes. */
const renderTree = (spans: ReadonlyArray<ReadableSpan>): string => {
  const ids = new Set(spans.map((s) => s.spanContext().spanId))
  const roots = spans.filter((s) => s.parentSpanContext === undefined || !ids.has(s.parentSpanContext.spanId))
  const lines: Array<string> = []
  const walk = (span: ReadableSpan, depth: number) => {
    const attributes = Object.entries(span.attributes)
      .filter(([key]) => !key.startsWith("code."))
      .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    lines.push(`${"  ".repeat(depth)}${span.name}${attributes.length > 0 ? ` {${attributes.join(", ")}}` : ""}`)
    const children = childrenOf(spans, span).sort((a, b) => compareTime(a.startTime, b.startTime))
    for (const child of children) walk(child, depth + 1)
  }
  for (const root of roots.sort((a, b) => compareTime(a.startTime, b.startTime))) walk(root, 0)
  return lines.join("\n")
}

const compareTime = (a: readonly [number, number], b: readonly [number, number]) => a[0] - b[0] || a[1] - b[1]

/** Everything a span shows: its name, attributes, events and status. */
const visibleText = (span: ReadableSpan) =>
  JSON.stringify([span.name, span.attributes, span.events.map((e) => [e.name, e.attributes]), span.status])

const only = (spans: ReadonlyArray<ReadableSpan>, name: string, tree: string): ReadableSpan => {
  const found = spans.filter((s) => s.name === name)
  assert.strictEqual(found.length, 1, `one ${name} span in\n${tree}`)
  const [span] = found
  if (span === undefined) throw new Error("unreachable")
  return span
}

const resultOf = (events: ReadonlyArray<ClaudeEvent>) => {
  const result = events.at(-1)
  assert.isTrue(result?._tag === "Result")
  return result?._tag === "Result" ? result : undefined
}

describe("OpenTelemetry (examples/otel.ts layer, in-memory exporter) on the real CLI", () => {
  it.live("Claude.query with a Bash tool call: the turn's span tree, with no prompt text in it", () =>
    Effect.gen(function*() {
      const { result: events, spans } = yield* traced(scriptWith(echo), (options) =>
        Claude.query(prompt, { ...options, allowedTools: ["Bash"] }).pipe(Stream.runCollect)
      )
      const result = resultOf(events)
      const tree = renderTree(spans)
      assert.isTrue(events.some((e) => e._tag === "ToolUse" && e.name === "Bash"))

      // One trace, rooted at the query.
      const query = only(spans, "Claude.query", tree)
      // The turn's send (the pool's recycling /clear has one too, under Session.reset).
      const sends = childrenOf(spans, query).filter((s) => s.name === "Session.send")
      assert.strictEqual(sends.length, 1, tree)
      const [send] = sends
      assert.strictEqual(send?.spanContext().traceId, query.spanContext().traceId)
      assert.isDefined(result?.sessionId)

      // No span, attribute or event carries the prompt.
      for (const span of spans) assert.notInclude(visibleText(span), marker, `${span.name} shows the prompt`)
    }))

  it.live("Claude.session with a permission callback: the turn's control request and tool use", () =>
    Effect.gen(function*() {
      const asked: Array<string> = []
      const { result: events, spans } = yield* traced(scriptWith(guarded), (options) =>
        Effect.scoped(Effect.gen(function*() {
          const session = yield* Claude.session({
            options: { ...options, permissionMode: "default" },
            canUseTool: (request) =>
              Effect.sync(() => {
                asked.push(request.toolName)
                return { behavior: "allow" as const }
              })
          })
          return yield* session.send(prompt).pipe(Stream.runCollect)
        }))
      )
      const tree = renderTree(spans)
      resultOf(events)
      assert.deepStrictEqual(asked, ["Bash"])
      only(spans, "Claude.session", tree)
      only(spans, "Session.send", tree)
      for (const span of spans) assert.notInclude(visibleText(span), marker, `${span.name} shows the prompt`)
    }))
})

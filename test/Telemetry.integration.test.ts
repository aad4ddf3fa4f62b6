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
  if (result?._tag !== "Result") throw new Error(`the turn ended without a Result: ${JSON.stringify(result)}`)
  return result
}

/** The prompt turn's span (the pool's recycling `/clear` has a `Claude.turn` of kind `reset`, under `Session.reset`). */
const promptTurn = (spans: ReadonlyArray<ReadableSpan>, tree: string): ReadableSpan => {
  const turns = spans.filter((s) => s.name === "Claude.turn" && s.attributes["claude.turn.kind"] === "prompt")
  assert.strictEqual(turns.length, 1, `one prompt Claude.turn in\n${tree}`)
  const [turn] = turns
  if (turn === undefined) throw new Error("unreachable")
  return turn
}

/** What the turn's span says matches what its Result said: session, model, outcome, tokens, cost. */
const assertTurnAttributes = (turn: ReadableSpan, events: ReadonlyArray<ClaudeEvent>, tree: string) => {
  const result = resultOf(events)
  const started = events.find((e) => e._tag === "SessionStarted")
  const usage = result.usage ?? {}
  const a = turn.attributes
  assert.strictEqual(a["claude.session_id"], result.sessionId, tree)
  assert.isString(a["claude.model"])
  assert.strictEqual(a["claude.model"], started?._tag === "SessionStarted" ? started.model : undefined, tree)
  assert.strictEqual(a["claude.outcome"], "success", tree)
  assert.isUndefined(a["claude.reason"])
  assert.strictEqual(a["claude.input_tokens"], usage["input_tokens"], tree)
  assert.strictEqual(a["claude.output_tokens"], usage["output_tokens"], tree)
  assert.isAbove(Number(a["claude.input_tokens"]), 0)
  assert.strictEqual(a["claude.cost_usd"], result.costUsd, tree)
  assert.isAbove(Number(a["claude.cost_usd"]), 0)
  assert.strictEqual(a["claude.turn"], 1)
  assert.isNumber(a["claude.pid"])
  // The prompt is left out unless `tracePrompts` is set.
  assert.isUndefined(a["claude.prompt"])
}

describe("OpenTelemetry (examples/otel.ts layer, in-memory exporter) on the real CLI", () => {
  it.live("Claude.query with a Bash tool call: Claude.turn under Claude.query, Claude.tool_use under the turn, no prompt text", () =>
    Effect.gen(function*() {
      const { result: events, spans } = yield* traced(
        scriptWith(echo),
        (options) => Claude.query(prompt, { ...options, allowedTools: ["Bash"] }).pipe(Stream.runCollect)
      )
      const tree = renderTree(spans)
      const toolUse = events.find((e) => e._tag === "ToolUse")
      assert.isTrue(toolUse?._tag === "ToolUse" && toolUse.name === "Bash", tree)

      // One trace: the query, then its turn.
      const query = only(spans, "Claude.query", tree)
      const turn = promptTurn(spans, tree)
      assert.strictEqual(turn.parentSpanContext?.spanId, query.spanContext().spanId, tree)
      assert.strictEqual(turn.spanContext().traceId, query.spanContext().traceId)
      assertTurnAttributes(turn, events, tree)

      // The tool call is a child of the turn, named after the tool, with the model's tool use id.
      const tools = childrenOf(spans, turn).filter((s) => s.name === "Claude.tool_use")
      assert.strictEqual(tools.length, 1, tree)
      const [tool] = tools
      assert.strictEqual(tool?.attributes["claude.tool.name"], "Bash")
      assert.strictEqual(tool?.attributes["claude.tool.use_id"], toolUse?._tag === "ToolUse" ? toolUse.id : "")
      assert.strictEqual(tool?.attributes["claude.tool.is_error"], false)
      // Bash was allowed up front: the CLI asked for no permission, so the turn has no incoming control request.
      const incoming = spans.filter((s) =>
        s.name === "Claude.control_request" && s.attributes["claude.control.direction"] === "incoming"
      )
      assert.deepStrictEqual(incoming.map((s) => s.attributes["claude.control.subtype"]), [], tree)

      // No span, attribute or event carries the prompt.
      for (const span of spans) assert.notInclude(visibleText(span), marker, `${span.name} shows the prompt`)
    }))

  it.live("Claude.session with a permission callback: the can_use_tool control request under the tool use, under the turn", () =>
    Effect.gen(function*() {
      const asked: Array<string> = []
      const { result: events, spans } = yield* traced(
        scriptWith(guarded),
        (options) =>
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
      assert.deepStrictEqual(asked, ["Bash"])

      const turn = promptTurn(spans, tree)
      assertTurnAttributes(turn, events, tree)
      const [tool, ...moreTools] = childrenOf(spans, turn).filter((s) => s.name === "Claude.tool_use")
      assert.isDefined(tool, tree)
      assert.deepStrictEqual(moreTools, [])
      assert.strictEqual(tool?.attributes["claude.tool.name"], "Bash")

      // The permission request: a child of the tool call it is about, answered "allow".
      const requests = spans.filter((s) =>
        s.name === "Claude.control_request" && s.attributes["claude.control.subtype"] === "can_use_tool"
      )
      assert.strictEqual(requests.length, 1, tree)
      const [request] = requests
      if (request === undefined || tool === undefined) throw new Error("unreachable")
      assert.strictEqual(request.parentSpanContext?.spanId, tool.spanContext().spanId, tree)
      assert.deepStrictEqual(ancestorsOf(spans, request).slice(0, 2), ["Claude.tool_use", "Claude.turn"])
      assert.strictEqual(request.attributes["claude.control.direction"], "incoming")
      assert.strictEqual(request.attributes["claude.tool.name"], "Bash")
      assert.strictEqual(request.attributes["claude.tool.use_id"], tool.attributes["claude.tool.use_id"])
      assert.strictEqual(request.attributes["claude.permission.behavior"], "allow")
      assert.strictEqual(request.spanContext().traceId, turn.spanContext().traceId)

      for (const span of spans) assert.notInclude(visibleText(span), marker, `${span.name} shows the prompt`)
    }))
})

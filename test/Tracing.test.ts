import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Stream, Tracer } from "effect"
import * as Claude from "../src/Claude.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import { captureSpans, ClaudeOnFake } from "./utils.ts"

// The spans of a session on the in-process FakeSpawner, captured by an in-memory tracer (effect's native
// spans). Names and attributes are the documented, stable ones (see the Session module).
const executable = FakeSpawner.executable
const quick = { shutdownGrace: 1000 } as const
const marker = "PROMPT-MARKER-5d1a"

const parentOf = (span: Tracer.NativeSpan) => Option.getOrUndefined(span.parent)

const nameOf = (span: Tracer.AnySpan | undefined) => (span?._tag === "Span" ? span.name : undefined)

const childrenOf = (spans: ReadonlyArray<Tracer.NativeSpan>, parent: Tracer.AnySpan) =>
  spans.filter((span) => parentOf(span)?.spanId === parent.spanId)

/** The tree under `root`, one span per line, indented, with the attributes named in `shown`. */
const tree = (
  spans: ReadonlyArray<Tracer.NativeSpan>,
  root: Tracer.NativeSpan,
  shown: ReadonlyArray<string> = []
): string => {
  const lines: Array<string> = []
  const walk = (span: Tracer.NativeSpan, depth: number) => {
    const attributes = shown.flatMap((
      key
    ) => (span.attributes.has(key) ? [`${key}=${JSON.stringify(span.attributes.get(key))}`] : []))
    lines.push(`${"  ".repeat(depth)}${span.name}${attributes.length > 0 ? ` {${attributes.join(", ")}}` : ""}`)
    for (const child of childrenOf(spans, span)) walk(child, depth + 1)
  }
  walk(root, 0)
  return lines.join("\n")
}

const only = (spans: ReadonlyArray<Tracer.NativeSpan>, name: string) => {
  const found = spans.filter((span) => span.name === name)
  assert.strictEqual(found.length, 1, `one ${name} among ${spans.map((s) => s.name).join(", ")}`)
  const [span] = found
  if (span === undefined) throw new Error("unreachable")
  return span
}

const attributesOf = (span: Tracer.NativeSpan) => Object.fromEntries(span.attributes)

const visibleText = (span: Tracer.NativeSpan) =>
  JSON.stringify([
    span.name,
    [...span.attributes],
    span.events.map(([name, , attributes]) => [name, attributes]),
    span.status._tag === "Ended" ? String(span.status.exit) : ""
  ])

const toolTurn = {
  text: "done",
  toolUse: { name: "Bash", input: { command: "ls" } },
  controlRequests: [{ subtype: "can_use_tool" }]
} as const

describe("Tracing (in-memory tracer, FakeSpawner)", () => {
  it.effect("a turn with a tool call and a permission request: Claude.turn > Claude.tool_use > Claude.control_request", () =>
    Effect.gen(function*() {
      const { spans, tracer } = captureSpans()
      const { events, pid } = yield* Effect.gen(function*() {
        const session = yield* Claude.session({
          options: { executable, timeouts: quick },
          canUseTool: () => Effect.succeed({ behavior: "allow" } as const)
        })
        const events = yield* session.send(`run ls ${marker}`).pipe(Stream.runCollect)
        return { events, pid: session.pid }
      }).pipe(Effect.scoped, Effect.withSpan("test"), Effect.provideService(Tracer.Tracer, tracer))

      const result = events.at(-1)
      assert.strictEqual(result?._tag, "Result")
      const sessionId = result?._tag === "Result" ? result.sessionId : undefined
      const toolUse = events.find((e): e is Extract<ClaudeEvent, { _tag: "ToolUse" }> => e._tag === "ToolUse")
      assert.isDefined(toolUse)

      const root = only(spans, "test")
      const turn = only(spans, "Claude.turn")
      const tool = only(spans, "Claude.tool_use")
      const rendered = tree(spans, root, ["claude.control.subtype", "claude.tool.name"])
      assert.strictEqual(
        rendered,
        [
          "test",
          "  Claude.session",
          "    ProcessManager.spawn",
          "    Session.initialize",
          "      Claude.control_request {claude.control.subtype=\"initialize\"}",
          "  Claude.turn",
          "    Claude.tool_use {claude.tool.name=\"Bash\"}",
          "      Claude.control_request {claude.control.subtype=\"can_use_tool\", claude.tool.name=\"Bash\"}"
        ].join("\n")
      )

      // The turn: who, what, how it went, what it used and cost. No prompt.
      assert.deepStrictEqual(attributesOf(turn), {
        "claude.turn": 1,
        "claude.turn.kind": "prompt",
        "claude.pid": pid,
        "claude.session_id": sessionId,
        "claude.model": "claude-opus-5-5",
        "claude.outcome": "success",
        "claude.input_tokens": 100,
        "claude.output_tokens": 12,
        "claude.cache_read_input_tokens": 0,
        "claude.cache_creation_input_tokens": 0,
        "claude.cost_usd": 0.00128,
        "claude.total_cost_usd": 0.00128,
        "claude.num_turns": 2,
        "claude.duration_api_ms": 0
      })
      assert.isTrue(turn.status._tag === "Ended" && Exit.isSuccess(turn.status.exit))

      // The tool call, from its ToolUse to its ToolResult.
      assert.deepStrictEqual(attributesOf(tool), {
        "claude.tool.name": "Bash",
        "claude.tool.use_id": toolUse?.id,
        "claude.tool.is_error": false
      })
      assert.isTrue(tool.status._tag === "Ended")

      // The permission request, served under its tool call.
      const permission = childrenOf(spans, tool)[0]
      assert.isDefined(permission)
      assert.deepStrictEqual(permission === undefined ? {} : attributesOf(permission), {
        "claude.control.subtype": "can_use_tool",
        "claude.control.direction": "incoming",
        "claude.control.request_id": permission?.attributes.get("claude.control.request_id"),
        "claude.tool.name": "Bash",
        "claude.tool.use_id": toolUse?.id,
        "claude.permission.behavior": "allow"
      })
      assert.match(String(permission?.attributes.get("claude.control.request_id")), /.+/)

      // Our own initialize: outgoing, with its request id.
      const initialize = spans.find((s) => s.attributes.get("claude.control.subtype") === "initialize")
      assert.strictEqual(initialize?.attributes.get("claude.control.direction"), "outgoing")
      assert.strictEqual(initialize?.attributes.get("claude.control.request_id"), "req_1")

      for (const span of spans) assert.notInclude(visibleText(span), marker, `${span.name} shows the prompt`)
    }).pipe(Effect.provide(ClaudeOnFake({ turns: [toolTurn] }))))

  it.effect("tracePrompts puts the prompt on the turn; control requests sent mid-session and failed turns", () =>
    Effect.gen(function*() {
      const { spans, tracer } = captureSpans()
      const failed = yield* Effect.gen(function*() {
        const session = yield* Claude.session({ options: { executable, timeouts: quick }, tracePrompts: true })
        yield* session.ask(`first ${marker}`)
        yield* session.setModel("sonnet")
        return yield* Effect.exit(
          session.ask([{ type: "text", text: "second" }, {
            type: "image",
            source: { type: "base64", media_type: "image/png", data: "AAAA" }
          }])
        )
      }).pipe(Effect.scoped, Effect.withSpan("test"), Effect.provideService(Tracer.Tracer, tracer))
      assert.isTrue(Exit.isFailure(failed))

      const turns = spans.filter((s) => s.name === "Claude.turn")
      assert.deepStrictEqual(turns.map((s) => s.attributes.get("claude.prompt")), [
        `first ${marker}`,
        "second\n[image]"
      ])
      assert.deepStrictEqual(turns.map((s) => s.attributes.get("claude.turn")), [1, 2])
      // Each turn under its `Session.ask`.
      assert.deepStrictEqual(turns.map((s) => nameOf(parentOf(s))), ["Session.ask", "Session.ask"])

      // The second turn failed: its span says why, and ends with the error.
      const second = turns[1]
      assert.strictEqual(second?.attributes.get("claude.outcome"), "failure")
      assert.strictEqual(second?.attributes.get("claude.reason"), "Overloaded")
      assert.strictEqual(
        second?.attributes.get("claude.model"),
        "claude-sonnet-5-5",
        "the model the CLI reported for the turn"
      )
      assert.isTrue(second?.status._tag === "Ended" && Exit.isFailure(second.status.exit))

      // set_model: our control request, under the method's span.
      const setModel = only(spans, "Session.setModel")
      const [sent] = childrenOf(spans, setModel).flatMap((s) => childrenOf(spans, s).concat([s]))
        .filter((s) => s.name === "Claude.control_request")
      assert.strictEqual(sent?.attributes.get("claude.control.subtype"), "set_model")
      assert.strictEqual(sent?.attributes.get("claude.control.direction"), "outgoing")
    }).pipe(Effect.provide(ClaudeOnFake({ turns: [{}, { result: { apiErrorStatus: 529 } }] }))))

  it.effect("the /clear of reset is a turn of kind reset, under Session.reset", () =>
    Effect.gen(function*() {
      const { spans, tracer } = captureSpans()
      yield* Effect.gen(function*() {
        const session = yield* Claude.session({ options: { executable, timeouts: quick } })
        yield* session.ask("one")
        yield* session.reset
      }).pipe(Effect.scoped, Effect.withSpan("test"), Effect.provideService(Tracer.Tracer, tracer))
      const turns = spans.filter((s) => s.name === "Claude.turn")
      assert.deepStrictEqual(turns.map((s) => s.attributes.get("claude.turn.kind")), ["prompt", "reset"])
      const reset = only(spans, "Session.reset")
      assert.strictEqual(parentOf(turns[1] ?? reset)?.spanId, reset.spanId)
    }).pipe(Effect.provide(ClaudeOnFake({}))))
})

/**
 * In-process tools (effect/ai toolkits served as SDK MCP servers) against the real CLI and the FakeApi:
 * the FakeApi scripts the model's tool use of `mcp__calc__add`, the CLI calls our server over the control
 * protocol, and what the handler answered must reach the API in the next request.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Metric, Option, Predicate, Schema, Stream } from "effect"
import { Tool, Toolkit } from "effect/ai"
import * as Claude from "../src/Claude.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as Metrics from "../src/Metrics.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { captureSpans, ClaudeTest, eventually, processesWithHome, tempDir } from "./utils.ts"

class Overflow extends Schema.TaggedError<Overflow>()("Overflow", { limit: Schema.Number }) {}

const Add = Tool.make("add", {
  description: "Adds two numbers",
  parameters: Schema.Struct({
    a: Schema.Number,
    // A rule JSON Schema cannot say: the CLI passes any number, our Schema refuses odd ones.
    b: Schema.Number.check(Schema.makeFilter((n) => n % 2 === 0 || "must be even"))
  }),
  success: Schema.Number,
  failure: Overflow
})
const Calc = Toolkit.make(Add)

/** The handler, counting its calls; sums over `limit` fail with the tool's failure. */
const calcLayer = (calls: Array<{ a: number; b: number }>, limit = 1000) =>
  Calc.toLayer({
    add: ({ a, b }) =>
      Effect.suspend(() => {
        calls.push({ a, b })
        return a + b > limit ? Effect.fail(new Overflow({ limit })) : Effect.succeed(a + b)
      })
  })

const withRealCli = <A, E, R>(
  script: FakeApi.Script,
  body: (options: ClaudeOptions.Input, api: FakeApi.FakeApi["Service"]) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function*() {
    const home = yield* tempDir("mcp-tools")
    const api = yield* FakeApi.make({ script })
    const env = { ...FakeApi.cliEnvironment(api, home), ENABLE_TOOL_SEARCH: "false" }
    const result = yield* body({ env, allowedTools: ["mcp__calc__add"], timeouts: { turn: 30_000 } }, api)
    yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
    return result
  }).pipe(Effect.scoped)

/** The `tool_result` blocks of a request's messages: what the CLI told the model a tool gave. */
const toolResultsOf = (request: FakeApi.RecordedRequest) =>
  (request.messagesRequest?.messages ?? []).flatMap((message) =>
    typeof message.content === "string"
      ? []
      : message.content.flatMap((block) =>
        Predicate.hasProperty(block, "type") && block.type === "tool_result" ? [block] : []
      )
  )

const resultText = (block: unknown): string => {
  const content = Predicate.hasProperty(block, "content") ? block.content : undefined
  if (typeof content === "string") return content
  return Array.isArray(content)
    ? content.map((part) => (Predicate.hasProperty(part, "text") ? String(part.text) : "")).join("")
    : ""
}
const isError = (block: unknown) => Predicate.hasProperty(block, "is_error") && block.is_error === true

const lastResult = (events: ReadonlyArray<ClaudeEvent>) => events.findLast((event) => event._tag === "Result")

describe("McpTools: in-process tools against the real CLI", () => {
  it.live("the model calls mcp__calc__add: the handler runs once, its answer reaches the API, the call is a span and a metric", () => {
    const calls: Array<{ a: number; b: number }> = []
    const { spans, tracer } = captureSpans()
    return withRealCli(
      [FakeApi.toolUse("mcp__calc__add", { a: 2, b: 40 }), FakeApi.text("The sum is 42.")],
      (options, api) =>
        Effect.gen(function*() {
          const events = yield* Claude.query("add 2 and 40", options, { tools: { calc: Calc } }).pipe(
            Stream.runCollect
          )
          assert.strictEqual(
            lastResult(events)?._tag === "Result" ? lastResult(events)?.text : undefined,
            "The sum is 42."
          )
          assert.deepStrictEqual(calls, [{ a: 2, b: 40 }])
          const requests = yield* api.conversationRequests
          assert.lengthOf(requests, 2)
          // The model was offered the tool with the input schema Effect derived from the parameters Schema.
          const offered = requests[0]?.messagesRequest?.tools?.find((tool) =>
            Predicate.hasProperty(tool, "name") && tool.name === "mcp__calc__add"
          )
          assert.deepInclude(offered, { description: "Adds two numbers" })
          const schema = Predicate.hasProperty(offered, "input_schema") ? offered.input_schema : undefined
          assert.deepInclude(schema, { type: "object", required: ["a", "b"] })
          const [result] = requestsResults(requests)
          assert.strictEqual(resultText(result), "42")
          assert.isFalse(isError(result))

          const call = spans.find((span) => span.name === "Claude.tool_call")
          assert.isDefined(call)
          assert.strictEqual(call?.attributes.get("claude.mcp.server"), "calc")
          assert.strictEqual(call?.attributes.get("claude.mcp.tool"), "add")
          assert.strictEqual(call?.attributes.get("claude.tool.outcome"), "success")
          const toolUse = spans.find((span) => span.name === "Claude.tool_use")
          assert.isDefined(toolUse)
          // Under the tool use it serves (through the control request that carried it), under the turn.
          const parents: Array<string> = []
          for (let parent = call?.parent; parent !== undefined && Option.isSome(parent);) {
            const span = parent.value
            if (span._tag !== "Span") break
            parents.push(span.name)
            parent = span.parent
          }
          assert.includeMembers(parents, ["Claude.control_request", "Claude.tool_use", "Claude.turn"])
          const counted = yield* Metric.value(
            Metric.withAttributes(Metrics.toolCallsTotal, { server: "calc", tool: "add", outcome: "success" })
          )
          assert.strictEqual(counted.count, 1)
        }).pipe(
          Effect.provide(Layer.merge(ClaudeTest, calcLayer(calls))),
          Effect.provideService(Metric.MetricRegistry, new Map()),
          Effect.withTracer(tracer)
        )
    )
  })

  it.live("arguments the tool's Schema refuses are a tool error naming the field, the handler never runs, the turn goes on", () => {
    const calls: Array<{ a: number; b: number }> = []
    return withRealCli(
      [FakeApi.toolUse("mcp__calc__add", { a: 2, b: 41 }), FakeApi.text("I could not add them.")],
      (options, api) =>
        Effect.gen(function*() {
          const events = yield* Claude.query("add 2 and 41", options, { tools: { calc: Calc } }).pipe(
            Stream.runCollect
          )
          assert.strictEqual(lastResult(events)?._tag, "Result")
          assert.deepStrictEqual(calls, [])
          const [result] = requestsResults(yield* api.conversationRequests)
          assert.isTrue(isError(result))
          assert.include(resultText(result), "Invalid arguments for add")
          assert.include(resultText(result), "b")
          assert.include(resultText(result), "must be even")
        }).pipe(Effect.provide(Layer.merge(ClaudeTest, calcLayer(calls))))
    )
  })

  it.live("a handler that fails gives the model an error result holding the failure as the tool's Schema encodes it", () => {
    const calls: Array<{ a: number; b: number }> = []
    return withRealCli(
      [FakeApi.toolUse("mcp__calc__add", { a: 2000, b: 40 }), FakeApi.text("Too big.")],
      (options, api) =>
        Effect.gen(function*() {
          yield* Claude.query("add 2000 and 40", options, { tools: { calc: Calc } }).pipe(Stream.runDrain)
          assert.deepStrictEqual(calls, [{ a: 2000, b: 40 }])
          const [result] = requestsResults(yield* api.conversationRequests)
          assert.isTrue(isError(result))
          assert.deepStrictEqual(JSON.parse(resultText(result)), { _tag: "Overflow", limit: 1000 })
        }).pipe(Effect.provide(Layer.merge(ClaudeTest, calcLayer(calls, 1000))))
    )
  })

  it.live("interrupting a turn mid-tool interrupts the running handler; the session is ready for the next turn", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const Hanging = Calc.toLayer({
        add: () =>
          Deferred.succeed(started, undefined).pipe(
            Effect.andThen(Effect.never),
            Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
          )
      })
      yield* withRealCli(
        [FakeApi.toolUse("mcp__calc__add", { a: 2, b: 40 }), FakeApi.text("after the interrupt")],
        (options) =>
          Effect.gen(function*() {
            const session = yield* Claude.session({ options, tools: { calc: Calc } })
            const turn = yield* session.send("add 2 and 40").pipe(Stream.runCollect, Effect.forkChild)
            yield* Deferred.await(started)
            yield* session.interrupt
            yield* Deferred.await(interrupted)
            const exit = yield* Fiber.join(turn).pipe(Effect.exit)
            const failure = exit._tag === "Failure" ? exit.cause.reasons[0] : undefined
            assert.strictEqual(failure?._tag === "Fail" ? failure.error.reason._tag : undefined, "Interrupted")
            const next = yield* session.ask("go on")
            assert.strictEqual(next.text, "after the interrupt")
          }).pipe(Effect.scoped, Effect.provide(Layer.merge(ClaudeTest, Hanging)), Effect.timeout("40 seconds"))
      )
    }))

  it.live("a pooled process reused by the same toolkit calls the new lease's handlers; another toolkit gets another process", () =>
    withRealCli(
      [
        FakeApi.toolUse("mcp__calc__add", { a: 1, b: 2 }),
        FakeApi.text("first"),
        FakeApi.toolUse("mcp__calc__add", { a: 1, b: 2 }),
        FakeApi.text("second")
      ],
      (options, api) =>
        Effect.gen(function*() {
          const pool = yield* SessionPool.SessionPool
          const lease = (answer: number) =>
            Effect.scoped(
              Effect.gen(function*() {
                const session = yield* pool.acquire({ options, tools: { calc: Calc } })
                const pid = session.pid
                yield* session.ask("add 1 and 2")
                return pid
              }).pipe(Effect.provide(Calc.toLayer({ add: () => Effect.succeed(answer) })))
            )
          const first = yield* lease(100)
          const second = yield* lease(200)
          assert.strictEqual(second, first, "the same warm process")
          const results = requestsResults(yield* api.conversationRequests).map(resultText)
          assert.deepStrictEqual(results, ["100", "200"])

          // Another toolkit (a different tool list) never shares the process.
          const Mul = Toolkit.make(Tool.make("mul", { parameters: Schema.Struct({ a: Schema.Number }) }))
          const other = yield* Effect.scoped(
            Effect.map(pool.acquire({ options, tools: { calc: Mul } }), (session) => session.pid)
          ).pipe(Effect.provide(Mul.toLayer({ mul: () => Effect.void })))
          assert.notStrictEqual(other, first)
        }).pipe(Effect.provide(ClaudeTest))
    ))
})

/** The newest tool result of each request that carries one: what the CLI reported a tool gave, in order. */
const requestsResults = (requests: ReadonlyArray<FakeApi.RecordedRequest>) =>
  requests.flatMap((request) => {
    const last = toolResultsOf(request).at(-1)
    return last === undefined ? [] : [last]
  })

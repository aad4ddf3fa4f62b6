/**
 * The in-process MCP servers without a process: the JSON-RPC the CLI sends (as recorded from CLI 2.1.329 in
 * fixtures/claude-cli-2.1.329/sdk-mcp-tool), answered from a toolkit, with the TestClock for timeouts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer, Option, Predicate, Schema, Stream } from "effect"
import { Tool, Toolkit } from "effect/ai"
import { TestClock } from "effect/testing"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as McpServers from "../src/internal/session/mcpServers.ts"
import * as McpTools from "../src/McpTools.ts"
import * as Protocol from "../src/Protocol.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import { ClaudeOnFake } from "./utils.ts"

const fixture = path.join(import.meta.dirname, "fixtures", "claude-cli-2.1.329", "sdk-mcp-tool", "stdout.jsonl")

const Add = Tool.make("add", {
  description: "Adds two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Number
})
const Slow = Tool.make("slow", { success: Schema.String }).annotate(
  McpTools.Timeout,
  "3 seconds"
)
const Calc = Toolkit.make(Add, Slow)

/** The CLI's `mcp_message` requests of the recorded session, in order. */
const recorded = fs.readFileSync(fixture, "utf8").split("\n").filter((line) => line !== "").flatMap((line) => {
  const frame: unknown = JSON.parse(line)
  return Predicate.hasProperty(frame, "type") && frame.type === "control_request" &&
      Predicate.hasProperty(frame, "request") && Schema.is(Protocol.McpMessageRequest)(frame.request)
    ? [frame.request]
    : []
})

const message = (body: unknown): Protocol.McpMessageRequest => ({
  subtype: "mcp_message",
  server_name: "calc",
  message: body
})
const call = (id: number, name: string, args: unknown) =>
  message({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } })

const noCancel = () => Effect.void

const serversWith = (handlers: Layer.Layer<Tool.HandlersFor<typeof Calc.tools>>, timeout = Duration.minutes(2)) =>
  McpTools.resolve({ calc: Calc }).pipe(
    Effect.map((resolved) => McpServers.make(resolved, timeout)),
    Effect.provide(handlers)
  )

const working = Calc.toLayer({ add: ({ a, b }) => Effect.succeed(a + b), slow: () => Effect.never })

const contentOf = (reply: unknown) => {
  const result = Predicate.hasProperty(reply, "result") ? reply.result : undefined
  const content = Predicate.hasProperty(result, "content") && Array.isArray(result.content) ? result.content : []
  return {
    text: content.map((part) => (Predicate.hasProperty(part, "text") ? String(part.text) : "")).join(""),
    isError: Predicate.hasProperty(result, "isError") && result.isError === true
  }
}

describe("McpTools: the JSON-RPC of the in-process servers", () => {
  it.effect("answers the messages the real CLI sent, in its order: initialize, initialized, tools/list, tools/call", () =>
    Effect.gen(function*() {
      const servers = yield* serversWith(working)
      assert.deepStrictEqual(recorded.map((r) => Predicate.hasProperty(r.message, "method") && r.message.method), [
        "initialize",
        "notifications/initialized",
        "tools/list",
        "tools/call"
      ])
      const [initialize, initialized, list, toolsCall] = yield* Effect.forEach(
        recorded,
        (request, i) => servers.answer(request, `req_${i}`, noCancel)
      )
      // The version the CLI asked for (2025-11-25), and tools only.
      assert.deepStrictEqual(initialize, {
        jsonrpc: "2.0",
        id: 0,
        result: {
          protocolVersion: "2025-11-25",
          capabilities: { tools: {} },
          serverInfo: { name: "calc", version: "0.1.0" }
        }
      })
      // A notification is answered as the CLI expects it, with an empty result.
      assert.deepStrictEqual(initialized, { jsonrpc: "2.0", result: {}, id: 0 })
      const tools = Predicate.hasProperty(list, "result") && Predicate.hasProperty(list.result, "tools")
        ? list.result.tools
        : undefined
      // Each tool's input schema is the one effect/ai derives for every provider (Tool.getJsonSchema).
      assert.deepStrictEqual(tools, [
        { name: "add", description: "Adds two numbers", inputSchema: Tool.getJsonSchema(Add) },
        { name: "slow", inputSchema: { type: "object", additionalProperties: false } }
      ])
      assert.deepInclude(Tool.getJsonSchema(Add), { type: "object", required: ["a", "b"] })
      assert.deepStrictEqual(contentOf(toolsCall), { text: "42", isError: false })
      assert.deepInclude(toolsCall, { jsonrpc: "2.0", id: 2 })
    }))

  it.effect("a handler that hangs is stopped at its tool's timeout (TestClock) and the model is told", () =>
    Effect.gen(function*() {
      const interrupted = yield* Deferred.make<void>()
      const servers = yield* serversWith(Calc.toLayer({
        add: ({ a, b }) => Effect.succeed(a + b),
        slow: () => Effect.never.pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
      }))
      const fiber = yield* servers.answer(call(5, "slow", {}), "req_5", noCancel).pipe(Effect.forkChild)
      yield* TestClock.adjust("2999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 milli")
      const reply = yield* Fiber.join(fiber)
      assert.deepStrictEqual(contentOf(reply), { text: "The tool slow did not finish within 3s.", isError: true })
      assert.isTrue(Option.isSome(yield* Deferred.poll(interrupted)), "the handler was interrupted")
    }))

  it.effect("without a timeout of its own, a tool gets the config's", () =>
    Effect.gen(function*() {
      const servers = yield* serversWith(
        Calc.toLayer({ add: () => Effect.never, slow: () => Effect.never }),
        Duration.seconds(10)
      )
      const fiber = yield* servers.answer(call(6, "add", { a: 1, b: 2 }), "req_6", noCancel).pipe(Effect.forkChild)
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(contentOf(yield* Fiber.join(fiber)), {
        text: "The tool add did not finish within 10s.",
        isError: true
      })
    }))

  it.effect("notifications/cancelled cancels the running call it names, through the control request serving it", () =>
    Effect.gen(function*() {
      const servers = yield* serversWith(working)
      const cancelled: Array<string> = []
      const fiber = yield* servers.answer(call(7, "slow", {}), "req_call", noCancel).pipe(Effect.forkChild)
      yield* Effect.yieldNow
      const ack = yield* servers.answer(
        message({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 7, reason: "AbortError" } }),
        "req_cancel",
        (id) => Effect.sync(() => cancelled.push(id))
      )
      assert.deepStrictEqual(ack, { jsonrpc: "2.0", result: {}, id: 0 })
      assert.deepStrictEqual(cancelled, ["req_call"])
      yield* Fiber.interrupt(fiber)
      // Once the call ended, a late cancellation names nothing.
      yield* servers.answer(
        message({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 7 } }),
        "req_late",
        (id) => Effect.sync(() => cancelled.push(id))
      )
      assert.deepStrictEqual(cancelled, ["req_call"])
    }))

  it.effect("a handler that dies, an unknown tool, an unknown method, an unknown server and garbage are answered, typed", () =>
    Effect.gen(function*() {
      const servers = yield* serversWith(Calc.toLayer({ add: () => Effect.die("boom"), slow: () => Effect.never }))
      assert.deepStrictEqual(contentOf(yield* servers.answer(call(1, "add", { a: 1, b: 2 }), "r1", noCancel)), {
        text: "The tool add failed unexpectedly.",
        isError: true
      })
      assert.deepStrictEqual(contentOf(yield* servers.answer(call(2, "nope", {}), "r2", noCancel)), {
        text: "The server calc has no tool nope.",
        isError: true
      })
      assert.deepStrictEqual(
        yield* servers.answer(message({ jsonrpc: "2.0", id: 3, method: "resources/list" }), "r3", noCancel),
        { jsonrpc: "2.0", id: 3, error: { code: -32601, message: "method resources/list is not served" } }
      )
      assert.deepStrictEqual(
        yield* servers.answer(
          { ...message({ jsonrpc: "2.0", id: 4, method: "tools/list" }), server_name: "x" },
          "r4",
          noCancel
        ),
        { jsonrpc: "2.0", id: 4, error: { code: -32601, message: "no in-process MCP server is named x" } }
      )
      assert.deepStrictEqual(yield* servers.answer(message("garbage"), "r5", noCancel), {
        jsonrpc: "2.0",
        id: null,
        error: { code: -32600, message: "not a JSON-RPC request" }
      })
    }))

  it("toolkits are named in --mcp-config as sdk servers, beside the user's MCP servers", () => {
    const args = ClaudeOptions.toArgs({ mcpServers: { files: { command: "files-mcp" } } }, { sdkMcpServers: ["calc"] })
    const config = args.find((arg) => arg.startsWith("--mcp-config="))
    assert.deepStrictEqual(JSON.parse(config?.slice("--mcp-config=".length) ?? "{}"), {
      mcpServers: { files: { command: "files-mcp" }, calc: { type: "sdk", name: "calc" } }
    })
  })
})

const NoObject = Toolkit.make(Tool.make("count", { parameters: Schema.Number }))

describe("McpTools: toolkits that cannot be served fail before anything is spawned", () => {
  const messageOf = <A, E extends { readonly message: string }, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.map(Effect.flip(effect), (error) => error.message)
  const options = { executable: FakeSpawner.executable }

  it.effect("a bad server name, a name options.mcpServers has too, parameters without an object root, a value that is no toolkit", () =>
    Effect.gen(function*() {
      const messages = [
        yield* messageOf(Stream.runDrain(Claude.query("hi", options, { tools: { "bad name": Calc } }))),
        yield* messageOf(Stream.runDrain(Claude.query("hi", options, { tools: { a__b: Calc } }))),
        yield* messageOf(Stream.runDrain(
          Claude.query("hi", { ...options, mcpServers: { calc: { command: "x" } } }, { tools: { calc: Calc } })
        )),
        yield* messageOf(Stream.runDrain(Claude.query("hi", options, { tools: { count: NoObject } }))),
        yield* messageOf(Stream.runDrain(
          Claude.query("hi", options, JSON.parse("{\"tools\":{\"calc\":42}}"))
        ))
      ]
      assert.include(messages[0], "tools.bad name: a server name is 1 to 64 letters")
      assert.include(messages[1], "tools.a__b: a server name")
      assert.include(messages[2], "tools.calc: options.mcpServers names a server calc too")
      assert.include(messages[3], "tools.count.count: its parameters must be an object Schema")
      assert.include(messages[4], "config.tools.calc")
      const spawned = yield* FakeSpawner.FakeSpawnerState.use((fake) => fake.processes)
      assert.lengthOf(spawned.filter((p) => p.kind === "session"), 0)
    }).pipe(
      Effect.provide(Layer.mergeAll(ClaudeOnFake({}), working, NoObject.toLayer({ count: () => Effect.void })))
    ))
})

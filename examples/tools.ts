/**
 * `npm run example:tools`: an in-process tool, written once with effect/ai, called by the CLI, offline.
 *
 * The tool is an effect/ai `Tool` in a `Toolkit`, its handler a Layer. `Claude.query` serves the toolkit to
 * the CLI as the SDK MCP server `calc`; the model (the bundled FakeApi on loopback, scripted to call
 * `mcp__calc__add`) calls it, the handler runs in this process, and its answer goes back to the model.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Schema, Stream } from "effect"
import { Claude, type ClaudeOptions } from "effect-claude-code"
import { FakeApi } from "effect-claude-code/testing"
import { Tool, Toolkit } from "effect/ai"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

// The tool: its name, what the model is told, the Schema of its arguments and of its answer.
const Add = Tool.make("add", {
  description: "Adds two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Number
})
const Calc = Toolkit.make(Add)

// The handler: any Effect, with whatever services it needs from its layer.
const CalcLive = Calc.toLayer({
  add: ({ a, b }) => Effect.as(Console.log(`[handler] add(${a}, ${b}) in the host process`), a + b)
})

const program = Effect.gen(function*() {
  const home = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-claude-code-tools-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  const api = yield* FakeApi.make({
    script: [FakeApi.toolUse("mcp__calc__add", { a: 2, b: 40 }), FakeApi.text("2 and 40 make 42.")]
  })
  const options: ClaudeOptions.Input = { env: FakeApi.cliEnvironment(api, home), allowedTools: ["mcp__calc__add"] }
  // The HOME and the FakeApi are acquired before the Claude layer is built, so they outlive its CLIs.
  yield* Claude.query("What is 2 + 40? Use the calculator.", options, { tools: { calc: Calc } }).pipe(
    Stream.runForEach((event) => {
      switch (event._tag) {
        case "ToolUse":
          return Console.log(`[model] calls ${event.name} ${JSON.stringify(event.input)}`)
        case "ToolResult":
          return Console.log(`[cli] the tool answered ${JSON.stringify(event.content)}`)
        case "Result":
          return Console.log(`[result] ${event.text ?? ""}`)
        default:
          return Effect.void
      }
    }),
    // The stream requires the toolkit's handlers: CalcLive provides them.
    Effect.provide(Layer.merge(Claude.layerWith({ pool: { minIdle: 0 } }), CalcLive))
  )
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)

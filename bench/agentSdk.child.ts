/**
 * The official Agent SDK's side of `vs-sdk.*`, in a node of its own (run by `vsSdk.ts`, commands over IPC),
 * written as its users write it: `query()` once per turn (one CLI process each, which the SDK starts and
 * stops), `for await` over its messages; for the tool phase one `createSdkMcpServer` with a `tool()`,
 * defined once and passed to each query. Loads neither effect nor this library.
 */
import { createSdkMcpServer, type Options, query, tool } from "@anthropic-ai/claude-agent-sdk"
import { z } from "zod"
import * as Leftovers from "../src/testing/Leftovers.ts"
import {
  childrenCpuSeconds,
  forEachLimited,
  PROMPT,
  roundTimer,
  serveSide,
  sleep,
  TOOL_NAME,
  TOOL_PROMPT,
  type Turn,
  until
} from "./vsSdkChild.ts"

/** Calls of the tool's handler so far. */
const handler = { calls: 0 }

const calc = createSdkMcpServer({
  name: "calc",
  version: "1.0.0",
  tools: [
    tool("add", "Adds two numbers", { a: z.number(), b: z.number() }, async ({ a, b }) => {
      handler.calls++
      return { content: [{ type: "text", text: String(a + b) }] }
    })
  ]
})

/** The phase's options: one query's, as its users would pass them. */
interface State {
  readonly home: string
  readonly options: Options
}

/** One `query()` iterated to its end, timed from just before the call to its `result` message. */
const timed = async (prompt: string, options: Options): Promise<Turn | string> => {
  const startedAt = performance.now()
  let result: { readonly at: number; readonly text: string } | string | undefined
  try {
    for await (const message of query({ prompt, options })) {
      if (message.type !== "result") continue
      const at = performance.now()
      result = message.subtype === "success" && !message.is_error
        ? { at, text: message.result }
        : `the result was ${message.subtype}${message.is_error ? " (is_error)" : ""}`
    }
  } catch (error) {
    return `the query failed: ${error instanceof Error ? error.message : String(error)}`.slice(0, 600)
  }
  if (result === undefined) return "the query had no result"
  return typeof result === "string" ? result : { ms: result.at - startedAt, resultAt: result.at, text: result.text }
}

/** Until every CLI the SDK started has exited, then a moment for Node to reap them (their CPU time). */
const settled = async (home: string) => {
  const gone = await until(() => Leftovers.withHome(home).length === 0, 30_000)
  await sleep(50)
  return gone
}

await serveSide<State>({
  side: "sdk",
  setup: (command) => ({
    home: command.home,
    options: {
      pathToClaudeCodeExecutable: command.executable,
      env: { ...command.env },
      cwd: command.cwd,
      ...(command.phase === "tool" ? { mcpServers: { calc }, allowedTools: [TOOL_NAME] } : {})
    }
  }),
  round: async (s, turns, concurrency) => {
    const cliBefore = childrenCpuSeconds()
    const timer = roundTimer()
    const outcomes = await forEachLimited(turns, concurrency, () => timed(PROMPT, s.options))
    timer.done()
    const isSettled = await settled(s.home)
    return timer.settled(outcomes, isSettled, () => ({
      cliCpuS: childrenCpuSeconds() - cliBefore,
      cliProcesses: turns,
      cliProcessesGone: turns
    }))
  },
  toolTurn: (s) => timed(TOOL_PROMPT, s.options),
  settle: async (s) => ((await settled(s.home)) ? undefined : "its CLI was still running 30 s after the turn"),
  toolCalls: () => handler.calls,
  // Nothing of the SDK's outlives its queries.
  teardown: async () => {}
})

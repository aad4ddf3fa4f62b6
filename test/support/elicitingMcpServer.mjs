// A stdio MCP server with one tool, `ask`, that asks the user for their name through the client (an MCP
// `elicitation/create` request) and answers with what came back. Newline-delimited JSON-RPC, as MCP's stdio
// transport frames it; just enough of the protocol for the Claude Code CLI to list and call the tool.
import * as Readline from "node:readline"

const write = (message) => process.stdout.write(JSON.stringify({ jsonrpc: "2.0", ...message }) + "\n")
const waiting = new Map()
let nextId = 1

const askUser = () =>
  new Promise((resolve) => {
    const id = `elicit-${nextId++}`
    waiting.set(id, resolve)
    write({
      id,
      method: "elicitation/create",
      params: {
        message: "What is your name?",
        requestedSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] }
      }
    })
  })

const handle = async (message) => {
  if (message.id !== undefined && message.method === undefined) {
    waiting.get(message.id)?.(message.result ?? { action: "error", error: message.error })
    waiting.delete(message.id)
    return
  }
  switch (message.method) {
    case "initialize":
      return write({
        id: message.id,
        result: {
          protocolVersion: message.params?.protocolVersion ?? "2025-06-18",
          capabilities: { tools: {} },
          serverInfo: { name: "asker", version: "1.0.0" }
        }
      })
    case "tools/list":
      return write({
        id: message.id,
        result: { tools: [{ name: "ask", description: "Asks the user their name", inputSchema: { type: "object" } }] }
      })
    case "tools/call": {
      const answer = await askUser()
      const text = answer.action === "accept"
        ? `the user is ${answer.content?.name}`
        : `the user chose ${answer.action}`
      return write({ id: message.id, result: { content: [{ type: "text", text }] } })
    }
    default:
      if (message.id !== undefined) write({ id: message.id, error: { code: -32601, message: "method not found" } })
  }
}

Readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "") return
  void handle(JSON.parse(line))
})

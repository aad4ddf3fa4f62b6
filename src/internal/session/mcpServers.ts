/**
 * A session's in-process MCP servers: the CLI's JSON-RPC messages for them (`mcp_message` control requests)
 * answered from effect/ai toolkits.
 *
 * The CLI speaks a small part of MCP to them: `initialize`, `notifications/initialized`, `tools/list`,
 * `tools/call`, and `notifications/cancelled` when a turn is interrupted during a call. A notification is
 * answered too (the CLI waits for every control request), with the empty result it expects. The replies
 * are typed by effect/ai's `McpSchema`. effect/ai's `McpServer` is not used: it serves a client over an
 * `RpcServer.Protocol` from fibers of its own, with the handlers bound when a toolkit is registered, while
 * here a call runs on the session's control fiber (under the turn's span, interrupted with the turn, bounded
 * by its timeout) and a pooled process calls the handlers of the lease of the moment.
 */
import { Cause, Clock, Context, Duration, Effect, Exit, Metric, Option, Result, Schema, Stream } from "effect"
import { AiError, type McpSchema, Toolkit } from "effect/ai"
import type * as ClaudeError from "../../ClaudeError.ts"
import type * as ClaudeOptions from "../../ClaudeOptions.ts"
import * as McpTools from "../../McpTools.ts"
import * as Metrics from "../../Metrics.ts"
import type * as Protocol from "../../Protocol.ts"
import { seriesBy } from "../metricSeries.ts"
import { validateTools } from "../validation.ts"

const RequestId = Schema.Union([Schema.String, Schema.Number])

const JsonRpcMessage = Schema.Struct({
  id: Schema.optional(RequestId),
  method: Schema.String,
  params: Schema.optional(Schema.Unknown)
})
const decodeMessage = Schema.decodeUnknownOption(JsonRpcMessage)

const CallParams = Schema.Struct({
  name: Schema.String,
  arguments: Schema.optional(Schema.Unknown),
  _meta: Schema.optional(Schema.Struct({ "claudecode/toolUseId": Schema.optional(Schema.String) }))
})
const decodeCallParams = Schema.decodeUnknownOption(CallParams)
const decodeCancelParams = Schema.decodeUnknownOption(Schema.Struct({ requestId: RequestId }))
const decodeInitializeParams = Schema.decodeUnknownOption(
  Schema.Struct({ protocolVersion: Schema.optional(Schema.String) })
)

/** The protocol versions these servers speak; a client asking for another gets the newest. */
const protocolVersions = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]

type RequestId = typeof RequestId.Type

/** What a JSON-RPC notification is answered with: the CLI matches it to nothing, but waits for it. */
const notificationAnswer = { jsonrpc: "2.0", result: {}, id: 0 } as const

const success = (id: RequestId, result: unknown) => ({ jsonrpc: "2.0", id, result })
const failure = (id: RequestId | null, code: number, message: string) => ({
  jsonrpc: "2.0",
  id,
  error: { code, message }
})

/** JSON-RPC's "method not found" and "invalid request" codes (as `McpSchema` names them). */
const METHOD_NOT_FOUND: typeof McpSchema.METHOD_NOT_FOUND_ERROR_CODE = -32601
const INVALID_REQUEST: typeof McpSchema.INVALID_REQUEST_ERROR_CODE = -32600

/** The tool use a `tools/call` serves, when the CLI says (`_meta["claudecode/toolUseId"]`). */
export const toolUseIdOf = (body: Protocol.McpMessageRequest): string | undefined => {
  const message = decodeMessage(body.message)
  if (Option.isNone(message) || message.value.method !== "tools/call") return undefined
  return Option.match(decodeCallParams(message.value.params), {
    onNone: () => undefined,
    onSome: (params) => params._meta?.["claudecode/toolUseId"]
  })
}

/** How a call ended, as `claude_tool_calls_total` labels it. */
type Outcome = "success" | "failure" | "invalid_arguments" | "timeout" | "defect" | "unknown_tool"

const callsSeries = seriesBy(Metrics.toolCallsTotal, "server", "tool", "outcome")
const durationSeries = seriesBy(Metrics.toolCallDuration, "server", "tool", "outcome")

const text = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value) ?? "null")

const toolResult = (value: unknown, isError: boolean): typeof McpSchema.CallToolResult.Encoded => ({
  content: [{ type: "text", text: text(value) }],
  ...(isError ? { isError: true } : {})
})

/** A handler's failure, as the model reads it: encoded by the tool's failure Schema (or `AiError`'s). */
const encodeFailure = (tool: McpTools.ServedTool, error: unknown): Effect.Effect<unknown> =>
  (AiError.isAiError(error)
    ? Effect.succeed(error.message)
    : Schema.encodeUnknownEffect(tool.failureSchema)(error)).pipe(
      Effect.orElseSucceed(() => String(error))
    )

const invalidArguments = (tool: McpTools.ServedTool, problem: string) =>
  ["invalid_arguments", toolResult(`Invalid arguments for ${tool.name}: ${problem}`, true)] as const

const parameterProblem = (error: unknown): string | undefined =>
  AiError.isAiError(error) && error.reason._tag === "ToolParameterValidationError"
    ? error.reason.description
    : undefined

/** The servers of a session: the names it registers, and the answer to each of the CLI's messages. */
export interface McpServers {
  /** For `--mcp-config` and `initialize`'s `sdkMcpServers`. */
  readonly names: ReadonlyArray<string>
  /**
   * The JSON-RPC reply to one message (`requestId` is the control request's). A cancelled call is
   * interrupted through `cancel`, with the control request's id of the call.
   */
  readonly answer: (
    body: Protocol.McpMessageRequest,
    requestId: string,
    cancel: (requestId: string) => Effect.Effect<void>
  ) => Effect.Effect<unknown>
}

/**
 * The servers of a session, checked against its options (`InvalidOptions` before anything is spawned);
 * `undefined` for a session without toolkits. A call without a timeout of its tool's own gets `toolTimeout`.
 */
export const forSession = (
  servers: McpTools.Resolved,
  options: ClaudeOptions.ClaudeOptions,
  toolTimeout: Duration.Input | undefined
): Effect.Effect<McpServers | undefined, ClaudeError.ClaudeError> =>
  Object.keys(servers).length === 0 ? Effect.succeed(undefined) : validateTools(servers, options).pipe(
    Effect.as(
      make(servers, toolTimeout === undefined ? McpTools.defaultTimeout : Duration.fromInputUnsafe(toolTimeout))
    )
  )

/** The servers of `servers`; a call without a timeout of its tool's own gets `toolTimeout`. */
export const make = (servers: McpTools.Resolved, toolTimeout: Duration.Duration): McpServers => {
  // The control request serving each running call, by server and JSON-RPC id, for `notifications/cancelled`.
  const running = new Map<string, string>()
  const runningKey = (server: string, id: RequestId) => `${server}\u0000${typeof id}:${id}`

  const record = (server: string, tool: string, outcome: Outcome | "interrupted", seconds: number) =>
    Effect.andThen(
      Metric.update(callsSeries(server, tool, outcome), 1),
      Metric.update(durationSeries(server, tool, outcome), seconds)
    )

  const run = (served: McpTools.Served, tool: McpTools.ServedTool, args: unknown, toolUseId: string | undefined) => {
    const timeout = Context.get(tool.annotations, McpTools.Timeout)
    const deadline = timeout === undefined ? toolTimeout : Duration.fromInputUnsafe(timeout)
    return served.handle(tool.name, args ?? {}, toolUseId).pipe(
      Effect.flatMap((results) => Stream.runLast(Stream.filter(results, (result) => !result.preliminary))),
      Effect.timeoutOption(deadline),
      Effect.exit,
      Effect.flatMap((exit): Effect.Effect<readonly [Outcome, typeof McpSchema.CallToolResult.Encoded]> => {
        if (Exit.isSuccess(exit)) {
          if (Option.isNone(exit.value)) {
            return Effect.succeed([
              "timeout",
              toolResult(`The tool ${tool.name} did not finish within ${Duration.format(deadline)}.`, true)
            ])
          }
          const last = exit.value.value
          if (Option.isNone(last)) {
            return Effect.succeed(["defect", toolResult(`The tool ${tool.name} gave no result.`, true)])
          }
          const result = last.value
          if (!result.isFailure) return Effect.succeed(["success", toolResult(result.encodedResult, false)])
          const problem = parameterProblem(result.result)
          return Effect.succeed(
            problem === undefined
              ? ["failure", toolResult(result.encodedResult, true)]
              : invalidArguments(tool, problem)
          )
        }
        const cause = exit.cause
        // A call the CLI cancelled (or a closing session) ends here, answered by nobody.
        if (Cause.hasInterruptsOnly(cause)) return Effect.interrupt
        const failed = Cause.findFail(cause)
        if (Result.isSuccess(failed) && !Cause.hasDies(cause)) {
          const error = failed.success.error
          const origin = Context.get(Cause.reasonAnnotations(failed.success), Toolkit.FailureOrigin)
          const problem = parameterProblem(error)
          if (origin === "parameters" && problem !== undefined) {
            return Effect.succeed(invalidArguments(tool, problem))
          }
          return Effect.map(encodeFailure(tool, error), (encoded) => ["failure", toolResult(encoded, true)] as const)
        }
        return Effect.logWarning(`The handler of the in-process tool ${tool.name} died`, cause).pipe(
          Effect.as(["defect", toolResult(`The tool ${tool.name} failed unexpectedly.`, true)] as const)
        )
      })
    )
  }

  const call = Effect.fnUntraced(function*(
    server: string,
    served: McpTools.Served,
    id: RequestId,
    params: typeof CallParams.Type,
    requestId: string
  ) {
    const toolUseId = params._meta?.["claudecode/toolUseId"]
    const name = McpTools.toolName(server, params.name)
    const tool = Object.hasOwn(served.tools, params.name) ? served.tools[params.name] : undefined
    const startedAt = yield* Clock.currentTimeMillis
    const key = runningKey(server, id)
    const attributes: Record<string, unknown> = {
      "claude.mcp.server": server,
      "claude.mcp.tool": params.name,
      "claude.tool.name": name
    }
    if (toolUseId !== undefined) attributes["claude.tool.use_id"] = toolUseId
    const outcome = (tool === undefined
      ? Effect.succeed(["unknown_tool", toolResult(`The server ${server} has no tool ${params.name}.`, true)] as const)
      : run(served, tool, params.arguments, toolUseId)).pipe(
        Effect.onExit((exit) =>
          Effect.gen(function*() {
            running.delete(key)
            const ended = Exit.isSuccess(exit) ? exit.value[0] : "interrupted"
            const durationMs = (yield* Clock.currentTimeMillis) - startedAt
            yield* Effect.annotateCurrentSpan({ "claude.tool.outcome": ended, "claude.tool.duration_ms": durationMs })
            yield* record(server, params.name, ended, durationMs / 1000)
          })
        ),
        Effect.withSpan("Claude.tool_call", { attributes })
      )
    running.set(key, requestId)
    const [, result] = yield* outcome
    return success(id, result)
  })

  const answer = Effect.fnUntraced(function*(
    body: Protocol.McpMessageRequest,
    requestId: string,
    cancel: (requestId: string) => Effect.Effect<void>
  ) {
    const server = body.server_name
    const decoded = decodeMessage(body.message)
    if (Option.isNone(decoded)) return failure(null, INVALID_REQUEST, "not a JSON-RPC request")
    const message = decoded.value
    const served = Object.hasOwn(servers, server) ? servers[server] : undefined
    if (message.id === undefined) {
      if (message.method === "notifications/cancelled") {
        const cancelled = decodeCancelParams(message.params)
        const serving = Option.isSome(cancelled)
          ? running.get(runningKey(server, cancelled.value.requestId))
          : undefined
        if (serving !== undefined) yield* cancel(serving)
      }
      return notificationAnswer
    }
    const id = message.id
    if (served === undefined) return failure(id, METHOD_NOT_FOUND, `no in-process MCP server is named ${server}`)
    switch (message.method) {
      case "initialize": {
        const asked = Option.flatMapNullishOr(
          decodeInitializeParams(message.params),
          (params) => params.protocolVersion
        )
        const result: typeof McpSchema.InitializeResult.Encoded = {
          protocolVersion: Option.isSome(asked) && protocolVersions.includes(asked.value)
            ? asked.value
            : protocolVersions[0] ?? "2025-11-25",
          capabilities: { tools: {} },
          serverInfo: { name: server, version: "0.1.0" }
        }
        return success(id, result)
      }
      case "ping":
        return success(id, {})
      case "tools/list": {
        const result: typeof McpSchema.ListToolsResult.Encoded = {
          tools: Object.values(served.tools).flatMap((tool) =>
            Option.match(McpTools.inputSchema(tool), {
              onNone: () => [],
              onSome: (inputSchema) => [{
                name: tool.name,
                ...(tool.description === undefined ? {} : { description: tool.description }),
                inputSchema
              }]
            })
          )
        }
        return success(id, result)
      }
      case "tools/call": {
        const params = decodeCallParams(message.params)
        if (Option.isNone(params)) return failure(id, INVALID_REQUEST, "tools/call without a tool name")
        return yield* call(server, served, id, params.value, requestId)
      }
      default:
        return failure(id, METHOD_NOT_FOUND, `method ${message.method} is not served`)
    }
  })

  return { names: Object.keys(servers), answer }
}

/**
 * A session's typed controls, the Agent SDK's `Query` methods over the control channel: each checks its
 * arguments before anything is sent, waits for the CLI's answer within the session's control timeout, and
 * decodes that answer by its Schema (an answer of another shape is a `ProtocolError`). The CLI's refusal is
 * `ControlRefused`. Also the CLI's own work between turns, and a message added to the running turn.
 */
import { Effect, Predicate, Schema, type Stream } from "effect"
import * as ClaudeError from "../../ClaudeError.ts"
import type { ClaudeEvent } from "../../ClaudeEvent.ts"
import * as Protocol from "../../Protocol.ts"
import { promptIssues } from "../validation.ts"
import type { Background, Work } from "./background.ts"
import type { Turns } from "./turn.ts"

/**
 * How the model's thinking is shown for the rest of the session (`setMaxThinkingTokens`).
 *
 * @since 0.1.0
 * @category models
 */
export type ThinkingDisplay = "summarized" | "omitted" | "highlights"

/**
 * The Agent SDK's controls of a running session, typed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Controls {
  /**
   * Sets the thinking budget for the next requests (`null`: back to the session's default), and optionally
   * how thinking is shown (`null` clears an earlier choice). A pooled process it ran on is retired.
   */
  readonly setMaxThinkingTokens: (
    maxThinkingTokens: number | null,
    thinkingDisplay?: ThinkingDisplay | null
  ) => Effect.Effect<void, ClaudeError.ClaudeError>
  /** The session's MCP servers and their connections (connected, failed, needs-auth, pending, disabled). */
  readonly mcpServerStatus: Effect.Effect<ReadonlyArray<Protocol.McpServerStatus>, ClaudeError.ClaudeError>
  /** Reconnects an MCP server by name; `ControlRefused` for a server the session does not have. */
  readonly reconnectMcpServer: (serverName: string) => Effect.Effect<void, ClaudeError.ClaudeError>
  /** Enables or disables an MCP server by name. A pooled process it ran on is retired. */
  readonly toggleMcpServer: (serverName: string, enabled: boolean) => Effect.Effect<void, ClaudeError.ClaudeError>
  /**
   * How the context window is used, by category. `detail: "summary"` answers from the last response's
   * usage without the CLI's token-count requests; `"full"` (the default) counts each category.
   */
  readonly getContextUsage: (
    options?: { readonly detail?: "summary" | "full" | undefined }
  ) => Effect.Effect<Protocol.ContextUsage, ClaudeError.ClaudeError>
  /**
   * Puts the files the CLI's tools changed back as they were at a user message (its `uuid`), with
   * `enableFileCheckpointing` on; `dryRun` only tells what would change. `canRewind: false` with an
   * `error` when there is no checkpoint for that message.
   */
  readonly rewindFiles: (
    userMessageId: string,
    options?: { readonly dryRun?: boolean | undefined }
  ) => Effect.Effect<Protocol.RewindFilesResult, ClaudeError.ClaudeError>
  /** Stops a background task by its id (from `backgroundWork` or a task event); it reports `stopped`. */
  readonly stopTask: (taskId: string) => Effect.Effect<void, ClaudeError.ClaudeError>
  /**
   * Sends the running turn's foreground tasks (Bash commands, subagents; or the one `toolUseId` started)
   * to the background: their tool calls return at once and the turn goes on. `false` when `toolUseId`
   * matched no task.
   */
  readonly backgroundTasks: (toolUseId?: string) => Effect.Effect<boolean, ClaudeError.ClaudeError>
  /** The CLI's unsettled background tasks on its current process, and whether it runs a turn of its own. */
  readonly backgroundWork: Effect.Effect<Work>
  /**
   * The events that arrive while no turn of ours runs, from subscription on: background tasks settling,
   * and the turn the CLI then runs on its own to tell the model (its messages and `Result`). Such a turn is
   * never part of the next `send`, which waits for it to end.
   */
  readonly outOfTurnEvents: Stream.Stream<ClaudeEvent>
  /**
   * Adds a user message to the running turn (the Agent SDK's `streamInput` while a turn runs): the CLI
   * hands it to the model with the next tool result, or, if the model is already done, answers it right
   * after; either way the running turn's stream goes on until it is answered, and ends with the `Result`
   * that answers it. Fails with `InvalidPrompt` for a prompt `send` refuses, and `ProtocolError` when no
   * turn runs (use `send`).
   */
  readonly inject: (prompt: Protocol.UserContent) => Effect.Effect<void, ClaudeError.ClaudeError>
}

/** What the controls need of the session. */
export interface Wiring {
  readonly request: (
    subtype: string,
    payload?: Readonly<Record<string, unknown>>
  ) => Effect.Effect<unknown, ClaudeError.ClaudeError>
  readonly turns: Turns
  readonly cliWork: Background
  readonly fail: (reason: ClaudeError.Reason) => ClaudeError.ClaudeError
}

const invalid = (wiring: Wiring, issues: string) => Effect.fail(wiring.fail(new ClaudeError.InvalidOptions({ issues })))

const nonEmpty = (value: unknown): value is string => Predicate.isString(value) && value.trim() !== ""

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Sends a control and reads its answer as `schema`. */
const decoded = <S extends Schema.Top & { readonly DecodingServices: never }>(
  wiring: Wiring,
  subtype: string,
  payload: Readonly<Record<string, unknown>>,
  schema: S
) =>
  Effect.flatMap(wiring.request(subtype, payload), (answer) =>
    Schema.decodeUnknownEffect(schema)(answer).pipe(
      Effect.mapError((issue) =>
        wiring.fail(
          new ClaudeError.ProtocolError({
            detail: `the CLI's answer to ${subtype} is not as expected: ${issue.message}`
          })
        )
      )
    ))

const setMaxThinkingTokens = Effect.fn("Session.setMaxThinkingTokens")(
  function*(wiring: Wiring, maxThinkingTokens: number | null, thinkingDisplay?: ThinkingDisplay | null) {
    if (maxThinkingTokens !== null && !(Number.isSafeInteger(maxThinkingTokens) && maxThinkingTokens >= 0)) {
      return yield* invalid(wiring, "maxThinkingTokens: expected a non-negative integer or null")
    }
    if (
      thinkingDisplay !== undefined && thinkingDisplay !== null &&
      !["summarized", "omitted", "highlights"].includes(thinkingDisplay)
    ) {
      return yield* invalid(wiring, "thinkingDisplay: expected \"summarized\", \"omitted\", \"highlights\" or null")
    }
    yield* wiring.request("set_max_thinking_tokens", {
      max_thinking_tokens: maxThinkingTokens,
      ...(thinkingDisplay === undefined ? {} : { thinking_display: thinkingDisplay })
    })
  }
)

const mcpServerStatus = Effect.fn("Session.mcpServerStatus")(function*(wiring: Wiring) {
  const answer = yield* decoded(wiring, "mcp_status", {}, Protocol.McpStatusResponse)
  return answer.mcpServers
})

const serverControl = (name: string, subtype: string) =>
  Effect.fn(name)(function*(wiring: Wiring, serverName: string, payload: Readonly<Record<string, unknown>>) {
    if (!nonEmpty(serverName)) return yield* invalid(wiring, "serverName: expected the name of an MCP server")
    if ("enabled" in payload && !Predicate.isBoolean(payload["enabled"])) {
      return yield* invalid(wiring, "enabled: expected a boolean")
    }
    yield* wiring.request(subtype, { serverName, ...payload })
  })

const reconnectMcpServer = serverControl("Session.reconnectMcpServer", "mcp_reconnect")
const toggleMcpServer = serverControl("Session.toggleMcpServer", "mcp_toggle")

const getContextUsage = Effect.fn("Session.getContextUsage")(
  function*(wiring: Wiring, options?: { readonly detail?: "summary" | "full" | undefined }) {
    const detail = options?.detail
    if (detail !== undefined && detail !== "summary" && detail !== "full") {
      return yield* invalid(wiring, "detail: expected \"summary\" or \"full\"")
    }
    return yield* decoded(wiring, "get_context_usage", detail === undefined ? {} : { detail }, Protocol.ContextUsage)
  }
)

const rewindFiles = Effect.fn("Session.rewindFiles")(
  function*(wiring: Wiring, userMessageId: string, options?: { readonly dryRun?: boolean | undefined }) {
    if (!Predicate.isString(userMessageId) || !UUID.test(userMessageId)) {
      return yield* invalid(wiring, "userMessageId: expected the uuid of a user message")
    }
    return yield* decoded(
      wiring,
      "rewind_files",
      { user_message_id: userMessageId, ...(options?.dryRun === true ? { dry_run: true } : {}) },
      Protocol.RewindFilesResult
    )
  }
)

const stopTask = Effect.fn("Session.stopTask")(function*(wiring: Wiring, taskId: string) {
  if (!nonEmpty(taskId)) return yield* invalid(wiring, "taskId: expected the id of a task")
  yield* wiring.request("stop_task", { task_id: taskId })
})

const BackgroundTasksResponse = Schema.Struct({ backgrounded: Schema.optionalKey(Schema.Boolean) })

const backgroundTasks = Effect.fn("Session.backgroundTasks")(function*(wiring: Wiring, toolUseId?: string) {
  if (toolUseId !== undefined && !nonEmpty(toolUseId)) {
    return yield* invalid(wiring, "toolUseId: expected the id of a tool_use block")
  }
  const answer = yield* decoded(
    wiring,
    "background_tasks",
    toolUseId === undefined ? {} : { tool_use_id: toolUseId },
    BackgroundTasksResponse
  )
  // The CLI leaves the field out when it backgrounded everything it had (as the Agent SDK reads it).
  return answer.backgrounded ?? true
})

const inject = Effect.fn("Session.inject")(function*(wiring: Wiring, prompt: Protocol.UserContent) {
  const issues = promptIssues(prompt)
  if (issues !== undefined) return yield* Effect.fail(wiring.fail(new ClaudeError.InvalidPrompt({ issues })))
  yield* wiring.turns.inject(prompt)
})

/** The controls of the `Session` interface. */
export const make = (wiring: Wiring): Controls => ({
  setMaxThinkingTokens: (maxThinkingTokens, thinkingDisplay) =>
    setMaxThinkingTokens(wiring, maxThinkingTokens, thinkingDisplay),
  mcpServerStatus: Effect.suspend(() => mcpServerStatus(wiring)),
  reconnectMcpServer: (serverName) => reconnectMcpServer(wiring, serverName, {}),
  toggleMcpServer: (serverName, enabled) => toggleMcpServer(wiring, serverName, { enabled }),
  getContextUsage: (options) => getContextUsage(wiring, options),
  rewindFiles: (userMessageId, options) => rewindFiles(wiring, userMessageId, options),
  stopTask: (taskId) => stopTask(wiring, taskId),
  backgroundTasks: (toolUseId) => backgroundTasks(wiring, toolUseId),
  backgroundWork: Effect.sync(() => wiring.cliWork.work()),
  outOfTurnEvents: wiring.cliWork.events,
  inject: (prompt) => inject(wiring, prompt)
})

import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { type ClaudeEvent, Protocol, StreamHandler } from "../src/index.ts"

const fixturesDir = path.join(import.meta.dirname, "fixtures", "claude-cli-2.1.329")

const framesOf = (name: string): Array<Record<string, unknown>> =>
  fs.readFileSync(path.join(fixturesDir, name, "stdout.jsonl"), "utf8").split("\n")
    .filter((line) => line.trim() !== "").map((line): Record<string, unknown> => JSON.parse(line))

/** The events of a recorded transcript, in order. */
const eventsOf = (name: string): Array<ClaudeEvent.ClaudeEvent> =>
  framesOf(name).flatMap((frame, index) => StreamHandler.fromLine(JSON.stringify(frame), index + 1))

/** The events of a transcript with one of the tags, as that member of the union. */
const tagged = <Tag extends ClaudeEvent.ClaudeEvent["_tag"]>(name: string, tag: Tag) =>
  eventsOf(name).filter((event): event is Extract<ClaudeEvent.ClaudeEvent, { readonly _tag: Tag }> =>
    event._tag === tag
  )

/** The one event a frame makes. */
const only = (frame: unknown) => {
  const events = StreamHandler.fromLine(JSON.stringify(frame), 1)
  assert.strictEqual(events.length, 1, JSON.stringify(events))
  const [event] = events
  if (event === undefined) throw new Error("no event")
  return event
}

const isMismatch = (frame: unknown) => {
  const event = only(frame)
  return event._tag === "Unknown" && event.mismatch
}

describe("StreamHandler: the real CLI's task frames", () => {
  it("a background Bash command: BackgroundTasksChanged, TaskStarted, then after the turn TaskUpdated, TaskNotification", () => {
    const events = eventsOf("task-background")
    const sequence = events.map((event) => event._tag).filter((tag) =>
      tag.startsWith("Task") || tag === "BackgroundTasksChanged" || tag === "Result" || tag === "ToolUse"
    )
    // The CLI tells the model of the finished task in a turn of its own: a second Result nobody asked for.
    assert.deepStrictEqual(sequence, [
      "ToolUse",
      "BackgroundTasksChanged",
      "TaskStarted",
      "Result",
      "TaskUpdated",
      "TaskNotification",
      "BackgroundTasksChanged",
      "Result"
    ])
    const toolUse = events.find((event) => event._tag === "ToolUse")
    const [started] = tagged("task-background", "TaskStarted")
    const [running, none] = tagged("task-background", "BackgroundTasksChanged")
    const [updated] = tagged("task-background", "TaskUpdated")
    const [ended] = tagged("task-background", "TaskNotification")
    if (toolUse?._tag !== "ToolUse" || !started || !running || !none || !updated || !ended) {
      return assert.fail("events missing")
    }
    assert.deepStrictEqual(
      [started.toolUseId, started.description, started.taskType, started.isBackgrounded],
      [toolUse.id, "bg", "local_bash", true]
    )
    assert.deepStrictEqual(running.tasks, [{
      taskId: started.taskId,
      taskType: "local_bash",
      description: "bg",
      subagentType: undefined
    }])
    assert.deepStrictEqual(none.tasks, [])
    assert.deepStrictEqual([updated.taskId, updated.status, updated.error], [started.taskId, "completed", undefined])
    assert.isNumber(updated.endTime)
    assert.deepStrictEqual(
      [ended.taskId, ended.toolUseId, ended.status, ended.summary],
      [started.taskId, toolUse.id, "completed", "Background command \"bg\" completed (exit code 0)"]
    )
    assert.match(ended.outputFile, new RegExp(`tasks/${started.taskId}\\.output$`))
  })

  it("a foreground Bash command is a task too: not backgrounded, ended before its tool result, no output file", () => {
    const tags = eventsOf("task-foreground").map((event) => event._tag)
    assert.isBelow(tags.indexOf("TaskStarted"), tags.indexOf("TaskNotification"))
    assert.isBelow(tags.indexOf("TaskNotification"), tags.indexOf("ToolResult"))
    const [started] = tagged("task-foreground", "TaskStarted")
    const [ended] = tagged("task-foreground", "TaskNotification")
    assert.isTrue(started?.isBackgrounded === false && started.description === "slow")
    assert.deepStrictEqual([ended?.status, ended?.outputFile, ended?.usage], ["completed", "", undefined])
  })

  it("a task frame whose shape does not match is kept whole as Unknown", () => {
    const [started] = framesOf("task-background").filter((f) => f.subtype === "task_started")
    const [updated] = framesOf("task-background").filter((f) => f.subtype === "task_updated")
    const [ended] = framesOf("task-background").filter((f) => f.subtype === "task_notification")
    const [changed] = framesOf("task-background").filter((f) => f.subtype === "background_tasks_changed")
    assert.isTrue(isMismatch({ ...started, description: 1 }))
    assert.isTrue(isMismatch({ ...started, is_backgrounded: "yes" }))
    assert.isTrue(isMismatch({ ...updated, patch: null }))
    assert.isTrue(isMismatch({ ...ended, summary: undefined }))
    assert.isTrue(isMismatch({ ...changed, tasks: [{ task_id: "t" }] }))
  })
})

describe("StreamHandler: the real CLI's session frames", () => {
  it("/compact: Status compacting, Status null with its compact result, then CompactBoundary with the token counts", () => {
    const statuses = tagged("compact", "Status").map((event) => [event.status, event.compactResult])
    assert.deepStrictEqual(statuses, [["compacting", undefined], [null, "success"]])
    const [boundary] = tagged("compact", "CompactBoundary")
    assert.deepStrictEqual(
      [boundary?.trigger, boundary?.preTokens, boundary?.postTokens, boundary?.durationMs],
      ["manual", 102, 2532, 58]
    )
    // Keys the SDK does not name are kept on the frame.
    assert.strictEqual(Reflect.get(boundary?.frame.compact_metadata ?? {}, "cumulative_dropped_tokens"), 0)
    const [frame] = framesOf("compact").filter((f) => f.subtype === "compact_boundary")
    assert.isTrue(isMismatch({ ...frame, compact_metadata: { trigger: "manual" } }))
  })

  it("command_lifecycle is a CommandLifecycle event: each uuid queued, started, completed", () => {
    const events = tagged("basic", "CommandLifecycle")
    assert.isAbove(events.length, 0)
    const byUuid = new Map<string, Array<string>>()
    for (const event of events) byUuid.set(event.commandUuid, [...(byUuid.get(event.commandUuid) ?? []), event.state])
    for (const states of byUuid.values()) assert.deepStrictEqual(states, ["queued", "started", "completed"])
  })

  it("a settings hook that prints as it runs: HookStarted, HookProgress with the output so far, HookResponse", () => {
    const events = eventsOf("hook-progress").filter((event) => event._tag.startsWith("Hook"))
    assert.deepStrictEqual(events.map((event) => event._tag), [
      "HookStarted",
      "HookProgress",
      "HookProgress",
      "HookResponse"
    ])
    const progress = tagged("hook-progress", "HookProgress")
    assert.deepStrictEqual(progress.map((event) => event.output), ["one\n", "one\ntwo\n"])
    const [started] = tagged("hook-progress", "HookStarted")
    for (const event of progress) {
      assert.deepStrictEqual([event.hookId, event.hookEvent], [started?.hookId, "UserPromptSubmit"])
    }
    const [frame] = framesOf("hook-progress").filter((f) => f.subtype === "hook_progress")
    assert.isTrue(isMismatch({ ...frame, hook_id: null }))
  })

  it("session_state_changed is a SessionStateChanged event: running, then idle at the end of the turn", () => {
    const states = tagged("noinit", "SessionStateChanged").map((event) => event.state)
    assert.strictEqual(states[0], "running")
    assert.strictEqual(states.at(-1), "idle")
    const [frame] = framesOf("noinit").filter((f) => f.subtype === "session_state_changed")
    assert.isTrue(isMismatch({ ...frame, state: null }))
  })
})

// The kinds the CLI 2.1.329 does not print offline against the fake API: frames in the form the Agent
// SDK's sdk.d.ts documents (SDKToolProgressMessage, SDKPromptSuggestionMessage, ...).
const base = { uuid: "00000000-0000-4000-8000-000000000001", session_id: "s" }
const documented: ReadonlyArray<{
  readonly frame: Record<string, unknown>
  readonly event: Record<string, unknown>
  readonly broken: Record<string, unknown>
}> = [
  {
    frame: {
      type: "system",
      subtype: "task_progress",
      task_id: "t",
      tool_use_id: "toolu_1",
      description: "d",
      usage: { total_tokens: 10, tool_uses: 2, duration_ms: 300 },
      last_tool_name: "Read",
      summary: "reading"
    },
    event: {
      _tag: "TaskProgress",
      taskId: "t",
      usage: { totalTokens: 10, toolUses: 2, durationMs: 300 },
      lastToolName: "Read",
      summary: "reading"
    },
    broken: { usage: { total_tokens: 10 } }
  },
  {
    frame: {
      type: "tool_progress",
      tool_use_id: "toolu_1",
      tool_name: "Bash",
      parent_tool_use_id: null,
      elapsed_time_seconds: 4.5,
      task_id: "t"
    },
    event: { _tag: "ToolProgress", toolUseId: "toolu_1", toolName: "Bash", parentToolUseId: null, elapsedSeconds: 4.5 },
    broken: { elapsed_time_seconds: "4.5" }
  },
  {
    frame: { type: "tool_use_summary", summary: "Read two files", preceding_tool_use_ids: ["a", "b"] },
    event: { _tag: "ToolUseSummary", summary: "Read two files", precedingToolUseIds: ["a", "b"] },
    broken: { preceding_tool_use_ids: "a" }
  },
  {
    frame: { type: "auth_status", isAuthenticating: true, output: ["Opening browser"] },
    event: { _tag: "AuthStatus", isAuthenticating: true, output: ["Opening browser"], error: undefined },
    broken: { isAuthenticating: "yes" }
  },
  {
    frame: { type: "prompt_suggestion", suggestion: "Run the tests" },
    event: { _tag: "PromptSuggestion", suggestion: "Run the tests" },
    broken: { suggestion: null }
  },
  {
    frame: {
      type: "system",
      subtype: "files_persisted",
      files: [{ filename: "a.txt", file_id: "file_1" }],
      failed: [{ filename: "b.txt", error: "too big" }],
      processed_at: "2026-01-01T00:00:00Z"
    },
    event: {
      _tag: "FilesPersisted",
      files: [{ filename: "a.txt", fileId: "file_1" }],
      failed: [{ filename: "b.txt", error: "too big" }]
    },
    broken: { files: [{ filename: "a.txt" }] }
  },
  {
    frame: { type: "system", subtype: "local_command_output", content: "Total cost: $0.00" },
    event: { _tag: "LocalCommandOutput", content: "Total cost: $0.00" },
    broken: { content: 1 }
  },
  {
    frame: {
      type: "system",
      subtype: "notification",
      key: "error-compacting-conversation",
      text: "Error compacting conversation",
      priority: "immediate",
      color: "error"
    },
    event: { _tag: "Notification", key: "error-compacting-conversation", priority: "immediate" },
    broken: { text: undefined }
  },
  {
    frame: {
      type: "system",
      subtype: "informational",
      content: "Stopped",
      level: "warning",
      prevent_continuation: true
    },
    event: { _tag: "Informational", content: "Stopped", level: "warning", preventContinuation: true },
    broken: { prevent_continuation: "true" }
  },
  {
    frame: { type: "system", subtype: "elicitation_complete", mcp_server_name: "calc", elicitation_id: "e1" },
    event: { _tag: "ElicitationComplete", mcpServerName: "calc", elicitationId: "e1" },
    broken: { elicitation_id: 1 }
  },
  {
    frame: {
      type: "system",
      subtype: "memory_recall",
      mode: "select",
      memories: [{ path: "/home/user/.claude/memory/a.md", scope: "personal" }]
    },
    event: {
      _tag: "MemoryRecall",
      mode: "select",
      memories: [{ path: "/home/user/.claude/memory/a.md", scope: "personal" }]
    },
    broken: { memories: [{ scope: "personal" }] }
  },
  {
    frame: { type: "system", subtype: "thinking_tokens", estimated_tokens: 120, estimated_tokens_delta: 20 },
    event: { _tag: "ThinkingTokens", estimatedTokens: 120, delta: 20 },
    broken: { estimated_tokens_delta: undefined }
  },
  {
    frame: { type: "system", subtype: "control_request_progress", request_id: "r1", status: "api_retry", attempt: 2 },
    event: { _tag: "ControlRequestProgress", requestId: "r1", status: "api_retry", attempt: 2 },
    broken: { request_id: 1 }
  },
  {
    frame: {
      type: "system",
      subtype: "model_refusal_fallback",
      trigger: "refusal",
      direction: "retry",
      original_model: "claude-a",
      fallback_model: "claude-b",
      request_id: null,
      content: "Retrying with claude-b"
    },
    event: { _tag: "ModelRefusalFallback", originalModel: "claude-a", fallbackModel: "claude-b" },
    broken: { fallback_model: undefined }
  },
  {
    frame: {
      type: "system",
      subtype: "model_refusal_no_fallback",
      original_model: "claude-a",
      request_id: "req_1",
      content: "Refused"
    },
    event: { _tag: "ModelRefusalNoFallback", originalModel: "claude-a", content: "Refused" },
    broken: { request_id: 1 }
  },
  {
    frame: { type: "system", subtype: "plugin_install", status: "failed", name: "p", error: "offline" },
    event: { _tag: "PluginInstall", status: "failed", name: "p", error: "offline" },
    broken: { status: undefined }
  },
  {
    frame: { type: "system", subtype: "worker_shutting_down", reason: "host_exit" },
    event: { _tag: "WorkerShuttingDown", reason: "host_exit" },
    broken: { reason: 0 }
  },
  {
    frame: {
      type: "system",
      subtype: "commands_changed",
      commands: [{ name: "review", description: "Review", argumentHint: "" }]
    },
    event: { _tag: "CommandsChanged" },
    broken: { commands: [{ description: "no name" }] }
  },
  {
    frame: {
      type: "system",
      subtype: "mirror_error",
      error: "store down",
      key: { projectKey: "p", sessionId: "s" }
    },
    event: { _tag: "MirrorError", error: "store down" },
    broken: { error: undefined }
  },
  {
    frame: {
      type: "system",
      subtype: "session_writes_lost",
      error_code: "ENOSPC",
      lost: ["transcript"],
      transcript_session_ids: ["s"]
    },
    event: { _tag: "SessionWritesLost", errorCode: "ENOSPC", lost: ["transcript"] },
    broken: { lost: "transcript" }
  }
]

describe("StreamHandler: frames in the form the Agent SDK documents (not printed offline)", () => {
  for (const { broken, event: expected, frame: fields } of documented) {
    const kind = String(fields.subtype ?? fields.type)
    it(`${kind}: a ${String(expected._tag)} event with the frame itself; a wrong shape is Unknown`, () => {
      // A key the SDK does not name (a newer CLI) is no mismatch, and stays on the frame.
      const frame = { ...fields, ...base, from_a_newer_cli: [1] }
      const decoded = Protocol.decode(frame)
      assert.strictEqual(decoded.kind, kind)
      const events = StreamHandler.fromDecoded(decoded)
      assert.strictEqual(events.length, 1)
      const [event] = events
      for (const [key, value] of Object.entries(expected)) {
        assert.deepStrictEqual(Reflect.get(event ?? {}, key), value, `${kind}.${key}`)
      }
      // The frame handed on is the parsed object itself.
      assert.isTrue(event !== undefined && "frame" in event && Object.is(event.frame, frame))
      assert.isTrue(isMismatch({ ...frame, ...broken }), `${kind} with ${JSON.stringify(broken)}`)
    })
  }
})

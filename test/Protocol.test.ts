import { assert, describe, it } from "@effect/vitest"
import * as Protocol from "../src/Protocol.ts"

const kindOf = (value: unknown) => {
  const decoded = Protocol.decode(value)
  return decoded.kind === "unknown" ? `unknown${decoded.mismatch ? " (mismatch)" : ""}` : decoded.kind
}

describe("Protocol.decode", () => {
  // Minimal valid frames, and the same frames with one thing wrong: the guards
  // are compiled, and these pin that they check what the schemas say.
  const cases: ReadonlyArray<{
    readonly kind: string
    readonly valid: ReadonlyArray<Record<string, unknown>>
    readonly invalid: ReadonlyArray<Record<string, unknown>>
  }> = [
    {
      kind: "system_init",
      valid: [
        { type: "system", subtype: "init", session_id: "s" },
        { type: "system", subtype: "init", session_id: "s", tools: ["Bash"], model: "m", cwd: "/", extra: [1] }
      ],
      invalid: [
        { type: "system", subtype: "init" },
        { type: "system", subtype: "init", session_id: "s", tools: ["Bash", 1] },
        { type: "system", subtype: "init", session_id: "s", model: null },
        { type: "system", subtype: "init", session_id: "s", uuid: 1 }
      ]
    },
    {
      kind: "api_retry",
      valid: [
        { type: "system", subtype: "api_retry", attempt: 1 },
        { type: "system", subtype: "api_retry", attempt: 1, error_status: null, error: null, max_retries: 10 }
      ],
      invalid: [
        { type: "system", subtype: "api_retry" },
        { type: "system", subtype: "api_retry", attempt: "1" },
        { type: "system", subtype: "api_retry", attempt: 1, retry_delay_ms: null }
      ]
    },
    {
      kind: "permission_denied",
      valid: [{ type: "system", subtype: "permission_denied" }],
      invalid: [{ type: "system", subtype: "permission_denied", session_id: 1 }]
    },
    {
      kind: "status",
      valid: [
        { type: "system", subtype: "status" },
        { type: "system", subtype: "status", status: "requesting" },
        { type: "system", subtype: "status", status: null, permissionMode: "acceptEdits" }
      ],
      invalid: [{ type: "system", subtype: "status", uuid: null }, { type: "system", subtype: "status", status: 3 }]
    },
    {
      kind: "hook_started",
      valid: [{ type: "system", subtype: "hook_started", hook_id: "h", hook_name: "Stop", hook_event: "Stop" }],
      invalid: [{ type: "system", subtype: "hook_started", hook_id: "h" }]
    },
    {
      kind: "hook_response",
      valid: [
        { type: "system", subtype: "hook_response", hook_id: "h", hook_name: "Stop", hook_event: "Stop" },
        {
          type: "system",
          subtype: "hook_response",
          hook_id: "h",
          hook_name: "Stop",
          hook_event: "Stop",
          outcome: "success",
          exit_code: 0,
          output: "ok\n"
        }
      ],
      invalid: [{
        type: "system",
        subtype: "hook_response",
        hook_id: "h",
        hook_name: "Stop",
        hook_event: "Stop",
        exit_code: "0"
      }]
    },
    {
      kind: "system",
      valid: [{ type: "system", subtype: "brand_new", session_id: "s" }, {
        type: "system",
        subtype: "post_turn_summary"
      }],
      invalid: [{ type: "system" }, { type: "system", subtype: 3 }, {
        type: "system",
        subtype: "brand_new",
        uuid: null
      }]
    },
    {
      kind: "stream_event",
      valid: [
        { type: "stream_event", event: { type: "message_stop" } },
        { type: "stream_event", event: { type: "content_block_delta", delta: 1 }, parent_tool_use_id: null }
      ],
      invalid: [
        { type: "stream_event" },
        { type: "stream_event", event: [] },
        { type: "stream_event", event: { type: 1 } },
        { type: "stream_event", event: { type: "x" }, parent_tool_use_id: 1 }
      ]
    },
    {
      kind: "assistant",
      valid: [
        { type: "assistant", message: { content: [] } },
        {
          type: "assistant",
          message: { id: "m", content: [{ type: "text", text: "t" }, { type: "image" }] },
          error: null
        }
      ],
      invalid: [
        { type: "assistant" },
        { type: "assistant", message: { content: "text" } },
        { type: "assistant", message: { content: [{ text: "no type" }] } },
        { type: "assistant", message: { content: [null] } },
        { type: "assistant", message: { content: [], id: null } }
      ]
    },
    {
      kind: "user",
      valid: [
        { type: "user", message: { content: "hi" } },
        { type: "user", message: { role: "user", content: [{ type: "tool_result", tool_use_id: "t" }] } }
      ],
      invalid: [
        { type: "user", message: {} },
        { type: "user", message: { content: 1 } },
        { type: "user", message: { content: [{ type: 1 }] } },
        { type: "user", message: { content: "hi", role: 1 } }
      ]
    },
    {
      kind: "result",
      valid: [
        { type: "result", subtype: "success", is_error: false, session_id: "s" },
        {
          type: "result",
          subtype: "success",
          is_error: true,
          session_id: "s",
          usage: {},
          api_error_status: null,
          permission_denials: [{ any: "thing" }],
          errors: []
        }
      ],
      invalid: [
        { type: "result", subtype: 3 },
        { type: "result", subtype: "success", is_error: false },
        { type: "result", subtype: "success", is_error: "no", session_id: "s" },
        { type: "result", subtype: "success", is_error: false, session_id: "s", usage: [] },
        { type: "result", subtype: "success", is_error: false, session_id: "s", errors: [1] },
        { type: "result", subtype: "success", is_error: false, session_id: "s", total_cost_usd: null },
        { type: "result", subtype: "success", is_error: false, session_id: "s", stop_reason: 1 }
      ]
    },
    {
      kind: "conversation_reset",
      valid: [{ type: "conversation_reset" }, { type: "conversation_reset", new_conversation_id: "c" }],
      invalid: [{ type: "conversation_reset", new_conversation_id: null }]
    },
    {
      kind: "command_lifecycle",
      valid: [{ type: "command_lifecycle", command_uuid: "u", state: "queued" }],
      invalid: [{ type: "command_lifecycle", command_uuid: "u" }]
    },
    {
      kind: "rate_limit_event",
      valid: [{ type: "rate_limit_event" }, { type: "rate_limit_event", rate_limit_info: { status: "allowed" } }],
      invalid: [
        { type: "rate_limit_event", rate_limit_info: null },
        { type: "rate_limit_event", rate_limit_info: { resetsAt: "soon" } }
      ]
    },
    {
      kind: "control_request",
      valid: [{ type: "control_request", request_id: "r", request: { subtype: "can_use_tool" } }],
      invalid: [
        { type: "control_request", request_id: "r" },
        { type: "control_request", request_id: "r", request: { subtype: null } }
      ]
    },
    {
      kind: "control_response",
      valid: [
        { type: "control_response", response: { subtype: "success", request_id: "r" } },
        { type: "control_response", response: { subtype: "error", request_id: "r", error: "e" } }
      ],
      invalid: [
        { type: "control_response", response: { subtype: "error", request_id: "r" } },
        { type: "control_response", response: { subtype: "other", request_id: "r" } },
        { type: "control_response", response: [] },
        { type: "control_response" }
      ]
    },
    {
      kind: "control_cancel_request",
      valid: [{ type: "control_cancel_request", request_id: "r" }],
      invalid: [{ type: "control_cancel_request" }]
    },
    {
      kind: "keep_alive",
      valid: [{ type: "keep_alive" }, { type: "keep_alive", anything: null }],
      invalid: []
    }
  ]

  for (const { invalid, kind, valid } of cases) {
    it(`${kind}: the schema's shapes pass, the parsed object itself is the frame; others are Unknown mismatches`, () => {
      for (const frame of valid) {
        const decoded = Protocol.decode(frame)
        assert.strictEqual(decoded.kind, kind, JSON.stringify(frame))
        assert.isTrue("frame" in decoded && decoded.frame === frame)
      }
      for (const frame of invalid) assert.strictEqual(kindOf(frame), "unknown (mismatch)", JSON.stringify(frame))
    })
  }

  it("an unknown type is Unknown without a mismatch; a value without a string type is not a frame", () => {
    assert.strictEqual(kindOf({ type: "future_frame", x: 1 }), "unknown")
    for (const value of [null, 1, "x", [], [{ type: "keep_alive" }], {}, { type: 1 }]) {
      assert.strictEqual(kindOf(value), "not_a_frame", JSON.stringify(value))
    }
  })

  it("content block guards", () => {
    assert.isTrue(Protocol.isTextBlock({ type: "text", text: "t", citations: [] }))
    assert.isFalse(Protocol.isTextBlock({ type: "text" }))
    assert.isTrue(Protocol.isThinkingBlock({ type: "thinking", thinking: "t" }))
    assert.isTrue(Protocol.isToolUseBlock({ type: "tool_use", id: "i", name: "n", input: null }))
    assert.isFalse(
      Protocol.isToolUseBlock({ type: "tool_use", id: "i", name: "n" }),
      "input is required, even if unknown"
    )
    assert.isTrue(Protocol.isToolResultBlock({ type: "tool_result", tool_use_id: "t", is_error: null }))
    assert.isFalse(Protocol.isToolResultBlock({ type: "tool_result", tool_use_id: "t", is_error: "yes" }))
  })

  it("the namespace is the schemas, guards and builders of both directions, and no helper of the modules behind it", () => {
    assert.deepStrictEqual(Object.keys(Protocol).sort(), [
      "AnyBlock",
      "AssistantFrame",
      "AuthStatusFrame",
      "CanUseToolRequest",
      "CommandLifecycle",
      "ContextUsage",
      "ControlCancelRequest",
      "ControlRequest",
      "ControlResponse",
      "ConversationReset",
      "ElicitationControlRequest",
      "HookCallbackRequest",
      "ImageBlock",
      "InitializeResponse",
      "KeepAlive",
      "McpMessageRequest",
      "McpServerStatus",
      "McpStatusResponse",
      "PermissionUpdate",
      "PromptSuggestionFrame",
      "RateLimitEvent",
      "ResultFrame",
      "RewindFilesResult",
      "StreamEventFrame",
      "SystemApiRetry",
      "SystemBackgroundTasksChanged",
      "SystemCommandsChanged",
      "SystemCompactBoundary",
      "SystemControlRequestProgress",
      "SystemElicitationComplete",
      "SystemFilesPersisted",
      "SystemHookProgress",
      "SystemHookResponse",
      "SystemHookStarted",
      "SystemInformational",
      "SystemInit",
      "SystemLocalCommandOutput",
      "SystemMemoryRecall",
      "SystemMirrorError",
      "SystemModelRefusalFallback",
      "SystemModelRefusalNoFallback",
      "SystemNotification",
      "SystemOther",
      "SystemPermissionDenied",
      "SystemPluginInstall",
      "SystemSessionStateChanged",
      "SystemSessionWritesLost",
      "SystemStatus",
      "SystemTaskNotification",
      "SystemTaskProgress",
      "SystemTaskStarted",
      "SystemTaskUpdated",
      "SystemThinkingTokens",
      "SystemWorkerShuttingDown",
      "TextBlock",
      "ThinkingBlock",
      "ToolProgressFrame",
      "ToolResultBlock",
      "ToolUseBlock",
      "ToolUseSummaryFrame",
      "UserContent",
      "UserDialogControlRequest",
      "UserFrame",
      "UserMessage",
      "controlError",
      "controlRequest",
      "controlSuccess",
      "decode",
      "encodeLine",
      "isTextBlock",
      "isThinkingBlock",
      "isToolResultBlock",
      "isToolUseBlock",
      "userMessage"
    ])
  })
})

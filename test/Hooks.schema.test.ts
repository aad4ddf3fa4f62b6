/**
 * The hook Schemas, event by event: an input in the CLI's form (the fields of the Agent SDK's `*HookInput`)
 * is accepted with fields it does not know, one without a required field is not; every event takes the
 * common answer and its own `hookSpecificOutput`, not another event's. The events the real CLI does not fire
 * offline (see `test/hooks.integration.test.ts` for those it does) are covered here only.
 */
import { HOOK_EVENTS } from "@anthropic-ai/claude-agent-sdk"
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as Hooks from "../src/Hooks.ts"

const base = { session_id: "s", transcript_path: "/t.jsonl", cwd: "/w", permission_mode: "default" }
const tool = { tool_name: "Bash", tool_input: { command: "ls" }, tool_use_id: "toolu_1" }
const switchFields = {
  from_model: "a",
  to_model: "b",
  requested_model: null,
  source: "sdk",
  context_tokens: 1,
  prompt_cache_warm: true,
  cache_ttl: "5m",
  estimated_cache_write_usd: 0,
  pricing: "catalog"
}
const task = { task_id: "1", task_subject: "s" }

/** An input of each event, with the fields its Agent SDK type requires. */
const samples: { readonly [E in Hooks.HookEvent]: Record<string, unknown> } = {
  PreToolUse: tool,
  PostToolUse: { ...tool, tool_response: "ok" },
  PostToolUseFailure: { ...tool, error: "Exit code 1" },
  PostToolBatch: { tool_calls: [tool] },
  Notification: { message: "m", notification_type: "idle_prompt" },
  UserPromptSubmit: { prompt: "p" },
  UserPromptExpansion: { expansion_type: "slash_command", command_name: "c", command_args: "", prompt: "/c" },
  SessionStart: { source: "startup" },
  SessionEnd: { reason: "other" },
  Stop: { stop_hook_active: false },
  StopFailure: { error: "server_error" },
  SubagentStart: { agent_id: "a", agent_type: "general-purpose" },
  SubagentStop: { stop_hook_active: false, agent_id: "a", agent_transcript_path: "/a", agent_type: "g" },
  PreCompact: { trigger: "auto", custom_instructions: null },
  PostCompact: { trigger: "auto", compact_summary: "s" },
  PreModelSwitch: switchFields,
  PostModelSwitch: switchFields,
  PermissionRequest: { tool_name: "Bash", tool_input: {} },
  PermissionDenied: { ...tool, reason: "classifier" },
  Setup: { trigger: "init" },
  TeammateIdle: { teammate_name: "t", team_name: "n" },
  TaskCreated: task,
  TaskCompleted: task,
  Elicitation: { mcp_server_name: "m", message: "?" },
  ElicitationResult: { mcp_server_name: "m", action: "accept", content: { a: 1 } },
  ConfigChange: { source: "user_settings" },
  WorktreeCreate: { name: "w" },
  WorktreeRemove: { worktree_path: "/w" },
  InstructionsLoaded: { file_path: "/CLAUDE.md", memory_type: "Project", load_reason: "session_start" },
  CwdChanged: { old_cwd: "/a", new_cwd: "/b" },
  FileChanged: { file_path: "/f", event: "change" },
  DirectoryAdded: { directory: "/d", source: "slash_command" },
  MessageDisplay: { turn_id: "t", message_id: "m", index: 0, final: true, delta: "hi" }
}

/** What each event's `hookSpecificOutput` may carry, for the events that have one. */
const specific: { readonly [E in keyof typeof Hooks.specificOutputs]: Record<string, unknown> } = {
  PreToolUse: { permissionDecision: "deny", permissionDecisionReason: "no", updatedInput: { command: "pwd" } },
  PostToolUse: { additionalContext: "c", updatedToolOutput: "x" },
  PostToolUseFailure: { additionalContext: "c" },
  PostToolBatch: { additionalContext: "c" },
  Notification: { additionalContext: "c" },
  UserPromptSubmit: { additionalContext: "c", sessionTitle: "t" },
  UserPromptExpansion: { suppressOriginalPrompt: true },
  SessionStart: { additionalContext: "c", watchPaths: ["/w"] },
  Stop: { additionalContext: "c" },
  SubagentStart: { additionalContext: "c" },
  SubagentStop: { additionalContext: "c" },
  PreModelSwitch: { permissionDecision: "deny" },
  PostModelSwitch: { additionalContext: "c" },
  PermissionRequest: { decision: { behavior: "deny", message: "no" } },
  PermissionDenied: { retry: true },
  Setup: { additionalContext: "c" },
  Elicitation: { action: "accept", content: { name: "Ada" } },
  ElicitationResult: { action: "decline" },
  WorktreeCreate: { worktreePath: "/w" },
  CwdChanged: { watchPaths: [] },
  FileChanged: { watchPaths: ["/f"] },
  MessageDisplay: { displayContent: "shown" }
}

describe("hook Schemas", () => {
  it("cover every event of the Agent SDK's HOOK_EVENTS, in its order", () => {
    assert.deepStrictEqual(Hooks.events, [...HOOK_EVENTS])
    assert.lengthOf(Hooks.events, 33)
  })

  for (const event of Hooks.events) {
    it(`${event}: its input in the CLI's form is accepted, extra fields and all; a required field is checked`, () => {
      const is = Schema.is(Hooks.inputs[event])
      const input = { ...base, hook_event_name: event, ...samples[event], added_by_a_newer_cli: [1] }
      assert.isTrue(is(input), JSON.stringify(input))
      assert.isFalse(is({ ...input, session_id: undefined }))
      assert.isFalse(is({ ...input, hook_event_name: event === "Stop" ? "SubagentStop" : "Stop" }))
      const own = Object.keys(samples[event])[0]
      if (own !== undefined) assert.isFalse(is({ ...input, [own]: Symbol("not JSON") }), `${event}.${own}`)
    })
  }

  it("every event takes the common answer and the asynchronous one; only its own hookSpecificOutput", () => {
    for (const event of Hooks.events) {
      const is = Schema.is(Hooks.outputs[event])
      assert.isTrue(is({ continue: true }), event)
      assert.isTrue(is({ continue: false, stopReason: "s", decision: "block", reason: "r", systemMessage: "m" }))
      assert.isTrue(is({ async: true, asyncTimeout: 1000 }), event)
      assert.isFalse(is({ decision: "maybe" }), event)
      const other = event === "PreToolUse" ? "PostToolUse" : "PreToolUse"
      assert.isFalse(is({ hookSpecificOutput: { hookEventName: other } }), event)
    }
    for (const [event, fields] of Object.entries(specific)) {
      const is = Schema.is(Schema.Union(Object.values(Hooks.outputs)))
      assert.isTrue(is({ hookSpecificOutput: { hookEventName: event, ...fields } }), event)
    }
  })

  it("an event's own hookSpecificOutput is checked field by field", () => {
    const pre = Schema.is(Hooks.outputs.PreToolUse)
    assert.isTrue(pre({ hookSpecificOutput: { hookEventName: "PreToolUse", ...specific.PreToolUse } }))
    assert.isFalse(pre({ hookSpecificOutput: { hookEventName: "PreToolUse", permissionDecision: "perhaps" } }))
    const permission = Schema.is(Hooks.outputs.PermissionRequest)
    assert.isFalse(permission({ hookSpecificOutput: { hookEventName: "PermissionRequest" } }), "decision is required")
    const worktree = Schema.is(Hooks.outputs.WorktreeCreate)
    assert.isFalse(worktree({ hookSpecificOutput: { hookEventName: "WorktreeCreate" } }), "worktreePath is required")
  })
})

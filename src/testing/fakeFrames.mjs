// The stream-json frames of the fake Claude Code CLI, shared by both fakes: `fake-cli.mjs` (a real process)
// and `FakeSpawner.ts` (in-process, on the Effect Clock). One copy, so the two cannot drift apart.
//
// Shapes follow the recorded transcripts of the real CLI 2.1.329 (../shared/fixtures/claude-cli-2.1.329);
// the real frames carry more fields. Plain ESM without imports (not even node built-ins): fake-cli.mjs runs it
// with no build step, and the in-process fake must not reach for the OS. Ids and time come from the caller.
// Types: fakeFrames.d.mts.

/** The version of the real CLI the fakes imitate. */
export const version = "2.1.329"

const MODEL_ALIASES = {
  default: "claude-opus-5-5",
  opus: "claude-opus-5-5",
  fable: "claude-fable-5-2",
  sonnet: "claude-sonnet-5-5",
  haiku: "claude-haiku-5-5"
}
const TOOLS = ["Task", "Bash", "Edit", "Glob", "Grep", "Read", "WebFetch", "WebSearch", "Write"]
const SLASH_COMMANDS = ["clear", "compact", "context", "cost", "init", "model", "review"]

const API_ERRORS = {
  400: { type: "invalid_request_error", error: "unknown", text: "API Error: 400 invalid_request_error" },
  401: {
    type: "authentication_error",
    error: "authentication_failed",
    text: "Failed to authenticate. API Error: 401 Invalid authentication credentials"
  },
  403: { type: "permission_error", error: "authentication_failed", text: "API Error: 403 permission_error" },
  429: { type: "rate_limit_error", error: "rate_limit", text: "API Error: 429 rate_limit_error" },
  500: { type: "api_error", error: "server_error", text: "API Error: 500 api_error" },
  529: { type: "overloaded_error", error: "server_error", text: "API Error: 529 overloaded_error" }
}

/** The tool call a turn makes when it needs one and names none. */
export const defaultToolUse = { name: "Bash", input: { command: "echo hi-from-tool", description: "Print a greeting" } }

const isObject = (value) => typeof value === "object" && value !== null

export const resolveModel = (model) => (Object.hasOwn(MODEL_ALIASES, model) ? MODEL_ALIASES[model] : model)

/** Value of `--flag value` or `--flag=value`. */
export function flagValue(args, name) {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg === name) return args[i + 1]
    if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1)
  }
  return undefined
}

/** The text of a user message: its string content, or its text blocks joined by newlines. */
export function promptText(message) {
  const content = isObject(message.message) ? message.message.content : undefined
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return ""
  return content
    .filter((block) => isObject(block) && block.type === "text" && typeof block.text === "string")
    .map((block) => block.text)
    .join("\n")
}

/** Splits text into `count` pieces on code point boundaries (a delta never holds half a character). */
export function splitText(text, count) {
  const points = Array.from(text)
  const size = Math.max(1, Math.ceil(points.length / Math.max(1, count)))
  const pieces = []
  for (let i = 0; i < points.length; i += size) pieces.push(points.slice(i, i + size).join(""))
  return pieces.length > 0 ? pieces : [""]
}

/** Whether the host's answer to a `can_use_tool` request allows the tool (anything else denies it). */
export const isAllowed = (response) =>
  isObject(response) && response.subtype === "success" && isObject(response.response) &&
  response.response.behavior === "allow"

/** Why the tool was denied, from the host's answer (`null` or `undefined`: none came). */
export function deniedMessage(response) {
  if (!isObject(response)) return "Permission request timed out"
  if (response.subtype === "error") {
    return typeof response.error === "string"
      ? response.error
      : "Permission request failed"
  }
  const message = isObject(response.response) ? response.response.message : undefined
  return typeof message === "string" ? message : "Permission denied"
}

/** The failure the real CLI reports for an API status; `overrides` replace its parts. */
export function apiError(status, overrides = {}) {
  const known = API_ERRORS[status] ?? { type: "api_error", error: "unknown", text: `API Error: ${status}` }
  return {
    status,
    type: overrides.type ?? known.type,
    error: overrides.error ?? known.error,
    text: overrides.message ?? known.text
  }
}

function usage(outputTokens) {
  return {
    input_tokens: 100,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: outputTokens,
    server_tool_use: { web_search_requests: 0, web_fetch_requests: 0 },
    service_tier: "standard"
  }
}

function userMessageFields(turn) {
  const id = turn.message.uuid
  return typeof id === "string" ? { user_message_uuid: id, user_message_uuids: [id] } : {}
}

/**
 * The frames of one fake CLI process, and the state they report: the conversation (session id, cost so far),
 * the model and the permission mode. Every builder reads that state when it is called.
 */
export class CliFrames {
  #sessionId
  #totalCostUsd = 0
  #cwd
  #version
  #apiKeySource
  #uuid
  #requestId
  #now

  constructor(options) {
    this.#sessionId = options.sessionId
    this.model = options.model
    this.permissionMode = options.permissionMode
    this.#cwd = options.cwd
    this.#version = options.version
    this.#apiKeySource = options.apiKeySource
    this.#uuid = options.uuid
    this.#requestId = options.requestId
    this.#now = options.now
  }

  get sessionId() {
    return this.#sessionId
  }

  get totalCostUsd() {
    return this.#totalCostUsd
  }

  #timestamp() {
    return new Date(this.#now()).toISOString()
  }

  systemInit() {
    return {
      type: "system",
      subtype: "init",
      cwd: this.#cwd,
      session_id: this.#sessionId,
      tools: [...TOOLS],
      mcp_servers: [],
      model: this.model,
      permissionMode: this.permissionMode,
      slash_commands: [...SLASH_COMMANDS],
      apiKeySource: this.#apiKeySource,
      claude_code_version: this.#version,
      output_style: "default",
      agents: ["general-purpose"],
      skills: [],
      plugins: [],
      uuid: this.#uuid(),
      original_cwd: this.#cwd,
      additional_directories: []
    }
  }

  assistant(turn, id, content, extra = {}, messageExtra = {}) {
    return {
      type: "assistant",
      message: {
        id,
        type: "message",
        role: "assistant",
        model: this.model,
        content,
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 100, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
        context_management: null,
        ...messageExtra
      },
      parent_tool_use_id: null,
      session_id: this.#sessionId,
      uuid: this.#uuid(),
      timestamp: this.#timestamp(),
      request_id: this.#requestId(),
      ...userMessageFields(turn),
      ...extra
    }
  }

  streamEvent(apiMessageId, event) {
    return {
      type: "stream_event",
      event,
      session_id: this.#sessionId,
      parent_tool_use_id: null,
      uuid: this.#uuid(),
      api_message_id: apiMessageId
    }
  }

  user(content, extra = {}) {
    return {
      type: "user",
      message: { role: "user", content },
      parent_tool_use_id: null,
      session_id: this.#sessionId,
      uuid: this.#uuid(),
      timestamp: this.#timestamp(),
      ...extra
    }
  }

  /** A turn's `result`; its cost is added to the conversation's `total_cost_usd`. */
  result(turn, fields = {}, costUsd = 0.00064 * turn.numTurns) {
    this.#totalCostUsd += costUsd
    const now = this.#now()
    return {
      type: "result",
      subtype: "success",
      is_error: false,
      duration_ms: now - turn.startedAt,
      duration_api_ms: Math.max(0, now - turn.startedAt - 5),
      num_turns: turn.numTurns,
      stop_reason: "end_turn",
      session_id: this.#sessionId,
      total_cost_usd: this.#totalCostUsd,
      usage: usage(12),
      modelUsage: {
        [this.model]: {
          inputTokens: 100 * turn.numTurns,
          outputTokens: 12,
          cacheReadInputTokens: 0,
          cacheCreationInputTokens: 0,
          webSearchRequests: 0,
          costUSD: costUsd,
          contextWindow: 1000000,
          maxOutputTokens: 128000
        }
      },
      permission_denials: [...turn.permissionDenials],
      terminal_reason: "completed",
      api_error_status: null,
      uuid: this.#uuid(),
      ...userMessageFields(turn),
      ...(turn.controlAnswers.length > 0 ? { fake_control_answers: [...turn.controlAnswers] } : {}),
      ...(turn.openFiles ? { fake_open_files: turn.openFiles } : {}),
      ...fields
    }
  }

  /**
   * The frames of a text reply, one at a time: with `partial`, the stream events around the `assistant`
   * frame, which arrives between the last delta and `content_block_stop` as in the real CLI. `delta` is the
   * text a frame streams (what an interrupt leaves behind). A generator, so that each frame is built only
   * when the one before it has been written.
   */
  *text(turn, id, text, options) {
    if (options.partial) {
      yield {
        frame: this.streamEvent(id, {
          type: "message_start",
          message: {
            id,
            type: "message",
            role: "assistant",
            model: this.model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: usage(1)
          }
        }),
        delta: ""
      }
      yield {
        frame: this.streamEvent(id, {
          type: "content_block_start",
          index: 0,
          content_block: { type: "text", text: "" }
        }),
        delta: ""
      }
      for (const piece of splitText(text, options.chunks)) {
        yield {
          frame: this.streamEvent(id, {
            type: "content_block_delta",
            index: 0,
            delta: { type: "text_delta", text: piece }
          }),
          delta: piece
        }
      }
    }
    yield { frame: this.assistant(turn, id, [{ type: "text", text }]), delta: "" }
    if (options.partial) {
      yield { frame: this.streamEvent(id, { type: "content_block_stop", index: 0 }), delta: "" }
      yield {
        frame: this.streamEvent(id, {
          type: "message_delta",
          delta: { stop_reason: "end_turn", stop_sequence: null },
          usage: { output_tokens: 12 }
        }),
        delta: ""
      }
      yield { frame: this.streamEvent(id, { type: "message_stop" }), delta: "" }
    }
  }

  toolUse(turn, messageId, tool) {
    return this.assistant(turn, messageId, [{ type: "tool_use", id: tool.id, name: tool.name, input: tool.input }])
  }

  /** The tool's result: `output`, or the error of a denied tool (`denied` says why). */
  toolResult(tool, output, denied) {
    return this.user(
      [
        denied === undefined
          ? { tool_use_id: tool.id, type: "tool_result", content: output, is_error: false }
          : { type: "tool_result", content: denied, is_error: true, tool_use_id: tool.id }
      ],
      denied === undefined
        ? { tool_use_result: { stdout: output, stderr: "", interrupted: false, isImage: false } }
        : { tool_use_result: `Error: ${denied}` }
    )
  }

  /** The synthetic `assistant` frame of an API failure (see {@link apiError}). */
  apiErrorAssistant(turn, error) {
    return this.assistant(
      turn,
      this.#uuid(),
      [{ type: "text", text: error.text }],
      { error: error.error, is_api_error_message: true, api_error_status: error.status, api_error_type: error.type },
      { model: "<synthetic>", stop_reason: "stop_sequence", stop_sequence: "" }
    )
  }

  /** The `result` of an API failure: `subtype: "success"` with `is_error: true`, as the real CLI has it. Costs nothing. */
  apiErrorResult(turn, error) {
    return this.result(turn, {
      is_error: true,
      stop_reason: "stop_sequence",
      terminal_reason: "api_error",
      api_error_status: error.status,
      api_error_type: error.type,
      result: error.text
    }, 0)
  }

  apiRetry(attempt, maxRetries, fields) {
    return {
      type: "system",
      subtype: "api_retry",
      attempt,
      max_retries: maxRetries,
      ...fields,
      session_id: this.#sessionId,
      uuid: this.#uuid()
    }
  }

  interruptedUser() {
    return this.user([{ type: "text", text: "[Request interrupted by user]" }])
  }

  interruptedResult(turn) {
    return this.result(turn, {
      subtype: "error_during_execution",
      is_error: true,
      stop_reason: null,
      terminal_reason: "aborted_streaming",
      errors: ["[ede_diagnostic] result_type=user last_content_type=n/a stop_reason=null"]
    })
  }

  lifecycle(commandUuid, state) {
    return {
      type: "command_lifecycle",
      command_uuid: commandUuid,
      state,
      uuid: this.#uuid(),
      session_id: this.#sessionId
    }
  }

  /** What `set_permission_mode` reports after its answer. */
  permissionModeStatus() {
    return {
      type: "system",
      subtype: "status",
      status: null,
      permissionMode: this.permissionMode,
      uuid: this.#uuid(),
      session_id: this.#sessionId
    }
  }

  /**
   * `/clear`: `conversation_reset` (still in the old session), then a new conversation: a new session id,
   * and the per-conversation counters back to 0 as in the real CLI (fixture clear-reset: the clear's own
   * `result` reports `total_cost_usd: 0`); then its `system/init` and the `result` of the local command.
   * A generator, so that the new conversation starts only once the reset frame has been written.
   */
  *clear(commandUuid) {
    yield {
      type: "conversation_reset",
      new_conversation_id: this.#uuid(),
      uuid: this.#uuid(),
      trigger: "clear",
      ...(commandUuid === undefined ? {} : { user_message_uuid: commandUuid }),
      timestamp: this.#timestamp(),
      session_id: this.#sessionId
    }
    this.#sessionId = this.#uuid()
    this.#totalCostUsd = 0
    yield this.systemInit()
    yield {
      type: "result",
      subtype: "success",
      is_error: false,
      duration_ms: 1,
      duration_api_ms: 0,
      num_turns: 0,
      stop_reason: null,
      session_id: this.#sessionId,
      total_cost_usd: this.#totalCostUsd,
      permission_denials: [],
      result: "",
      local_command: "clear",
      uuid: this.#uuid()
    }
  }

  /** The request body of a control request the fake sends: `can_use_tool` and `hook_callback` get the tool call's fields. */
  controlRequestBody(spec, tool) {
    switch (spec.subtype) {
      case "can_use_tool":
        return {
          tool_name: tool.name,
          display_name: tool.name,
          input: tool.input,
          description: typeof tool.input.description === "string" ? tool.input.description : tool.name,
          permission_suggestions: [
            { type: "addRules", rules: [{ toolName: tool.name }], behavior: "allow", destination: "localSettings" }
          ],
          blocked_path: null,
          tool_use_id: tool.id,
          ...spec
        }
      case "hook_callback":
        // The real CLI's form: the common fields and a PreToolUse input for the turn's tool call, with the
        // spec's input fields over them (another event's name and fields, a field of the wrong type).
        return {
          callback_id: "hook_0",
          tool_use_id: tool.id,
          ...spec,
          input: {
            session_id: this.#sessionId,
            transcript_path: `${this.#cwd}/.claude/${this.#sessionId}.jsonl`,
            cwd: this.#cwd,
            permission_mode: this.permissionMode,
            hook_event_name: "PreToolUse",
            tool_name: tool.name,
            tool_input: tool.input,
            tool_use_id: tool.id,
            ...spec.input
          }
        }
      default:
        return { ...spec }
    }
  }

  initializeResponse(pid, running) {
    return {
      commands: SLASH_COMMANDS.map((name) => ({ name, description: `/${name}`, argumentHint: "", builtin: true })),
      agents: [{ name: "general-purpose", description: "General-purpose agent" }],
      output_style: "default",
      available_output_styles: ["default"],
      models: Object.entries(MODEL_ALIASES).map(([value, resolvedModel]) => ({
        value,
        resolvedModel,
        displayName: value,
        description: resolvedModel
      })),
      account: { tokenSource: "none", apiKeySource: this.#apiKeySource, apiProvider: "firstParty" },
      pid,
      claude_code_version: this.#version,
      current_permission_mode: this.permissionMode,
      session_state: running ? "running" : "idle",
      capabilities: []
    }
  }
}

// Control envelopes: they carry no session state.

export const controlRequest = (requestId, request) => ({ type: "control_request", request_id: requestId, request })

export const controlCancel = (requestId) => ({ type: "control_cancel_request", request_id: requestId })

export const controlSuccess = (requestId, response) => ({
  type: "control_response",
  response: { subtype: "success", request_id: requestId, response }
})

export const controlUnsupported = (requestId, subtype) => ({
  type: "control_response",
  response: {
    subtype: "error",
    request_id: requestId,
    error: `Unsupported control request subtype: ${subtype}`,
    error_code: "unsupported_request"
  }
})

/** How the fake sums up the host's answers to one of its control requests, in `result.fake_control_answers`. */
export function controlAnswer(requestId, subtype, responses) {
  const response = responses[0] ?? null
  return { request_id: requestId, subtype, count: responses.length, response, timed_out: response === null }
}

/** A `result.permission_denials` entry. */
export const permissionDenial = (tool) => ({ tool_name: tool.name, tool_use_id: tool.id, tool_input: tool.input })

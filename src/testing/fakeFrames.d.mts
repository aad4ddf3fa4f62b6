// Types of fakeFrames.mjs, the frames both fakes (fake-cli.mjs and FakeSpawner.ts) write. The module is plain
// JS so that fake-cli.mjs can run it without a build step; keep this file in step with it.

/** A JSON object, as sent in frames. */
export interface JsonObject {
  readonly [key: string]: unknown
}

/** The version of the real CLI the fakes imitate. */
export declare const version: "2.1.329"

/** The tool call a turn makes when it needs one and names none. */
export declare const defaultToolUse: {
  readonly name: string
  readonly input: JsonObject
  /** None: the default output, `"hi-from-tool"`. */
  readonly output?: string | undefined
}

/** The full model name for an alias (`sonnet`, `opus`, `default`, ...); any other name as it is. */
export declare const resolveModel: (model: string) => string

/** Value of `--flag value` or `--flag=value`. */
export declare const flagValue: (args: ReadonlyArray<string>, name: string) => string | undefined

/** The text of a user message: its string content, or its text blocks joined by newlines. */
export declare const promptText: (message: JsonObject) => string

/** Splits text into `count` pieces on code point boundaries (a delta never holds half a character). */
export declare const splitText: (text: string, count: number) => Array<string>

/** Whether the host's answer to a `can_use_tool` request allows the tool (anything else denies it). */
export declare const isAllowed: (response: JsonObject | null | undefined) => boolean

/** Why the tool was denied, from the host's answer (`null` or `undefined`: none came). */
export declare const deniedMessage: (response: JsonObject | null | undefined) => string

/** An API failure as the real CLI reports it. */
export interface ApiError {
  readonly status: number
  /** `api_error_type`, e.g. `overloaded_error`. */
  readonly type: string
  /** The assistant frame's `error`, e.g. `rate_limit`. */
  readonly error: string
  /** The text of the synthetic reply and of the result. */
  readonly text: string
}

/** The failure the real CLI reports for an API status; `overrides` replace its parts. */
export declare const apiError: (
  status: number,
  overrides?: {
    readonly type?: string | undefined
    readonly error?: string | undefined
    readonly message?: string | undefined
  }
) => ApiError

/** What the frames of a turn need to know about it. */
export interface TurnInfo {
  /** The user message that started the turn (its `uuid`, if any, is echoed in the turn's frames). */
  readonly message: JsonObject
  /** When the turn started, in milliseconds on the fake's clock. */
  readonly startedAt: number
  readonly numTurns: number
  readonly permissionDenials: ReadonlyArray<JsonObject>
  /** Summed up in the `result` as `fake_control_answers` (see {@link controlAnswer}). */
  readonly controlAnswers: ReadonlyArray<JsonObject>
  /** What fake-cli.mjs's `openFiles` did, reported in the `result` as `fake_open_files`. */
  readonly openFiles?: JsonObject | undefined
}

/** A tool call of a turn. */
export interface ToolCall {
  readonly name: string
  readonly input: JsonObject
  readonly id: string
}

/** One frame of a text reply, and the text it streams (`""` for all but the deltas). */
export interface TextStep {
  readonly frame: JsonObject
  readonly delta: string
}

export interface CliFramesOptions {
  readonly sessionId: string
  readonly model: string
  readonly permissionMode: string
  readonly cwd: string
  /** The version frames report. */
  readonly version: string
  readonly apiKeySource: string
  /** A fresh id in UUID form. */
  readonly uuid: () => string
  /** A fresh `request_id` for an assistant frame. */
  readonly requestId: () => string
  /** The time, in milliseconds: timestamps and durations. */
  readonly now: () => number
}

/**
 * The frames of one fake CLI process, and the state they report: the conversation (session id, cost so far),
 * the model and the permission mode. Every builder reads that state when it is called.
 */
export declare class CliFrames {
  constructor(options: CliFramesOptions)
  /** The current conversation's; `/clear` ({@link CliFrames.clear}) starts a new one. */
  get sessionId(): string
  /** The current conversation's `total_cost_usd`. */
  get totalCostUsd(): number
  model: string
  permissionMode: string

  systemInit(): JsonObject
  assistant(
    turn: TurnInfo,
    id: string,
    content: ReadonlyArray<JsonObject>,
    extra?: JsonObject,
    messageExtra?: JsonObject
  ): JsonObject
  streamEvent(apiMessageId: string, event: JsonObject): JsonObject
  user(content: ReadonlyArray<JsonObject>, extra?: JsonObject): JsonObject
  /** A turn's `result` (default cost 0.00064 per API call); its cost is added to the conversation's `total_cost_usd`. */
  result(turn: TurnInfo, fields?: JsonObject, costUsd?: number): JsonObject
  /**
   * The frames of a text reply, one at a time: with `partial`, the stream events around the `assistant`
   * frame. Each frame is built only when the one before it has been taken.
   */
  text(
    turn: TurnInfo,
    id: string,
    text: string,
    options: { readonly partial: boolean; readonly chunks: number }
  ): Generator<TextStep, void, undefined>
  toolUse(turn: TurnInfo, messageId: string, tool: ToolCall): JsonObject
  /** The tool's result: `output`, or the error of a denied tool (`denied` says why). */
  toolResult(tool: ToolCall, output: string, denied: string | undefined): JsonObject
  apiErrorAssistant(turn: TurnInfo, error: ApiError): JsonObject
  apiErrorResult(turn: TurnInfo, error: ApiError): JsonObject
  apiRetry(attempt: number, maxRetries: number, fields: JsonObject): JsonObject
  interruptedUser(): JsonObject
  interruptedResult(turn: TurnInfo): JsonObject
  lifecycle(commandUuid: string, state: string): JsonObject
  permissionModeStatus(): JsonObject
  /**
   * `/clear`: `conversation_reset`, then a new conversation (new session id, counters back to 0), its
   * `system/init` and the `result` of the local command. The new conversation starts when the reset frame
   * has been taken.
   */
  clear(commandUuid: string | undefined): Generator<JsonObject, void, undefined>
  controlRequestBody(spec: JsonObject & { readonly subtype: string }, tool: ToolCall): JsonObject
  initializeResponse(pid: number, running: boolean): JsonObject
}

export declare const controlRequest: (requestId: string, request: JsonObject) => JsonObject
export declare const controlCancel: (requestId: string) => JsonObject
export declare const controlSuccess: (requestId: string | undefined, response: JsonObject) => JsonObject
export declare const controlUnsupported: (requestId: string | undefined, subtype: string) => JsonObject

/** How the fake sums up the host's answers to one of its control requests. */
export declare const controlAnswer: (
  requestId: string,
  subtype: string,
  responses: ReadonlyArray<JsonObject>
) => JsonObject

/** A `result.permission_denials` entry. */
export declare const permissionDenial: (tool: ToolCall) => JsonObject

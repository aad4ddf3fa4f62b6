/**
 * A loopback fake of the Anthropic Messages API for running the real Claude Code
 * CLI offline (point it at the fake with `ANTHROPIC_BASE_URL`, see
 * {@link cliEnvironment}).
 *
 * ## What the CLI (2.1.329) sends, observed against this fake
 *
 * With `--input-format stream-json --output-format stream-json` and
 * {@link cliEnvironment}:
 *
 * - One `POST /v1/messages?beta=true` with `"stream": true` per model call of a turn
 *   (a tool-use turn makes two). `max_tokens` is large (32000–128000), `tools` holds
 *   the tool definitions and `thinking` is set (`{"type":"adaptive"}`, `{"type":"enabled"}`
 *   or `{"type":"disabled"}`) for every model that supports thinking. `messages` ends
 *   with a `role: "system"` environment message, so "the last message" is not the
 *   last user message.
 * - Nothing else. No `HEAD`, no `count_tokens`, no telemetry, no DNS lookups. This
 *   holds only with `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`. Without it the CLI
 *   also sends `HEAD /api/hello` to the base URL (a reachability probe, answered
 *   here with 200) and resolves `api.anthropic.com` for telemetry, which fails offline.
 * - Side requests that are not conversation turns, made on demand:
 *   - The `generate_session_title` control request sends a streamed `POST /v1/messages`
 *     with `tools: []`, no `thinking` key and `output_config.format` set to a `json_schema`
 *     (`{title: string}`). This fake answers it with JSON that fits the schema.
 *   - The binary also contains `max_tokens: 1` probes: a quota check (`"quota"`), an API key
 *     check (`"test"`) and model validation (`"."`). None was observed in stream-json mode.
 *   - The `side_question` control request forks the conversation: same tools, `thinking`
 *     and history. It counts as a conversation request.
 * - When a stream breaks (dropped connection, mid-stream `error` event, or no bytes
 *   for `CLAUDE_BYTE_STREAM_IDLE_TIMEOUT_MS`, minimum 10 s) and no retries are left,
 *   the CLI repeats the turn **without streaming**: `"stream": false`,
 *   `max_tokens: 64000`, same `thinking` and `tools`. That repeat is a conversation
 *   request and takes the next scripted reply, which is then sent as JSON. If retries
 *   remain (`CLAUDE_CODE_MAX_RETRIES > 0`), the CLI retries the streaming request
 *   instead.
 * - On 429 and 529 the CLI honours `retry-after`: it waits that many seconds plus
 *   up to about 25 % jitter. Without the header it backs off from about 500 ms.
 * - Which errors the CLI retries, each retry announced by a `system/api_retry` frame
 *   (delays about 0.6, 1.1, 2.3, 4.1, 9.5, 19 s, ... up to ~40 s): 401, 429 and 5xx up to
 *   `CLAUDE_CODE_MAX_RETRIES` times (default 10: a 401 takes about 150 s to come back as a
 *   `result`), with an API key as with an OAuth token; a 529 at most twice whatever the
 *   setting; a 403 only when the answer says `x-should-retry: true`; nothing when it says
 *   `x-should-retry: false`. See the `shouldRetry` option of {@link error}.
 * - A stalled stream (a {@link hang}) holds the CLI for minutes: more than 30 s was
 *   observed with the defaults.
 * - Interactive (TTY) mode ignores `ANTHROPIC_BASE_URL` for its start-up connectivity
 *   check and calls `api.anthropic.com` directly, so it cannot run offline.
 *
 * A `POST /v1/messages` counts as a **conversation** request, and consumes a scripted
 * reply, when all of these hold:
 * - it asks for more than 1 output token;
 * - it has no structured `output_config.format`;
 * - it carries `thinking` or a non-empty `tools` list.
 *
 * The `stream` flag is deliberately not part of the test, because of the
 * non-streaming fallback described above. Models without thinking support (e.g.
 * `claude-3-5-haiku-20241022`) send no `thinking` key, so their turns are recognised by
 * their tools alone. Such a model run with `--tools ""` looks like a side request;
 * pass `isConversation` for that case.
 *
 * Every other `POST /v1/messages` is a **side** request, answered by
 * {@link sideReply}. See {@link isConversationRequest}, which the `isConversation`
 * option replaces.
 *
 * @since 0.1.0
 */
import type { Scope } from "effect"
import {
  Clock,
  Context,
  Data,
  Duration,
  Effect,
  FiberSet,
  Layer,
  Option,
  Ref,
  Schema,
  Stream,
  SubscriptionRef
} from "effect"
import * as NodeCrypto from "node:crypto"
import * as Http from "node:http"
import * as NodePath from "node:path"
import { dieUnlessWithin } from "../internal/realTimeBound.ts"

// -----------------------------------------------------------------------------
// Replies
// -----------------------------------------------------------------------------

/**
 * Why the fake model stopped.
 *
 * @since 0.1.0
 * @category models
 */
export type StopReason = "end_turn" | "tool_use" | "max_tokens" | "stop_sequence" | "pause_turn" | "refusal"

/**
 * A text content block. Each element of `chunks` is sent as one `text_delta`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TextBlock {
  readonly _tag: "Text"
  readonly chunks: ReadonlyArray<string>
}

/**
 * A thinking content block. Each chunk is one `thinking_delta`, followed by a
 * `signature_delta` that carries `signature`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ThinkingBlock {
  readonly _tag: "Thinking"
  readonly chunks: ReadonlyArray<string>
  readonly signature: string
}

/**
 * A tool use content block. The JSON of `input` is streamed as `input_json_delta`
 * pieces of `chunkSize` characters (one piece when `undefined`). A missing `id` is
 * generated (`toolu_fake_<request>_<block>`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolUseBlock {
  readonly _tag: "ToolUse"
  readonly id: string | undefined
  readonly name: string
  readonly input: Schema.JsonObject
  readonly chunkSize: number | undefined
}

/**
 * One content block of a scripted assistant message.
 *
 * @since 0.1.0
 * @category models
 */
export type Block = TextBlock | ThinkingBlock | ToolUseBlock

/**
 * A successful assistant message. On a streaming request it goes out as SSE events, otherwise as
 * one JSON message.
 *
 * @since 0.1.0
 * @category models
 */
export interface Message {
  readonly _tag: "Message"
  readonly blocks: ReadonlyArray<Block>
  /** `undefined`: `tool_use` when a tool use block is present, else `end_turn`. */
  readonly stopReason: StopReason | undefined
  /** Wait before each `content_block_delta` event. */
  readonly delayMs: number
  /** Wait before the status line and headers. */
  readonly firstByteDelayMs: number
  /** `undefined`: echo the requested model. */
  readonly model: string | undefined
  readonly inputTokens: number
  /** `undefined`: about one token per four characters of content. */
  readonly outputTokens: number | undefined
}

/**
 * The `error.type` values of the Anthropic error body.
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "billing_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "api_error"
  | "overloaded_error"

/**
 * An API error. By default it is sent as an HTTP status plus the JSON body
 * `{"type":"error","error":{"type","message"}}`. With `midStream` it is sent as
 * `200`, then `message_start`, then an SSE `error` event.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorReply {
  readonly _tag: "Error"
  readonly status: number
  readonly errorType: ErrorType
  readonly message: string
  /** Sent as the `retry-after` header (seconds). */
  readonly retryAfterSeconds: number | undefined
  /**
   * Sent as the `x-should-retry` header (`undefined`: `true` for 429 and 529, none otherwise). The CLI
   * (2.1.329) follows it: with `false` it never retries; without it, it retries 401, 429 and 5xx up to
   * `CLAUDE_CODE_MAX_RETRIES` times (a 529 at most twice), but not a 403; with `true` a 403 too.
   */
  readonly shouldRetry: boolean | undefined
  readonly midStream: boolean
  readonly firstByteDelayMs: number
}

/**
 * A reply that never finishes. It stays open until the client disconnects or the
 * server's scope closes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Hang {
  readonly _tag: "Hang"
  /** `true`: send nothing at all, not even the status line. */
  readonly beforeHeaders: boolean
  /** Text streamed before stalling (after `message_start`), if any. */
  readonly partialText: string | undefined
}

/**
 * Sends the SSE headers and `message_start`, plus `partialText` if given, then
 * destroys the socket. This simulates a connection dropped mid-stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface Disconnect {
  readonly _tag: "Disconnect"
  readonly partialText: string | undefined
}

/**
 * Everything the fake can answer a messages request with.
 *
 * @since 0.1.0
 * @category models
 */
export type Reply = Message | ErrorReply | Hang | Disconnect

/**
 * Options shared by message reply constructors.
 *
 * @since 0.1.0
 * @category models
 */
export interface MessageOptions {
  readonly stopReason?: StopReason
  readonly delayMs?: number
  readonly firstByteDelayMs?: number
  readonly model?: string
  readonly inputTokens?: number
  readonly outputTokens?: number
}

/**
 * How to split a block's content into deltas. `chunkSize` counts UTF-16 code units,
 * but never splits a surrogate pair.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChunkOptions {
  readonly chunkSize?: number
}

const splitChunks = (value: string, size: number | undefined): ReadonlyArray<string> => {
  if (size === undefined || size <= 0 || value.length <= size) return [value]
  const out: Array<string> = []
  let start = 0
  while (start < value.length) {
    let end = Math.min(start + size, value.length)
    // do not cut between the two halves of a surrogate pair
    const code = value.charCodeAt(end - 1)
    if (end < value.length && end - start > 1 && code >= 0xd800 && code <= 0xdbff) end -= 1
    out.push(value.slice(start, end))
    start = end
  }
  return out
}

const toChunks = (value: string | ReadonlyArray<string>, size: number | undefined): ReadonlyArray<string> =>
  typeof value === "string" ? splitChunks(value, size) : value

/**
 * A text block. Pass an array to choose the exact `text_delta` chunks.
 *
 * @since 0.1.0
 * @category constructors
 */
export const textBlock = (value: string | ReadonlyArray<string>, options?: ChunkOptions): TextBlock => ({
  _tag: "Text",
  chunks: toChunks(value, options?.chunkSize)
})

/**
 * A thinking block. Pass an array to choose the exact `thinking_delta` chunks.
 *
 * @since 0.1.0
 * @category constructors
 */
export const thinkingBlock = (
  value: string | ReadonlyArray<string>,
  options?: ChunkOptions & { readonly signature?: string }
): ThinkingBlock => ({
  _tag: "Thinking",
  chunks: toChunks(value, options?.chunkSize),
  signature: options?.signature ?? "fake-signature"
})

/**
 * A tool use block.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toolUseBlock = (
  name: string,
  input: Schema.JsonObject,
  options?: ChunkOptions & { readonly id?: string }
): ToolUseBlock => ({
  _tag: "ToolUse",
  id: options?.id,
  name,
  input,
  chunkSize: options?.chunkSize
})

/**
 * A message made of several blocks. It takes blocks, or messages whose blocks are
 * spliced in, so `message([thinking("hmm"), text("answer")])` works.
 *
 * @since 0.1.0
 * @category constructors
 */
export const message = (parts: ReadonlyArray<Block | Message>, options?: MessageOptions): Message => ({
  _tag: "Message",
  blocks: parts.flatMap((part) => part._tag === "Message" ? part.blocks : [part]),
  stopReason: options?.stopReason,
  delayMs: options?.delayMs ?? 0,
  firstByteDelayMs: options?.firstByteDelayMs ?? 0,
  model: options?.model,
  inputTokens: options?.inputTokens ?? 100,
  outputTokens: options?.outputTokens
})

/**
 * A text-only message. Pass an array, or `chunkSize`, to control the `text_delta`
 * chunks.
 *
 * @since 0.1.0
 * @category constructors
 */
export const text = (value: string | ReadonlyArray<string>, options?: ChunkOptions & MessageOptions): Message =>
  message([textBlock(value, options)], options)

/**
 * A message holding one thinking block. Combine it with {@link message} to add the
 * answer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const thinking = (
  value: string | ReadonlyArray<string>,
  options?: ChunkOptions & MessageOptions & { readonly signature?: string }
): Message => message([thinkingBlock(value, options)], options)

/**
 * A message holding one tool use. Its stop reason is `tool_use`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toolUse = (
  name: string,
  input: Schema.JsonObject,
  options?: ChunkOptions & MessageOptions & { readonly id?: string }
): Message => message([toolUseBlock(name, input, options)], options)

/**
 * A text message of exactly `bytes` ASCII bytes, made of numbered lines, sent in
 * `chunkSize` pieces (default 4096).
 *
 * @since 0.1.0
 * @category constructors
 */
export const largeText = (bytes: number, options?: ChunkOptions & MessageOptions): Message => {
  const lines: Array<string> = []
  let size = 0
  for (let i = 0; size < bytes; i++) {
    const line = `line ${i} of a large fake answer\n`
    lines.push(line)
    size += line.length
  }
  return text(lines.join("").slice(0, Math.max(0, bytes)), { chunkSize: 4096, ...options })
}

const errorTypeFor = (status: number): ErrorType => {
  switch (status) {
    case 400:
      return "invalid_request_error"
    case 401:
      return "authentication_error"
    case 402:
      return "billing_error"
    case 403:
      return "permission_error"
    case 404:
      return "not_found_error"
    case 413:
      return "request_too_large"
    case 429:
      return "rate_limit_error"
    case 529:
      return "overloaded_error"
    default:
      return "api_error"
  }
}

const defaultErrorMessage: Record<ErrorType, string> = {
  invalid_request_error: "Invalid request (fake)",
  authentication_error: "invalid x-api-key (fake)",
  billing_error: "Billing problem (fake)",
  permission_error: "Your API key does not have permission to use the specified resource (fake)",
  not_found_error: "Not found (fake)",
  request_too_large: "Request exceeds the maximum allowed number of bytes (fake)",
  rate_limit_error: "Number of requests has exceeded your rate limit (fake)",
  api_error: "Internal server error (fake)",
  overloaded_error: "Overloaded (fake)"
}

/**
 * An API error reply. The error type follows the status: 400
 * `invalid_request_error`, 401 `authentication_error`, 403 `permission_error`,
 * 404 `not_found_error`, 413 `request_too_large`, 429 `rate_limit_error`,
 * 529 `overloaded_error`, and `api_error` for anything else (500). `type`
 * overrides it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const error = (status: number, options?: {
  readonly type?: ErrorType
  readonly message?: string
  readonly retryAfterSeconds?: number
  readonly shouldRetry?: boolean
  readonly midStream?: boolean
  readonly firstByteDelayMs?: number
}): ErrorReply => {
  const errorType = options?.type ?? errorTypeFor(status)
  return {
    _tag: "Error",
    status,
    errorType,
    message: options?.message ?? defaultErrorMessage[errorType],
    retryAfterSeconds: options?.retryAfterSeconds,
    shouldRetry: options?.shouldRetry,
    midStream: options?.midStream ?? false,
    firstByteDelayMs: options?.firstByteDelayMs ?? 0
  }
}

/**
 * A reply that never completes; used for stall tests. By default it sends the SSE
 * headers and `message_start`, then nothing. The scope closing tears it down.
 *
 * @since 0.1.0
 * @category constructors
 */
export const hang = (options?: { readonly beforeHeaders?: boolean; readonly partialText?: string }): Hang => ({
  _tag: "Hang",
  beforeHeaders: options?.beforeHeaders ?? false,
  partialText: options?.partialText
})

/**
 * A reply that drops the connection mid-stream.
 *
 * @since 0.1.0
 * @category constructors
 */
export const disconnect = (options?: { readonly partialText?: string }): Disconnect => ({
  _tag: "Disconnect",
  partialText: options?.partialText
})

// -----------------------------------------------------------------------------
// Requests
// -----------------------------------------------------------------------------

const ContentPart = Schema.Struct({
  type: Schema.String,
  text: Schema.optionalKey(Schema.String),
  id: Schema.optionalKey(Schema.String),
  name: Schema.optionalKey(Schema.String),
  input: Schema.optionalKey(Schema.Unknown),
  tool_use_id: Schema.optionalKey(Schema.String),
  content: Schema.optionalKey(Schema.Unknown),
  is_error: Schema.optionalKey(Schema.Boolean)
})

const ApiMessage = Schema.Struct({
  role: Schema.String,
  content: Schema.Union([Schema.String, Schema.Array(ContentPart)])
})

const MessagesRequestSchema = Schema.Struct({
  model: Schema.optionalKey(Schema.String),
  max_tokens: Schema.optionalKey(Schema.Number),
  stream: Schema.optionalKey(Schema.Boolean),
  messages: Schema.Array(ApiMessage),
  system: Schema.optionalKey(Schema.Unknown),
  tools: Schema.optionalKey(Schema.Array(Schema.Unknown)),
  thinking: Schema.optionalKey(Schema.Unknown),
  output_config: Schema.optionalKey(Schema.Struct({ format: Schema.optionalKey(Schema.Unknown) }))
})

/**
 * A lenient, typed view of a `POST /v1/messages` body. It keeps only the fields this
 * fake reads; the full body is in {@link RecordedRequest.body}.
 *
 * @since 0.1.0
 * @category models
 */
export type MessagesRequest = typeof MessagesRequestSchema.Type

/**
 * One message of a {@link MessagesRequest}.
 *
 * @since 0.1.0
 * @category models
 */
export type ApiMessage = typeof ApiMessage.Type

const decodeMessagesRequest = Schema.decodeUnknownOption(MessagesRequestSchema)
const decodeJson = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Unknown))

/**
 * How a request was classified: a conversation turn (consumes a scripted reply), a
 * side request of the CLI (titles, probes), a token count, or anything else.
 *
 * @since 0.1.0
 * @category models
 */
export type RequestKind = "conversation" | "side" | "count_tokens" | "other"

/**
 * What the fake knows about a request before classifying it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestInfo {
  /** 0-based order in which request bodies were complete. */
  readonly sequence: number
  readonly method: string
  /** The path without the query string, e.g. `/v1/messages`. */
  readonly path: string
  /** The request target as sent, e.g. `/v1/messages?beta=true`. */
  readonly url: string
  /** Lower-cased names. The `x-api-key` and `authorization` values are replaced by {@link fingerprint}. */
  readonly headers: Readonly<Record<string, string>>
  /** Parsed JSON body; the raw text when it is not JSON; `undefined` when empty. */
  readonly body: unknown
  /** The typed view of a messages body, when the body has that shape. */
  readonly messagesRequest: MessagesRequest | undefined
  /** Wall-clock epoch milliseconds when the body was complete. */
  readonly timestamp: number
}

/**
 * A request the fake received.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedRequest extends RequestInfo {
  readonly kind: RequestKind
}

/**
 * Replaces a secret by `sha256:<first 12 hex digits>`, so tests can compare keys
 * without storing them.
 *
 * @since 0.1.0
 * @category utils
 */
export const fingerprint = (secret: string): string =>
  `sha256:${NodeCrypto.createHash("sha256").update(secret).digest("hex").slice(0, 12)}`

const secretHeaders = new Set(["x-api-key", "authorization", "proxy-authorization", "cookie"])

const recordHeaders = (headers: Http.IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    const joined = typeof value === "string" ? value : value.join(", ")
    out[name] = secretHeaders.has(name) ? fingerprint(joined) : joined
  }
  return out
}

/**
 * The default conversation test. See the module comment for why these fields.
 *
 * @since 0.1.0
 * @category utils
 */
export const isConversationRequest = (request: RequestInfo): boolean => {
  const body = request.messagesRequest
  if (request.method !== "POST" || request.path !== "/v1/messages" || body === undefined) return false
  if ((body.max_tokens ?? 0) <= 1) return false
  if (body.output_config?.format !== undefined) return false
  return body.thinking !== undefined || (body.tools !== undefined && body.tools.length > 0)
}

const partsOf = (msg: ApiMessage): ReadonlyArray<typeof ContentPart.Type> =>
  typeof msg.content === "string" ? [{ type: "text", text: msg.content }] : msg.content

const lastUserMessage = (request: RequestInfo): ApiMessage | undefined =>
  request.messagesRequest?.messages.findLast((m) => m.role === "user")

/**
 * Every text part of every user message, in order (system reminders the CLI
 * injects included).
 *
 * @since 0.1.0
 * @category utils
 */
export const userTexts = (request: RequestInfo): ReadonlyArray<string> =>
  (request.messagesRequest?.messages ?? [])
    .filter((m) => m.role === "user")
    .flatMap((m) => partsOf(m).flatMap((p) => p.type === "text" && p.text !== undefined ? [p.text] : []))

/**
 * The text parts of the last user message, joined by newlines.
 *
 * @since 0.1.0
 * @category utils
 */
export const lastUserText = (request: RequestInfo): string => {
  const last = lastUserMessage(request)
  if (last === undefined) return ""
  return partsOf(last).flatMap((p) => p.type === "text" && p.text !== undefined ? [p.text] : []).join("\n")
}

const ToolResultContent = Schema.Union([
  Schema.String,
  Schema.Array(Schema.Struct({ type: Schema.String, text: Schema.optionalKey(Schema.String) }))
])
const decodeToolResultContent = Schema.decodeUnknownOption(ToolResultContent)

/**
 * The text of the first `tool_result` in the last user message, if there is one.
 *
 * @since 0.1.0
 * @category utils
 */
export const lastToolResult = (request: RequestInfo): string | undefined => {
  const last = lastUserMessage(request)
  const result = last === undefined ? undefined : partsOf(last).find((p) => p.type === "tool_result")
  if (result === undefined) return undefined
  return Option.match(decodeToolResultContent(result.content), {
    onNone: () => "",
    onSome: (content) => typeof content === "string" ? content : content.map((c) => c.text ?? "").join("")
  })
}

/**
 * What a conversation request gets when nothing is scripted:
 * - if the last user message holds a `tool_result`, the text `Tool said: <content>`;
 * - otherwise, if the last user text contains `USE_TOOL`, a `Bash` tool use
 *   running `echo hi-from-tool`;
 * - otherwise the text `Hello from the fake API.`
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultReply = (request: RequestInfo): Reply => {
  const toolResult = lastToolResult(request)
  if (toolResult !== undefined) return text(`Tool said: ${toolResult}`)
  if (lastUserText(request).includes("USE_TOOL")) {
    return toolUse("Bash", { command: "echo hi-from-tool", description: "Print a greeting" })
  }
  return text("Hello from the fake API.")
}

const JsonSchemaFormat = Schema.Struct({
  type: Schema.Literal("json_schema"),
  schema: Schema.Struct({
    properties: Schema.optionalKey(
      Schema.Record(Schema.String, Schema.Struct({ type: Schema.optionalKey(Schema.Unknown) }))
    )
  })
})
const decodeJsonSchemaFormat = Schema.decodeUnknownOption(JsonSchemaFormat)

const sampleFor = (key: string, type: unknown): Schema.Json => {
  switch (type) {
    case "string":
      return `Fake ${key}`
    case "number":
    case "integer":
      return 0
    case "boolean":
      return false
    case "array":
      return []
    case "object":
      return {}
    default:
      return null
  }
}

/**
 * What side requests get:
 * - a one-token probe (`max_tokens <= 1`) gets `"."`;
 * - a structured-output request (`output_config.format.type: "json_schema"`, e.g.
 *   session titles) gets a JSON object with one sample value per top-level
 *   property (`"Fake <name>"` for strings);
 * - anything else gets {@link defaultReply}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sideReply = (request: RequestInfo): Reply => {
  const body = request.messagesRequest
  if (body !== undefined && (body.max_tokens ?? 0) <= 1) return text(".")
  const format = decodeJsonSchemaFormat(body?.output_config?.format)
  if (Option.isSome(format)) {
    const sample: Record<string, Schema.Json> = {}
    for (const [key, property] of Object.entries(format.value.schema.properties ?? {})) {
      sample[key] = sampleFor(key, property.type)
    }
    return text(JSON.stringify(sample))
  }
  return defaultReply(request)
}

/**
 * What conversation requests are answered with. A list is consumed in order; once
 * it is exhausted, {@link defaultReply} (or the `defaultReply` option) takes over.
 * A function gets each conversation request and its 0-based index. Both count from
 * the last {@link FakeApi} `setScript` call.
 *
 * @since 0.1.0
 * @category models
 */
export type Script = ReadonlyArray<Reply> | ((request: RecordedRequest, index: number) => Reply)

/**
 * Options for {@link make} and {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly script?: Script
  /** Replaces {@link defaultReply} for unscripted conversation requests. */
  readonly defaultReply?: (request: RecordedRequest) => Reply
  /** Replaces {@link isConversationRequest}. */
  readonly isConversation?: (request: RequestInfo) => boolean
  /**
   * How many of the latest requests `requests` keeps (a real CLI's turn sends about 100 KB of body): a
   * number, or `"all"` for every request until `clearRequests`. Default {@link defaultRecordedRequests}.
   */
  readonly recordRequests?: number | "all"
}

/**
 * How many of the latest requests a {@link FakeApi} keeps unless told otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultRecordedRequests = 256

/** The requests kept, and how many conversation requests arrived since the last clear (kept or not). */
interface Recorded {
  readonly kept: ReadonlyArray<RecordedRequest>
  readonly conversations: number
}

// -----------------------------------------------------------------------------
// Service
// -----------------------------------------------------------------------------

/**
 * A running fake Messages API on `127.0.0.1`. It lives as long as its scope;
 * closing the scope closes every connection, hanging streams included.
 *
 * @since 0.1.0
 * @category services
 */
export class FakeApi extends Context.Service<FakeApi, {
  /** `http://127.0.0.1:<port>`, the value for `ANTHROPIC_BASE_URL`. */
  readonly url: string
  readonly port: number
  /** The requests received so far, in order: the latest `recordRequests` of them (default 256). */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Only the requests kept that are classified as `conversation`. */
  readonly conversationRequests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /**
   * Waits until at least `count` conversation requests have arrived since the last `clearRequests`
   * (counting those no longer kept), then returns the conversation requests kept. It waits `within` of real
   * time at most (default 10 seconds; the live Clock, under a TestClock too), then dies saying how many came.
   */
  readonly awaitConversationRequests: (
    count: number,
    within?: Duration.Input
  ) => Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Replaces the script and restarts its index at 0. */
  readonly setScript: (script: Script) => Effect.Effect<void>
  /** Forgets the recorded requests; sequence numbers continue. */
  readonly clearRequests: Effect.Effect<void>
}>()("effect-claude-code/testing/FakeApi") {}

class ClientGone extends Data.TaggedError("ClientGone")<{}> {}

type Res = Http.ServerResponse

const gone = (res: Res): boolean => res.destroyed || res.writableEnded

/** Writes, waiting for `drain` when the socket buffer is full. */
const write = (res: Res, data: string): Effect.Effect<void, ClientGone> =>
  Effect.callback<void, ClientGone>((resume) => {
    if (gone(res)) return resume(Effect.fail(new ClientGone()))
    if (res.write(data)) return resume(Effect.void)
    const cleanup = () => {
      res.off("drain", onDrain)
      res.off("close", onClose)
    }
    const onDrain = () => {
      cleanup()
      resume(Effect.void)
    }
    const onClose = () => {
      cleanup()
      resume(Effect.fail(new ClientGone()))
    }
    res.on("drain", onDrain)
    res.on("close", onClose)
    return Effect.sync(cleanup)
  })

/**
 * Writes, and waits until the bytes are handed to the socket (the write's callback): a `destroy` right
 * after a plain `write` drops what is still buffered.
 */
const writeFlushed = (res: Res, data: string): Effect.Effect<void, ClientGone> =>
  Effect.callback<void, ClientGone>((resume) => {
    if (gone(res)) return resume(Effect.fail(new ClientGone()))
    const onClose = () => resume(Effect.fail(new ClientGone()))
    res.once("close", onClose)
    res.write(data, (cause) => {
      res.off("close", onClose)
      resume(cause === null || cause === undefined ? Effect.void : Effect.fail(new ClientGone()))
    })
    return Effect.sync(() => res.off("close", onClose))
  })

/** Completes when the connection closes (the client left, or the server is closing). */
const awaitClose = (res: Res): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (res.destroyed) return resume(Effect.void)
    const onClose = () => resume(Effect.void)
    res.once("close", onClose)
    return Effect.sync(() => res.off("close", onClose))
  })

const sendJson = (res: Res, status: number, body: unknown, headers: Record<string, string> = {}): Effect.Effect<void> =>
  Effect.sync(() => {
    if (gone(res) || res.headersSent) return
    const payload = JSON.stringify(body)
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(payload)),
      ...headers
    })
    res.end(payload)
  })

const sse = (type: string, data: object): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`

const startSse = (res: Res, requestId: string): Effect.Effect<void, ClientGone> =>
  Effect.suspend(() => {
    if (gone(res)) return Effect.fail(new ClientGone())
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "request-id": requestId
    })
    res.flushHeaders()
    return Effect.void
  })

const sleepMs = (ms: number): Effect.Effect<void> => ms > 0 ? Effect.sleep(ms) : Effect.void

interface Resolved {
  readonly messageId: string
  readonly requestId: string
  readonly model: string
  readonly sequence: number
}

const usageStart = (inputTokens: number) => ({
  input_tokens: inputTokens,
  output_tokens: 1,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0
})

const messageStart = (ids: Resolved, inputTokens: number): string =>
  sse("message_start", {
    message: {
      id: ids.messageId,
      type: "message",
      role: "assistant",
      model: ids.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: usageStart(inputTokens)
    }
  })

const blockLength = (block: Block): number =>
  block._tag === "ToolUse" ? JSON.stringify(block.input).length : block.chunks.join("").length

const stopReasonOf = (reply: Message): StopReason =>
  reply.stopReason ?? (reply.blocks.some((b) => b._tag === "ToolUse") ? "tool_use" : "end_turn")

const outputTokensOf = (reply: Message): number =>
  reply.outputTokens ?? Math.max(1, Math.ceil(reply.blocks.reduce((n, b) => n + blockLength(b), 0) / 4))

const toolIdOf = (block: ToolUseBlock, ids: Resolved, index: number): string =>
  block.id ?? `toolu_fake_${ids.sequence}_${index}`

const streamMessage = Effect.fnUntraced(function*(res: Res, reply: Message, ids: Resolved) {
  yield* startSse(res, ids.requestId)
  yield* write(res, messageStart(ids, reply.inputTokens) + sse("ping", {}))
  for (const [index, block] of reply.blocks.entries()) {
    switch (block._tag) {
      case "Text": {
        yield* write(res, sse("content_block_start", { index, content_block: { type: "text", text: "" } }))
        for (const chunk of block.chunks) {
          yield* sleepMs(reply.delayMs)
          yield* write(res, sse("content_block_delta", { index, delta: { type: "text_delta", text: chunk } }))
        }
        break
      }
      case "Thinking": {
        yield* write(
          res,
          sse("content_block_start", { index, content_block: { type: "thinking", thinking: "", signature: "" } })
        )
        for (const chunk of block.chunks) {
          yield* sleepMs(reply.delayMs)
          yield* write(res, sse("content_block_delta", { index, delta: { type: "thinking_delta", thinking: chunk } }))
        }
        yield* write(
          res,
          sse("content_block_delta", { index, delta: { type: "signature_delta", signature: block.signature } })
        )
        break
      }
      case "ToolUse": {
        yield* write(
          res,
          sse("content_block_start", {
            index,
            content_block: { type: "tool_use", id: toolIdOf(block, ids, index), name: block.name, input: {} }
          })
        )
        for (const chunk of splitChunks(JSON.stringify(block.input), block.chunkSize)) {
          yield* sleepMs(reply.delayMs)
          yield* write(
            res,
            sse("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: chunk } })
          )
        }
        break
      }
    }
    yield* write(res, sse("content_block_stop", { index }))
  }
  yield* write(
    res,
    sse("message_delta", {
      delta: { stop_reason: stopReasonOf(reply), stop_sequence: null },
      usage: { output_tokens: outputTokensOf(reply) }
    }) + sse("message_stop", {})
  )
  res.end()
})

const jsonMessage = (reply: Message, ids: Resolved) => ({
  id: ids.messageId,
  type: "message",
  role: "assistant",
  model: ids.model,
  content: reply.blocks.map((block, index) => {
    switch (block._tag) {
      case "Text":
        return { type: "text", text: block.chunks.join("") }
      case "Thinking":
        return { type: "thinking", thinking: block.chunks.join(""), signature: block.signature }
      case "ToolUse":
        return { type: "tool_use", id: toolIdOf(block, ids, index), name: block.name, input: block.input }
    }
  }),
  stop_reason: stopReasonOf(reply),
  stop_sequence: null,
  usage: { ...usageStart(reply.inputTokens), output_tokens: outputTokensOf(reply) }
})

const errorBody = (errorType: ErrorType, msg: string, requestId: string) => ({
  type: "error",
  error: { type: errorType, message: msg },
  request_id: requestId
})

/** `message_start` and a partial text block, as `hang` and `disconnect` send them. */
const partialStream = (ids: Resolved, partialText: string | undefined): string =>
  messageStart(ids, 100) + (partialText === undefined ? "" : (
    sse("content_block_start", { index: 0, content_block: { type: "text", text: "" } }) +
    sse("content_block_delta", { index: 0, delta: { type: "text_delta", text: partialText } })
  ))

const respond = Effect.fnUntraced(function*(res: Res, reply: Reply, ids: Resolved, streaming: boolean) {
  switch (reply._tag) {
    case "Message": {
      yield* sleepMs(reply.firstByteDelayMs)
      if (streaming) return yield* streamMessage(res, reply, ids)
      return yield* sendJson(res, 200, jsonMessage(reply, ids), { "request-id": ids.requestId })
    }
    case "Error": {
      yield* sleepMs(reply.firstByteDelayMs)
      const body = errorBody(reply.errorType, reply.message, ids.requestId)
      if (reply.midStream && streaming) {
        yield* startSse(res, ids.requestId)
        yield* write(res, messageStart(ids, 100) + sse("error", { error: body.error }))
        res.end()
        return
      }
      const headers: Record<string, string> = { "request-id": ids.requestId }
      if (reply.retryAfterSeconds !== undefined) headers["retry-after"] = String(reply.retryAfterSeconds)
      // the SDK inside the CLI reads `x-should-retry`; the real API sets it on these
      if (reply.shouldRetry !== undefined) headers["x-should-retry"] = String(reply.shouldRetry)
      else if (reply.status === 529 || reply.status === 429) headers["x-should-retry"] = "true"
      return yield* sendJson(res, reply.status, body, headers)
    }
    case "Hang": {
      if (!reply.beforeHeaders) {
        yield* startSse(res, ids.requestId)
        yield* write(res, partialStream(ids, reply.partialText))
      }
      return yield* awaitClose(res)
    }
    case "Disconnect": {
      yield* startSse(res, ids.requestId)
      // the partial reply reaches the client before the cut
      yield* writeFlushed(res, partialStream(ids, reply.partialText))
      res.destroy()
      return
    }
  }
})

const readBody = (req: Http.IncomingMessage): Effect.Effect<string, ClientGone> =>
  Effect.callback<string, ClientGone>((resume) => {
    const chunks: Array<Buffer> = []
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resume(Effect.succeed(Buffer.concat(chunks).toString("utf8")))
    }
    const onClose = () => {
      cleanup()
      resume(Effect.fail(new ClientGone()))
    }
    const cleanup = () => {
      req.off("data", onData)
      req.off("end", onEnd)
      req.off("close", onClose)
    }
    req.on("data", onData)
    req.on("end", onEnd)
    req.on("close", onClose)
    return Effect.sync(cleanup)
  })

interface ScriptState {
  readonly script: Script
  readonly cursor: number
}

/**
 * Starts a fake Messages API on `127.0.0.1` at a free port. It closes with the
 * scope: the server stops listening, every open connection is destroyed and every
 * pending reply (delays, hangs) is interrupted.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fn("FakeApi.make")(function*(
  options?: Options
): Effect.fn.Return<FakeApi["Service"], never, Scope.Scope> {
  const requestsRef = yield* SubscriptionRef.make<Recorded>({ kept: [], conversations: 0 })
  const keep = options?.recordRequests === "all"
    ? Infinity
    : Math.max(0, options?.recordRequests ?? defaultRecordedRequests)
  const sequenceRef = yield* Ref.make(0)
  const scriptRef = yield* Ref.make<ScriptState>({ script: options?.script ?? [], cursor: 0 })
  const isConversation = options?.isConversation ?? isConversationRequest
  const fallback = options?.defaultReply ?? defaultReply

  const nextReply = (request: RecordedRequest): Effect.Effect<Reply> =>
    Ref.modify(scriptRef, (state): [Reply, ScriptState] => {
      const next = { ...state, cursor: state.cursor + 1 }
      if (typeof state.script === "function") return [state.script(request, state.cursor), next]
      return [state.script[state.cursor] ?? fallback(request), next]
    })

  const handle = Effect.fnUntraced(function*(req: Http.IncomingMessage, res: Res) {
    const raw = yield* readBody(req)
    const timestamp = yield* Clock.currentTimeMillis
    const sequence = yield* Ref.getAndUpdate(sequenceRef, (n) => n + 1)
    const target = req.url ?? "/"
    const path = target.split("?")[0] ?? "/"
    const method = req.method ?? "GET"
    const body = raw.length === 0 ? undefined : Option.getOrElse(decodeJson(raw), () => raw)
    const info: RequestInfo = {
      sequence,
      method,
      path,
      url: target,
      headers: recordHeaders(req.headers),
      body,
      messagesRequest: path === "/v1/messages" || path === "/v1/messages/count_tokens"
        ? Option.getOrUndefined(decodeMessagesRequest(body))
        : undefined,
      timestamp
    }
    const kind: RequestKind = path === "/v1/messages/count_tokens" && method === "POST"
      ? "count_tokens"
      : isConversation(info)
      ? "conversation"
      : method === "POST" && path === "/v1/messages"
      ? "side"
      : "other"
    const request: RecordedRequest = { ...info, kind }
    yield* SubscriptionRef.update(requestsRef, (recorded) => ({
      kept: keep === 0
        ? []
        : recorded.kept.length < keep
        ? [...recorded.kept, request]
        : [...recorded.kept.slice(recorded.kept.length - keep + 1), request],
      conversations: recorded.conversations + (kind === "conversation" ? 1 : 0)
    }))

    const requestId = `req_fake_${sequence}`
    const model = request.messagesRequest?.model ?? "claude-fake"
    const ids: Resolved = { messageId: `msg_fake_${sequence}`, requestId, model, sequence }

    switch (kind) {
      case "count_tokens":
        return yield* sendJson(res, 200, { input_tokens: Math.max(1, Math.ceil(raw.length / 4)) }, {
          "request-id": requestId
        })
      case "conversation": {
        const reply = yield* nextReply(request)
        const replyModel = reply._tag === "Message" && reply.model !== undefined ? reply.model : model
        return yield* respond(res, reply, { ...ids, model: replyModel }, request.messagesRequest?.stream === true)
      }
      case "side": {
        const reply = sideReply(request)
        return yield* respond(res, reply, ids, request.messagesRequest?.stream === true)
      }
      case "other": {
        // The CLI's reachability probe (only without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC).
        if (path === "/api/hello" && (method === "HEAD" || method === "GET")) {
          return yield* Effect.sync(() => {
            res.writeHead(200, { "content-type": "application/json" })
            res.end(method === "GET" ? JSON.stringify({ message: "hello" }) : undefined)
          })
        }
        return yield* sendJson(
          res,
          404,
          errorBody("not_found_error", `Not found: ${method} ${path}`, requestId),
          { "request-id": requestId }
        )
      }
    }
  }, (effect, _req, res) =>
    effect.pipe(
      Effect.catchTag("ClientGone", () => Effect.void),
      // a bug here (or in a script function) becomes a 500 the test can see
      Effect.catchDefect((defect) =>
        Effect.sync(() => {
          if (res.headersSent || gone(res)) return res.destroy()
          res.writeHead(500, { "content-type": "application/json" })
          res.end(JSON.stringify(errorBody("api_error", `FakeApi defect: ${String(defect)}`, "req_fake_defect")))
        })
      ),
      // a reply interrupted mid-way (scope closing) must not leave a half-open socket
      Effect.ensuring(Effect.sync(() => {
        if (!res.writableEnded) res.destroy()
      })),
      // The fake serves a real external process, so its delays use wall-clock
      // time even when the caller runs under TestClock.
      Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())
    ))

  // Created before the server, so the server's finalizer runs first: it stops
  // accepting and destroys sockets. Then the FiberSet interrupts pending replies.
  const fibers = yield* FiberSet.make<void, never>()
  const run = yield* FiberSet.runtime(fibers)()

  const server = yield* Effect.acquireRelease(
    Effect.callback<Http.Server>((resume) => {
      const srv = Http.createServer((req, res) => {
        // errors of aborted connections are expected; the handler notices via `close`
        req.on("error", () => {})
        res.on("error", () => {})
        run(handle(req, res))
      })
      srv.once("error", (cause) => resume(Effect.die(cause)))
      srv.listen(0, "127.0.0.1", () => resume(Effect.succeed(srv)))
    }),
    (srv) =>
      Effect.callback<void>((resume) => {
        srv.close(() => resume(Effect.void))
        // close() alone waits for keep-alive and streaming connections to end
        srv.closeAllConnections()
      })
  )

  const address = server.address()
  const port = address !== null && typeof address === "object" ? address.port : 0
  const conversationOnly = (all: ReadonlyArray<RecordedRequest>) => all.filter((r) => r.kind === "conversation")

  return FakeApi.of({
    url: `http://127.0.0.1:${port}`,
    port,
    requests: Effect.map(SubscriptionRef.get(requestsRef), (recorded) => recorded.kept),
    conversationRequests: Effect.map(SubscriptionRef.get(requestsRef), (recorded) => conversationOnly(recorded.kept)),
    awaitConversationRequests: (count, within = Duration.seconds(10)) =>
      SubscriptionRef.changes(requestsRef).pipe(
        Stream.filter((recorded) => recorded.conversations >= count),
        Stream.map((recorded) => conversationOnly(recorded.kept)),
        Stream.runHead,
        Effect.map(Option.getOrElse((): ReadonlyArray<RecordedRequest> => [])),
        dieUnlessWithin(
          within,
          (bound) =>
            `FakeApi: ${count} conversation request(s) awaited, ${
              SubscriptionRef.getUnsafe(requestsRef).conversations
            } arrived within ${bound}`
        )
      ),
    setScript: (script) => Ref.set(scriptRef, { script, cursor: 0 }),
    clearRequests: SubscriptionRef.set(requestsRef, { kept: [], conversations: 0 })
  })
})

/**
 * A layer that runs a {@link FakeApi} for the lifetime of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<FakeApi> => Layer.effect(FakeApi, make(options))

/**
 * The API key {@link cliEnvironment} hands to the CLI. It is recorded only as
 * `fingerprint(fakeApiKey)`.
 *
 * @since 0.1.0
 * @category constants
 */
export const fakeApiKey = "sk-ant-api03-fake-key-for-offline-tests-0000000000"

/**
 * The environment a real CLI needs to run offline against the fake. Spawn it with
 * these plus `PATH`. Overlaying them on `process.env` also works, as long as the host
 * does not set `ANTHROPIC_AUTH_TOKEN` or `ANTHROPIC_MODEL`, or the `CLAUDE_CODE_USE_*`
 * provider switches.
 *
 * Checked against 2.1.329 with strace and a logging proxy:
 * - Required:
 *   - `ANTHROPIC_BASE_URL` and `ANTHROPIC_API_KEY`.
 *   - A fresh `HOME` (the CLI writes `~/.claude*` state there).
 *   - `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`. Without it the CLI sends
 *     `HEAD /api/hello` and looks up `api.anthropic.com`.
 *   - `CLAUDE_CODE_MAX_RETRIES=0`, so error tests do not wait out retries of up to
 *     ~40 s each.
 * - Defensive:
 *   - `CLAUDE_CONFIG_DIR`, which keeps every config file under `home/.claude`.
 *   - `DISABLE_TELEMETRY`, `DISABLE_AUTOUPDATER` and `DISABLE_ERROR_REPORTING`, which
 *     the nonessential switch already covers.
 *   - `NO_PROXY`, so a proxy set on the host does not capture loopback.
 *
 * @since 0.1.0
 * @category utils
 */
export const cliEnvironment = (api: { readonly url: string }, home: string): Record<string, string> => ({
  ANTHROPIC_BASE_URL: api.url,
  ANTHROPIC_API_KEY: fakeApiKey,
  HOME: home,
  CLAUDE_CONFIG_DIR: NodePath.join(home, ".claude"),
  DISABLE_TELEMETRY: "1",
  DISABLE_AUTOUPDATER: "1",
  DISABLE_ERROR_REPORTING: "1",
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  CLAUDE_CODE_MAX_RETRIES: "0",
  NO_PROXY: "127.0.0.1,localhost",
  no_proxy: "127.0.0.1,localhost"
})

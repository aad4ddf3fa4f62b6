/**
 * The replies a FakeApi can be scripted with: their model (messages of text, thinking and tool use blocks,
 * API errors, hangs, disconnects) and the constructors tests build them with.
 */
import type { Schema } from "effect"

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

/** The pieces of a delta, as {@link ChunkOptions} describes them. */
export const splitChunks = (value: string, size: number | undefined): ReadonlyArray<string> => {
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

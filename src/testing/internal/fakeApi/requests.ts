/**
 * What the FakeApi reads of a request: the lenient Schema of a messages body, the recorded view of a request
 * (secret headers fingerprinted), how it is classified, and the readers of its user messages.
 */
import { Option, Schema } from "effect"
import * as NodeCrypto from "node:crypto"
import type * as Http from "node:http"

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

/** The recorded view of a request whose body is complete. */
export const requestInfo = (
  req: Http.IncomingMessage,
  raw: string,
  sequence: number,
  timestamp: number
): RequestInfo => {
  const target = req.url ?? "/"
  const path = target.split("?")[0] ?? "/"
  const body = raw.length === 0 ? undefined : Option.getOrElse(decodeJson(raw), () => raw)
  return {
    sequence,
    method: req.method ?? "GET",
    path,
    url: target,
    headers: recordHeaders(req.headers),
    body,
    messagesRequest: path === "/v1/messages" || path === "/v1/messages/count_tokens"
      ? Option.getOrUndefined(decodeMessagesRequest(body))
      : undefined,
    timestamp
  }
}

/** A token count, a conversation turn (as `isConversation` says), a side request of the CLI, or anything else. */
export const classify = (info: RequestInfo, isConversation: (request: RequestInfo) => boolean): RequestKind =>
  info.path === "/v1/messages/count_tokens" && info.method === "POST"
    ? "count_tokens"
    : isConversation(info)
    ? "conversation"
    : info.method === "POST" && info.path === "/v1/messages"
    ? "side"
    : "other"

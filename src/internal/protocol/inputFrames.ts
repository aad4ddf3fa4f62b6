/**
 * What the host writes to the CLI's stdin: user messages (text, images,
 * documents) and control requests and responses, each serialised as one line.
 * Part of the public `Protocol` namespace.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { AnyBlock, TextBlock } from "./contentBlocks.ts"

/**
 * An image given to the model, base64 encoded.
 *
 * @since 0.1.0
 * @category input frames
 */
export const ImageBlock = Schema.Struct({
  type: Schema.Literal("image"),
  source: Schema.Struct({
    type: Schema.Literal("base64"),
    media_type: Schema.Literals(["image/jpeg", "image/png", "image/gif", "image/webp"]),
    data: Schema.String
  })
})

/**
 * What a user message may hold: text, or content blocks (text, images, documents).
 *
 * @since 0.1.0
 * @category input frames
 */
export const UserContent = Schema.Union([
  Schema.String,
  Schema.Array(Schema.Union([TextBlock, ImageBlock, AnyBlock]))
])
/**
 * The type of a value {@link UserContent} accepts.
 *
 * @since 0.1.0
 * @category input frames
 */
export type UserContent = typeof UserContent.Type

/**
 * A user turn written to stdin.
 *
 * @since 0.1.0
 * @category input frames
 */
export const UserMessage = Schema.Struct({
  type: Schema.Literal("user"),
  session_id: Schema.String,
  message: Schema.Struct({ role: Schema.Literal("user"), content: UserContent }),
  parent_tool_use_id: Schema.Null,
  uuid: Schema.optionalKey(Schema.String),
  /**
   * For a message written while a turn runs: `next` (the CLI's default) hands it to the model within the
   * running turn, `later` makes it a turn of its own after, `now` cuts the running turn short.
   */
  priority: Schema.optionalKey(Schema.Literals(["now", "next", "later"]))
})
/**
 * The type of a value {@link UserMessage} accepts.
 *
 * @since 0.1.0
 * @category input frames
 */
export type UserMessage = typeof UserMessage.Type

/**
 * Builds the user frame for a prompt.
 *
 * @since 0.1.0
 * @category input frames
 */
export const userMessage = (
  content: UserContent,
  options?: { readonly uuid?: string; readonly priority?: "now" | "next" | "later" }
): UserMessage => ({
  type: "user",
  session_id: "",
  message: { role: "user", content: typeof content === "string" ? [{ type: "text", text: content }] : content },
  parent_tool_use_id: null,
  ...(options?.uuid === undefined ? {} : { uuid: options.uuid }),
  ...(options?.priority === undefined ? {} : { priority: options.priority })
})

/**
 * Builds a control request.
 *
 * @since 0.1.0
 * @category input frames
 */
export const controlRequest = (
  requestId: string,
  request: { readonly subtype: string; readonly [key: string]: unknown }
) => ({ type: "control_request", request_id: requestId, request }) as const

/**
 * Builds a successful control response.
 *
 * @since 0.1.0
 * @category input frames
 */
export const controlSuccess = (requestId: string, response: unknown = {}) =>
  ({ type: "control_response", response: { subtype: "success", request_id: requestId, response } }) as const

/**
 * Builds an error control response.
 *
 * @since 0.1.0
 * @category input frames
 */
export const controlError = (requestId: string, error: string, errorCode?: string) =>
  ({
    type: "control_response",
    response: {
      subtype: "error",
      request_id: requestId,
      error,
      ...(errorCode === undefined ? {} : { error_code: errorCode })
    }
  }) as const

/**
 * Serialises a frame as one line of stream-json.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeLine = (frame: unknown): string => `${JSON.stringify(frame)}\n`

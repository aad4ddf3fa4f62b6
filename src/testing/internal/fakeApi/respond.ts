/**
 * How a scripted reply goes on the wire, as the Messages API sends it: SSE events on a streaming request
 * (`message_start`, the content blocks' deltas, `message_delta`, `message_stop`), one JSON message otherwise;
 * an error as a status and its body, or mid-stream as an SSE `error` event; a hang; a cut connection.
 */
import { Effect } from "effect"
import { awaitClose, type Res, sendJson, startSse, write, writeFlushed } from "./connection.ts"
import type { Block, ErrorType, Message, Reply, StopReason, ToolUseBlock } from "./replies.ts"
import { splitChunks } from "./replies.ts"

const sse = (type: string, data: object): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`

const sleepMs = (ms: number): Effect.Effect<void> => ms > 0 ? Effect.sleep(ms) : Effect.void

/** The ids and model a reply goes out with. */
export interface Resolved {
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

/** The Anthropic error body. */
export const errorBody = (errorType: ErrorType, msg: string, requestId: string) => ({
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

/** Sends `reply`: as SSE events on a streaming request, as one JSON message otherwise. */
export const respond = Effect.fnUntraced(function*(res: Res, reply: Reply, ids: Resolved, streaming: boolean) {
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

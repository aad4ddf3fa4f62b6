/**
 * Bytes to lines to frames to {@link ClaudeEvent.ClaudeEvent}s, as a pull-based
 * Stream: backpressure reaches the pipe, memory is bounded by the maximum line
 * size, and no line, however bad, ends the stream.
 *
 * @since 0.1.0
 */
import { Stream } from "effect"
import type { ClaudeEvent } from "./ClaudeEvent.ts"
import { fromEventFrame } from "./internal/frameEvents.ts"
import { type LineItem, LineSplitter } from "./internal/lineSplitter.ts"
import { maxDepth, textNestsDeeperThan } from "./internal/nesting.ts"

/**
 * One piece of the CLI's output as the splitter cuts it: a `Line` (its 1-based number and its text, CR and
 * the newline removed), or an `Oversized` report for a line past the limit (its number, its size in bytes,
 * and its first bytes as `head`), which {@link fromLineItem} turns into an `Oversized` diagnostic.
 *
 * @since 0.1.0
 * @category models
 */
export type { LineItem } from "./internal/lineSplitter.ts"
import * as Protocol from "./Protocol.ts"
import * as Transcript from "./Transcript.ts"
import * as TurnOutcome from "./TurnOutcome.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Lines longer than this many bytes are reported as `Oversized` and dropped. Default 16 MiB. */
  readonly maxLineBytes?: number | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxLineBytes = 16 * 1024 * 1024

const PREVIEW_CHARS = 500

// Events are built as plain objects: this is the hot path, and Data's
// constructors cost more than the rest of an event's decoding.
const make = (e: ClaudeEvent): ClaudeEvent => e

/**
 * Turns one decoded value into the events it stands for. An assistant frame
 * yields one event per content block, a user frame one per tool result; a
 * frame is never dropped, even with no blocks.
 *
 * @since 0.1.0
 * @category decoding
 */
export const fromDecoded = (decoded: Protocol.Decoded, line = 0): Array<ClaudeEvent> => {
  switch (decoded.kind) {
    case "system_init": {
      const frame = decoded.frame
      return [
        make({
          _tag: "SessionStarted",
          sessionId: frame.session_id,
          model: frame.model,
          cwd: frame.cwd,
          tools: frame.tools ?? [],
          frame
        })
      ]
    }
    case "api_retry": {
      const frame = decoded.frame
      return [
        make({
          _tag: "ApiRetry",
          attempt: frame.attempt,
          maxRetries: frame.max_retries,
          delayMs: frame.retry_delay_ms,
          status: frame.error_status ?? null,
          error: frame.error ?? null,
          frame
        })
      ]
    }
    case "permission_denied":
      return [make({ _tag: "PermissionDenied", frame: decoded.frame })]
    case "status":
      return [
        make({
          _tag: "Status",
          status: decoded.frame.status ?? null,
          compactResult: decoded.frame.compact_result,
          frame: decoded.frame
        })
      ]
    case "hook_started": {
      const frame = decoded.frame
      return [
        make({
          _tag: "HookStarted",
          hookId: frame.hook_id,
          hookName: frame.hook_name,
          hookEvent: frame.hook_event,
          frame
        })
      ]
    }
    case "hook_response": {
      const frame = decoded.frame
      return [
        make({
          _tag: "HookResponse",
          hookId: frame.hook_id,
          hookName: frame.hook_name,
          hookEvent: frame.hook_event,
          outcome: frame.outcome,
          exitCode: frame.exit_code ?? null,
          output: frame.output ?? frame.stdout ?? "",
          frame
        })
      ]
    }
    case "stream_event":
      return [fromStreamEvent(decoded.frame)]
    case "assistant":
      return fromAssistant(decoded.frame)
    case "user":
      return fromUser(decoded.frame)
    case "result":
      return [fromResult(decoded.frame)]
    case "control_request":
      return [
        make({
          _tag: "ControlRequest",
          requestId: decoded.frame.request_id,
          subtype: decoded.frame.request.subtype,
          frame: decoded.frame
        })
      ]
    case "conversation_reset":
      return [
        make({ _tag: "ConversationReset", newConversationId: decoded.frame.new_conversation_id, frame: decoded.frame })
      ]
    case "rate_limit_event":
      return [
        make({
          _tag: "RateLimit",
          status: decoded.frame.rate_limit_info?.status,
          resetsAt: decoded.frame.rate_limit_info?.resetsAt,
          frame: decoded.frame
        })
      ]
    case "system":
    case "control_response":
    case "control_cancel_request":
    case "keep_alive":
      return [make({ _tag: "Frame", frame: decoded.frame })]
    case "unknown":
      return [make({ _tag: "Unknown", type: decoded.frame.type, mismatch: decoded.mismatch, frame: decoded.frame })]
    case "not_a_frame":
      return [
        make({
          _tag: "Malformed",
          line,
          text: preview(JSON.stringify(decoded.value) ?? ""),
          error: "valid JSON, but not an object with a string `type`"
        })
      ]
    default:
      // `command_lifecycle` and the frames about tasks, tool progress and the session: one event each.
      return [fromEventFrame(decoded)]
  }
}

const fromStreamEvent = (frame: Protocol.StreamEventFrame): ClaudeEvent => {
  const event: { readonly type: string; readonly index?: unknown; readonly delta?: unknown } = frame.event
  const parentToolUseId = frame.parent_tool_use_id ?? null
  const index = typeof event.index === "number" ? event.index : 0
  if (event.type === "content_block_delta" && isDelta(event.delta)) {
    const delta = event.delta
    if (delta.type === "text_delta" && typeof delta.text === "string") {
      return make({ _tag: "TextDelta", text: delta.text, index, parentToolUseId, frame })
    }
    if (delta.type === "thinking_delta" && typeof delta.thinking === "string") {
      return make({ _tag: "ThinkingDelta", thinking: delta.thinking, index, parentToolUseId, frame })
    }
    if (delta.type === "input_json_delta" && typeof delta.partial_json === "string") {
      return make({ _tag: "ToolInputDelta", partialJson: delta.partial_json, index, parentToolUseId, frame })
    }
  }
  return make({ _tag: "StreamEvent", eventType: event.type, frame })
}

interface Delta {
  readonly type: unknown
  readonly text?: unknown
  readonly thinking?: unknown
  readonly partial_json?: unknown
}

const isDelta = (u: unknown): u is Delta => typeof u === "object" && u !== null && "type" in u

const fromAssistant = (frame: Protocol.AssistantFrame): Array<ClaudeEvent> => {
  const parentToolUseId = frame.parent_tool_use_id ?? null
  const messageId = frame.message.id
  const events = frame.message.content.map((block): ClaudeEvent => {
    if (Protocol.isTextBlock(block)) {
      return make({ _tag: "AssistantText", text: block.text, messageId, parentToolUseId, frame })
    }
    if (Protocol.isThinkingBlock(block)) {
      return make({ _tag: "AssistantThinking", thinking: block.thinking, messageId, frame })
    }
    if (Protocol.isToolUseBlock(block)) {
      return make({ _tag: "ToolUse", id: block.id, name: block.name, input: block.input, parentToolUseId, frame })
    }
    return make({ _tag: "AssistantBlock", block, frame })
  })
  return events.length > 0 ? events : [make({ _tag: "Frame", frame })]
}

const fromUser = (frame: Protocol.UserFrame): Array<ClaudeEvent> => {
  const content = frame.message.content
  const results = typeof content === "string" ?
    [] :
    content.filter(Protocol.isToolResultBlock).map((block) =>
      make({
        _tag: "ToolResult",
        toolUseId: block.tool_use_id,
        content: block.content,
        isError: block.is_error === true,
        frame
      })
    )
  return results.length > 0 ? results : [make({ _tag: "UserMessage", frame })]
}

const fromResult = (frame: Protocol.ResultFrame): ClaudeEvent =>
  make({
    _tag: "Result",
    sessionId: frame.session_id,
    subtype: frame.subtype,
    isError: frame.is_error,
    text: frame.result,
    costUsd: frame.total_cost_usd,
    usage: frame.usage,
    durationMs: frame.duration_ms,
    durationApiMs: frame.duration_api_ms,
    numTurns: frame.num_turns,
    error: TurnOutcome.fromResult(frame),
    frame
  })

const tooDeep =
  `nested deeper than ${maxDepth} levels of objects and arrays: dropped, since serialising it would overflow the stack`

const preview = (text: string) => (text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text)

// JSON.parse is the one thing here that throws; keep the throw inside this function.
const parseJson = (text: string): { readonly ok: true; readonly value: unknown } | {
  readonly ok: false
  readonly error: string
} => {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) }
  }
}

const fromParsed = (text: string, line: number, adapt: (value: unknown) => unknown): Array<ClaudeEvent> => {
  // Checked before parsing (a line of a few hundred characters is not even looked at): a frame nested this
  // deep would overflow the stack of whatever serialises or walks it next, the caller's code included.
  if (textNestsDeeperThan(text, maxDepth)) {
    return [make({ _tag: "Malformed", line, text: preview(text), error: tooDeep })]
  }
  const parsed = parseJson(text)
  if (!parsed.ok) return [make({ _tag: "Malformed", line, text: preview(text), error: parsed.error })]
  return fromDecoded(Protocol.decode(adapt(parsed.value)), line)
}

const asItIs = (value: unknown): unknown => value

/**
 * Turns one line of CLI output into events: a frame's events, or a `Malformed` diagnostic (not JSON, or
 * JSON nested deeper than 512 levels of objects and arrays).
 *
 * @since 0.1.0
 * @category decoding
 */
export const fromLine = (text: string, line = 0): Array<ClaudeEvent> => fromParsed(text, line, asItIs)

/**
 * {@link fromLine} for a line that may be an entry of a transcript file (`<session id>.jsonl` under the
 * CLI's `projects/`): an entry is read as the frame it records ({@link Transcript.toFrame}), so a `user` or
 * `assistant` entry gives the events the live stream gave; entries only transcripts hold (`queue-operation`,
 * `attachment`, `custom-title`, ...) are `Unknown` events, whole. A stream-json frame decodes as in
 * {@link fromLine}: the two forms are told apart line by line, by their keys.
 *
 * @since 0.1.0
 * @category decoding
 */
export const fromTranscriptLine = (text: string, line = 0): Array<ClaudeEvent> =>
  fromParsed(text, line, Transcript.toFrame)

/**
 * Turns one split line (or an oversized-line report) into events.
 *
 * @since 0.1.0
 * @category decoding
 */
export const fromLineItem = (item: LineItem, limit: number): Array<ClaudeEvent> =>
  item._tag === "Line"
    ? fromLine(item.text, item.line)
    : [make({ _tag: "Oversized", line: item.line, bytes: item.bytes, limit, head: preview(item.head) })]

const fromLineItems = (items: ReadonlyArray<LineItem>, limit: number): Array<ClaudeEvent> => {
  const events: Array<ClaudeEvent> = []
  for (const item of items) {
    for (const event of fromLineItem(item, limit)) events.push(event)
  }
  return events
}

// One read at a time: an upstream may hand over many reads at once (a pipe
// that was not drained, `Stream.fromIterable`), and splitting and decoding a
// whole batch in one go holds every line and frame of it alive together: memory
// beyond the line limit, and GC time once they outlive the young generation.
// Each read's lines are handed on before the next read is split.
const readByRead = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>) => Stream.rechunk(bytes, 1)

/**
 * Splits bytes into lines (CRLF and split UTF-8 handled, blank lines skipped but numbered),
 * reporting lines over the limit without holding them.
 *
 * @since 0.1.0
 * @category streams
 */
export const lines = (options?: Options) => <E, R>(bytes: Stream.Stream<Uint8Array, E, R>) => {
  const limit = options?.maxLineBytes ?? defaultMaxLineBytes
  return Stream.mapAccumArray(
    readByRead(bytes),
    () => new LineSplitter(limit),
    (splitter, chunks) => [splitter, splitter.pushAll(chunks)],
    { onHalt: (splitter) => splitter.flush() }
  )
}

/**
 * The whole pipeline: CLI stdout bytes in, events out.
 *
 * @since 0.1.0
 * @category streams
 */
export const events = (options?: Options) => <E, R>(bytes: Stream.Stream<Uint8Array, E, R>) => {
  const limit = options?.maxLineBytes ?? defaultMaxLineBytes
  return Stream.mapAccumArray(
    readByRead(bytes),
    () => new LineSplitter(limit),
    (splitter, chunks) => [splitter, fromLineItems(splitter.pushAll(chunks), limit)],
    { onHalt: (splitter) => fromLineItems(splitter.flush(), limit) }
  )
}

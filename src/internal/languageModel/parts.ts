/**
 * A turn's `ClaudeEvent`s as effect/ai response parts, whole (`generateText`) or as they stream
 * (`streamText`).
 *
 * - The main agent's text and thinking become text and reasoning parts (a subagent's stay inside its tool).
 * - A call of a served tool becomes a provider-executed tool call and its result, so effect/ai does not run
 *   it again; the CLI's own tools (Bash, Read, ...) are not effect/ai tools and are not reported as parts.
 * - The session id is the response id (`response-metadata`), the turn's `usage` the finish part's usage.
 */
import { Predicate } from "effect"
import type { Response } from "effect/ai"
import type { ClaudeEvent } from "../../ClaudeEvent.ts"
import type { ServedToolkit } from "./toolkit.ts"

type ResultEvent = Extract<ClaudeEvent, { readonly _tag: "Result" }>

const count = (usage: Readonly<Record<string, unknown>> | undefined, key: string): number | undefined => {
  const value = usage?.[key]
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined
}

/** The finish part of a turn's result. */
export const finishOf = (result: ResultEvent): Response.FinishPartEncoded => {
  const uncached = count(result.usage, "input_tokens")
  const cacheRead = count(result.usage, "cache_read_input_tokens")
  const cacheWrite = count(result.usage, "cache_creation_input_tokens")
  const total = [uncached, cacheRead, cacheWrite].reduce<number>((sum, n) => sum + (n ?? 0), 0)
  return {
    type: "finish",
    reason: result.subtype === "error_max_turns"
      ? "length"
      : result.isError
      ? "error"
      : "stop",
    usage: {
      inputTokens: { uncached, total, cacheRead, cacheWrite },
      outputTokens: { total: count(result.usage, "output_tokens") }
    },
    metadata: {
      "effect-claude-code": {
        sessionId: result.sessionId,
        subtype: result.subtype,
        ...(result.costUsd === undefined ? {} : { costUsd: result.costUsd }),
        ...(result.numTurns === undefined ? {} : { numTurns: result.numTurns })
      }
    }
  }
}

const metadataOf = (
  event: Extract<ClaudeEvent, { readonly _tag: "SessionStarted" }>,
  now: Date
): Response.ResponseMetadataPartEncoded => ({
  type: "response-metadata",
  id: event.sessionId,
  ...(event.model === undefined ? {} : { modelId: event.model }),
  timestamp: now.toISOString()
})

/** The parts of a served tool's call and result, or none for any other tool. */
const toolParts = (
  event: Extract<ClaudeEvent, { readonly _tag: "ToolUse" | "ToolResult" }>,
  toolkit: ServedToolkit,
  calls: Map<string, string>
): Array<Response.ToolCallPartEncoded | Response.ToolResultPartEncoded> => {
  if (event._tag === "ToolUse") {
    const name = toolkit.toolOf(event.name)
    if (name === undefined) return []
    calls.set(event.id, name)
    return [{ type: "tool-call", id: event.id, name, params: event.input, providerExecuted: true }]
  }
  const name = calls.get(event.toolUseId)
  const result = toolkit.results.get(event.toolUseId)
  if (name === undefined) return []
  return [{
    type: "tool-result",
    id: event.toolUseId,
    name,
    // What the handler gave, as effect/ai encodes it; what the CLI reported when the call never ran.
    result: result?.encodedResult ?? event.content,
    isFailure: result?.isFailure ?? event.isError,
    providerExecuted: true
  }]
}

/**
 * A whole turn's parts, for `generateText`. With `structured` (effect/ai's `generateObject`), the text is
 * the turn's structured output as JSON, the one text effect/ai decodes, and the model's words around its
 * `StructuredOutput` call are left out; a turn without one has no text, which effect/ai reports.
 */
export const partsOf = (
  events: Iterable<ClaudeEvent>,
  toolkit: ServedToolkit,
  now: Date,
  structured = false
): Array<Response.PartEncoded> => {
  const parts: Array<Response.PartEncoded> = []
  const calls = new Map<string, string>()
  for (const event of events) {
    switch (event._tag) {
      case "SessionStarted":
        if (!parts.some((part) => part.type === "response-metadata")) parts.push(metadataOf(event, now))
        break
      case "AssistantText":
        if (event.parentToolUseId === null && !structured) parts.push({ type: "text", text: event.text })
        break
      case "AssistantThinking":
        parts.push({ type: "reasoning", text: event.thinking })
        break
      case "ToolUse":
      case "ToolResult":
        for (const part of toolParts(event, toolkit, calls)) parts.push(part)
        break
      case "Result":
        if (structured && event.frame.structured_output !== undefined) {
          parts.push({ type: "text", text: JSON.stringify(event.frame.structured_output) })
        }
        parts.push(finishOf(event))
        break
      default:
        break
    }
  }
  return parts
}

/**
 * Turns events into stream parts as they arrive, for `streamText` (the turn runs with partial messages):
 * deltas open a text or reasoning part of their content block, the block's end closes it.
 */
export const streamer = (toolkit: ServedToolkit, now: () => Date) => {
  const calls = new Map<string, string>()
  const open = new Map<string, "text" | "reasoning">()
  let message = 0
  let started = false
  const close = (id: string): Response.StreamPartEncoded | undefined => {
    const kind = open.get(id)
    if (kind === undefined) return undefined
    open.delete(id)
    return kind === "text" ? { type: "text-end", id } : { type: "reasoning-end", id }
  }
  const closeAll = () => [...open.keys()].flatMap((id) => close(id) ?? [])
  const delta = (kind: "text" | "reasoning", index: number, text: string): Array<Response.StreamPartEncoded> => {
    const id = `${kind}-${message}-${index}`
    const start: Array<Response.StreamPartEncoded> = open.has(id)
      ? []
      : [kind === "text" ? { type: "text-start", id } : { type: "reasoning-start", id }]
    open.set(id, kind)
    return [
      ...start,
      kind === "text" ? { type: "text-delta", id, delta: text } : { type: "reasoning-delta", id, delta: text }
    ]
  }
  return (event: ClaudeEvent): Array<Response.StreamPartEncoded> => {
    switch (event._tag) {
      case "SessionStarted":
        if (started) return []
        started = true
        return [metadataOf(event, now())]
      case "StreamEvent": {
        if (event.eventType === "message_start") message++
        const frame = event.frame.event
        const index = Predicate.hasProperty(frame, "index") ? frame.index : undefined
        if (event.eventType !== "content_block_stop" || typeof index !== "number") return []
        return [close(`text-${message}-${index}`), close(`reasoning-${message}-${index}`)].flatMap((part) =>
          part === undefined ? [] : [part]
        )
      }
      case "TextDelta":
        return event.parentToolUseId === null ? delta("text", event.index, event.text) : []
      case "ThinkingDelta":
        return event.parentToolUseId === null ? delta("reasoning", event.index, event.thinking) : []
      case "ToolUse":
      case "ToolResult":
        return toolParts(event, toolkit, calls)
      case "Result":
        return [...closeAll(), finishOf(event)]
      default:
        return []
    }
  }
}

/**
 * An effect/ai `Prompt` as one turn of a Claude Code conversation.
 *
 * The CLI keeps a conversation's history itself and takes one user message per turn, so a prompt is mapped:
 * - its system messages become the turn's appended system prompt (`appendSystemPrompt`: part of the pool
 *   key, so each system prompt has warm processes of its own);
 * - its last user message is the turn's prompt (text, images as image blocks, PDFs as document blocks);
 * - everything before it (earlier user and assistant messages, tool calls and results) is written into the
 *   prompt as a transcript the model reads first, since a new conversation has no history of its own.
 *
 * A prompt that continues one of ours (`previousResponseId` with an incremental prompt, as
 * `ResponseIdTracker` gives it) resumes that conversation instead: only the messages after it are sent.
 */
import type { Prompt } from "effect/ai"
import { Base64 } from "effect/encoding"
import type * as Protocol from "../../Protocol.ts"

/** One turn, from a prompt. */
export interface Turn {
  readonly prompt: Protocol.UserContent
  /** The prompt's system messages, joined; `undefined` when it has none. */
  readonly system: string | undefined
}

const json = (value: unknown): string => JSON.stringify(value) ?? "null"

const fileData = (data: string | Uint8Array | URL) =>
  data instanceof URL
    ? { type: "url", url: data.href }
    : { type: "base64", data: typeof data === "string" ? data : Base64.encode(data) }

type Block = { readonly type: string } & Readonly<Record<string, unknown>>

const fileBlock = (part: Prompt.FilePart): Block => {
  const source = fileData(part.data)
  const withMediaType = source.type === "base64" ? { ...source, media_type: part.mediaType } : source
  if (part.mediaType.startsWith("image/")) return { type: "image", source: withMediaType }
  if (part.mediaType === "application/pdf") return { type: "document", source: withMediaType }
  return { type: "text", text: `[a file ${part.fileName ?? ""} of type ${part.mediaType}, not readable here]` }
}

const describePart = (part: Prompt.Part): string => {
  switch (part.type) {
    case "text":
    case "reasoning":
      return part.text
    case "file":
      return `[file ${part.fileName ?? part.mediaType}]`
    case "tool-call":
      return `[called ${part.name} ${json(part.params)}]`
    case "tool-result":
      return `[${part.name} ${part.isFailure ? "failed" : "returned"} ${json(part.result)}]`
    default:
      return ""
  }
}

const speaker = { user: "User", assistant: "Assistant", tool: "Tool" } as const

/** Earlier messages, as a transcript the model reads before the prompt. */
const transcript = (messages: ReadonlyArray<Prompt.Message>): string | undefined => {
  const lines = messages.flatMap((message) => {
    if (message.role === "system") return []
    const text = message.content.map(describePart).filter((line) => line !== "").join("\n")
    return text === "" ? [] : [`${speaker[message.role]}: ${text}`]
  })
  return lines.length === 0
    ? undefined
    : `The conversation so far (you are the Assistant):\n\n${lines.join("\n\n")}\n\nThe user now says:`
}

/** The turn of a prompt; `undefined` when it has no user message to answer. */
export const turnOf = (prompt: Prompt.Prompt): Turn | undefined => {
  const messages = prompt.content
  const system = messages.flatMap((message) => (message.role === "system" ? [message.content] : []))
  const last = messages.findLastIndex((message) => message.role === "user")
  const user = messages[last]
  if (user === undefined || user.role !== "user") return undefined
  const earlier = transcript(messages.filter((_, index) => index !== last))
  const blocks: Array<Block> = [
    ...(earlier === undefined ? [] : [{ type: "text", text: earlier }]),
    ...user.content.map((part) => (part.type === "text" ? { type: "text", text: part.text } : fileBlock(part)))
  ]
  const onlyText = blocks.every((block) => block.type === "text")
  return {
    prompt: onlyText && blocks.length === 1 && user.content[0]?.type === "text" ? user.content[0].text : blocks,
    system: system.length === 0 ? undefined : system.join("\n\n")
  }
}

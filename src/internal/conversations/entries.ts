/**
 * Reading a transcript's text as entries: JSON objects, one a line; lines that are not (a write cut off by a
 * crash, the cut ends of a head or tail read) are reported apart, never fatal.
 */
import { Option, Predicate } from "effect"

/** One parsed line of a transcript. */
export type Entry = Readonly<Record<string, unknown>>

/** A line that is not a JSON object: its 1-based number and its first characters. */
export interface BadLine {
  readonly line: number
  readonly text: string
}

// A line that is not JSON (a write cut off by a crash) is not an entry.
const parseJson = Option.liftThrowable((text: string): unknown => JSON.parse(text))
const parse = (text: string): unknown => Option.getOrUndefined(parseJson(text))

/** The entries of `text`, in order, and the lines that are not entries. */
export const entriesOf = (text: string): { readonly entries: Array<Entry>; readonly bad: Array<BadLine> } => {
  const entries: Array<Entry> = []
  const bad: Array<BadLine> = []
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]?.trim() ?? ""
    if (line === "") continue
    const value = parse(line)
    if (Predicate.isObject(value) && !Array.isArray(value)) entries.push(value)
    else bad.push({ line: i + 1, text: line.slice(0, 200) })
  }
  return { entries, bad }
}

/** A string field of an entry, `undefined` when absent, empty or not a string. */
export const text = (entry: Entry | undefined, field: string): string | undefined => {
  const value = entry?.[field]
  return typeof value === "string" && value !== "" ? value : undefined
}

/** The last entry (of `type`, when given) with a non-empty string `field`: that field. */
export const lastText = (entries: ReadonlyArray<Entry>, field: string, type?: string): string | undefined => {
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]
    if (type !== undefined && entry?.["type"] !== type) continue
    const value = text(entry, field)
    if (value !== undefined) return value
  }
  return undefined
}

/** The first entry with a non-empty string `field`: that field. */
export const firstText = (entries: ReadonlyArray<Entry>, field: string): string | undefined => {
  for (const entry of entries) {
    const value = text(entry, field)
    if (value !== undefined) return value
  }
  return undefined
}

const commandName = /<command-name>(.*?)<\/command-name>/
const markup = /^(?:\s*<[a-z][\w-]*[\s>]|\[Request interrupted by user[^\]]*\])/
const maxPromptChars = 200

/**
 * The first prompt a person typed, as the CLI's session picker shows it: the text of the first `user` entry
 * that is not meta, a compaction summary or a tool result, on one line, cut at 200 characters; text that
 * starts with markup (`<system-reminder>`, ...) is skipped; a slash command's name is the fallback.
 */
export const firstPrompt = (entries: ReadonlyArray<Entry>): string | undefined => {
  let fallback: string | undefined
  for (const entry of entries) {
    if (entry["type"] !== "user" || entry["isMeta"] === true || entry["isCompactSummary"] === true) continue
    const message = entry["message"]
    const content = Predicate.isObject(message) ? message["content"] : undefined
    const texts: Array<string> = []
    if (typeof content === "string") texts.push(content)
    else if (Array.isArray(content)) {
      if (content.some((block) => Predicate.isObject(block) && block["type"] === "tool_result")) continue
      for (const block of content) {
        if (Predicate.isObject(block) && block["type"] === "text" && typeof block["text"] === "string") {
          texts.push(block["text"])
        }
      }
    }
    for (const raw of texts) {
      const line = raw.replaceAll("\n", " ").trim()
      if (line === "") continue
      const command = commandName.exec(line)
      if (command !== null) {
        fallback ??= command[1]
        continue
      }
      if (markup.test(line)) continue
      return line.length > maxPromptChars ? `${line.slice(0, maxPromptChars).trim()}…` : line
    }
  }
  return fallback
}

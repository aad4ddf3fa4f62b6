/**
 * A conversation's summary from the first and last 64 KiB of its transcript, as the Agent SDK's
 * `listSessions` reads it: a transcript can hold megabytes (the CLI writes its whole system prompt into
 * it), and what a listing shows sits at its ends.
 */
import { entriesOf, type Entry, firstPrompt, firstText, lastText, text } from "./entries.ts"

/**
 * A conversation, as `listSessions` and `getSessionInfo` describe it (the Agent SDK's `SDKSessionInfo`).
 *
 * @since 0.1.0
 * @category models
 */
export interface SessionInfo {
  /** The session id (a UUID): what `resume` takes. */
  readonly sessionId: string
  /** What to show for it: its title (set by a rename, or the CLI's own), else its last or first prompt. */
  readonly summary: string
  /** When its transcript last changed, in milliseconds since the epoch. */
  readonly lastModified: number
  /** The transcript's size in bytes. */
  readonly fileSize: number
  /** The title a rename gave it (`renameSession`, the CLI's `/rename`), else the CLI's generated title. */
  readonly customTitle: string | undefined
  /** The first prompt a person typed, on one line, at most 200 characters. */
  readonly firstPrompt: string | undefined
  /** The git branch the CLI last recorded. */
  readonly gitBranch: string | undefined
  /** The working directory it ran in. */
  readonly cwd: string | undefined
  /** Its tag (`tagSession`); `undefined` when none or cleared. */
  readonly tag: string | undefined
  /** When it started (its first entry's timestamp), in milliseconds since the epoch. */
  readonly createdAt: number | undefined
}

/** How many bytes of each end of a transcript a summary reads. */
export const endBytes = 64 * 1024

/** The two ends of a transcript: the whole text when it is no longer than {@link endBytes}. */
export interface Ends {
  readonly head: string
  readonly tail: string
  /** Whether `head` and `tail` are the whole file. */
  readonly whole: boolean
  readonly size: number
  readonly mtime: number
}

/** The entries of both ends, without the lines the cuts split. */
export const endEntries = (ends: Ends): { readonly head: Array<Entry>; readonly tail: Array<Entry> } => {
  if (ends.whole) {
    const entries = entriesOf(ends.head).entries
    return { head: entries, tail: entries }
  }
  const head = ends.head.slice(0, ends.head.lastIndexOf("\n") + 1)
  const tail = ends.tail.slice(ends.tail.indexOf("\n") + 1)
  return { head: entriesOf(head).entries, tail: entriesOf(tail).entries }
}

const programmatic = new Set(["sdk-cli", "sdk-ts", "sdk-py"])

/** Whether the conversation was run by a program (the CLI in print mode, an SDK), not typed in a terminal. */
export const isProgrammatic = (head: ReadonlyArray<Entry>): boolean => {
  const entrypoint = firstText(head, "entrypoint")
  return entrypoint !== undefined && programmatic.has(entrypoint)
}

/** The title a conversation shows: the last rename, else the CLI's generated title. */
export const titleOf = (head: ReadonlyArray<Entry>, tail: ReadonlyArray<Entry>): string | undefined =>
  lastText(tail, "customTitle", "custom-title") ?? lastText(head, "customTitle", "custom-title") ??
    lastText(tail, "aiTitle", "ai-title") ?? lastText(head, "aiTitle", "ai-title")

const millis = (iso: string | undefined): number | undefined => {
  const time = iso === undefined ? Number.NaN : Date.parse(iso)
  return Number.isNaN(time) ? undefined : time
}

/**
 * The summary of a transcript's ends; `undefined` for a subagent's transcript (its first entry is a
 * sidechain) or one with nothing to show (no title and no prompt).
 */
export const summarize = (
  sessionId: string,
  ends: Ends,
  projectPath: string | undefined
): SessionInfo | undefined => {
  const { head, tail } = endEntries(ends)
  if (head[0]?.["isSidechain"] === true) return undefined
  const customTitle = titleOf(head, tail)
  const prompt = firstPrompt(head)
  const summary = customTitle ?? lastText(tail, "lastPrompt") ?? lastText(tail, "summary", "summary") ?? prompt
  if (summary === undefined) return undefined
  const lastTag = tail.findLast((entry) => entry["type"] === "tag")
  return {
    sessionId,
    summary,
    lastModified: ends.mtime,
    fileSize: ends.size,
    customTitle,
    firstPrompt: prompt,
    gitBranch: lastText(tail, "gitBranch") ?? firstText(head, "gitBranch"),
    cwd: lastText(tail, "relocatedCwd", "relocated") ?? firstText(head, "cwd") ?? projectPath,
    tag: text(lastTag, "tag"),
    createdAt: millis(firstText(head, "timestamp"))
  }
}

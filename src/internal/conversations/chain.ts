/**
 * The conversation a transcript holds, and its fork. A transcript is a tree: every message entry names its
 * parent (`parentUuid`), a rewind or an edited prompt starts a branch, and the conversation is the chain from
 * the latest message back to the root. Forking copies the entries under fresh ids, so the CLI resumes the
 * copy as a conversation of its own.
 */
import { type Entry, text } from "./entries.ts"

const chained = new Set(["user", "assistant", "attachment", "system", "progress"])

/** The entries that take part in the tree: messages, attachments, system notes and progress, with a uuid. */
export const treeEntries = (entries: ReadonlyArray<Entry>): Array<Entry> =>
  entries.filter((entry) => typeof entry["type"] === "string" && chained.has(entry["type"]) && text(entry, "uuid"))

const uuidOf = (entry: Entry): string => text(entry, "uuid") ?? ""
const parentOf = (entry: Entry): string | undefined => text(entry, "parentUuid")
const isMessage = (entry: Entry): boolean => entry["type"] === "user" || entry["type"] === "assistant"
const isMain = (entry: Entry): boolean => entry["isSidechain"] !== true && entry["teamName"] === undefined

/**
 * The chain of the latest message: from the newest leaf of the main conversation, up to its nearest message,
 * then back to the root, oldest first.
 */
export const conversation = (tree: ReadonlyArray<Entry>): Array<Entry> => {
  const byUuid = new Map<string, Entry>()
  for (const entry of tree) byUuid.set(uuidOf(entry), entry)
  const parents = new Set<string>()
  for (const entry of byUuid.values()) {
    const parent = parentOf(entry)
    if (parent !== undefined && isMain(entry) && entry["type"] !== "progress") parents.add(parent)
  }
  const leaves = tree.filter((entry) => isMain(entry) && entry["type"] !== "progress" && !parents.has(uuidOf(entry)))
  let last: Entry | undefined
  for (let i = leaves.length - 1; i >= 0 && last === undefined; i--) {
    const seen = new Set<string>()
    for (let at = leaves[i]; at !== undefined && !seen.has(uuidOf(at));) {
      if (isMessage(at)) {
        last = at
        break
      }
      seen.add(uuidOf(at))
      const parent = parentOf(at)
      at = parent === undefined ? undefined : byUuid.get(parent)
    }
  }
  const chain: Array<Entry> = []
  const seen = new Set<string>()
  for (let at = last; at !== undefined && !seen.has(uuidOf(at));) {
    seen.add(uuidOf(at))
    chain.push(at)
    const parent = parentOf(at)
    at = parent === undefined ? undefined : byUuid.get(parent)
  }
  return chain.reverse()
}

/**
 * Whether a chained entry is one of the conversation's messages as `getSessionMessages` returns them: a
 * `user` or `assistant` entry (or `system`, when asked) of the main conversation, not meta.
 */
export const isShown = (entry: Entry, includeSystemMessages: boolean): boolean =>
  (isMessage(entry) || (includeSystemMessages && entry["type"] === "system")) && entry["isMeta"] !== true &&
  isMain(entry)

/** What a fork is made of: the source's entries, where to cut them, the new ids, the title and the time. */
export interface ForkInput {
  readonly sourceId: string
  readonly tree: ReadonlyArray<Entry>
  readonly upToMessageId: string | undefined
  readonly forkId: string
  readonly newUuid: () => string
  readonly title: string
  readonly now: string
}

/**
 * The entries of a fork, or why there are none: `empty` (the source holds no message of the main
 * conversation) or `messageNotFound` (`upToMessageId` is not one of its entries). Every entry gets a fresh
 * uuid and the fork's session id, its parent is remapped (past the progress entries, which are left out), it
 * records where it came from (`forkedFrom`), and the fork ends with its title (`custom-title`).
 */
export const forkEntries = (
  input: ForkInput
): { readonly _tag: "Forked"; readonly entries: Array<Entry> } | { readonly _tag: "Empty" | "MessageNotFound" } => {
  let source = input.tree.filter((entry) => entry["isSidechain"] !== true)
  if (source.length === 0) return { _tag: "Empty" }
  if (input.upToMessageId !== undefined) {
    const at = source.findIndex((entry) => uuidOf(entry) === input.upToMessageId)
    if (at === -1) return { _tag: "MessageNotFound" }
    source = source.slice(0, at + 1)
  }
  const byUuid = new Map(source.map((entry) => [uuidOf(entry), entry]))
  const ids = new Map(source.map((entry) => [uuidOf(entry), input.newUuid()]))
  const kept = source.filter((entry) => entry["type"] !== "progress")
  if (kept.length === 0) return { _tag: "Empty" }
  // The nearest ancestor the fork keeps: progress entries are left out, their children hang on their parent.
  const keptParent = (entry: Entry): string | null => {
    const seen = new Set<string>()
    for (let parent = parentOf(entry); parent !== undefined && !seen.has(parent);) {
      seen.add(parent)
      const above = byUuid.get(parent)
      if (above === undefined) return null
      if (above["type"] !== "progress") return ids.get(parent) ?? null
      parent = parentOf(above)
    }
    return null
  }
  const entries: Array<Entry> = kept.map((entry, index) => {
    const logical = text(entry, "logicalParentUuid")
    const forkedFrom = entry["forkedFrom"]
    const earlier = typeof forkedFrom === "object" && forkedFrom !== null && "sessionId" in forkedFrom &&
        typeof forkedFrom.sessionId === "string"
      ? forkedFrom.sessionId
      : undefined
    return {
      ...entry,
      uuid: ids.get(uuidOf(entry)),
      parentUuid: keptParent(entry),
      ...(logical === undefined ? {} : { logicalParentUuid: ids.get(logical) ?? null }),
      sessionId: input.forkId,
      timestamp: index === kept.length - 1 ? input.now : entry["timestamp"],
      isSidechain: false,
      ...(entry["type"] === "assistant"
        ? { requestSessionId: text(entry, "requestSessionId") ?? earlier ?? text(entry, "sessionId") }
        : {}),
      forkedFrom: { sessionId: input.sourceId, messageUuid: uuidOf(entry) }
    }
  })
  entries.push({
    type: "custom-title",
    sessionId: input.forkId,
    customTitle: input.title,
    uuid: input.newUuid(),
    timestamp: input.now
  })
  return { _tag: "Forked", entries }
}

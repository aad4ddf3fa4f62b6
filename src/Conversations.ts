/**
 * The Claude Code CLI's conversations on disk, with the Agent SDK's names and meaning: list those of a
 * working directory (or of every project), read one's messages as {@link ClaudeEvent.ClaudeEvent}s, fork,
 * rename, tag and delete them. The CLI keeps each conversation as a transcript, JSONL at
 * `<config dir>/projects/<cwd mangled>/<session id>.jsonl` ({@link Transcript}); `--resume <id>` carries a
 * conversation on from that file alone, so what is done here is what the CLI sees next.
 *
 * Observed on CLI 2.1.329: a rename appends a `custom-title` entry and the CLI keeps the last one; a fork is a
 * new file of the source's entries under fresh ids, which the CLI resumes with the earlier turns in its
 * request; a deleted conversation cannot be resumed ("No conversation found with session ID").
 *
 * @since 0.1.0
 */
import { Config, Context, Effect, FileSystem, Layer, Option, Path, Schema, Stream } from "effect"
import type { ClaudeEvent } from "./ClaudeEvent.ts"
import { conversation, forkEntries, isShown, treeEntries } from "./internal/conversations/chain.ts"
import { entriesOf, type Entry, firstPrompt, text } from "./internal/conversations/entries.ts"
import {
  endBytes,
  endEntries,
  type Ends,
  isProgrammatic,
  type SessionInfo,
  summarize,
  titleOf
} from "./internal/conversations/summary.ts"
import * as Protocol from "./Protocol.ts"
import * as StreamHandler from "./StreamHandler.ts"
import * as Transcript from "./Transcript.ts"

export type { SessionInfo } from "./internal/conversations/summary.ts"

/**
 * Why an operation on a conversation failed: `NotFound` (no transcript of that id in the project, or in any),
 * `InvalidArgument` (a session id that is not a UUID, an empty title or tag), `MessageNotFound` (a fork's
 * `upToMessageId` is not in the conversation), `NothingToFork` (the transcript holds no message), `Unreadable`
 * / `Unwritable` (the file system refused).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConversationError extends Schema.TaggedError<ConversationError>(
  "effect-claude-code/Conversations/ConversationError"
)("ConversationError", {
  reason: Schema.Literals([
    "NotFound",
    "InvalidArgument",
    "MessageNotFound",
    "NothingToFork",
    "Unreadable",
    "Unwritable"
  ]),
  sessionId: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.reason} (session ${this.sessionId}): ${this.detail}`
  }
}

/**
 * Where to look: `dir`, a project's working directory (resolved as the CLI resolves it, symlinks followed);
 * every project when omitted. The Agent SDK also looks in the git worktrees of `dir`; this does not.
 *
 * @since 0.1.0
 * @category models
 */
export interface DirOptions {
  readonly dir?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ListSessionsOptions extends DirOptions {
  /** At most this many, newest first. */
  readonly limit?: number | undefined
  /** Skip this many of the sorted list first. */
  readonly offset?: number | undefined
  /** Include conversations run by a program (print mode, the SDKs, this library). Default `true`. */
  readonly includeProgrammatic?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface GetSessionMessagesOptions extends DirOptions {
  readonly limit?: number | undefined
  readonly offset?: number | undefined
  /** Include the conversation's `system` entries (compaction boundaries, notices). Default `false`. */
  readonly includeSystemMessages?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ForkSessionOptions extends DirOptions {
  /** Fork up to this entry's `uuid` ({@link SessionMessage} `uuid`), inclusive; the whole conversation when omitted. */
  readonly upToMessageId?: string | undefined
  /** The fork's title; by default the source's title (or first prompt) and " (fork)". */
  readonly title?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ForkSessionResult {
  /** The fork's session id: what `resume` takes. */
  readonly sessionId: string
}

/**
 * One message of a conversation (the Agent SDK's `SessionMessage`), with the events the live stream gave
 * for it: an assistant entry's text, thinking and tool calls, a user entry's tool results or its prompt.
 *
 * @since 0.1.0
 * @category models
 */
export interface SessionMessage {
  readonly type: "user" | "assistant" | "system"
  readonly uuid: string
  readonly sessionId: string
  /** The entry it answers or follows; `null` for the first. */
  readonly parentUuid: string | null
  /** The API message as the transcript holds it (`role`, `content`, ...); `undefined` for system entries. */
  readonly message: unknown
  readonly parentToolUseId: string | null
  readonly timestamp: string | undefined
  /** The message decoded as the stream decodes the frame it was: never empty, unknown shapes kept whole. */
  readonly events: ReadonlyArray<ClaudeEvent>
  /** The transcript's entry, every field. */
  readonly entry: Readonly<Record<string, unknown>>
}

/**
 * The CLI's conversations under one config directory.
 *
 * @example
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Console, Effect, Layer, Stream } from "effect"
 * import { Claude, Conversations } from "effect-claude-code"
 *
 * const program = Effect.gen(function*() {
 *   const conversations = yield* Conversations.Conversations
 *   const [latest] = yield* conversations.listSessions({ dir: "/work/project", limit: 1 })
 *   if (latest === undefined) return
 *   for (const message of yield* conversations.getSessionMessages(latest.sessionId)) {
 *     for (const event of message.events) {
 *       if (event._tag === "AssistantText") yield* Console.log(event.text)
 *     }
 *   }
 *   // Carry on a copy of it, leaving the conversation itself as it is.
 *   const { sessionId } = yield* conversations.forkSession(latest.sessionId, { title: "Second try" })
 *   yield* Claude.query("Answer again, shorter.", { resume: sessionId, cwd: "/work/project" }).pipe(Stream.runDrain)
 * })
 *
 * program.pipe(
 *   Effect.provide(Layer.merge(Claude.layer, Conversations.layer().pipe(Layer.provide(NodeServices.layer)))),
 *   Effect.runPromise
 * )
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Conversations extends Context.Service<Conversations, {
  /** The CLI's config directory the conversations are read from. */
  readonly configDir: string
  /** The conversations, newest first (by their transcript's modification time). */
  readonly listSessions: (options?: ListSessionsOptions) => Effect.Effect<ReadonlyArray<SessionInfo>>
  /** One conversation's summary; `None` when there is none of that id (or it is a subagent's, or empty). */
  readonly getSessionInfo: (sessionId: string, options?: DirOptions) => Effect.Effect<Option.Option<SessionInfo>>
  /** The conversation's messages, oldest first: the chain of its latest message, as the CLI resumes it. */
  readonly getSessionMessages: (
    sessionId: string,
    options?: GetSessionMessagesOptions
  ) => Effect.Effect<ReadonlyArray<SessionMessage>, ConversationError>
  /**
   * Every line of the transcript as events, in file order: what `decode` prints for it. Entries only a
   * transcript holds are `Unknown` events, whole; a line that is not JSON is a `Malformed` diagnostic.
   */
  readonly readTranscript: (sessionId: string, options?: DirOptions) => Stream.Stream<ClaudeEvent, ConversationError>
  /** Copies the conversation (or its start) into a new one, with fresh ids; the CLI resumes it by its id. */
  readonly forkSession: (
    sessionId: string,
    options?: ForkSessionOptions
  ) => Effect.Effect<ForkSessionResult, ConversationError>
  /** Gives the conversation a title: appends a `custom-title` entry, as the CLI's `/rename` does. */
  readonly renameSession: (
    sessionId: string,
    title: string,
    options?: DirOptions
  ) => Effect.Effect<void, ConversationError>
  /** Tags the conversation (`null` clears the tag): appends a `tag` entry. */
  readonly tagSession: (
    sessionId: string,
    tag: string | null,
    options?: DirOptions
  ) => Effect.Effect<void, ConversationError>
  /** Removes the transcript and the conversation's directory (its subagents' transcripts). */
  readonly deleteSession: (sessionId: string, options?: DirOptions) => Effect.Effect<void, ConversationError>
}>()("effect-claude-code/Conversations") {}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Whether a string is a session id (a UUID), as the CLI names its transcripts.
 *
 * @since 0.1.0
 * @category guards
 */
export const isSessionId = (s: string): boolean => uuidPattern.test(s)

interface Located {
  readonly file: string
  readonly projectDir: string
  readonly projectPath: string | undefined
}

const failWith = (reason: ConversationError["reason"], sessionId: string, detail: string) =>
  Effect.fail(new ConversationError({ reason, sessionId, detail }))

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const decoder = new TextDecoder()

/**
 * Conversations under `options.configDir`, else under the CLI's config directory as the environment names it
 * (`Config`: `CLAUDE_CONFIG_DIR`, else `$HOME/.claude`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(options?: { readonly configDir?: string | undefined }) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const configDir = options?.configDir ?? (yield* configDirFromConfig)
  const projects = path.join(configDir, "projects")

  const projectDirs = Effect.fnUntraced(function*(dir: string | undefined) {
    if (dir === undefined) {
      const names = yield* fs.readDirectory(projects).pipe(Effect.orElseSucceed((): ReadonlyArray<string> => []))
      return names.map((name) => ({ projectDir: path.join(projects, name), projectPath: undefined }))
    }
    const real = yield* fs.realPath(dir).pipe(Effect.orElseSucceed(() => path.resolve(dir)))
    const names = [...new Set([Transcript.projectDirName(real), Transcript.projectDirName(path.resolve(dir))])]
    return names.map((name) => ({ projectDir: path.join(projects, name), projectPath: real }))
  })

  const sizeOf = (file: string) =>
    fs.stat(file).pipe(
      Effect.map((info) => (info.type === "File" ? Number(info.size) : 0)),
      Effect.orElseSucceed(() => 0)
    )

  const locate = Effect.fnUntraced(function*(sessionId: string, dir: string | undefined) {
    if (!isSessionId(sessionId)) return yield* failWith("InvalidArgument", sessionId, "not a session id (a UUID)")
    for (const { projectDir, projectPath } of yield* projectDirs(dir)) {
      const file = path.join(projectDir, `${sessionId}.jsonl`)
      if ((yield* sizeOf(file)) > 0) return { file, projectDir, projectPath } satisfies Located
    }
    return yield* failWith(
      "NotFound",
      sessionId,
      dir === undefined ? `no transcript in ${projects}` : `no transcript for the project ${dir}`
    )
  })

  const readText = (sessionId: string, file: string) =>
    fs.readFileString(file).pipe(
      Effect.catch((cause) => failWith("Unreadable", sessionId, `${file}: ${describe(cause)}`))
    )

  const readEnds = (file: string): Effect.Effect<Option.Option<Ends>> =>
    Effect.scoped(Effect.gen(function*() {
      const handle = yield* fs.open(file, { flag: "r" })
      const info = yield* handle.stat
      const size = Number(info.size)
      if (info.type !== "File" || size === 0) return Option.none<Ends>()
      const read = (position: number, length: number) =>
        handle.readAlloc(length, { position: BigInt(position) }).pipe(
          Effect.map((bytes) => (Option.isSome(bytes) ? decoder.decode(bytes.value) : ""))
        )
      const head = yield* read(0, Math.min(size, endBytes))
      const whole = size <= endBytes
      const tail = whole ? head : yield* read(size - endBytes, endBytes)
      const mtime = Option.match(info.mtime, { onNone: () => 0, onSome: (date) => date.getTime() })
      return Option.some<Ends>({ head, tail, whole, size, mtime })
    })).pipe(Effect.orElseSucceed(() => Option.none<Ends>()))

  const infoAt = (sessionId: string, file: string, projectPath: string | undefined, programmatic: boolean) =>
    readEnds(file).pipe(Effect.map((ends) =>
      Option.flatMap(ends, (ends) => {
        if (!programmatic && isProgrammatic(endEntries(ends).head)) return Option.none()
        return Option.fromUndefinedOr(summarize(sessionId, ends, projectPath))
      })
    ))

  const listSessions = Effect.fn("Conversations.listSessions")(function*(options?: ListSessionsOptions) {
    const candidates: Array<{ sessionId: string; file: string; projectPath: string | undefined }> = []
    for (const { projectDir, projectPath } of yield* projectDirs(options?.dir)) {
      const names = yield* fs.readDirectory(projectDir).pipe(Effect.orElseSucceed((): ReadonlyArray<string> => []))
      for (const name of names) {
        const sessionId = name.endsWith(".jsonl") ? name.slice(0, -".jsonl".length) : ""
        if (isSessionId(sessionId)) candidates.push({ sessionId, file: path.join(projectDir, name), projectPath })
      }
    }
    const infos = yield* Effect.forEach(
      candidates,
      (c) => infoAt(c.sessionId, c.file, c.projectPath, options?.includeProgrammatic ?? true),
      { concurrency: 8 }
    )
    const newest = new Map<string, SessionInfo>()
    for (const info of infos) {
      if (Option.isNone(info)) continue
      const seen = newest.get(info.value.sessionId)
      if (seen === undefined || info.value.lastModified > seen.lastModified) {
        newest.set(info.value.sessionId, info.value)
      }
    }
    const sorted = [...newest.values()].sort((a, b) =>
      b.lastModified - a.lastModified || (a.sessionId < b.sessionId ? 1 : a.sessionId > b.sessionId ? -1 : 0)
    )
    return page(sorted, options?.offset, options?.limit)
  })

  const getSessionInfo = Effect.fn("Conversations.getSessionInfo")(function*(sessionId: string, options?: DirOptions) {
    const located = yield* Effect.option(locate(sessionId, options?.dir))
    if (Option.isNone(located)) return Option.none<SessionInfo>()
    return yield* infoAt(sessionId, located.value.file, located.value.projectPath, true)
  })

  const getSessionMessages = Effect.fn("Conversations.getSessionMessages")(function*(
    sessionId: string,
    options?: GetSessionMessagesOptions
  ) {
    const { file } = yield* locate(sessionId, options?.dir)
    const { bad, entries } = entriesOf(yield* readText(sessionId, file))
    for (const line of bad) {
      yield* Effect.logWarning("Conversations: a transcript line is not a JSON object; skipped").pipe(
        Effect.annotateLogs({ file, line: line.line, text: line.text })
      )
    }
    const shown = conversation(treeEntries(entries)).filter((entry) =>
      isShown(entry, options?.includeSystemMessages ?? false)
    )
    return page(shown.map((entry) => toMessage(entry, sessionId)), options?.offset, options?.limit)
  })

  const readTranscript = (sessionId: string, options?: DirOptions): Stream.Stream<ClaudeEvent, ConversationError> =>
    Stream.unwrap(Effect.map(locate(sessionId, options?.dir), ({ file }) =>
      fs.stream(file).pipe(
        Stream.catch((cause) => Stream.fromEffect(failWith("Unreadable", sessionId, `${file}: ${describe(cause)}`))),
        StreamHandler.lines(),
        Stream.flatMap((item) =>
          Stream.fromIterable(
            item._tag === "Line"
              ? StreamHandler.fromTranscriptLine(item.text, item.line)
              : StreamHandler.fromLineItem(item, StreamHandler.defaultMaxLineBytes)
          )
        )
      )))

  const forkSession = Effect.fn("Conversations.forkSession")(function*(
    sessionId: string,
    options?: ForkSessionOptions
  ) {
    const { file, projectDir } = yield* locate(sessionId, options?.dir)
    const { entries } = entriesOf(yield* readText(sessionId, file))
    const forkId = crypto.randomUUID()
    const given = options?.title?.trim()
    const title = given !== undefined && given !== ""
      ? given
      : `${titleOf(entries, entries) ?? firstPrompt(entries) ?? "Forked session"} (fork)`
    const fork = forkEntries({
      sourceId: sessionId,
      tree: treeEntries(entries),
      upToMessageId: options?.upToMessageId,
      forkId,
      newUuid: () => crypto.randomUUID(),
      title,
      now: new Date().toISOString()
    })
    if (fork._tag !== "Forked") {
      return yield* fork._tag === "Empty"
        ? failWith("NothingToFork", sessionId, "the transcript holds no message")
        : failWith("MessageNotFound", sessionId, `no entry ${options?.upToMessageId} in the conversation`)
    }
    const target = path.join(projectDir, `${forkId}.jsonl`)
    yield* fs.writeFileString(target, lines(fork.entries), { flag: "wx", mode: 0o600 }).pipe(
      Effect.catch((cause) => failWith("Unwritable", sessionId, `${target}: ${describe(cause)}`))
    )
    return { sessionId: forkId }
  })

  // Appends to the first non-empty transcript of the id, as the SDK does: an empty file is not a conversation.
  const append = Effect.fnUntraced(function*(sessionId: string, entry: Entry, dir: string | undefined) {
    const { file } = yield* locate(sessionId, dir)
    yield* fs.writeFileString(file, lines([entry]), { flag: "a" }).pipe(
      Effect.catch((cause) => failWith("Unwritable", sessionId, `${file}: ${describe(cause)}`))
    )
  })

  const renameSession = Effect.fn("Conversations.renameSession")(function*(
    sessionId: string,
    title: string,
    options?: DirOptions
  ) {
    const customTitle = title.trim()
    if (customTitle === "") return yield* failWith("InvalidArgument", sessionId, "the title is empty")
    yield* append(sessionId, { type: "custom-title", customTitle, sessionId }, options?.dir)
  })

  const tagSession = Effect.fn("Conversations.tagSession")(function*(
    sessionId: string,
    tag: string | null,
    options?: DirOptions
  ) {
    const value = tag === null ? "" : tag.trim()
    if (tag !== null && value === "") {
      return yield* failWith("InvalidArgument", sessionId, "the tag is empty (null clears it)")
    }
    yield* append(sessionId, { type: "tag", tag: value, sessionId }, options?.dir)
  })

  const deleteSession = Effect.fn("Conversations.deleteSession")(function*(sessionId: string, options?: DirOptions) {
    const { file, projectDir } = yield* locate(sessionId, options?.dir)
    const unwritable = (target: string) => (cause: unknown) =>
      failWith("Unwritable", sessionId, `${target}: ${describe(cause)}`)
    yield* fs.remove(file).pipe(Effect.catch(unwritable(file)))
    const subagents = path.join(projectDir, sessionId)
    yield* fs.remove(subagents, { recursive: true, force: true }).pipe(Effect.catch(unwritable(subagents)))
  })

  return Conversations.of({
    configDir,
    listSessions,
    getSessionInfo,
    getSessionMessages,
    readTranscript,
    forkSession,
    renameSession,
    tagSession,
    deleteSession
  })
})

const configDirFromConfig = Effect.gen(function*() {
  const explicit = Option.getOrUndefined(yield* Config.option(Config.String("CLAUDE_CONFIG_DIR")))
  const home = explicit === undefined || explicit === "" ? yield* Config.String("HOME") : undefined
  return Transcript.configDir({ CLAUDE_CONFIG_DIR: explicit, HOME: home }) ?? ".claude"
})

const page = <A>(items: ReadonlyArray<A>, offset: number | undefined, limit: number | undefined): ReadonlyArray<A> => {
  const from = offset !== undefined && offset > 0 ? offset : 0
  return limit !== undefined && limit > 0 ? items.slice(from, from + limit) : items.slice(from)
}

const lines = (entries: ReadonlyArray<Entry>): string => entries.map((entry) => `${JSON.stringify(entry)}\n`).join("")

const toMessage = (entry: Entry, sessionId: string): SessionMessage => {
  const type = entry["type"] === "assistant" ? "assistant" : entry["type"] === "user" ? "user" : "system"
  return {
    type,
    uuid: text(entry, "uuid") ?? "",
    sessionId: text(entry, "sessionId") ?? sessionId,
    parentUuid: text(entry, "parentUuid") ?? null,
    message: entry["message"],
    parentToolUseId: text(entry, "parent_tool_use_id") ?? null,
    timestamp: text(entry, "timestamp"),
    events: StreamHandler.fromDecoded(Protocol.decode(Transcript.toFrame(entry))),
    entry
  }
}

/**
 * {@link make} as a layer: the config directory from `Config` (`CLAUDE_CONFIG_DIR`, else `$HOME/.claude`),
 * or `options.configDir`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: { readonly configDir?: string | undefined }
): Layer.Layer<Conversations, Config.ConfigError, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(Conversations, make(options))

/**
 * The Claude Code CLI's transcript of a session, as it keeps it on disk: JSONL at
 * `<CLAUDE_CONFIG_DIR or $HOME/.claude>/projects/<cwd, every non-alphanumeric character as "-">/<session id>.jsonl`.
 * `--resume <id>` carries a conversation on from that file alone, so whether a session can be resumed
 * safely is a question about it: the CLI creates it lazily and writes it on a timer of about 100 ms, so a
 * CLI killed early leaves no file, or one without the last tool calls or their results (F14).
 *
 * Observed on 2.1.329: a missing file makes `--resume` print "No conversation found with session ID: <id>"
 * (stderr, and a `result` of subtype `error_during_execution`) and exit 1; a tool call without its result is
 * resumed with a synthetic error result ("[Tool call interrupted: ... its outcome is unknown ...]"), and the
 * model is asked again: nothing stops it from calling the tool a second time.
 *
 * @since 0.1.0
 */
import { Context, Effect, FileSystem, Layer, Option, Path, Predicate } from "effect"

/**
 * What a transcript holds that matters for resuming it: the tool calls of the main conversation (not of
 * subagents) and the calls that have a result.
 *
 * @since 0.1.0
 * @category models
 */
export interface Contents {
  readonly path: string
  /** Ids of the `tool_use` blocks, in order. */
  readonly toolUseIds: ReadonlyArray<string>
  /** Ids the `tool_result` blocks answer. */
  readonly toolResultIds: ReadonlySet<string>
}

const blocksOf = (entry: unknown): ReadonlyArray<unknown> => {
  if (!Predicate.isObject(entry) || entry["isSidechain"] === true) return []
  if (entry["type"] !== "user" && entry["type"] !== "assistant") return []
  const message = entry["message"]
  const content = Predicate.isObject(message) ? message["content"] : undefined
  return Array.isArray(content) ? content : []
}

const parseLine: (line: string) => Option.Option<unknown> = Option.liftThrowable((line: string): unknown =>
  JSON.parse(line)
)

/**
 * Reads the tool calls and results out of a transcript's text. Lines that are not JSON (a write cut off by
 * a crash) and entries of other types are skipped.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (path: string, text: string): Contents => {
  const toolUseIds: Array<string> = []
  const toolResultIds = new Set<string>()
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue
    for (const block of blocksOf(Option.getOrUndefined(parseLine(line)))) {
      if (!Predicate.isObject(block)) continue
      if (block["type"] === "tool_use" && typeof block["id"] === "string") toolUseIds.push(block["id"])
      if (block["type"] === "tool_result" && typeof block["tool_use_id"] === "string") {
        toolResultIds.add(block["tool_use_id"])
      }
    }
  }
  return { path, toolUseIds, toolResultIds }
}

/**
 * The tool calls whose outcome the transcript does not hold: those it records without a result, and those
 * in `seen` (the calls the CLI reported on stdout) it has no result for.
 *
 * @since 0.1.0
 * @category parsing
 */
export const unresolved = (contents: Contents, seen: ReadonlyArray<string> = []): ReadonlyArray<string> =>
  [...new Set([...contents.toolUseIds, ...seen])].filter((id) => !contents.toolResultIds.has(id))

/**
 * The CLI's config directory for an environment: `CLAUDE_CONFIG_DIR`, else `$HOME/.claude`; `undefined`
 * without either.
 *
 * @since 0.1.0
 * @category paths
 */
export const configDir = (env: Readonly<Record<string, unknown>>): string | undefined => {
  const dir = env["CLAUDE_CONFIG_DIR"]
  if (typeof dir === "string" && dir !== "") return dir
  const home = env["HOME"]
  return typeof home === "string" && home !== "" ? `${home.replace(/\/+$/, "")}/.claude` : undefined
}

/** Past this many characters the CLI cuts a project directory's name and adds a hash of the path. */
const maxProjectDirName = 200

// The CLI's hash of a long path: Java's String.hashCode, in base 36 (without a sign).
const pathHash = (path: string): string => {
  let hash = 0
  for (let i = 0; i < path.length; i++) hash = ((hash << 5) - hash + path.charCodeAt(i)) | 0
  return Math.abs(hash).toString(36)
}

/**
 * The name of the CLI's project directory for a working directory: every non-alphanumeric character
 * becomes `-`; a name over 200 characters is cut there and followed by `-` and a hash of the path, as the
 * CLI (and the Agent SDK) names it.
 *
 * @since 0.1.0
 * @category paths
 */
export const projectDirName = (cwd: string): string => {
  const name = cwd.replace(/[^a-zA-Z0-9]/g, "-")
  return name.length <= maxProjectDirName ? name : `${name.slice(0, maxProjectDirName)}-${pathHash(cwd)}`
}

/**
 * Whether a parsed line is an entry of a transcript file rather than a frame the CLI prints on stdout:
 * entries name their session `sessionId` (and chain by `parentUuid`), frames `session_id`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const isEntry = (value: unknown): value is Readonly<Record<string, unknown>> =>
  Predicate.isObject(value) && !("session_id" in value) &&
  (typeof value["sessionId"] === "string" || "parentUuid" in value)

/**
 * A transcript entry in the form of the stream-json frame it records, so the stream's decoding reads it:
 * `session_id` from `sessionId`, and `parent_tool_use_id` `null` when absent (the transcript of the main
 * conversation has none). Every other field is kept; a value that is not an entry is returned as it is.
 *
 * @since 0.1.0
 * @category parsing
 */
export const toFrame = (value: unknown): unknown =>
  isEntry(value)
    ? {
      ...value,
      ...(typeof value["sessionId"] === "string" ? { session_id: value["sessionId"] } : {}),
      parent_tool_use_id: value["parent_tool_use_id"] ?? null
    }
    : value

/**
 * Reads transcripts.
 *
 * @since 0.1.0
 * @category services
 */
export class Transcript extends Context.Service<Transcript, {
  /**
   * The transcript of `sessionId` under the config directory `configDir`: `None` when no project
   * directory holds a file for it (or it cannot be read).
   */
  readonly read: (configDir: string, sessionId: string) => Effect.Effect<Option.Option<Contents>>
}>()("effect-claude-code/Transcript") {}

/**
 * Transcripts on the local disk.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  // A session id names one file: look for it in every project directory, since the CLI truncates long ones.
  const read = Effect.fn("Transcript.read")(function*(configDir: string, sessionId: string) {
    const projects = path.join(configDir, "projects")
    const dirs = yield* fs.readDirectory(projects).pipe(Effect.orElseSucceed((): ReadonlyArray<string> => []))
    for (const dir of dirs) {
      const file = path.join(projects, dir, `${sessionId}.jsonl`)
      const text = yield* fs.readFileString(file).pipe(Effect.option)
      if (Option.isSome(text)) return Option.some(parse(file, text.value))
    }
    return Option.none<Contents>()
  })
  return Transcript.of({ read })
})

/**
 * {@link make} as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Transcript, never, FileSystem.FileSystem | Path.Path> = Layer.effect(Transcript, make)

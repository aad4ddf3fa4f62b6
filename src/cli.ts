/**
 * The `effect-claude-code` command line: `decode [file]` runs a stream-json
 * capture through the StreamHandler exactly as a live session would and
 * prints one JSON line per event, then a summary line. It reads the CLI's own
 * transcript files (`projects/<cwd>/<session id>.jsonl`) as well: each line is
 * told apart by its keys (a transcript entry names its session `sessionId`, a
 * frame `session_id`), so no flag is needed and a file of either form, or a
 * mix, decodes line by line.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices, NodeSink, NodeStream } from "@effect/platform-node"
import { Console, Effect, FileSystem, Option, Runtime, Schema, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import type { ClaudeEvent } from "./ClaudeEvent.ts"
import * as StreamHandler from "./StreamHandler.ts"

/**
 * Counts of what a transcript held, per input line.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  /** Non-empty input lines. */
  lines: number
  /** Lines decoded as a frame, of a known type or not. */
  frames: number
  unknown: number
  malformed: number
  oversized: number
}

/**
 * Decodes a byte stream (a stream-json capture or a transcript file) into (events, summary) lines of JSON text.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeTranscript = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  options?: StreamHandler.Options
): Stream.Stream<string, E, R> =>
  Stream.suspend(() => {
    const summary: Summary = { lines: 0, frames: 0, unknown: 0, malformed: 0, oversized: 0 }
    const count = (events: ReadonlyArray<ClaudeEvent>) => {
      summary.lines++
      const first = events[0]
      if (first?._tag === "Oversized") summary.oversized++
      else if (first?._tag === "Malformed") summary.malformed++
      else {
        summary.frames++
        if (first?._tag === "Unknown") summary.unknown++
      }
    }
    const limit = options?.maxLineBytes ?? StreamHandler.defaultMaxLineBytes
    return bytes.pipe(
      StreamHandler.lines(options),
      Stream.map((item) => {
        const events = item._tag === "Line"
          ? StreamHandler.fromTranscriptLine(item.text, item.line)
          : StreamHandler.fromLineItem(item, limit)
        count(events)
        return events.map((event) => `${JSON.stringify(event)}\n`).join("")
      }),
      Stream.concat(Stream.sync(() => `${JSON.stringify({ summary })}\n`))
    )
  })

/**
 * Why `decode` stopped before the end of its input: the input could not be read, or the output written.
 * It is printed on standard error (exit status 1), where a command line's complaints belong; standard output
 * holds only events.
 *
 * @since 0.1.0
 * @category errors
 */
export class DecodeFailed extends Schema.TaggedError<DecodeFailed>("effect-claude-code/cli/DecodeFailed")(
  "DecodeFailed",
  {
    reason: Schema.Literals(["InputUnreadable", "OutputUnwritable"]),
    /** The file, or `standard input` / `standard output`. */
    target: Schema.String,
    /** What the platform said. */
    detail: Schema.String
  }
) {
  override get message(): string {
    return `cannot ${this.reason === "InputUnreadable" ? "read" : "write"} ${this.target}: ${this.detail}`
  }
  /** Printed by the command itself; the runtime does not log it a second time. */
  override readonly [Runtime.errorReported] = false
}

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const decode = Command.make(
  "decode",
  {
    file: Argument.String("file").pipe(
      Argument.withDescription(
        "A stream-json capture or a CLI transcript file (one JSON object per line); standard input when omitted"
      ),
      Argument.optional
    ),
    maxLineBytes: Flag.Int("max-line-bytes").pipe(
      Flag.withDescription("Lines longer than this are reported as oversized"),
      Flag.withDefault(StreamHandler.defaultMaxLineBytes)
    )
  },
  Effect.fn("cli.decode")(function*({ file, maxLineBytes }) {
    const fs = yield* FileSystem.FileSystem
    const unreadable = (target: string) => (cause: unknown) =>
      new DecodeFailed({ reason: "InputUnreadable", target, detail: describe(cause) })
    const input = Option.match(file, {
      onNone: () =>
        NodeStream.fromReadable<Uint8Array, DecodeFailed>({
          evaluate: () => process.stdin,
          onError: unreadable("standard input")
        }),
      onSome: (path) => fs.stream(path).pipe(Stream.mapError(unreadable(path)))
    })
    yield* decodeTranscript(input, { maxLineBytes }).pipe(
      Stream.encodeText,
      Stream.run(NodeSink.fromWritable({
        evaluate: () => process.stdout,
        onError: (cause) =>
          new DecodeFailed({ reason: "OutputUnwritable", target: "standard output", detail: describe(cause) }),
        endOnDone: false
      })),
      Effect.tapError((error) => Console.error(`effect-claude-code decode: ${error.message}`))
    )
  })
).pipe(Command.withDescription("Decode a Claude Code stream-json transcript into effect-claude-code events"))

const root = Command.make("effect-claude-code").pipe(
  Command.withDescription("Tools for effect-claude-code"),
  Command.withSubcommands([decode])
)

/**
 * Runs the command line with `process.argv`.
 *
 * @since 0.1.0
 * @category entry points
 */
export const main = root.pipe(
  Command.run({ version: "0.1.0" }),
  Effect.provide(NodeServices.layer)
)

if (import.meta.main) NodeRuntime.runMain(main)

/**
 * What a fake process runs with: its record and script, and its pipes: bounded output queues that stand for
 * stdout and stderr (so a host that does not read them holds the fake back, as a full pipe does), and the
 * stdin configuration of a command.
 */
import { type Cause, Effect, type PlatformError, Queue, Sink, Stream } from "effect"
import type { ChildProcess } from "effect/process"
import type { ExitStatus, MutableRecord, Registry } from "./processTable.ts"
import type { Script } from "./script.ts"

/** Chunks a fake may have written that nobody has read yet: past this, its writes wait (backpressure). */
const PIPE_CAPACITY = 256

export interface OutputPipe {
  readonly write: (text: string) => Effect.Effect<void>
  readonly stream: Stream.Stream<Uint8Array, PlatformError.PlatformError>
  readonly close: Effect.Effect<void>
}

const encoder = new TextEncoder()

/** A fake's stdout or stderr, as the command's option asks: piped (into a Sink, if given), or dropped. */
export const makeOutput = (option: ChildProcess.CommandOptions["stdout"]) =>
  Effect.map(Queue.bounded<Uint8Array, Cause.Done>(PIPE_CAPACITY), (queue): OutputPipe => {
    const target = option !== undefined && typeof option === "object" && !Sink.isSink(option) ? option.stream : option
    const close = Effect.asVoid(Queue.end(queue))
    if (target === "ignore" || target === "inherit") {
      return { write: () => Effect.void, stream: Stream.empty, close }
    }
    const piped: Stream.Stream<Uint8Array, PlatformError.PlatformError> = Stream.fromQueue(queue)
    return {
      write: (text) => Effect.asVoid(Queue.offer(queue, encoder.encode(text))),
      stream: target !== undefined && Sink.isSink(target) ? Stream.transduce(piped, target) : piped,
      close
    }
  })

export const resolveStdin = (options: ChildProcess.CommandOptions): ChildProcess.StdinConfig => {
  const option = options.stdin
  if (option === undefined) return { stream: "pipe" }
  if (typeof option === "string" || Stream.isStream(option)) return { stream: option }
  return option
}

/** What a fake process runs with: its record, its script, its pipes, and how it ends. */
export interface ProcessIo {
  readonly registry: Registry
  readonly record: MutableRecord
  readonly script: Script
  readonly stdout: OutputPipe
  readonly stderr: OutputPipe
  /** Decoded stdin lines; ends at EOF. */
  readonly stdinLines: Stream.Stream<string>
  /** Ends the process with this status (the first call wins). */
  readonly terminate: (status: ExitStatus) => Effect.Effect<void>
}

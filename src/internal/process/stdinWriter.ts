/**
 * The CLI's stdin, fed from a queue by one fiber. If the CLI has gone (EPIPE), the writer stops and the
 * queue is shut, so writes report `false` instead of failing or blocking: the real error is the CLI's,
 * read from its output.
 *
 * @since 0.1.0
 */
import { type Cause, Effect, Queue, type Scope, type Sink, Stream } from "effect"

const capacity = 64

/**
 * Writing to a CLI's stdin.
 *
 * @since 0.1.0
 * @category models
 */
export interface StdinWriter {
  /** Writes one line; `false` when stdin is already closed (the CLI exited or EOF was sent). */
  readonly write: (line: string) => Effect.Effect<boolean>
  /** Closes stdin (EOF) once what was written before has gone. */
  readonly endInput: Effect.Effect<void>
}

/**
 * Starts the writer on a fiber of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*<E, R>(
  stdin: Sink.Sink<void, Uint8Array, never, E, R>
): Effect.fn.Return<StdinWriter, never, Scope.Scope | R> {
  const input = yield* Queue.bounded<Uint8Array, Cause.Done>(capacity)
  const encoder = new TextEncoder()
  yield* Stream.fromQueue(input).pipe(
    Stream.run(stdin),
    Effect.ignore,
    Effect.ensuring(Queue.shutdown(input)),
    Effect.forkScoped
  )
  // The writer takes the line at once, in this fiber's step, instead of one scheduler tick later: a tick is
  // a trip round the event loop on the way from a prompt to the CLI's stdin.
  const flushNow = Effect.sync(() => Queue.flushUnsafe(input))
  return {
    write: (line) => Effect.tap(Queue.offer(input, encoder.encode(line)), flushNow),
    endInput: Effect.asVoid(Queue.end(input))
  }
})

/**
 * The last bytes of a CLI's stderr, kept however much goes by, and the fiber that drains it: a full pipe
 * would block the CLI.
 *
 * @since 0.1.0
 */
import { Effect, type Scope, Stream } from "effect"

/**
 * Keeps the last `capacity` bytes of a stream, however much goes by.
 *
 * @since 0.1.0
 * @category models
 */
export class StderrTail {
  private readonly buffer: Uint8Array
  private start = 0
  private size = 0
  /** Bytes pushed in all. */
  total = 0

  constructor(capacity: number) {
    this.buffer = new Uint8Array(capacity)
  }

  /** Keeps the end of `chunk`, dropping the oldest bytes beyond the capacity. */
  push(chunk: Uint8Array): void {
    const capacity = this.buffer.length
    this.total += chunk.length
    const bytes = chunk.length > capacity ? chunk.subarray(chunk.length - capacity) : chunk
    for (let offset = 0; offset < bytes.length;) {
      const writeAt = (this.start + this.size) % capacity
      const room = Math.min(bytes.length - offset, capacity - writeAt)
      this.buffer.set(bytes.subarray(offset, offset + room), writeAt)
      offset += room
      const overflow = this.size + room - capacity
      if (overflow > 0) {
        this.start = (this.start + overflow) % capacity
        this.size = capacity
      } else {
        this.size += room
      }
    }
  }

  /** The bytes kept, as UTF-8. */
  text(): string {
    const capacity = this.buffer.length
    const first = this.buffer.subarray(this.start, Math.min(this.start + this.size, capacity))
    const wrapped = this.buffer.subarray(0, Math.max(0, this.start + this.size - capacity))
    const joined = new Uint8Array(first.length + wrapped.length)
    joined.set(first, 0)
    joined.set(wrapped, first.length)
    // A cut through a multi-byte character at the front decodes as U+FFFD, which is fine for a tail.
    return new TextDecoder().decode(joined)
  }
}

/**
 * Drains `stderr` into a tail of `capacity` bytes on a fiber of the scope; a read error ends the drain.
 *
 * @since 0.1.0
 * @category constructors
 */
export const drain = <E>(
  stderr: Stream.Stream<Uint8Array, E>,
  capacity: number
): Effect.Effect<StderrTail, never, Scope.Scope> =>
  Effect.suspend(() => {
    const tail = new StderrTail(capacity)
    return stderr.pipe(
      Stream.runForEachArray((chunks) => Effect.sync(() => chunks.forEach((chunk) => tail.push(chunk)))),
      Effect.ignore,
      Effect.forkScoped,
      Effect.as(tail)
    )
  })

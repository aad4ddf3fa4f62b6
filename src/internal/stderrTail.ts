/**
 * Keeps the last `capacity` bytes of a stream, however much goes by.
 *
 * @internal
 */
export class StderrTail {
  private readonly buffer: Uint8Array
  private start = 0
  private size = 0
  total = 0

  constructor(capacity: number) {
    this.buffer = new Uint8Array(capacity)
  }

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

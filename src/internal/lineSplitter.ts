/**
 * Splits a byte stream into lines, bounded in memory.
 *
 * Lines are cut on `\n` in bytes before any text decoding: 0x0A never occurs
 * inside a multi-byte UTF-8 sequence, so a character split across reads is
 * whole again once its line is decoded. A line that outgrows the limit is
 * dropped as it streams by (only its first bytes are kept for the report).
 * Blank lines are skipped but counted: line numbers are those of the input.
 */
import { Buffer } from "node:buffer"

export type LineItem =
  | { readonly _tag: "Line"; readonly line: number; readonly text: string }
  | {
    readonly _tag: "Oversized"
    readonly line: number
    readonly bytes: number
    readonly head: string
  }

const NEWLINE = 0x0a
const CARRIAGE_RETURN = 0x0d
const HEAD_BYTES = 256

// The hot path of decoding: a Buffer view of each read (no copy) finds
// newlines with memchr and decodes a line without TextDecoder's per-call
// overhead, over twice as fast as `Uint8Array#indexOf` and `TextDecoder#decode`
// on CLI output. It replaces invalid UTF-8 exactly as TextDecoder does;
// TextDecoder also drops a leading byte order mark, so `emit` does too.
const bufferOf = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

const hasByteOrderMark = (bytes: Uint8Array, start: number, end: number): boolean =>
  end - start >= 3 && bytes[start] === 0xef && bytes[start + 1] === 0xbb && bytes[start + 2] === 0xbf

export class LineSplitter {
  private readonly decoder = new TextDecoder("utf-8")
  private pending: Array<Uint8Array> = []
  private pendingBytes = 0
  /** Bytes of the current line seen so far when it has gone over the limit. */
  private oversizedBytes = -1
  private oversizedHead: Uint8Array = new Uint8Array(0)
  private lineNumber = 0

  readonly maxLineBytes: number

  constructor(maxLineBytes: number) {
    this.maxLineBytes = maxLineBytes
  }

  pushAll(chunks: ReadonlyArray<Uint8Array>): Array<LineItem> {
    const out: Array<LineItem> = []
    for (const chunk of chunks) this.push(chunk, out)
    return out
  }

  push(chunk: Uint8Array, out: Array<LineItem>): void {
    const bytes = bufferOf(chunk)
    const length = bytes.length
    let start = 0
    while (start < length) {
      const newline = bytes.indexOf(NEWLINE, start)
      const end = newline === -1 ? length : newline
      if (newline !== -1 && this.pendingBytes === 0 && this.oversizedBytes < 0 && end - start <= this.maxLineBytes) {
        // Fast path: the whole line is inside this chunk; decode it in place.
        this.emit(bytes, start, end, out)
      } else {
        this.take(bytes.subarray(start, end))
        if (newline === -1) return
        this.endLine(out)
      }
      start = newline + 1
    }
  }

  /** The last line, when the stream ends without a newline. */
  flush(): Array<LineItem> {
    const out: Array<LineItem> = []
    if (this.pendingBytes > 0 || this.oversizedBytes >= 0) this.endLine(out)
    return out
  }

  private take(segment: Uint8Array): void {
    if (segment.length === 0) return
    if (this.oversizedBytes >= 0) {
      this.oversizedBytes += segment.length
      return
    }
    if (this.pendingBytes + segment.length > this.maxLineBytes) {
      // Over the limit: keep a head for the diagnostic and let the rest go by.
      const joined = concat(this.pending, this.pendingBytes, segment.subarray(0, HEAD_BYTES))
      this.oversizedHead = joined.subarray(0, HEAD_BYTES)
      this.oversizedBytes = this.pendingBytes + segment.length
      this.pending = []
      this.pendingBytes = 0
      return
    }
    // Copy: the chunk's buffer may be reused by the reader after this call
    // (and `slice` on a Buffer would not copy).
    this.pending.push(new Uint8Array(segment))
    this.pendingBytes += segment.length
  }

  private endLine(out: Array<LineItem>): void {
    if (this.oversizedBytes >= 0) {
      this.lineNumber++
      out.push({
        _tag: "Oversized",
        line: this.lineNumber,
        bytes: this.oversizedBytes,
        head: this.decoder.decode(this.oversizedHead)
      })
      this.oversizedBytes = -1
      this.oversizedHead = new Uint8Array(0)
      return
    }
    const bytes = bufferOf(
      this.pending.length === 1 && this.pending[0] !== undefined
        ? this.pending[0]
        : concat(this.pending, this.pendingBytes)
    )
    this.pending = []
    this.pendingBytes = 0
    this.emit(bytes, 0, bytes.length, out)
  }

  /** Decodes `bytes[start, end)` as one line, without its CR and byte order mark. */
  private emit(bytes: Buffer, start: number, end: number, out: Array<LineItem>): void {
    const last = end > start && bytes[end - 1] === CARRIAGE_RETURN ? end - 1 : end
    const first = hasByteOrderMark(bytes, start, last) ? start + 3 : start
    const text = bytes.toString("utf8", first, last)
    // Counted before the blank check: a diagnostic's line number is the line an editor shows.
    this.lineNumber++
    if (text.trim() === "") return
    out.push({ _tag: "Line", line: this.lineNumber, text })
  }
}

const concat = (parts: ReadonlyArray<Uint8Array>, size: number, extra?: Uint8Array): Uint8Array => {
  const result = new Uint8Array(size + (extra?.length ?? 0))
  let offset = 0
  for (const part of parts) {
    result.set(part, offset)
    offset += part.length
  }
  if (extra !== undefined) result.set(extra, offset)
  return result
}

import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Buffer } from "node:buffer"
import { type LineItem, LineSplitter } from "../src/internal/lineSplitter.ts"

const split = (chunks: ReadonlyArray<Uint8Array>, maxLineBytes = 1024): Array<LineItem> => {
  const splitter = new LineSplitter(maxLineBytes)
  return [...splitter.pushAll(chunks), ...splitter.flush()]
}

const texts = (items: ReadonlyArray<LineItem>) => items.map((item) => item._tag === "Line" ? item.text : item._tag)

describe("LineSplitter", () => {
  it("decodes each line as TextDecoder does: invalid UTF-8 replaced, a leading byte order mark dropped", () => {
    // Bytes that stress UTF-8 decoding: truncated, overlong, surrogate and out-of-range sequences, and BOMs.
    const byte = fc.oneof(
      fc.constantFrom(0x20, 0x41, 0x7b, 0x0d, 0x80, 0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xef, 0xbb, 0xf0, 0xf4, 0xf5, 0xff),
      fc.integer({ min: 0, max: 255 })
    )
    const line = fc.tuple(fc.boolean(), fc.array(byte, { maxLength: 16 })).map(([bom, bytes]) => [
      ...(bom ? [0xef, 0xbb, 0xbf] : []),
      ...bytes.filter((b) => b !== 0x0a)
    ])
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 7 }), (lines, size) => {
        const bytes = Uint8Array.from(lines.flatMap((l) => [...l, 0x0a]))
        const chunks: Array<Uint8Array> = []
        for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size))
        const decoder = new TextDecoder("utf-8")
        const expected = lines
          .map((l) => decoder.decode(Uint8Array.from(l.at(-1) === 0x0d ? l.slice(0, -1) : l)))
          .filter((text) => text.trim() !== "")
        assert.deepStrictEqual(texts(split([bytes])), expected)
        assert.deepStrictEqual(texts(split(chunks)), expected)
      }),
      { numRuns: 2000 }
    )
  })

  it("drops a byte order mark at the start of a line, as TextDecoder does, and only there", () => {
    const bom = "\uFEFF"
    assert.deepStrictEqual(texts(split([Buffer.from(`${bom}{"a":1}\n{"b":"${bom}"}\n${bom}${bom}x\n`)])), [
      "{\"a\":1}",
      `{"b":"${bom}"}`,
      `${bom}x`
    ])
  })

  it("keeps a line split across reads whole when the reader reuses its buffer", () => {
    const text = "{\"type\":\"assistant\",\"text\":\"héllo 日本語 🎉\"}\n"
    const bytes = Buffer.from(text)
    const reused = Buffer.alloc(5)
    const splitter = new LineSplitter(1024)
    const out: Array<LineItem> = []
    for (let i = 0; i < bytes.length; i += reused.length) {
      const n = bytes.copy(reused, 0, i, i + reused.length)
      splitter.push(reused.subarray(0, n), out)
      reused.fill(0x41)
    }
    assert.deepStrictEqual(texts(out), [text.trimEnd()])
  })

  it("splits Node Buffers and plain Uint8Arrays alike, CRLF and blank lines included", () => {
    const input = "a\r\n\r\n  \n{\"b\":1}\nlast"
    const fromBuffer = split([Buffer.from(input)])
    const fromArray = split([new TextEncoder().encode(input)])
    assert.deepStrictEqual(texts(fromBuffer), ["a", "{\"b\":1}", "last"])
    assert.deepStrictEqual(fromArray, fromBuffer)
    // Blank lines are not passed on but keep their numbers: "{"b":1}" is the input's fourth line.
    assert.deepStrictEqual(fromBuffer.map((item) => item.line), [1, 4, 5])
  })

  it("reports a line over the limit with its first bytes and goes on", () => {
    const long = "x".repeat(5000)
    const items = split([Buffer.from(`${long}\nok\n`)], 1000)
    assert.strictEqual(items[0]?._tag, "Oversized")
    assert.isTrue(items[0]?._tag === "Oversized" && items[0].bytes === 5000 && items[0].head === "x".repeat(256))
    assert.deepStrictEqual(texts(items.slice(1)), ["ok"])
  })
})

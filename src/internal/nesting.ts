/**
 * Bounds on how deep JSON nests. `JSON.parse` copes with any depth, but `JSON.stringify`, and every
 * recursive walk over a value (a log, a debug log, a caller's own code), overflows the stack a few thousand
 * levels down. Frames and prompts deeper than {@link maxDepth} are refused where they enter, so nothing
 * downstream ever meets one.
 */

/**
 * The deepest nesting of objects and arrays let through. The CLI's frames nest a dozen levels or so; this
 * leaves room for deep tool inputs, and several thousand stack frames of headroom below any consumer.
 */
export const maxDepth = 512

const QUOTE = 34
const BACKSLASH = 92
const OPEN_BRACE = 123
const OPEN_BRACKET = 91
const CLOSE_BRACE = 125
const CLOSE_BRACKET = 93

/**
 * Whether the JSON text nests objects and arrays deeper than `max`. Brackets inside strings do not count.
 * A text of `2 * max` characters or fewer cannot, and is not looked at; nor is one with `max` opening
 * brackets or fewer (two native searches tell). That is nearly every line. The others are scanned between
 * strings only, string contents skipped with `indexOf`. Stops at the first level past `max`.
 */
export const textNestsDeeperThan = (text: string, max: number): boolean => {
  const n = text.length
  if (n <= 2 * max) return false
  // Nesting past `max` needs more than `max` opening brackets: counted first with native searches, which
  // settles nearly every long line (text, tool lists) without a character loop.
  if (!hasMoreThan(text, "[", "{", max)) return false
  let depth = 0
  let i = 0
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      let end = text.indexOf("\"", i + 1)
      while (end > 0 && isEscaped(text, end)) end = text.indexOf("\"", end + 1)
      // An unterminated string: not JSON, which `JSON.parse` will say.
      if (end < 0) return false
      i = end + 1
      continue
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--
    }
    i++
  }
  return false
}

/** Whether `a` and `b` occur more than `max` times in `text`, together. */
const hasMoreThan = (text: string, a: string, b: string, max: number): boolean => {
  let count = 0
  for (let i = text.indexOf(a); i >= 0; i = text.indexOf(a, i + 1)) if (++count > max) return true
  for (let i = text.indexOf(b); i >= 0; i = text.indexOf(b, i + 1)) if (++count > max) return true
  return false
}

/** A quote preceded by an odd number of backslashes is part of the string. */
const isEscaped = (text: string, quote: number): boolean => {
  let backslashes = 0
  for (let i = quote - 1; i >= 0 && text.charCodeAt(i) === BACKSLASH; i--) backslashes++
  return backslashes % 2 === 1
}

/**
 * Whether a value nests objects and arrays deeper than `max`: an explicit stack, never recursion. For
 * values that enter from the caller (prompts, MCP configs), not for the frame hot path.
 */
export const valueNestsDeeperThan = (value: unknown, max: number): boolean => {
  const stack: Array<readonly [unknown, number]> = [[value, 0]]
  const seen = new Set<object>()
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [node, depth] = next
    if (typeof node !== "object" || node === null || seen.has(node)) continue
    if (depth + 1 > max) return true
    seen.add(node)
    for (const child of Object.values(node)) stack.push([child, depth + 1])
  }
  return false
}

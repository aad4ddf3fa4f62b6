/**
 * Schema issues as one line a person can act on: `path: problem` entries joined by `; `, with paths written
 * as in code (`timeouts.idel`, `hooks.PreToolUse[0].handle`), every unknown key named as one, and a near
 * miss of a known key pointed out (`unknown key (did you mean idle?)`).
 */
import { SchemaAST, SchemaIssue } from "effect"

/**
 * The parse options of every validation of user input: report every problem, not only the first, and
 * fail on keys the schema does not declare instead of dropping them.
 */
export const strict: SchemaAST.ParseOptions = { errors: "all", onExcessProperty: "error" }

const standard = SchemaIssue.makeFormatterStandardSchemaV1()

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/** A path as it would be written in code. */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((out, key) => {
    if (typeof key === "number") return `${out}[${key}]`
    const name = String(key)
    if (!identifier.test(name)) return `${out}[${JSON.stringify(name)}]`
    return out === "" ? name : `${out}.${name}`
  }, "")

/** Edit distance with transpositions (optimal string alignment), bounded: above `max` it stops counting. */
const distance = (a: string, b: string, max: number): number => {
  if (Math.abs(a.length - b.length) > max) return max + 1
  const rows: Array<Array<number>> = []
  for (let i = 0; i <= a.length; i++) rows.push([i, ...new Array<number>(b.length).fill(0)])
  for (let j = 0; j <= b.length; j++) (rows[0] ?? [])[j] = j
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] ?? []
    const above = rows[i - 1] ?? []
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1)
      }
      row[j] = best
    }
  }
  return rows[a.length]?.[b.length] ?? max + 1
}

/** The declared key an unknown one is most likely a typo of, if any is close. */
const nearMiss = (ast: SchemaAST.AST, key: PropertyKey): string | undefined => {
  if (!SchemaAST.isObjects(ast) || typeof key !== "string") return undefined
  const lower = key.toLowerCase()
  let best: { readonly name: string; readonly d: number } | undefined
  for (const property of ast.propertySignatures) {
    const name = String(property.name)
    const other = name.toLowerCase()
    // A shortened name (`maxRss` for `maxRssBytes`) counts as a near miss too.
    const shortened = lower.length >= 4 && other.startsWith(lower)
    const d = other === lower ? 0 : shortened ? 1 : distance(lower, other, 2)
    if (d <= 2 && (best === undefined || d < best.d)) best = { name, d }
  }
  return best?.name
}

interface Entry {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

// Walks the structure of the issue (pointers and groups) to find unknown keys; everything else is
// rendered by Effect's own formatter, relative to where it sits.
const entries = (issue: SchemaIssue.Issue, path: ReadonlyArray<PropertyKey>): Array<Entry> => {
  switch (issue._tag) {
    case "Pointer":
      if (issue.issue._tag === "UnexpectedKey") {
        const key = issue.path[issue.path.length - 1]
        const suggestion = key === undefined ? undefined : nearMiss(issue.issue.ast, key)
        return [{
          path: [...path, ...issue.path],
          message: suggestion === undefined ? "unknown key" : `unknown key (did you mean ${suggestion}?)`
        }]
      }
      return entries(issue.issue, [...path, ...issue.path])
    case "Composite":
      return issue.issues.flatMap((child) => entries(child, path))
    // A union's members that were tried (an optional field is a union with `undefined`).
    case "AnyOf":
      return issue.issues.length > 0
        ? issue.issues.flatMap((child) => entries(child, path))
        : standardEntries(issue, path)
    default:
      return standardEntries(issue, path)
  }
}

const standardEntries = (issue: SchemaIssue.Issue, path: ReadonlyArray<PropertyKey>): Array<Entry> =>
  standard(issue).issues.map((entry) => ({
    path: [...path, ...(entry.path ?? []).map((p) => (typeof p === "object" ? p.key : p))],
    message: entry.message
  }))

/** Every problem of an issue, `path: problem`, joined by `; `; `prefix` goes in front of every path. */
export const formatIssues = (issue: SchemaIssue.Issue, prefix: ReadonlyArray<PropertyKey> = []): string =>
  entries(issue, prefix).map(({ message, path }) => (path.length === 0 ? message : `${formatPath(path)}: ${message}`))
    .join("; ")

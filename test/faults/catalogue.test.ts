/**
 * The fault catalogue (docs/FAILURES.md, a copy of the shared FAILURES.md, rows F01-F24) is covered: every
 * row has at least one test under test/ whose title starts with its ID (`it.live("F07: ...")`,
 * `it.effect("F07 fallback: ...")`) and that tests the library, not only one of the test doubles (a
 * FakeCli knob that crashes after a tool ran is not yet a library that survives it); and
 * test/faults/README.md maps every row to the files that prove it. A row without such a test fails here.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..", "..")
const testRoot = path.join(root, "test")
const self = path.join(testRoot, "faults", "catalogue.test.ts")
/** Tests of the test doubles themselves: they show a fault can be produced, not that the library survives it. */
const doubles = new Set(["test/FakeApi.test.ts", "test/FakeCli.test.ts", "test/FakeSpawner.test.ts"])

/** The rows of the catalogue table: `| F07 | fault | ... |`. */
const rows = [...fs.readFileSync(path.join(root, "docs", "FAILURES.md"), "utf8").matchAll(/^\| (F\d\d) \| ([^|]+?) \|/gm)].map(
  (match) => ({ id: match[1] ?? "", fault: match[2] ?? "" })
)

const testFiles = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === "fixtures" || entry.name === "node_modules" ? [] : testFiles(file)
    return /\.test\.ts$/.test(entry.name) && file !== self ? [file] : []
  })

/**
 * Test titles that start with a fault ID: `it("F07...`, `it.effect("F07...`, `it.live(\n  "F07...`,
 * `test(...)`. Skipped and to-do tests do not count.
 */
const titlePattern = /\b(?:it|test)((?:\.[A-Za-z]+(?:\([^()]*\))?)*)\(\s*(["'`])(F\d\d)\b((?:(?!\2)[^\\\n]|\\.)*)\2/g

interface Title {
  readonly id: string
  readonly file: string
  readonly title: string
}

const titles: ReadonlyArray<Title> = testFiles(testRoot).flatMap((file) =>
  [...fs.readFileSync(file, "utf8").matchAll(titlePattern)].flatMap((match): Array<Title> => {
    const modifiers = match[1] ?? ""
    if (/\.(skip|todo)\b/.test(modifiers)) return []
    const id = match[3] ?? ""
    return [{ id, file: path.relative(root, file), title: `${id}${match[4] ?? ""}` }]
  })
)

const readme = fs.readFileSync(path.join(testRoot, "faults", "README.md"), "utf8")

/** Rows whose README section has a line `Open: <why>`: known not covered yet. */
const openRows = new Set(
  [...readme.matchAll(/^## (F\d\d)\b[\s\S]*?(?=^## |(?![\s\S]))/gm)]
    .filter((match) => /^Open: /m.test(match[0]))
    .map((match) => match[1] ?? "")
)

describe("the fault catalogue", () => {
  it("docs/FAILURES.md has the rows F01 to F24, in order", () => {
    assert.deepStrictEqual(
      rows.map((row) => row.id),
      Array.from({ length: 24 }, (_, i) => `F${String(i + 1).padStart(2, "0")}`)
    )
  })

  it("finds the test titles it looks for (the scan itself works)", () => {
    // Rows covered since the first issues; should the scan break, every row would look uncovered.
    for (const id of ["F01", "F04", "F11"]) assert.isAbove(titles.filter((t) => t.id === id).length, 1, id)
  })

  for (const { fault, id } of rows) {
    it(`${id} (${fault.trim().slice(0, 60)}) has a test of the library titled with its ID, or is marked open`, () => {
      const found = titles.filter((t) => t.id === id && !doubles.has(t.file))
      // A row the project has not covered yet says so in its section ("Open: <why>"); once a test exists, the
      // marker must go, so the mark can never stand for coverage.
      if (openRows.has(id)) {
        assert.deepStrictEqual(found.map((t) => t.title), [], `${id} has tests now: remove its "Open:" line`)
        return
      }
      assert.isAbove(
        found.length,
        0,
        `no test under test/ (tests of the fakes aside) has a title starting with ${id}: write one that asserts ` +
          `the row's "nothing lost" column, and name its file in test/faults/README.md`
      )
    })

    it(`${id} is mapped in test/faults/README.md, to files that exist`, () => {
      // The row's section: from its `## F07` heading to the next heading of that level.
      const section = new RegExp(`^## ${id}\\b([\\s\\S]*?)(?=^## |(?![\\s\\S]))`, "m").exec(readme)?.[1]
      assert.isDefined(section, `test/faults/README.md has no "## ${id}" section`)
      // Markdown links to .ts files, relative to test/faults/.
      const linked = [...(section ?? "").matchAll(/\]\(([^)\s]+\.ts)\)/g)].map((m) =>
        path.relative(root, path.resolve(testRoot, "faults", m[1] ?? ""))
      )
      for (const file of linked) assert.isTrue(fs.existsSync(path.join(root, file)), `${id} links ${file}, which does not exist`)
      // Every file with a test titled by this ID is linked in its section.
      const named = new Set(linked)
      const missing = [...new Set(titles.filter((t) => t.id === id).map((t) => t.file))].filter((file) => !named.has(file))
      assert.deepStrictEqual(missing, [], `${id}: link these files in its section of test/faults/README.md`)
    })
  }
})

/**
 * The fault catalogue (docs/FAILURES.md, a copy of the shared FAILURES.md, rows F01-F24) is covered: every
 * row has at least one test under test/ whose title starts with its ID (`it.live("F07: ...")`,
 * `it.effect("F07 fallback: ...")`) and that tests the library, not only one of the test doubles (a
 * FakeCli knob that crashes after a tool ran is not yet a library that survives it); and
 * test/faults/README.md maps every row to the files that prove it. A row without such a test fails here.
 *
 * These checks read the source, so a test skipped at run time (`runIf`, `skipIf`) counts here; whether the
 * covering tests really passed is checked at the end of a whole-suite run by `catalogueReporter.ts`, whose
 * pure check is tested below.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import {
  catalogueTest,
  describeUncovered,
  doubles,
  type Outcome,
  parseOpenRows,
  parseRows,
  partialRun,
  type RunScope,
  uncoveredRows
} from "./catalogueReporter.ts"

const root = path.join(import.meta.dirname, "..", "..")
const testRoot = path.join(root, "test")
const self = path.join(root, catalogueTest)

const rows = parseRows(fs.readFileSync(path.join(root, "docs", "FAILURES.md"), "utf8"))

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

const openRows = parseOpenRows(readme)

describe("the fault catalogue", () => {
  it("docs/FAILURES.md has the rows F01 to F25, in order", () => {
    assert.deepStrictEqual(
      rows.map((row) => row.id),
      Array.from({ length: 25 }, (_, i) => `F${String(i + 1).padStart(2, "0")}`)
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
      for (const file of linked) {
        assert.isTrue(fs.existsSync(path.join(root, file)), `${id} links ${file}, which does not exist`)
      }
      // Every file with a test titled by this ID is linked in its section.
      const named = new Set(linked)
      const missing = [...new Set(titles.filter((t) => t.id === id).map((t) => t.file))].filter((file) =>
        !named.has(file)
      )
      assert.deepStrictEqual(missing, [], `${id}: link these files in its section of test/faults/README.md`)
    })
  }
})

describe("the run-time check (catalogueReporter.ts): rows with no test that passed", () => {
  const catalogue = parseRows(
    "| ID | fault |\n|---|---|\n| F01 | orphaned processes | x | y |\n| F02 | the leader killed | x | y |\n"
  )
  const outcome = (file: string, title: string, state: Outcome["state"]): Outcome => ({ file, title, state })
  const ids = (outcomes: ReadonlyArray<Outcome>, open: ReadonlySet<string> = new Set()) =>
    uncoveredRows(catalogue, open, outcomes).map((u) => u.row.id)

  it("a row whose only tests were skipped (runIf, skipIf) is uncovered, with those tests", () => {
    const skipped = [
      outcome("test/containment.test.ts", "F02: the CLI SIGKILLed from outside", "skipped"),
      outcome("test/containment.test.ts", "F02: a signal to the group leader", "skipped")
    ]
    const uncovered = uncoveredRows(catalogue, new Set(), [
      ...skipped,
      outcome("test/hostDeath.test.ts", "F01: a host killed with SIGKILL", "passed")
    ])
    assert.deepStrictEqual(uncovered, [{ row: { id: "F02", fault: "the leader killed" }, tests: skipped }])
  })

  it("one passed test covers its row, whatever else of the row was skipped or failed", () => {
    assert.deepStrictEqual(
      ids([
        outcome("test/containment.test.ts", "F01: closing mid-tool leaves nothing", "skipped"),
        outcome("test/hostDeath.test.ts", "F01 chaos: 20 rounds", "failed"),
        outcome("test/ProcessManager.test.ts", "F01: interrupting a turn", "passed"),
        outcome("test/ProcessManager.test.ts", "F02: after a normal turn", "passed")
      ]),
      []
    )
  })

  it("a row whose tests failed or never finished, or that has none, is uncovered", () => {
    assert.deepStrictEqual(ids([outcome("test/hostDeath.test.ts", "F01: killed", "failed")]), ["F01", "F02"])
    assert.deepStrictEqual(ids([outcome("test/hostDeath.test.ts", "F02: killed", "pending")]), ["F01", "F02"])
  })

  it("passing tests of the doubles, and the catalogue's own tests titled by row, cover nothing", () => {
    assert.deepStrictEqual(
      ids([
        outcome("test/FakeCli.test.ts", "F01: spawnChildren", "passed"),
        outcome(catalogueTest, "F02 (the leader killed) has a test of the library titled with its ID", "passed")
      ]),
      ["F01", "F02"]
    )
  })

  it("a row marked open is not reported (the static check holds it to having no test)", () => {
    assert.deepStrictEqual(ids([outcome("test/a.test.ts", "F01: x", "passed")], new Set(["F02"])), [])
  })

  it("only a title that starts with the ID counts for it", () => {
    assert.deepStrictEqual(
      ids([
        outcome("test/a.test.ts", "F010: not a row", "passed"),
        outcome("test/a.test.ts", "see F01: not a title of F01", "passed"),
        outcome("test/a.test.ts", "F02 by process group only: the control", "passed")
      ]),
      ["F01"]
    )
  })

  it("the failure names each row, and each of its tests with the state it ended in", () => {
    const message = describeUncovered(
      uncoveredRows(catalogue, new Set(), [outcome("test/containment.test.ts", "F02: SIGKILLed", "skipped")])
    )
    assert.include(message, "2 row(s)")
    assert.include(message, "F01 (orphaned processes): no test titled with its ID")
    assert.include(message, "F02 (the leader killed): 1 test(s), none passed")
    assert.include(message, "skipped: test/containment.test.ts > F02: SIGKILLed")
  })

  it("only a run of every test file with no filter is checked", () => {
    const whole: RunScope = {
      suite: ["test/a.test.ts", "test/b.test.ts"],
      ran: ["test/b.test.ts", "test/a.test.ts"],
      testNamePattern: false,
      shard: false,
      tags: false,
      only: false
    }
    assert.isUndefined(partialRun(whole))
    assert.strictEqual(partialRun({ ...whole, ran: ["test/a.test.ts"] }), "1 of 2 test files not run")
    assert.strictEqual(partialRun({ ...whole, testNamePattern: true }), "a test name pattern (-t)")
    assert.strictEqual(partialRun({ ...whole, shard: true }), "a shard")
    assert.strictEqual(partialRun({ ...whole, tags: true }), "a tags filter")
    assert.strictEqual(partialRun({ ...whole, only: true }), "a test marked .only")
  })
})

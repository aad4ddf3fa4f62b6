/**
 * The fault catalogue's coverage as the run saw it. `catalogue.test.ts` reads test titles from the source, so
 * a test skipped at run time (`it.live.runIf(hasPidNamespace)("F02: ...")` on a host without namespaces)
 * counts there as much as one that ran. This reporter counts what actually passed: at the end of a run of the
 * whole suite it fails the run (exit code 1, the rows listed) when a row of docs/FAILURES.md has no test of
 * the library titled with its ID that passed. A run of a few files, or one narrowed by `-t`, `--shard`,
 * tags or `.only`, covers only part of the catalogue and is not checked.
 *
 * Registered by the `faultCatalogue` plugin in vitest.config.ts rather than in `test.reporters`: reporters
 * given on the command line (CI passes `--reporter=default --reporter=json`) replace the configured ones,
 * while a plugin's `configureVitest` adds to the list after the command line was applied.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import type { Reporter, TestModule, TestRunEndReason, Vite, Vitest } from "vitest/node"

/** A row of the catalogue table: `| F07 | fault | ... |`. */
export interface Row {
  readonly id: string
  readonly fault: string
}

export const parseRows = (failuresMd: string): ReadonlyArray<Row> =>
  [...failuresMd.matchAll(/^\| (F\d\d) \| ([^|]+?) \|/gm)].map((match) => ({
    id: match[1] ?? "",
    fault: match[2] ?? ""
  }))

/** Rows whose section of test/faults/README.md has a line `Open: <why>`: known, not covered yet. */
export const parseOpenRows = (readme: string): ReadonlySet<string> =>
  new Set(
    [...readme.matchAll(/^## (F\d\d)\b[\s\S]*?(?=^## |(?![\s\S]))/gm)]
      .filter((match) => /^Open: /m.test(match[0]))
      .map((match) => match[1] ?? "")
  )

/** Tests of the test doubles themselves: they show a fault can be produced, not that the library survives it. */
export const doubles: ReadonlySet<string> = new Set([
  "test/FakeApi.test.ts",
  "test/FakeCli.test.ts",
  "test/FakeSpawner.test.ts"
])

/** This catalogue's own tests are titled by row (`F07 (...) has a test ...`) and cover nothing. */
export const catalogueTest = "test/faults/catalogue.test.ts"

/** One test as the run ended it; `file` relative to the repository. */
export interface Outcome {
  readonly file: string
  readonly title: string
  readonly state: "passed" | "failed" | "skipped" | "pending"
}

export interface Uncovered {
  readonly row: Row
  /** The tests of the library titled with the row's ID, none of which passed. */
  readonly tests: ReadonlyArray<Outcome>
}

/** The fault ID a test title starts with (`F07: ...`, `F01 chaos: ...`), if any. */
export const faultId = (title: string): string | undefined => /^(F\d\d)\b/.exec(title)?.[1]

/**
 * The rows (open ones aside) with no passed test of the library titled with their ID, each with the tests
 * that were titled with it: skipped, failed or never finished.
 */
export const uncoveredRows = (
  rows: ReadonlyArray<Row>,
  openRows: ReadonlySet<string>,
  outcomes: ReadonlyArray<Outcome>
): ReadonlyArray<Uncovered> => {
  const ofLibrary = outcomes.filter((o) => !doubles.has(o.file) && o.file !== catalogueTest)
  return rows.flatMap((row): Array<Uncovered> => {
    if (openRows.has(row.id)) return []
    const tests = ofLibrary.filter((o) => faultId(o.title) === row.id)
    return tests.some((o) => o.state === "passed") ? [] : [{ row, tests }]
  })
}

/** What narrowed a run, if anything: its files against the suite's, and the filters given. */
export interface RunScope {
  /** Every test file of the configuration (`include`), relative. */
  readonly suite: ReadonlyArray<string>
  /** The files this run ran, relative. */
  readonly ran: ReadonlyArray<string>
  readonly testNamePattern: boolean
  readonly shard: boolean
  readonly tags: boolean
  readonly only: boolean
}

/** Why the run is not one of the whole suite, or `undefined` when it is. */
export const partialRun = (scope: RunScope): string | undefined => {
  const ran = new Set(scope.ran)
  const missing = scope.suite.filter((file) => !ran.has(file))
  if (missing.length > 0) return `${missing.length} of ${scope.suite.length} test files not run`
  if (scope.testNamePattern) return "a test name pattern (-t)"
  if (scope.shard) return "a shard"
  if (scope.tags) return "a tags filter"
  if (scope.only) return "a test marked .only"
  return undefined
}

export const describeUncovered = (uncovered: ReadonlyArray<Uncovered>): string =>
  [
    `Fault catalogue: ${uncovered.length} row(s) of docs/FAILURES.md have no test of the library that passed in ` +
    "this run (a skipped test covers nothing):",
    ...uncovered.flatMap(({ row, tests }) => [
      `  ${row.id} (${row.fault.trim().slice(0, 60).trimEnd()}): ${
        tests.length === 0 ? "no test titled with its ID" : `${tests.length} test(s), none passed`
      }`,
      ...tests.map((t) => `    ${t.state}: ${t.file} > ${t.title}`)
    ])
  ].join("\n")

const outcomesOf = (root: string, modules: ReadonlyArray<TestModule>): ReadonlyArray<Outcome> =>
  modules.flatMap((module) =>
    [...module.children.allTests()].map((test) => ({
      file: path.relative(root, module.moduleId),
      title: test.name,
      state: test.result().state
    }))
  )

export class CatalogueReporter implements Reporter {
  private vitest: Vitest | undefined

  onInit(vitest: Vitest): void {
    this.vitest = vitest
  }

  async onTestRunEnd(modules: ReadonlyArray<TestModule>, _errors: unknown, reason: TestRunEndReason): Promise<void> {
    const vitest = this.vitest
    if (vitest === undefined || reason === "interrupted") return
    const root = vitest.config.root
    const relative = (file: string) => path.relative(root, file)
    const suite = (await vitest.globTestSpecifications()).map((spec) => relative(spec.moduleId))
    const partial = partialRun({
      suite,
      ran: modules.map((module) => relative(module.moduleId)),
      testNamePattern: vitest.config.testNamePattern !== undefined,
      shard: vitest.config.shard !== undefined,
      tags: (vitest.config.tagsFilter ?? []).length > 0,
      only: modules.some((module) => [...module.children.allTests()].some((test) => test.options.mode === "only"))
    })
    if (partial !== undefined) return
    const uncovered = uncoveredRows(
      parseRows(fs.readFileSync(path.join(root, "docs", "FAILURES.md"), "utf8")),
      parseOpenRows(fs.readFileSync(path.join(root, "test", "faults", "README.md"), "utf8")),
      outcomesOf(root, modules)
    )
    if (uncovered.length === 0) return
    vitest.logger.error(`\n${describeUncovered(uncovered)}\n`)
    process.exitCode = 1
  }
}

/** Adds a `CatalogueReporter` to whatever reporters the configuration and the command line chose. */
export const faultCatalogue = (): Vite.Plugin => ({
  name: "effect-claude-code:fault-catalogue",
  configureVitest({ vitest }) {
    if (!vitest.config.reporters.some((reporter) => reporter instanceof CatalogueReporter)) {
      vitest.config.reporters.push(new CatalogueReporter())
    }
  }
})

/**
 * `npm run fixtures:record [-- <name...>] [--out <dir>] [--check]`: re-records the transcripts under
 * `test/fixtures/claude-cli-<version>/` from the pinned CLI and the FakeApi, one scenario module per folder
 * (scripts/fixtures/). With `--check` it records into a temp dir instead and prints, per fixture, the diff of
 * the decoded events (scripts/fixtures/decoded.ts) between the committed folder and the new recording,
 * exiting 1 when any differs. See docs/testing.md, "Keeping up with the CLI".
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { decodedFolder, diffEvents } from "./fixtures/decoded.ts"
import { scenarios } from "./fixtures/index.ts"
import { cliVersion, pinnedCli, recordScenario, root } from "./fixtures/record.ts"

const argv = process.argv.slice(2)
const check = argv.includes("--check")
const outAt = argv.indexOf("--out")
const outOption = outAt === -1 ? undefined : argv[outAt + 1]
const names = argv.filter((arg, index) => !arg.startsWith("--") && (outAt === -1 || index !== outAt + 1))
const unknown = names.filter((name) => !scenarios.some((scenario) => scenario.name === name))
if (unknown.length > 0) {
  console.error(`no such fixture: ${unknown.join(", ")}; known: ${scenarios.map((s) => s.name).join(", ")}`)
  process.exit(2)
}
const executable = process.env.CLAUDE_CODE_EXECUTABLE ?? pinnedCli
const version = cliVersion(executable)
const committed = path.join(root, "test", "fixtures", `claude-cli-${version}`)
const tempOut = check && outOption === undefined
  ? fs.mkdtempSync(path.join(os.tmpdir(), "ecc-fixtures-check-"))
  : undefined
const outDir = path.resolve(outOption ?? tempOut ?? committed)
const chosen = scenarios.filter((scenario) => names.length === 0 || names.includes(scenario.name))

console.log(`CLI ${version} (${executable}) -> ${outDir}${check ? `, checked against ${committed}` : ""}`)

const program = Effect.gen(function*() {
  let differing = 0
  let failed = 0
  for (const scenario of chosen) {
    if (scenario.skip !== undefined) {
      console.log(`- ${scenario.name}: skipped, ${scenario.skip}`)
      continue
    }
    const started = Date.now()
    const recorded = yield* Effect.result(recordScenario(scenario, outDir, executable))
    if (recorded._tag === "Failure") {
      failed++
      console.log(`x ${scenario.name}: ${recorded.failure}`)
      continue
    }
    const took = ((Date.now() - started) / 1000).toFixed(1)
    if (!check) {
      console.log(`+ ${scenario.name}: ${recorded.success.lines} lines, rc=${recorded.success.code} (${took} s)`)
      continue
    }
    const before = decodedFolder(path.join(committed, scenario.name))
    // the exit code counts only where the committed folder has an exit.txt (not every earlier run kept one)
    const after = (decodedFolder(recorded.success.dir) ?? []).filter((line) =>
      !line.startsWith("exit ") || before?.at(-1)?.startsWith("exit ") === true
    )
    const diff = before === undefined ? [`(no committed ${scenario.name})`] : diffEvents(before, after)
    if (diff.length === 0) {
      console.log(`= ${scenario.name}: same ${after.length} decoded events (${took} s)`)
    } else {
      differing++
      console.log(
        `! ${scenario.name}: the decoded events differ (${took} s)\n${diff.map((l) => `    ${l}`).join("\n")}`
      )
    }
  }
  if (tempOut !== undefined) fs.rmSync(tempOut, { recursive: true, force: true })
  console.log(`${chosen.length} fixtures: ${failed} failed, ${check ? `${differing} differ` : "recorded"}`)
  return failed > 0 || differing > 0 ? 1 : 0
})

process.exitCode = await Effect.runPromise(program)

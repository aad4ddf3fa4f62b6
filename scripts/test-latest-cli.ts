/**
 * `npm run test:latest-cli`: the suite against the newest Claude Code CLI on npm, beside the pinned one. Asks
 * the registry for the newest `@anthropic-ai/claude-code`, installs it into a temp dir (never into the
 * project), and runs the whole suite with `CLAUDE_CODE_EXECUTABLE` pointing at it: the real-CLI tests run on it,
 * the others are unchanged. Ends with one line, `latest CLI <version>: N passed, N failed` (or why it did not
 * run), and exits non-zero only when tests failed, so `.ci/run` can report it apart: a newer CLI that breaks us
 * is news, not a red build of the pinned one.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const pinned: unknown = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).devDependencies?.[
  "@anthropic-ai/claude-code"
]

const done = (line: string, code: number) => {
  console.log(line)
  process.exit(code)
}

const view = spawnSync("npm", ["view", "@anthropic-ai/claude-code", "version"], { encoding: "utf8", timeout: 30_000 })
const latest = view.status === 0 ? view.stdout.trim() : ""
if (!/^\d+\.\d+\.\d+/.test(latest)) done("latest CLI: the registry did not answer, not run", 0)
if (latest === pinned && process.env.LATEST_CLI_EVEN_IF_PINNED !== "1") {
  done(`latest CLI ${latest}: the pinned version, already tested`, 0)
}

/** Installs the CLI and runs the suite on it: the last line, and the exit code. */
const runOn = (dir: string): readonly [string, number] => {
  const report = path.join(dir, "report.json")
  console.log(`== installing @anthropic-ai/claude-code@${latest} into ${dir}`)
  const install = spawnSync("npm", [
    "install",
    "--prefix",
    dir,
    "--no-audit",
    "--no-fund",
    "--no-save",
    `@anthropic-ai/claude-code@${latest}`
  ], { stdio: "inherit", timeout: 300_000 })
  const executable = path.join(dir, "node_modules", ".bin", "claude")
  if (install.status !== 0 || !fs.existsSync(executable)) {
    return [`latest CLI ${latest}: the install failed, not run`, 0]
  }

  console.log(`== the suite with CLAUDE_CODE_EXECUTABLE=${executable}`)
  spawnSync(path.join(root, "node_modules", ".bin", "vitest"), [
    "run",
    "--reporter=dot",
    "--reporter=json",
    `--outputFile.json=${report}`
  ], { cwd: root, stdio: "inherit", env: { ...process.env, CLAUDE_CODE_EXECUTABLE: executable }, timeout: 900_000 })
  const counts: unknown = fs.existsSync(report) ? JSON.parse(fs.readFileSync(report, "utf8")) : undefined
  const number = (key: string) => {
    const value: unknown = typeof counts === "object" && counts !== null ? Reflect.get(counts, key) : undefined
    return typeof value === "number" ? value : NaN
  }
  const passed = number("numPassedTests")
  const failed = number("numFailedTests") +
    (number("numFailedTestSuites") > 0 && number("numFailedTests") === 0 ? 1 : 0)
  if (Number.isNaN(passed) || Number.isNaN(failed)) return [`latest CLI ${latest}: the suite gave no report`, 1]
  return [`latest CLI ${latest}: ${passed} passed, ${failed} failed`, failed === 0 ? 0 : 1]
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-claude-code-latest-cli-"))
const [line, code] = runOn(dir)
fs.rmSync(dir, { recursive: true, force: true })
done(line, code)

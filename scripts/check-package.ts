/**
 * `npm run check:package`: the package as npm would publish it. Builds `dist/` afresh (and removes it after),
 * packs the tarball, and checks it with publint and @arethetypeswrong/cli, then type-checks the published declarations
 * (`skipLibCheck: false`, as a consumer's strict build would see them). Ends with one line per check and exits
 * non-zero when any failed.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const bin = (name: string) => path.join(root, "node_modules", ".bin", name)
const results: Array<{ readonly check: string; readonly ok: boolean; readonly detail: string }> = []

/** Runs a command in the project, its output shown as it comes; bounded at 5 minutes. */
const run = (command: string, args: ReadonlyArray<string>) => {
  const child = spawnSync(command, args, { cwd: root, stdio: "inherit", timeout: 300_000 })
  return child.status === 0
}

/** Runs a command in the project and returns its output. */
const capture = (command: string, args: ReadonlyArray<string>) =>
  spawnSync(command, args, { cwd: root, encoding: "utf8", timeout: 300_000 })

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "effect-claude-code-check-package-"))

console.log("== build")
fs.rmSync(path.join(root, "dist"), { recursive: true, force: true })
const built = run(bin("tsc"), ["-p", "tsconfig.build.json"])
results.push({ check: "build", ok: built, detail: "tsc -p tsconfig.build.json" })

console.log("== npm pack")
const pack = capture("npm", ["pack", "--json", "--pack-destination", scratch])
const packed: ReadonlyArray<{ readonly filename: string; readonly size: number; readonly entryCount: number }> =
  pack.status === 0 ? JSON.parse(pack.stdout) : []
const tarball = packed[0] === undefined ? undefined : path.join(scratch, packed[0].filename)
results.push({
  check: "pack",
  ok: built && tarball !== undefined,
  detail: packed[0] === undefined
    ? pack.stderr.trim()
    : `${packed[0].filename}, ${packed[0].entryCount} files, ${Math.round(packed[0].size / 1024)} kB`
})

if (tarball !== undefined) {
  console.log("== publint")
  results.push({ check: "publint", ok: run(bin("publint"), ["run", tarball, "--strict"]), detail: "--strict" })
  console.log("== @arethetypeswrong/cli")
  // ESM only, as effect itself: CommonJS `require` and node10 resolution are not supported, by design.
  results.push({
    check: "attw",
    ok: run(bin("attw"), [tarball, "--profile", "esm-only"]),
    detail: "--profile esm-only"
  })
}

if (built) {
  console.log("== the published declarations type-check")
  const tsconfig = path.join(root, "dist", "tsconfig.declarations.json")
  fs.writeFileSync(
    tsconfig,
    JSON.stringify({
      compilerOptions: {
        target: "ES2023",
        lib: ["ES2023"],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        types: ["node"],
        strict: true,
        exactOptionalPropertyTypes: true,
        noEmit: true,
        skipLibCheck: false
      },
      include: ["./**/*.d.ts"]
    })
  )
  const tsc = capture(bin("tsc"), ["-p", tsconfig])
  fs.rmSync(tsconfig)
  // Only ours count: effect's own declarations need lib "DOM" for their WebCrypto types, which a Node
  // consumer does not load, and a consumer's skipLibCheck covers those.
  const ours = `${tsc.stdout}${tsc.stderr}`.split("\n").filter((line) => line.startsWith("dist/"))
  for (const line of ours) console.log(line)
  results.push({
    check: "declarations",
    ok: tsc.error === undefined && ours.length === 0,
    detail: ours.length === 0 ? "dist/**/*.d.ts, skipLibCheck false" : `${ours.length} error(s) in dist/**/*.d.ts`
  })
}

fs.rmSync(scratch, { recursive: true, force: true })
// The build was for the tarball: a dist/ left behind would be run instead of src/ by bin/ (the decode tests
// compare the two), and go stale at the next change.
fs.rmSync(path.join(root, "dist"), { recursive: true, force: true })
console.log("")
for (const { check, detail, ok } of results) console.log(`check:package ${check}: ${ok ? "ok" : "FAILED"} (${detail})`)
if (results.some((result) => !result.ok) || results.length < 5) process.exitCode = 1

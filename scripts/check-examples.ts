/**
 * `npm run docs:examples`: type-checks every `@example` code block of the JSDoc in `src/` as a user would write
 * it, importing `effect-claude-code` (the package's own name, resolved through its "exports" to `src/`), with
 * the project's compiler options, TypeScript 7. Examples are compiled, never run: most of them start a CLI.
 * Errors are reported at their line in the source file. Exits non-zero on any error.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

interface Example {
  /** The source file, relative to the project. */
  readonly file: string
  /** The line (1-based) of the opening fence: line `n` of the example is line `fence + n` of the file. */
  readonly fence: number
  readonly code: string
}

const root = path.resolve(import.meta.dirname, "..")
const scratch = path.join(root, ".examples")

const sourceFiles = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith(".ts") ? [full] : []
  })

/** The fenced `ts` blocks of the `@example` sections of every doc comment in `text`. */
const examplesIn = (file: string, text: string): Array<Example> =>
  [...text.matchAll(/\/\*\*[\s\S]*?\*\//g)].flatMap((comment) => {
    const commentLine = text.slice(0, comment.index).split("\n").length
    const examples: Array<Example> = []
    let inExample = false
    let block: { readonly fence: number; readonly lines: Array<string> } | undefined
    comment[0].split("\n").forEach((raw, offset) => {
      // The line without the comment's `/**`, ` * ` or ` */`; a code line keeps its indentation.
      const line = raw.replace(/^\s*(?:\/\*\*|\*\/|\*(?!\/))? ?/, "").replace(/\s*\*\/$/, "")
      if (block !== undefined) {
        if (line.trimStart().startsWith("```")) {
          examples.push({ file, fence: block.fence, code: `${block.lines.join("\n")}\n` })
          block = undefined
        } else {
          block.lines.push(line)
        }
      } else if (line.startsWith("@")) {
        inExample = line.startsWith("@example")
      } else if (inExample && /^```(?:ts|typescript)\b/.test(line.trim())) {
        block = { fence: commentLine + offset, lines: [] }
      }
    })
    return examples
  })

const examples = sourceFiles(path.join(root, "src")).flatMap((file) =>
  examplesIn(path.relative(root, file), fs.readFileSync(file, "utf8"))
)

fs.rmSync(scratch, { recursive: true, force: true })
fs.mkdirSync(scratch)
const byName = new Map<string, Example>()
for (const example of examples) {
  const name = `${example.file.replace(/[/.]/g, "_")}_L${example.fence}.ts`
  byName.set(name, example)
  // `export {}` last, so that an example without imports is a module too, and its lines keep their numbers.
  fs.writeFileSync(path.join(scratch, name), `${example.code}export {}\n`)
}
fs.writeFileSync(
  path.join(scratch, "tsconfig.json"),
  JSON.stringify({
    extends: "../tsconfig.json",
    // An example may show a value it does not use further.
    compilerOptions: { noUnusedLocals: false, noUnusedParameters: false },
    include: ["*.ts"]
  })
)

const tsc = spawnSync(path.join(root, "node_modules", ".bin", "tsc"), ["-p", path.join(scratch, "tsconfig.json")], {
  cwd: root,
  encoding: "utf8",
  timeout: 300_000
})
fs.rmSync(scratch, { recursive: true, force: true })

// `.examples/<name>(line,col)` back to the source file's line.
const output = `${tsc.stdout}${tsc.stderr}`.replace(
  /\.examples\/([\w.]+\.ts)\((\d+),(\d+)\)/g,
  (match, name: string, line: string, column: string) => {
    const example = byName.get(name)
    return example === undefined
      ? match
      : `${example.file}:${example.fence + Number(line)}:${column} (@example at line ${example.fence})`
  }
)
if (output.trim() !== "") console.log(output.trimEnd())
const files = new Set(examples.map((example) => example.file)).size
if (tsc.status === 0) {
  console.log(`${examples.length} @example block(s) in ${files} file(s) type-check`)
} else {
  console.log(
    `@example type-check failed (${examples.length} block(s) in ${files} file(s); tsc ${tsc.status ?? tsc.signal})`
  )
  process.exitCode = 1
}

/**
 * The published package as a user gets it: the tarball `npm pack` makes (built afresh, outside the working
 * tree), installed with npm, offline, into a scratch project whose only other packages are the peer
 * dependencies. There the README's quick start, copied unchanged, and a program making the three calls users
 * write to (a query with an effect/ai toolkit, `Claude.generateObject`, `LanguageModel.generateText` on
 * `ClaudeLanguageModel`) run on the real CLI against a FakeApi that the scratch project serves from the
 * tarball's own `effect-claude-code/testing`.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import type { Duration } from "effect"
import { Effect, Fiber, Schema, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { eventually, processesWithHome, tempDir } from "./utils.ts"

const root = path.join(import.meta.dirname, "..")
const bin = (name: string) => path.join(root, "node_modules", ".bin", name)
const npm = "npm"

/** Runs a command to its end within `within`: its stdout, or a defect naming it with its exit code and stderr. */
const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: Record<string, string>; readonly within: Duration.Input }
) =>
  Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const handle = yield* spawner.spawn(ChildProcess.make(command, args, {
      cwd: options.cwd,
      ...(options.env === undefined ? {} : { env: options.env }),
      forceKillAfter: "5 seconds"
    }))
    const stderr = yield* handle.stderr.pipe(Stream.decodeText(), Stream.mkString, Effect.forkScoped)
    const stdout = yield* handle.stdout.pipe(Stream.decodeText(), Stream.mkString, Effect.forkScoped)
    const exitCode = yield* handle.exitCode
    const out = yield* Fiber.join(stdout)
    if (exitCode !== 0) {
      return yield* Effect.die(
        new Error(`${command} ${args.join(" ")} exited with ${exitCode}\n${out}\n${yield* Fiber.join(stderr)}`)
      )
    }
    return out
  }).pipe(
    Effect.scoped,
    Effect.timeoutOrElse({
      duration: options.within,
      orElse: () => Effect.die(new Error(`${command} ${args.join(" ")} did not end within ${options.within}`))
    })
  )

/** The first `ts` block of the README's "Quick start" section, as a user copies it. */
const readmeQuickStart = (): string => {
  const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
  const section = readme.split("\n## Quick start\n")[1]?.split("\n## ")[0] ?? ""
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1]
  assert.isDefined(code, "README.md has a ts block under ## Quick start")
  return code ?? ""
}

/**
 * What the scratch project runs to serve the fake Messages API: the tarball's testing export. Its script is
 * the quick start's answer, or with \`contract\` the model's side of the contract program's three calls.
 */
const fakeApiServer = `import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { FakeApi } from "effect-claude-code/testing"

const script = process.argv[2] === "contract"
  ? [
    FakeApi.toolUse("mcp__calc__add", { a: 2, b: 40 }),
    FakeApi.text("2 and 40 make 42."),
    FakeApi.toolUse("StructuredOutput", { answer: "forty-two" }),
    FakeApi.text("Hello from effect/ai.")
  ]
  : [FakeApi.text(["Two TypeScript files: ", "a.ts and b.ts."])]

const program = Effect.gen(function*() {
  const api = yield* FakeApi.make({ script })
  yield* Console.log(api.url)
  return yield* Effect.never
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
`

/**
 * The three calls users write to (an effect/ai toolkit served to a query, a typed object, an effect/ai
 * program on the pool), as a user's program would make them, with \`Claude.layer\` reading the environment.
 */
const contractProgram = `import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Schema, Stream } from "effect"
import { LanguageModel, Tool, Toolkit } from "effect/ai"
import { Claude, ClaudeLanguageModel } from "effect-claude-code"

const Add = Tool.make("add", {
  description: "Adds two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Number
})
const Calc = Toolkit.make(Add)
const CalcLive = Calc.toLayer({ add: ({ a, b }) => Effect.as(Console.log(\`handler: \${a} + \${b}\`), a + b) })

const program = Effect.gen(function*() {
  const events = yield* Claude.query("add 2 and 40", { allowedTools: ["mcp__calc__add"] }, { tools: { calc: Calc } })
    .pipe(Stream.runCollect)
  const result = events.findLast((event) => event._tag === "Result")
  yield* Console.log(\`query: \${result?._tag === "Result" ? result.text : "no result"}\`)

  const { value } = yield* Claude.generateObject("What is 6 * 7, in words?", Schema.Struct({ answer: Schema.String }))
  yield* Console.log(\`generateObject: \${value.answer}\`)

  const response = yield* LanguageModel.generateText({ prompt: "Say hello" }).pipe(
    Effect.provide(ClaudeLanguageModel.layer())
  )
  yield* Console.log(\`generateText: \${response.text}\`)
}).pipe(Effect.provide(Layer.merge(Claude.layer, CalcLive)))

NodeRuntime.runMain(program)
`

/** What `npm pack --json` prints: one entry per package packed. */
const PackOutput = Schema.fromJsonString(Schema.Tuple([Schema.Struct({ filename: Schema.String })]))

/** `npm pack` of a copy of the package whose `dist/` is built there: the working tree's `dist/` is left alone. */
const packTarball = (dir: string) =>
  Effect.gen(function*() {
    const stage = path.join(dir, "stage")
    fs.mkdirSync(stage)
    for (const entry of ["package.json", "README.md", "bin", "src"]) {
      fs.cpSync(path.join(root, entry), path.join(stage, entry), { recursive: true })
    }
    yield* run(bin("tsc"), ["-p", path.join(root, "tsconfig.build.json"), "--outDir", path.join(stage, "dist")], {
      cwd: root,
      within: "3 minutes"
    })
    const packed = yield* run(npm, ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], {
      cwd: stage,
      within: "1 minute"
    })
    const [tarball] = yield* Schema.decodeEffect(PackOutput)(packed).pipe(Effect.orDie)
    return path.join(dir, tarball.filename)
  })

describe("the packed tarball, installed with only the peer dependencies", () => {
  it.live(
    "runs the README's quick start and the contract calls (query with a toolkit, generateObject, LanguageModel.generateText) offline, on the built code, against the FakeApi of its testing export",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("package")
        const tarball = yield* packTarball(dir)

        const app = path.join(dir, "app")
        fs.mkdirSync(app)
        fs.writeFileSync(
          path.join(app, "package.json"),
          JSON.stringify({ name: "quick-start", private: true, type: "module" })
        )
        // Offline, and no peer auto-install: npm brings the tarball and its one dependency, @effect/sql-pg
        // (for the `Postgres` test server of the testing export), and nothing else.
        yield* run(npm, [
          "install",
          "--offline",
          "--legacy-peer-deps",
          "--ignore-scripts",
          "--no-audit",
          "--no-fund",
          "--no-package-lock",
          tarball
        ], { cwd: app, within: "1 minute" })
        const modules = path.join(app, "node_modules")
        assert.deepStrictEqual(fs.readdirSync(modules).filter((name) => !name.startsWith(".")), [
          "@effect",
          "effect-claude-code"
        ])
        assert.deepStrictEqual(fs.readdirSync(path.join(modules, "@effect")), ["sql-pg"])
        // The peers, as the user's own installs of them (the repository's copies).
        fs.symlinkSync(path.join(root, "node_modules", "effect"), path.join(modules, "effect"))
        fs.symlinkSync(
          path.join(root, "node_modules", "@effect", "platform-node"),
          path.join(modules, "@effect", "platform-node")
        )

        // The built code, whatever conditions the user's tools set ("development" included: Vite and Vitest do).
        for (const flags of [[], ["--conditions=development"]]) {
          const resolved = yield* run(process.execPath, [
            ...flags,
            "--input-type=module",
            "-e",
            "console.log(import.meta.resolve('effect-claude-code'), import.meta.resolve('effect-claude-code/testing'))"
          ], { cwd: app, within: "30 seconds" })
          assert.strictEqual(
            resolved.trim(),
            ["dist/index.js", "dist/testing/index.js"].map((file) => `file://${modules}/effect-claude-code/${file}`)
              .join(" "),
            flags.join(" ")
          )
        }

        fs.writeFileSync(path.join(app, "fake-api.ts"), fakeApiServer)
        fs.writeFileSync(path.join(app, "quick-start.ts"), readmeQuickStart())
        const home = path.join(dir, "home")
        fs.mkdirSync(home)
        const baseEnv = { PATH: process.env.PATH ?? "", TMPDIR: dir }

        // The user's programs read their credential and API from the environment, as a user's would.
        const runAgainstFakeApi = (program: string, script: "quick-start" | "contract") =>
          Effect.gen(function*() {
            const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
            const server = yield* spawner.spawn(ChildProcess.make(process.execPath, ["fake-api.ts", script], {
              cwd: app,
              env: baseEnv,
              forceKillAfter: "5 seconds"
            }))
            const url = yield* server.stdout.pipe(
              Stream.decodeText(),
              Stream.splitLines,
              Stream.runHead,
              Effect.timeoutOrElse({
                duration: "30 seconds",
                orElse: () => Effect.die(new Error("the FakeApi of the installed package printed no URL within 30 s"))
              })
            )
            assert.match(url._tag === "Some" ? url.value : "", /^http:\/\/127\.0\.0\.1:\d+$/)
            const output = yield* run(process.execPath, [program], {
              cwd: app,
              env: {
                ...baseEnv,
                HOME: home,
                CLAUDE_CONFIG_DIR: path.join(home, ".claude"),
                ANTHROPIC_BASE_URL: url._tag === "Some" ? url.value : "",
                ANTHROPIC_API_KEY: FakeApi.fakeApiKey,
                CLAUDE_CODE_EXECUTABLE: bin("claude")
              },
              within: "90 seconds"
            })
            yield* server.kill({ killSignal: "SIGTERM", forceKillAfter: "5 seconds" })
            yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "10 seconds")
            return output
          }).pipe(Effect.scoped)

        const quickStart = yield* runAgainstFakeApi("quick-start.ts", "quick-start")
        assert.include(quickStart, "Two TypeScript files: a.ts and b.ts.")
        assert.match(quickStart, /\n\$\d+(\.\d+)?(e-\d+)? in \d+ ms, session [0-9a-f-]{36}\n$/)

        fs.writeFileSync(path.join(app, "contract.ts"), contractProgram)
        const contract = yield* runAgainstFakeApi("contract.ts", "contract")
        assert.deepStrictEqual(contract.trim().split("\n"), [
          "handler: 2 + 40",
          "query: 2 and 40 make 42.",
          "generateObject: forty-two",
          "generateText: Hello from effect/ai."
        ])
      }).pipe(Effect.provide(NodeServices.layer)),
    { timeout: 360_000 }
  )
})

/**
 * What is checked before a spawn, so that it fails typed and named rather than as a missing executable or
 * an E2BIG: the working directory, and the kernel's bounds on argv and the environment (see
 * `argvLimits.ts`).
 *
 * @since 0.1.0
 */
import { Effect, FileSystem, Path, Redacted } from "effect"
import * as ClaudeError from "../../ClaudeError.ts"
import * as ArgvLimits from "../argvLimits.ts"

/**
 * Builds the checks, bound to a file system.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path

  // InvalidOptions naming `cwd` when it does not exist, is not a directory or cannot be used: a missing
  // cwd would make the spawn fail with ENOENT, which reads as a missing executable.
  const checkCwd = Effect.fnUntraced(function*(cwd: string) {
    const problem = yield* fs.stat(cwd).pipe(
      Effect.map((info) => (info.type === "Directory" ? undefined : "is not a directory")),
      Effect.catch((error) =>
        Effect.succeed(error.reason._tag === "NotFound" ? "does not exist" : `cannot be used: ${error.message}`)
      )
    )
    if (problem !== undefined) {
      return yield* ClaudeError.fail(
        new ClaudeError.InvalidOptions({ issues: `cwd: ${JSON.stringify(cwd)} ${problem}` })
      )
    }
  })

  // The CLI's arguments as they may be passed: a value the CLI also reads from a file goes into one when
  // its argument would be too long, in a private temp dir that lives as long as the caller's scope
  // (registered before the process, so removed after it has exited); anything else too long is
  // InvalidOptions, and so is the whole of the command line and `env` over ARG_MAX.
  const argv = Effect.fnUntraced(function*(
    prefix: ReadonlyArray<string>,
    executable: string,
    requested: ReadonlyArray<string>,
    env: Readonly<Record<string, string | Redacted.Redacted<string>>>
  ) {
    const plain: Record<string, string> = {}
    for (const [name, value] of Object.entries(env)) {
      plain[name] = Redacted.isRedacted(value)
        ? Redacted.value(value)
        : value
    }
    const { plan, problems } = ArgvLimits.planArgs(requested)
    const issues = [...problems, ...ArgvLimits.envProblems(plain)]
    if (issues.length > 0) return yield* ClaudeError.fail(new ClaudeError.InvalidOptions({ issues: issues.join("; ") }))
    const args = [...plan.args]
    if (plan.files.length > 0) {
      const written = Effect.gen(function*() {
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "effect-claude-code-args-" })
        for (const file of plan.files) {
          const location = path.join(dir, `${file.flag.slice(2)}-${file.index}`)
          yield* fs.writeFileString(location, file.content, { mode: 0o600 })
          args[file.index] = `${file.flag}=${location}`
        }
      })
      yield* written.pipe(
        Effect.mapError((error) =>
          ClaudeError.make(
            new ClaudeError.SpawnFailed({
              executable,
              description: `could not write a long argument to a temp file: ${error.message}`
            })
          )
        )
      )
    }
    const total = ArgvLimits.totalProblem([...prefix, executable, ...args], plain)
    if (total !== undefined) return yield* ClaudeError.fail(new ClaudeError.InvalidOptions({ issues: total }))
    return args
  })

  return { checkCwd, argv }
})

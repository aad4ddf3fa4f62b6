/**
 * What the kernel lets through `execve`. On Linux each argument and each `NAME=value` string of the
 * environment may hold at most `MAX_ARG_STRLEN` (128 KiB = 131072) bytes *with* its terminating NUL, so
 * 131071 bytes of UTF-8; one byte more and the spawn fails with E2BIG. All of them together, with a pointer
 * each, must stay within ARG_MAX: a quarter of the stack limit (2 MiB with the usual 8 MiB stack), at
 * least 128 KiB, at most 6 MiB.
 *
 * Values the CLI also takes as a file (`--system-prompt-file`, `--append-system-prompt-file`) go into one
 * when their argument would be too long; anything else too long is an `InvalidOptions` naming the option,
 * its size and the limit, before the spawn.
 */
import * as fs from "node:fs"

/** Bytes of one argument or environment string, its terminating NUL included. */
export const maxArgStrlen = 128 * 1024

/** The flags whose value the CLI reads from a file as well, and the flag that names the file. */
const fileForms: Readonly<Record<string, string>> = {
  "--system-prompt": "--system-prompt-file",
  "--append-system-prompt": "--append-system-prompt-file"
}

/** The option each flag of `ClaudeOptions.toArgs` comes from, for messages. */
const optionOf: Readonly<Record<string, string>> = {
  "--model": "model",
  "--fallback-model": "fallbackModel",
  "--system-prompt": "systemPrompt",
  "--append-system-prompt": "appendSystemPrompt",
  "--allowedTools": "allowedTools",
  "--disallowedTools": "disallowedTools",
  "--tools": "tools",
  "--add-dir": "additionalDirectories",
  "--mcp-config": "mcpServers",
  "--resume": "resume",
  "--settings": "settings",
  "--setting-sources": "settingSources"
}

const bytes = (text: string) => Buffer.byteLength(text, "utf8")

/** An argument whose value goes through a file: `args[index]` becomes `<flag>=<path of the file>`. */
export interface ArgFile {
  readonly index: number
  readonly flag: string
  readonly content: string
}

/** How the CLI's arguments reach it. */
export interface ArgvPlan {
  /** The arguments; those in `files` are replaced once their file is written. */
  readonly args: ReadonlyArray<string>
  readonly files: ReadonlyArray<ArgFile>
}

/**
 * Plans the CLI's arguments: each that would be too long goes through a file when the CLI takes one for
 * it; the others too long are problems, returned as messages.
 */
export const planArgs = (
  args: ReadonlyArray<string>
): { readonly plan: ArgvPlan; readonly problems: Array<string> } => {
  const files: Array<ArgFile> = []
  const problems: Array<string> = []
  args.forEach((arg, index) => {
    const size = bytes(arg) + 1
    if (size <= maxArgStrlen) return
    const eq = arg.indexOf("=")
    const flag = eq < 0 ? arg : arg.slice(0, eq)
    const fileFlag = fileForms[flag]
    if (fileFlag !== undefined) {
      files.push({ index, flag: fileFlag, content: arg.slice(eq + 1) })
      return
    }
    problems.push(
      `${optionOf[flag] ?? flag}: its argument (${flag}=...) is ${size} bytes with its terminating NUL, over ` +
        `the limit of ${maxArgStrlen} bytes for one argument (MAX_ARG_STRLEN)`
    )
  })
  return { plan: { args, files }, problems }
}

/** The environment strings over the limit, as problems. */
export const envProblems = (env: Readonly<Record<string, string | undefined>>): Array<string> =>
  Object.entries(env).flatMap(([name, value]) => {
    const size = value === undefined ? 0 : bytes(name) + 1 + bytes(value) + 1
    return size > maxArgStrlen
      ? [
        `env.${name}: ${name}=... is ${size} bytes with its terminating NUL, over the limit of ${maxArgStrlen} bytes for one environment string (MAX_ARG_STRLEN)`
      ]
      : []
  })

/**
 * ARG_MAX as the kernel computes it from this process's stack limit (children inherit it); none off Linux.
 * Read at the first check, not at import.
 */
let argMaxRead: { readonly value: number | undefined } | undefined
const argMax = (): number | undefined => {
  argMaxRead ??= { value: readArgMax() }
  return argMaxRead.value
}

const readArgMax = (): number | undefined => {
  if (process.platform !== "linux") return undefined
  try {
    const line = /^Max stack size\s+(\S+)/m.exec(fs.readFileSync("/proc/self/limits", "utf8"))?.[1]
    const stack = line === undefined || line === "unlimited" ? Number.POSITIVE_INFINITY : Number(line)
    if (Number.isNaN(stack)) return undefined
    return Math.max(maxArgStrlen, Math.min(stack / 4, (8 * 1024 * 1024 / 4) * 3))
  } catch {
    return undefined
  }
}

/** The whole of argv and the environment over ARG_MAX, as a problem (each string and its pointer count). */
export const totalProblem = (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>
): string | undefined => {
  const limit = argMax()
  if (limit === undefined) return undefined
  let total = 0
  for (const arg of argv) total += bytes(arg) + 1 + 8
  for (const [name, value] of Object.entries(env)) if (value !== undefined) total += bytes(name) + bytes(value) + 2 + 8
  return total > limit
    ? `the CLI's arguments and environment are ${total} bytes together, over the system's limit of ${limit} (ARG_MAX)`
    : undefined
}

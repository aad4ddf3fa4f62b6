/**
 * The host's environment as the library reads it: through `Config`, so that the `ConfigProvider` of the
 * caller's context (an application's, a test's) decides where the CLI and the launcher's programs are
 * looked up, what the CLI inherits, and where its config directory is. Effect's default provider reads
 * `process.env`, as a copy taken at its first use; as with every `Config`, a variable set to the empty
 * string counts as unset.
 *
 * @since 0.1.0
 */
import { Config, Effect, Option } from "effect"

/**
 * One host variable: `undefined` when it is unset (or empty), or when the provider cannot be read.
 *
 * @since 0.1.0
 * @category environment
 */
export const variable = (name: string): Effect.Effect<string | undefined> =>
  Effect.map(
    Effect.orElseSucceed(Config.option(Config.String(name)), () => Option.none<string>()),
    Option.getOrUndefined
  )

/**
 * The directories of the host's `PATH`, in order, empty entries left out.
 *
 * @since 0.1.0
 * @category environment
 */
export const searchPath: Effect.Effect<ReadonlyArray<string>> = Effect.map(
  variable("PATH"),
  (value) => (value ?? "").split(process.platform === "win32" ? ";" : ":").filter((dir) => dir !== "")
)

/**
 * The variables among `names` that the host sets, by name.
 *
 * @since 0.1.0
 * @category environment
 */
export const allowListed = Effect.fnUntraced(function*(names: ReadonlyArray<string>) {
  const env: Record<string, string> = {}
  for (const name of names) {
    const value = yield* variable(name)
    if (value !== undefined) env[name] = value
  }
  return env
})

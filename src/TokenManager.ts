/**
 * Where the CLI's credential comes from. Values stay `Redacted` from the
 * moment they are read to the moment they enter the child's environment; the
 * only thing ever shown is an identity hash.
 *
 * This is the basic form: an explicit value, or `CLAUDE_CODE_OAUTH_TOKEN`,
 * then `ANTHROPIC_API_KEY`, read through `Config`.
 *
 * @since 0.1.0
 */
import { Config, Context, Effect, Layer, Option, Redacted } from "effect"
import { createHash } from "node:crypto"

/**
 * The environment variable a credential travels in.
 *
 * @since 0.1.0
 * @category models
 */
export type CredentialVariable = "CLAUDE_CODE_OAUTH_TOKEN" | "ANTHROPIC_API_KEY"

/**
 * A credential for the CLI.
 *
 * @since 0.1.0
 * @category models
 */
export interface Credential {
  readonly variable: CredentialVariable
  readonly value: Redacted.Redacted<string>
  /** A short SHA-256 of the value: safe to log, to key pools by, to compare. */
  readonly identity: string
}

/**
 * Builds a credential from a secret.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCredential = (variable: CredentialVariable, value: Redacted.Redacted<string>): Credential => ({
  variable,
  value,
  identity: createHash("sha256").update(Redacted.value(value)).digest("hex").slice(0, 16)
})

/**
 * @since 0.1.0
 * @category services
 */
export class TokenManager extends Context.Service<TokenManager, {
  /** The credential to hand to the next CLI process; `None` lets the CLI use its own login. */
  readonly credential: Effect.Effect<Option.Option<Credential>>
}>()("effect-claude-code/TokenManager") {}

/**
 * A fixed credential (or none).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (credential: Option.Option<Credential>): Layer.Layer<TokenManager> =>
  Layer.succeed(TokenManager, TokenManager.of({ credential: Effect.succeed(credential) }))

/**
 * Reads `CLAUDE_CODE_OAUTH_TOKEN`, then `ANTHROPIC_API_KEY`, as `Redacted`
 * config. With neither set the CLI falls back to its own login.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<TokenManager, Config.ConfigError> = Layer.effect(
  TokenManager,
  Effect.gen(function*() {
    const oauth = yield* Config.option(Config.Redacted("CLAUDE_CODE_OAUTH_TOKEN"))
    const apiKey = yield* Config.option(Config.Redacted("ANTHROPIC_API_KEY"))
    const credential = Option.orElse(
      Option.map(oauth, (value) => makeCredential("CLAUDE_CODE_OAUTH_TOKEN", value)),
      () => Option.map(apiKey, (value) => makeCredential("ANTHROPIC_API_KEY", value))
    )
    return TokenManager.of({ credential: Effect.succeed(credential) })
  })
)

/**
 * The CLI's environment and its credential: the host's allow-listed variables, the credential (on a
 * pipe at fd 3 by default, or as a variable), then the user's additions.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Option, Redacted, Stream } from "effect"
import type { ChildProcessSpawner } from "effect/process"
import type * as ClaudeOptions from "../../ClaudeOptions.ts"
import type * as TokenManager from "../../TokenManager.ts"
import * as HostEnvironment from "../hostEnvironment.ts"

/**
 * How the credential reaches the CLI (see `ProcessManager.Settings.credentialDelivery`).
 *
 * @since 0.1.0
 * @category models
 */
export type Delivery = "fileDescriptor" | "environment"

/**
 * The fd the credential is written to.
 *
 * @since 0.1.0
 * @category constants
 */
export const descriptor = 3

// The variables that tell the CLI which fd to read the credential from.
const descriptorVariable: Record<TokenManager.CredentialVariable, string> = {
  ANTHROPIC_API_KEY: "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR",
  CLAUDE_CODE_OAUTH_TOKEN: "CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR"
}

/**
 * A CLI's environment, and the secret to write to {@link descriptor} when it goes there.
 *
 * @since 0.1.0
 * @category models
 */
export interface Environment {
  readonly env: Record<string, string | Redacted.Redacted<string>>
  readonly descriptorSecret: Option.Option<Redacted.Redacted<string>>
}

/**
 * Builds the environment of a CLI with `options`: `allowList` of the host's variables (through `Config`),
 * the current credential, then `options.env`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const environment = Effect.fnUntraced(function*(
  allowList: ReadonlyArray<string>,
  credential: Option.Option<TokenManager.Credential>,
  delivery: Delivery,
  options: ClaudeOptions.ClaudeOptions
) {
  const env: Record<string, string | Redacted.Redacted<string>> = yield* HostEnvironment.allowListed(allowList)
  const viaDescriptor = Option.isSome(credential) && delivery === "fileDescriptor"
  if (Option.isSome(credential)) {
    if (viaDescriptor) env[descriptorVariable[credential.value.variable]] = String(descriptor)
    else env[credential.value.variable] = credential.value.value
  }
  return {
    env: { ...env, ...options.env },
    descriptorSecret: viaDescriptor ? Option.map(credential, (c) => c.value) : Option.none()
  } satisfies Environment
})

/**
 * Writes the secret down its pipe and closes it: the CLI reads it to EOF at start-up. Bounded, and
 * never failing: a CLI that does not read it fails on its own, with its own message.
 *
 * @since 0.1.0
 * @category delivery
 */
export const send = (handle: ChildProcessSpawner.ChildProcessHandle, secret: Redacted.Redacted<string>) =>
  Stream.make(new TextEncoder().encode(Redacted.value(secret))).pipe(
    Stream.run(handle.getInputFd(descriptor)),
    Effect.timeout(Duration.seconds(5)),
    Effect.ignore
  )

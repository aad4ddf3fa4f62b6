/**
 * Where the CLI's credential comes from. Values stay `Redacted` from the
 * moment they are read to the moment they enter the child's environment; the
 * only thing ever shown is an identity hash.
 *
 * Sources, in order, each optional:
 *
 * 1. an explicit value given to the Layer;
 * 2. `CLAUDE_CODE_OAUTH_TOKEN`, then `ANTHROPIC_API_KEY` (through `Config`);
 * 3. a file (`file`, or `EFFECT_CLAUDE_CODE_TOKEN_FILE` through `Config`),
 *    re-read whenever it changes;
 * 4. a user Effect (a vault), run on first use and cached (one run at a time;
 *    a failure is not kept, so the next use asks again).
 *
 * Every credential is validated when read (non-empty, no whitespace or control
 * characters, the expected `sk-ant-` prefix unless `anyPrefix`), failing with
 * `InvalidCredential` naming the source, never the value.
 *
 * With a `refresh` Effect, the credential is refreshed before a known
 * `expiresAt` (on the Effect Clock) and on demand (`refresh`, e.g. after an
 * `AuthenticationFailed`). Rotation is by identity: new sessions get the new
 * credential, and the `SessionPool`, which keys processes by credential
 * identity, never hands an old-credential process to them; those retire.
 *
 * @since 0.1.0
 */
import {
  Clock,
  Config,
  Context,
  Duration,
  Effect,
  FiberHandle,
  FileSystem,
  Layer,
  Option,
  type PlatformError,
  Redacted,
  Schedule,
  Semaphore,
  Stream,
  SubscriptionRef
} from "effect"
import { createHash } from "node:crypto"
import * as ClaudeError from "./ClaudeError.ts"

/**
 * The environment variable a credential travels in.
 *
 * @since 0.1.0
 * @category models
 */
export type CredentialVariable = "CLAUDE_CODE_OAUTH_TOKEN" | "ANTHROPIC_API_KEY"

/**
 * Where a credential came from.
 *
 * @since 0.1.0
 * @category models
 */
export type Source = "layer" | CredentialVariable | "file" | "effect" | "refresh"

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
  readonly source: Source
  /** When the credential stops working (epoch milliseconds), when known. */
  readonly expiresAt: number | undefined
}

/**
 * What a vault or a refresh hands back.
 *
 * @since 0.1.0
 * @category models
 */
export interface Issued {
  readonly value: Redacted.Redacted<string>
  /** Default: `CLAUDE_CODE_OAUTH_TOKEN` for `sk-ant-oat` values, else `ANTHROPIC_API_KEY`. */
  readonly variable?: CredentialVariable | undefined
  /** Epoch milliseconds. */
  readonly expiresAt?: number | undefined
}

/**
 * Builds a credential from a secret.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCredential = (
  variable: CredentialVariable,
  value: Redacted.Redacted<string>,
  options?: { readonly source?: Source | undefined; readonly expiresAt?: number | undefined }
): Credential => ({
  variable,
  value,
  identity: createHash("sha256").update(Redacted.value(value)).digest("hex").slice(0, 16),
  source: options?.source ?? "layer",
  expiresAt: options?.expiresAt
})

const OAUTH_PREFIX = "sk-ant-oat"
const KEY_PREFIX = "sk-ant-"

const variableOf = (value: Redacted.Redacted<string>): CredentialVariable =>
  Redacted.value(value).startsWith(OAUTH_PREFIX) ? "CLAUDE_CODE_OAUTH_TOKEN" : "ANTHROPIC_API_KEY"

const fromIssued = (issued: Issued, source: Source): Credential =>
  makeCredential(issued.variable ?? variableOf(issued.value), issued.value, { source, expiresAt: issued.expiresAt })

const sourceName = (credential: Credential, file: string | undefined) => {
  switch (credential.source) {
    case "file":
      return `the file ${file ?? "(unknown)"}`
    case "layer":
      return "the Layer's value"
    case "effect":
      return "the credential Effect"
    case "refresh":
      return "the refresh Effect"
    default:
      return credential.source
  }
}

/**
 * The problem with a credential's shape, if any. Never includes the value.
 *
 * @since 0.1.0
 * @category validation
 */
export const problemOf = (
  credential: Credential,
  options?: { readonly anyPrefix?: boolean | undefined }
): string | undefined => {
  const value = Redacted.value(credential.value)
  if (value.length === 0) return "it is empty"
  if (/\s/.test(value) || [...value].some((char) => char < " " || char === "\u007f")) {
    return "it contains whitespace or control characters"
  }
  if (options?.anyPrefix === true) return undefined
  const prefix = credential.variable === "CLAUDE_CODE_OAUTH_TOKEN" ? OAUTH_PREFIX : KEY_PREFIX
  return value.startsWith(prefix) ? undefined : `a ${credential.variable} value starts with "${prefix}"`
}

/**
 * Where the credential comes from beyond the environment, and how it is refreshed and checked.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** An explicit credential: wins over every other source. */
  readonly credential?: Credential | undefined
  /** A file holding the credential (its content, trimmed), read through the `FileSystem`, again whenever it changes. */
  readonly file?: string | undefined
  /** A user Effect (a vault): run on first use, cached until refreshed. `None`: it has nothing. */
  readonly fromEffect?: Effect.Effect<Option.Option<Issued>, ClaudeError.ClaudeError> | undefined
  /** Gets a new credential: run before a known expiry and by `refresh`. */
  readonly refresh?: Effect.Effect<Issued, ClaudeError.ClaudeError> | undefined
  /** How long before `expiresAt` to refresh. Default 5 minutes. */
  readonly refreshBefore?: Duration.Input | undefined
  /** Retries of a failed scheduled refresh. Default: exponential from 1 s, 5 times. */
  readonly refreshRetry?: Schedule.Schedule<unknown, ClaudeError.ClaudeError> | undefined
  /** Accept values without the `sk-ant-` / `sk-ant-oat` prefix (a gateway's keys). */
  readonly anyPrefix?: boolean | undefined
}

/**
 * Hands each new CLI process its credential, validated, and follows its rotation.
 *
 * @since 0.1.0
 * @category services
 */
export class TokenManager extends Context.Service<TokenManager, {
  /** The credential for the next CLI process; `None` lets the CLI use its own login. */
  readonly getToken: Effect.Effect<Option.Option<Credential>, ClaudeError.ClaudeError>
  /** Checks a credential's shape; the error names its source and the problem, never the value. */
  readonly validate: (credential: Credential) => Effect.Effect<Credential, ClaudeError.ClaudeError>
  /**
   * Runs the `refresh` Effect now (after an authentication failure, say) and
   * makes its credential the current one. Without a `refresh`, the current one.
   */
  readonly refresh: Effect.Effect<Option.Option<Credential>, ClaudeError.ClaudeError>
  /** The current credential's identity, and every change of it (rotation). */
  readonly changes: Stream.Stream<Option.Option<string>>
}>()("effect-claude-code/TokenManager") {}

/**
 * The credentials the environment holds, as `make` is given them ({@link layerConfig} reads them through `Config`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Environment {
  readonly oauth: Option.Option<Redacted.Redacted<string>>
  readonly apiKey: Option.Option<Redacted.Redacted<string>>
}

const noEnvironment: Environment = { oauth: Option.none(), apiKey: Option.none() }

// What tells a changed file: a rewrite, a replacement (a new inode: a rotated Kubernetes secret), a truncation.
const stampOf = (info: FileSystem.File.Info): string =>
  `${Option.getOrUndefined(Option.map(info.mtime, (date) => date.getTime()))}:${info.size}:${
    Option.getOrUndefined(info.ino)
  }`

// Why a file could not be read, in the words of `InvalidCredential.problem`.
const unreadableBecause = (error: PlatformError.PlatformError): string => {
  switch (error.reason._tag) {
    case "NotFound":
      return "it does not exist"
    case "PermissionDenied":
      return "it cannot be read: permission denied"
    default:
      return `it cannot be read (${error.reason._tag})`
  }
}

/**
 * A TokenManager over these sources (the environment's only through {@link layerConfig}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(settings: Settings = {}, environment: Environment = noEnvironment) {
  const fs = yield* FileSystem.FileSystem
  const clock = yield* Clock.Clock
  const refreshBefore = Duration.toMillis(Duration.fromInputUnsafe(settings.refreshBefore ?? Duration.minutes(5)))
  const refreshRetry = settings.refreshRetry ?? Schedule.max([Schedule.exponential("1 second"), Schedule.recurs(5)])
  const identity = yield* SubscriptionRef.make(Option.none<string>())
  const timer = yield* FiberHandle.make()

  let refreshed: Credential | undefined
  let vault: Option.Option<Credential> | undefined
  const vaultLock = yield* Semaphore.make(1)
  let fromFile: { readonly stamp: string; readonly credential: Credential } | undefined

  const validate = Effect.fn("TokenManager.validate")(function*(credential: Credential) {
    const problem = problemOf(credential, settings)
    if (problem === undefined) return credential
    return yield* ClaudeError.fail(
      new ClaudeError.InvalidCredential({ source: sourceName(credential, settings.file), problem })
    )
  })

  const unreadable = (error: PlatformError.PlatformError) =>
    ClaudeError.fail(
      new ClaudeError.InvalidCredential({
        source: `the file ${settings.file ?? ""}`,
        problem: unreadableBecause(error)
      })
    )

  // Read again only when its stamp changed: a `stat` each time a credential is asked for, not a read.
  const readFile = (path: string): Effect.Effect<Credential, ClaudeError.ClaudeError> =>
    fs.stat(path).pipe(
      Effect.map(stampOf),
      Effect.flatMap((stamp) =>
        fromFile?.stamp === stamp ? Effect.succeed(fromFile.credential) : fs.readFileString(path).pipe(
          Effect.flatMap((text) => validate(fromIssued({ value: Redacted.make(text.trim()) }, "file"))),
          Effect.tap((credential) =>
            Effect.sync(() => {
              fromFile = { stamp, credential }
            })
          )
        )
      ),
      Effect.catchTag("PlatformError", unreadable)
    )

  // One run of the vault at a time: a use that arrives while it runs takes its credential. (`Effect.cached`
  // would keep a failure for good; a vault that failed is asked again at the next use.)
  const fromVault = (effect: Effect.Effect<Option.Option<Issued>, ClaudeError.ClaudeError>) =>
    vaultLock.withPermit(Effect.suspend(() =>
      vault !== undefined ? Effect.succeed(vault) : effect.pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.succeedNone,
          onSome: (issued) => Effect.asSome(validate(fromIssued(issued, "effect")))
        })),
        Effect.tap((credential) =>
          Effect.sync(() => {
            vault = credential
          })
        )
      )
    ))

  const fromEnvironment = (variable: CredentialVariable, value: Option.Option<Redacted.Redacted<string>>) =>
    Option.match(value, {
      onNone: () => Effect.succeedNone,
      onSome: (secret) => Effect.asSome(validate(makeCredential(variable, secret, { source: variable })))
    })

  const resolve: Effect.Effect<Option.Option<Credential>, ClaudeError.ClaudeError> = Effect.suspend(() => {
    if (refreshed !== undefined) return Effect.succeedSome(refreshed)
    if (settings.credential !== undefined) return Effect.asSome(validate(settings.credential))
    const oauth: Effect.Effect<Option.Option<Credential>, ClaudeError.ClaudeError> = fromEnvironment(
      "CLAUDE_CODE_OAUTH_TOKEN",
      environment.oauth
    )
    return oauth.pipe(
      Effect.flatMap((found) =>
        Option.isSome(found) ? Effect.succeed(found) : fromEnvironment("ANTHROPIC_API_KEY", environment.apiKey)
      ),
      Effect.flatMap((found) =>
        Option.isSome(found) || settings.file === undefined
          ? Effect.succeed(found)
          : Effect.asSome(readFile(settings.file))
      ),
      Effect.flatMap((found) =>
        Option.isSome(found) || settings.fromEffect === undefined
          ? Effect.succeed(found)
          : fromVault(settings.fromEffect)
      )
    )
  })

  // Before a known expiry, refresh (retrying on its Schedule); a new credential re-arms the timer.
  const arm = (credential: Option.Option<Credential>): Effect.Effect<void> => {
    const refresh = settings.refresh
    if (refresh === undefined || Option.isNone(credential) || credential.value.expiresAt === undefined) {
      return FiberHandle.clear(timer)
    }
    const due = Math.max(0, credential.value.expiresAt - refreshBefore - clock.currentTimeMillisUnsafe())
    return FiberHandle.run(
      timer,
      Effect.sleep(Duration.millis(due)).pipe(
        Effect.andThen(runRefresh(refresh).pipe(Effect.retry(refreshRetry))),
        Effect.tapError((error) => Effect.logWarning("TokenManager: the scheduled refresh failed", error.reason._tag)),
        Effect.ignore
      )
    ).pipe(Effect.asVoid)
  }

  const publish = (credential: Option.Option<Credential>) =>
    Effect.gen(function*() {
      const next = Option.map(credential, (c) => c.identity)
      const previous = yield* SubscriptionRef.get(identity)
      if (Option.getOrUndefined(previous) === Option.getOrUndefined(next)) return
      yield* SubscriptionRef.set(identity, next)
      yield* arm(credential)
    })

  const runRefresh = (refresh: Effect.Effect<Issued, ClaudeError.ClaudeError>) =>
    refresh.pipe(
      Effect.flatMap((issued) => validate(fromIssued(issued, "refresh"))),
      Effect.tap((credential) =>
        Effect.sync(() => {
          refreshed = credential
        })
      ),
      Effect.map(Option.some),
      Effect.tap(publish)
    )

  const getToken = resolve.pipe(Effect.tap(publish), Effect.withSpan("TokenManager.getToken"))

  const refresh = (settings.refresh === undefined ? getToken : runRefresh(settings.refresh)).pipe(
    Effect.withSpan("TokenManager.refresh")
  )

  return TokenManager.of({ getToken, validate, refresh, changes: SubscriptionRef.changes(identity) })
})

/**
 * The sources of `settings`, without the environment. A `file` is read through the context's `FileSystem`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (settings: Settings = {}): Layer.Layer<TokenManager, never, FileSystem.FileSystem> =>
  Layer.effect(TokenManager, make(settings))

/**
 * The environment first (`CLAUDE_CODE_OAUTH_TOKEN`, then `ANTHROPIC_API_KEY`,
 * as `Redacted` config; a file named by `EFFECT_CLAUDE_CODE_TOKEN_FILE`), then
 * the sources of `settings` (none by default: the environment only). With none
 * of them the CLI uses its own login. A `settings.file` wins over
 * `EFFECT_CLAUDE_CODE_TOKEN_FILE`; either is read through the context's `FileSystem`.
 *
 * @example
 * ```ts
 * import { NodeServices } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { TokenManager } from "effect-claude-code"
 *
 * // The environment, then a mounted secret.
 * const Tokens = TokenManager.layerConfig({ file: "/run/secrets/anthropic-api-key" }).pipe(
 *   Layer.provide(NodeServices.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  settings: Settings = {}
): Layer.Layer<TokenManager, Config.ConfigError, FileSystem.FileSystem> =>
  Layer.effect(
    TokenManager,
    Effect.gen(function*() {
      const oauth = yield* Config.option(Config.Redacted("CLAUDE_CODE_OAUTH_TOKEN"))
      const apiKey = yield* Config.option(Config.Redacted("ANTHROPIC_API_KEY"))
      const file = yield* Config.option(Config.String("EFFECT_CLAUDE_CODE_TOKEN_FILE"))
      return yield* make({ ...settings, file: settings.file ?? Option.getOrUndefined(file) }, { oauth, apiKey })
    })
  )

/**
 * A fixed credential (or none), not validated: for tests.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (credential: Option.Option<Credential>): Layer.Layer<TokenManager> =>
  Layer.succeed(
    TokenManager,
    TokenManager.of({
      getToken: Effect.succeed(credential),
      validate: Effect.succeed,
      refresh: Effect.succeed(credential),
      changes: Stream.make(Option.map(credential, (c) => c.identity))
    })
  )

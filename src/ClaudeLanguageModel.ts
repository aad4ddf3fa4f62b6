/**
 * effect/ai's `LanguageModel` on Claude Code: `LanguageModel.generateText`, `streamText` and
 * `generateObject` programs run unchanged on the warm pool.
 *
 * ```ts
 * LanguageModel.generateText({ prompt: "Say hello" }).pipe(
 *   Effect.provide(ClaudeLanguageModel.layer({ model: "claude-sonnet-4-5" })),
 *   Effect.provide(Claude.layer)
 * )
 * ```
 *
 * Each call is one turn of a conversation of the CLI (which runs its own agent loop: tool use, more model
 * calls, until it has an answer):
 * - the prompt's system messages become the turn's appended system prompt; its last user message is the
 *   turn's prompt, and the messages before it are written into the prompt as the conversation so far;
 * - with a `ResponseIdTracker` in the context (effect/ai's incremental prompts), a call that continues an
 *   earlier one resumes that conversation (the response id is the CLI's session id) and sends only the new
 *   messages; its process stays parked between calls, warm;
 * - a toolkit passed to `generateText` / `streamText` is served in-process for the turn (as `McpTools`
 *   serves toolkits; the model sees `mcp__effect_ai__<tool>`), with the handlers the call requires; each call
 *   comes back as a provider-executed tool call and result, so effect/ai does not run it again;
 * - `streamText` streams text and reasoning deltas (the turn runs with `includePartialMessages`);
 * - `generateObject` runs the turn with the object's JSON Schema as the CLI's structured output (as
 *   `Claude.generateObject` does: draft-07, an object at the root), and effect/ai decodes the CLI's
 *   `structured_output` with the Schema's JSON codec; a Schema the CLI cannot be given is an
 *   `UnsupportedSchemaError`, a turn without structured output a `StructuredOutputError`;
 * - usage is the turn's usage (input tokens with cache reads and writes, output tokens); the finish reason is
 *   `stop`, `length` (the turn hit `maxTurns`) or `error`; the finish part's metadata carries the session id,
 *   the cost and the number of model calls;
 * - a `ClaudeError` becomes an `AiError` whose reason means the same (`RateLimited` a `RateLimitError`,
 *   `AuthenticationFailed` an `AuthenticationError`, `InvalidPrompt` an `InvalidUserInputError`, ...).
 *
 * `toolChoice` is not enforced (the CLI's model decides), except `"none"`, which serves no tools.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Layer, Option, Stream } from "effect"
import { AiError, LanguageModel, ResponseIdTracker } from "effect/ai"
import * as Claude from "./Claude.ts"
import type * as ClaudeOptions from "./ClaudeOptions.ts"
import { toAiError } from "./internal/languageModel/errors.ts"
import { partsOf, streamer } from "./internal/languageModel/parts.ts"
import { turnOf } from "./internal/languageModel/prompt.ts"
import * as Toolkit from "./internal/languageModel/toolkit.ts"
import * as StructuredOutput from "./internal/structuredOutput.ts"
import * as McpTools from "./McpTools.ts"

// The prompt's system messages go after what the options append: to the preset's `append`, when it has one.
const withSystem = (options: ClaudeOptions.Input, system: string | undefined): ClaudeOptions.Input => {
  if (system === undefined) return {}
  const join = (first: string | undefined) => (first === undefined ? system : `${first}\n\n${system}`)
  const systemPrompt = options.systemPrompt
  // A preset cannot have an `append` beside `appendSystemPrompt`: with one, the system goes there.
  return typeof systemPrompt === "object" && options.appendSystemPrompt === undefined
    ? { systemPrompt: { ...systemPrompt, append: join(systemPrompt.append) } }
    : { appendSystemPrompt: join(options.appendSystemPrompt) }
}

/**
 * What every call of the model is run with besides its prompt: a `Claude.query` config without `tools` and
 * `sticky` (the call's toolkit and the response id tracker decide those).
 *
 * @since 0.1.0
 * @category models
 */
export type Config = Omit<Claude.QueryConfig, "tools" | "sticky">

/**
 * The `LanguageModel` service on the `Claude` of the context, every call with `options` (a model, allowed
 * tools, ...) and `config`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fn("ClaudeLanguageModel.make")(function*(
  options: ClaudeOptions.Input = {},
  config: Config = {}
) {
  const claude = yield* Claude.Claude

  // The JSON Schema of `generateObject`'s object, as the turn's structured output.
  const structuredOutputOf = (provider: LanguageModel.ProviderOptions, method: string) =>
    provider.responseFormat.type === "text"
      ? Effect.succeed(undefined)
      : StructuredOutput.jsonSchema(provider.responseFormat.schema).pipe(
        Effect.map((schema) => ({ type: "json_schema" as const, schema })),
        Effect.mapError((error) =>
          AiError.make({
            module: "ClaudeLanguageModel",
            method,
            reason: new AiError.UnsupportedSchemaError({ description: error.reason.message })
          })
        )
      )

  // One turn's query: the prompt mapped onto a conversation, the call's tools served for it.
  const queryOf = Effect.fnUntraced(
    function*(provider: LanguageModel.ProviderOptions, method: string, stream: boolean) {
      const incremental = provider.previousResponseId !== undefined && provider.incrementalPrompt !== undefined
      const turn = turnOf(
        incremental && provider.incrementalPrompt !== undefined ? provider.incrementalPrompt : provider.prompt
      )
      if (turn === undefined) {
        return yield* AiError.make({
          module: "ClaudeLanguageModel",
          method,
          reason: new AiError.InvalidUserInputError({ description: "the prompt has no user message to answer" })
        })
      }
      const outputFormat = yield* structuredOutputOf(provider, method)
      const tracked = Option.isSome(yield* Effect.serviceOption(ResponseIdTracker.ResponseIdTracker))
      const toolkit = yield* Toolkit.serve(provider.toolChoice === "none" ? [] : provider.tools)
      const names = Object.keys(toolkit.served.tools).map((tool) => McpTools.toolName(Toolkit.serverName, tool))
      const turnOptions: ClaudeOptions.Input = {
        ...options,
        ...withSystem(options, turn.system),
        ...(names.length === 0 ? {} : { allowedTools: [...(options.allowedTools ?? []), ...names] }),
        ...(stream ? { includePartialMessages: true } : {}),
        ...(incremental ? { resume: provider.previousResponseId } : {}),
        ...(outputFormat === undefined ? {} : { outputFormat })
      }
      const events = claude.query(turn.prompt, turnOptions, {
        ...config,
        ...(tracked ? { sticky: true } : {}),
        ...(names.length === 0 ? {} : { tools: { [Toolkit.serverName]: toolkit.served } })
      })
      return { events, toolkit }
    }
  )

  const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

  return yield* LanguageModel.make({
    codecTransformer: StructuredOutput.codecTransformer,
    generateText: Effect.fn("ClaudeLanguageModel.generateText")(function*(provider) {
      const { events, toolkit } = yield* queryOf(provider, "generateText", false)
      const collected = yield* Stream.runCollect(events).pipe(Effect.mapError(toAiError("generateText")))
      return partsOf(collected, toolkit, yield* now, provider.responseFormat.type === "json")
    }),
    streamText: (provider) =>
      queryOf(provider, "streamText", true).pipe(
        Effect.map(({ events, toolkit }) => {
          const toParts = streamer(toolkit, () => new Date())
          return events.pipe(
            Stream.mapError(toAiError("streamText")),
            Stream.flatMap((event) => Stream.fromIterable(toParts(event)))
          )
        }),
        Stream.unwrap,
        Stream.withSpan("ClaudeLanguageModel.streamText")
      )
  })
})

/**
 * `LanguageModel` on the `Claude` of the context: see {@link make}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LanguageModel } from "effect/ai"
 * import { Claude, ClaudeLanguageModel } from "effect-claude-code"
 *
 * const program = LanguageModel.generateText({ prompt: "Say hello" }).pipe(
 *   Effect.map((response) => response.text),
 *   Effect.provide(ClaudeLanguageModel.layer()),
 *   Effect.provide(Claude.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: ClaudeOptions.Input,
  config?: Config
): Layer.Layer<LanguageModel.LanguageModel, never, Claude.Claude> =>
  Layer.effect(LanguageModel.LanguageModel, make(options, config))

/**
 * The toolkit of a `LanguageModel` call, served in-process for the turn: effect/ai hands a provider its
 * tools without their handlers, and runs a tool call itself unless the provider ran it. The CLI runs its
 * own agent loop, so the tools are served to it (`McpTools`) during the turn, with the handlers
 * `generateText` / `streamText` required of their caller, and every call is reported back as
 * provider-executed, with the result the handler gave.
 */
import { Context, Effect, Schema, Stream } from "effect"
import { Tool, Toolkit } from "effect/ai"
import * as McpTools from "../../McpTools.ts"

/** The MCP server the tools of a `LanguageModel` call are served as: the model sees `mcp__effect_ai__<tool>`. */
export const serverName = "effect_ai"

/** What a served call gave, by tool use id: the encoded result effect/ai reports in its tool-result part. */
export interface CallResult {
  readonly name: string
  readonly encodedResult: unknown
  readonly isFailure: boolean
}

/** The served toolkit, and the results of its calls so far. */
export interface ServedToolkit {
  readonly served: McpTools.Served
  readonly results: ReadonlyMap<string, CallResult>
  /** The effect/ai name of a tool the model called by its MCP name, if it is one of these. */
  readonly toolOf: (name: string) => string | undefined
}

/**
 * Serves `tools` with the handlers of the current context. Each tool is made again with `failureMode:
 * "return"` (same name, so the same handler), so that a failure arrives encoded by its failure Schema as a
 * result, the way effect/ai reports failures it ran itself.
 */
export const serve = (tools: ReadonlyArray<Tool.Any>): Effect.Effect<ServedToolkit> =>
  Effect.gen(function*() {
    const returning = tools.map((tool) =>
      Tool.make(tool.name, {
        description: tool.description,
        parameters: tool.parametersSchema,
        success: tool.successSchema,
        failure: tool.failureSchema,
        failureMode: "return"
      })
    )
    const toolkit = Toolkit.make(...returning)
    // The handlers (and whatever the tools' Schemas need) are in the context of the fiber that runs the
    // call: effect/ai's generateText / streamText require them of their caller. Its provider contract has
    // no room for them in the types, so the context is taken as it is.
    const current = yield* Effect.context<never>()
    const everything = Context.makeUnsafe<unknown>(current.mapUnsafe)
    const withHandlers = yield* Effect.provideContext(
      toolkit,
      Context.makeUnsafe<Effect.Services<typeof toolkit>>(current.mapUnsafe)
    )
    const results = new Map<string, CallResult>()
    const served: McpTools.Served = {
      tools: Object.fromEntries(returning.map((tool): [string, McpTools.ServedTool] => [tool.name, {
        name: tool.name,
        description: tool.description,
        parametersSchema: tool.parametersSchema,
        // Failures arrive encoded (failureMode "return"): nothing is encoded again.
        failureSchema: Schema.Unknown,
        annotations: tool.annotations
      }])),
      handle: (name, params, toolCallId) =>
        withHandlers.handle(name, params, toolCallId).pipe(
          Effect.map((stream) =>
            stream.pipe(
              Stream.tap((result) =>
                Effect.sync(() => {
                  if (!result.preliminary && toolCallId !== undefined) {
                    results.set(toolCallId, { name, encodedResult: result.encodedResult, isFailure: result.isFailure })
                  }
                })
              ),
              Stream.provideContext(everything)
            )
          ),
          Effect.provideContext(everything)
        )
    }
    const prefix = McpTools.toolName(serverName, "")
    const toolOf = (name: string) =>
      name.startsWith(prefix) && Object.hasOwn(served.tools, name.slice(prefix.length))
        ? name.slice(prefix.length)
        : undefined
    return { served, results, toolOf }
  })

/**
 * effect/ai programs on ClaudeLanguageModel, against the real CLI and the FakeApi: what the program gets
 * (text, reasoning, tool calls, usage, errors) and what the API received (the system prompt, the history,
 * the tools' results).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Predicate, Schema, Stream } from "effect"
import { AiError, LanguageModel, Prompt, ResponseIdTracker, Tool, Toolkit } from "effect/ai"
import * as ClaudeLanguageModel from "../src/ClaudeLanguageModel.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { ClaudeTest, eventually, processesWithHome, tempDir } from "./utils.ts"

const Add = Tool.make("add", {
  description: "Adds two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Number
})
const Calc = Toolkit.make(Add)

/** The handler, noting each call. */
const countingCalc = (calls: Array<string>) =>
  Calc.toLayer({
    add: ({ a, b }) =>
      Effect.sync(() => {
        calls.push(`${a}+${b}`)
        return a + b
      })
  })

const withModel = <A, E, R>(
  script: FakeApi.Script,
  body: (api: FakeApi.FakeApi["Service"]) => Effect.Effect<A, E, R | LanguageModel.LanguageModel>,
  options: ClaudeOptions.Input = {}
) =>
  Effect.gen(function*() {
    const home = yield* tempDir("language-model")
    const api = yield* FakeApi.make({ script })
    const env = { ...FakeApi.cliEnvironment(api, home), ENABLE_TOOL_SEARCH: "false" }
    const result = yield* body(api).pipe(
      Effect.provide(
        ClaudeLanguageModel.layer({ ...options, env, timeouts: { turn: 30_000 } }).pipe(Layer.provideMerge(ClaudeTest))
      )
    )
    yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
    return result
  }).pipe(Effect.scoped)

const systemText = (request: FakeApi.RecordedRequest | undefined): string =>
  JSON.stringify(request?.messagesRequest?.system ?? "")

describe("ClaudeLanguageModel against the real CLI", () => {
  it.live("generateText: the text, the usage and the finish reason; the system message reaches the API's system prompt", () =>
    withModel([FakeApi.text("Hello from effect/ai.")], (api) =>
      Effect.gen(function*() {
        const response = yield* LanguageModel.generateText({
          prompt: Prompt.make([
            { role: "system", content: "You answer in one line." },
            { role: "user", content: "Say hello" }
          ])
        })
        assert.strictEqual(response.text, "Hello from effect/ai.")
        assert.strictEqual(response.finishReason, "stop")
        assert.isAbove(response.usage.inputTokens.total ?? 0, 0)
        assert.isAbove(response.usage.outputTokens.total ?? 0, 0)
        const [request] = yield* api.conversationRequests
        assert.include(systemText(request), "You answer in one line.")
        assert.include(request === undefined ? "" : FakeApi.userTexts(request).join(" "), "Say hello")
      })))

  it.live("generateText: with the claude_code preset's append in the options, the system message is appended after it", () =>
    withModel(
      [FakeApi.text("Hi.")],
      (api) =>
        Effect.gen(function*() {
          yield* LanguageModel.generateText({
            prompt: Prompt.make([
              { role: "system", content: "You answer in one line." },
              { role: "user", content: "Say hello" }
            ])
          })
          const text = systemText((yield* api.conversationRequests)[0])
          assert.include(text, "Be brief.")
          assert.isBelow(text.indexOf("Be brief."), text.indexOf("You answer in one line."))
        }),
      { systemPrompt: { type: "preset", preset: "claude_code", append: "Be brief." } }
    ))

  it.live("generateText: earlier messages reach the model as the conversation so far, before the last user message", () =>
    withModel([FakeApi.text("Blue.")], (api) =>
      Effect.gen(function*() {
        yield* LanguageModel.generateText({
          prompt: Prompt.make([
            { role: "user", content: "My favourite colour is blue." },
            { role: "assistant", content: "Noted." },
            { role: "user", content: "What is my favourite colour?" }
          ])
        })
        const [request] = yield* api.conversationRequests
        const text = request === undefined ? "" : FakeApi.userTexts(request).join("\n")
        assert.include(text, "User: My favourite colour is blue.")
        assert.include(text, "Assistant: Noted.")
        assert.isBelow(text.indexOf("Noted."), text.indexOf("What is my favourite colour?"))
      })))

  it.live("streamText: text deltas between a text start and end, then the finish part", () =>
    withModel([FakeApi.text(["Hel", "lo ", "there."], { delayMs: 5 })], () =>
      Effect.gen(function*() {
        const parts = yield* LanguageModel.streamText({ prompt: "Say hello" }).pipe(Stream.runCollect)
        const types = parts.map((part) => part.type)
        const deltas = parts.flatMap((part) => (part.type === "text-delta" ? [part.delta] : []))
        assert.strictEqual(deltas.join(""), "Hello there.")
        assert.isBelow(types.indexOf("text-start"), types.indexOf("text-delta"))
        assert.isBelow(types.lastIndexOf("text-delta"), types.indexOf("text-end"))
        assert.strictEqual(types.at(-1), "finish")
        assert.include(types, "response-metadata")
      })))

  it.live("generateText with a toolkit: the tool runs once, in-process, reported as provider-executed; effect/ai does not run it again", () => {
    const calls: Array<string> = []
    return withModel(
      [FakeApi.toolUse("mcp__effect_ai__add", { a: 2, b: 40 }), FakeApi.text("42.")],
      (api) =>
        Effect.gen(function*() {
          const response = yield* LanguageModel.generateText({ prompt: "What is 2 + 40?", toolkit: Calc })
          assert.strictEqual(response.text, "42.")
          assert.deepStrictEqual(calls, ["2+40"])
          const [call] = response.toolCalls
          assert.deepInclude(call, { name: "add", params: { a: 2, b: 40 }, providerExecuted: true })
          const [result] = response.toolResults
          assert.deepInclude(result, { name: "add", result: 42, isFailure: false, providerExecuted: true })
          const requests = yield* api.conversationRequests
          assert.strictEqual(requests[1] === undefined ? undefined : FakeApi.lastToolResult(requests[1]), "42")
        }).pipe(Effect.provide(countingCalc(calls)))
    )
  })

  it.live("streamText with a toolkit: the tool runs in-process once, its call and result stream as provider-executed parts, then the answer", () => {
    const calls: Array<string> = []
    return withModel(
      [FakeApi.toolUse("mcp__effect_ai__add", { a: 2, b: 40 }), FakeApi.text(["4", "2."])],
      (api) =>
        Effect.gen(function*() {
          const parts = yield* LanguageModel.streamText({ prompt: "What is 2 + 40?", toolkit: Calc }).pipe(
            Stream.runCollect
          )
          assert.deepStrictEqual(calls, ["2+40"])
          const call = parts.find((part) => part.type === "tool-call")
          assert.deepInclude(call, { name: "add", params: { a: 2, b: 40 }, providerExecuted: true })
          const result = parts.find((part) => part.type === "tool-result")
          assert.deepInclude(result, { name: "add", result: 42, isFailure: false, providerExecuted: true })
          const text = parts.flatMap((part) => (part.type === "text-delta" ? [part.delta] : [])).join("")
          assert.strictEqual(text, "42.")
          const types = parts.map((part) => part.type)
          assert.isBelow(types.indexOf("tool-result"), types.indexOf("text-delta"))
          assert.strictEqual(types.at(-1), "finish")
          const requests = yield* api.conversationRequests
          assert.strictEqual(requests[1] === undefined ? undefined : FakeApi.lastToolResult(requests[1]), "42")
        }).pipe(Effect.provide(countingCalc(calls)))
    )
  })

  it.live("generateObject: the Schema's JSON Schema is the StructuredOutput tool's input, the object is decoded by the Schema's JSON codec", () => {
    const Meeting = Schema.Struct({ title: Schema.String, at: Schema.Date, attendees: Schema.Array(Schema.String) })
    return withModel(
      [
        FakeApi.toolUse("StructuredOutput", {
          title: "Planning",
          at: "2026-12-03T10:00:00.000Z",
          attendees: ["ada", "alan"]
        })
      ],
      (api) =>
        Effect.gen(function*() {
          const response = yield* LanguageModel.generateObject({ prompt: "Plan a meeting", schema: Meeting })
          assert.deepStrictEqual(response.value, {
            title: "Planning",
            at: new Date("2026-12-03T10:00:00.000Z"),
            attendees: ["ada", "alan"]
          })
          const [request] = yield* api.conversationRequests
          const tool = request?.messagesRequest?.tools?.find((t) =>
            Predicate.hasProperty(t, "name") && t.name === "StructuredOutput"
          )
          const schema = Predicate.hasProperty(tool, "input_schema") ? tool.input_schema : undefined
          assert.deepInclude(schema, { type: "object", required: ["title", "at", "attendees"] })
        })
    )
  })

  it.live("generateObject: a turn the model ends without structured output fails with a StructuredOutputError", () =>
    withModel((_request, _index) => FakeApi.text("I would rather chat."), () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          LanguageModel.generateObject({ prompt: "Plan a meeting", schema: Schema.Struct({ title: Schema.String }) })
        )
        assert.isTrue(AiError.isAiError(error))
        assert.strictEqual(error.reason._tag, "StructuredOutputError")
        // The model's words are not taken for the object: effect/ai found no text to decode.
        assert.strictEqual(error.reason._tag === "StructuredOutputError" ? error.reason.responseText : undefined, "")
      })))

  it.live("a ClaudeError becomes the AiError that means the same: a 429 is a RateLimitError", () =>
    withModel([FakeApi.error(429, { retryAfterSeconds: 7 })], () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(LanguageModel.generateText({ prompt: "hi" }))
        assert.isTrue(AiError.isAiError(error))
        assert.strictEqual(error.reason._tag, "RateLimitError")
        assert.isTrue(error.reason.isRetryable)
      })))

  it.live("with a ResponseIdTracker, the next call continues the same CLI conversation and sends only the new message", () =>
    withModel([FakeApi.text("Noted."), FakeApi.text("Blue.")], (api) =>
      Effect.gen(function*() {
        // The same message objects in both prompts: the tracker knows the first call sent them.
        const asked = Prompt.make("My favourite colour is blue.")
        const first = yield* LanguageModel.generateText({ prompt: asked })
        const second = yield* LanguageModel.generateText({
          prompt: asked.pipe(
            Prompt.concat(Prompt.fromResponseParts(first.content)),
            Prompt.concat(Prompt.make("And my favourite colour?"))
          )
        })
        assert.strictEqual(second.text, "Blue.")
        const [, request] = yield* api.conversationRequests
        const texts = request === undefined ? [] : FakeApi.userTexts(request)
        // The CLI's own history holds the first turn; our second prompt is only the new message.
        assert.include(texts.join("\n"), "My favourite colour is blue.")
        assert.notInclude(texts.join("\n"), "The conversation so far")
        assert.include(texts.at(-1) ?? "", "And my favourite colour?")
        assert.isTrue(Predicate.isString(second.content.find((part) => part.type === "response-metadata")?.id))
      }).pipe(Effect.provide(Layer.effect(ResponseIdTracker.ResponseIdTracker, ResponseIdTracker.make)))))
})

/**
 * Claude.generateObject against the real CLI and the FakeApi: the FakeApi scripts the model's call of the
 * CLI's `StructuredOutput` tool (the tool `--json-schema` adds), and the turn's `structured_output` is
 * decoded by the Schema that gave the JSON Schema.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Predicate, Schema } from "effect"
import * as Claude from "../src/Claude.ts"
import type * as ClaudeError from "../src/ClaudeError.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { ClaudeTest, eventually, processesWithHome, tempDir } from "./utils.ts"

const Answer = Schema.Struct({
  answer: Schema.String,
  // A rule JSON Schema cannot say: the CLI lets any integer through, the Schema refuses odd ones.
  votes: Schema.Int.check(Schema.makeFilter((n) => n % 2 === 0 || "must be even"))
})

const withRealCli = <A, E, R>(
  script: FakeApi.Script,
  body: (options: ClaudeOptions.Input, api: FakeApi.FakeApi["Service"], home: string) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function*() {
    const home = yield* tempDir("structured")
    const api = yield* FakeApi.make({ script })
    const options = { env: FakeApi.cliEnvironment(api, home), timeouts: { turn: 30_000 } }
    // The pool closes with the body: every process it started must be gone after.
    const result = yield* body(options, api, home).pipe(Effect.provide(ClaudeTest))
    yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds")
    return result
  }).pipe(Effect.scoped)

const offeredSchema = (request: FakeApi.RecordedRequest | undefined) => {
  const tool = request?.messagesRequest?.tools?.find((t) =>
    Predicate.hasProperty(t, "name") && t.name === "StructuredOutput"
  )
  return Predicate.hasProperty(tool, "input_schema") ? tool.input_schema : undefined
}

const reasonOf = <A>(exit: Exit.Exit<A, ClaudeError.ClaudeError>): ClaudeError.Reason | undefined =>
  Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail")?.error.reason : undefined

describe("Claude.generateObject against the real CLI", () => {
  it.live("the Schema's JSON Schema is the StructuredOutput tool's input; the object comes back decoded, with its Result", () =>
    withRealCli(
      [FakeApi.toolUse("StructuredOutput", { answer: "forty-two", votes: 4 })],
      (options, api) =>
        Effect.gen(function*() {
          const { value, result } = yield* Claude.generateObject("What is 6 * 7?", Answer, options)
          assert.deepStrictEqual(value, { answer: "forty-two", votes: 4 })
          assert.strictEqual(result._tag, "Result")
          assert.isFalse(result.isError)
          const [request] = yield* api.conversationRequests
          assert.deepInclude(offeredSchema(request), { type: "object", required: ["answer", "votes"] })
        })
    ))

  it.live("an identified Schema with nested definitions reaches the CLI as draft-07 (definitions, not $defs) and is followed", () => {
    const Person = Schema.Struct({ name: Schema.String }).annotate({ identifier: "Person" })
    const Team = Schema.Struct({ lead: Person, members: Schema.Array(Person) }).annotate({ identifier: "Team" })
    const team = { lead: { name: "ada" }, members: [{ name: "alan" }] }
    return withRealCli([FakeApi.toolUse("StructuredOutput", team)], (options, api) =>
      Effect.gen(function*() {
        const { value } = yield* Claude.generateObject("Who is on the team?", Team, options)
        assert.deepStrictEqual(value, team)
        const schema = yield* Effect.map(api.conversationRequests, ([request]) => offeredSchema(request))
        assert.deepInclude(schema, { type: "object" })
        assert.isTrue(Predicate.hasProperty(schema, "definitions"))
        assert.notInclude(JSON.stringify(schema), "$defs")
      }))
  })

  it.live("an object the JSON Schema allows but the Schema refuses fails with StructuredOutputInvalid naming the field", () =>
    withRealCli(
      [FakeApi.toolUse("StructuredOutput", { answer: "forty-two", votes: 3 })],
      (options) =>
        Effect.gen(function*() {
          const reason = reasonOf(yield* Effect.exit(Claude.generateObject("What is 6 * 7?", Answer, options)))
          assert.strictEqual(reason?._tag, "StructuredOutputInvalid")
          assert.include(reason?.message, "votes")
          assert.include(reason?.message, "must be even")
          assert.isFalse(reason?.isRetryable)
        })
    ))

  it.live("a model that never calls StructuredOutput fails with StructuredOutputInvalid, not with its words taken for the object", () =>
    withRealCli((_request, _index) => FakeApi.text("I would rather chat."), (options) =>
      Effect.gen(function*() {
        const reason = reasonOf(yield* Effect.exit(Claude.generateObject("What is 6 * 7?", Answer, options)))
        assert.strictEqual(reason?._tag, "StructuredOutputInvalid")
        assert.include(reason?.message, "without structured output")
      })))

  it.live("a model that keeps giving objects the JSON Schema refuses ends in StructuredOutputRetriesExhausted with the CLI's last error", () =>
    withRealCli(
      (_request, _index) => FakeApi.toolUse("StructuredOutput", { answer: 42, votes: 2 }),
      (options, api) =>
        Effect.gen(function*() {
          const reason = reasonOf(yield* Effect.exit(Claude.generateObject("What is 6 * 7?", Answer, options)))
          assert.strictEqual(reason?._tag, "StructuredOutputRetriesExhausted")
          assert.include(reason?.message, "/answer: must be string")
          // The CLI asked again after each refused object, then gave up.
          assert.isAbove((yield* api.conversationRequests).length, 1)
        })
    ))

  it.live("a Schema whose JSON form is not an object, or an outputFormat of the caller's own, fails with InvalidOptions before anything is spawned", () =>
    withRealCli([], (options, api, home) =>
      Effect.gen(function*() {
        const notObject = reasonOf(yield* Effect.exit(Claude.generateObject("hi", Schema.String, options)))
        assert.strictEqual(notObject?._tag, "InvalidOptions")
        assert.include(notObject?.message, "must be an object")
        const both = reasonOf(
          yield* Effect.exit(
            Claude.generateObject("hi", Answer, { ...options, outputFormat: { type: "json_schema", schema: {} } })
          )
        )
        assert.strictEqual(both?._tag, "InvalidOptions")
        assert.include(both?.message, "outputFormat")
        assert.lengthOf(yield* api.conversationRequests, 0)
        assert.lengthOf(processesWithHome(home), 0)
      })))
})

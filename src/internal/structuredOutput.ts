/**
 * Structured output: an Effect Schema as the JSON Schema the CLI's `--json-schema` takes, and a turn's
 * `structured_output` decoded back by the same Schema (its canonical JSON codec, which that JSON Schema
 * describes, so a `Date` field travels as its ISO string and comes back a `Date`).
 *
 * The CLI compiles the schema with Ajv in draft-07 strict mode: a draft 2020-12 keyword it does not know
 * (`prefixItems`, say) makes it exit at start-up, so the document Effect derives (2020-12) is rewritten as
 * draft-07, its definitions under `definitions`, and objects are closed. The model is offered the schema as a
 * tool's input, which must be an object: a Schema whose JSON form is not one is refused before anything is
 * spawned.
 */
import { Effect, JsonSchema, Predicate, Schema } from "effect"
import type { LanguageModel } from "effect/ai"
import * as ClaudeError from "../ClaudeError.ts"
import type { ClaudeEvent } from "../ClaudeEvent.ts"
import { formatIssues } from "./issues.ts"

type ResultEvent = Extract<ClaudeEvent, { readonly _tag: "Result" }>

const definitionRef = /^#\/definitions\/(.+)$/

/**
 * The draft-07 JSON Schema of a Schema's JSON form, with an object at its root. Throws when there is none:
 * a root that is not an object, or a keyword draft-07 cannot say.
 */
export const jsonSchemaOf = (schema: Schema.Constraint): JsonSchema.JsonSchema => {
  // `additionalProperties: false`: the model is told the exact fields, and the CLI asks again for others.
  const document = JsonSchema.toDocumentDraft07(Schema.toJsonSchemaDocument(schema, { onExcessProperty: "error" }))
  // A Schema with an identifier is a definition the root only points at: the tool's input needs the object.
  const ref = typeof document.schema.$ref === "string" ? definitionRef.exec(document.schema.$ref)?.[1] : undefined
  const root = ref === undefined ? document.schema : document.definitions[ref] ?? document.schema
  if (root.type !== "object") {
    throw new Error(
      "its JSON form must be an object (a Schema.Struct, or a Class): the CLI offers it to the model as a tool's input"
    )
  }
  return Object.keys(document.definitions).length === 0 ? root : { ...root, definitions: document.definitions }
}

/** {@link jsonSchemaOf} as an effect: a schema the CLI cannot be given is `InvalidOptions`, naming why. */
export const jsonSchema = (schema: Schema.Constraint): Effect.Effect<JsonSchema.JsonSchema, ClaudeError.ClaudeError> =>
  Effect.try({
    try: () => jsonSchemaOf(schema),
    catch: (error) =>
      ClaudeError.make(
        new ClaudeError.InvalidOptions({
          issues: `schema: ${Predicate.isError(error) ? error.message : String(error)}`
        })
      )
  })

/** What effect/ai's `LanguageModel.generateObject` decodes with, and the JSON Schema the turn runs with. */
export const codecTransformer: LanguageModel.CodecTransformer = (schema) => ({
  codec: Schema.toCodecJson(schema),
  jsonSchema: jsonSchemaOf(schema)
})

/** The turn's structured output decoded by the Schema, or `StructuredOutputInvalid` naming what is wrong. */
export const decode = <S extends Schema.Top>(
  schema: S,
  result: ResultEvent
): Effect.Effect<S["Type"], ClaudeError.ClaudeError, S["DecodingServices"]> => {
  const invalid = (issues: string) =>
    ClaudeError.make(new ClaudeError.StructuredOutputInvalid({ issues }), { sessionId: result.sessionId })
  const output = result.frame.structured_output
  return output === undefined
    ? Effect.fail(invalid("the turn ended without structured output: the model never called the StructuredOutput tool"))
    : Schema.decodeUnknownEffect(Schema.toCodecJson(schema))(output, { errors: "all" }).pipe(
      Effect.mapError((error) => invalid(formatIssues(error.issue)))
    )
}

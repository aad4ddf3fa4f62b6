/**
 * The JSON Schema `--json-schema` gets from an Effect Schema: draft-07 (what the CLI's Ajv compiles),
 * an object at the root, definitions the root and its fields point at.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import * as StructuredOutput from "../src/internal/structuredOutput.ts"

describe("StructuredOutput.jsonSchemaOf", () => {
  it("a Struct is a closed object with its required fields; a Date field is the string of its JSON form", () => {
    const schema = StructuredOutput.jsonSchemaOf(Schema.Struct({ title: Schema.String, at: Schema.Date }))
    assert.strictEqual(schema.type, "object")
    assert.deepStrictEqual(schema.required, ["title", "at"])
    assert.strictEqual(schema.additionalProperties, false)
    assert.deepInclude(schema.properties, { title: { type: "string" } })
  })

  it("tuples are written in draft-07's form (items as an array), never draft 2020-12's prefixItems", () => {
    const schema = StructuredOutput.jsonSchemaOf(Schema.Struct({ point: Schema.Tuple([Schema.Number, Schema.Number]) }))
    const text = JSON.stringify(schema)
    assert.notInclude(text, "prefixItems")
    assert.include(text, "\"items\":[")
  })

  it("an identified root is inlined (the tool's input must be an object), its definitions kept under definitions", () => {
    const Person = Schema.Struct({ name: Schema.String }).annotate({ identifier: "Person" })
    const schema = StructuredOutput.jsonSchemaOf(
      Schema.Struct({ lead: Person }).annotate({ identifier: "Team" })
    )
    assert.strictEqual(schema.type, "object")
    assert.isUndefined(schema.$ref)
    assert.deepInclude(schema.properties, { lead: { $ref: "#/definitions/Person" } })
    assert.deepInclude(schema.definitions, {
      Person: {
        type: "object",
        properties: { name: { type: "string" } },
        required: ["name"],
        additionalProperties: false
      }
    })
  })

  it("a Schema whose JSON form is not an object is refused with InvalidOptions saying why", () => {
    for (const schema of [Schema.String, Schema.Array(Schema.Number), Schema.Union([Schema.String, Schema.Number])]) {
      const exit = Effect.runSyncExit(StructuredOutput.jsonSchema(schema))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const error = exit.cause.reasons.find((r) => r._tag === "Fail")?.error
        assert.strictEqual(error?.reason._tag, "InvalidOptions")
        assert.include(error?.message, "schema: its JSON form must be an object")
      }
    }
  })
})

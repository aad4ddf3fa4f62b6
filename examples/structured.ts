/**
 * `npm run example:structured`: a typed answer from the CLI, offline, in two forms.
 *
 * `Claude.generateObject` gives the CLI the Schema's JSON Schema (`--json-schema`); the model (the bundled
 * FakeApi on loopback, scripted to call the CLI's `StructuredOutput` tool) gives an object, which comes back
 * decoded by the same Schema: here a `Date` travels as its ISO string and arrives a `Date`. The same turn
 * through effect/ai's `LanguageModel.generateObject`, on `ClaudeLanguageModel`, follows.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Schema } from "effect"
import { Claude, ClaudeLanguageModel, type ClaudeOptions } from "effect-claude-code"
import { FakeApi } from "effect-claude-code/testing"
import { LanguageModel } from "effect/ai"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const Meeting = Schema.Struct({
  title: Schema.String,
  at: Schema.Date,
  attendees: Schema.Array(Schema.String)
})

const meeting = { title: "Planning", at: "2026-12-03T10:00:00.000Z", attendees: ["ada", "alan"] }

const program = Effect.gen(function*() {
  const home = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-claude-code-structured-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  const api = yield* FakeApi.make({ script: (_request, _index) => FakeApi.toolUse("StructuredOutput", meeting) })
  const options: ClaudeOptions.Input = { env: FakeApi.cliEnvironment(api, home) }
  // The HOME and the FakeApi are acquired before the Claude layer is built, so they outlive its CLIs.
  yield* Effect.gen(function*() {
    const { value, result } = yield* Claude.generateObject("Plan the planning meeting.", Meeting, options)
    yield* Console.log(
      `[Claude.generateObject] ${value.title} at ${value.at.toISOString()} with ${value.attendees.join(", ")}`
    )
    yield* Console.log(`[result] ${result.subtype}, the object as text: ${result.text ?? ""}`)

    const response = yield* LanguageModel.generateObject({ prompt: "Plan the planning meeting.", schema: Meeting })
      .pipe(
        Effect.provide(ClaudeLanguageModel.layer(options))
      )
    yield* Console.log(
      `[LanguageModel.generateObject] ${response.value.title}, a Date: ${response.value.at instanceof Date}`
    )
  }).pipe(Effect.provide(Claude.layerWith({ pool: { minIdle: 0 } })))
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)

/**
 * What the FakeApi answers when no script says otherwise: a conversation request gets a greeting, a tool use
 * or a tool result's echo; a side request of the CLI (probes, session titles) what the CLI expects of it.
 */
import { Option, Schema } from "effect"
import { type Reply, text, toolUse } from "./replies.ts"
import { lastToolResult, lastUserText, type RequestInfo } from "./requests.ts"

/**
 * What a conversation request gets when nothing is scripted:
 * - if the last user message holds a `tool_result`, the text `Tool said: <content>`;
 * - otherwise, if the last user text contains `USE_TOOL`, a `Bash` tool use
 *   running `echo hi-from-tool`;
 * - otherwise the text `Hello from the fake API.`
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultReply = (request: RequestInfo): Reply => {
  const toolResult = lastToolResult(request)
  if (toolResult !== undefined) return text(`Tool said: ${toolResult}`)
  if (lastUserText(request).includes("USE_TOOL")) {
    return toolUse("Bash", { command: "echo hi-from-tool", description: "Print a greeting" })
  }
  return text("Hello from the fake API.")
}

const JsonSchemaFormat = Schema.Struct({
  type: Schema.Literal("json_schema"),
  schema: Schema.Struct({
    properties: Schema.optionalKey(
      Schema.Record(Schema.String, Schema.Struct({ type: Schema.optionalKey(Schema.Unknown) }))
    )
  })
})
const decodeJsonSchemaFormat = Schema.decodeUnknownOption(JsonSchemaFormat)

const sampleFor = (key: string, type: unknown): Schema.Json => {
  switch (type) {
    case "string":
      return `Fake ${key}`
    case "number":
    case "integer":
      return 0
    case "boolean":
      return false
    case "array":
      return []
    case "object":
      return {}
    default:
      return null
  }
}

/**
 * What side requests get:
 * - a one-token probe (`max_tokens <= 1`) gets `"."`;
 * - a structured-output request (`output_config.format.type: "json_schema"`, e.g.
 *   session titles) gets a JSON object with one sample value per top-level
 *   property (`"Fake <name>"` for strings);
 * - anything else gets {@link defaultReply}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sideReply = (request: RequestInfo): Reply => {
  const body = request.messagesRequest
  if (body !== undefined && (body.max_tokens ?? 0) <= 1) return text(".")
  const format = decodeJsonSchemaFormat(body?.output_config?.format)
  if (Option.isSome(format)) {
    const sample: Record<string, Schema.Json> = {}
    for (const [key, property] of Object.entries(format.value.schema.properties ?? {})) {
      sample[key] = sampleFor(key, property.type)
    }
    return text(JSON.stringify(sample))
  }
  return defaultReply(request)
}

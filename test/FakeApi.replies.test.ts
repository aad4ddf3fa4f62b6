import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Ref, Stream } from "effect"
import { HttpBody, HttpClient } from "effect/http"
import { FakeApi } from "../src/testing/index.ts"

/** A request as the fake records it, with a messages body. */
const request = (
  body: FakeApi.MessagesRequest | undefined,
  fields?: Partial<FakeApi.RequestInfo>
): FakeApi.RequestInfo => ({
  sequence: 0,
  method: "POST",
  path: "/v1/messages",
  url: "/v1/messages?beta=true",
  headers: {},
  body,
  messagesRequest: body,
  timestamp: 0,
  ...fields
})

const user = (content: FakeApi.MessagesRequest["messages"][number]["content"]) => ({ role: "user", content })

describe("FakeApi: how a request is classified and answered without a script", () => {
  it("a conversation request is a POST to /v1/messages with thinking or tools, over one token, without structured output", () => {
    const conversation = { max_tokens: 1000, thinking: { type: "adaptive" }, messages: [] }
    assert.isTrue(FakeApi.isConversationRequest(request(conversation)))
    assert.isTrue(FakeApi.isConversationRequest(request({ max_tokens: 1000, tools: [{ name: "Bash" }], messages: [] })))
    assert.isFalse(
      FakeApi.isConversationRequest(request({ max_tokens: 1000, tools: [], messages: [] })),
      "no tools, no thinking"
    )
    assert.isFalse(FakeApi.isConversationRequest(request({ ...conversation, max_tokens: 1 })), "a one-token probe")
    assert.isFalse(FakeApi.isConversationRequest(request({ thinking: {}, messages: [] })), "no max_tokens")
    assert.isFalse(
      FakeApi.isConversationRequest(request({ ...conversation, output_config: { format: { type: "json_schema" } } })),
      "structured output"
    )
    assert.isFalse(FakeApi.isConversationRequest(request(conversation, { method: "GET" })))
    assert.isFalse(FakeApi.isConversationRequest(request(conversation, { path: "/v1/messages/count_tokens" })))
    assert.isFalse(FakeApi.isConversationRequest(request(undefined)))
  })

  it("the default reply answers a tool result, runs a tool on USE_TOOL, and otherwise greets", () => {
    const toolResult = (content: unknown) =>
      FakeApi.defaultReply(request({ messages: [user([{ type: "tool_result", tool_use_id: "t", content }])] }))
    assert.deepStrictEqual(toolResult("hi-from-tool"), FakeApi.text("Tool said: hi-from-tool"))
    assert.deepStrictEqual(
      toolResult([{ type: "text", text: "a" }, { type: "image" }, { type: "text", text: "b" }]),
      FakeApi.text("Tool said: ab")
    )
    assert.deepStrictEqual(toolResult(42), FakeApi.text("Tool said: "), "content of no known shape")
    assert.deepStrictEqual(
      FakeApi.defaultReply(request({ messages: [user("please USE_TOOL now")] })),
      FakeApi.toolUse("Bash", { command: "echo hi-from-tool", description: "Print a greeting" })
    )
    assert.deepStrictEqual(FakeApi.defaultReply(request({ messages: [] })), FakeApi.text("Hello from the fake API."))
  })

  it("lastUserText and userTexts read string and block contents, user messages only", () => {
    const req = request({
      messages: [
        user("first"),
        { role: "assistant", content: "ignored" },
        user([{ type: "text", text: "second" }, { type: "tool_result", content: "x" }, { type: "text", text: "third" }])
      ]
    })
    assert.deepStrictEqual(FakeApi.userTexts(req), ["first", "second", "third"])
    assert.strictEqual(FakeApi.lastUserText(req), "second\nthird")
    assert.strictEqual(FakeApi.lastUserText(request({ messages: [{ role: "assistant", content: "a" }] })), "")
    assert.deepStrictEqual(FakeApi.userTexts(request(undefined)), [])
    assert.isUndefined(FakeApi.lastToolResult(request({ messages: [] })))
  })

  it("side requests: a one-token probe gets \".\", structured output a sample per property type, else the default", () => {
    assert.deepStrictEqual(FakeApi.sideReply(request({ max_tokens: 1, messages: [] })), FakeApi.text("."))
    const structured = FakeApi.sideReply(request({
      max_tokens: 100,
      messages: [],
      output_config: {
        format: {
          type: "json_schema",
          schema: {
            properties: {
              title: { type: "string" },
              score: { type: "number" },
              count: { type: "integer" },
              done: { type: "boolean" },
              tags: { type: "array" },
              meta: { type: "object" },
              anything: {}
            }
          }
        }
      }
    }))
    assert.deepStrictEqual(
      structured,
      FakeApi.text(
        JSON.stringify({ title: "Fake title", score: 0, count: 0, done: false, tags: [], meta: {}, anything: null })
      )
    )
    assert.deepStrictEqual(
      FakeApi.sideReply(
        request({ max_tokens: 100, messages: [], output_config: { format: { type: "json_schema", schema: {} } } })
      ),
      FakeApi.text("{}")
    )
    assert.deepStrictEqual(
      FakeApi.sideReply(request({ max_tokens: 100, messages: [user("hi")] })),
      FakeApi.text("Hello from the fake API.")
    )
  })

  it("error replies take their type from the status", () => {
    const types = [400, 401, 402, 403, 404, 413, 429, 529, 500, 503].map((status) => FakeApi.error(status).errorType)
    assert.deepStrictEqual(types, [
      "invalid_request_error",
      "authentication_error",
      "billing_error",
      "permission_error",
      "not_found_error",
      "request_too_large",
      "rate_limit_error",
      "overloaded_error",
      "api_error",
      "api_error"
    ])
    assert.strictEqual(FakeApi.error(402).message, "Billing problem (fake)")
    assert.strictEqual(FakeApi.error(500, { type: "overloaded_error", message: "m" }).errorType, "overloaded_error")
  })
})

const http = (url: string, init?: RequestInit) =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    return { status: response.status, headers: response.headers, body: await response.text() }
  })

const postJson = (url: string, body: unknown) =>
  http(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })

const conversation = (stream: boolean) => ({
  model: "claude-test",
  max_tokens: 1000,
  stream,
  thinking: { type: "adaptive" },
  messages: [user("hi")]
})

describe("FakeApi over HTTP: what the CLI may send besides a conversation", () => {
  it.live("/api/hello answers the CLI's reachability probe; other paths and methods are 404s; a body that is no JSON is kept", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make()
      const hello = yield* http(`${api.url}/api/hello`)
      assert.strictEqual(hello.status, 200)
      assert.deepStrictEqual(JSON.parse(hello.body), { message: "hello" })
      const probe = yield* http(`${api.url}/api/hello`, { method: "HEAD" })
      assert.strictEqual(probe.status, 200)
      assert.strictEqual(probe.body, "")
      const wrongMethod = yield* http(`${api.url}/api/hello`, { method: "DELETE" })
      assert.strictEqual(wrongMethod.status, 404)
      assert.include(wrongMethod.body, "Not found: DELETE /api/hello")

      const notJson = yield* http(`${api.url}/v1/other`, { method: "POST", body: "not json" })
      assert.strictEqual(notJson.status, 404)

      const requests = yield* api.requests
      assert.deepStrictEqual(requests.map((r) => [r.kind, r.method, r.path]), [
        ["other", "GET", "/api/hello"],
        ["other", "HEAD", "/api/hello"],
        ["other", "DELETE", "/api/hello"],
        ["other", "POST", "/v1/other"]
      ])
      assert.strictEqual(requests[3]?.body, "not json", "a body that is not JSON is kept as text")
      assert.isUndefined(requests[0]?.body, "an empty body is undefined")
    }))

  it.live("a non-streaming reply holds thinking and tool use blocks whole", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make({
        script: [
          FakeApi.message([
            FakeApi.thinking(["Let me ", "think."], { signature: "sig-9" }),
            FakeApi.toolUse("Bash", { command: "ls" }, { id: "toolu_9" })
          ], { model: "claude-other" })
        ]
      })
      const response = yield* postJson(`${api.url}/v1/messages`, conversation(false))
      assert.strictEqual(response.status, 200)
      const body = JSON.parse(response.body)
      assert.strictEqual(body.model, "claude-other")
      assert.deepStrictEqual(body.content, [
        { type: "thinking", thinking: "Let me think.", signature: "sig-9" },
        { type: "tool_use", id: "toolu_9", name: "Bash", input: { command: "ls" } }
      ])
      assert.strictEqual(body.stop_reason, "tool_use")
    }))

  it.live("an error mid-stream arrives as an SSE error event after message_start", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make({ script: [FakeApi.error(529, { midStream: true })] })
      const midStream = yield* postJson(`${api.url}/v1/messages`, conversation(true))
      assert.strictEqual(midStream.status, 200)
      assert.match(midStream.body, /^event: message_start\n/)
      assert.include(
        midStream.body,
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded (fake)\"}}"
      )
    }))

  it.live("a disconnect sends message_start and the partial text_delta, then cuts the connection", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make({
        script: [FakeApi.disconnect({ partialText: "half an ans" }), FakeApi.disconnect()]
      })
      const client = yield* HttpClient.HttpClient
      // The body as it arrives, kept when the stream fails: what the client had before the cut.
      const cutReply = Effect.gen(function*() {
        const response = yield* client.post(`${api.url}/v1/messages`, {
          body: HttpBody.jsonUnsafe(conversation(true))
        })
        const received = yield* Ref.make("")
        const end = yield* response.stream.pipe(
          Stream.decodeText(),
          Stream.runForEach((chunk) => Ref.update(received, (text) => text + chunk)),
          Effect.exit
        )
        return { status: response.status, received: yield* Ref.get(received), end }
      })

      const withText = yield* cutReply
      assert.strictEqual(withText.status, 200)
      assert.isTrue(Exit.isFailure(withText.end), "the body ends in an error, not a clean end")
      assert.match(withText.received, /^event: message_start\n/)
      assert.include(
        withText.received,
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0," +
          "\"delta\":{\"type\":\"text_delta\",\"text\":\"half an ans\"}}\n\n"
      )
      assert.notInclude(withText.received, "content_block_stop")
      assert.notInclude(withText.received, "message_stop")

      const bare = yield* cutReply
      assert.isTrue(Exit.isFailure(bare.end))
      assert.match(bare.received, /^event: message_start\n/)
      assert.notInclude(bare.received, "content_block_start")
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerNodeHttp)))
})

import { assert, describe, it } from "@effect/vitest"
import { Data, Effect, Exit, Option, Queue, Schema, Scope } from "effect"
import type { Cause, Duration } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { fileURLToPath } from "node:url"
import * as FakeApi from "../src/testing/FakeApi.ts"

const claudeBin = fileURLToPath(new URL("../node_modules/.bin/claude", import.meta.url))

class CliTestError extends Data.TaggedError("CliTestError")<{ readonly message: string }> {}

// -----------------------------------------------------------------------------
// Decoding what the CLI prints (only the fields these tests look at)
// -----------------------------------------------------------------------------

const ContentBlock = Schema.Struct({
  type: Schema.String,
  text: Schema.optionalKey(Schema.String),
  thinking: Schema.optionalKey(Schema.String),
  name: Schema.optionalKey(Schema.String),
  input: Schema.optionalKey(Schema.Unknown),
  content: Schema.optionalKey(Schema.Unknown)
})

const StreamEvent = Schema.Struct({
  type: Schema.String,
  index: Schema.optionalKey(Schema.Number),
  delta: Schema.optionalKey(Schema.Struct({
    type: Schema.optionalKey(Schema.String),
    text: Schema.optionalKey(Schema.String),
    thinking: Schema.optionalKey(Schema.String),
    signature: Schema.optionalKey(Schema.String),
    partial_json: Schema.optionalKey(Schema.String)
  }))
})

const Frame = Schema.Struct({
  type: Schema.String,
  subtype: Schema.optionalKey(Schema.String),
  is_error: Schema.optionalKey(Schema.Boolean),
  api_error_status: Schema.optionalKey(Schema.NullOr(Schema.Number)),
  result: Schema.optionalKey(Schema.String),
  retry_delay_ms: Schema.optionalKey(Schema.Number),
  error_status: Schema.optionalKey(Schema.NullOr(Schema.Number)),
  message: Schema.optionalKey(Schema.Struct({
    content: Schema.optionalKey(Schema.Union([Schema.String, Schema.Array(ContentBlock)]))
  })),
  event: Schema.optionalKey(StreamEvent),
  response: Schema.optionalKey(Schema.Struct({
    request_id: Schema.optionalKey(Schema.String),
    response: Schema.optionalKey(Schema.Unknown)
  }))
})
type Frame = typeof Frame.Type

const decodeFrame = Schema.decodeUnknownOption(Schema.fromJsonString(Frame))

const blocksOf = (frame: Frame): ReadonlyArray<typeof ContentBlock.Type> => {
  const content = frame.message?.content
  return content === undefined || typeof content === "string" ? [] : content
}

// -----------------------------------------------------------------------------
// Driving the real CLI in session mode
// -----------------------------------------------------------------------------

interface Cli {
  readonly send: (line: object) => Effect.Effect<void>
  readonly sendUser: (text: string) => Effect.Effect<void>
  /** Reads frames until one matches, returning all frames read (the match last). */
  readonly readUntil: (
    predicate: (frame: Frame) => boolean,
    what: string,
    timeout?: Duration.Input
  ) => Effect.Effect<ReadonlyArray<Frame>, CliTestError>
  readonly endInput: Effect.Effect<void>
  readonly awaitExit: Effect.Effect<number | null, CliTestError>
  readonly stderr: () => string
}

const tempHome = Effect.acquireRelease(
  Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "fakeapi-test-"))),
  (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
)

const waitForExit = (child: ChildProcess.ChildProcess): Effect.Effect<number | null> =>
  Effect.callback<number | null>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed(child.exitCode))
    const onExit = (code: number | null) => resume(Effect.succeed(code))
    child.once("exit", onExit)
    return Effect.sync(() => child.off("exit", onExit))
  })

/** Spawns `claude` in stream-json session mode and sends `initialize`. Killed with the scope. */
const startCli = Effect.fn("startCli")(function*(
  api: { readonly url: string },
  options: { readonly args?: ReadonlyArray<string>; readonly env?: Record<string, string> } = {}
) {
  const home = yield* tempHome
  const cwd = Path.join(home, "project")
  yield* Effect.promise(() => Fs.mkdir(cwd))
  const child = yield* Effect.acquireRelease(
    Effect.sync(() =>
      ChildProcess.spawn(
        claudeBin,
        [
          "--output-format",
          "stream-json",
          "--verbose",
          "--input-format",
          "stream-json",
          ...(options.args ?? [])
        ],
        {
          cwd,
          env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...FakeApi.cliEnvironment(api, home), ...options.env },
          stdio: ["pipe", "pipe", "pipe"]
        }
      )
    ),
    (child) =>
      Effect.suspend(() => {
        if (child.exitCode !== null || child.signalCode !== null) return Effect.void
        child.kill("SIGKILL")
        return waitForExit(child).pipe(Effect.timeoutOption("3 seconds"), Effect.asVoid)
      })
  )
  let stderr = ""
  child.stderr.setEncoding("utf8")
  child.stderr.on("data", (chunk: string) => {
    stderr += chunk
  })
  child.stdin.on("error", () => {})
  const lines = yield* Queue.unbounded<string, Cause.Done>()
  const rl = Readline.createInterface({ input: child.stdout })
  rl.on("line", (line) => {
    Queue.offerUnsafe(lines, line)
  })
  rl.on("close", () => {
    Queue.endUnsafe(lines)
  })

  const send = (line: object) => Effect.sync(() => void child.stdin.write(JSON.stringify(line) + "\n"))
  const sendUser = (text: string) =>
    send({
      type: "user",
      session_id: "",
      message: { role: "user", content: [{ type: "text", text }] },
      parent_tool_use_id: null
    })

  const readUntil = (predicate: (frame: Frame) => boolean, what: string, timeout: Duration.Input = "15 seconds") =>
    Effect.gen(function*() {
      const frames: Array<Frame> = []
      while (true) {
        const line = yield* Queue.take(lines).pipe(
          Effect.mapError(() => new CliTestError({ message: `stdout ended before ${what}; stderr: ${stderr}` }))
        )
        const frame = decodeFrame(line)
        if (Option.isNone(frame)) continue
        frames.push(frame.value)
        if (predicate(frame.value)) return frames
      }
    }).pipe(
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () => Effect.fail(new CliTestError({ message: `timed out waiting for ${what}; stderr: ${stderr}` }))
      })
    )

  yield* send({ type: "control_request", request_id: "init_1", request: { subtype: "initialize" } })
  yield* readUntil((f) => f.type === "control_response", "the initialize response")

  const cli: Cli = {
    send,
    sendUser,
    readUntil,
    endInput: Effect.sync(() => void child.stdin.end()),
    awaitExit: waitForExit(child).pipe(
      Effect.timeoutOrElse({
        duration: "5 seconds",
        orElse: () => Effect.fail(new CliTestError({ message: "CLI did not exit" }))
      })
    ),
    stderr: () => stderr
  }
  return cli
})

/** One session: each prompt is a turn that ends with a `result` frame; then stdin closes. */
const runTurns = Effect.fn("runTurns")(function*(
  api: { readonly url: string },
  prompts: ReadonlyArray<string>,
  options: { readonly args?: ReadonlyArray<string>; readonly env?: Record<string, string> } = {}
) {
  const cli = yield* startCli(api, options)
  const frames: Array<Frame> = []
  for (const prompt of prompts) {
    yield* cli.sendUser(prompt)
    for (const frame of yield* cli.readUntil((f) => f.type === "result", `the result of "${prompt}"`)) {
      frames.push(frame)
    }
  }
  yield* cli.endInput
  const exitCode = yield* cli.awaitExit
  return { frames, exitCode, results: frames.filter((f) => f.type === "result") }
})

const lastResult = (frames: ReadonlyArray<Frame>): Frame => {
  const result = frames.findLast((f) => f.type === "result")
  assert.isDefined(result)
  return result
}

// -----------------------------------------------------------------------------
// Plain HTTP checks (no CLI)
// -----------------------------------------------------------------------------

const http = (url: string, init?: RequestInit) =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    return { status: response.status, headers: response.headers, body: await response.text() }
  })

const post = (url: string, body: object) =>
  http(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": "sk-secret-header-value" },
    body: JSON.stringify(body)
  })

const conversationBody = (stream: boolean, text = "hi") => ({
  model: "claude-test",
  max_tokens: 1000,
  stream,
  thinking: { type: "adaptive" },
  tools: [],
  messages: [{ role: "user", content: [{ type: "text", text }] }]
})

const sseEvents = (body: string): ReadonlyArray<{ readonly event: string; readonly data: string }> =>
  body.split("\n\n").filter((b) => b.length > 0).map((block) => {
    const [eventLine = "", dataLine = ""] = block.split("\n")
    return { event: eventLine.replace(/^event: /, ""), data: dataLine.replace(/^data: /, "") }
  })

const ErrorBody = Schema.Struct({
  type: Schema.Literal("error"),
  error: Schema.Struct({ type: Schema.String, message: Schema.String })
})
const decodeErrorBody = Schema.decodeUnknownSync(Schema.fromJsonString(ErrorBody))

describe("FakeApi (HTTP)", () => {
  // it.effect: TestClock is installed, yet reply delays still elapse, because the
  // fake runs its replies on the live clock.
  it.effect("streams thinking, text and tool use with delays under TestClock", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make({
        script: [
          FakeApi.message([
            FakeApi.thinking(["Let me ", "think."], { signature: "sig-1" }),
            FakeApi.text("Hello world", { chunkSize: 4 }),
            FakeApi.toolUse("Bash", { command: "ls" }, { id: "toolu_x", chunkSize: 5 })
          ], { delayMs: 5 })
        ]
      })
      const response = yield* post(`${api.url}/v1/messages?beta=true`, conversationBody(true))
      assert.strictEqual(response.status, 200)
      assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/)
      const events = sseEvents(response.body)
      assert.deepStrictEqual(events.map((e) => e.event), [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta", // {"command":"ls"} in 5-character pieces
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop"
      ])
      assert.include(response.body, `"delta":{"type":"thinking_delta","thinking":"Let me "}`)
      assert.include(response.body, `"delta":{"type":"signature_delta","signature":"sig-1"}`)
      assert.include(response.body, `"delta":{"type":"text_delta","text":"Hell"}`)
      assert.include(response.body, `"content_block":{"type":"tool_use","id":"toolu_x","name":"Bash","input":{}}`)
      assert.include(response.body, `"stop_reason":"tool_use"`)
    }))

  it.live("answers non-streaming, count_tokens, side requests, 404 and errors", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make({
        script: [
          FakeApi.error(429, { retryAfterSeconds: 7 }),
          FakeApi.error(529),
          FakeApi.error(401),
          FakeApi.error(403),
          FakeApi.error(400),
          FakeApi.error(500)
        ]
      })
      const expected: ReadonlyArray<readonly [number, string]> = [
        [429, "rate_limit_error"],
        [529, "overloaded_error"],
        [401, "authentication_error"],
        [403, "permission_error"],
        [400, "invalid_request_error"],
        [500, "api_error"]
      ]
      for (const [status, type] of expected) {
        const response = yield* post(`${api.url}/v1/messages`, conversationBody(true))
        assert.strictEqual(response.status, status)
        assert.strictEqual(decodeErrorBody(response.body).error.type, type)
        if (status === 429) assert.strictEqual(response.headers.get("retry-after"), "7")
      }
      // script exhausted: the default responder, here non-streaming
      const plain = yield* post(`${api.url}/v1/messages`, conversationBody(false))
      assert.strictEqual(plain.status, 200)
      assert.include(plain.body, `"content":[{"type":"text","text":"Hello from the fake API."}]`)

      const tokens = yield* post(`${api.url}/v1/messages/count_tokens?beta=true`, conversationBody(false))
      assert.match(tokens.body, /^\{"input_tokens":\d+\}$/)

      // a title-style side request: no thinking, no tools, structured output
      const title = yield* post(`${api.url}/v1/messages`, {
        model: "m",
        max_tokens: 100,
        stream: false,
        tools: [],
        output_config: {
          format: { type: "json_schema", schema: { type: "object", properties: { title: { type: "string" } } } }
        },
        messages: [{ role: "user", content: "name this" }]
      })
      assert.include(title.body, `"text":"{\\"title\\":\\"Fake title\\"}"`)

      const missing = yield* http(`${api.url}/v1/nothing`)
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(decodeErrorBody(missing.body).error.type, "not_found_error")

      const requests = yield* api.requests
      assert.deepStrictEqual(requests.map((r) => r.kind), [
        ...expected.map(() => "conversation"),
        "conversation",
        "count_tokens",
        "side",
        "other"
      ])
      assert.strictEqual((yield* api.conversationRequests).length, 7)
      assert.strictEqual(requests[0]?.headers["x-api-key"], FakeApi.fingerprint("sk-secret-header-value"))
      assert.notInclude(JSON.stringify(requests), "sk-secret-header-value")
    }))

  it.live("a function script sees each conversation request and its index", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make()
      yield* api.setScript((request, index) => FakeApi.text(`#${index}: ${FakeApi.lastUserText(request)}`))
      const first = yield* post(`${api.url}/v1/messages`, conversationBody(false, "one"))
      const second = yield* post(`${api.url}/v1/messages`, conversationBody(false, "two"))
      assert.include(first.body, `"text":"#0: one"`)
      assert.include(second.body, `"text":"#1: two"`)
    }))

  it.live("layer provides the service; setScript restarts the script", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.FakeApi
      assert.match(api.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      const first = yield* post(`${api.url}/v1/messages`, conversationBody(false))
      assert.include(first.body, `"text":"from the layer"`)
      yield* api.setScript([FakeApi.text("replaced")])
      const second = yield* post(`${api.url}/v1/messages`, conversationBody(false))
      assert.include(second.body, `"text":"replaced"`)
      assert.strictEqual((yield* api.awaitConversationRequests(2)).length, 2)
      yield* api.clearRequests
      assert.strictEqual((yield* api.requests).length, 0)
    }).pipe(Effect.provide(FakeApi.layer({ script: [FakeApi.text("from the layer")] }))))

  it.live("keeps the last 256 requests by default; waiting counts every conversation request, kept or not", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make()
      for (let i = 0; i < 260; i++) yield* post(`${api.url}/v1/messages`, conversationBody(false, `n${i}`))
      const kept = yield* api.requests
      assert.strictEqual(kept.length, FakeApi.defaultRecordedRequests)
      assert.strictEqual(FakeApi.defaultRecordedRequests, 256)
      // The newest ones, in order: the first 4 are gone.
      assert.strictEqual(kept[0]?.sequence, 4)
      assert.strictEqual(kept.map((r) => FakeApi.lastUserText(r)).at(-1), "n259")
      // 260 arrived: a wait for 260 returns at once, with what is kept.
      const awaited = yield* api.awaitConversationRequests(260).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(awaited.length, 256)
      yield* api.clearRequests
      assert.strictEqual((yield* api.requests).length, 0)
      // Counting starts again after a clear.
      yield* post(`${api.url}/v1/messages`, conversationBody(false, "after"))
      assert.strictEqual((yield* api.awaitConversationRequests(1).pipe(Effect.timeout("5 seconds"))).length, 1)
    }))

  it.live("recordRequests bounds what is kept; \"all\" keeps every request", () =>
    Effect.gen(function*() {
      const few = yield* FakeApi.make({ recordRequests: 2 })
      const all = yield* FakeApi.make({ recordRequests: "all" })
      for (let i = 0; i < 300; i++) {
        yield* post(`${few.url}/v1/messages`, conversationBody(false, `n${i}`))
        yield* post(`${all.url}/v1/messages`, conversationBody(false, `n${i}`))
      }
      assert.deepStrictEqual((yield* few.requests).map((r) => r.sequence), [298, 299])
      assert.strictEqual((yield* all.requests).length, 300)
      assert.strictEqual((yield* all.conversationRequests).length, 300)
    }))

  it.live("a script function that throws becomes a 500 api_error", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make({
        script: () => {
          throw new Error("broken script")
        }
      })
      const response = yield* post(`${api.url}/v1/messages`, conversationBody(true))
      assert.strictEqual(response.status, 500)
      assert.include(decodeErrorBody(response.body).error.message, "broken script")
    }))

  it.live("large outputs arrive whole", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make({ script: [FakeApi.largeText(1_000_000)] })
      const response = yield* post(`${api.url}/v1/messages`, conversationBody(true))
      const text = sseEvents(response.body)
        .filter((e) => e.event === "content_block_delta")
        .map((e) => Schema.decodeUnknownSync(Schema.fromJsonString(StreamEvent))(e.data).delta?.text ?? "")
        .join("")
      assert.strictEqual(text.length, 1_000_000)
    }))
})

// -----------------------------------------------------------------------------
// The real CLI against the fake
// -----------------------------------------------------------------------------

describe("FakeApi (real CLI)", () => {
  it.live("plain text turn; the request is recorded without the API key in clear", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make({ script: [FakeApi.text("Scripted answer.")] })
      const run = yield* runTurns(api, ["say hello"])
      const result = lastResult(run.frames)
      assert.strictEqual(result.result, "Scripted answer.")
      assert.strictEqual(result.is_error, false)
      assert.strictEqual(run.exitCode, 0)

      const conversation = yield* api.conversationRequests
      assert.strictEqual(conversation.length, 1)
      const [request] = conversation
      assert.isDefined(request)
      assert.strictEqual(request.path, "/v1/messages")
      assert.isTrue(request.messagesRequest?.stream)
      assert.include(FakeApi.userTexts(request), "say hello")
      assert.strictEqual(request.headers["x-api-key"], FakeApi.fingerprint(FakeApi.fakeApiKey))
      // with CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 the turn is the only request
      assert.strictEqual((yield* api.requests).length, 1)
      assert.notInclude(JSON.stringify(yield* api.requests), FakeApi.fakeApiKey)
    }))

  it.live("tool use turn with the default responder", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make()
      const run = yield* runTurns(api, ["please USE_TOOL now"])
      const toolUse = run.frames.flatMap(blocksOf).find((b) => b.type === "tool_use")
      assert.strictEqual(toolUse?.name, "Bash")
      assert.deepStrictEqual(toolUse?.input, { command: "echo hi-from-tool", description: "Print a greeting" })
      const toolResult = run.frames
        .filter((f) => f.type === "user")
        .flatMap(blocksOf)
        .find((b) => b.type === "tool_result")
      assert.strictEqual(toolResult?.content, "hi-from-tool")
      assert.strictEqual(lastResult(run.frames).result, "Tool said: hi-from-tool")

      const conversation = yield* api.conversationRequests
      assert.strictEqual(conversation.length, 2)
      assert.strictEqual(conversation[1] && FakeApi.lastToolResult(conversation[1]), "hi-from-tool")
    }))

  it.live("tool use turn with a function script", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make({
        script: (request, index) =>
          index === 0
            ? FakeApi.message([
              FakeApi.text("Let me check."),
              FakeApi.toolUse("Bash", { command: "echo scripted-tool", description: "Echo" }, { id: "toolu_s1" })
            ])
            : FakeApi.text(`Done: ${FakeApi.lastToolResult(request) ?? "nothing"}`)
      })
      const run = yield* runTurns(api, ["run something"])
      const toolUse = run.frames.flatMap(blocksOf).find((b) => b.type === "tool_use")
      assert.deepStrictEqual(toolUse?.input, { command: "echo scripted-tool", description: "Echo" })
      assert.strictEqual(lastResult(run.frames).result, "Done: scripted-tool")
      assert.strictEqual((yield* api.conversationRequests).length, 2)
    }))

  it.live("a session title request is a side request and leaves the script alone", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make({ script: [FakeApi.text("the scripted turn")] })
      const cli = yield* startCli(api)
      yield* cli.send({
        type: "control_request",
        request_id: "title_1",
        request: { subtype: "generate_session_title", description: "fix the login bug" }
      })
      const frames = yield* cli.readUntil((f) => f.response?.request_id === "title_1", "the title response")
      assert.deepStrictEqual(frames.at(-1)?.response?.response, { title: "Fake title" })
      const [side] = yield* api.requests
      assert.strictEqual(side?.kind, "side")
      assert.isUndefined(side?.messagesRequest?.thinking)

      yield* cli.sendUser("now a turn")
      const turn = yield* cli.readUntil((f) => f.type === "result", "the turn result")
      assert.strictEqual(lastResult(turn).result, "the scripted turn")
      yield* cli.endInput
      assert.strictEqual(yield* cli.awaitExit, 0)
    }))

  it.live("401 ends the turn with api_error_status 401", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make({ script: [FakeApi.error(401)] })
      const result = lastResult((yield* runTurns(api, ["hi"])).frames)
      assert.isTrue(result.is_error)
      assert.strictEqual(result.api_error_status, 401)
    }))

  it.live("529 ends the turn with api_error_status 529", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make({ script: [FakeApi.error(529)] })
      const result = lastResult((yield* runTurns(api, ["hi"])).frames)
      assert.isTrue(result.is_error)
      assert.strictEqual(result.api_error_status, 529)
    }))

  it.live("429 with retry-after: the CLI waits that long, then the retry succeeds", () =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make({
        script: [FakeApi.error(429, { retryAfterSeconds: 1 }), FakeApi.text("after the retry")]
      })
      const run = yield* runTurns(api, ["hi"], { env: { CLAUDE_CODE_MAX_RETRIES: "1" } })
      const retry = run.frames.find((f) => f.type === "system" && f.subtype === "api_retry")
      assert.strictEqual(retry?.error_status, 429)
      // the CLI takes retry-after (seconds) and adds up to ~25 % jitter; without the
      // header it would back off from ~500 ms
      assert.isAtLeast(retry?.retry_delay_ms ?? 0, 1000)
      assert.isBelow(retry?.retry_delay_ms ?? 0, 1300)
      assert.strictEqual(lastResult(run.frames).result, "after the retry")
      const [first, second] = yield* api.conversationRequests
      assert.isDefined(first)
      assert.isDefined(second)
      assert.isAtLeast(second.timestamp - first.timestamp, 900)
    }))

  it.live("--include-partial-messages yields the scripted deltas", () =>
    Effect.gen(function*() {
      const chunks = ["Hel", "lo, ", "partial ", "world"]
      const api = yield* FakeApi.make({
        script: [
          FakeApi.message([FakeApi.thinking(["Pondering ", "deeply."]), FakeApi.text(chunks)], { delayMs: 10 })
        ]
      })
      const run = yield* runTurns(api, ["stream please"], { args: ["--include-partial-messages"] })
      const deltas = run.frames.flatMap((f) => f.type === "stream_event" && f.event?.delta ? [f.event.delta] : [])
      assert.deepStrictEqual(deltas.filter((d) => d.type === "text_delta").map((d) => d.text), chunks)
      assert.deepStrictEqual(
        deltas.filter((d) => d.type === "thinking_delta").map((d) => d.thinking),
        ["Pondering ", "deeply."]
      )
      assert.isTrue(deltas.some((d) => d.type === "signature_delta"))
      assert.strictEqual(lastResult(run.frames).result, chunks.join(""))
    }))

  it.live("closing the scope with a hanging reply in flight closes promptly", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const api = yield* FakeApi.make({ script: [FakeApi.hang({ partialText: "stuck" })] }).pipe(
        Scope.provide(scope)
      )
      const cli = yield* startCli(api, { args: ["--include-partial-messages"] })
      yield* cli.sendUser("hang please")
      yield* cli.readUntil((f) => f.event?.delta?.text === "stuck", "the partial text before the stall")
      assert.strictEqual((yield* api.awaitConversationRequests(1)).length, 1)

      const started = Date.now()
      yield* Scope.close(scope, Exit.void).pipe(
        Effect.timeoutOrElse({
          duration: "2 seconds",
          orElse: () => Effect.fail(new CliTestError({ message: "scope did not close" }))
        })
      )
      assert.isBelow(Date.now() - started, 1000)

      // the port is closed, and the CLI saw the connection drop
      const refused = yield* Effect.callback<boolean>((resume) => {
        const socket = Net.connect(api.port, "127.0.0.1")
        socket.once("connect", () => {
          socket.destroy()
          resume(Effect.succeed(false))
        })
        socket.once("error", () => resume(Effect.succeed(true)))
      })
      assert.isTrue(refused)
      const result = lastResult(yield* cli.readUntil((f) => f.type === "result", "the failed result"))
      assert.isTrue(result.is_error)
    }))
})

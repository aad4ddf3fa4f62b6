/**
 * A loopback fake of the Anthropic Messages API for running the real Claude Code
 * CLI offline (point it at the fake with `ANTHROPIC_BASE_URL`, see
 * {@link cliEnvironment}).
 *
 * ## What the CLI (2.1.329) sends, observed against this fake
 *
 * With `--input-format stream-json --output-format stream-json` and
 * {@link cliEnvironment}:
 *
 * - One `POST /v1/messages?beta=true` with `"stream": true` per model call of a turn
 *   (a tool-use turn makes two). `max_tokens` is large (32000–128000), `tools` holds
 *   the tool definitions and `thinking` is set (`{"type":"adaptive"}`, `{"type":"enabled"}`
 *   or `{"type":"disabled"}`) for every model that supports thinking. `messages` ends
 *   with a `role: "system"` environment message, so "the last message" is not the
 *   last user message.
 * - Nothing else. No `HEAD`, no `count_tokens`, no telemetry, no DNS lookups. This
 *   holds only with `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`. Without it the CLI
 *   also sends `HEAD /api/hello` to the base URL (a reachability probe, answered
 *   here with 200) and resolves `api.anthropic.com` for telemetry, which fails offline.
 * - Side requests that are not conversation turns, made on demand:
 *   - The `generate_session_title` control request sends a streamed `POST /v1/messages`
 *     with `tools: []`, no `thinking` key and `output_config.format` set to a `json_schema`
 *     (`{title: string}`). This fake answers it with JSON that fits the schema.
 *   - The binary also contains `max_tokens: 1` probes: a quota check (`"quota"`), an API key
 *     check (`"test"`) and model validation (`"."`). None was observed in stream-json mode.
 *   - The `side_question` control request forks the conversation: same tools, `thinking`
 *     and history. It counts as a conversation request.
 * - When a stream breaks (dropped connection, mid-stream `error` event, or no bytes
 *   for `CLAUDE_BYTE_STREAM_IDLE_TIMEOUT_MS`, minimum 10 s) and no retries are left,
 *   the CLI repeats the turn **without streaming**: `"stream": false`,
 *   `max_tokens: 64000`, same `thinking` and `tools`. That repeat is a conversation
 *   request and takes the next scripted reply, which is then sent as JSON. If retries
 *   remain (`CLAUDE_CODE_MAX_RETRIES > 0`), the CLI retries the streaming request
 *   instead.
 * - On 429 and 529 the CLI honours `retry-after`: it waits that many seconds plus
 *   up to about 25 % jitter. Without the header it backs off from about 500 ms.
 * - Which errors the CLI retries, each retry announced by a `system/api_retry` frame
 *   (delays about 0.6, 1.1, 2.3, 4.1, 9.5, 19 s, ... up to ~40 s): 401, 429 and 5xx up to
 *   `CLAUDE_CODE_MAX_RETRIES` times (default 10: a 401 takes about 150 s to come back as a
 *   `result`), with an API key as with an OAuth token; a 529 at most twice whatever the
 *   setting; a 403 only when the answer says `x-should-retry: true`; nothing when it says
 *   `x-should-retry: false`. See the `shouldRetry` option of {@link error}.
 * - A stalled stream (a {@link hang}) holds the CLI for minutes: more than 30 s was
 *   observed with the defaults.
 * - Interactive (TTY) mode ignores `ANTHROPIC_BASE_URL` for its start-up connectivity
 *   check and calls `api.anthropic.com` directly, so it cannot run offline.
 *
 * A `POST /v1/messages` counts as a **conversation** request, and consumes a scripted
 * reply, when all of these hold:
 * - it asks for more than 1 output token;
 * - it has no structured `output_config.format`;
 * - it carries `thinking` or a non-empty `tools` list.
 *
 * The `stream` flag is deliberately not part of the test, because of the
 * non-streaming fallback described above. Models without thinking support (e.g.
 * `claude-3-5-haiku-20241022`) send no `thinking` key, so their turns are recognised by
 * their tools alone. Such a model run with `--tools ""` looks like a side request;
 * pass `isConversation` for that case.
 *
 * Every other `POST /v1/messages` is a **side** request, answered by
 * {@link sideReply}. See {@link isConversationRequest}, which the `isConversation`
 * option replaces.
 *
 * @since 0.1.0
 */
import type { Scope } from "effect"
import { Context, type Duration, Effect, Layer, Ref } from "effect"
import * as NodePath from "node:path"
import { defaultReply, sideReply } from "./internal/fakeApi/defaultReplies.ts"
import { makeHandler } from "./internal/fakeApi/handler.ts"
import {
  disconnect,
  error,
  hang,
  largeText,
  message,
  type Reply,
  text,
  textBlock,
  thinking,
  thinkingBlock,
  toolUse,
  toolUseBlock
} from "./internal/fakeApi/replies.ts"
import { makeRequestLog } from "./internal/fakeApi/requestLog.ts"
import {
  fingerprint,
  isConversationRequest,
  lastToolResult,
  lastUserText,
  type RecordedRequest,
  type RequestInfo,
  userTexts
} from "./internal/fakeApi/requests.ts"
import { serve } from "./internal/fakeApi/server.ts"

export type {
  Block,
  ChunkOptions,
  Disconnect,
  ErrorReply,
  ErrorType,
  Hang,
  Message,
  MessageOptions,
  Reply,
  StopReason,
  TextBlock,
  ThinkingBlock,
  ToolUseBlock
} from "./internal/fakeApi/replies.ts"
export type {
  ApiMessage,
  MessagesRequest,
  RecordedRequest,
  RequestInfo,
  RequestKind
} from "./internal/fakeApi/requests.ts"
export {
  defaultReply,
  disconnect,
  error,
  fingerprint,
  hang,
  isConversationRequest,
  largeText,
  lastToolResult,
  lastUserText,
  message,
  sideReply,
  text,
  textBlock,
  thinking,
  thinkingBlock,
  toolUse,
  toolUseBlock,
  userTexts
}

/**
 * What conversation requests are answered with. A list is consumed in order; once
 * it is exhausted, {@link defaultReply} (or the `defaultReply` option) takes over.
 * A function gets each conversation request and its 0-based index. Both count from
 * the last {@link FakeApi} `setScript` call.
 *
 * @since 0.1.0
 * @category models
 */
export type Script = ReadonlyArray<Reply> | ((request: RecordedRequest, index: number) => Reply)

/**
 * Options for {@link make} and {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly script?: Script
  /** Replaces {@link defaultReply} for unscripted conversation requests. */
  readonly defaultReply?: (request: RecordedRequest) => Reply
  /** Replaces {@link isConversationRequest}. */
  readonly isConversation?: (request: RequestInfo) => boolean
  /**
   * How many of the latest requests `requests` keeps (a real CLI's turn sends about 100 KB of body): a
   * number, or `"all"` for every request until `clearRequests`. Default {@link defaultRecordedRequests}.
   */
  readonly recordRequests?: number | "all"
}

/**
 * How many of the latest requests a {@link FakeApi} keeps unless told otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultRecordedRequests = 256

/**
 * A running fake Messages API on `127.0.0.1`. It lives as long as its scope;
 * closing the scope closes every connection, hanging streams included.
 *
 * @since 0.1.0
 * @category services
 */
export class FakeApi extends Context.Service<FakeApi, {
  /** `http://127.0.0.1:<port>`, the value for `ANTHROPIC_BASE_URL`. */
  readonly url: string
  readonly port: number
  /** The requests received so far, in order: the latest `recordRequests` of them (default 256). */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Only the requests kept that are classified as `conversation`. */
  readonly conversationRequests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /**
   * Waits until at least `count` conversation requests have arrived since the last `clearRequests`
   * (counting those no longer kept), then returns the conversation requests kept. It waits `within` of real
   * time at most (default 10 seconds; the live Clock, under a TestClock too), then dies saying how many came.
   */
  readonly awaitConversationRequests: (
    count: number,
    within?: Duration.Input
  ) => Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Replaces the script and restarts its index at 0. */
  readonly setScript: (script: Script) => Effect.Effect<void>
  /** Forgets the recorded requests; sequence numbers continue. */
  readonly clearRequests: Effect.Effect<void>
}>()("effect-claude-code/testing/FakeApi") {}

interface ScriptState {
  readonly script: Script
  readonly cursor: number
}

/**
 * Starts a fake Messages API on `127.0.0.1` at a free port. It closes with the
 * scope: the server stops listening, every open connection is destroyed and every
 * pending reply (delays, hangs) is interrupted.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fn("FakeApi.make")(function*(
  options?: Options
): Effect.fn.Return<FakeApi["Service"], never, Scope.Scope> {
  const log = yield* makeRequestLog(
    options?.recordRequests === "all" ? Infinity : Math.max(0, options?.recordRequests ?? defaultRecordedRequests)
  )
  const scriptRef = yield* Ref.make<ScriptState>({ script: options?.script ?? [], cursor: 0 })
  const fallback = options?.defaultReply ?? defaultReply

  const nextReply = (request: RecordedRequest): Effect.Effect<Reply> =>
    Ref.modify(scriptRef, (state): [Reply, ScriptState] => {
      const next = { ...state, cursor: state.cursor + 1 }
      if (typeof state.script === "function") return [state.script(request, state.cursor), next]
      return [state.script[state.cursor] ?? fallback(request), next]
    })

  const handle = yield* makeHandler({
    log,
    isConversation: options?.isConversation ?? isConversationRequest,
    nextReply
  })
  const port = yield* serve(handle)

  return FakeApi.of({
    url: `http://127.0.0.1:${port}`,
    port,
    requests: log.requests,
    conversationRequests: log.conversationRequests,
    awaitConversationRequests: log.awaitConversationRequests,
    setScript: (script) => Ref.set(scriptRef, { script, cursor: 0 }),
    clearRequests: log.clear
  })
})

/**
 * A layer that runs a {@link FakeApi} for the lifetime of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<FakeApi> => Layer.effect(FakeApi, make(options))

/**
 * The API key {@link cliEnvironment} hands to the CLI. It is recorded only as
 * `fingerprint(fakeApiKey)`.
 *
 * @since 0.1.0
 * @category constants
 */
export const fakeApiKey = "sk-ant-api03-fake-key-for-offline-tests-0000000000"

/**
 * The environment a real CLI needs to run offline against the fake. Spawn it with
 * these plus `PATH`. Overlaying them on `process.env` also works, as long as the host
 * does not set `ANTHROPIC_AUTH_TOKEN` or `ANTHROPIC_MODEL`, or the `CLAUDE_CODE_USE_*`
 * provider switches.
 *
 * Checked against 2.1.329 with strace and a logging proxy:
 * - Required:
 *   - `ANTHROPIC_BASE_URL` and `ANTHROPIC_API_KEY`.
 *   - A fresh `HOME` (the CLI writes `~/.claude*` state there).
 *   - `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`. Without it the CLI sends
 *     `HEAD /api/hello` and looks up `api.anthropic.com`.
 *   - `CLAUDE_CODE_MAX_RETRIES=0`, so error tests do not wait out retries of up to
 *     ~40 s each.
 * - Defensive:
 *   - `CLAUDE_CONFIG_DIR`, which keeps every config file under `home/.claude`.
 *   - `DISABLE_TELEMETRY`, `DISABLE_AUTOUPDATER` and `DISABLE_ERROR_REPORTING`, which
 *     the nonessential switch already covers.
 *   - `NO_PROXY`, so a proxy set on the host does not capture loopback.
 *
 * @since 0.1.0
 * @category utils
 */
export const cliEnvironment = (api: { readonly url: string }, home: string): Record<string, string> => ({
  ANTHROPIC_BASE_URL: api.url,
  ANTHROPIC_API_KEY: fakeApiKey,
  HOME: home,
  CLAUDE_CONFIG_DIR: NodePath.join(home, ".claude"),
  DISABLE_TELEMETRY: "1",
  DISABLE_AUTOUPDATER: "1",
  DISABLE_ERROR_REPORTING: "1",
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  CLAUDE_CODE_MAX_RETRIES: "0",
  NO_PROXY: "127.0.0.1,localhost",
  no_proxy: "127.0.0.1,localhost"
})

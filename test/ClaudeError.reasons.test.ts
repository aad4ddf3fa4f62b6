import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { ClaudeError } from "../src/index.ts"

/** One row per reason: a value of it, the message a person reads, and whether a retry can help. */
interface Row {
  readonly reason: ClaudeError.Reason
  readonly message: string
  readonly retryable: boolean
}

const rows: ReadonlyArray<Row> = [
  {
    reason: new ClaudeError.SpawnFailed({ executable: "/usr/bin/claude", description: "EACCES" }),
    message: "Could not start the Claude Code CLI (/usr/bin/claude): EACCES",
    retryable: false
  },
  {
    reason: new ClaudeError.CliNotFound({ searched: ["/a/claude", "/b/claude"] }),
    message: "Claude Code CLI not found. Searched: /a/claude, /b/claude. Install @anthropic-ai/claude-code, " +
      "set the `executable` option, or set CLAUDE_CODE_EXECUTABLE.",
    retryable: false
  },
  {
    reason: new ClaudeError.CliVersionUnsupported({ executable: "/x/claude", version: "1.0.0", required: ">= 2.1.0" }),
    message: "Claude Code CLI at /x/claude reports version \"1.0.0\"; >= 2.1.0 is required.",
    retryable: false
  },
  {
    reason: new ClaudeError.ProcessExited({ exitCode: 3, stderrTail: "  boom\n" }),
    message: "The Claude Code CLI exited with code 3. Last stderr: boom",
    retryable: true
  },
  {
    reason: new ClaudeError.ProcessCrashed({ signal: "SIGKILL", stderrTail: "" }),
    message: "The Claude Code CLI was killed by SIGKILL",
    retryable: true
  },
  {
    reason: new ClaudeError.TranscriptLost({
      sessionId: "s-1",
      transcript: "missing",
      toolsMayHaveRun: false,
      toolUseIds: []
    }),
    message: "The transcript of CLI session s-1 is not on disk, so it cannot be resumed. The turn was not sent again",
    retryable: false
  },
  {
    reason: new ClaudeError.Timeout({ kind: "idle", durationMs: 30_000 }),
    message: "The idle timeout of 30000 ms ran out",
    retryable: true
  },
  {
    reason: new ClaudeError.AuthenticationFailed({ status: 401, detail: "invalid x-api-key" }),
    message: "Authentication failed (401): invalid x-api-key. Check ANTHROPIC_API_KEY / CLAUDE_CODE_OAUTH_TOKEN.",
    retryable: false
  },
  {
    reason: new ClaudeError.PermissionRefused({ detail: "billing" }),
    message: "The API refused the request (403): billing. Check the account's permissions and billing.",
    retryable: false
  },
  {
    reason: new ClaudeError.RateLimited({ detail: "slow down", retryAfterMs: 1500 }),
    message: "Rate limited by the API (429): slow down. Retry after 2 s.",
    retryable: true
  },
  {
    reason: new ClaudeError.Overloaded({ detail: "overloaded_error" }),
    message: "The API is overloaded (529): overloaded_error",
    retryable: true
  },
  {
    reason: new ClaudeError.ApiError({ status: 400, detail: "bad request", errorType: "invalid_request_error" }),
    message: "API error (400): bad request",
    retryable: false
  },
  {
    reason: new ClaudeError.MaxTurns({ numTurns: 3 }),
    message: "The turn stopped after reaching the maximum of 3 agent turns (maxTurns)",
    retryable: false
  },
  {
    reason: new ClaudeError.BudgetExceeded({ costUsd: 0.25 }),
    message: "The turn stopped at its budget (maxBudgetUsd) after spending $0.25",
    retryable: false
  },
  {
    reason: new ClaudeError.ExecutionError({ subtype: "error_during_execution", errors: ["a", "b"] }),
    message: "The CLI failed the turn (error_during_execution): a; b",
    retryable: false
  },
  {
    reason: new ClaudeError.StructuredOutputInvalid({ issues: "votes: must be even" }),
    message: "The turn's structured output does not match the schema: votes: must be even",
    retryable: false
  },
  {
    reason: new ClaudeError.StructuredOutputRetriesExhausted({ errors: ["/answer: must be string"] }),
    message: "The model gave no valid structured output before the CLI's retries ran out: /answer: must be string",
    retryable: false
  },
  {
    reason: new ClaudeError.Interrupted({}),
    message: "The turn was interrupted",
    retryable: false
  },
  {
    reason: new ClaudeError.ProtocolError({ detail: "no result frame" }),
    message: "Protocol error: no result frame",
    retryable: true
  },
  {
    reason: new ClaudeError.PoolExhausted({ waiting: 4, max: 2 }),
    message: "The session pool is exhausted (max 2, 4 waiting)",
    retryable: true
  },
  {
    reason: new ClaudeError.CircuitOpen({ halfOpenAtMs: 1000 }),
    message: "The circuit breaker is open after repeated failures; calls are rejected until it half-opens",
    retryable: false
  },
  {
    reason: new ClaudeError.InvalidOptions({ issues: "maxTurns: expected a positive integer" }),
    message: "Invalid options: maxTurns: expected a positive integer",
    retryable: false
  },
  {
    reason: new ClaudeError.InvalidPrompt({ issues: "a slash command" }),
    message: "Invalid prompt: a slash command",
    retryable: false
  },
  {
    reason: new ClaudeError.CommandRefused({ command: "/config", detail: "writes shared settings" }),
    message: "The slash command /config was refused: writes shared settings",
    retryable: false
  },
  {
    reason: new ClaudeError.ControlRefused({ subtype: "mcp_reconnect", error: "Server not found: docs" }),
    message: "The CLI refused the control request mcp_reconnect: Server not found: docs",
    retryable: false
  },
  {
    reason: new ClaudeError.ResourceLimitExceeded({ resource: "memory", limit: 512, observed: 800 }),
    message: "The CLI exceeded its memory limit (800 > 512) and was stopped",
    retryable: true
  },
  {
    reason: new ClaudeError.InvalidCredential({ source: "ANTHROPIC_API_KEY", problem: "empty" }),
    message: "The credential from ANTHROPIC_API_KEY is not usable: empty",
    retryable: false
  },
  {
    reason: new ClaudeError.ClusterUnavailable({ detail: "MailboxFull" }),
    message: "The cluster could not carry the turn: MailboxFull",
    retryable: true
  },
  {
    reason: new ClaudeError.ConversationFenced({ conversationId: "c1", epoch: 1 }),
    message: "Conversation c1 was taken over by another runner; epoch 1 may no longer commit",
    retryable: true
  }
]

const encode = Schema.encodeSync(ClaudeError.ClaudeError)
const decode = Schema.decodeUnknownSync(ClaudeError.ClaudeError)

describe("ClaudeError reasons", () => {
  it("the table holds every reason of the union, once", () => {
    const tags = rows.map((row) => row.reason._tag)
    const union = ClaudeError.Reason.members.map((member) => member.fields._tag.schema.literal)
    assert.strictEqual(new Set(tags).size, tags.length)
    assert.deepStrictEqual([...tags].sort(), [...union].sort())
  })

  for (const { message, reason, retryable } of rows) {
    it(`${reason._tag}: message, isRetryable, and the same through the wrapping ClaudeError`, () => {
      assert.strictEqual(reason.message, message)
      assert.strictEqual(reason.isRetryable, retryable)
      const error = ClaudeError.make(reason)
      assert.strictEqual(error.reason, reason)
      assert.strictEqual(error.message, message)
      assert.strictEqual(error.isRetryable, retryable)
      assert.isTrue(ClaudeError.isClaudeError(error))
    })

    it(`${reason._tag}: survives a Schema round trip with every field`, () => {
      const error = ClaudeError.make(reason, { sessionId: "sess-9", turn: 2 })
      const back = decode(encode(error))
      assert.strictEqual(back.reason._tag, reason._tag)
      assert.deepStrictEqual({ ...back.reason }, { ...reason })
      assert.strictEqual(back.sessionId, "sess-9")
      assert.strictEqual(back.turn, 2)
      assert.strictEqual(back.message, `${message} (session sess-9)`)
      assert.strictEqual(back.isRetryable, retryable)
    })
  }
})

describe("ClaudeError reason details", () => {
  it("ProcessExited: exit codes 1 and 2 are the CLI's own verdict, not retryable; others are", () => {
    const retryable = (exitCode: number) => new ClaudeError.ProcessExited({ exitCode, stderrTail: "" }).isRetryable
    assert.isFalse(retryable(1))
    assert.isFalse(retryable(2))
    assert.isTrue(retryable(3))
    assert.isTrue(retryable(137))
  })

  it("the stderr tail in a message is trimmed, limited to its last 500 characters, and left out when blank", () => {
    const long = `${"a".repeat(600)}END`
    const message = new ClaudeError.ProcessCrashed({ signal: "SIGSEGV", stderrTail: `${long}\n\n` }).message
    assert.strictEqual(message, `The Claude Code CLI was killed by SIGSEGV. Last stderr: ${long.slice(-500)}`)
    assert.strictEqual(
      new ClaudeError.ProcessExited({ exitCode: 9, stderrTail: " \n\t " }).message,
      "The Claude Code CLI exited with code 9"
    )
  })

  it("TranscriptLost names the calls without results and warns when tools may have run", () => {
    const reason = new ClaudeError.TranscriptLost({
      sessionId: "s-2",
      transcript: "incomplete",
      toolUseIds: ["toolu_1", "toolu_2"],
      toolsMayHaveRun: true
    })
    assert.strictEqual(
      reason.message,
      "The transcript of CLI session s-2 lacks the results of tool calls toolu_1, toolu_2, so it cannot be resumed. " +
        "The turn was not sent again; tools of the turn may have run: check their effects before sending it again"
    )
    assert.isFalse(reason.isRetryable)
  })

  it("Timeout: only a startup timeout is not retryable", () => {
    for (const kind of ClaudeError.TimeoutKind.literals) {
      assert.strictEqual(new ClaudeError.Timeout({ kind, durationMs: 1 }).isRetryable, kind !== "startup", kind)
    }
  })

  it("AuthenticationFailed without a status says none", () => {
    assert.strictEqual(
      new ClaudeError.AuthenticationFailed({ status: null, detail: "Not logged in" }).message,
      "Authentication failed: Not logged in. Check ANTHROPIC_API_KEY / CLAUDE_CODE_OAUTH_TOKEN."
    )
  })

  it("RateLimited without a known retry-after asks for no particular wait; with one, rounds up to seconds", () => {
    assert.strictEqual(
      new ClaudeError.RateLimited({ detail: "usage limit" }).message,
      "Rate limited by the API (429): usage limit."
    )
    assert.strictEqual(
      new ClaudeError.RateLimited({ detail: "x", retryAfterMs: 1 }).message,
      "Rate limited by the API (429): x. Retry after 1 s."
    )
  })

  it("ApiError: 5xx and a connection failure (no status) are retryable, 4xx are not", () => {
    const retryable = (status: number | null) => new ClaudeError.ApiError({ status, detail: "d" }).isRetryable
    assert.isTrue(retryable(null))
    assert.isTrue(retryable(500))
    assert.isTrue(retryable(503))
    assert.isFalse(retryable(400))
    assert.isFalse(retryable(404))
    assert.isFalse(retryable(499))
    assert.strictEqual(
      new ClaudeError.ApiError({ status: null, detail: "ECONNREFUSED" }).message,
      "API error: ECONNREFUSED"
    )
  })

  it("ExecutionError without error texts names the subtype alone", () => {
    assert.strictEqual(
      new ClaudeError.ExecutionError({ subtype: "error_unknown", errors: [] }).message,
      "The CLI failed the turn (error_unknown)"
    )
  })
})

describe("ClaudeError.make and fail", () => {
  const reason = new ClaudeError.Overloaded({ detail: "busy" })

  it("keeps the session id and turn when given, and no empty session id", () => {
    const bare = ClaudeError.make(reason)
    assert.isFalse("sessionId" in bare)
    assert.isFalse("turn" in bare)
    assert.strictEqual(bare.message, "The API is overloaded (529): busy")

    const empty = ClaudeError.make(reason, { sessionId: "", turn: 1 })
    assert.isFalse("sessionId" in empty)
    assert.strictEqual(empty.turn, 1)
    assert.strictEqual(empty.message, "The API is overloaded (529): busy")

    const full = ClaudeError.make(reason, { sessionId: "abc", turn: 4 })
    assert.strictEqual(full.sessionId, "abc")
    assert.strictEqual(full.turn, 4)
    assert.strictEqual(full.message, "The API is overloaded (529): busy (session abc)")

    assert.isFalse("sessionId" in ClaudeError.make(reason, { sessionId: undefined }))
  })

  it.effect("fail fails with the wrapped reason, catchable by its tag", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(ClaudeError.fail(reason, { sessionId: "s" }))
      assert.isTrue(Exit.isFailure(exit))
      const caught = yield* ClaudeError.fail(reason).pipe(
        Effect.catchReason("ClaudeError", "Overloaded", (r) => Effect.succeed(r.detail))
      )
      assert.strictEqual(caught, "busy")
    }))

  it("isClaudeError tells a ClaudeError from its bare reason and from other values", () => {
    assert.isTrue(ClaudeError.isClaudeError(ClaudeError.make(reason)))
    assert.isFalse(ClaudeError.isClaudeError(reason))
    assert.isFalse(ClaudeError.isClaudeError(new Error("x")))
    assert.isFalse(ClaudeError.isClaudeError(undefined))
    assert.isFalse(ClaudeError.isClaudeError({ _tag: "Other" }))
  })
})

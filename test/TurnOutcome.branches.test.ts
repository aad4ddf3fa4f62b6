import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import type { ClaudeError } from "../src/index.ts"
import { Protocol, TurnOutcome } from "../src/index.ts"

const fixturesDir = path.join(import.meta.dirname, "fixtures", "claude-cli-2.1.329")

/** The last `result` frame the real CLI wrote in a recorded transcript. */
const recordedResult = (name: string): Protocol.ResultFrame => {
  const lines = fs.readFileSync(path.join(fixturesDir, name, "stdout.jsonl"), "utf8").split("\n")
  const results = lines.filter((line) => line.trim() !== "").map((line) => Protocol.decode(JSON.parse(line)))
    .flatMap((decoded) => (decoded.kind === "result" ? [decoded.frame] : []))
  const last = results.at(-1)
  if (last === undefined) throw new Error(`no result frame in ${name}`)
  return last
}

/** A result frame with only what classification reads: the real 429 result of api-429 as the base. */
const result = (fields: Partial<Protocol.ResultFrame>): Protocol.ResultFrame => {
  const {
    api_error: _apiError,
    api_error_status: _status,
    api_error_type: _type,
    errors: _errors,
    num_turns: _turns,
    result: _text,
    terminal_reason: _terminal,
    total_cost_usd: _cost,
    ...base
  } = recordedResult("api-429")
  return { ...base, ...fields }
}

/** A reason's tag and fields, as a plain object to compare whole. */
const tagAndFields = (reason: ClaudeError.Reason | undefined): Readonly<Record<string, unknown>> | undefined =>
  reason === undefined ? undefined : { ...reason }

describe("TurnOutcome.fromResult: each subtype", () => {
  it("a success that is no error is no failure", () => {
    assert.isUndefined(TurnOutcome.fromResult(result({ subtype: "success", is_error: false })))
    assert.isUndefined(TurnOutcome.fromResult(recordedResult("basic")))
  })

  it("error_max_turns and error_max_budget_usd carry the counts, 0 when the frame has none", () => {
    assert.deepStrictEqual(
      tagAndFields(TurnOutcome.fromResult(result({ subtype: "error_max_turns", is_error: true, num_turns: 4 }))),
      { _tag: "MaxTurns", numTurns: 4 }
    )
    assert.deepStrictEqual(
      tagAndFields(TurnOutcome.fromResult(result({ subtype: "error_max_turns", is_error: true }))),
      { _tag: "MaxTurns", numTurns: 0 }
    )
    assert.deepStrictEqual(
      tagAndFields(
        TurnOutcome.fromResult(result({ subtype: "error_max_budget_usd", is_error: true, total_cost_usd: 0.5 }))
      ),
      { _tag: "BudgetExceeded", costUsd: 0.5 }
    )
    assert.deepStrictEqual(
      tagAndFields(TurnOutcome.fromResult(result({ subtype: "error_max_budget_usd", is_error: true }))),
      { _tag: "BudgetExceeded", costUsd: 0 }
    )
  })

  it("error_during_execution: interrupted when aborted, else an ExecutionError with the CLI's errors", () => {
    const during = { subtype: "error_during_execution", is_error: true } as const
    assert.strictEqual(
      TurnOutcome.fromResult(result({ ...during, terminal_reason: "aborted_streaming" }))?._tag,
      "Interrupted"
    )
    assert.deepStrictEqual(
      tagAndFields(TurnOutcome.fromResult(result({ ...during, terminal_reason: null, errors: ["tool crashed"] }))),
      { _tag: "ExecutionError", subtype: "error_during_execution", errors: ["tool crashed"] }
    )
    assert.deepStrictEqual(
      tagAndFields(TurnOutcome.fromResult(result(during))),
      { _tag: "ExecutionError", subtype: "error_during_execution", errors: [] }
    )
  })

  it("a subtype this library does not know is an ExecutionError naming it", () => {
    assert.deepStrictEqual(
      tagAndFields(TurnOutcome.fromResult(result({ subtype: "error_brand_new", is_error: true, errors: ["e"] }))),
      { _tag: "ExecutionError", subtype: "error_brand_new", errors: ["e"] }
    )
    assert.deepStrictEqual(
      tagAndFields(TurnOutcome.fromResult(result({ subtype: "error_brand_new", is_error: false }))),
      { _tag: "ExecutionError", subtype: "error_brand_new", errors: [] }
    )
  })
})

describe("TurnOutcome.fromResult: an is_error success (how the CLI reports API failures)", () => {
  const failed = (fields: Partial<Protocol.ResultFrame>) =>
    TurnOutcome.fromResult(result({ subtype: "success", is_error: true, ...fields }))

  it("without any sign of the API it is the CLI's own error, with its text as the error", () => {
    assert.deepStrictEqual(tagAndFields(failed({ result: "Something broke" })), {
      _tag: "ExecutionError",
      subtype: "success",
      errors: ["Something broke"]
    })
    assert.deepStrictEqual(tagAndFields(failed({ errors: ["one", "two"] })), {
      _tag: "ExecutionError",
      subtype: "success",
      errors: ["one", "two"]
    })
    assert.deepStrictEqual(tagAndFields(failed({})), {
      _tag: "ExecutionError",
      subtype: "success",
      errors: ["the CLI reported an error"]
    })
  })

  it("terminal_reason api_error or an api_error field without a status is an ApiError (a connection failure), retryable", () => {
    const byTerminal = failed({ terminal_reason: "api_error", result: "Connection error." })
    assert.deepStrictEqual(tagAndFields(byTerminal), { _tag: "ApiError", status: null, detail: "Connection error." })
    assert.isTrue(byTerminal?.isRetryable)
    const byField = failed({ api_error: "unknown", errors: ["ECONNRESET", "again"] })
    assert.deepStrictEqual(tagAndFields(byField), {
      _tag: "ApiError",
      status: null,
      detail: "ECONNRESET; again",
      errorType: "unknown"
    })
  })

  it("the error type comes from api_error_type, else api_error", () => {
    const both = failed({ api_error_status: 500, api_error_type: "api_error", api_error: "server_error", result: "x" })
    assert.strictEqual(both?._tag === "ApiError" ? both.errorType : "", "api_error")
    const fieldOnly = failed({ api_error_status: 500, api_error_type: null, api_error: "server_error", result: "x" })
    assert.strictEqual(fieldOnly?._tag === "ApiError" ? fieldOnly.errorType : "", "server_error")
    const neither = failed({ api_error_status: 500, result: "x" })
    assert.isTrue(neither?._tag === "ApiError" && !("errorType" in neither))
  })

  it("the real 429 result is RateLimited without a wait when the text names none", () => {
    const reason = TurnOutcome.fromResult(recordedResult("api-429"))
    assert.deepStrictEqual(tagAndFields(reason), {
      _tag: "RateLimited",
      detail: "API Error: Request rejected (429) · mock rate_limit_error"
    })
  })

  it("a retry-after in the text, in seconds or milliseconds, becomes retryAfterMs", () => {
    const after = (text: string) => {
      const reason = failed({ api_error_status: 429, result: text })
      return reason?._tag === "RateLimited" ? reason.retryAfterMs : "not RateLimited"
    }
    assert.strictEqual(after("rate limited, retry-after: 12"), 12_000)
    assert.strictEqual(after("Retry after 1.5 seconds"), 1500)
    assert.strictEqual(after("retry-after 250ms"), 250)
    assert.strictEqual(after("retry after 40 milliseconds"), 40)
    assert.strictEqual(after("RETRY-AFTER=3 s"), 3000)
    assert.isUndefined(after("try again later"))
  })

  it("without one in the text, a rate_limit_event's resetsAt gives the wait, never below 0", () => {
    const frame = result({ subtype: "success", is_error: true, api_error_status: 429, result: "limited" })
    const wait = (resetsAt: number, nowMs: number) => {
      const reason = TurnOutcome.fromResult(frame, { rateLimitResetsAt: resetsAt, nowMs })
      return reason?._tag === "RateLimited" ? reason.retryAfterMs : "not RateLimited"
    }
    assert.strictEqual(wait(1_000, 995_500), 4_500)
    assert.strictEqual(wait(1_000, 2_000_000), 0)
    // resetsAt without a clock reading cannot give a wait.
    const noClock = TurnOutcome.fromResult(frame, { rateLimitResetsAt: 1_000 })
    assert.isTrue(noClock?._tag === "RateLimited" && noClock.retryAfterMs === undefined)
    // The text wins over resetsAt.
    const both = TurnOutcome.fromResult({ ...frame, result: "retry after 2" }, { rateLimitResetsAt: 1_000, nowMs: 0 })
    assert.isTrue(both?._tag === "RateLimited" && both.retryAfterMs === 2000)
  })

  it("classify passes resetsAt and the clock reading on", () => {
    const frame = result({ subtype: "success", is_error: true, api_error_status: 429, result: "limited" })
    const reason = TurnOutcome.classify({ result: frame, rateLimitResetsAt: 100 }, 90_000)
    assert.isTrue(reason?._tag === "RateLimited" && reason.retryAfterMs === 10_000)
    const withoutClock = TurnOutcome.classify({ result: frame, rateLimitResetsAt: 100 })
    assert.isTrue(withoutClock?._tag === "RateLimited" && withoutClock.retryAfterMs === undefined)
  })
})

describe("TurnOutcome.fromStatus", () => {
  it("maps each status the API uses to its reason", () => {
    assert.deepStrictEqual(tagAndFields(TurnOutcome.fromStatus(401, "d")), {
      _tag: "AuthenticationFailed",
      status: 401,
      detail: "d"
    })
    assert.deepStrictEqual(tagAndFields(TurnOutcome.fromStatus(403, "d")), { _tag: "PermissionRefused", detail: "d" })
    assert.deepStrictEqual(tagAndFields(TurnOutcome.fromStatus(429, "d")), { _tag: "RateLimited", detail: "d" })
    assert.deepStrictEqual(tagAndFields(TurnOutcome.fromStatus(529, "d")), { _tag: "Overloaded", detail: "d" })
    assert.deepStrictEqual(tagAndFields(TurnOutcome.fromStatus(503, "d", { errorType: "api_error" })), {
      _tag: "ApiError",
      status: 503,
      detail: "d",
      errorType: "api_error"
    })
    assert.deepStrictEqual(tagAndFields(TurnOutcome.fromStatus(null, "d")), {
      _tag: "ApiError",
      status: null,
      detail: "d"
    })
  })
})

describe("TurnOutcome.fromApiRetry: the detail it writes", () => {
  it("names the status, the error and the retry, or says what it does not know", () => {
    const known = TurnOutcome.fromApiRetry({
      type: "system",
      subtype: "api_retry",
      attempt: 2,
      max_retries: 10,
      error_status: 401,
      error: "authentication_failed"
    })
    assert.strictEqual(
      known?._tag === "AuthenticationFailed" ? known.detail : "",
      "the API answered 401 (authentication_failed); the CLI was stopped at its retry 2 of 10 instead of retrying"
    )
    const unknown = TurnOutcome.fromApiRetry({ type: "system", subtype: "api_retry", attempt: 1, error_status: 403 })
    assert.strictEqual(
      unknown?._tag === "PermissionRefused" ? unknown.detail : "",
      "the API answered 403 (error); the CLI was stopped at its retry 1 of ? instead of retrying"
    )
    const noStatus = TurnOutcome.fromApiRetry({
      type: "system",
      subtype: "api_retry",
      attempt: 3,
      error: "authentication_failed"
    })
    assert.strictEqual(
      noStatus?._tag === "AuthenticationFailed" ? noStatus.detail : "",
      "the API answered an error (authentication_failed); the CLI was stopped at its retry 3 of ? instead of retrying"
    )
  })
})

describe("TurnOutcome.classify without a result", () => {
  const exited = (code: number): TurnOutcome.ExitStatus => ({ _tag: "Exited", code })

  it("the last api_retry decides when it was a 401 or 403; an earlier one does not", () => {
    const retry = (error_status: number, error?: string): Protocol.SystemApiRetry => ({
      type: "system",
      subtype: "api_retry",
      attempt: 1,
      error_status,
      ...(error === undefined ? {} : { error })
    })
    assert.deepStrictEqual(
      tagAndFields(TurnOutcome.classify({ apiRetries: [retry(403, "forbidden")], exit: exited(1) })),
      {
        _tag: "PermissionRefused",
        detail: "the API answered 403 (forbidden)"
      }
    )
    assert.deepStrictEqual(tagAndFields(TurnOutcome.classify({ apiRetries: [retry(401)] })), {
      _tag: "AuthenticationFailed",
      status: 401,
      detail: "the API answered 401 (error)"
    })
    // A 401 followed by a 529: the API got past the credential, the exit decides.
    assert.strictEqual(
      TurnOutcome.classify({ apiRetries: [retry(401), retry(529)], exit: exited(1) })?._tag,
      "ProcessExited"
    )
  })

  it("an authentication message on stderr is AuthenticationFailed with its last line, whatever the exit", () => {
    for (
      const text of [
        "Invalid API key · Please run /login",
        "Not logged in",
        "authentication_error",
        "Authentication failed"
      ]
    ) {
      const reason = TurnOutcome.classify({ stderrTail: `starting\n${text}\n`, exit: exited(1) })
      assert.deepStrictEqual(tagAndFields(reason), { _tag: "AuthenticationFailed", status: null, detail: text }, text)
    }
    const long = `please run /login ${"x".repeat(600)}`
    const reason = TurnOutcome.classify({ stderrTail: long, exit: { _tag: "Signaled", signal: "SIGTERM" } })
    assert.strictEqual(reason?._tag === "AuthenticationFailed" ? reason.detail.length : 0, 500)
  })

  it("death by signal, or an exit code of 128 + a signal's number, is ProcessCrashed with that signal", () => {
    assert.deepStrictEqual(
      tagAndFields(TurnOutcome.classify({ exit: { _tag: "Signaled", signal: "SIGSEGV" }, stderrTail: "core dumped" })),
      { _tag: "ProcessCrashed", signal: "SIGSEGV", stderrTail: "core dumped" }
    )
    assert.deepStrictEqual(tagAndFields(TurnOutcome.classify({ exit: exited(143) })), {
      _tag: "ProcessCrashed",
      signal: "SIGTERM",
      stderrTail: ""
    })
    const killed = TurnOutcome.classify({ exit: exited(137) })
    assert.strictEqual(killed?._tag === "ProcessCrashed" ? killed.signal : "", "SIGKILL")
  })

  it("an exit code that is no signal is ProcessExited with the stderr tail", () => {
    assert.deepStrictEqual(tagAndFields(TurnOutcome.classify({ exit: exited(2), stderrTail: "usage" })), {
      _tag: "ProcessExited",
      exitCode: 2,
      stderrTail: "usage"
    })
    // 128 itself is 128 + 0: no signal.
    assert.strictEqual(TurnOutcome.classify({ exit: exited(128) })?._tag, "ProcessExited")
    // Above the last signal's number.
    assert.strictEqual(TurnOutcome.classify({ exit: exited(255) })?._tag, "ProcessExited")
  })

  it("no result and no failing exit is a protocol error that says which", () => {
    assert.deepStrictEqual(tagAndFields(TurnOutcome.classify({})), {
      _tag: "ProtocolError",
      detail: "the CLI's output ended without a result frame"
    })
    assert.deepStrictEqual(tagAndFields(TurnOutcome.classify({ exit: exited(0) })), {
      _tag: "ProtocolError",
      detail: "the CLI exited with code 0 without printing a result frame"
    })
  })
})

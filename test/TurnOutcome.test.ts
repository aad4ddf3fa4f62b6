import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Protocol from "../src/Protocol.ts"
import * as TurnOutcome from "../src/TurnOutcome.ts"

const fixturesDir = path.join(import.meta.dirname, "fixtures", "claude-cli-2.1.329")

const framesOf = (name: string) =>
  fs.readFileSync(path.join(fixturesDir, name, "stdout.jsonl"), "utf8").split("\n").filter((l) => l.trim() !== "")
    .map((line) => Protocol.decode(JSON.parse(line)))

const exitOf = (name: string): TurnOutcome.ExitStatus | undefined => {
  const file = path.join(fixturesDir, name, "exit.txt")
  if (!fs.existsSync(file)) return undefined
  const code = /rc=(\d+)/.exec(fs.readFileSync(file, "utf8"))?.[1]
  return code === undefined ? undefined : { _tag: "Exited", code: Number(code) }
}

/** The evidence of a fixture's last turn: its last result, its api_retry frames, its exit. */
const evidenceOf = (name: string): TurnOutcome.Evidence => {
  const decoded = framesOf(name)
  const results = decoded.flatMap((d) => (d.kind === "result" ? [d.frame] : []))
  const apiRetries = decoded.flatMap((d) => (d.kind === "api_retry" ? [d.frame] : []))
  return { result: results.at(-1), apiRetries, exit: exitOf(name), stderrTail: "" }
}

describe("TurnOutcome.classify against the recorded transcripts", () => {
  const expected: Record<string, { readonly tag: string | undefined; readonly retryable?: boolean }> = {
    "basic": { tag: undefined },
    "noinit": { tag: undefined },
    "tool-hook-partial": { tag: undefined },
    "permission-allow-deny": { tag: undefined },
    "clear-reset": { tag: undefined },
    "eof-mid-turn": { tag: undefined },
    "print-mode-stream": { tag: undefined },
    "print-tool-use": { tag: undefined },
    "interrupt-and-controls": { tag: undefined },
    "api-400": { tag: "ApiError", retryable: false },
    "api-401": { tag: "AuthenticationFailed", retryable: false },
    "api-429": { tag: "RateLimited", retryable: true },
    "api-529": { tag: "Overloaded", retryable: true },
    "print-api-529": { tag: "Overloaded", retryable: true },
    "api-errors-mixed": { tag: "ApiError", retryable: false },
    "connection-refused": { tag: "ApiError", retryable: true },
    "max-turns": { tag: "MaxTurns", retryable: false },
    "sigterm": { tag: "ProcessCrashed", retryable: true },
    "sdk-mcp-tool": { tag: undefined },
    "sdk-mcp-cancel": { tag: "Interrupted", retryable: false },
    "task-background": { tag: undefined },
    "task-foreground": { tag: undefined },
    "compact": { tag: undefined },
    "hook-progress": { tag: undefined }
  }

  for (const [name, { retryable, tag }] of Object.entries(expected)) {
    it(`${name}: ${tag ?? "success"}`, () => {
      const reason = TurnOutcome.classify(evidenceOf(name))
      assert.strictEqual(reason?._tag, tag)
      if (retryable !== undefined) assert.strictEqual(reason?.isRetryable, retryable)
    })
  }

  it("covers every recorded transcript", () => {
    const names = fs.readdirSync(fixturesDir).filter((n) => fs.existsSync(path.join(fixturesDir, n, "stdout.jsonl")))
    assert.deepStrictEqual(names.sort(), Object.keys(expected).sort())
  })

  it("interrupt: the aborted turn of interrupt-and-controls is Interrupted", () => {
    const first = framesOf("interrupt-and-controls").find((d) => d.kind === "result")
    assert.isTrue(first?.kind === "result")
    if (first?.kind === "result") assert.strictEqual(TurnOutcome.fromResult(first.frame)?._tag, "Interrupted")
  })

  it("interrupt at a permission prompt or tool run (aborted_tools) is Interrupted too", () => {
    const first = framesOf("interrupt-and-controls").find((d) => d.kind === "result")
    if (first?.kind !== "result") return assert.fail("no result in the fixture")
    // The frame the real CLI 2.1.329 sends when interrupted while a permission callback is pending.
    const atTool = { ...first.frame, terminal_reason: "aborted_tools", stop_reason: "tool_use" }
    assert.strictEqual(TurnOutcome.fromResult(atTool)?._tag, "Interrupted")
    assert.strictEqual(TurnOutcome.fromResult({ ...first.frame, terminal_reason: "completed" })?._tag, "ExecutionError")
  })

  it("F12: is_error with subtype success is never a success, whatever the exit code", () => {
    const { result } = evidenceOf("api-401")
    assert.strictEqual(
      TurnOutcome.classify({ result, exit: { _tag: "Exited", code: 0 } })?._tag,
      "AuthenticationFailed"
    )
  })

  it("without a result: exit code, then signal, then stderr", () => {
    assert.strictEqual(
      TurnOutcome.classify({ exit: { _tag: "Exited", code: 3 }, stderrTail: "boom" })?._tag,
      "ProcessExited"
    )
    assert.strictEqual(TurnOutcome.classify({ exit: { _tag: "Signaled", signal: "SIGKILL" } })?._tag, "ProcessCrashed")
    assert.strictEqual(
      TurnOutcome.classify({ exit: { _tag: "Exited", code: 1 }, stderrTail: "Error: Invalid API key" })?._tag,
      "AuthenticationFailed"
    )
    assert.strictEqual(TurnOutcome.classify({ exit: { _tag: "Exited", code: 0 } })?._tag, "ProtocolError")
  })

  it("an api_retry with 401 before the process was stopped reads as AuthenticationFailed", () => {
    const apiRetry: Protocol.SystemApiRetry = {
      type: "system",
      subtype: "api_retry",
      attempt: 1,
      error_status: 401,
      error: "authentication_failed"
    }
    assert.strictEqual(
      TurnOutcome.classify({ apiRetries: [apiRetry], exit: { _tag: "Signaled", signal: "SIGTERM" } })?._tag,
      "AuthenticationFailed"
    )
  })

  it("retry-after in the result text becomes retryAfterMs", () => {
    const reason = TurnOutcome.fromStatus(429, "limited", { retryAfterMs: 7000 })
    assert.isTrue(reason._tag === "RateLimited" && reason.retryAfterMs === 7000)
  })
})

describe("TurnOutcome.fromApiRetry (F12: which retries are not worth waiting for)", () => {
  const retry = (fields: Partial<Protocol.SystemApiRetry>): Protocol.SystemApiRetry => ({
    type: "system",
    subtype: "api_retry",
    session_id: "s",
    uuid: "u",
    attempt: 1,
    max_retries: 10,
    retry_delay_ms: 600,
    ...fields
  })

  it("a 401 is AuthenticationFailed, a 403 PermissionRefused, neither retryable", () => {
    const auth = TurnOutcome.fromApiRetry(retry({ error_status: 401, error: "authentication_failed" }))
    assert.strictEqual(auth?._tag, "AuthenticationFailed")
    assert.strictEqual(auth?._tag === "AuthenticationFailed" ? auth.status : undefined, 401)
    assert.include(auth?.message ?? "", "retry 1 of 10")
    // The CLI calls a 403 `authentication_failed` too; the status decides.
    const refused = TurnOutcome.fromApiRetry(retry({ error_status: 403, error: "authentication_failed" }))
    assert.strictEqual(refused?._tag, "PermissionRefused")
    assert.isFalse(auth?.isRetryable)
    assert.isFalse(refused?.isRetryable)
  })

  it("an authentication_failed error without a status is AuthenticationFailed", () => {
    const auth = TurnOutcome.fromApiRetry(retry({ error_status: null, error: "authentication_failed" }))
    assert.strictEqual(auth?._tag, "AuthenticationFailed")
    assert.strictEqual(auth?._tag === "AuthenticationFailed" ? auth.status : undefined, null)
  })

  it("429, 529, 5xx and connection errors are worth waiting for", () => {
    for (
      const [status, error] of [[429, "rate_limit"], [529, "overloaded"], [500, "server_error"], [
        null,
        "unknown"
      ]] as const
    ) {
      assert.isUndefined(TurnOutcome.fromApiRetry(retry({ error_status: status, error })), `${status}`)
    }
  })

  it("every api_retry frame of the recorded transcripts (529s) is waited for", () => {
    const frames = fs.readdirSync(fixturesDir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(fixturesDir, entry.name, "stdout.jsonl")))
      .flatMap((entry) => framesOf(entry.name))
      .flatMap((d) => (d.kind === "api_retry" ? [d.frame] : []))
    assert.isAbove(frames.length, 0)
    for (const frame of frames) assert.isUndefined(TurnOutcome.fromApiRetry(frame))
  })
})

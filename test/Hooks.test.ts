/**
 * Hooks, elicitations and dialogs on the FakeSpawner (frames in the real CLI's form): what `initialize`
 * registers, the timeout of a handler on the TestClock and its failure policy, an input that does not decode,
 * an answer out of shape, and the callbacks of `elicitation` and `request_user_dialog` (or their refusal).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as Claude from "../src/Claude.ts"
import type * as Hooks from "../src/Hooks.ts"
import type * as Session from "../src/Session.ts"
import type * as FakeCli from "../src/testing/FakeCli.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import { ClaudeOnFake, pumpClockOnFailure, settleUntil } from "./utils.ts"

const executable = FakeSpawner.executable
const options = { executable, timeouts: { shutdownGrace: 1000 } }

const sessionProcess = Effect.gen(function*() {
  const fake = yield* FakeSpawner.FakeSpawnerState
  const [record] = (yield* fake.processes).filter((p) => p.kind === "session")
  if (record === undefined) throw new Error("no session process")
  return record
})

/** The session's `initialize` request as the fake read it. */
const initializeOf = Effect.map(sessionProcess, (p) => {
  const frame = p.stdin.find((f) => Reflect.get(Object(f), "type") === "control_request")
  return Object(Reflect.get(Object(frame), "request"))
})

/** What the host answered to each control request of the session's turns, in order. */
const answersOf = (result: { readonly frame: unknown }): ReadonlyArray<FakeCli.ControlAnswer> =>
  Reflect.get(Object(result.frame), "fake_control_answers")

const onFake = (controlRequests: ReadonlyArray<FakeSpawner.ControlRequest>) =>
  ClaudeOnFake({ turns: [{ text: "done", toolUse: { name: "Bash", input: { command: "ls" } }, controlRequests }] })

describe("hooks on the fake CLI", () => {
  it.effect("initialize registers each handler as a matcher with its timeout (ours plus one second) and policy", () =>
    Effect.gen(function*() {
      const handle = () => Effect.succeed({ continue: true })
      yield* Claude.session({
        options,
        hooks: {
          PreToolUse: [{ matcher: "Bash", timeout: "5 seconds", onFailure: "block", handle }],
          SessionStart: [{ handle }],
          MessageDisplay: [{ timeout: 1500, handle }]
        }
      })
      const initialize = yield* initializeOf
      assert.deepStrictEqual(initialize.hooks, {
        PreToolUse: [{ matcher: "Bash", hookCallbackIds: ["hook_0"], timeout: 6, onFailure: "block" }],
        SessionStart: [{ hookCallbackIds: ["hook_1"] }],
        MessageDisplay: [{ hookCallbackIds: ["hook_2"], timeout: 3 }]
      })
      assert.isUndefined(initialize.supportedDialogKinds)
    }).pipe(Effect.scoped, Effect.provide(onFake([]))))

  it.effect("a handler past its timeout (TestClock) is answered as failed, recorded, and the turn goes on", () =>
    Effect.gen(function*() {
      let finished = false
      const session = yield* Claude.session({
        options,
        hooks: {
          PreToolUse: [{
            timeout: "2 seconds",
            onFailure: "block",
            handle: () =>
              Effect.sleep("1 minute").pipe(Effect.andThen(Effect.sync(() => (finished = true))), Effect.as({}))
          }]
        }
      })
      const fiber = yield* Effect.forkChild(session.ask("go"))
      yield* settleUntil(
        Effect.map(sessionProcess, (p) => (p.controlRequests.length === 1 ? true : undefined)),
        "the hook callback was sent"
      )
      yield* TestClock.adjust("1999 millis")
      assert.lengthOf((yield* sessionProcess).controlRequests[0]?.answers ?? [], 0, "not answered before its timeout")
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(fiber)
      const [answer] = answersOf(result)
      assert.strictEqual(answer?.response?.subtype, "error")
      assert.include(String(answer?.response?.["error"]), "the PreToolUse handler did not answer within 2s")
      assert.isFalse(finished, "the handler was interrupted")
      const log = yield* session.debugLog
      assert.isTrue(log.lifecycle.some((e) => e.event === "hookFailed" && e.detail?.includes("within 2s") === true))
    }).pipe(pumpClockOnFailure, Effect.scoped, Effect.provide(onFake([{ subtype: "hook_callback" }]))))

  it.effect("an input that does not match its event's Schema never reaches the handler: answered as failed", () =>
    Effect.gen(function*() {
      let called = 0
      const session = yield* Claude.session({
        options,
        hooks: { PreToolUse: [{ handle: () => Effect.sync(() => called++).pipe(Effect.as({ continue: true })) }] }
      })
      const result = yield* session.ask("go")
      const [answer] = answersOf(result)
      assert.strictEqual(called, 0)
      assert.strictEqual(answer?.response?.subtype, "error")
      assert.include(String(answer?.response?.["error"]), "the PreToolUse input does not match its Schema")
      assert.include(String(answer?.response?.["error"]), "tool_use_id")
      const log = yield* session.debugLog
      assert.isTrue(log.lifecycle.some((e) => e.event === "hookFailed"))
    }).pipe(
      Effect.scoped,
      Effect.provide(onFake([{ subtype: "hook_callback", input: { tool_use_id: 42 } }]))
    ))

  it.effect("the handler gets the input typed, extra fields kept, and the tool call; its answer goes back as is", () =>
    Effect.gen(function*() {
      const seen: Array<[Hooks.Input<"PreToolUse">, Hooks.Context]> = []
      const session = yield* Claude.session({
        options,
        hooks: {
          PreToolUse: [{
            handle: (input, context) =>
              Effect.sync(() => {
                seen.push([input, context])
                return {
                  hookSpecificOutput: {
                    hookEventName: "PreToolUse" as const,
                    permissionDecision: "deny" as const,
                    permissionDecisionReason: "not here"
                  }
                }
              })
          }]
        }
      })
      const result = yield* session.ask("go")
      const [[input, context] = []] = seen
      assert.strictEqual(input?.tool_name, "Bash")
      assert.deepStrictEqual(input?.tool_input, { command: "ls" })
      assert.strictEqual(Reflect.get(Object(input), "new_field"), "kept")
      assert.strictEqual(context?.toolUseId, input?.tool_use_id)
      const [answer] = answersOf(result)
      assert.deepStrictEqual(answer?.response?.["response"], {
        hookSpecificOutput: {
          hookEventName: "PreToolUse",
          permissionDecision: "deny",
          permissionDecisionReason: "not here"
        }
      })
    }).pipe(Effect.scoped, Effect.provide(onFake([{ subtype: "hook_callback", input: { new_field: "kept" } }]))))

  it.effect("an answer out of its event's shape, a failure and a defect are each answered as failed", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({
        options,
        hooks: {
          PreToolUse: [
            // A PostToolUse answer to a PreToolUse hook: what the compiler stops, a handler typed loosely can do.
            { handle: () => Effect.succeed(JSON.parse(`{"hookSpecificOutput":{"hookEventName":"PostToolUse"}}`)) },
            { handle: () => Effect.fail("no") },
            { handle: () => Effect.die(new Error("boom")) }
          ]
        }
      })
      const result = yield* session.ask("go")
      const errors = answersOf(result).map((a) => String(a.response?.["error"]))
      assert.lengthOf(errors, 3)
      assert.include(errors[0], "the PreToolUse handler's answer does not match its Schema")
      assert.include(errors[1], "the PreToolUse handler failed")
      assert.include(errors[2], "boom")
    }).pipe(
      Effect.scoped,
      Effect.provide(onFake([
        { subtype: "hook_callback", callback_id: "hook_0" },
        { subtype: "hook_callback", callback_id: "hook_1" },
        { subtype: "hook_callback", callback_id: "hook_2" }
      ]))
    ))
})

const elicitation = {
  subtype: "elicitation",
  mcp_server_name: "asker",
  message: "Your name?",
  mode: "form",
  requested_schema: { type: "object", properties: { name: { type: "string" } } }
}
const dialog = { subtype: "request_user_dialog", dialog_kind: "refusal_fallback_prompt", payload: { text: "retry?" } }

describe("elicitations and user dialogs on the fake CLI", () => {
  it.effect("without callbacks an elicitation is declined and a dialog cancelled, never left waiting", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({ options })
      const result = yield* session.ask("go")
      assert.deepStrictEqual(answersOf(result).map((a) => a.response?.["response"]), [
        { action: "decline" },
        { behavior: "cancelled" }
      ])
    }).pipe(Effect.scoped, Effect.provide(onFake([elicitation, dialog]))))

  it.effect("the callbacks get the requests typed, their answers go back; kinds are declared in initialize", () =>
    Effect.gen(function*() {
      const asked: Array<Session.ElicitationRequest | Session.UserDialogRequest> = []
      const session = yield* Claude.session({
        options,
        onElicitation: (request) =>
          Effect.sync(() => {
            asked.push(request)
            return { action: "accept" as const, content: { name: "Ada" } }
          }),
        onUserDialog: (request) =>
          Effect.sync(() => {
            asked.push(request)
            return { behavior: "completed" as const, result: { choice: "retry" } }
          }),
        supportedDialogKinds: ["refusal_fallback_prompt"]
      })
      assert.deepStrictEqual((yield* initializeOf).supportedDialogKinds, ["refusal_fallback_prompt"])
      const result = yield* session.ask("go")
      assert.deepStrictEqual(answersOf(result).map((a) => a.response?.["response"]), [
        { action: "accept", content: { name: "Ada" } },
        { behavior: "completed", result: { choice: "retry" } }
      ])
      const [asking, showing] = asked
      assert.deepInclude(asking, { serverName: "asker", message: "Your name?", mode: "form" })
      assert.deepInclude(showing, { dialogKind: "refusal_fallback_prompt", payload: { text: "retry?" } })
    }).pipe(Effect.scoped, Effect.provide(onFake([elicitation, dialog]))))

  it.effect("a callback that fails is a refusal too; declaring dialog kinds without onUserDialog is InvalidOptions", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({
        options,
        onElicitation: () => Effect.fail("no"),
        onUserDialog: () => Effect.die("boom")
      })
      const result = yield* session.ask("go")
      assert.deepStrictEqual(answersOf(result).map((a) => a.response?.["response"]), [
        { action: "decline" },
        { behavior: "cancelled" }
      ])
      const error = yield* Effect.flip(Claude.session({ options, supportedDialogKinds: ["x"] }))
      assert.strictEqual(error.reason._tag, "InvalidOptions")
      assert.include(error.message, "supportedDialogKinds needs onUserDialog")
    }).pipe(Effect.scoped, Effect.provide(onFake([elicitation, dialog]))))
})

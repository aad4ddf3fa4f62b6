import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as Claude from "../src/Claude.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import { ClaudeOnFake, pumpClockOnFailure } from "./utils.ts"

// Session deadlines on virtual time: the in-process FakeSpawner sleeps on the Effect Clock, so
// TestClock.adjust moves both the fake CLI and the session's watchdog.
const executable = FakeSpawner.executable
const quick = { shutdownGrace: 1000 } as const


describe("Session timeouts (TestClock)", () => {
  it.effect("F04: the idle clock is paused while a permission callback waits on the host", () =>
    Effect.gen(function*() {
      const session = yield* Claude.session({
        options: { executable, includePartialMessages: true, timeouts: { idle: 5000, ...quick } },
        // The host takes 20 s to decide: longer than the idle timeout, which must not fire meanwhile.
        canUseTool: () => Effect.sleep("20 seconds").pipe(Effect.as({ behavior: "allow" } as const))
      })
      const turn = yield* session.ask("go").pipe(Effect.exit, Effect.forkChild)
      for (let i = 0; i < 30; i++) yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.join(turn)
      assert.isTrue(Exit.isSuccess(exit), `the turn completed: ${String(exit)}`)
    }).pipe(
      Effect.scoped,
      pumpClockOnFailure,
      Effect.provide(ClaudeOnFake({
        turns: [{ text: "done", toolUse: { name: "Bash", input: { command: "ls" } }, controlRequests: [{ subtype: "can_use_tool", tool_name: "Bash", input: { command: "ls" } }] }]
      }))
    ))
})

/**
 * F19: a prompt that starts with `/` runs as a slash command in the CLI; `/model X` survives the pool's
 * verified `/clear`, so the next, unrelated conversation of the key ran on model X.
 *
 * The real CLI (node_modules/.bin/claude) against the FakeApi, which records each request's model:
 * - a prompt the CLI would run as a command (`/model opus`, in any form the CLI parses) is refused before
 *   it reaches the CLI, through `Claude.query` as through a lease; the next query runs on its own model;
 * - `session.command("model", ...)` switches lease A's process (its requests use the new model), and that
 *   process is retired: lease B of the same key gets another process, whose requests use B's model; a
 *   command that only reports (`/cost`) leaves the process to be reused;
 * - `/config permissionMode=plan`, the command of the headless CLI that changes permissions (it writes the
 *   user's `settings.json`, so every CLI started later would run in plan mode, which no retirement undoes),
 *   is refused through `session.command` and as a prompt: the next lease's new process starts in the
 *   default mode, and the settings file is untouched.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../../src/Claude.ts"
import type { ClaudeEvent } from "../../src/ClaudeEvent.ts"
import * as SessionPool from "../../src/SessionPool.ts"
import * as FakeApi from "../../src/testing/FakeApi.ts"
import { withRealPool } from "../utils.ts"

const MODEL = "claude-sonnet-4-5"

/** A pool on the real CLI; its options pin the model, and a cwd inside HOME (a command that writes a
 * project's settings would write them there, nowhere else). */
const withPool = <A, E>(settings: SessionPool.Settings, body: Parameters<typeof withRealPool<A, E>>[2]) =>
  withRealPool(
    (request) => FakeApi.text(`answer to ${FakeApi.lastUserText(request).split("\n").at(-1)}`),
    settings,
    (options, api, home) => body({ ...options, cwd: home, model: MODEL }, api, home).pipe(Effect.timeout("40 seconds"))
  )

const models = (requests: ReadonlyArray<FakeApi.RecordedRequest>) => requests.map((r) => r.messagesRequest?.model)

const reasonOf = (exit: Exit.Exit<unknown, { readonly reason: { readonly _tag: string } }>) =>
  Exit.isFailure(exit)
    ? exit.cause.reasons.flatMap((r) => (r._tag === "Fail" ? [r.error.reason._tag] : []))[0]
    : "success"

const permissionModes = (events: ReadonlyArray<ClaudeEvent>) =>
  events.flatMap((e) => (e._tag === "SessionStarted" ? [e.frame.permissionMode] : []))

describe("F19: a lease never changes what the next lease gets", () => {
  it.live("F19: a prompt starting with /model through Claude.query is refused before it reaches the CLI; the next query of the key runs on its own model", () =>
    withPool({ max: 1, minIdle: 0 }, (options, api) =>
      Effect.gen(function*() {
        const asString = yield* Effect.exit(Stream.runCollect(Claude.query("/model opus", options)))
        // The CLI reads the last block of a message for a command: a text before it does not make it text.
        const asLastBlock = yield* Effect.exit(Stream.runCollect(Claude.query(
          [{ type: "text", text: "hello" }, { type: "text", text: "/model opus" }],
          options
        )))
        assert.deepStrictEqual([reasonOf(asString), reasonOf(asLastBlock)], ["InvalidPrompt", "InvalidPrompt"])
        // Refused before a process was leased: none was started or recycled for them.
        assert.strictEqual((yield* SessionPool.SessionPool.use((pool) => pool.stats)).spawned, 0)
        const next = yield* Stream.runCollect(Claude.query("who answers?", options))
        assert.strictEqual(next.at(-1)?._tag, "Result")
        // Text that starts with a space goes to the model as it is, the space included.
        yield* Stream.runCollect(Claude.query(" /model opus, as text", options))
        const requests = yield* api.conversationRequests
        assert.deepStrictEqual(models(requests), [MODEL, MODEL])
        assert.include(FakeApi.lastUserText(requests[1]!), " /model opus, as text")
        assert.notInclude(JSON.stringify(requests.map((r) => r.body)), "Set model to")
      })))

  it.live("F19: lease A switches its model with session.command; lease B of the same key gets a process whose API requests use B's model", () =>
    withPool({ max: 2, minIdle: 0 }, (options, api) =>
      Effect.gen(function*() {
        const pool = yield* SessionPool.SessionPool
        const a = yield* Effect.scoped(Effect.gen(function*() {
          const session = yield* pool.acquire({ options })
          const switched = yield* session.command("model", "opus")
          assert.include(switched.output, "Set model to")
          yield* session.ask("A after the switch")
          return session.pid
        }))
        const requestsOfA = yield* api.conversationRequests
        assert.strictEqual(requestsOfA.length, 1)
        assert.notStrictEqual(requestsOfA[0]?.messagesRequest?.model, MODEL, "the command switched A's model")

        const b = yield* Effect.scoped(Effect.gen(function*() {
          const session = yield* pool.acquire({ options })
          yield* session.ask("B")
          // A command that only reports: the process stays fit for the next lease.
          const cost = yield* session.command("cost")
          assert.include(cost.output, "Total duration")
          return session.pid
        }))
        assert.notStrictEqual(b, a, "A's process was retired, not reused")
        const c = yield* Effect.scoped(Effect.gen(function*() {
          const session = yield* pool.acquire({ options })
          yield* session.ask("C")
          return session.pid
        }))
        assert.strictEqual(c, b, "a process that only reported was reused")
        const requests = yield* api.conversationRequests
        assert.deepStrictEqual(models(requests.slice(1)), [MODEL, MODEL])
        const stats = yield* pool.stats
        assert.strictEqual(stats.spawned, 2)
        assert.isAtLeast(stats.retired, 1)
      })))

  it.live("F19: /config permissionMode=plan, which changes the permissions of every later CLI, is refused through session.command and as a prompt; the next lease starts in the default mode", () =>
    withPool({ max: 2, minIdle: 0 }, (options, _api, home) =>
      Effect.gen(function*() {
        const pool = yield* SessionPool.SessionPool
        const settingsFile = path.join(home, ".claude", "settings.json")
        const settingsBefore = fs.existsSync(settingsFile) ? fs.readFileSync(settingsFile, "utf8") : undefined
        yield* Effect.scoped(Effect.gen(function*() {
          const session = yield* pool.acquire({ options })
          const asCommand = yield* Effect.exit(session.command("config", "permissionMode=plan"))
          const asPrompt = yield* Effect.exit(session.ask("/config permissionMode=plan"))
          assert.deepStrictEqual([reasonOf(asCommand), reasonOf(asPrompt)], ["CommandRefused", "InvalidPrompt"])
          // While A holds its process, B gets a new one: a CLI started after A's attempts.
          const modes = yield* Effect.scoped(Effect.gen(function*() {
            const other = yield* pool.acquire({ options })
            assert.notStrictEqual(other.pid, session.pid)
            return permissionModes(yield* Stream.runCollect(other.send("B")))
          }))
          assert.deepStrictEqual(modes, ["default"])
        }))
        const settingsAfter = fs.existsSync(settingsFile) ? fs.readFileSync(settingsFile, "utf8") : undefined
        assert.strictEqual(settingsAfter, settingsBefore, "the user's settings were not written")
      })))
})

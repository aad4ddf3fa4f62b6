/**
 * The Agent SDK's controls of a running session, its background tasks and a message added mid-turn, on the
 * real CLI against the FakeApi: each shown by what the CLI does with it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Predicate, Result, Schedule, Schema, type Scope, Stream } from "effect"
import { Tool, Toolkit } from "effect/ai"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import type * as Session from "../src/Session.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import { ClaudeTest, eventually, isAlive, processesWithHome, tempDir } from "./utils.ts"

const Echo = Tool.make("echo", {
  description: "Echoes its text",
  parameters: Schema.Struct({ text: Schema.String }),
  success: Schema.String
})
const Tools = Toolkit.make(Echo)
const ToolsLive = Tools.toLayer({ echo: ({ text }) => Effect.succeed(text) })

const bodyText = (request: FakeApi.RecordedRequest | undefined) => JSON.stringify(request?.body ?? {})

const reasonOf = <A>(result: Result.Result<A, { readonly reason: { readonly _tag: string } }>) =>
  Result.isFailure(result) ? result.failure.reason._tag : "success"

/** Runs `body` on a session of the real CLI in a fresh HOME (its cwd), then checks no CLI is left. */
const onSession = <A>(
  script: FakeApi.Script,
  options: Omit<NonNullable<Session.Config["options"]>, "env" | "cwd">,
  body: (
    session: Session.Session,
    api: FakeApi.FakeApi["Service"],
    home: string
  ) => Effect.Effect<A, unknown, Scope.Scope>
) =>
  Effect.gen(function*() {
    const home = yield* tempDir("controls")
    const api = yield* FakeApi.make({ script })
    const result = yield* Effect.scoped(Effect.gen(function*() {
      const session = yield* Claude.session({
        options: { ...options, cwd: home, env: FakeApi.cliEnvironment(api, home) },
        tools: { local: Tools }
      })
      return yield* body(session, api, home)
    })).pipe(Effect.provide(Layer.merge(ToolsLive, ClaudeTest)))
    yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "10 seconds")
    return result
  }).pipe(Effect.scoped)

describe("a session's controls on the real CLI", () => {
  it.live(
    "mcpServerStatus, toggleMcpServer and reconnectMcpServer: the in-process server, disabled, and a refusal",
    () =>
      onSession([], {}, (session) =>
        Effect.gen(function*() {
          // The CLI connects its MCP servers at the first prompt: before it, it reports none.
          assert.deepStrictEqual(yield* session.mcpServerStatus, [])
          yield* session.ask("hello")
          const before = yield* session.mcpServerStatus
          assert.deepInclude(before.find((server) => server.name === "local"), {
            name: "local",
            status: "connected",
            source: "sdk"
          })
          assert.isTrue(before.find((server) => server.name === "local")?.tools?.some((tool) => tool.name === "echo"))
          yield* session.toggleMcpServer("local", false)
          const after = yield* session.mcpServerStatus
          assert.strictEqual(after.find((server) => server.name === "local")?.status, "disabled")
          const refused = yield* Effect.result(session.reconnectMcpServer("no-such-server"))
          assert.strictEqual(reasonOf(refused), "ControlRefused")
          if (Result.isFailure(refused)) assert.include(refused.failure.message, "Server not found: no-such-server")
          // Bad arguments fail before anything is sent.
          assert.strictEqual(reasonOf(yield* Effect.result(session.toggleMcpServer("", true))), "InvalidOptions")
        })),
    60_000
  )

  it.live(
    "getContextUsage: the window's categories after a turn, for the model that answered",
    () =>
      onSession([FakeApi.text("hello there")], {}, (session) =>
        Effect.gen(function*() {
          yield* session.ask("hello")
          const usage = yield* session.getContextUsage({ detail: "summary" })
          assert.strictEqual(usage.model, "claude-opus-5-5")
          assert.isAbove(usage.maxTokens, 0)
          assert.isTrue(usage.categories.some((category) => category.id === "system_prompt" && category.tokens > 0))
        })),
    60_000
  )

  // A model with a thinking budget (the CLI's default model thinks adaptively, without one).
  it.live(
    "setMaxThinkingTokens: the next request's thinking budget",
    () =>
      onSession(() => FakeApi.text("ok"), { model: "claude-sonnet-4-5" }, (session, api) =>
        Effect.gen(function*() {
          yield* session.setMaxThinkingTokens(4096)
          yield* session.ask("think about it")
          const request = (yield* api.conversationRequests).at(-1)
          const thinking = Predicate.isObject(request?.body) ? request.body["thinking"] : undefined
          assert.deepInclude(thinking, { type: "enabled", budget_tokens: 4096 })
          assert.strictEqual(reasonOf(yield* Effect.result(session.setMaxThinkingTokens(-1))), "InvalidOptions")
        })),
    60_000
  )

  it.live("rewindFiles with enableFileCheckpointing: a file a tool wrote is put back as it was", () =>
    onSession(
      (_request, index) =>
        index === 0
          ? FakeApi.toolUse("Write", { file_path: "notes.txt", content: "changed by the model\n" })
          : FakeApi.text("done"),
      { enableFileCheckpointing: true, allowedTools: ["Write"] },
      (session, _api, home) =>
        Effect.gen(function*() {
          const file = path.join(home, "notes.txt")
          fs.writeFileSync(file, "the original\n")
          yield* session.ask("change the notes")
          assert.strictEqual(fs.readFileSync(file, "utf8"), "changed by the model\n")
          // The user message's uuid, from the CLI's transcript of the conversation.
          const sessionId = Option.getOrThrow(yield* session.sessionId)
          const transcript = yield* eventually(() => findTranscript(home, sessionId), "5 seconds")
          const userMessage = fs.readFileSync(transcript, "utf8").split("\n").flatMap((line) => {
            const entry: unknown = line === "" ? undefined : JSON.parse(line)
            return Predicate.isObject(entry) && entry["type"] === "user" && typeof entry["uuid"] === "string"
              ? [entry["uuid"]]
              : []
          })[0]
          assert.isDefined(userMessage)
          const preview = yield* session.rewindFiles(userMessage ?? "", { dryRun: true })
          assert.isTrue(preview.canRewind)
          assert.isTrue(preview.filesChanged?.some((changed) => changed.endsWith("notes.txt")))
          assert.strictEqual(fs.readFileSync(file, "utf8"), "changed by the model\n")
          const rewound = yield* session.rewindFiles(userMessage ?? "")
          assert.isTrue(rewound.canRewind)
          assert.strictEqual(fs.readFileSync(file, "utf8"), "the original\n")
          // With checkpoints on, a message the CLI has none for is refused.
          const unknown = yield* Effect.result(session.rewindFiles("00000000-0000-4000-8000-000000000000"))
          assert.strictEqual(reasonOf(unknown), "ControlRefused")
          assert.strictEqual(reasonOf(yield* Effect.result(session.rewindFiles("not-a-uuid"))), "InvalidOptions")
        })
    ), 60_000)
})

const findTranscript = (home: string, sessionId: string): string | undefined => {
  const projects = path.join(home, ".claude", "projects")
  if (!fs.existsSync(projects)) return undefined
  for (const project of fs.readdirSync(projects)) {
    const file = path.join(projects, project, `${sessionId}.jsonl`)
    if (fs.existsSync(file)) return file
  }
  return undefined
}

const resultText = (event: ClaudeEvent) => (event._tag === "Result" ? event.text : undefined)

describe("the CLI's own work between turns, on the real CLI", () => {
  it.live(
    "F25: a background task's report and the CLI's own turn reach outOfTurnEvents; the next turn waits for it",
    () =>
      onSession(
        (request, index) => {
          if (index === 0) {
            return FakeApi.toolUse("Bash", {
              command: "sleep 1; echo bg-done",
              description: "in the background",
              run_in_background: true
            })
          }
          if (index === 1) return FakeApi.text("started it")
          // The CLI's own turn, to tell the model the task settled: slow, so the next prompt comes during it.
          if (!bodyText(request).includes("next prompt")) {
            return FakeApi.text("the task finished", { firstByteDelayMs: 1500 })
          }
          return FakeApi.text("answer to the next prompt")
        },
        { allowedTools: ["Bash"] },
        (session, api) =>
          Effect.gen(function*() {
            const outOfTurn = yield* session.outOfTurnEvents.pipe(
              Stream.takeUntil((event) => event._tag === "Result"),
              Stream.runCollect,
              Effect.forkScoped
            )
            const first = yield* session.ask("start it in the background")
            assert.strictEqual(first.text, "started it")
            assert.strictEqual((yield* session.backgroundWork).tasks.length, 1)
            yield* session.backgroundWork.pipe(
              Effect.repeat({ until: (work) => work.ownTurn, schedule: Schedule.spaced("25 millis") }),
              Effect.timeout("30 seconds")
            )
            const next = yield* session.ask("the next prompt")
            assert.strictEqual(next.text, "answer to the next prompt")
            const events = yield* Fiber.join(outOfTurn)
            assert.isAbove(events.length, 1)
            assert.deepStrictEqual(events.map(resultText).filter(Predicate.isNotUndefined), ["the task finished"])
            // The CLI's own turn was over before the next prompt reached the API.
            const requests = yield* api.conversationRequests
            assert.strictEqual(requests.length, 4)
            assert.include(bodyText(requests[3]), "the next prompt")
            assert.deepStrictEqual(yield* session.backgroundWork, { tasks: [], ownTurn: false })
          })
      ),
    90_000
  )

  it.live(
    "F25: a pooled process with a background task left is not lent again: the lease's end stops it",
    () =>
      Effect.gen(function*() {
        const home = yield* tempDir("background-lease")
        const api = yield* FakeApi.make({
          script: (_request, index) =>
            index === 0
              ? FakeApi.toolUse("Bash", { command: "sleep 60", description: "long", run_in_background: true })
              : FakeApi.text("left it running")
        })
        const options = { cwd: home, allowedTools: ["Bash"], env: FakeApi.cliEnvironment(api, home) }
        yield* Effect.gen(function*() {
          const pid = yield* Effect.scoped(Effect.gen(function*() {
            const session = yield* Claude.session({ options })
            yield* session.ask("start a long task")
            assert.strictEqual((yield* session.backgroundWork).tasks.length, 1)
            return session.pid
          }))
          yield* eventually(() => (isAlive(pid) ? undefined : true), "10 seconds")
          const again = yield* Effect.scoped(
            Effect.flatMap(Claude.session({ options }), (session) => Effect.succeed(session.pid))
          )
          assert.notStrictEqual(again, pid)
        }).pipe(Effect.provide(ClaudeTest))
        yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "10 seconds")
      }).pipe(Effect.scoped),
    90_000
  )
})

describe("stopping and backgrounding tasks, on the real CLI", () => {
  it.live("stopTask stops a background task: it reports stopped out of turn, and none is left", () =>
    onSession(
      (_request, index) =>
        index === 0
          ? FakeApi.toolUse("Bash", { command: "sleep 60", description: "long", run_in_background: true })
          : FakeApi.text("it runs"),
      { allowedTools: ["Bash"] },
      (session) =>
        Effect.gen(function*() {
          const stopped = yield* session.outOfTurnEvents.pipe(
            Stream.filter((event) => event._tag === "TaskNotification"),
            Stream.runHead,
            Effect.forkScoped
          )
          yield* session.ask("start it")
          const [task] = (yield* session.backgroundWork).tasks
          assert.isDefined(task)
          yield* session.stopTask(task?.taskId ?? "")
          const notification = yield* Fiber.join(stopped).pipe(Effect.timeout("20 seconds"))
          assert.isTrue(Option.isSome(notification))
          if (Option.isSome(notification) && notification.value._tag === "TaskNotification") {
            assert.strictEqual(notification.value.status, "stopped")
          }
          yield* session.backgroundWork.pipe(
            Effect.repeat({ until: (work) => work.tasks.length === 0, schedule: Schedule.spaced("25 millis") }),
            Effect.timeout("10 seconds")
          )
        })
    ), 60_000)

  it.live(
    "backgroundTasks sends a running Bash command to the background: its tool call returns and the turn ends",
    () =>
      onSession(
        (request, index) =>
          index === 0
            ? FakeApi.toolUse("Bash", { command: "sleep 20; echo slept", description: "slow" })
            : FakeApi.text(`the tool said: ${FakeApi.lastToolResult(request)?.slice(0, 40) ?? "nothing"}`),
        { allowedTools: ["Bash"] },
        (session) =>
          Effect.gen(function*() {
            const asking: Array<Fiber.Fiber<boolean, unknown>> = []
            const result = yield* session.send("run the slow command").pipe(
              Stream.tap((event) => {
                if (event._tag !== "ToolUse") return Effect.void
                // The CLI registers the command as a task some seconds after it started it: until then nothing
                // matches, so it is asked again, beside the turn.
                return Effect.map(
                  Effect.forkScoped(
                    session.backgroundTasks(event.id).pipe(
                      Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("200 millis") })
                    )
                  ),
                  (fiber) => asking.push(fiber)
                )
              }),
              Stream.runLast
            )
            assert.strictEqual(asking.length, 1)
            assert.isTrue(yield* Fiber.join(asking[0]!).pipe(Effect.timeout("10 seconds")))
            // The tool call returned at once, with the command still running.
            const text = Option.isSome(result) && result.value._tag === "Result" ? result.value.text : undefined
            assert.include(text ?? "", "background")
            assert.strictEqual((yield* session.backgroundWork).tasks.length, 1)
            assert.isFalse(yield* session.backgroundTasks("toolu_no_such_call"))
          })
      ),
    60_000
  )
})

describe("a message added to the running turn, on the real CLI", () => {
  it.live("inject while a tool runs: the model gets it with the tool's result, in the same turn", () =>
    onSession(
      (_request, index) =>
        index === 0
          ? FakeApi.toolUse("Bash", { command: "sleep 2; echo slept", description: "wait" })
          : FakeApi.text("done with both"),
      { allowedTools: ["Bash"] },
      (session, api) =>
        Effect.gen(function*() {
          const events = yield* session.send("run the command").pipe(
            Stream.tap((event) => (event._tag === "ToolUse" ? session.inject("and also say hello") : Effect.void)),
            Stream.runCollect
          )
          assert.deepStrictEqual(events.map(resultText).filter(Predicate.isNotUndefined), ["done with both"])
          const requests = yield* api.conversationRequests
          assert.strictEqual(requests.length, 2)
          assert.include(bodyText(requests[1]), "and also say hello")
          // Between turns there is nothing to add to.
          assert.strictEqual(reasonOf(yield* Effect.result(session.inject("late"))), "ProtocolError")
        })
    ), 60_000)

  it.live(
    "inject while the model answers: the CLI answers it next, and the turn ends with that answer",
    () =>
      onSession(
        (request, index) =>
          index === 0
            ? FakeApi.text("the first answer", { firstByteDelayMs: 1500 })
            : FakeApi.text(
              FakeApi.lastUserText(request).includes("one more thing") ? "the second answer" : "the third"
            ),
        {},
        (session, api) =>
          Effect.gen(function*() {
            // The CLI prints an init frame for each prompt it takes up: only the first is the question's.
            let injected = false
            const events = yield* session.send("a question").pipe(
              Stream.tap((event) => {
                if (event._tag !== "SessionStarted" || injected) return Effect.void
                injected = true
                return session.inject("one more thing")
              }),
              Stream.runCollect
            )
            const texts = events.map(resultText).filter(Predicate.isNotUndefined)
            assert.strictEqual(texts.at(-1), "the second answer")
            assert.isTrue(
              (yield* api.conversationRequests).some((request) => bodyText(request).includes("one more thing"))
            )
            // The session is ready for the next turn, which gets its own answer.
            assert.strictEqual((yield* session.ask("again")).text, "the third")
          })
      ),
    60_000
  )
})

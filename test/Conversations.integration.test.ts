/**
 * The CLI's conversations, made by the real CLI against the FakeApi in a temp HOME, then listed, read,
 * forked, renamed, tagged and deleted by `Conversations`; the CLI is asked afterwards, so each test shows that
 * the CLI agrees (it resumes a fork with the earlier turns in its request, it shows the new title to its
 * SessionStart hook, it refuses a deleted conversation).
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option, Predicate, Result, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import type * as ClaudeError from "../src/ClaudeError.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import type * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as Conversations from "../src/Conversations.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import * as Transcript from "../src/Transcript.ts"
import { ClaudeTest, eventually, processesWithHome, tempDir } from "./utils.ts"

interface Turn {
  readonly events: ReadonlyArray<ClaudeEvent>
  readonly request: FakeApi.RecordedRequest | undefined
  readonly failure: ClaudeError.ClaudeError | undefined
}

interface Home {
  readonly home: string
  /** One turn on a CLI of its own, run in `home` (its cwd too, so the project is `home`), gone once it returns. */
  readonly turn: (prompt: string, options?: ClaudeOptions.Input) => Effect.Effect<Turn>
}

/**
 * A HOME with a FakeApi answering `replies` in order (then "ok"), the Conversations service reading it (its
 * config dir from `Config`, as the CLI's environment names it), and no CLI of it left at the end.
 */
const inHome = <A, E>(
  replies: ReadonlyArray<FakeApi.Reply>,
  body: (home: Home) => Effect.Effect<A, E, Conversations.Conversations>
) =>
  Effect.gen(function*() {
    const home = yield* tempDir("conversations")
    const api = yield* FakeApi.make({ script: (_request, index) => replies[index] ?? FakeApi.text("ok") })
    const env = FakeApi.cliEnvironment(api, home)
    const turn = (prompt: string, options?: ClaudeOptions.Input) =>
      Effect.gen(function*() {
        const before = (yield* api.conversationRequests).length
        const outcome = yield* Claude.query(prompt, { cwd: home, ...options, env: { ...env, ...options?.env } }).pipe(
          Stream.runCollect,
          Effect.result,
          Effect.provide(ClaudeTest, { local: true })
        )
        // A CLI that still has a conversation open writes to its transcript when it stops (it even creates it
        // again after a delete): every turn's CLI is gone before the test looks at the files.
        yield* eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "5 seconds").pipe(
          Effect.orDie
        )
        return {
          events: Result.isSuccess(outcome) ? outcome.success : [],
          request: (yield* api.conversationRequests).slice(before)[0],
          failure: Result.isFailure(outcome) ? outcome.failure : undefined
        }
      })
    const conversations = Conversations.layer().pipe(
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))),
      Layer.provide(NodeServices.layer)
    )
    return yield* body({ home, turn }).pipe(Effect.provide(conversations))
  }).pipe(Effect.scoped)

const requestText = (turn: Turn) => JSON.stringify(turn.request?.messagesRequest?.messages ?? [])
const initOf = (turn: Turn) => {
  const started = turn.events.find((event) => event._tag === "SessionStarted")
  return started?._tag === "SessionStarted" ? started : undefined
}

const ada = "5a1e0c2b-7d3f-4e8a-9b61-2c4d6e8f0a1b"
const bob = "6b2f1d3c-8e4a-4f9b-8c72-3d5e7f9a1b2c"

describe("Conversations on the real CLI's transcripts", () => {
  it.live(
    "listSessions and getSessionInfo: the CLI's conversations of a cwd, newest first, with prompt, cwd and times",
    () =>
      inHome(
        [FakeApi.text("Hi Ada"), FakeApi.text("You are Ada"), FakeApi.text("Hi Bob")],
        ({ home, turn }) =>
          Effect.gen(function*() {
            const conversations = yield* Conversations.Conversations
            yield* turn("My name is Ada.", { sessionId: ada })
            yield* turn("What is my name?", { resume: ada })
            yield* turn("I am Bob.", { sessionId: bob })
            const listed = yield* conversations.listSessions({ dir: home })
            const ids = listed.map((info) => info.sessionId)
            assert.include(ids, ada)
            assert.include(ids, bob)
            assert.isBelow(ids.indexOf(bob), ids.indexOf(ada), "newest first")
            const info = listed.find((info) => info.sessionId === ada)
            assert.strictEqual(info?.firstPrompt, "My name is Ada.")
            assert.strictEqual(
              info?.summary,
              "My name is Ada.",
              "no title: the last prompt the CLI recorded (it writes it after a turn, lazily)"
            )
            assert.strictEqual(info?.cwd, fs.realpathSync(home))
            assert.isDefined(info?.gitBranch)
            assert.isAtMost(info?.createdAt ?? Infinity, info?.lastModified ?? 0)
            const file = path.join(home, ".claude", "projects", fs.realpathSync(home).replace(/[^a-zA-Z0-9]/g, "-"))
            assert.strictEqual(info?.fileSize, fs.statSync(path.join(file, `${ada}.jsonl`)).size)
            assert.deepStrictEqual(yield* conversations.getSessionInfo(ada), Option.fromUndefinedOr(info))
            assert.deepStrictEqual(
              yield* conversations.getSessionInfo(ada, { dir: home }),
              Option.fromUndefinedOr(info)
            )
            assert.deepStrictEqual(
              yield* conversations.listSessions({ dir: home, offset: 1, limit: 2 }),
              listed.slice(1, 3)
            )
            assert.deepStrictEqual(
              (yield* conversations.listSessions()).map((info) => info.sessionId).sort(),
              [...ids].sort()
            )
            assert.deepStrictEqual(yield* conversations.listSessions({ dir: path.join(home, "elsewhere") }), [])
            assert.deepStrictEqual(yield* conversations.listSessions({ dir: home, includeProgrammatic: false }), [])
            assert.isTrue(Option.isNone(yield* conversations.getSessionInfo("00000000-0000-4000-8000-000000000000")))
          })
      ),
    90_000
  )

  it.live(
    "a cwd past 200 characters: the CLI names its project directory as projectDirName does, and listSessions finds it",
    () =>
      inHome([], ({ home, turn }) =>
        Effect.gen(function*() {
          const conversations = yield* Conversations.Conversations
          const cwd = path.join(fs.realpathSync(home), "d".repeat(120), "e".repeat(120))
          fs.mkdirSync(cwd, { recursive: true })
          yield* turn("Deep down.", { sessionId: ada, cwd })
          const projects = fs.readdirSync(path.join(home, ".claude", "projects"))
          assert.include(projects, Transcript.projectDirName(cwd))
          assert.isAbove(Transcript.projectDirName(cwd).length, 201)
          const listed = yield* conversations.listSessions({ dir: cwd })
          assert.deepStrictEqual(listed.map((info) => [info.sessionId, info.cwd]).filter(([id]) => id === ada), [[
            ada,
            cwd
          ]])
        })),
    90_000
  )

  it.live(
    "getSessionMessages: the conversation's messages as the events the live stream gave, tool calls included",
    () =>
      inHome([
        FakeApi.text("Hi Ada"),
        FakeApi.toolUse("Bash", { command: "echo from-the-tool" }, { id: "toolu_conversations_1" }),
        FakeApi.text("The tool said from-the-tool")
      ], ({ turn }) =>
        Effect.gen(function*() {
          const conversations = yield* Conversations.Conversations
          const first = yield* turn("My name is Ada.", { sessionId: ada })
          const second = yield* turn("Run echo.", { resume: ada, allowedTools: ["Bash"] })
          const messages = yield* conversations.getSessionMessages(ada)
          const live = [...first.events, ...second.events].filter((event) =>
            event._tag === "AssistantText" || event._tag === "ToolUse" || event._tag === "ToolResult"
          )
          const read = messages.flatMap((message) => message.events).filter((event) =>
            event._tag === "AssistantText" || event._tag === "ToolUse" || event._tag === "ToolResult"
          )
          const view = (event: ClaudeEvent) =>
            event._tag === "AssistantText"
              ? ["text", event.text, event.messageId, event.frame.uuid]
              : event._tag === "ToolUse"
              ? ["tool", event.id, event.name, event.input, event.frame.uuid]
              : event._tag === "ToolResult"
              ? ["result", event.toolUseId, event.frame.uuid]
              : []
          assert.deepStrictEqual(read.map(view), live.map(view))
          assert.deepInclude(read.map(view), ["tool", "toolu_conversations_1", "Bash", {
            command: "echo from-the-tool"
          }, read[1]?.frame.uuid])
          assert.strictEqual(
            messages.map((message) => message.type).join(" "),
            "user assistant user assistant user assistant"
          )
          const prompt = messages[0]
          assert.strictEqual(prompt?.events[0]?._tag, "UserMessage")
          assert.strictEqual(prompt?.parentUuid, null)
          assert.strictEqual(messages[1]?.parentUuid === null, false)
          assert.strictEqual(prompt?.sessionId, ada)
          assert.deepStrictEqual(
            (yield* conversations.getSessionMessages(ada, { offset: 1, limit: 2 })).map((message) => message.uuid),
            messages.slice(1, 3).map((message) => message.uuid)
          )
          const transcript = yield* conversations.readTranscript(ada).pipe(Stream.runCollect)
          assert.isTrue(transcript.some((event) => event._tag === "Unknown" && event.type === "queue-operation"))
          assert.isFalse(
            transcript.some((event) => event._tag === "Unknown" && event.mismatch),
            "every user/assistant entry decodes"
          )
          const missing = yield* Effect.flip(conversations.getSessionMessages(bob))
          assert.strictEqual(missing.reason, "NotFound")
          assert.strictEqual(
            (yield* Effect.flip(conversations.getSessionMessages("not-a-uuid"))).reason,
            "InvalidArgument"
          )
        })),
    90_000
  )

  it.live(
    "forkSession: the CLI resumes the fork, whole or cut at a message, with the source's turns; the source is unchanged",
    () =>
      inHome(
        [FakeApi.text("Hi Ada"), FakeApi.text("Noted, the sky is green")],
        ({ home, turn }) =>
          Effect.gen(function*() {
            const conversations = yield* Conversations.Conversations
            yield* turn("My name is Ada.", { sessionId: ada })
            yield* turn("The sky is green.", { resume: ada })
            const source = path.join(
              home,
              ".claude",
              "projects",
              fs.realpathSync(home).replace(/[^a-zA-Z0-9]/g, "-"),
              `${ada}.jsonl`
            )
            const before = fs.readFileSync(source, "utf8")
            const messages = yield* conversations.getSessionMessages(ada)
            const whole = yield* conversations.forkSession(ada)
            const cut = yield* conversations.forkSession(ada, { upToMessageId: messages[1]?.uuid, title: "Just hello" })
            assert.notStrictEqual(whole.sessionId, ada)
            assert.isTrue(Conversations.isSessionId(whole.sessionId))
            assert.strictEqual(fs.readFileSync(source, "utf8"), before, "the source is not touched")
            const forked = yield* conversations.getSessionMessages(whole.sessionId)
            assert.deepStrictEqual(
              forked.map((m) => JSON.stringify(m.message)),
              messages.map((m) => JSON.stringify(m.message))
            )
            assert.isTrue(
              forked.every((m) => m.sessionId === whole.sessionId && !messages.some((s) => s.uuid === m.uuid))
            )
            const info = yield* conversations.getSessionInfo(whole.sessionId)
            assert.strictEqual(Option.getOrUndefined(info)?.customTitle, "My name is Ada. (fork)")
            assert.strictEqual(
              Option.getOrUndefined(yield* conversations.getSessionInfo(cut.sessionId))?.summary,
              "Just hello"
            )

            const resumedWhole = yield* turn("What did I say?", { resume: whole.sessionId })
            const resumedCut = yield* turn("And now?", { resume: cut.sessionId })
            assert.isUndefined(resumedWhole.failure)
            assert.strictEqual(initOf(resumedWhole)?.sessionId, whole.sessionId)
            assert.include(requestText(resumedWhole), "My name is Ada.")
            assert.include(requestText(resumedWhole), "The sky is green.")
            assert.include(requestText(resumedCut), "My name is Ada.")
            assert.notInclude(requestText(resumedCut), "The sky is green.")
            assert.strictEqual(
              (yield* Effect.flip(conversations.forkSession(ada, { upToMessageId: "no-such-message" }))).reason,
              "MessageNotFound"
            )
            assert.strictEqual((yield* Effect.flip(conversations.forkSession(bob))).reason, "NotFound")
          })
      ),
    90_000
  )

  it.live(
    "renameSession and tagSession: listSessions reads them back, and the CLI shows the title to its SessionStart hook",
    () =>
      inHome([], ({ home, turn }) =>
        Effect.gen(function*() {
          const conversations = yield* Conversations.Conversations
          yield* turn("My name is Ada.", { sessionId: ada })
          yield* conversations.renameSession(ada, "  First title  ")
          yield* conversations.renameSession(ada, "Ada's chat", { dir: home })
          yield* conversations.tagSession(ada, "work")
          const info = Option.getOrUndefined(yield* conversations.getSessionInfo(ada))
          assert.strictEqual(info?.customTitle, "Ada's chat", "the last rename wins")
          assert.strictEqual(info?.summary, "Ada's chat")
          assert.strictEqual(info?.tag, "work")
          yield* conversations.tagSession(ada, null)
          assert.isUndefined(Option.getOrUndefined(yield* conversations.getSessionInfo(ada))?.tag)

          const hookInput = path.join(home, "session-start.json")
          const settings = {
            hooks: {
              SessionStart: [{ hooks: [{ type: "command", command: `cat >> '${hookInput}'; echo >> '${hookInput}'` }] }]
            }
          }
          const resumed = yield* turn("Who am I?", { resume: ada, settings })
          assert.isUndefined(resumed.failure)
          // One line per SessionStart the CLI ran (the resume, and any it starts after it).
          const inputs = fs.readFileSync(hookInput, "utf8").split("\n").filter((line) => line.trim() !== "")
          const seen = inputs.map((line): unknown => JSON.parse(line)).find((input) =>
            Predicate.isObject(input) && input["source"] === "resume"
          )
          assert.deepInclude(seen, { session_id: ada, source: "resume", session_title: "Ada's chat" })

          const refused = (effect: Effect.Effect<void, Conversations.ConversationError>) =>
            Effect.map(Effect.flip(effect), (error) => error.reason)
          assert.strictEqual(yield* refused(conversations.renameSession(ada, "   ")), "InvalidArgument")
          assert.strictEqual(yield* refused(conversations.tagSession(ada, " ")), "InvalidArgument")
          assert.strictEqual(yield* refused(conversations.renameSession(bob, "x")), "NotFound")
          assert.strictEqual(
            yield* refused(conversations.renameSession(ada, "x", { dir: path.join(home, "no") })),
            "NotFound"
          )
        })),
    90_000
  )

  it.live(
    "deleteSession: the conversation is gone from the list, and the CLI cannot resume it",
    () =>
      inHome([], ({ turn }) =>
        Effect.gen(function*() {
          const conversations = yield* Conversations.Conversations
          yield* turn("My name is Ada.", { sessionId: ada })
          yield* turn("I am Bob.", { sessionId: bob })
          yield* conversations.deleteSession(bob)
          const ids = (yield* conversations.listSessions()).map((info) => info.sessionId)
          assert.include(ids, ada)
          assert.notInclude(ids, bob)
          assert.isTrue(Option.isNone(yield* conversations.getSessionInfo(bob)))
          const resumed = yield* turn("Who am I?", { resume: bob })
          assert.strictEqual(resumed.failure?.reason._tag, "ProcessExited")
          assert.include(resumed.failure?.message, `No conversation found with session ID: ${bob}`)
          assert.strictEqual((yield* Effect.flip(conversations.deleteSession(bob))).reason, "NotFound")
          const again = yield* turn("Who am I?", { resume: ada })
          assert.isUndefined(again.failure, "the other one still resumes")
        })),
    90_000
  )
})

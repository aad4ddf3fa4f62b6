/**
 * `npm run example:pool`: three conversations through the warm pool, offline.
 *
 * The real CLI runs against the bundled FakeApi on loopback. The first
 * conversation pays the CLI's start-up; the next ones get a warm process that
 * the pool recycled with a verified `/clear`, so they start in milliseconds
 * and see nothing of the conversations before them.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Stream } from "effect"
import { Claude, type ClaudeOptions, SessionPool } from "effect-claude-code"
import { FakeApi } from "effect-claude-code/testing"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const program = Effect.gen(function*() {
  const home = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-claude-code-pool-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  const api = yield* FakeApi.make({
    script: [FakeApi.text("Paris."), FakeApi.text("Blue."), FakeApi.text("Forty-two.")]
  })
  const options: ClaudeOptions.Input = { env: FakeApi.cliEnvironment(api, home), includePartialMessages: true }
  // The HOME and the FakeApi are acquired before the Claude layer is built, so they outlive its CLIs.
  yield* conversations(options).pipe(
    // minIdle 0: no spare beyond the process that served the first conversation.
    Effect.provide(Claude.layerWith({ pool: { max: 2, minIdle: 0 } }))
  )
  // The FakeApi saw each conversation start from scratch: no earlier question in a later request.
  const requests = yield* api.conversationRequests
  const leaked = requests.slice(1).some((request) => JSON.stringify(request.body).includes("France"))
  yield* Console.log(leaked ? "a conversation leaked into the next one!" : "no conversation saw another's turns")
}).pipe(Effect.scoped)

const conversations = Effect.fn("example.conversations")(function*(options: ClaudeOptions.Input) {
  const pool = yield* SessionPool.SessionPool

  for (const prompt of ["Capital of France?", "Colour of the sky?", "The answer to everything?"]) {
    const started = Date.now()
    let firstEvent = 0
    let text = ""
    yield* Claude.query(prompt, options).pipe(
      Stream.runForEach((event) =>
        Effect.sync(() => {
          if (firstEvent === 0) firstEvent = Date.now() - started
          if (event._tag === "Result") text = event.text ?? ""
        })
      )
    )
    const stats = yield* pool.stats
    yield* Console.log(
      `> ${prompt} ${text}  (first event after ${firstEvent} ms; pool: ${stats.size} process(es), ${stats.spawned} spawned)`
    )
  }
})

NodeRuntime.runMain(program)

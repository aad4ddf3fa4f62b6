/**
 * The measurement of `sessions.concurrent.fake`, run by `concurrent.ts` in a
 * node of its own started with `--expose-gc`, so its heap holds nothing but
 * this benchmark. Prints one JSON line (the last line of stdout).
 *
 * Two phases, each after a warm-up and against its own baseline (heap used
 * after a full GC just before the sessions open):
 * - ours: `n` `Claude.session`s on the FakeSpawner, opened at once, each runs
 *   one turn (`ask`); heap used after a full GC while all are open and done;
 * - baseline: `n` fake CLIs spawned on the same FakeSpawner and driven by the
 *   least a driver can do (initialize + one prompt on a stdin queue, a fiber
 *   reading stdout until the `result` frame), held open the same way. This is
 *   the fake CLI's own share (its fiber, pipes and recorded stdin) plus a
 *   minimal driver's; ours minus it is roughly the library's share.
 */
import { Deferred, Duration, Effect, Layer, Queue, Stream, SubscriptionRef } from "effect"
import type * as Cause from "effect/Cause"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import * as Claude from "../src/Claude.ts"
import * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as FakeSpawner from "../src/testing/FakeSpawner.ts"
import { fakeLayer, MiB, round } from "./support.ts"

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) {
  console.error("run with --expose-gc")
  process.exit(2)
}

const n = Math.max(1, Number(process.env.BENCH_FAKE_SESSIONS ?? 1000))
const PROMPT = "Say hello for the benchmark."
const options: ClaudeOptions.Input = { executable: FakeSpawner.executable, includePartialMessages: true }

/** Full GCs, with a turn of the event loop between them (finalizers, weak refs), then the memory. */
const settledMemory = Effect.promise(async () => {
  for (let i = 0; i < 4; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return process.memoryUsage()
})

type Memory = NodeJS.MemoryUsage

const perSession = (before: Memory, after: Memory) => ({
  heapUsedMiB: round((after.heapUsed - before.heapUsed) / MiB / n, 5),
  externalMiB: round((after.external - before.external) / MiB / n, 5),
  arrayBuffersMiB: round((after.arrayBuffers - before.arrayBuffers) / MiB / n, 5),
  rssMiB: round((after.rss - before.rss) / MiB / n, 5)
})

const mib = (m: Memory) => ({
  heapUsed: round(m.heapUsed / MiB, 2),
  heapTotal: round(m.heapTotal / MiB, 2),
  external: round(m.external / MiB, 2),
  arrayBuffers: round(m.arrayBuffers / MiB, 2),
  rss: round(m.rss / MiB, 2)
})

/** Opens `count` sessions at once, each runs one turn; returns the memory while all are open and done. */
const ours = (count: number) =>
  Effect.gen(function*() {
    const startedAt = performance.now()
    const results = yield* Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      () =>
        Effect.gen(function*() {
          const session = yield* Claude.session({ options })
          const result = yield* session.ask(PROMPT)
          return { session, ok: result.error === undefined }
        }),
      { concurrency: "unbounded" }
    )
    const openMs = performance.now() - startedAt
    const memory = yield* settledMemory
    const states = new Map<string, number>()
    for (const { session } of results) {
      const state = yield* SubscriptionRef.get(session.state)
      states.set(state, (states.get(state) ?? 0) + 1)
    }
    return { memory, openMs, ok: results.filter((r) => r.ok).length, states: Object.fromEntries(states) }
  }).pipe(
    Effect.scoped,
    Effect.timed,
    Effect.map(([total, r]) => ({ ...r, openAndCloseMs: round(Duration.toMillis(total), 1) }))
  )

const encode = (line: string) => new TextEncoder().encode(line + "\n")
const INITIALIZE = JSON.stringify({
  type: "control_request",
  request_id: "initialize",
  request: { subtype: "initialize" }
})
const USER = JSON.stringify({
  type: "user",
  session_id: "",
  message: { role: "user", content: [{ type: "text", text: PROMPT }] },
  parent_tool_use_id: null
})

/** The least a driver does: one fake CLI, initialize and a prompt, a reader fiber until the `result`. */
const rawSession = (spawner: ChildProcessSpawner.ChildProcessSpawner["Service"], args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const input = yield* Queue.unbounded<Uint8Array, Cause.Done>()
    const handle = yield* spawner.spawn(ChildProcess.make(FakeSpawner.executable, args, {
      stdin: Stream.fromQueue(input),
      forceKillAfter: "1 second"
    }))
    const done = yield* Deferred.make<void>()
    yield* handle.stdout.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runForEach((
        line
      ) => (line.includes("\"type\":\"result\"") ? Deferred.succeed(done, undefined) : Effect.void)),
      Effect.ignore,
      Effect.forkScoped
    )
    yield* handle.stderr.pipe(Stream.runDrain, Effect.ignore, Effect.forkScoped)
    yield* Queue.offer(input, encode(INITIALIZE))
    yield* Queue.offer(input, encode(USER))
    yield* Deferred.await(done)
    // stdin EOF on close, so the fake exits by itself
    yield* Effect.addFinalizer(() => Queue.end(input))
  })

const raw = (count: number, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const startedAt = performance.now()
    yield* Effect.forEach(Array.from({ length: count }, (_, i) => i), () => rawSession(spawner, args), {
      concurrency: "unbounded",
      discard: true
    })
    const openMs = performance.now() - startedAt
    const memory = yield* settledMemory
    return { memory, openMs }
  }).pipe(Effect.scoped)

const program = Effect.gen(function*() {
  const args = ClaudeOptions.toArgs(yield* ClaudeOptions.validate(options))
  // Warm-up: code loaded and optimised, the executable's version check cached, Layer built.
  yield* ours(50)
  yield* raw(50, args)
  yield* ours(50)
  yield* raw(50, args)

  const oursBefore = yield* settledMemory
  const oursRun = yield* ours(n)
  const oursAfterClose = yield* settledMemory

  const rawBefore = yield* settledMemory
  const rawRun = yield* raw(n, args)
  const rawAfterClose = yield* settledMemory

  const state = yield* FakeSpawner.FakeSpawnerState
  const live = yield* state.live
  return {
    n,
    args,
    ours: {
      perSession: perSession(oursBefore, oursRun.memory),
      ok: oursRun.ok,
      states: oursRun.states,
      openAndTurnMs: round(oursRun.openMs, 1),
      openTurnAndCloseMs: oursRun.openAndCloseMs,
      memoryMiB: { before: mib(oursBefore), open: mib(oursRun.memory), afterClose: mib(oursAfterClose) },
      retainedAfterCloseMiBPerSession: round((oursAfterClose.heapUsed - oursBefore.heapUsed) / MiB / n, 5)
    },
    baseline: {
      perSession: perSession(rawBefore, rawRun.memory),
      openAndTurnMs: round(rawRun.openMs, 1),
      memoryMiB: { before: mib(rawBefore), open: mib(rawRun.memory), afterClose: mib(rawAfterClose) }
    },
    fakeProcessesSpawned: yield* state.spawned,
    fakeProcessesStillRunning: live
  }
}).pipe(Effect.provide(Layer.fresh(fakeLayer())))

Effect.runPromise(program).then(
  (result) => {
    console.log(JSON.stringify(result))
  },
  (error) => {
    console.error(error)
    process.exit(1)
  }
)

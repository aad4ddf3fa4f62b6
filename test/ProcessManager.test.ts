import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Exit, Fiber, Option, Schedule, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Claude from "../src/Claude.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import * as ClaudeOptions from "../src/ClaudeOptions.ts"
import * as DebugLog from "../src/DebugLog.ts"
import * as ProcessManager from "../src/ProcessManager.ts"
import * as Protocol from "../src/Protocol.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as StreamHandler from "../src/StreamHandler.ts"
import * as FakeCli from "../src/testing/FakeCli.ts"
import { ClaudeTest, eventually, isAlive, quickShutdown, readJson, tempDir } from "./utils.ts"

const spawnFake = (behavior: FakeCli.Behavior, extra?: ClaudeOptions.Input) =>
  Effect.gen(function*() {
    const processes = yield* ProcessManager.ProcessManager
    const options = yield* ClaudeOptions.validate({ ...FakeCli.options(behavior), timeouts: quickShutdown, ...extra })
    return yield* processes.spawn({ options, args: ClaudeOptions.toArgs(options) })
  })

/** A ConfigProvider with `variables` over the host's environment. */
const overHost = (variables: Record<string, string>) =>
  ConfigProvider.orElse(ConfigProvider.fromEnv({ env: variables }), ConfigProvider.fromEnv())

const pidsOf = (pidFile: string, children: number) =>
  eventually(() => {
    const pids = readJson<FakeCli.PidFile>(pidFile)
    return pids !== undefined && pids.children.length === children ? [pids.pid, ...pids.children] : undefined
  })

const assertAllGone = (pids: ReadonlyArray<number>) =>
  eventually(() => (pids.every((pid) => !isAlive(pid)) ? true : undefined), "3 seconds")

describe("ProcessManager", () => {
  it.live("F01: interrupting a turn stops a CLI that ignores SIGTERM, and its grandchildren", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("f01")
      const pidFile = path.join(dir, "pids.json")
      // A pooled turn; the CLI goes silent mid-reply and answers no interrupt either.
      const midTurn = yield* Deferred.make<void>()
      const fiber = yield* SessionPool.SessionPool.use((pool) =>
        Effect.scoped(Effect.gen(function*() {
          const session = yield* pool.acquire({
            options: {
              ...FakeCli.options({ ignoreSigterm: true, spawnChildren: 2, pidFile, hang: "midTurn" }),
              timeouts: quickShutdown
            },
            controlTimeout: "300 millis"
          })
          yield* session.send("work").pipe(
            Stream.runForEach((event) =>
              event._tag === "AssistantText" ? Deferred.succeed(midTurn, undefined) : Effect.void
            )
          )
        }))
      ).pipe(Effect.forkChild)
      const pids = yield* pidsOf(pidFile, 2)
      yield* Deferred.await(midTurn).pipe(Effect.timeout("5 seconds"))
      assert.isTrue(pids.every(isAlive))
      // The turn's consumer goes: the session asks the CLI to interrupt, gets no answer in time, and the
      // pool stops the process before the interruption returns.
      yield* Fiber.interrupt(fiber)
      // The ladder ran inside the interruption: nothing is left by the time it returns.
      assert.deepStrictEqual(pids.filter(isAlive), [])
    }).pipe(Effect.provide(ClaudeTest)))

  it.live("F01: closing the scope of a spawned process stops its whole group", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("f01-scope")
      const pidFile = path.join(dir, "pids.json")
      const pids = yield* Effect.scoped(Effect.gen(function*() {
        yield* spawnFake({ ignoreSigterm: true, spawnChildren: 2, pidFile, hang: "beforeInit" })
        return yield* pidsOf(pidFile, 2)
      }))
      assert.deepStrictEqual(pids.filter(isAlive), [])
    }).pipe(Effect.provide(ClaudeTest)))

  it.live("F02: after a normal turn the CLI's children are gone too", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("f02")
      const pidFile = path.join(dir, "pids.json")
      // The turn runs on a pooled process; closing the layer closes the pool.
      const events = yield* Claude.query("hello", {
        ...FakeCli.options({ spawnChildren: 3, pidFile }),
        timeouts: quickShutdown
      }).pipe(Stream.runCollect, Effect.provide(ClaudeTest))
      assert.strictEqual(events.at(-1)?._tag, "Result")
      const pids = readJson<FakeCli.PidFile>(pidFile)
      assert.strictEqual(pids?.children.length, 3)
      yield* assertAllGone([pids?.pid ?? 0, ...(pids?.children ?? [])])
    }))

  it.live("F07: a CLI that exits while the host writes a 1 MiB prompt: the real error, typed, and the host carries on", () =>
    Effect.gen(function*() {
      const prompt = "x".repeat(1024 * 1024)
      // The fake answers initialize, then dies at the first bytes of the prompt's line: the rest of the
      // host's write goes into a pipe whose reader is gone (EPIPE).
      const exit = yield* Claude.query(prompt, {
        ...FakeCli.options({ exitMidPrompt: { exitCode: 1, stderr: "Invalid API key · Please run /login" } }),
        timeouts: quickShutdown
      }).pipe(Stream.runCollect, Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        // One reason, the CLI's own: no EPIPE, no defect beside it.
        assert.deepStrictEqual(exit.cause.reasons.map((reason) => reason._tag), ["Fail"])
        const reason = exit.cause.reasons[0]
        if (reason?._tag === "Fail") {
          assert.strictEqual(reason.error.reason._tag, "AuthenticationFailed")
          assert.include(reason.error.message, "Invalid API key")
          // The CLI had read only the start of the prompt's line when it went.
          const stderr = Option.getOrUndefined(DebugLog.of(reason.error))?.stderrTail ?? ""
          const read = /after (\d+) bytes of a user line/.exec(stderr)
          assert.isNotNull(read, stderr)
          assert.isBelow(Number(read?.[1]), prompt.length)
        }
      }
      // The host carries on: the next query on the same pool runs to its result.
      const events = yield* Claude.query("again", {
        ...FakeCli.options({ reply: "still here" }),
        timeouts: quickShutdown
      }).pipe(
        Stream.runCollect
      )
      assert.deepStrictEqual(events.flatMap((event) => (event._tag === "AssistantText" ? [event.text] : [])), [
        "still here"
      ])
      assert.strictEqual(events.at(-1)?._tag, "Result")
    }).pipe(Effect.provide(ClaudeTest)))

  it.live("F07: once a write has met a CLI that is gone (EPIPE), writes report false at once, never failing or blocking", () =>
    Effect.gen(function*() {
      const proc = yield* spawnFake({ exitMidPrompt: {} })
      const prompt = Protocol.encodeLine(Protocol.userMessage("x".repeat(1024 * 1024)))
      assert.isTrue(yield* proc.write(prompt), "accepted while the CLI runs")
      assert.deepStrictEqual(yield* proc.exit.pipe(Effect.timeout("5 seconds")), { _tag: "Exited", code: 1 })
      // The writer stops at the broken pipe and closes the input: a write then says false. It may take a
      // moment after the exit to see the EPIPE; the few writes accepted meanwhile stay far below the queue's
      // capacity, so none of them can block.
      const line = Protocol.encodeLine({ type: "keep_alive" })
      const closed = yield* proc.write(line).pipe(
        Effect.repeat({ schedule: Schedule.exponential("10 millis"), until: (accepted) => !accepted, times: 9 })
      )
      assert.isFalse(closed, "stdin never closed after the EPIPE")
      // Past the queue's capacity (64): every write says false at once.
      const later = yield* Effect.forEach(Array.from({ length: 100 }, () => line), proc.write).pipe(
        Effect.timeout("1 second")
      )
      assert.deepStrictEqual(new Set(later), new Set([false]))
    }).pipe(Effect.scoped, Effect.provide(ClaudeTest)))

  it.live("a CLI that exits at start-up, before answering initialize: the query fails with its real error, typed", () =>
    Effect.gen(function*() {
      // Nothing of the prompt is written here (the session never became ready): F07 is the test above.
      const exit = yield* Claude.query("x".repeat(1024 * 1024), {
        ...FakeCli.options({ exitImmediately: { exitCode: 1, stderr: "Invalid API key · Please run /login" } }),
        timeouts: quickShutdown
      }).pipe(Stream.runCollect, Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const reason = exit.cause.reasons[0]
        assert.strictEqual(reason?._tag, "Fail")
        if (reason?._tag === "Fail") assert.strictEqual(reason.error.reason._tag, "AuthenticationFailed")
      }
    }).pipe(Effect.provide(ClaudeTest)))

  it.live("F08: 10 MB of stderr before any stdout: every frame arrives, stderr kept as a bounded tail", () =>
    Effect.gen(function*() {
      const proc = yield* spawnFake({ stderrFloodBytes: 10 * 1024 * 1024, reply: "after the flood" })
      yield* proc.write(Protocol.encodeLine(Protocol.userMessage("hi")))
      const events = yield* proc.stdout.pipe(
        StreamHandler.events(),
        Stream.takeUntil((event) => event._tag === "Result"),
        Stream.runCollect
      )
      const text = events.flatMap((e) => (e._tag === "AssistantText" ? [e.text] : []))
      assert.deepStrictEqual(text, ["after the flood"])
      const tail = yield* proc.stderrTail
      assert.isAtMost(new TextEncoder().encode(tail).length, 64 * 1024)
      assert.isAbove(tail.length, 1000)
    }).pipe(Effect.scoped, Effect.provide(ClaudeTest)))

  it.live("F09: 20 MB then exit, read slowly: every byte arrives, and the writer waits for the reader", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("f09")
      const progressFile = path.join(dir, "progress.json")
      const total = 20 * 1024 * 1024
      const proc = yield* spawnFake({ stdoutFloodBytes: total, progressFile, reply: "the end" })
      yield* proc.write(Protocol.encodeLine(Protocol.userMessage("flood")))
      const pull = yield* proc.stdout.pipe(StreamHandler.events(), Stream.toPull)
      const first = yield* pull
      // The consumer stalls: backpressure must reach the pipe and stop the writer far short of the total.
      yield* Effect.sleep("700 millis")
      const stalled = readJson<FakeCli.Progress>(progressFile)
      assert.isDefined(stalled)
      assert.isBelow(stalled?.bytes ?? total, total / 4, "the CLI is held back by the pipe")
      const seqs: Array<unknown> = []
      let result: Protocol.ResultFrame | undefined
      let n = 0
      for (let batch: ReadonlyArray<ClaudeEvent> = first; batch.length > 0;) {
        for (const event of batch) {
          if (event._tag === "AssistantText" && "fake_flood_seq" in event.frame) seqs.push(event.frame.fake_flood_seq)
          if (event._tag === "Result") result = event.frame
        }
        // A slow reader: a pause every few batches.
        if (++n % 50 === 0) yield* Effect.sleep("1 millis")
        batch = yield* pull.pipe(Effect.catchCause(() => Effect.succeed([])))
      }
      const flood = result === undefined ? undefined : Reflect.get(result, "fake_flood")
      const frames: number = Reflect.get(flood, "frames")
      // Every frame, in order, none twice.
      assert.deepStrictEqual(seqs, Array.from({ length: frames }, (_, i) => seqs[0] === 1 ? i + 1 : i))
      assert.isAbove(frames, 1000)
      assert.deepStrictEqual(yield* proc.exit, { _tag: "Exited", code: 0 })
    }).pipe(Effect.scoped, Effect.provide(ClaudeTest)))

  it.live("F10: a 50 MB line is one diagnostic and the turn completes", () =>
    Effect.gen(function*() {
      const events = yield* Claude.query("big", {
        ...FakeCli.options({ hugeLineBytes: 50 * 1024 * 1024, reply: "still here" }),
        maxLineBytes: 1024 * 1024,
        timeouts: quickShutdown
      }).pipe(Stream.runCollect)
      const oversized = events.filter((e) => e._tag === "Oversized")
      assert.strictEqual(oversized.length, 1)
      assert.isTrue(oversized[0]?._tag === "Oversized" && oversized[0].bytes === 50 * 1024 * 1024)
      const last = events.at(-1)
      assert.isTrue(last?._tag === "Result" && last.text === "still here")
    }).pipe(Effect.provide(ClaudeTest)))

  it.live("F11: garbage, unknown types and UTF-8 split byte by byte: no valid frame dropped, text exact", () =>
    Effect.gen(function*() {
      const events = yield* Claude.query("mess", {
        ...FakeCli.options({ garbage: true, reply: "clean" }),
        timeouts: quickShutdown
      }).pipe(Stream.runCollect)
      assert.isTrue(events.some((e) => e._tag === "Malformed"))
      assert.isTrue(events.some((e) => e._tag === "Unknown" && e.type === "future_frame"))
      const text = events.flatMap((e) => (e._tag === "AssistantText" ? [e.text] : [])).join("")
      assert.strictEqual(text, `clean ${FakeCli.unicodeSample}`)
      assert.strictEqual(events.at(-1)?._tag, "Result")
    }).pipe(Effect.provide(ClaudeTest)))

  it.live("F06: with no callbacks, every control request gets exactly one answer; denials are visible", () =>
    Effect.gen(function*() {
      const events = yield* Claude.query("use a tool", {
        ...FakeCli.options({
          toolUse: { name: "Bash", input: { command: "ls" } },
          controlRequests: [
            { subtype: "can_use_tool", tool_name: "Bash", input: { command: "ls" } },
            { subtype: "hook_callback", callback_id: "hook_0" },
            { subtype: "brand_new_request" }
          ]
        }),
        timeouts: quickShutdown
      }).pipe(Stream.runCollect)
      const last = events.at(-1)
      assert.isTrue(last?._tag === "Result")
      if (last?._tag !== "Result") return
      const answers: ReadonlyArray<FakeCli.ControlAnswer> = Reflect.get(last.frame, "fake_control_answers")
      assert.deepStrictEqual(answers.map((a) => [a.subtype, a.count, a.timed_out]), [
        ["can_use_tool", 1, false],
        ["hook_callback", 1, false],
        ["brand_new_request", 1, false]
      ])
      assert.strictEqual(Reflect.get(answers[0]?.response?.response ?? {}, "behavior"), "deny")
      assert.strictEqual(answers[2]?.response?.subtype, "error")
      assert.isAbove(last.frame.permission_denials?.length ?? 0, 0)
      assert.strictEqual(events.filter((e) => e._tag === "ControlRequest").length, 3)
    }).pipe(Effect.provide(ClaudeTest)))

  const timeoutKindOf = (exit: Exit.Exit<unknown, { readonly reason: { readonly _tag: string } }>) => {
    if (!Exit.isFailure(exit)) return undefined
    const reason = exit.cause.reasons[0]
    return reason?._tag === "Fail" && reason.error.reason._tag === "Timeout"
      ? Reflect.get(reason.error.reason, "kind")
      : undefined
  }

  it.live("F04: a CLI that never becomes ready fails with Timeout(startup) and is stopped", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("f04-startup")
      const pidFile = path.join(dir, "pids.json")
      const exit = yield* Claude.query("hi", {
        ...FakeCli.options({ hang: "beforeInit", pidFile }),
        timeouts: { ...quickShutdown, startup: 400 }
      }).pipe(Stream.runCollect, Effect.exit)
      assert.strictEqual(timeoutKindOf(exit), "startup")
      yield* assertAllGone([readJson<FakeCli.PidFile>(pidFile)?.pid ?? 0])
    }).pipe(Effect.provide(ClaudeTest)))

  it.live("F04: a turn that goes silent fails with Timeout(idle), after the events that did arrive", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const exit = yield* Claude.query("hi", {
        ...FakeCli.options({ hang: "midTurn" }),
        timeouts: { ...quickShutdown, idle: 400 }
      }).pipe(Stream.runForEach((event) => Effect.sync(() => seen.push(event._tag))), Effect.exit)
      assert.strictEqual(timeoutKindOf(exit), "idle")
      assert.include(seen, "SessionStarted")
    }).pipe(Effect.provide(ClaudeTest)))

  it.live("a CLI killed by a signal mid-turn is ProcessCrashed, naming the signal", () =>
    Effect.gen(function*() {
      const exit = yield* Claude.query("hi", {
        ...FakeCli.options({ crash: { when: "midTurn", signal: "SIGKILL" } }),
        timeouts: quickShutdown
      }).pipe(Stream.runCollect, Effect.exit)
      const reason = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
      assert.isTrue(reason?._tag === "Fail" && reason.error.reason._tag === "ProcessCrashed")
      if (reason?._tag === "Fail") assert.strictEqual(Reflect.get(reason.error.reason, "signal"), "SIGKILL")
    }).pipe(Effect.provide(ClaudeTest)))

  describe("executable", () => {
    it.live("an explicit executable that does not exist is CliNotFound, before anything runs", () =>
      Effect.gen(function*() {
        const processes = yield* ProcessManager.ProcessManager
        const exit = yield* processes.resolveExecutable({ executable: "/nonexistent/claude" }).pipe(Effect.exit)
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          const reason = exit.cause.reasons[0]
          assert.isTrue(reason?._tag === "Fail" && reason.error.reason._tag === "CliNotFound")
        }
      }).pipe(Effect.provide(ClaudeTest)))

    it.live("CLAUDE_CODE_EXECUTABLE is used when no option names one", () =>
      Effect.gen(function*() {
        const processes = yield* ProcessManager.ProcessManager
        const executable = yield* processes.resolveExecutable({}).pipe(
          // Over the host's variables: the fake is a node script, whose version check needs the PATH to `node`.
          Effect.provideService(ConfigProvider.ConfigProvider, overHost({ CLAUDE_CODE_EXECUTABLE: FakeCli.path }))
        )
        assert.deepStrictEqual(executable, { path: FakeCli.path, version: FakeCli.version })
      }).pipe(Effect.provide(ClaudeTest)))

    it.live("the executable is looked up on the PATH of the context's ConfigProvider, not on process.env's", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("config-path")
        fs.symlinkSync(FakeCli.path, path.join(dir, "claude"))
        assert.notInclude((process.env.PATH ?? "").split(":"), dir)
        const processes = yield* ProcessManager.ProcessManager
        // The host's environment without CLAUDE_CODE_EXECUTABLE (which `npm run test:latest-cli` sets): only PATH decides.
        const { CLAUDE_CODE_EXECUTABLE: _executable, ...host } = process.env
        const env = Object.fromEntries(Object.entries(host).flatMap(([k, v]) => (v === undefined ? [] : [[k, v]])))
        const executable = yield* processes.resolveExecutable({}).pipe(
          Effect.provideService(
            ConfigProvider.ConfigProvider,
            ConfigProvider.fromEnv({ env: { ...env, PATH: `${dir}:${process.env.PATH ?? ""}` } })
          )
        )
        assert.deepStrictEqual(executable, { path: path.join(dir, "claude"), version: FakeCli.version })
      }).pipe(Effect.provide(ClaudeTest)))

    it.live("without options or CLAUDE_CODE_EXECUTABLE the real CLI is found in node_modules/.bin", () =>
      Effect.gen(function*() {
        const processes = yield* ProcessManager.ProcessManager
        const executable = yield* processes.resolveExecutable({}).pipe(
          Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: {} }))
        )
        assert.strictEqual(executable.version, "2.1.329")
        assert.isTrue(executable.path.endsWith(path.join("bin", "claude")) || executable.path.endsWith("claude"))
      }).pipe(Effect.provide(ClaudeTest)))

    it.live("a CLI older than the supported minimum is CliVersionUnsupported", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("old-cli")
        const old = path.join(dir, "claude")
        fs.writeFileSync(old, "#!/bin/sh\necho '1.0.3 (Claude Code)'\n", { mode: 0o755 })
        const processes = yield* ProcessManager.ProcessManager
        const exit = yield* processes.resolveExecutable({ executable: old }).pipe(Effect.exit)
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          const reason = exit.cause.reasons[0]
          assert.isTrue(reason?._tag === "Fail" && reason.error.reason._tag === "CliVersionUnsupported")
        }
      }).pipe(Effect.provide(ClaudeTest)))

    it("compares versions numerically", () => {
      assert.isTrue(ProcessManager.isAtLeast("2.1.329", "2.1.0"))
      assert.isTrue(ProcessManager.isAtLeast("2.10.0", "2.9.9"))
      assert.isFalse(ProcessManager.isAtLeast("2.0.99", "2.1.0"))
    })
  })

  it.live("the child environment is the allow-list plus the user's additions: other host secrets stay out", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("env")
      const recordEnv = path.join(dir, "env.json")
      process.env.ECC_TEST_HOST_SECRET = "do-not-leak"
      yield* Effect.addFinalizer(() => Effect.sync(() => delete process.env.ECC_TEST_HOST_SECRET))
      yield* Claude.query("env", {
        ...FakeCli.options({ recordEnv }),
        env: { ...FakeCli.environment({ recordEnv }), EXTRA_FOR_CLI: "yes" },
        timeouts: quickShutdown
      }).pipe(Stream.runDrain)
      const env = readJson<Record<string, string>>(recordEnv) ?? {}
      assert.strictEqual(env.EXTRA_FOR_CLI, "yes")
      assert.strictEqual(env.PATH, process.env.PATH)
      assert.isUndefined(env.ECC_TEST_HOST_SECRET)
    }).pipe(Effect.provide(ClaudeTest)))

  it.live("the host's allow-listed variables are read from the context's ConfigProvider, and only those", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("config-env")
      const recordEnv = path.join(dir, "env.json")
      const env = yield* Effect.scoped(Effect.gen(function*() {
        yield* spawnFake({ recordEnv })
        return yield* eventually(() => readJson<Record<string, string>>(recordEnv))
      })).pipe(
        Effect.provideService(
          ConfigProvider.ConfigProvider,
          overHost({ TZ: "Antarctica/Troll", XDG_STATE_HOME: dir, ECC_TEST_CONFIG_SECRET: "do-not-leak" })
        )
      )
      assert.strictEqual(env.TZ, "Antarctica/Troll")
      assert.strictEqual(env.XDG_STATE_HOME, dir)
      assert.isUndefined(env.ECC_TEST_CONFIG_SECRET)
      assert.strictEqual(env.PATH, process.env.PATH)
    }).pipe(Effect.provide(ClaudeTest)))
})

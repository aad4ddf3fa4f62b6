/**
 * F01 and F02 inside one host: whatever ends a CLI (a SIGKILL from outside, as the OOM killer would send;
 * a signal to its group leader; its scope closing; its turn's fiber interrupted) ends every process it
 * started, those in sessions of their own included. Run on the real CLI in the middle of a Bash tool call
 * (`echo start && sleep 600`; the real CLI starts each Bash tool in a session of its own), and on the fake
 * CLI with `setsid` and double-forked grandchildren, under each containment mechanism. Each test has a
 * HOME of its own, so what is left is counted in /proc. The host's own death is in hostDeath.test.ts.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Schedule, Scope, Stream } from "effect"
import * as fs from "node:fs"
import * as Claude from "../src/Claude.ts"
import type { ClaudeEvent } from "../src/ClaudeEvent.ts"
import * as Containment from "../src/internal/containment.ts"
import * as ProcessManager from "../src/ProcessManager.ts"
import * as ResourceLimits from "../src/ResourceLimits.ts"
import * as Session from "../src/Session.ts"
import * as SessionPool from "../src/SessionPool.ts"
import * as FakeApi from "../src/testing/FakeApi.ts"
import * as FakeCli from "../src/testing/FakeCli.ts"
import * as TokenManager from "../src/TokenManager.ts"
import { eventually, hasPidNamespace, isAlive, processesWithHome, quickShutdown, tempDir } from "./utils.ts"

const isLinux = process.platform === "linux"

type Mechanism = "pidNamespace" | "environmentSweep" | "processGroup"

const ClaudeWith = (containment: Mechanism) =>
  Claude.layerNoDeps.pipe(
    Layer.provideMerge(SessionPool.layer({ minIdle: 0 })),
    Layer.provideMerge(ProcessManager.layer({ containment })),
    Layer.provide(TokenManager.layerTest(Option.none())),
    Layer.provideMerge(NodeServices.layer)
  )

const cmdline = (pid: number) => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\u0000").join(" ").trim()
  } catch {
    return ""
  }
}

/** The `sleep 600`s running with this HOME: the tools and grandchildren. */
const sleepers = (home: string) => processesWithHome(home).filter((pid) => cmdline(pid) === "sleep 600")

/** A HOME of its own; whatever still runs with it when the test ends is SIGKILLed (and fails the test). */
const isolatedHome = Effect.gen(function*() {
  const home = yield* tempDir("containment")
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => processesWithHome(home).forEach((pid) => process.kill(pid, "SIGKILL")))
  )
  return home
})

/** The fields of `/proc/<pid>/stat` from `state` on (`[]` once it is gone). */
const statOf = (pid: number): ReadonlyArray<string> => {
  try {
    return ResourceLimits.statFields(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return []
  }
}

const marked = (pid: number) => {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, "latin1").includes(`${Containment.markerVariable}=`)
  } catch {
    return false
  }
}

/** What is left with the test's HOME, for a failure: pid, state ppid pgrp session tty, command, marker. */
const describeLeft = (home: string) =>
  `left: ${
    processesWithHome(home).map((pid) =>
      `${pid} [${statOf(pid).slice(0, 5).join(" ")}] ${cmdline(pid)}${marked(pid) ? " (marked)" : ""}`
    ).join("; ")
  }`

/** Nothing the test started is left: no process runs with its HOME, 3 s after the act at the latest. */
const nothingLeft = (home: string) =>
  eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "3 seconds", () => describeLeft(home))

/**
 * A session replaces a CLI that died mid-turn (`--resume`), and the replacement starts tools of its own: by
 * design, but then "nothing left" would race the replacement's start. Without it, whatever runs with the
 * test's HOME after the CLI's death is a leftover. (One test keeps the default recovery, and follows pids.)
 */
const noRecovery = { maxRestarts: 0 } as const

interface Target {
  readonly name: string
  readonly containment: Mechanism
  readonly runIf: boolean
  /** A session whose turn, once `started` resolves, is in the middle of its tool, and the sleepers to expect. */
  readonly session: (
    home: string,
    restart: Session.Restart
  ) => Effect.Effect<Session.Session, unknown, Claude.Claude | Scope.Scope>
  readonly prompt: string
  readonly midTool: (event: ClaudeEvent) => boolean
  readonly sleepers: number
}

const realCli: Target = {
  name: "the real CLI mid Bash tool",
  containment: "pidNamespace",
  runIf: hasPidNamespace,
  session: (home, restart) =>
    Effect.gen(function*() {
      const api = yield* FakeApi.make({
        script: [FakeApi.toolUse("Bash", { command: "echo start && sleep 600", description: "A long tool" })]
      })
      return yield* Claude.session({
        options: { env: FakeApi.cliEnvironment(api, home), cwd: home, allowedTools: ["Bash"], timeouts: quickShutdown },
        restart
      })
    }),
  prompt: "run the long tool",
  midTool: (event) => event._tag === "ToolUse",
  sleepers: 1
}

const fakeCli = (containment: Mechanism, detachChildren: "setsid" | "doubleFork", runIf: boolean): Target => ({
  name: `the fake CLI with ${detachChildren} grandchildren, by ${containment}`,
  containment,
  runIf,
  session: (home, restart) => {
    const fake = FakeCli.options({ hang: "midTurn", ignoreSigterm: true, spawnChildren: 2, detachChildren })
    // It answers no interrupt either: the session gives up on it after the control deadline and stops it.
    return Claude.session({
      options: { ...fake, env: { ...fake.env, HOME: home }, timeouts: quickShutdown },
      controlTimeout: "300 millis",
      restart
    })
  },
  prompt: "work",
  midTool: (event) => event._tag === "AssistantText",
  sleepers: 2
})

const targets: ReadonlyArray<Target> = [
  realCli,
  fakeCli("pidNamespace", "setsid", hasPidNamespace),
  fakeCli("pidNamespace", "doubleFork", hasPidNamespace),
  fakeCli("environmentSweep", "setsid", isLinux),
  fakeCli("environmentSweep", "doubleFork", isLinux)
]

/** Opens the target's session in `scope`, starts its turn, waits (bounded) until its tools run. */
const midTurn = Effect.fnUntraced(function*(
  target: Target,
  home: string,
  scope: Scope.Scope,
  restart: Session.Restart = noRecovery
) {
  const session = yield* target.session(home, restart).pipe(Scope.provide(scope))
  const started = yield* Deferred.make<void>()
  const turn = yield* session.send(target.prompt).pipe(
    Stream.tap((event) => (target.midTool(event) ? Deferred.succeed(started, undefined) : Effect.void)),
    Stream.runCollect,
    Effect.forkIn(scope)
  )
  yield* Deferred.await(started).pipe(Effect.timeout(Duration.seconds(30)))
  yield* eventually(() => (sleepers(home).length >= target.sleepers ? true : undefined), "10 seconds")
  return { session, turn }
})

describe.runIf(isLinux)("containment", () => {
  for (const target of targets) {
    describe(target.name, () => {
      it.live.runIf(target.runIf)(
        "F02: the CLI SIGKILLed from outside: ProcessCrashed, and its tools are gone",
        () =>
          Effect.gen(function*() {
            const home = yield* isolatedHome
            const scope = yield* Scope.make()
            const { session, turn } = yield* midTurn(target, home, scope)
            process.kill(session.pid, "SIGKILL")
            const exit = yield* Fiber.await(turn).pipe(Effect.timeout(Duration.seconds(10)))
            const reason = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
            assert.isTrue(reason?._tag === "Fail" && reason.error.reason._tag === "ProcessCrashed", String(reason))
            if (reason?._tag === "Fail") assert.strictEqual(Reflect.get(reason.error.reason, "signal"), "SIGKILL")
            // Before the scope closes: the CLI's death alone took them.
            yield* nothingLeft(home)
            yield* Scope.close(scope, Exit.void)
          }).pipe(Effect.scoped, Effect.provide(ClaudeWith(target.containment)))
      )

      it.live.runIf(target.runIf)(
        "F02: the CLI SIGKILLed from outside while its session recovers: the dead CLI's tools are gone, the replacement's end at close",
        () =>
          Effect.gen(function*() {
            const home = yield* isolatedHome
            const scope = yield* Scope.make()
            const { session } = yield* midTurn(target, home, scope, Session.defaultRestart)
            const tools = sleepers(home)
            process.kill(session.pid, "SIGKILL")
            yield* eventually(
              () => (tools.every((pid) => !isAlive(pid)) ? true : undefined),
              "3 seconds",
              () => `the dead CLI's tools ${tools.join(", ")} ended; ${describeLeft(home)}`
            )
            // The session did replace it: what runs now is the replacement's, for the scope's close to end.
            const restarts = yield* session.restarts.pipe(
              Effect.repeat({ until: (n) => n >= 1, schedule: Schedule.spaced("25 millis") }),
              Effect.timeout(Duration.seconds(10))
            )
            assert.strictEqual(restarts, 1)
            yield* Scope.close(scope, Exit.void).pipe(Effect.timeout(Duration.seconds(10)))
            yield* nothingLeft(home)
          }).pipe(Effect.scoped, Effect.provide(ClaudeWith(target.containment)))
      )

      it.live.runIf(target.runIf)(
        "F02: a signal to the group leader ends the CLI, and its tools are gone",
        () =>
          Effect.gen(function*() {
            const home = yield* isolatedHome
            const scope = yield* Scope.make()
            const { session, turn } = yield* midTurn(target, home, scope)
            // The leader of the CLI's group (the CLI, or the unshare that forked it), as a supervisor would.
            const leader = Number(statOf(session.pid)[2])
            assert.isTrue(isAlive(leader))
            process.kill(leader, "SIGKILL")
            yield* Fiber.await(turn).pipe(Effect.timeout(Duration.seconds(10)))
            yield* nothingLeft(home)
            yield* Scope.close(scope, Exit.void)
          }).pipe(Effect.scoped, Effect.provide(ClaudeWith(target.containment)))
      )

      it.live.runIf(target.runIf)(
        "F01: closing the session's scope mid-tool leaves nothing",
        () =>
          Effect.gen(function*() {
            const home = yield* isolatedHome
            const scope = yield* Scope.make()
            const { session } = yield* midTurn(target, home, scope)
            assert.isTrue(isAlive(session.pid))
            yield* Scope.close(scope, Exit.void).pipe(Effect.timeout(Duration.seconds(10)))
            yield* nothingLeft(home)
          }).pipe(Effect.scoped, Effect.provide(ClaudeWith(target.containment)))
      )

      it.live.runIf(target.runIf)(
        "F01: interrupting the turn mid-tool, then closing, leaves nothing",
        () =>
          Effect.gen(function*() {
            const home = yield* isolatedHome
            const scope = yield* Scope.make()
            const { turn } = yield* midTurn(target, home, scope)
            yield* Fiber.interrupt(turn).pipe(Effect.timeout(Duration.seconds(10)))
            yield* Scope.close(scope, Exit.void).pipe(Effect.timeout(Duration.seconds(10)))
            yield* nothingLeft(home)
          }).pipe(Effect.scoped, Effect.provide(ClaudeWith(target.containment)))
      )
    })
  }

  // What containment is for: by the process group alone, the CLI's death leaves its detached tools running.
  it.live("F02 by process group only: grandchildren in sessions of their own outlive the SIGKILLed CLI", () =>
    Effect.gen(function*() {
      const home = yield* isolatedHome
      const scope = yield* Scope.make()
      const target = fakeCli("processGroup", "setsid", true)
      const { session, turn } = yield* midTurn(target, home, scope)
      process.kill(session.pid, "SIGKILL")
      yield* Fiber.await(turn).pipe(Effect.timeout(Duration.seconds(10)))
      yield* Scope.close(scope, Exit.void)
      yield* eventually(() => (isAlive(session.pid) ? undefined : true), "3 seconds")
      assert.strictEqual(sleepers(home).length, 2)
      // (isolatedHome's finalizer kills them)
    }).pipe(Effect.scoped, Effect.provide(ClaudeWith("processGroup"))))
})

/**
 * F01, the host's own death: a host SIGKILLed (no finalizer runs) must not leave its CLIs behind, not even
 * one in the middle of a turn that will not end on stdin EOF, nor the processes they started. The host is a
 * separate Node process (test/support/host.ts) with an idle and a mid-turn session on the fake CLI, each
 * with a grandchild (`sleep 600`) in its process group; each test gives it a HOME of its own, which its
 * CLIs and their grandchildren inherit, so what it leaves behind can be counted in /proc.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Result, Schema, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import * as fs from "node:fs"
import * as path from "node:path"
import { eventually, isAlive, processesWithHome, tempDir } from "./utils.ts"

const root = path.resolve(import.meta.dirname, "..")
const node = path.join(root, "node_modules", ".bin", "node")
const hostScript = path.join(root, "test", "support", "host.ts")

const isLinux = process.platform === "linux"
const hasSetpriv = isLinux &&
  [...(process.env.PATH ?? "").split(":"), "/usr/bin", "/bin"].some((dir) =>
    dir !== "" && fs.existsSync(path.join(dir, "setpriv"))
  )

const HostPids = Schema.Struct({
  host: Schema.Number,
  idle: Schema.Number,
  busy: Schema.Number,
  idleSelf: Schema.Number,
  busySelf: Schema.Number,
  children: Schema.Array(Schema.Number),
  reaper: Schema.Number
})
const decodeHostPids = Schema.decodeUnknownOption(Schema.fromJsonString(HostPids))

/** A HOME of its own; whatever still runs with it when the test ends is SIGKILLed. */
const isolatedHome = Effect.gen(function*() {
  const home = yield* tempDir("host-death")
  yield* Effect.addFinalizer(() =>
    Effect.forEach(
      processesWithHome(home),
      (pid) => Effect.ignore(Effect.try(() => process.kill(pid, "SIGKILL"))),
      { discard: true }
    )
  )
  return home
})

/** Starts the host and waits (bounded) for the pids of its two sessions. */
const startHost = Effect.fnUntraced(function*(home: string, args: ReadonlyArray<string>) {
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  const host = yield* spawner.spawn(
    ChildProcess.make(node, ["--conditions=development", hostScript, home, ...args], {
      cwd: root,
      env: { HOME: home },
      extendEnv: true,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      forceKillAfter: Duration.seconds(1)
    })
  )
  const stderr = yield* host.stderr.pipe(
    Stream.decodeText(),
    Stream.mkString,
    Effect.orElseSucceed(() => ""),
    Effect.forkScoped
  )
  const pids = yield* host.stdout.pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.filterMap((line) => Result.fromOption(decodeHostPids(line), () => line)),
    Stream.runHead,
    Effect.timeout(Duration.seconds(30)),
    Effect.orDie
  )
  if (Option.isNone(pids)) {
    // Its stdout ended: stderr ends with it, or soon after.
    const written = yield* Fiber.join(stderr).pipe(
      Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.succeed("(stderr still open)") })
    )
    return yield* Effect.die(new Error(`the host exited without its pids; stderr:\n${written}`))
  }
  assert.strictEqual(pids.value.host, host.pid)
  return pids.value
})

/** Kills the host, and waits (bounded) until it is gone. */
const killHost = (pid: number) =>
  Effect.sync(() => process.kill(pid, "SIGKILL")).pipe(
    Effect.andThen(eventually(() => (isAlive(pid) ? undefined : true), "2 seconds"))
  )

/** Nothing that came from the host is left: no process runs with its HOME. */
const nothingLeft = (home: string) =>
  eventually(() => (processesWithHome(home).length === 0 ? true : undefined), "3 seconds")

describe.runIf(isLinux)("host death", () => {
  it.live.runIf(hasSetpriv)(
    "F01: a host killed with SIGKILL takes along its CLIs (parent-death signal) and their process groups (reaper)",
    () =>
      Effect.gen(function*() {
        const home = yield* isolatedHome
        const pids = yield* startHost(home, [])
        // setpriv exec'd the CLI: the pid the library reports is the fake's own.
        assert.strictEqual(pids.idle, pids.idleSelf)
        assert.strictEqual(pids.busy, pids.busySelf)
        assert.strictEqual(pids.children.length, 2)
        assert.isAbove(pids.reaper, 0)
        assert.isTrue([pids.host, pids.idle, pids.busy, pids.reaper, ...pids.children].every(isAlive))

        yield* killHost(pids.host)
        // The mid-turn CLI does not outlive the host, nor do the grandchildren; the reaper exits.
        yield* nothingLeft(home)
        yield* eventually(() => (isAlive(pids.reaper) ? undefined : true), "3 seconds")
      }).pipe(Effect.provide(NodeServices.layer))
  )

  it.live("F01 without the parent-death signal (no setpriv, macOS): the reaper alone kills every group", () =>
    Effect.gen(function*() {
      const home = yield* isolatedHome
      const pids = yield* startHost(home, ["--no-pdeathsig"])
      assert.isTrue([pids.host, pids.idle, pids.busy, pids.reaper, ...pids.children].every(isAlive))

      yield* killHost(pids.host)
      yield* nothingLeft(home)
      yield* eventually(() => (isAlive(pids.reaper) ? undefined : true), "3 seconds")
    }).pipe(Effect.provide(NodeServices.layer)))

  it.live.runIf(hasSetpriv)("F01 without the reaper: the parent-death signal takes the CLIs, not their grandchildren", () =>
    Effect.gen(function*() {
      const home = yield* isolatedHome
      const pids = yield* startHost(home, ["--no-reaper"])
      assert.strictEqual(pids.reaper, 0)

      yield* killHost(pids.host)
      yield* eventually(() => (!isAlive(pids.idle) && !isAlive(pids.busy) ? true : undefined), "3 seconds")
      // What the reaper is for: a CLI's tools outlive it.
      assert.deepStrictEqual([...processesWithHome(home)].sort(), [...pids.children].sort())
      // (isolatedHome's finalizer kills them)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.live("F01 with neither: the idle CLI exits on stdin EOF; the mid-turn one and every grandchild live on", () =>
    Effect.gen(function*() {
      const home = yield* isolatedHome
      const pids = yield* startHost(home, ["--no-pdeathsig", "--no-reaper"])
      assert.isTrue([pids.host, pids.idle, pids.busy, ...pids.children].every(isAlive))

      yield* killHost(pids.host)
      yield* eventually(() => (isAlive(pids.idle) ? undefined : true), "3 seconds")
      yield* Effect.sleep(Duration.seconds(1))
      assert.isTrue(isAlive(pids.busy), "the mid-turn CLI outlives its host")
      assert.deepStrictEqual([...processesWithHome(home)].sort(), [pids.busy, ...pids.children].sort())
      // (isolatedHome's finalizer kills them)
    }).pipe(Effect.provide(NodeServices.layer)))
})

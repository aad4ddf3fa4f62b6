/**
 * F01, the host's own death: a host SIGKILLed (no finalizer runs) must not leave its CLIs behind, not even
 * one in the middle of a turn that will not end on stdin EOF, nor the processes they started, however those
 * detached. The host is a separate Node process (test/support/host.ts): on the fake CLI, an idle and a
 * mid-turn session, each with a grandchild (`sleep 600`) in a session of its own (`setsid`, as the real CLI
 * starts its Bash tools) or orphaned by a double fork; on the real CLI, a session in the middle of a Bash tool
 * call (`echo start && sleep 600`). Each test gives the host a HOME of its own, which its CLIs and their
 * descendants inherit, so what it leaves behind can be counted in /proc.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Console, Duration, Effect, Fiber, Option, Result, Schema, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import * as fs from "node:fs"
import * as path from "node:path"
import { eventually, hasPidNamespace, isAlive, processesWithHome, tempDir } from "./utils.ts"

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
const decodeHostStarted = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Struct({ host: Schema.Number })))

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
    ChildProcess.make(node, ["--conditions=effect-claude-code-source", hostScript, home, ...args], {
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
    "F01: a host killed with SIGKILL takes along its CLIs and every process they started, in sessions of their own",
    () =>
      Effect.gen(function*() {
        const home = yield* isolatedHome
        const pids = yield* startHost(home, [])
        // The pid the library reports is the fake's own (in the host's numbering, in a namespace or not).
        assert.strictEqual(pids.idle, pids.idleSelf)
        assert.strictEqual(pids.busy, pids.busySelf)
        assert.strictEqual(pids.children.length, 2)
        assert.isAbove(pids.reaper, 0)
        assert.isTrue([pids.host, pids.idle, pids.busy, pids.reaper, ...pids.children].every(isAlive))

        yield* killHost(pids.host)
        // The mid-turn CLI does not outlive the host, nor do the detached grandchildren; the reaper exits.
        yield* nothingLeft(home)
        yield* eventually(() => (isAlive(pids.reaper) ? undefined : true), "3 seconds")
      }).pipe(Effect.provide(NodeServices.layer))
  )

  it.live.runIf(hasPidNamespace)(
    "F01: in a PID namespace, the parent-death signal alone takes double-forked grandchildren too (no reaper)",
    () =>
      Effect.gen(function*() {
        const home = yield* isolatedHome
        const pids = yield* startHost(home, ["--containment=pidNamespace", "--no-reaper", "--detach=doubleFork"])
        assert.strictEqual(pids.children.length, 2)
        yield* killHost(pids.host)
        yield* nothingLeft(home)
      }).pipe(Effect.provide(NodeServices.layer))
  )

  it.live(
    "F01: with the environment sweep (no PID namespace), the reaper alone takes CLIs and detached grandchildren",
    () =>
      Effect.gen(function*() {
        const home = yield* isolatedHome
        const pids = yield* startHost(home, ["--containment=environmentSweep", "--no-pdeathsig", "--detach=doubleFork"])
        assert.isTrue([pids.host, pids.idle, pids.busy, pids.reaper, ...pids.children].every(isAlive))
        yield* killHost(pids.host)
        yield* nothingLeft(home)
        yield* eventually(() => (isAlive(pids.reaper) ? undefined : true), "3 seconds")
      }).pipe(Effect.provide(NodeServices.layer))
  )

  it.live.runIf(hasSetpriv)(
    "F01: the real CLI's Bash tool, mid-run when the host is SIGKILLed, is gone with it",
    () =>
      Effect.gen(function*() {
        const home = yield* isolatedHome
        const pids = yield* startHost(home, ["--real"])
        assert.isAbove(pids.children.length, 0, "the tool's sleep runs")
        yield* killHost(pids.host)
        yield* nothingLeft(home)
      }).pipe(Effect.provide(NodeServices.layer))
  )

  // What containment is for: with the process group alone, the reaper and the parent-death signal take the
  // CLIs and leave the tools that left the group. (This is the failure the tests above would show.)
  it.live.runIf(hasSetpriv)(
    "F01 by process group only: grandchildren in sessions of their own outlive the host",
    () =>
      Effect.gen(function*() {
        const home = yield* isolatedHome
        const pids = yield* startHost(home, ["--containment=processGroup"])
        yield* killHost(pids.host)
        yield* eventually(() => (!isAlive(pids.idle) && !isAlive(pids.busy) ? true : undefined), "3 seconds")
        assert.deepStrictEqual([...processesWithHome(home)].sort(), [...pids.children].sort())
        // (isolatedHome's finalizer kills them)
      }).pipe(Effect.provide(NodeServices.layer))
  )

  it.live("F01 with neither the parent-death signal nor the reaper: the mid-turn CLI outlives its host", () =>
    Effect.gen(function*() {
      const home = yield* isolatedHome
      const pids = yield* startHost(home, ["--no-pdeathsig", "--no-reaper"])
      assert.isTrue([pids.host, pids.idle, pids.busy, ...pids.children].every(isAlive))
      yield* killHost(pids.host)
      // The idle one ends on stdin EOF (taking its grandchild, whatever the mechanism); the mid-turn one,
      // which ignores it, lives on with its grandchild: each mechanism acts when the CLI ends.
      yield* eventually(() => (isAlive(pids.idle) ? undefined : true), "3 seconds")
      yield* eventually(() => (pids.children.filter(isAlive).length === 1 ? true : undefined), "3 seconds")
      assert.isTrue(isAlive(pids.busy), "the mid-turn CLI outlives its host")
      // (isolatedHome's finalizer kills them)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.live.runIf(hasSetpriv)(
    "F01 chaos: a host SIGKILLed at random moments of its life leaves nothing, 20 rounds",
    () =>
      Effect.gen(function*() {
        const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
        const rounds = 20
        const started = Date.now()
        const report: Array<string> = []
        for (let round = 0; round < rounds; round++) {
          const home = yield* isolatedHome
          // Killed from 0 to 1.5 s after it began: before, during and after its spawns and turns.
          const delayMs = Math.floor(Math.random() * 1500)
          const host = yield* spawner.spawn(
            ChildProcess.make(node, ["--conditions=effect-claude-code-source", hostScript, home, "--early"], {
              cwd: root,
              env: { HOME: home },
              extendEnv: true,
              stdin: "ignore",
              stdout: "pipe",
              stderr: "ignore",
              forceKillAfter: Duration.seconds(1)
            })
          )
          // Counted from the moment the host's runtime is up.
          yield* host.stdout.pipe(
            Stream.decodeText(),
            Stream.splitLines,
            Stream.filter((line) => Option.isSome(decodeHostStarted(line))),
            Stream.runHead,
            Effect.timeout(Duration.seconds(30)),
            Effect.orDie
          )
          yield* Effect.sleep(Duration.millis(delayMs))
          const before = processesWithHome(home).length
          yield* killHost(host.pid)
          const left = yield* Effect.result(nothingLeft(home))
          report.push(
            `${delayMs} ms: ${before} running, ${left._tag === "Success" ? 0 : processesWithHome(home).length} left`
          )
          assert.isTrue(
            left._tag === "Success",
            `round ${round}, killed ${delayMs} ms in: ${processesWithHome(home).length} left`
          )
          assert.isBelow(Date.now() - started, 150_000, "the chaos rounds are bounded")
        }
        yield* Console.log(`F01 chaos, ${rounds} rounds: ${report.join("; ")}`)
      }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)),
    180_000
  )
})

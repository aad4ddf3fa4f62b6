/**
 * Kills the process groups of a host that died without closing its scopes.
 *
 * A host killed with SIGKILL (or by the OOM killer) runs no finalizer, so the
 * CLIs it started, and the tools and MCP servers they started, would live on.
 * The parent-death signal (`ProcessManager`, Linux with `setpriv`) takes the
 * CLI itself, not its children. The reaper takes the whole group, on any
 * platform with process groups:
 *
 * - a small Node process (`process.execPath -e <script>`, no shell, no file),
 *   started on the first `watch`, in a process group of its own (so a signal
 *   to the host's group does not reach it), with nothing but a pipe from the
 *   host on its stdin;
 * - `watch(pgid)` tells it about a group, `unwatch(pgid)` that the group is
 *   gone (the `ProcessManager` does both around each CLI's life);
 * - when its stdin ends, it SIGKILLs every group it still watches, then every
 *   process carrying one of their environment-sweep markers (the
 *   `ProcessManager`'s fallback where PID namespaces are refused: tools that
 *   left the group), and exits.
 *   A host that closes its scopes has unwatched every group by then, so the
 *   reaper just exits; a host that died closed the pipe with its last breath,
 *   so the reaper kills what is left.
 *
 * It costs one process per host (about 45 MB of memory, started once). Where
 * it cannot start, CLIs run without it, and a warning says so once.
 *
 * @since 0.1.0
 */
import type { Cause } from "effect"
import { Context, Duration, Effect, Layer, Option, Queue, Scope, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { markerVariable } from "./internal/containment.ts"

/**
 * Watches process groups on behalf of the host, and SIGKILLs those still watched should the host die.
 *
 * @since 0.1.0
 * @category services
 */
export class ProcessReaper extends Context.Service<ProcessReaper, {
  /**
   * From now on, should the host die, the process group `pgid` is SIGKILLed, and with a `marker` (the
   * `ProcessManager`'s environment sweep) so is every process whose environment carries it.
   */
  readonly watch: (pgid: number, marker?: string | undefined) => Effect.Effect<void>
  /** The group is gone (or no longer ours): forget it. */
  readonly unwatch: (pgid: number) => Effect.Effect<void>
  /** The reaper's own pid, once it runs. */
  readonly pid: Effect.Effect<Option.Option<number>>
}>()("effect-claude-code/ProcessReaper") {}

// Reads `+<pgid>[ <marker>]` / `-<pgid>` lines; at the end of its input, SIGKILLs every group it still holds,
// then, round after round, every process whose environment carries a marker of those groups.
const script = String.raw`
const fs = require("node:fs")
const groups = new Map()
const NUL = String.fromCharCode(0)
let pending = ""
const marked = (needles) => {
  let entries = []
  try { entries = fs.readdirSync("/proc") } catch {}
  return entries.filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid).filter((e) => {
    try {
      const environ = NUL + fs.readFileSync("/proc/" + e + "/environ", "latin1") + NUL
      return needles.some((n) => environ.includes(n))
    } catch { return false }
  }).map(Number)
}
const reap = () => {
  for (const pgid of groups.keys()) {
    try { process.kill(-pgid, "SIGKILL") } catch {}
  }
  const needles = [...groups.values()].filter((m) => m !== "").map((m) => NUL + "${markerVariable}=" + m + NUL)
  for (let round = 0; round < 5 && needles.length > 0; round++) {
    const found = marked(needles)
    if (found.length === 0) break
    for (const pid of found) {
      try { process.kill(pid, "SIGKILL") } catch {}
    }
  }
  process.exit(0)
}
process.stdin.setEncoding("utf8")
process.stdin.on("data", (data) => {
  const lines = (pending + data).split("\n")
  pending = lines.pop()
  for (const line of lines) {
    const [group, marker = ""] = line.slice(1).split(" ")
    const pgid = Number(group)
    if (!Number.isInteger(pgid) || pgid <= 1) continue
    if (line[0] === "+") groups.set(pgid, marker)
    else if (line[0] === "-") groups.delete(pgid)
  }
})
process.stdin.on("end", reap)
process.stdin.on("error", reap)
`

/** What `watch` and `unwatch` write to, once the reaper runs. */
interface Running {
  readonly pid: number
  readonly send: (line: string) => Effect.Effect<void>
}

/**
 * The reaper on a `ChildProcessSpawner`; its process lives as long as the layer's scope. Closing the scope
 * ends its input: it exits, killing whatever is still watched.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  const scope = yield* Effect.scope
  const encoder = new TextEncoder()
  let started = Option.none<Running>()

  const start = Effect.gen(function*() {
    const handle = yield* spawner.spawn(
      ChildProcess.make(process.execPath, ["-e", script], {
        // Nothing of the host's: not its environment (its secrets), not its stdout (a reaper holding it would
        // keep whoever reads the host's output waiting).
        env: {},
        extendEnv: false,
        stdin: "pipe",
        stdout: "ignore",
        stderr: "ignore",
        detached: process.platform !== "win32",
        forceKillAfter: Duration.seconds(1)
      })
    )
    const input = yield* Queue.unbounded<Uint8Array, Cause.Done>()
    yield* Stream.fromQueue(input).pipe(Stream.run(handle.stdin), Effect.ignore, Effect.forkScoped)
    let closing = false
    // A reaper gone while the host lives (killed by someone, out of memory) leaves the host's groups unwatched.
    yield* handle.exitCode.pipe(
      Effect.flatMap((code) =>
        closing ? Effect.void : Effect.logWarning(`the process reaper exited (${code}): CLIs run without it`)
      ),
      Effect.ignore,
      Effect.forkScoped
    )
    // Runs before the spawner's own kill: the end of its input, so it exits by itself (bounded).
    yield* Effect.addFinalizer(() => {
      closing = true
      return Queue.end(input).pipe(
        Effect.andThen(Effect.timeoutOption(handle.exitCode, Duration.seconds(2))),
        Effect.ignore
      )
    })
    const running: Running = {
      pid: handle.pid,
      send: (line) => Effect.asVoid(Queue.offer(input, encoder.encode(line)))
    }
    started = Option.some(running)
    return running
  }).pipe(
    Scope.provide(scope),
    Effect.tapError((error) =>
      Effect.logWarning(`the process reaper could not start (${error.message}): CLIs run without it`)
    ),
    Effect.option
  )
  // Started once, on the first watch; a reaper that could not start is not tried again.
  const reaper = yield* Effect.cached(start)

  return ProcessReaper.of({
    watch: (pgid, marker) =>
      Effect.flatMap(
        reaper,
        Option.match({
          onNone: () => Effect.void,
          onSome: (r) => r.send(`+${pgid}${marker === undefined ? "" : ` ${marker}`}\n`)
        })
      ),
    // Never starts it: there is nothing to forget before the first watch.
    unwatch: (pgid) =>
      Effect.suspend(() => Option.match(started, { onNone: () => Effect.void, onSome: (r) => r.send(`-${pgid}\n`) })),
    pid: Effect.sync(() => Option.map(started, (r) => r.pid))
  })
})

/**
 * The reaper on the context's `ChildProcessSpawner`: its process starts with the first `watch` and lives as
 * long as the layer. A function, as the other layers are; it has no settings.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (): Layer.Layer<ProcessReaper, never, ChildProcessSpawner.ChildProcessSpawner> =>
  Layer.effect(ProcessReaper, make)

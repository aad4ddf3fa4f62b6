/**
 * An in-process fake of the Claude Code CLI, as a `ChildProcessSpawner` Layer.
 *
 * Every spawn becomes a fiber that speaks the stream-json session protocol like the real CLI 2.1.329 (and
 * like the out-of-process `fake-cli.mjs`): it answers `initialize`, runs one scripted {@link Turn} per user
 * message, serves the control protocol in both directions, and exits on stdin EOF. Nothing touches the OS,
 * and **every delay is an `Effect.sleep` on the Effect `Clock`**, so a test under `it.effect` drives
 * startup delays, slow frames, hangs, timeouts and kill escalation with `TestClock.adjust`.
 *
 * ```ts
 * const TestLayer = Claude.layerNoDeps.pipe(
 *   Layer.provideMerge(ProcessManager.layer()),
 *   Layer.provide(TokenManager.layerTest(Option.none())),
 *   Layer.provideMerge(FakeSpawner.layer({ turns: [{ text: "hi", delay: "2 seconds" }] })),
 *   Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
 * )
 * // Claude.query("hello", { executable: FakeSpawner.executable }) ...
 * ```
 *
 * The spawner ignores the executable path, but the library's `ProcessManager` checks that the path is an
 * executable file before it spawns: pass {@link executable} (a real file that is never run).
 *
 * The {@link FakeSpawnerState} service of the same Layer records what happened: processes spawned and
 * still running, every stdin line, every control request the fake sent and each answer it got, every
 * signal delivered. {@link FakeSpawnerState} `waitUntil` suspends until a condition holds, which is how a
 * test waits for the fake to reach a point (hung, a request answered, ...) before it moves the clock.
 *
 * Signals: `kill` (and closing the spawn's scope while the fake runs) delivers `killSignal` (default
 * `SIGTERM`); the fake dies by it unless {@link Script} `sigterm` says otherwise, and `exitCode` fails
 * exactly as the Node spawner's does: a `PlatformError` (`Unknown`) whose message is
 * `Unknown: ChildProcess.exitCode (<command line>)` and whose `cause` is an `Error` with the message
 * `Process interrupted due to receipt of signal: 'SIGTERM'`. `forceKillAfter` escalates to
 * `SIGKILL` after that long on the Clock. Without `forceKillAfter`, `kill` waits for the exit with no
 * limit, as the real spawner does: a fake with `sigterm: "ignore"` then never exits.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer, type PlatformError, type Scope } from "effect"
import type { ChildProcess } from "effect/process"
import { ChildProcessSpawner } from "effect/process"
import * as FakeCli from "./FakeCli.ts"
import type { ControlAnswer, ProcessRecord, SignalRecord } from "./internal/fakeSpawner/processTable.ts"
import { Registry } from "./internal/fakeSpawner/processTable.ts"
import type { Script } from "./internal/fakeSpawner/script.ts"
import { makeSpawn } from "./internal/fakeSpawner/spawn.ts"

export type {
  ControlAnswer,
  ControlRequestRecord,
  ExitStatus,
  ProcessRecord,
  SignalRecord
} from "./internal/fakeSpawner/processTable.ts"
export type {
  ApiErrorResult,
  ApiRetry,
  ControlRequest,
  Crash,
  JsonObject,
  Script,
  ToolUse,
  Turn
} from "./internal/fakeSpawner/script.ts"

/**
 * The version the fake reports by default, the real CLI's it imitates.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultVersion: string = FakeCli.version

/**
 * An executable file to pass as the `executable` option: the library checks the path is an executable
 * file before it spawns, and the fake spawner ignores the path. (It is `fake-cli.mjs`, never run here.)
 *
 * @since 0.1.0
 * @category constants
 */
export const executable: string = FakeCli.path

/**
 * What the fake processes of a {@link layer} did. Every accessor returns a snapshot.
 *
 * @since 0.1.0
 * @category services
 */
export class FakeSpawnerState extends Context.Service<FakeSpawnerState, {
  readonly processes: Effect.Effect<ReadonlyArray<ProcessRecord>>
  /** Processes spawned so far, `--version` runs included. */
  readonly spawned: Effect.Effect<number>
  /** Processes still running. */
  readonly live: Effect.Effect<number>
  readonly controlAnswers: Effect.Effect<ReadonlyArray<ControlAnswer>>
  readonly signals: Effect.Effect<ReadonlyArray<SignalRecord>>
  /**
   * Suspends until `predicate` holds for the processes (checked now and after every change), then returns
   * them. It does not use the Clock: use it to wait for a fake to reach a point before adjusting the
   * `TestClock`. It waits {@link WaitOptions} `within` of real time at most (10 s by default), then dies
   * naming what it waited for and the processes as they are.
   */
  readonly waitUntil: (
    predicate: (processes: ReadonlyArray<ProcessRecord>) => boolean,
    options?: WaitOptions
  ) => Effect.Effect<ReadonlyArray<ProcessRecord>>
}>()("effect-claude-code/testing/FakeSpawner/FakeSpawnerState") {}

/**
 * How long {@link FakeSpawnerState} `waitUntil` waits, and what its failure says.
 *
 * @since 0.1.0
 * @category models
 */
export interface WaitOptions {
  /**
   * Real time, not the Clock (a `TestClock` moves only when the test moves it, and the test is waiting).
   * Default 10 seconds.
   */
  readonly within?: Duration.Input | undefined
  /** What is awaited, for the failure. Default: the predicate's source text. */
  readonly what?: string | undefined
}

/**
 * Builds the fake spawner and its state.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (script: Script = {}): {
  readonly spawner: ChildProcessSpawner.ChildProcessSpawner["Service"]
  readonly state: FakeSpawnerState["Service"]
} => {
  const registry = new Registry()
  const spawn: (
    command: ChildProcess.Command
  ) => Effect.Effect<ChildProcessSpawner.ChildProcessHandle, PlatformError.PlatformError, Scope.Scope> = makeSpawn(
    registry,
    script
  )
  const snapshot = Effect.sync(() => registry.snapshot())
  return {
    spawner: ChildProcessSpawner.make(spawn),
    state: FakeSpawnerState.of({
      processes: snapshot,
      spawned: Effect.sync(() => registry.records.length),
      live: Effect.sync(() => registry.records.filter((record) => record.exit === undefined).length),
      controlAnswers: Effect.map(snapshot, (processes) => processes.flatMap((p) => p.controlAnswers)),
      signals: Effect.map(
        snapshot,
        (processes) => processes.flatMap((p) => p.signals.map((signal) => ({ pid: p.pid, signal })))
      ),
      waitUntil: (predicate, options) =>
        registry.waitUntil(predicate, options?.within ?? Duration.seconds(10), options?.what ?? predicate.toString())
    })
  }
}

/**
 * A `ChildProcessSpawner` whose every process is a scripted, in-process fake of the Claude Code CLI, plus
 * the {@link FakeSpawnerState} that records what they did. Each build has fresh state.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  script: Script = {}
): Layer.Layer<ChildProcessSpawner.ChildProcessSpawner | FakeSpawnerState> =>
  Layer.syncContext(() => {
    const { spawner, state } = make(script)
    return Context.make(ChildProcessSpawner.ChildProcessSpawner, spawner).pipe(Context.add(FakeSpawnerState, state))
  })

/**
 * Waits until no fake process of the Layer is running (`--version` runs included), and returns the
 * processes. Does not use the Clock; bounded like {@link FakeSpawnerState} `waitUntil` (10 s of real time).
 *
 * @since 0.1.0
 * @category accessors
 */
export const awaitNoneRunning: Effect.Effect<ReadonlyArray<ProcessRecord>, never, FakeSpawnerState> = FakeSpawnerState
  .use((state) =>
    state.waitUntil((processes) => processes.every((p) => !p.running), { what: "no fake process running" })
  )

/**
 * A session's supervisor: launches its CLI processes (spawn, reader, `initialize`), declares them ready,
 * learns of their deaths (stdout ended) and replaces one that died in use, within the restart intensity:
 * at most `maxRestarts` replacements in any `window` of Clock time, then the session is Failed.
 *
 * Decisions about a process's life and death are transitions of the state's owner: a process that dies
 * while it is declared ready is either seen dead by the launcher, or ready by its reader.
 */
import { Clock, Duration, Effect, Exit, FiberSet, Option, Schema, Scope, Stream } from "effect"
import * as Cause from "effect/Cause"
import * as ClaudeError from "../../ClaudeError.ts"
import * as ClaudeOptions from "../../ClaudeOptions.ts"
import type * as ProcessManager from "../../ProcessManager.ts"
import * as Protocol from "../../Protocol.ts"
import * as StreamHandler from "../../StreamHandler.ts"
import * as TurnOutcome from "../../TurnOutcome.ts"
import type { Background } from "./background.ts"
import type { ControlChannel } from "./control.ts"
import { type Conversation, restoredCost } from "./conversation.ts"
import type { Generation, Processes } from "./processes.ts"
import * as State from "./state.ts"
import type { Telemetry } from "./telemetry.ts"
import type { Turns } from "./turn.ts"

const isInitializeResponse = Schema.is(Protocol.InitializeResponse)

/** How many replacements within which window (milliseconds). */
export interface RestartPolicy {
  readonly maxRestarts: number
  readonly windowMs: number
}

/** The restart policy of the config (the public `Session.Restart`), or `InvalidOptions`. */
export const restartPolicy = (
  restart: { readonly maxRestarts?: number | undefined; readonly window?: Duration.Input | undefined } | undefined,
  defaults: { readonly maxRestarts: number; readonly window: Duration.Duration }
): Effect.Effect<RestartPolicy, ClaudeError.ClaudeError> => {
  const maxRestarts = restart?.maxRestarts ?? defaults.maxRestarts
  const window = restart?.window === undefined ? Option.some(defaults.window) : Duration.fromInput(restart.window)
  const windowMs = Option.match(window, {
    onNone: () => Number.NaN,
    onSome: (duration) => (Duration.isFinite(duration) ? Duration.toMillis(duration) : Number.NaN)
  })
  const issues = [
    ...(Number.isInteger(maxRestarts) && maxRestarts >= 0
      ? []
      : ["restart.maxRestarts must be a non-negative integer"]),
    ...(windowMs > 0 ? [] : ["restart.window must be a positive, finite duration"])
  ]
  return issues.length === 0
    ? Effect.succeed({ maxRestarts, windowMs })
    : ClaudeError.fail(new ClaudeError.InvalidOptions({ issues: issues.join("; ") }))
}

/** What the supervisor needs of the session. */
export interface Wiring {
  readonly spawner: ProcessManager.ProcessManager["Service"]
  readonly owner: State.Owner
  readonly conversation: Conversation
  readonly processes: Processes
  readonly control: ControlChannel
  readonly turns: Turns
  /** The CLI's own work, which a new process does not inherit. */
  readonly cliWork: Background
  readonly telemetry: Telemetry
  /** Replacements run here, never in the reader of a process (whose scope they close). */
  readonly background: FiberSet.FiberSet
  readonly fail: (reason: ClaudeError.Reason) => ClaudeError.ClaudeError
  readonly restart: RestartPolicy
  /** Arguments every process gets besides those of its options (the debug file). */
  readonly extraArgs: ReadonlyArray<string>
  readonly permissionPromptTool: boolean
  /** The session's in-process MCP servers, by name. */
  readonly sdkMcpServers: ReadonlyArray<string>
  readonly maxLineBytes: number | undefined
  readonly startupTimeout: Duration.Duration
  readonly controlTimeout: Duration.Duration
}

/** One session's supervisor. */
export interface Supervisor {
  /** Starts the first process and waits until it is ready; the session is Failed when it cannot be. */
  readonly start: Effect.Effect<void, ClaudeError.ClaudeError>
}

/** The supervisor of one session; nothing runs until `start`. */
export const make = (wiring: Wiring): Supervisor => {
  const { owner, conversation, processes, control, turns, telemetry, fail, restart } = wiring
  /** When the replacements of the current window happened (Clock millis). */
  const restartedAt: Array<number> = []

  // Spawns a process (in a scope of its own), starts its reader, and sends `initialize`, bounded by the
  // start-up deadline. A process that fails to start is stopped (its scope closed) before this fails.
  const launch = (kind: "initial" | "restart"): Effect.Effect<Generation, ClaudeError.ClaudeError> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const launchWith = conversation.launchOptions()
        const scope = yield* Scope.make()
        processes.opened(scope)
        const started = yield* Effect.exit(restore(Effect.gen(function*() {
          const proc = yield* wiring.spawner.spawn({
            options: launchWith,
            args: [
              ...ClaudeOptions.toArgs(launchWith, {
                permissionPromptTool: wiring.permissionPromptTool,
                sdkMcpServers: wiring.sdkMcpServers
              }),
              ...wiring.extraArgs
            ]
          }).pipe(Scope.provide(scope))
          const generation: Generation = { proc, scope, ready: false, dead: false }
          processes.newest = generation
          yield* wiring.cliWork.replaced
          yield* telemetry.spawned(kind)
          // The reader: every stdout byte goes through the StreamHandler; when stdout ends, the process
          // is gone.
          yield* proc.stdout.pipe(
            StreamHandler.events({ maxLineBytes: wiring.maxLineBytes }),
            Stream.runForEach(turns.route),
            Effect.catch(() => Effect.void),
            Effect.andThen(died(generation)),
            Effect.forkIn(scope)
          )
          // Only the start-up deadline bounds `initialize` (not the control timeout): a start-up longer than
          // our usual control deadline is allowed when configured so, and times out as `startup`.
          const reply = yield* control.send(
            "initialize",
            control.initialize,
            wiring.startupTimeout,
            "startup",
            turns.current()
          ).pipe(Effect.withSpan("Session.initialize"))
          processes.serverInfo = isInitializeResponse(reply) ? reply : undefined
          // A resumed conversation's cost so far is the CLI's starting point: the next result's
          // `total_cost_usd` includes it. Without an answer, a replacement keeps what this session last saw
          // of the conversation; a conversation resumed from elsewhere has no cost on record for its first
          // turn here.
          if (launchWith.resume !== undefined || launchWith.continue === true) {
            const usage = yield* Effect.option(
              control.send("get_usage", undefined, wiring.controlTimeout, "control", turns.current())
            )
            const restored = Option.flatMap(usage, restoredCost)
            if (Option.isSome(restored)) conversation.cost = restored.value
          }
          return generation
        })))
        if (Exit.isFailure(started)) {
          const error = Cause.findErrorOption(started.cause)
          if (Option.isSome(error)) yield* telemetry.spawnFailed(error.value.reason._tag)
          yield* processes.close(scope)
          return yield* Effect.failCause(started.cause)
        }
        return started.value
      })
    ).pipe(telemetry.withLogContext)

  // The process is ready: it serves turns from now on, unless it died meanwhile, or the session was
  // failed or closed meanwhile (then it is not wanted: `false`). It becomes the live process in the same
  // step as the state becomes Idle: a caller woken by Idle reads the new pid.
  const declareReady = (generation: Generation) =>
    owner.apply((state): readonly [boolean, State.State] => {
      if (generation.dead) return [false, state]
      const [ready, next] = State.ready(state)
      if (ready) {
        generation.ready = true
        processes.live = generation
        telemetry.remember("ready")
      }
      return [ready, next]
    }).pipe(Effect.tap((ready) => (ready ? telemetry.log("ready") : Effect.void)))

  // The process of a generation died (its stdout ended). Whatever waited on it fails with the reason read
  // from its exit; a ready process that died while the session was in use is replaced, in the background.
  const died = (generation: Generation): Effect.Effect<void> =>
    Effect.gen(function*() {
      const exit = yield* generation.proc.exit
      // A process stopped for a resource limit dies by a signal that would otherwise read as a crash.
      const limit = yield* generation.proc.stoppedFor
      const reason: ClaudeError.Reason = Option.isSome(limit)
        ? limit.value
        : TurnOutcome.classify({ apiRetries: turns.apiRetries, exit, stderrTail: yield* generation.proc.stderrTail }) ??
          new ClaudeError.ProtocolError({ detail: "the CLI exited" })
      const error = fail(reason)
      yield* control.dropIncoming
      // Still starting (the launcher sees `initialize` fail, and decides), or stopped on purpose, or closing:
      // "expected"; else it died in use, and is replaced ("recover") unless crash recovery is off ("failed").
      const fate = yield* owner.apply((state): readonly [State.Fate, State.State] => {
        generation.dead = true
        return generation.ready ? State.died(restart.maxRestarts > 0)(state) : ["expected", state]
      })
      if (fate === "recover") {
        yield* telemetry.note("died", `${reason.message}; starting a replacement that resumes the conversation`, "Warn")
      } else if (fate === "failed") {
        yield* telemetry.note("died", reason.message)
      }
      // Starting (or Failed) first, then the turn's failure: whoever it wakes up (a pool taking the session
      // back) does not find it Idle.
      yield* turns.endCurrent(error)
      yield* control.failPending(error)
      if (fate === "recover") {
        // Started on its own fiber, once this reader is done: the replacement closes this reader's scope.
        yield* FiberSet.run(wiring.background, respawn(generation, reason), { startImmediately: false })
      }
    }).pipe(telemetry.withLogContext)

  // Replaces a process that died, within the restart intensity; a replacement that fails to start counts
  // too. Past the limit, or when the session was failed or closed meanwhile, the session stays as it is
  // (Failed past the limit).
  const respawn = (dead: Generation, reason: ClaudeError.Reason): Effect.Effect<void> =>
    Effect.gen(function*() {
      // Its process has exited: the ladder ends at once and frees the pipes.
      yield* processes.close(dead.scope)
      while ((yield* owner.get) === "Starting") {
        const now = yield* Clock.currentTimeMillis
        while (restartedAt.length > 0 && now - (restartedAt[0] ?? now) >= restart.windowMs) restartedAt.shift()
        if (restartedAt.length >= restart.maxRestarts) {
          yield* owner.apply(State.giveUp)
          return yield* telemetry.note(
            "failed",
            `the CLI died ${restartedAt.length + 1} times within ${restart.windowMs} ms (last: ${reason._tag}); ` +
              "the session is Failed",
            "Warn"
          )
        }
        restartedAt.push(now)
        processes.restarts++
        yield* telemetry.restarting(reason._tag)
        const launched = yield* Effect.exit(launch("restart"))
        if (Exit.isSuccess(launched)) {
          if (yield* declareReady(launched.value)) return
          // Died while starting, or no longer wanted: stop it; the state decides whether to try again.
          yield* processes.close(launched.value.scope)
        } else {
          yield* Effect.logWarning("a replacement CLI failed to start", launched.cause).pipe(telemetry.withLogContext)
        }
      }
    }).pipe(Effect.withSpan("Session.respawn", { attributes: { reason: reason._tag } }))

  return {
    start: Effect.gen(function*() {
      const first = yield* Effect.tapError(launch("initial"), () => owner.apply(State.fail))
      if (yield* declareReady(first)) return
      yield* owner.apply(State.fail)
      yield* processes.close(first.scope)
      return yield* Effect.fail(fail(new ClaudeError.ProtocolError({ detail: "the CLI exited during start-up" })))
    })
  }
}

/**
 * What a session tells the outside about its life: lifecycle events (into its debug log, and logged),
 * logs annotated with the session, and the process metrics (spawns, spawn failures, restarts). The turn
 * metrics and span attributes are `turnTelemetry`'s.
 */
import { type Clock, Effect, Metric } from "effect"
import type * as DebugLog from "../../DebugLog.ts"
import * as Metrics from "../../Metrics.ts"
import type { Recorder } from "../debugLog.ts"
import { seriesBy } from "../metricSeries.ts"
import type { Conversation } from "./conversation.ts"

const spawnsSeries = seriesBy(Metrics.spawnsTotal, "kind")
const spawnFailuresSeries = seriesBy(Metrics.spawnFailuresTotal, "reason")
const restartsSeries = seriesBy(Metrics.restartsTotal, "reason")

/** A lifecycle event's name. */
export type Lifecycle = DebugLog.LifecycleEvent["event"]

/** One session's telemetry. */
export interface Telemetry {
  /** Clock millis, read without an effect (in the middle of a step). */
  readonly now: () => number
  /** Runs `effect` with its logs annotated with the session as it is then (session id, pid, turn). */
  readonly withLogContext: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Into the debug log at once, in the step of what it records; not logged. */
  readonly remember: (event: Lifecycle, detail?: string) => void
  /** Logged (at Debug, unless it is news), not recorded. */
  readonly log: (event: Lifecycle, detail?: string, level?: "Debug" | "Warn") => Effect.Effect<void>
  /** Recorded and logged. */
  readonly note: (event: Lifecycle, detail?: string, level?: "Debug" | "Warn") => Effect.Effect<void>
  readonly spawned: (kind: "initial" | "restart") => Effect.Effect<void>
  readonly spawnFailed: (reason: string) => Effect.Effect<void>
  /** A replacement of a process that died of `reason` is being started. */
  readonly restarting: (reason: string) => Effect.Effect<void>
}

/** The telemetry of a session; `pid` is its newest process's. */
export const make = (
  recorder: Recorder,
  clock: Clock.Clock,
  conversation: Conversation,
  pid: () => number | undefined
): Telemetry => {
  const now = () => clock.currentTimeMillisUnsafe()
  const annotations = (): Record<string, unknown> => {
    const { sessionId, turns } = conversation
    return sessionId === undefined ? { pid: pid(), turn: turns } : { sessionId, pid: pid(), turn: turns }
  }
  const withLogContext = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => Effect.annotateLogs(effect, annotations()))
  const remember = (event: Lifecycle, detail?: string) =>
    recorder.event({ at: now(), event, pid: pid(), turn: conversation.turns, detail })
  const log = (event: Lifecycle, detail?: string, level: "Debug" | "Warn" = "Debug") =>
    Effect.suspend(() =>
      Effect.logWithLevel(level)(detail === undefined ? `session: ${event}` : `session: ${event}: ${detail}`).pipe(
        Effect.annotateLogs(annotations())
      )
    )
  const note = (event: Lifecycle, detail?: string, level?: "Debug" | "Warn") =>
    Effect.suspend(() => {
      remember(event, detail)
      return log(event, detail, level)
    })
  return {
    now,
    withLogContext,
    remember,
    log,
    note,
    spawned: (kind) => Effect.andThen(Metric.update(spawnsSeries(kind), 1), note("spawned", kind)),
    spawnFailed: (reason) => Effect.andThen(Metric.update(spawnFailuresSeries(reason), 1), note("spawnFailed", reason)),
    restarting: (reason) => Effect.andThen(Metric.update(restartsSeries(reason), 1), note("restarting", reason))
  }
}

/**
 * A turn's deadlines: the first event, the silence between events (idle), the whole turn. {@link next} is
 * the pure decision, {@link watch} the loop that sleeps on the Clock until a deadline or the turn's end.
 */
import { Clock, Duration, Effect } from "effect"
import type * as ClaudeError from "../../ClaudeError.ts"
import * as ClaudeOptions from "../../ClaudeOptions.ts"

/** The deadlines of a turn, in milliseconds. */
export interface Deadlines {
  readonly firstEvent: number
  readonly idle: number
  readonly turn: number
}

/** The deadlines the options set (or their defaults). */
export const deadlinesOf = (options: ClaudeOptions.ClaudeOptions): Deadlines => ({
  firstEvent: Duration.toMillis(ClaudeOptions.timeout(options, "firstEvent")),
  idle: Duration.toMillis(ClaudeOptions.timeout(options, "idle")),
  turn: Duration.toMillis(ClaudeOptions.timeout(options, "turn"))
})

/** What the watchdog reads of a turn (Clock millis). */
export interface Watched {
  readonly startedAt: number
  /** Its last sign of life: its last event, or its start. */
  lastEventAt: number
  readonly sawEvent: boolean
}

/** The watchdog's decision: a deadline ran out, or when to look again. */
export type Verdict =
  | { readonly _tag: "Expired"; readonly kind: ClaudeError.TimeoutKind; readonly durationMs: number }
  | { readonly _tag: "Wait"; readonly millis: number }

/**
 * At `now`: the whole-turn deadline, and either the first-event one (no event yet) or the idle one. Wakes
 * at the next deadline, and at least once per idle period: the first event switches the watch from the
 * first-event deadline to the (usually nearer) idle one.
 */
export const next = (deadlines: Deadlines, turn: Watched, now: number): Verdict => {
  const checks: ReadonlyArray<readonly [ClaudeError.TimeoutKind, number, number]> = [
    ["turn", turn.startedAt + deadlines.turn, deadlines.turn],
    turn.sawEvent
      ? ["idle", turn.lastEventAt + deadlines.idle, deadlines.idle]
      : ["firstEvent", turn.startedAt + deadlines.firstEvent, deadlines.firstEvent]
  ]
  const expired = checks.find(([, deadline]) => now >= deadline)
  if (expired !== undefined) return { _tag: "Expired", kind: expired[0], durationMs: expired[2] }
  return { _tag: "Wait", millis: Math.min(deadlines.idle, ...checks.map(([, deadline]) => deadline - now)) }
}

/**
 * Watches `turn` while `watching()` holds. Time spent waiting on the host (a permission callback, a hook)
 * is not the CLI's silence: while `hostBusy()`, the turn counts as alive. A deadline that runs out calls
 * `expire` and ends the watch.
 */
export const watch = (
  deadlines: Deadlines,
  turn: Watched,
  options: {
    readonly watching: () => boolean
    readonly hostBusy: () => boolean
    readonly expire: (kind: ClaudeError.TimeoutKind, durationMs: number) => Effect.Effect<void>
  }
): Effect.Effect<void> =>
  Effect.gen(function*() {
    while (options.watching()) {
      const now = yield* Clock.currentTimeMillis
      if (options.hostBusy()) turn.lastEventAt = now
      const verdict = next(deadlines, turn, now)
      if (verdict._tag === "Expired") return yield* options.expire(verdict.kind, verdict.durationMs)
      yield* Effect.sleep(Duration.millis(verdict.millis))
    }
  })

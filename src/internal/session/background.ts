/**
 * What the CLI does between our turns. A Bash command or subagent run in the background keeps going after
 * its turn's result, reports when it settles (`task_notification`), and the CLI then runs a turn of its own
 * to tell the model: an assistant message and a `result` that no prompt of ours asked for. Those frames go
 * to the session's out-of-turn stream, never to the next turn; a turn of ours waits until the CLI's own turn
 * is over (the CLI's `session_state_changed`, which it prints with `CLAUDE_CODE_SDK_READS_SESSION_STATE`), and
 * a pool does not lend a process with background work left to another lease.
 */
import { Effect, Latch, PubSub, type Scope, Stream } from "effect"
import type { ClaudeEvent } from "../../ClaudeEvent.ts"

/**
 * A background task of the CLI that has not settled: a Bash command run in the background, a backgrounded
 * subagent; as the CLI's last `system/background_tasks_changed` lists it.
 *
 * @since 0.1.0
 * @category models
 */
export type BackgroundTask = Extract<ClaudeEvent, { readonly _tag: "BackgroundTasksChanged" }>["tasks"][number]

/**
 * The CLI's own work on its current process: its unsettled background tasks, and whether it is running a
 * turn of its own (one no prompt of ours started).
 *
 * @since 0.1.0
 * @category models
 */
export interface Work {
  readonly tasks: ReadonlyArray<BackgroundTask>
  readonly ownTurn: boolean
}

const none: Work = { tasks: [], ownTurn: false }

/** How many out-of-turn events a slow subscriber may fall behind by before the oldest are dropped. */
const OUT_OF_TURN_CAPACITY = 1024

/**
 * A frame the CLI prints for the host alone (`sdk_host_only`, the session state it reports because we asked):
 * the library's signal, kept from the caller's events as the Agent SDK keeps it from its messages.
 */
export const isHostOnlyFrame = (event: ClaudeEvent): boolean =>
  event._tag === "SessionStateChanged" && Reflect.get(event.frame, "sdk_host_only") === true

/** One session's view of the CLI's own work. */
export interface Background {
  /**
   * Notes what an event says about the CLI's work, at once; `ours` when a turn of ours is running. The
   * effect publishes it when it arrived out of our turns.
   */
  readonly observe: (event: ClaudeEvent, ours: boolean) => Effect.Effect<void>
  /** The events that arrived while no turn of ours ran, from the moment of subscription. */
  readonly events: Stream.Stream<ClaudeEvent>
  /** The CLI's work on its current process. */
  readonly work: () => Work
  /** Waits until the CLI runs no turn of its own. */
  readonly ownTurnOver: Effect.Effect<void>
  /** A new process took over: what the one before was doing is not its successor's. */
  readonly replaced: Effect.Effect<void>
}

/** Makes the view; its subscribers' streams end when the scope closes. */
export const make: Effect.Effect<Background, never, Scope.Scope> = Effect.gen(function*() {
  const outOfTurn = yield* Effect.acquireRelease(
    PubSub.sliding<ClaudeEvent>(OUT_OF_TURN_CAPACITY),
    (pubsub) => PubSub.shutdown(pubsub)
  )
  const idle = yield* Latch.make(true)
  let work: Work = none

  // Eager, and `Effect.void` for most events of our turns: it runs for every event a turn delivers.
  const observe = (event: ClaudeEvent, ours: boolean): Effect.Effect<void> => {
    let change: Effect.Effect<void> = Effect.void
    if (event._tag === "BackgroundTasksChanged") work = { ...work, tasks: event.tasks }
    if (event._tag === "SessionStateChanged") {
      // Our own turns are the turns' business; a `running` outside of one is a turn of the CLI's own.
      const ownTurn = !ours && event.state === "running"
      if (ownTurn !== work.ownTurn) {
        work = { ...work, ownTurn }
        change = ownTurn ? idle.close : idle.open
      }
    }
    if (ours || isHostOnlyFrame(event)) return change
    return Effect.andThen(change, Effect.asVoid(PubSub.publish(outOfTurn, event)))
  }

  return {
    observe,
    events: Stream.fromPubSub(outOfTurn),
    work: () => work,
    ownTurnOver: idle.await,
    replaced: Effect.suspend(() => {
      work = none
      return idle.open
    })
  } satisfies Background
})

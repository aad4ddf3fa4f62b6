/**
 * The session's state machine: pure transitions, and the one owner that applies them.
 *
 * Every change of a session's state is a {@link Transition} applied by its {@link Owner}, in one step
 * (`SubscriptionRef.modify`): a turn claiming the session, a process becoming ready or dying, a stop, the
 * close. A step may also change the bookkeeping that goes with the state (the current turn, the live
 * process), so whoever sees the new state sees that bookkeeping too; no decision is taken on a state read
 * earlier.
 */
import { Effect, Option, Stream, SubscriptionRef } from "effect"

/**
 * `Starting` while a process starts (the first, or a replacement); `Closed` and `Failed` are for good.
 * The public name is `Session.State`; `@inline` lets the API reference spell it out where it is used.
 *
 * @inline
 */
export type State = "Starting" | "Idle" | "Running" | "Closed" | "Failed"

/** From a state: a verdict, and the state after. */
export type Transition<V> = (state: State) => readonly [V, State]

/** A starting process answered `initialize`: it serves turns, unless nobody waits for it any more. */
export const ready: Transition<boolean> = (state) => (state === "Starting" ? [true, "Idle"] : [false, state])

/** What a turn that asks for the session gets: it, a wait for the process being started, or a refusal. */
export type Claim =
  | { readonly _tag: "Claimed" }
  | { readonly _tag: "Wait" }
  | { readonly _tag: "Refused"; readonly state: State }

const claimed: Claim = { _tag: "Claimed" }
const wait: Claim = { _tag: "Wait" }

/** A turn asks for the session: Idle becomes Running; a turn waits while a process starts. */
export const claim: Transition<Claim> = (state) =>
  state === "Idle" ? [claimed, "Running"] : state === "Starting" ? [wait, state] : [{ _tag: "Refused", state }, state]

/** The running turn ended with its result: the session takes the next one. */
export const settle: Transition<void> = (state) => [undefined, state === "Running" ? "Idle" : state]

/**
 * What a process's death means: `expected` (it was still starting, or the session stopped or closed it),
 * `recover` (it died in use, and a replacement starts), `failed` (it died in use, with crash recovery off).
 */
export type Fate = "expected" | "recover" | "failed"

/** The live process died. */
export const died = (canRestart: boolean): Transition<Fate> => (state) => {
  if (state !== "Idle" && state !== "Running") return ["expected", state]
  return canRestart ? ["recover", "Starting"] : ["failed", "Failed"]
}

/** Replacements ran out: a session still waiting for one is Failed. */
export const giveUp: Transition<boolean> = (state) => (state === "Starting" ? [true, "Failed"] : [false, state])

/** The session stops its process on purpose: Failed for good, unless it is closed already. */
export const fail: Transition<void> = (state) => [undefined, state === "Closed" ? state : "Failed"]

/** The session's scope closed. */
export const close: Transition<void> = () => [undefined, "Closed"]

/** The one place a session's state changes. */
export interface Owner {
  readonly ref: SubscriptionRef.SubscriptionRef<State>
  readonly get: Effect.Effect<State>
  /**
   * Applies `step` in one step with the state. `step` may read and change bookkeeping that changes with
   * the state: nobody sees the state in between. It must not fail or suspend.
   */
  readonly apply: <V>(step: Transition<V>) => Effect.Effect<V>
  /** The state as soon as it is not `Starting` (now, if it is not). */
  readonly started: Effect.Effect<State>
}

/** An {@link Owner} of a session that starts `Starting`. */
export const makeOwner: Effect.Effect<Owner> = Effect.map(SubscriptionRef.make<State>("Starting"), (ref) => ({
  ref,
  get: SubscriptionRef.get(ref),
  apply: (step) => SubscriptionRef.modify(ref, step),
  started: SubscriptionRef.changes(ref).pipe(
    Stream.filter((state) => state !== "Starting"),
    Stream.runHead,
    Effect.flatMap(Option.match({ onNone: () => SubscriptionRef.get(ref), onSome: Effect.succeed }))
  )
}))

/**
 * The bound every wait of the test doubles and the test helpers shares: real time, whether or not the caller
 * runs under a `TestClock` (which moves only when the test moves it, and the test is the one waiting).
 */
import { Clock, Duration, Effect } from "effect"

/**
 * Runs `self` on the live Clock; should it not end within `within`, dies with the `message` (given the bound,
 * formatted), read at that moment so it can say how things stand.
 */
export const dieUnlessWithin =
  (within: Duration.Input, message: (within: string) => string) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    self.pipe(
      Effect.timeoutOrElse({
        duration: within,
        orElse: () => Effect.die(new Error(message(Duration.format(Duration.fromInputUnsafe(within)))))
      }),
      Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())
    )

/**
 * A span around an effect whose success is a long-lived resource (a Session, a CliProcess).
 *
 * A finished span keeps its `Exit`, and with it the success value, for as long as anything references the
 * span: every fiber forked under it and every child span. A process started under the span of a lease
 * (the pool's spare, spawned in the background after an `acquire`) lives on after the lease, so its fibers
 * kept the lease's span, whose exit kept the previous Session, whose fibers kept the span of the lease
 * before it, and so on: every process the pool ever replaced stayed reachable (F23). The span here ends
 * with `void`; the value is handed over after the span, and the span never references it.
 *
 * @since 0.1.0
 */
import { Effect, type Tracer } from "effect"

/**
 * Like `Effect.withSpan(name, options)`, except that the span's exit holds no success value (failures are
 * recorded as usual): use it where the effect returns something that outlives the span.
 *
 * @since 0.1.0
 * @category tracing
 */
export const withSpanNotHolding =
  (name: string, options?: Tracer.SpanOptionsNoTrace) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, Tracer.ParentSpan>> =>
    Effect.suspend(() => {
      let handed: { readonly value: A } | undefined
      return self.pipe(
        Effect.map((value) => {
          handed = { value }
        }),
        Effect.withSpan(name, options),
        Effect.flatMap(() => {
          const result = handed
          handed = undefined
          return result === undefined
            ? Effect.die(new Error(`span ${name} ended without a value`))
            : Effect.succeed(result.value)
        })
      )
    })

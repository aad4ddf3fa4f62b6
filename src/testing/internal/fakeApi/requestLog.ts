/**
 * The FakeApi's request log: the latest requests it keeps, and how many conversation requests arrived since
 * the last clear (kept or not), so a test can wait for the n-th without the log holding every body.
 */
import { Duration, Effect, Option, Stream, SubscriptionRef } from "effect"
import { dieUnlessWithin } from "../../../internal/realTimeBound.ts"
import type { RecordedRequest } from "./requests.ts"

/** The requests kept, and how many conversation requests arrived since the last clear (kept or not). */
interface Recorded {
  readonly kept: ReadonlyArray<RecordedRequest>
  readonly conversations: number
}

const conversationOnly = (all: ReadonlyArray<RecordedRequest>) => all.filter((r) => r.kind === "conversation")

/** A log that keeps the latest `keep` requests (`Infinity`: all of them). */
export const makeRequestLog = (keep: number) =>
  Effect.map(SubscriptionRef.make<Recorded>({ kept: [], conversations: 0 }), (ref) => ({
    record: (request: RecordedRequest): Effect.Effect<void> =>
      SubscriptionRef.update(ref, (recorded) => ({
        kept: keep === 0
          ? []
          : recorded.kept.length < keep
          ? [...recorded.kept, request]
          : [...recorded.kept.slice(recorded.kept.length - keep + 1), request],
        conversations: recorded.conversations + (request.kind === "conversation" ? 1 : 0)
      })),
    requests: Effect.map(SubscriptionRef.get(ref), (recorded) => recorded.kept),
    conversationRequests: Effect.map(SubscriptionRef.get(ref), (recorded) => conversationOnly(recorded.kept)),
    awaitConversationRequests: (
      count: number,
      within: Duration.Input = Duration.seconds(10)
    ): Effect.Effect<ReadonlyArray<RecordedRequest>> =>
      SubscriptionRef.changes(ref).pipe(
        Stream.filter((recorded) => recorded.conversations >= count),
        Stream.map((recorded) => conversationOnly(recorded.kept)),
        Stream.runHead,
        Effect.map(Option.getOrElse((): ReadonlyArray<RecordedRequest> => [])),
        dieUnlessWithin(
          within,
          (bound) =>
            `FakeApi: ${count} conversation request(s) awaited, ${
              SubscriptionRef.getUnsafe(ref).conversations
            } arrived within ${bound}`
        )
      ),
    clear: SubscriptionRef.set(ref, { kept: [], conversations: 0 })
  }))

export type RequestLog = Effect.Success<ReturnType<typeof makeRequestLog>>

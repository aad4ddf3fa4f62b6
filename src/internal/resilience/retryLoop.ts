/**
 * One query under the policy and the circuit: its attempts one after another, the events of each handed
 * on as they arrive, a `Retrying` event between two, a resume instead of a resend once a tool ran, and
 * the query's failure when the policy, the deadline, the circuit or a retry-after says to stop (see the
 * `Resilience` module documentation for the rules).
 *
 * @since 0.1.0
 */
import { Cause, Clock, Duration, Effect, Exit, Metric, Option, Queue, type Schedule, Stream } from "effect"
import * as ClaudeError from "../../ClaudeError.ts"
import { ClaudeEvent } from "../../ClaudeEvent.ts"
import type * as ClaudeOptions from "../../ClaudeOptions.ts"
import * as Metrics from "../../Metrics.ts"
import type * as Protocol from "../../Protocol.ts"
import type * as Transcript from "../../Transcript.ts"
import * as TurnOutcome from "../../TurnOutcome.ts"
import * as Attempts from "./attempts.ts"
import type { Circuits } from "./circuit.ts"
import * as Resume from "./resume.ts"
import { minimumDelay, withRetryAfter } from "./retryAfter.ts"
import * as RetrySchedule from "./retrySchedule.ts"

/**
 * What every query of one `Resilience` shares.
 *
 * @since 0.1.0
 * @category models
 */
export interface Rules {
  readonly schedule: Schedule.Schedule<unknown, ClaudeError.ClaudeError> | undefined
  readonly deadlineMs: number
  readonly maxRetryAfterMs: number
  readonly continuationPrompt: string
  readonly circuits: Circuits
  readonly transcripts: Transcript.Transcript["Service"]
}

/** Logs why the query stops, and fails with `error`. */
const giveUp = (message: string, error: ClaudeError.ClaudeError, annotations: Record<string, unknown>) =>
  Effect.log(message).pipe(
    Effect.annotateLogs({ reason: error.reason._tag, ...annotations }),
    Effect.andThen(Effect.fail(error))
  )

/**
 * Runs the query `prompt` with `options` under the circuit of `key`, putting its events on `queue`, which
 * it ends (the query succeeded) or fails with the query's failure.
 *
 * @since 0.1.0
 * @category constructors
 */
export const query = (
  rules: Rules,
  queue: Queue.Queue<ClaudeEvent, ClaudeError.ClaudeError | Cause.Done>,
  key: string,
  prompt: Protocol.UserContent,
  options: ClaudeOptions.Input | undefined,
  attempt: (
    prompt: Protocol.UserContent,
    options: ClaudeOptions.Input | undefined
  ) => Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError>
) =>
  Effect.gen(function*() {
    const { circuits, continuationPrompt, deadlineMs, maxRetryAfterMs } = rules
    const budget = yield* RetrySchedule.budget(rules.schedule, deadlineMs)
    let number = 1
    let current: { readonly prompt: Protocol.UserContent; readonly options: ClaudeOptions.Input | undefined } = {
      prompt,
      options
    }
    // Once a tool ran, every later attempt resumes the conversation (the last session id seen).
    let toolsRan = false
    let lastSessionId: string | undefined
    const toolUseIds: Array<string> = []
    let spent = Attempts.nothingSpent
    for (;;) {
      const seen = Attempts.unseen()
      const annotations = { attempt: number, circuit: key }

      // The attempt ends here, with the query: its CLI is stopped, and nothing retries `error`.
      const stop = (message: string, error: ClaudeError.ClaudeError, extra: Record<string, unknown> = {}) =>
        Effect.suspend(() => {
          seen.final = error
          return giveUp(message, error, { ...annotations, ...extra })
        })

      // The CLI is about to retry a failed API call by itself: a retry of the query like any other.
      const cliRetry = (event: Extract<ClaudeEvent, { readonly _tag: "ApiRetry" }>) =>
        Effect.gen(function*() {
          // F12: a refused credential is the Session's to fail fast.
          if (TurnOutcome.fromApiRetry(event.frame) !== undefined) return
          const now = yield* Clock.currentTimeMillis
          const error = ClaudeError.make(
            TurnOutcome.fromStatus(
              event.status,
              `the API answered ${event.status ?? "no connection"} (${
                event.error ?? "error"
              }); the CLI was about to retry it (${event.attempt} of ${event.maxRetries ?? "?"})`,
              { errorType: event.error ?? undefined }
            ),
            { sessionId: seen.sessionId ?? event.frame.session_id }
          )
          const cli = { cliRetry: event.attempt, waitMs: event.delayMs }
          if (!(yield* budget.cliRetry(now, error))) {
            return yield* stop("Stopping the CLI's own retries: the retry policy is exhausted", error, cli)
          }
          if (budget.beyondDeadline(now + (event.delayMs ?? 0))) {
            return yield* stop(
              "Stopping the CLI's own retries: the query's deadline would pass before the next one",
              error,
              {
                ...cli,
                deadlineMs
              }
            )
          }
          yield* circuits.recordFailure(key, error)
          const state = yield* circuits.state(key)
          if (state?._tag === "Open") {
            return yield* stop(
              "Stopping the CLI's own retries: the circuit is open",
              yield* circuits.rejectedFor(key, state.retryAfter),
              cli
            )
          }
          // Half-open: this attempt (or another) is the probe, and the probe failed: the attempt fails
          // with it, and its outcome, recorded by the circuit, opens it again.
          if (state?._tag === "HalfOpen") {
            seen.failedProbe = true
            return yield* Effect.fail(error)
          }
        })

      const deliver = (event: ClaudeEvent) => {
        Attempts.see(seen, event)
        switch (event._tag) {
          case "ApiRetry":
            return Effect.andThen(Queue.offer(queue, event), cliRetry(event))
          case "Result":
            // The turn's final Result: what every attempt reported, each counted once.
            if (event.error === undefined && spent !== Attempts.nothingSpent) {
              const total = Attempts.addSpent(spent, event)
              return Queue.offer(queue, ClaudeEvent.Result({ ...event, costUsd: total.costUsd, usage: total.usage }))
            }
            break
        }
        return Queue.offer(queue, event)
      }
      const forward = (event: ClaudeEvent) =>
        budget.failing() && Attempts.apiAnswered(event)
          ? Effect.andThen(budget.answered, deliver(event))
          : deliver(event)
      const exit = yield* Effect.exit(
        circuits.guarded(key, Stream.runForEach(attempt(current.prompt, current.options), forward))
      )
      if (Exit.isSuccess(exit)) return yield* Queue.end(queue)
      // Given up on (and logged) as the CLI retried.
      if (seen.final !== undefined) return yield* Effect.fail(seen.final)
      const failure = Cause.findErrorOption(exit.cause)
      // Defects and interruptions are not ours to retry.
      if (Option.isNone(failure)) return yield* Effect.failCause(exit.cause)
      // Its budget already spent at the CLI's retry: the circuit decides.
      if (seen.failedProbe) {
        const state = yield* circuits.state(key)
        const open = state?._tag === "Open" ? yield* circuits.rejectedFor(key, state.retryAfter) : failure.value
        return yield* giveUp("Not retrying a failed turn: it was the circuit's probe", open, annotations)
      }
      const now = yield* Clock.currentTimeMillis
      toolsRan ||= seen.toolUse
      for (const id of seen.toolUseIds) toolUseIds.push(id)
      const resumed = current.options?.resume
      const error = resumed !== undefined && Resume.isNoConversation(failure.value.reason)
        ? Resume.transcriptLost(resumed, "missing", toolsRan, toolUseIds)
        : withRetryAfter(failure.value, seen, now)
      const reason = error.reason
      lastSessionId = seen.sessionId ?? lastSessionId
      spent = Attempts.addSpent(spent, seen.result)

      // An open circuit turns a new query away at once, nothing spawned: CircuitOpen is not retryable.
      if (!budget.retries || !reason.isRetryable) return yield* Effect.fail(error)
      const next = yield* budget.failedAttempt(now, error)
      if (Option.isNone(next)) {
        return yield* giveUp("Not retrying a failed turn: the retry policy is exhausted", error, annotations)
      }
      const floor = minimumDelay(reason, now, seen)
      if (floor?.exact === true && floor.ms > maxRetryAfterMs) {
        return yield* giveUp("Not retrying a failed turn: the wait asked for is longer than maxRetryAfter", error, {
          ...annotations,
          waitMs: floor.ms,
          maxRetryAfterMs
        })
      }
      const delayMs = Math.max(
        Math.round(Duration.toMillis(next.value)),
        Math.min(floor?.ms ?? 0, maxRetryAfterMs)
      )
      if (budget.beyondDeadline(now + delayMs)) {
        return yield* giveUp(
          "Not retrying a failed turn: the query's deadline would pass before the next attempt",
          error,
          {
            ...annotations,
            waitMs: delayMs,
            deadlineMs
          }
        )
      }
      // A circuit that opened while the query retried (its own failures, or another query's) fails it
      // now, rather than after a wait for the half-open time.
      const state = yield* circuits.state(key)
      if (state?._tag === "Open") {
        const open = yield* circuits.rejectedFor(key, state.retryAfter)
        return yield* giveUp("Not retrying a failed turn: the circuit is open", open, annotations)
      }
      const resume = toolsRan ? lastSessionId : undefined
      if (toolsRan && resume === undefined) {
        return yield* giveUp(
          "Not retrying a failed turn: a tool ran, and without a session id to resume the prompt cannot be sent safely again",
          error,
          annotations
        )
      }
      current = resume === undefined
        ? { prompt, options }
        : { prompt: continuationPrompt, options: Resume.resumeOptions(options, resume) }
      yield* Queue.offer(
        queue,
        ClaudeEvent.Retrying({ attempt: number, delayMs, reason, sessionId: seen.sessionId, resume })
      )
      yield* Metric.update(Metric.withAttributes(Metrics.retriesTotal, { reason: reason._tag }), 1)
      yield* Effect.log("Retrying a failed turn").pipe(
        Effect.annotateLogs({
          ...annotations,
          nextAttempt: number + 1,
          delayMs,
          reason: reason._tag,
          detail: reason.message,
          resume: resume ?? "no: the prompt is sent again"
        })
      )
      yield* Effect.sleep(Duration.millis(delayMs))
      // Read after the backoff: by now the failed attempt's CLI has stopped and written all it ever will.
      if (resume !== undefined) {
        const lost = yield* Resume.checkResumable(rules.transcripts, resume, options, toolUseIds)
        if (Option.isSome(lost)) {
          return yield* giveUp(
            "Not retrying a failed turn: its transcript cannot be resumed safely",
            lost.value,
            annotations
          )
        }
      }
      number++
    }
  })

/**
 * A session's turns: one at a time, each claimed from the state's owner (Idle becomes Running in the same
 * step as it becomes the current turn), sent to the live process, watched by its deadlines, fed the
 * frames the reader routes to it, and ended once, however it ends (its result, a failure, a timeout, the
 * process's death, the session closing), or abandoned when its consumer leaves early.
 */
import {
  Clock,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberSet,
  Option,
  Queue,
  type Scope,
  Semaphore,
  Stream,
  SubscriptionRef,
  Tracer
} from "effect"
import type * as Cause from "effect/Cause"
import * as ClaudeError from "../../ClaudeError.ts"
import type { ClaudeEvent } from "../../ClaudeEvent.ts"
import * as Protocol from "../../Protocol.ts"
import * as TurnOutcome from "../../TurnOutcome.ts"
import type { Recorder } from "../debugLog.ts"
import { type Background, isHostOnlyFrame } from "./background.ts"
import type { ControlChannel, TurnSpans as ControlTurn } from "./control.ts"
import type { Conversation } from "./conversation.ts"
import type { Generation, Processes } from "./processes.ts"
import * as State from "./state.ts"
import type { Telemetry } from "./telemetry.ts"
import * as TurnTelemetry from "./turnTelemetry.ts"
import * as Watchdog from "./watchdog.ts"

/** A turn's `Result` event. */
export type ResultEvent = Extract<ClaudeEvent, { readonly _tag: "Result" }>

/** `prompt` for a user's prompt, `command` for a slash command of `command`, `reset` for the `/clear` of `reset`. */
export type TurnKind = "prompt" | "reset" | "command"

interface Turn extends Watchdog.Watched {
  readonly number: number
  readonly kind: TurnKind
  readonly events: Queue.Queue<ClaudeEvent, ClaudeError.ClaudeError | Cause.Done>
  /** Done when the turn has ended, however it ended. */
  readonly ended: Deferred.Deferred<void>
  /** The process it runs on: the live one when it claimed the session. */
  target: Generation | undefined
  /** The prompt was handed to the CLI's stdin: from here on the turn ends with a result or the process. */
  sent: boolean
  /** Its end is being recorded, or was: it ends once. */
  over: boolean
  sawEvent: boolean
  firstEventAt: number | undefined
  result: ResultEvent | undefined
  /** The `Claude.turn` span, and the tracer it was made with (its children are made with it too). */
  readonly span: Tracer.Span | undefined
  readonly tracer: Tracer.Tracer
  /** `Claude.tool_use` spans of tool calls without a result yet, by tool use id. */
  readonly tools: Map<string, Tracer.Span>
  /**
   * Messages added to the turn (`inject`) and not answered yet, by uuid: `queued` until the CLI takes one
   * up (its `command_lifecycle` says `started`), after which the next result answers it.
   */
  readonly injected: Map<string, "queued" | "started">
}

const PROMPT_ATTRIBUTE_CHARS = 8 * 1024

/** A prompt's text for the span: text blocks joined, other blocks by their type, at most 8 KiB. */
const promptText = (prompt: Protocol.UserContent): string => {
  const text = typeof prompt === "string"
    ? prompt
    : prompt.map((block) => (Protocol.isTextBlock(block) ? block.text : `[${block.type}]`)).join("\n")
  return text.length > PROMPT_ATTRIBUTE_CHARS ? `${text.slice(0, PROMPT_ATTRIBUTE_CHARS)}…` : text
}

/** The user frame as the debug log shows it without `tracePrompts`: its size, not its content. */
const elidedUserMessage = (prompt: Protocol.UserContent) => ({
  type: "user",
  message: {
    role: "user",
    content: `[prompt left out: ${prompt.length} ${typeof prompt === "string" ? "characters" : "content blocks"}]`
  }
})

/** What the turns need of the session. */
export interface Wiring {
  readonly owner: State.Owner
  readonly conversation: Conversation
  readonly processes: Processes
  readonly control: ControlChannel
  /** The CLI's own work between our turns. */
  readonly cliWork: Background
  readonly telemetry: Telemetry
  readonly recorder: Recorder
  /** Fail-fasts run here, never in the reader (which they wait on). */
  readonly background: FiberSet.FiberSet
  readonly stop: (why: string) => Effect.Effect<void>
  readonly fail: (reason: ClaudeError.Reason) => ClaudeError.ClaudeError
  /** A session error as the caller gets it: with the session's debug log. */
  readonly withLog: (error: ClaudeError.ClaudeError) => Effect.Effect<ClaudeError.ClaudeError>
  readonly deadlines: Watchdog.Deadlines
  readonly controlTimeout: Duration.Duration
  /** How long a turn waits for a replacement of a process that died. */
  readonly replacementWait: Duration.Duration
  readonly tracePrompts: boolean
}

/** One session's turns. */
export interface Turns {
  /** Runs one turn; the stream ends after its `Result` event, or fails with its error. */
  readonly run: (prompt: Protocol.UserContent, kind: TurnKind) => Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError>
  /** Adds a message to the running turn; fails when none runs. */
  readonly inject: (prompt: Protocol.UserContent) => Effect.Effect<void, ClaudeError.ClaudeError>
  /** Routes one event of the reader: to the control channel, the conversation, the running turn. */
  readonly route: (event: ClaudeEvent) => Effect.Effect<void>
  /** Ends the running turn, if any, with `error`. */
  readonly endCurrent: (error: ClaudeError.ClaudeError) => Effect.Effect<void>
  /** The running turn: the control requests made during it hang under its span. */
  readonly current: () => ControlTurn | undefined
  /** The system/api_retry frames of the running (or last) turn. */
  readonly apiRetries: ReadonlyArray<Protocol.SystemApiRetry>
  /** While a turn runs: its last sign of life (Clock millis), or now while the host decides. */
  readonly lastEventAt: Effect.Effect<Option.Option<number>>
}

/** The turns of one session; one runs at a time (a permit of one). */
export const make = (wiring: Wiring): Effect.Effect<Turns> =>
  Effect.map(Semaphore.make(1), (permit) => {
    const { owner, conversation, processes, control, cliWork, telemetry, recorder, fail, stop, tracePrompts } = wiring
    let current: Turn | undefined
    const apiRetries: Array<Protocol.SystemApiRetry> = []
    const settle = owner.apply(State.settle)

    // The one place a turn's metrics are recorded, and its span annotated: when it ends, however it ends.
    const record = (turn: Turn, error: ClaudeError.ClaudeError | undefined) =>
      Effect.gen(function*() {
        const endedAt = telemetry.now()
        const spend = TurnTelemetry.spendOf(turn.result, conversation.cost)
        if (spend.totalCostUsd !== undefined) conversation.cost = spend.totalCostUsd
        const outcome = error === undefined && turn.result !== undefined ? "success" : "failure"
        const ending: TurnTelemetry.Ending = {
          outcome,
          reason: error !== undefined ? error.reason._tag : turn.result !== undefined ? "none" : "Interrupted",
          sessionId: conversation.sessionId,
          model: conversation.model,
          spend,
          result: turn.result
        }
        if (turn.span !== undefined) TurnTelemetry.annotate(turn.span, ending)
        // Tool calls still open end with the turn.
        if (turn.tools.size > 0) {
          const endTime = yield* Clock.currentTimeNanos
          const exit = error === undefined ? Exit.void : Exit.fail(error)
          for (const toolSpan of turn.tools.values()) toolSpan.end(endTime, exit)
          turn.tools.clear()
        }
        yield* telemetry.note("turnEnded", outcome === "success" ? "success" : `failure: ${ending.reason}`)
        // `/clear` is bookkeeping, not a turn of a conversation; its result resets the conversation's cost.
        if (turn.kind === "reset") return
        yield* TurnTelemetry.record(ending, { startedAt: turn.startedAt, endedAt, firstEventAt: turn.firstEventAt })
      })

    // Ends a turn once: whoever gets here first records it and ends its stream.
    const end = (turn: Turn, outcome: ClaudeError.ClaudeError | undefined) =>
      Effect.suspend(() => {
        if (current === turn) current = undefined
        if (turn.over) return Effect.void
        turn.over = true
        return record(turn, outcome).pipe(
          Effect.andThen(outcome === undefined ? Queue.end(turn.events) : Queue.fail(turn.events, outcome)),
          Effect.andThen(Deferred.done(turn.ended, Exit.void)),
          Effect.uninterruptible
        )
      })

    // A stalled turn fails with Timeout and takes the process down with it: it is never reused. The
    // process is stopped first, the turn failed after: when the turn's stream fails (and `ask` returns),
    // the process has exited. The turn is detached before the ladder starts, so the reader, seeing stdout
    // end, does not fail it with the exit's reason instead of the Timeout (nor deliver what the process
    // writes meanwhile: the turn returns what arrived before its deadline). A turn that already ended
    // (its process died, say) is left alone.
    const expire = (turn: Turn) => (kind: ClaudeError.TimeoutKind, durationMs: number) =>
      Effect.suspend(() => {
        if (current !== turn) return Effect.void
        current = undefined
        return Effect.andThen(stop(`${kind} timeout`), end(turn, fail(new ClaudeError.Timeout({ kind, durationMs }))))
      }).pipe(Effect.uninterruptible)

    // The consumer of a turn's stream left while the turn still runs. The CLI is told to stop the turn, and
    // the session waits for its end (its result), so that it is Idle again and the next turn never receives
    // this one's frames: the next turn waits for the turn permit this holds. All of it within the control
    // timeout; a CLI that does not comply is stopped (the session is Failed, never reused).
    const abandon = (turn: Turn) =>
      Effect.suspend(() => {
        if (current !== turn) return Effect.void
        if (!turn.sent) {
          // Nothing reached the CLI: there is no turn to stop.
          current = undefined
          return Effect.andThen(settle, end(turn, undefined))
        }
        return control.send("interrupt", undefined, wiring.controlTimeout, "control", turn).pipe(
          Effect.andThen(Deferred.await(turn.ended)),
          Effect.timeoutOption(wiring.controlTimeout),
          Effect.ignore,
          Effect.andThen(
            Effect.suspend(() => (current === turn ? stop("an abandoned turn did not end") : Effect.void))
          ),
          Effect.withSpan("Session.abandonTurn")
        )
      })

    // F12: the CLI retries a refused credential for minutes. The turn was detached from the reader; the CLI
    // is told to stop the turn (the interrupt also cuts its wait before the next attempt short, which stdin
    // EOF alone does not), then stopped with the ladder, which takes milliseconds once the turn is over;
    // then the turn fails. Uninterruptible and bounded (control timeout, then the ladder's graces).
    const failFast = (turn: Turn, reason: ClaudeError.Reason) =>
      Effect.gen(function*() {
        yield* owner.apply(State.fail)
        yield* Effect.ignore(control.send("interrupt", undefined, wiring.controlTimeout, "control", current))
        yield* stop(`fail-fast: ${reason._tag}`)
        yield* end(turn, fail(reason))
      }).pipe(Effect.uninterruptible, Effect.withSpan("Session.failFast", { attributes: { reason: reason._tag } }))

    // A handler of the host answered: the running turn (the one running now) showed a sign of life.
    const hostAnswered = (now: number) => {
      if (current !== undefined) current.lastEventAt = now
    }

    const route = (event: ClaudeEvent): Effect.Effect<void> => {
      recorder.frame("frame" in event ? event.frame : event, "in", telemetry.now())
      const turn = current
      const observed = cliWork.observe(event, turn !== undefined)
      if (isHostOnlyFrame(event)) return observed
      const delivered = turn === undefined
        ? Effect.void
        : Effect.flatMap(Clock.currentTimeMillis, (now) => {
          turn.lastEventAt = now
          if (!turn.sawEvent) {
            turn.sawEvent = true
            turn.firstEventAt = now
          }
          // The consumer gets the event in this step, not one scheduler tick later (see StdinWriter).
          return Effect.tap(Queue.offer(turn.events, event), Queue.flush(turn.events))
        })
      const deliver = observed === Effect.void ? delivered : Effect.andThen(delivered, observed)
      switch (event._tag) {
        case "ControlRequest":
          return Effect.andThen(control.serve(event.frame, turn, hostAnswered), deliver)
        case "Frame": {
          const frame = event.frame
          if (frame.type === "control_cancel_request") {
            return Effect.andThen(control.withdraw(frame.request_id), deliver)
          }
          if (frame.type === "control_response") return control.answered(frame)
          return deliver
        }
        case "CommandLifecycle":
          if (turn?.injected.has(event.commandUuid) === true) {
            if (event.state === "started") turn.injected.set(event.commandUuid, "started")
            if (event.state === "completed") turn.injected.delete(event.commandUuid)
          }
          return deliver
        case "SessionStarted":
          conversation.joined(event.sessionId, event.model)
          if (turn?.span !== undefined) {
            turn.span.attribute("claude.session_id", event.sessionId)
            if (event.model !== undefined) turn.span.attribute("claude.model", event.model)
          }
          return deliver
        case "ToolUse": {
          const span = turn?.span
          if (turn === undefined || span === undefined) return deliver
          // A subagent's tool calls nest under the tool call that started the subagent.
          const parent = (event.parentToolUseId === null ? undefined : turn.tools.get(event.parentToolUseId)) ?? span
          return Effect.makeSpan("Claude.tool_use", {
            parent,
            attributes: { "claude.tool.name": event.name, "claude.tool.use_id": event.id }
          }).pipe(
            Effect.provideService(Tracer.Tracer, turn.tracer),
            Effect.flatMap((toolSpan) => {
              turn.tools.set(event.id, toolSpan)
              return deliver
            })
          )
        }
        case "ToolResult": {
          const toolSpan = turn?.tools.get(event.toolUseId)
          if (turn === undefined || toolSpan === undefined) return deliver
          turn.tools.delete(event.toolUseId)
          toolSpan.attribute("claude.tool.is_error", event.isError)
          return Effect.flatMap(Clock.currentTimeNanos, (endTime) => {
            toolSpan.end(endTime, Exit.void)
            return deliver
          })
        }
        case "ApiRetry": {
          apiRetries.push(event.frame)
          const refused = TurnOutcome.fromApiRetry(event.frame)
          if (refused === undefined || turn === undefined) return deliver
          // The caller sees the retry frame, then the failure; nothing after it.
          current = undefined
          return Effect.andThen(deliver, Effect.asVoid(FiberSet.run(wiring.background, failFast(turn, refused))))
        }
        case "Result":
          conversation.joined(event.sessionId)
          // The result of a turn the CLI ran on its own goes where the rest of that turn went.
          if (turn === undefined) return deliver
          turn.result = event
          // A message added to the turn and not taken up yet: the CLI answers it next, in this turn.
          for (const [uuid, progress] of turn.injected) if (progress === "started") turn.injected.delete(uuid)
          if (turn.injected.size > 0 && event.error === undefined) return deliver
          // Idle first, then the result and the end of the stream: whoever the end of the stream wakes up
          // (`ask` returning, a pool taking the session back) finds the session ready for the next turn.
          current = undefined
          return Effect.andThen(
            settle,
            Effect.andThen(deliver, end(turn, event.error === undefined ? undefined : fail(event.error)))
          )
        default:
          return deliver
      }
    }

    const makeTurn = (kind: TurnKind) =>
      Effect.gen(function*() {
        const startedAt = yield* Clock.currentTimeMillis
        const turn: Turn = {
          number: conversation.turns + 1,
          kind,
          events: yield* Queue.unbounded<ClaudeEvent, ClaudeError.ClaudeError | Cause.Done>(),
          ended: yield* Deferred.make<void>(),
          target: undefined,
          sent: false,
          over: false,
          startedAt,
          lastEventAt: startedAt,
          sawEvent: false,
          firstEventAt: undefined,
          result: undefined,
          // The `Claude.turn` span this runs in; the turn's tool calls and control requests become its children.
          span: Option.getOrUndefined(yield* Effect.option(Effect.currentSpan)),
          tracer: yield* Tracer.Tracer,
          tools: new Map(),
          injected: new Map()
        }
        // Runs after the watchdog is stopped and before the turn permit is released (finalizers run in
        // reverse); a turn that never became current leaves it a no-op.
        yield* Effect.addFinalizer(() => abandon(turn))
        return turn
      })

    // The turn becomes current in the same step as the session becomes Running: a process that dies
    // meanwhile either finds it running (and fails it), or Starting (and the turn waits for its replacement).
    // A prompt written while the CLI runs a turn of its own would join that turn: the claim waits for its end,
    // decided in the same step as the claim, so no turn of the CLI's can start in between.
    const claim = (turn: Turn) =>
      owner.apply((state): readonly [State.Claim | typeof cliBusy, State.State] => {
        if (state === "Idle" && cliWork.work().ownTurn) return [cliBusy, state]
        const [verdict, next] = State.claim(state)
        if (verdict._tag === "Claimed") {
          current = turn
          conversation.turns = turn.number
          apiRetries.length = 0
          turn.target = processes.live
        }
        return [verdict, next]
      })

    // A turn asked for while a dead CLI is being replaced waits for the replacement, bounded by the start-up
    // deadline and the shutdown ladder of the one before, for each replacement the session may make.
    const replaced = owner.started.pipe(
      Effect.timeoutOrElse({
        duration: wiring.replacementWait,
        orElse: () =>
          Effect.fail(
            fail(new ClaudeError.Timeout({ kind: "startup", durationMs: Duration.toMillis(wiring.replacementWait) }))
          )
      })
    )

    const cliBusy = { _tag: "CliBusy" } as const
    // Until the CLI's own turn is over, or the session is no longer Idle (its process died, it closed): then
    // the claim is decided again.
    const leftIdle = SubscriptionRef.changes(owner.ref).pipe(Stream.filter((state) => state !== "Idle"), Stream.runHead)
    const ownTurnOver = Effect.raceFirst(cliWork.ownTurnOver, leftIdle).pipe(
      Effect.timeoutOrElse({
        duration: Duration.millis(wiring.deadlines.turn),
        orElse: () => Effect.fail(fail(new ClaudeError.Timeout({ kind: "turn", durationMs: wiring.deadlines.turn })))
      }),
      Effect.withSpan("Session.awaitCliTurn")
    )

    const begin = (kind: TurnKind): Effect.Effect<Turn, ClaudeError.ClaudeError, Scope.Scope> =>
      Effect.gen(function*() {
        for (;;) {
          const turn = yield* makeTurn(kind)
          const verdict = yield* claim(turn)
          if (verdict._tag === "Claimed") return turn
          if (verdict._tag === "CliBusy") {
            yield* ownTurnOver
            continue
          }
          if (verdict._tag === "Refused") {
            return yield* Effect.fail(
              fail(new ClaudeError.ProtocolError({ detail: `the session is ${verdict.state}` }))
            )
          }
          yield* replaced
        }
      })

    const run = (prompt: Protocol.UserContent, kind: TurnKind): Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError> =>
      Effect.gen(function*() {
        // The turn's span ends with the stream's scope, with its exit. Opened here rather than by
        // `Stream.withSpan`, whose channel wrapper cost ~0.1 ms on the way to the prompt (turn.overhead.host).
        const span = yield* Effect.makeSpanScoped("Claude.turn")
        return yield* Effect.withParentSpan(start(prompt, kind), span, { captureStackTrace: false })
      }).pipe(
        telemetry.withLogContext,
        Stream.unwrap,
        Stream.catch((error) => Stream.fromEffect(Effect.flatMap(wiring.withLog(error), Effect.fail)))
      )

    const start = (prompt: Protocol.UserContent, kind: TurnKind) =>
      Effect.gen(function*() {
        yield* Effect.acquireRelease(permit.take(1), () => permit.release(1))
        const turn = yield* begin(kind)
        if (turn.span !== undefined) {
          turn.span.attribute("claude.turn", turn.number)
          turn.span.attribute("claude.turn.kind", kind)
          if (processes.pid !== 0) turn.span.attribute("claude.pid", processes.pid)
          if (conversation.sessionId !== undefined) turn.span.attribute("claude.session_id", conversation.sessionId)
          if (conversation.model !== undefined) turn.span.attribute("claude.model", conversation.model)
          if (tracePrompts) turn.span.attribute("claude.prompt", promptText(prompt))
        }
        yield* telemetry.note("turnStarted", kind === "reset" ? "/clear" : undefined)
        const message = Protocol.userMessage(prompt)
        yield* processes.write(message, tracePrompts ? message : elidedUserMessage(prompt), turn.target)
        turn.sent = true
        const watchdog = yield* Effect.forkScoped(Watchdog.watch(wiring.deadlines, turn, {
          watching: () => current === turn,
          hostBusy: control.hostBusy,
          expire: expire(turn)
        }))
        yield* Effect.addFinalizer(() => Fiber.interrupt(watchdog))
        return Stream.fromQueue(turn.events)
      })

    // A message added to the running turn: the CLI hands it to the model within the turn (`priority: next`),
    // and reports when it answered it (`command_lifecycle` of its uuid), after which a result ends the turn.
    const inject = (prompt: Protocol.UserContent) =>
      Effect.suspend(() => {
        const turn = current
        if (turn === undefined || !turn.sent) {
          return Effect.fail(
            fail(
              new ClaudeError.ProtocolError({ detail: "no turn is running to add the message to: send it as a turn" })
            )
          )
        }
        const uuid = crypto.randomUUID()
        const message = Protocol.userMessage(prompt, { uuid, priority: "next" })
        turn.injected.set(uuid, "queued")
        return processes.write(message, tracePrompts ? message : elidedUserMessage(prompt), turn.target).pipe(
          Effect.flatMap((written) => {
            if (written) return Effect.void
            turn.injected.delete(uuid)
            return Effect.fail(fail(new ClaudeError.ProtocolError({ detail: "the CLI's stdin is closed" })))
          })
        )
      })

    return {
      run,
      route,
      inject,
      endCurrent: (error) => Effect.suspend(() => (current === undefined ? Effect.void : end(current, error))),
      current: () => current,
      apiRetries,
      lastEventAt: Effect.suspend(() => {
        if (current === undefined) return Effect.succeedNone
        const { lastEventAt } = current
        return control.hostBusy() ? Effect.map(Clock.currentTimeMillis, Option.some) : Effect.succeedSome(lastEventAt)
      })
    }
  })

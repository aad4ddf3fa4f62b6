/**
 * One conversation on one long-lived CLI process, over the stream-json control
 * protocol: turns are serialised, every control request the CLI sends is
 * answered exactly once (permission callback, hook handlers, or a refusal),
 * between turns too, unless the CLI withdraws it (`control_cancel_request`),
 * our own requests (`interrupt`, `setModel`, `setPermissionMode`) have
 * deadlines, and every turn is watched by first-event, idle and whole-turn
 * deadlines. A session whose turn timed out is `Failed` and never runs
 * another turn.
 *
 * Two failures are handled for the caller:
 *
 * - **Fail fast (F12).** At the first `system/api_retry` for a 401 or 403 the
 *   turn fails with `AuthenticationFailed` / `PermissionRefused` and the CLI
 *   is stopped, instead of waiting out the CLI's own retries (about 150 s).
 * - **Crash recovery.** A CLI that dies (a signal, the OOM killer, an exit of
 *   its own) is replaced by a new process that resumes the conversation
 *   (`--resume <session id>`), at most `restart.maxRestarts` times within
 *   `restart.window`, then the session is `Failed`. The turn that was running
 *   fails with `ProcessCrashed` / `ProcessExited` (`ResourceLimitExceeded`
 *   when the ProcessManager stopped it for one of `options.limits`): whether
 *   to run it again is the caller's decision (a tool may already have run).
 *
 * ## Observability
 *
 * **Spans.** Names and attributes are stable. No span carries prompt text unless `tracePrompts` is set, and
 * none ever carries a credential (credentials never reach a session).
 *
 * - `Claude.turn`: one per turn, around the stream of `send` (so also `ask`, `command`, and the `/clear` of
 *   `reset`). Attributes: `claude.turn` (the turn's 1-based number in the session), `claude.turn.kind`
 *   (`prompt`, `command` for a slash command of `command`, or `reset` for the `/clear` of `reset`), `claude.pid`, `claude.session_id` and `claude.model` (as the turn's
 *   `system/init` reports them), `claude.outcome` (`success` / `failure`), `claude.reason` (the `ClaudeError`
 *   reason tag of a failed turn), `claude.input_tokens`, `claude.output_tokens`,
 *   `claude.cache_read_input_tokens`, `claude.cache_creation_input_tokens` (the turn's `usage`),
 *   `claude.cost_usd` (the turn's cost), `claude.total_cost_usd` (the conversation's), `claude.num_turns`,
 *   `claude.duration_api_ms`, and with `tracePrompts: true` `claude.prompt` (the prompt's text; images as
 *   `[image]`; at most 8 KiB). A failed turn's span ends with its `ClaudeError`.
 * - `Claude.tool_use`: one per tool call, from its `ToolUse` event to its `ToolResult`, a child of the turn
 *   (or of the tool call that started it: a subagent's tools nest under its `Task`). Attributes:
 *   `claude.tool.name`, `claude.tool.use_id`, `claude.tool.is_error`. A tool call without a result when the
 *   turn ends ends with the turn.
 * - `Claude.control_request`: one per control request served (`claude.control.direction: "incoming"`: a
 *   permission request, a hook callback, ...) or sent (`"outgoing"`: `initialize`, `interrupt`,
 *   `set_model`, ...). Attributes: `claude.control.subtype`, `claude.control.request_id`; a permission
 *   request also `claude.tool.name`, `claude.tool.use_id` and `claude.permission.behavior` (`allow` / `deny`).
 *   A child of the tool call it is about, else of the running turn, else of the caller's span.
 * - Also `Session.initialize`, `Session.reset`, `Session.respawn`, `Session.failFast`, `Session.abandonTurn`,
 *   and one per method call (`Session.ask`, `Session.request`, `Session.interrupt`, `Session.setModel`,
 *   `Session.setPermissionMode`).
 *
 * **Metrics** (see `Metrics`): the turn metrics are recorded here, once per turn when it ends
 * (`claude_turns_total`, `claude_turn_duration_seconds`, `claude_time_to_first_event_seconds`, tokens and
 * cost by model; the `/clear` of `reset` is not counted as a turn), and so are process starts and
 * replacements (`claude_process_spawns_total`, `claude_process_spawn_failures_total`,
 * `claude_process_restarts_total`).
 *
 * **Debug log.** `session.debugLog` returns what the session knows about itself (lifecycle, the last frames
 * both ways, the CLI's stderr tail and, with `debug: true`, the tail of the CLI's `--debug-file`), and a
 * `ClaudeError` from a session carries it as it was (`DebugLog.of`): see the `DebugLog` module.
 *
 * **Logs** go through Effect's `Logger`, annotated with `sessionId` (once known), `pid` and `turn`: lifecycle
 * at `Debug` (not printed by default), a CLI that died and its replacement at `Warning`.
 *
 * @since 0.1.0
 */
import {
  Clock,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberMap,
  FiberSet,
  Metric,
  Option,
  Predicate,
  Queue,
  Schema,
  Scope,
  Semaphore,
  Stream,
  SubscriptionRef,
  Tracer
} from "effect"
import * as Cause from "effect/Cause"
import * as ClaudeError from "./ClaudeError.ts"
import type { ClaudeEvent } from "./ClaudeEvent.ts"
import * as ClaudeOptions from "./ClaudeOptions.ts"
import { defaultControlAnswer } from "./internal/controlAnswers.ts"
import * as DebugLog from "./DebugLog.ts"
import { attached, makeTempDir, readTail, Recorder, redactSecrets, removeDir } from "./internal/debugLog.ts"
import { promptIssues, validateSessionConfig } from "./internal/validation.ts"
import { seriesBy } from "./internal/metricSeries.ts"
import * as SlashCommands from "./internal/slashCommands.ts"
import * as TurnTelemetry from "./internal/turnTelemetry.ts"
import * as Metrics from "./Metrics.ts"
import * as ProcessManager from "./ProcessManager.ts"
import * as Protocol from "./Protocol.ts"
import * as StreamHandler from "./StreamHandler.ts"
import * as TurnOutcome from "./TurnOutcome.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type State = "Starting" | "Idle" | "Running" | "Closed" | "Failed"

/**
 * What the CLI asks before it runs a tool (with `--permission-prompt-tool stdio`).
 *
 * @since 0.1.0
 * @category permissions
 */
export interface PermissionRequest {
  readonly toolName: string
  readonly input: unknown
  readonly toolUseId: string | undefined
  readonly request: Protocol.ControlRequest["request"]
}

/**
 * The answer to a {@link PermissionRequest}.
 *
 * @since 0.1.0
 * @category permissions
 */
export type PermissionDecision =
  | { readonly behavior: "allow"; readonly updatedInput?: unknown }
  | { readonly behavior: "deny"; readonly message: string }

/**
 * A hook handler: gets the hook's input, returns the hook's output (`{ continue: true }` to carry on).
 *
 * @since 0.1.0
 * @category hooks
 */
export interface HookHandler {
  /** A tool-name matcher, as in Claude Code settings (`"Bash"`, `"Edit|Write"`); all tools when absent. */
  readonly matcher?: string
  readonly handle: (input: unknown) => Effect.Effect<unknown>
}

/**
 * @since 0.1.0
 * @category models
 */
export type HookEvent = "PreToolUse" | "PostToolUse" | "UserPromptSubmit" | "Stop" | "Notification"

/**
 * How a session replaces a CLI that died: at most `maxRestarts` replacements within any `window` of time
 * (on the Effect `Clock`); one more death makes the session `Failed`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Restart {
  /** Replacements allowed within `window`. `0` turns crash recovery off. Default 3. */
  readonly maxRestarts?: number | undefined
  /** Default 1 minute. */
  readonly window?: Duration.Input | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultRestart = { maxRestarts: 3, window: Duration.minutes(1) } as const

/**
 * Checked with Schema when the session starts, before anything is spawned: a key that is not one of these
 * (at any level, `options` included), or a value of the wrong kind, fails with `InvalidOptions` naming each.
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  readonly options?: ClaudeOptions.Input | undefined
  /**
   * Decides tool permissions. Without it the CLI is started without
   * `--permission-prompt-tool stdio`, so anything that needs approval (beyond
   * `allowedTools` and the permission mode) is denied.
   */
  readonly canUseTool?: ((request: PermissionRequest) => Effect.Effect<PermissionDecision>) | undefined
  readonly hooks?: Partial<Record<HookEvent, ReadonlyArray<HookHandler>>> | undefined
  /** Deadline for our own control requests. Default 10 s. */
  readonly controlTimeout?: Duration.Input | undefined
  /** Crash recovery: see {@link Restart} and {@link defaultRestart}. */
  readonly restart?: Restart | undefined
  /**
   * Puts the prompt's text on the `Claude.turn` span (`claude.prompt`) and in the debug log's frames.
   * Default `false`: prompts stay out of traces and debug logs.
   */
  readonly tracePrompts?: boolean | undefined
  /**
   * Debug mode: the CLI also writes its own debug log (`--debug-file`) into a temp dir of the session's,
   * removed when the session closes; its tail is in {@link DebugLog} `debugFileTail`. Default `false`.
   */
  readonly debug?: boolean | undefined
  /** How much the debug log keeps: see `DebugLog.Limits`. */
  readonly debugLog?: DebugLog.Limits | undefined
}

/**
 * What a slash command run with `session.command` gave back.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommandOutput {
  /** The command as sent, e.g. `/model opus`. */
  readonly command: string
  /** What the CLI answered (the turn's result text), e.g. "Set model to `Opus 5.5` for this session only". */
  readonly output: string
  /**
   * Whether the command may have changed the process (its model, effort, MCP servers, ...), or is not one
   * known to only report: a pooled process that ran such a command is retired, never lent again.
   */
  readonly changesProcess: boolean
  /** Every event of the command's turn, its `Result` last. */
  readonly events: ReadonlyArray<ClaudeEvent>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Session {
  /**
   * `Starting` while the CLI starts, and again while a CLI that died is replaced (then `Idle`, or `Failed`
   * when it could not be); `Idle` between turns; `Running` during one; `Failed` for good after a timeout,
   * a fail-fast, a failed reset or too many restarts; `Closed` once the scope closed.
   */
  readonly state: SubscriptionRef.SubscriptionRef<State>
  /** The CLI's current process id (for resource sampling); a replacement process has a new one. */
  readonly pid: number
  /** How many times a CLI that died was replaced. */
  readonly restarts: Effect.Effect<number>
  /** The CLI's session id, once a turn has started. */
  readonly sessionId: Effect.Effect<Option.Option<string>>
  /**
   * While a turn runs: when (Clock millis) it last showed a sign of life, its last event or its start, or
   * now while the host is deciding (a permission callback, a hook). None between turns. The
   * `HealthChecker` judges stalls by it.
   */
  readonly lastEventAt: Effect.Effect<Option.Option<number>>
  /**
   * Runs one turn; the stream ends after the turn's `Result` event (or fails with the turn's error).
   * While a CLI that died is being replaced, the turn waits for the replacement (bounded by the start-up
   * timeout) and then runs on it, in the same conversation.
   * A consumer that leaves early (`Stream.take`, an interrupted fiber) interrupts the turn: closing the
   * stream waits, within the control timeout, for the turn to end, so the session is Idle again; a CLI
   * that does not comply is stopped and the session is Failed. Closing the session's scope fails a
   * running turn with `Interrupted`. A prompt that is neither text nor content blocks fails the stream
   * with `InvalidPrompt` before anything is written.
   */
  readonly send: (prompt: Protocol.UserContent) => Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError>
  /** Runs one turn and returns its `Result` event. */
  readonly ask: (
    prompt: Protocol.UserContent
  ) => Effect.Effect<Extract<ClaudeEvent, { readonly _tag: "Result" }>, ClaudeError.ClaudeError>
  /**
   * Runs a slash command of the CLI (`command("model", "opus")` sends `/model opus`) as a turn, and returns
   * its output. The only way to run one: a prompt that the CLI would run as a command (its last block text
   * starting with `/name`) fails `send` and `ask` with `InvalidPrompt`, unsent. A command that writes
   * settings other CLIs read (`/config key=value`, `/autocompact <n>`, `/output-style <style>`,
   * `/auto-mode-setup`) fails with `CommandRefused`: set such things with the options instead. In a
   * `SessionPool` lease, a command that may change the process (anything but known reports such as
   * `/cost`, `/context`, `/model` without arguments) retires the process when the lease ends.
   */
  readonly command: (name: string, args?: string) => Effect.Effect<CommandOutput, ClaudeError.ClaudeError>
  /**
   * Starts a new conversation on the same process (`/clear`) and checks that
   * the reset took: a `conversation_reset` frame and a new session id, which it
   * returns. An unconfirmed reset fails the session, so the process is not reused.
   */
  readonly reset: Effect.Effect<string, ClaudeError.ClaudeError>
  readonly interrupt: Effect.Effect<void, ClaudeError.ClaudeError>
  readonly setModel: (model: string | undefined) => Effect.Effect<void, ClaudeError.ClaudeError>
  readonly setPermissionMode: (mode: ClaudeOptions.PermissionMode) => Effect.Effect<void, ClaudeError.ClaudeError>
  /** Sends any control request and returns the CLI's `response` payload. */
  readonly request: (
    subtype: string,
    payload?: Readonly<Record<string, unknown>>
  ) => Effect.Effect<unknown, ClaudeError.ClaudeError>
  /** What the session knows about itself, for debugging: see the `DebugLog` module. */
  readonly debugLog: Effect.Effect<DebugLog.DebugLog>
}

const isCanUseTool = Schema.is(Protocol.CanUseToolRequest)
const isHookCallback = Schema.is(Protocol.HookCallbackRequest)

type ResultEvent = Extract<ClaudeEvent, { readonly _tag: "Result" }>

type TurnKind = "prompt" | "reset" | "command"

interface Turn {
  readonly number: number
  readonly kind: TurnKind
  readonly events: Queue.Queue<ClaudeEvent, ClaudeError.ClaudeError | Cause.Done>
  /** Done when the turn has ended, however it ended (result, failure, timeout, exit, close). */
  readonly ended: Deferred.Deferred<void>
  /** The prompt was handed to the CLI's stdin: from here on the turn ends with a result or the process. */
  sent: boolean
  /** Its end is being recorded, or was: it ends once. */
  over: boolean
  readonly startedAt: number
  lastEventAt: number
  sawEvent: boolean
  firstEventAt: number | undefined
  result: ResultEvent | undefined
  /** The `Claude.turn` span, and the tracer it was made with (its children are made with it too). */
  readonly span: Tracer.Span | undefined
  readonly tracer: Tracer.Tracer
  /** `Claude.tool_use` spans of tool calls without a result yet, by tool use id. */
  readonly tools: Map<string, Tracer.Span>
}

const spawnsSeries = seriesBy(Metrics.spawnsTotal, "kind")
const spawnFailuresSeries = seriesBy(Metrics.spawnFailuresTotal, "reason")
const restartsSeries = seriesBy(Metrics.restartsTotal, "reason")

const PROMPT_ATTRIBUTE_CHARS = 8 * 1024

/** A prompt's text for the span: text blocks joined, other blocks by their type, at most 8 KiB. */
const promptText = (prompt: Protocol.UserContent): string => {
  const text = typeof prompt === "string"
    ? prompt
    : prompt.map((block) => (Protocol.isTextBlock(block) ? block.text : `[${block.type}]`)).join("\n")
  return text.length > PROMPT_ATTRIBUTE_CHARS ? `${text.slice(0, PROMPT_ATTRIBUTE_CHARS)}…` : text
}

const promptLength = (prompt: Protocol.UserContent): number =>
  typeof prompt === "string" ? prompt.length : prompt.length

/** The user frame as the debug log shows it without `tracePrompts`: its size, not its content. */
const elidedUserMessage = (prompt: Protocol.UserContent) => ({
  type: "user",
  message: {
    role: "user",
    content: typeof prompt === "string"
      ? `[prompt left out: ${promptLength(prompt)} characters]`
      : `[prompt left out: ${promptLength(prompt)} content blocks]`
  }
})

/** One CLI process of the session: the first, or a replacement of one that died. */
interface Generation {
  readonly proc: ProcessManager.CliProcess
  /** Holds the process and its reader; closing it runs the shutdown ladder. */
  readonly scope: Scope.Closeable
  /** `initialize` was answered: from here on its death is a crash to recover from. */
  ready: boolean
  /** Its stdout ended: the process is gone. */
  dead: boolean
}

/** What a replacement process resumes. */
type Conversation =
  /** No turn ran yet: the options as given (their `resume` / `continue`, if any). */
  | { readonly _tag: "AsConfigured" }
  /** A turn ran in this CLI session id. */
  | { readonly _tag: "Resume"; readonly sessionId: string }
  /** A verified reset started a conversation that has had no turn yet. */
  | { readonly _tag: "Fresh" }

interface RestartPolicy {
  readonly maxRestarts: number
  readonly windowMs: number
}

const restartPolicy = (restart: Restart | undefined): Effect.Effect<RestartPolicy, ClaudeError.ClaudeError> => {
  const maxRestarts = restart?.maxRestarts ?? defaultRestart.maxRestarts
  const window = restart?.window === undefined ? Option.some(defaultRestart.window) : Duration.fromInput(restart.window)
  const windowMs = Option.match(window, {
    onNone: () => Number.NaN,
    onSome: (duration) => (Duration.isFinite(duration) ? Duration.toMillis(duration) : Number.NaN)
  })
  const issues = [
    ...(Number.isInteger(maxRestarts) && maxRestarts >= 0 ? [] : ["restart.maxRestarts must be a non-negative integer"]),
    ...(windowMs > 0 ? [] : ["restart.window must be a positive, finite duration"])
  ]
  return issues.length === 0
    ? Effect.succeed({ maxRestarts, windowMs })
    : ClaudeError.fail(new ClaudeError.InvalidOptions({ issues: issues.join("; ") }))
}

/**
 * Starts a session: spawns the CLI, sends `initialize`, and waits until it is ready.
 * Closing the scope stops the process with the shutdown ladder.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(config: Config = {}) {
  const processes = yield* ProcessManager.ProcessManager
  const options = yield* validateSessionConfig(config)
  const restart = yield* restartPolicy(config.restart)
  const controlTimeout = Duration.fromInputUnsafe(config.controlTimeout ?? Duration.seconds(10))
  const startupTimeout = ClaudeOptions.timeout(options, "startup")
  const state = yield* SubscriptionRef.make<State>("Starting")
  const clock = yield* Clock.Clock
  // Environment additions that options map to (`maxApiRetries`) travel in the spawned options' `env`.
  const spawnOptions: ClaudeOptions.ClaudeOptions = { ...options, env: ClaudeOptions.toEnv(options) }
  const permissionPromptTool = config.canUseTool !== undefined
  const tracePrompts = config.tracePrompts === true
  const recorder = new Recorder(config.debugLog, DebugLog.defaultLimits)
  const debugFileBytes = Math.max(0, config.debugLog?.debugFileBytes ?? DebugLog.defaultLimits.debugFileBytes)
  // Debug mode: one `--debug-file` for every process of the session (the CLI appends to it), in a temp dir
  // that outlives the processes: it is removed after they are stopped (finalizers run in reverse order).
  const debugDir = config.debug === true
    ? yield* Effect.acquireRelease(
      Effect.sync(() => makeTempDir("effect-claude-code-debug-")),
      (dir) => (dir === undefined ? Effect.void : Effect.sync(() => removeDir(dir)))
    )
    : undefined
  if (config.debug === true && debugDir === undefined) {
    return yield* ClaudeError.fail(new ClaudeError.InvalidOptions({ issues: "debug: could not create a temp dir for the CLI's debug log" }))
  }
  const debugFile = debugDir === undefined ? undefined : `${debugDir}/cli-debug.log`
  const debugArgs: ReadonlyArray<string> = debugFile === undefined ? [] : [`--debug-file=${debugFile}`]

  let sessionId: string | undefined
  let conversation: Conversation = { _tag: "AsConfigured" }
  let turnNumber = 0
  let current: Turn | undefined
  let hostBusy = 0
  let nextRequest = 0
  let restarts = 0
  /** The process id of the live process: the newest one that became ready. */
  let livePid = 0
  /** When the replacements of the current window happened (Clock millis). */
  const restartedAt: Array<number> = []
  const pending = new Map<string, Deferred.Deferred<unknown, ClaudeError.ClaudeError>>()
  const apiRetries: Array<Protocol.SystemApiRetry> = []
  /** The newest process (the one being started, or the live one): where our frames go. */
  let newest: Generation | undefined
  /** Scopes of processes not yet stopped: closing the session closes them all. */
  const open = new Set<Scope.Closeable>()
  /** The model of the running (or last) turn, as the CLI reports it. */
  let model = options.model
  /**
   * The conversation's cost (`total_cost_usd`) as the CLI last reported it: a turn's cost is how much it
   * grew. `undefined` when not known: the first turn of a conversation resumed from elsewhere, whose cost
   * the CLI did not tell (`get_usage`), has no cost of its own on record.
   */
  let conversationCost: number | undefined = options.resume === undefined && options.continue !== true ? 0 : undefined

  const context = () => ({ sessionId, turn: turnNumber })
  const fail = (reason: ClaudeError.Reason) => ClaudeError.make(reason, context())
  const now = () => clock.currentTimeMillisUnsafe()
  const pidNow = () => newest?.proc.pid

  // Logs carry the session: annotated with what it is at the time of the log.
  const logAnnotations = (): Record<string, unknown> =>
    sessionId === undefined ? { pid: pidNow(), turn: turnNumber } : { sessionId, pid: pidNow(), turn: turnNumber }
  const withLogContext = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => Effect.annotateLogs(effect, logAnnotations()))

  // A lifecycle event: into the debug log (at once, in the same step as what it records), and logged (at
  // Debug, unless it is news: a CLI that died).
  const remember = (event: DebugLog.LifecycleEvent["event"], detail?: string) =>
    recorder.event({ at: now(), event, pid: pidNow(), turn: turnNumber, detail })
  const logLifecycle = (event: DebugLog.LifecycleEvent["event"], detail?: string, level: "Debug" | "Warn" = "Debug") =>
    Effect.suspend(() =>
      Effect.logWithLevel(level)(detail === undefined ? `session: ${event}` : `session: ${event}: ${detail}`).pipe(
        Effect.annotateLogs(logAnnotations())
      )
    )
  const note = (event: DebugLog.LifecycleEvent["event"], detail?: string, level: "Debug" | "Warn" = "Debug") =>
    Effect.suspend(() => {
      remember(event, detail)
      return logLifecycle(event, detail, level)
    })

  const write = (frame: unknown, recorded: unknown = frame) =>
    Effect.suspend(() => {
      if (newest === undefined) return Effect.succeed(false)
      recorder.frame(recorded, "out", now())
      return newest.proc.write(Protocol.encodeLine(frame))
    })

  const debugLog: Effect.Effect<DebugLog.DebugLog> = Effect.gen(function*() {
    const stderr = newest === undefined ? "" : yield* newest.proc.stderrTail
    const tail = debugFile === undefined ? undefined : readTail(debugFile, debugFileBytes)
    return {
      sessionId,
      state: yield* SubscriptionRef.get(state),
      pid: pidNow(),
      turns: turnNumber,
      restarts,
      lifecycle: recorder.lifecycle(),
      frames: recorder.frames(),
      stderrTail: redactSecrets(stderr),
      debugFile,
      debugFileTail: tail === undefined ? undefined : redactSecrets(tail)
    }
  })

  // The error reaches the caller with the debug log as it is now (once: the first to see it attaches it).
  const attach = (error: ClaudeError.ClaudeError): Effect.Effect<void> =>
    Effect.suspend(() =>
      attached.has(error) ? Effect.void : Effect.map(debugLog, (log) => {
        if (!attached.has(error)) attached.set(error, log)
      })
    )

  // Hook callbacks are registered in `initialize` under ids we map back to handlers.
  const hookHandlers = new Map<string, HookHandler>()
  const hooksConfig: Record<string, Array<{ matcher?: string; hookCallbackIds: Array<string> }>> = {}
  for (const [event, handlers] of Object.entries(config.hooks ?? {})) {
    hooksConfig[event] = (handlers ?? []).map((handler) => {
      const id = `hook_${hookHandlers.size}`
      hookHandlers.set(id, handler)
      return { ...(handler.matcher === undefined ? {} : { matcher: handler.matcher }), hookCallbackIds: [id] }
    })
  }

  const answer = (request: Protocol.ControlRequest): Effect.Effect<unknown> => {
    const { request: body, request_id: id } = request
    if (isCanUseTool(body) && config.canUseTool !== undefined) {
      return config.canUseTool({ toolName: body.tool_name, input: body.input, toolUseId: body.tool_use_id, request: body }).pipe(
        Effect.tap((decision) => Effect.annotateCurrentSpan("claude.permission.behavior", decision.behavior)),
        Effect.map((decision) =>
          Protocol.controlSuccess(
            id,
            decision.behavior === "allow"
              ? { behavior: "allow", updatedInput: decision.updatedInput ?? body.input }
              : decision
          )
        )
      )
    }
    const handler = isHookCallback(body) ? hookHandlers.get(body.callback_id) : undefined
    if (handler !== undefined && isHookCallback(body)) {
      return handler.handle(body.input).pipe(Effect.map((output) => Protocol.controlSuccess(id, output)))
    }
    return Effect.succeed(defaultControlAnswer(request))
  }

  // Each incoming request is served on its own fiber, concurrently with our pending ones, and answered
  // exactly once, whatever its handler does, unless the CLI withdraws it first (`control_cancel_request`):
  // then its fiber is interrupted, and no answer is written. The fibers are kept by request id; closing
  // the session's scope interrupts those still running, and so does the death of the process that asked.
  const serving = yield* FiberMap.make<string>()

  // The span a control request's span hangs under: the tool call it is about, else the running turn (both
  // made with the turn's tracer), else the caller's.
  const underTurn = <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    name: string,
    attributes: Record<string, unknown>,
    toolUseId?: string | undefined
  ): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      const turn = current
      if (turn === undefined) return Effect.withSpan(effect, name, { attributes })
      const parent = (toolUseId === undefined ? undefined : turn.tools.get(toolUseId)) ?? turn.span
      return effect.pipe(
        Effect.withSpan(name, parent === undefined ? { attributes } : { attributes, parent }),
        Effect.provideService(Tracer.Tracer, turn.tracer)
      )
    })

  const controlAttributes = (direction: "incoming" | "outgoing", requestId: string, body: { readonly subtype: string }) => {
    const attributes: Record<string, unknown> = {
      "claude.control.subtype": body.subtype,
      "claude.control.direction": direction,
      "claude.control.request_id": requestId
    }
    if (isCanUseTool(body)) {
      attributes["claude.tool.name"] = body.tool_name
      if (body.tool_use_id !== undefined) attributes["claude.tool.use_id"] = body.tool_use_id
    }
    return attributes
  }

  const serve = (request: Protocol.ControlRequest) =>
    FiberMap.run(
      serving,
      request.request_id,
      Effect.acquireUseRelease(
        // Time spent on the host's handler is not the CLI's silence: the watchdog pauses meanwhile.
        Effect.sync(() => {
          hostBusy++
        }),
        () =>
          answer(request).pipe(
            // Failures and defects of the handler get an error answer; an interruption (a withdrawn
            // request, a closing session) is not caught, so nothing is written for it.
            Effect.catchCause(() =>
              Effect.succeed(Protocol.controlError(request.request_id, "the host's handler failed"))
            ),
            Effect.flatMap(write)
          ),
        () =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            hostBusy--
            if (current !== undefined) current.lastEventAt = now
          })
      ).pipe(
        (served) =>
          underTurn(
            served,
            "Claude.control_request",
            controlAttributes("incoming", request.request_id, request.request),
            isCanUseTool(request.request) ? request.request.tool_use_id : undefined
          ),
        withLogContext
      )
    )

  // The CLI withdrew a request of its own (it was interrupted while the host decided): stop serving it.
  // Waits until the handler's fiber has ended, so the watchdog counts the CLI's silence again from here.
  const withdraw = (requestId: string) => FiberMap.remove(serving, requestId)

  // Processes still open when the session closes get the shutdown ladder (after the finalizer below).
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => Effect.forEach([...open], (scope) => Scope.close(scope, Exit.void), { discard: true }))
  )

  // Fail-fasts and replacements of dead processes run here, never in the reader of a process (which
  // they may have to wait on, or whose scope they close).
  const background = yield* FiberSet.make()

  // The one place a turn's metrics are recorded, and its span annotated: when it ends, however it ends.
  const recordTurn = (turn: Turn, error: ClaudeError.ClaudeError | undefined) =>
    Effect.gen(function*() {
      const endedAt = now()
      const spend = TurnTelemetry.spendOf(turn.result, conversationCost)
      if (spend.totalCostUsd !== undefined) conversationCost = spend.totalCostUsd
      const outcome = error === undefined && turn.result !== undefined ? "success" : "failure"
      const ending: TurnTelemetry.Ending = {
        outcome,
        reason: error !== undefined ? error.reason._tag : turn.result !== undefined ? "none" : "Interrupted",
        sessionId,
        model,
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
      yield* note("turnEnded", outcome === "success" ? "success" : `failure: ${ending.reason}`)
      // `/clear` is bookkeeping, not a turn of a conversation; its result resets the conversation's cost.
      if (turn.kind === "reset") return
      yield* TurnTelemetry.record(ending, { startedAt: turn.startedAt, endedAt, firstEventAt: turn.firstEventAt })
    })

  // Ends a turn once: whoever gets here first (the result, a failure, a timeout, the process's death, the
  // session closing) records it and ends its stream.
  const endTurn = (turn: Turn, outcome: ClaudeError.ClaudeError | undefined) =>
    Effect.suspend(() => {
      if (current === turn) current = undefined
      if (turn.over) return Effect.void
      turn.over = true
      return recordTurn(turn, outcome).pipe(
        Effect.andThen(outcome === undefined ? Queue.end(turn.events) : Queue.fail(turn.events, outcome)),
        Effect.andThen(Deferred.done(turn.ended, Exit.void)),
        Effect.uninterruptible
      )
    })

  const failPending = (error: ClaudeError.ClaudeError) =>
    Effect.suspend(() => {
      const waiting = [...pending.values()]
      pending.clear()
      return Effect.forEach(waiting, (deferred) => Deferred.fail(deferred, error), { discard: true })
    })

  // A turn that ends with its result leaves the session Idle, unless it was Failed or Closed meanwhile.
  const settle = SubscriptionRef.update(state, (now): State => (now === "Running" ? "Idle" : now))

  // Closing the scope interrupts the readers (this finalizer runs just before that), then stops the
  // processes. The readers will never see stdout end, so what waits on them is failed here, at once: the
  // running turn's stream and our pending requests fail with Interrupted instead of hanging.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      yield* SubscriptionRef.set(state, "Closed")
      yield* note("closed")
      const error = fail(new ClaudeError.Interrupted({}))
      if (current !== undefined) yield* endTurn(current, error)
      yield* failPending(error)
    })
  )

  // A control request of ours, answered within `deadline` or failed with a Timeout of that `kind`.
  const sendControl = Effect.fnUntraced(function*(
    subtype: string,
    payload: Readonly<Record<string, unknown>> | undefined,
    deadline: Duration.Duration,
    kind: ClaudeError.TimeoutKind
  ) {
    const id = `req_${++nextRequest}`
    yield* Effect.annotateCurrentSpan("claude.control.request_id", id)
    const deferred = yield* Deferred.make<unknown, ClaudeError.ClaudeError>()
    pending.set(id, deferred)
    const written = yield* write(Protocol.controlRequest(id, { ...payload, subtype }))
    if (!written) {
      pending.delete(id)
      return yield* Effect.fail(fail(new ClaudeError.ProtocolError({ detail: "the CLI's stdin is closed" })))
    }
    return yield* Deferred.await(deferred).pipe(
      Effect.timeoutOrElse({
        duration: deadline,
        orElse: () =>
          Effect.suspend(() => {
            pending.delete(id)
            return Effect.fail(fail(new ClaudeError.Timeout({ kind, durationMs: Duration.toMillis(deadline) })))
          })
      }),
      // A caller that gives up (a shorter deadline of its own) leaves no pending entry behind.
      Effect.onInterrupt(() => Effect.sync(() => pending.delete(id)))
    )
  })
  const control = (
    subtype: string,
    payload: Readonly<Record<string, unknown>> | undefined,
    deadline: Duration.Duration,
    kind: ClaudeError.TimeoutKind
  ) =>
    underTurn(sendControl(subtype, payload, deadline, kind), "Claude.control_request", {
      "claude.control.subtype": subtype,
      "claude.control.direction": "outgoing"
    }).pipe(withLogContext)

  const request = Effect.fn("Session.request")(function*(
    subtype: string,
    payload?: Readonly<Record<string, unknown>>
  ) {
    return yield* control(subtype, payload, controlTimeout, "control")
  })

  // The session is Failed for good and its process stopped: the shutdown ladder runs to its end (the
  // process has exited) before this returns. Uninterruptible, so that a caller who gives up half-way
  // (a turn's consumer closing its stream, which interrupts the watchdog) cannot abandon the ladder
  // and leave a hung process running until the session's scope closes.
  const stop = (why: string) =>
    Effect.uninterruptible(
      Effect.andThen(
        SubscriptionRef.set(state, "Failed"),
        Effect.andThen(
          note("stopped", why),
          Effect.suspend(() => (newest === undefined ? Effect.void : newest.proc.shutdown))
        )
      )
    ).pipe(withLogContext)

  // F12: the CLI retries a refused credential for minutes. The turn was detached from the reader (it gets
  // no more frames); the CLI is told to stop the turn (the interrupt also cuts its wait before the next
  // attempt short, which stdin EOF alone does not), then stopped with the ladder, which takes
  // milliseconds once the turn is over; then the turn fails. Uninterruptible and bounded (control
  // timeout, then the ladder's graces): the detached turn must end.
  const failFast = (turn: Turn, reason: ClaudeError.Reason) =>
    Effect.gen(function*() {
      yield* SubscriptionRef.set(state, "Failed")
      yield* Effect.ignore(control("interrupt", undefined, controlTimeout, "control"))
      yield* stop(`fail-fast: ${reason._tag}`)
      yield* endTurn(turn, fail(reason))
    }).pipe(
      Effect.uninterruptible,
      Effect.withSpan("Session.failFast", { attributes: { reason: reason._tag } })
    )

  const route = (event: ClaudeEvent): Effect.Effect<void> => {
    recorder.frame("frame" in event ? event.frame : event, "in", now())
    const turn = current
    const deliver = turn === undefined
      ? Effect.void
      : Effect.flatMap(Clock.currentTimeMillis, (now) => {
        turn.lastEventAt = now
        if (!turn.sawEvent) {
          turn.sawEvent = true
          turn.firstEventAt = now
        }
        return Queue.offer(turn.events, event)
      })
    switch (event._tag) {
      case "ControlRequest":
        return Effect.andThen(serve(event.frame), deliver)
      case "Frame": {
        const frame = event.frame
        if (frame.type === "control_cancel_request") return Effect.andThen(withdraw(frame.request_id), deliver)
        if (frame.type === "control_response") {
          const deferred = pending.get(frame.response.request_id)
          if (deferred === undefined) return Effect.void
          pending.delete(frame.response.request_id)
          return Deferred.done(
            deferred,
            frame.response.subtype === "success"
              ? Exit.succeed(frame.response.response)
              : Exit.fail(fail(new ClaudeError.ProtocolError({
                detail: `the CLI refused the control request: ${frame.response.error}`
              })))
          ).pipe(Effect.asVoid)
        }
        return deliver
      }
      case "SessionStarted":
        sessionId = event.sessionId
        conversation = { _tag: "Resume", sessionId: event.sessionId }
        if (event.model !== undefined) model = event.model
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
        return Effect.andThen(deliver, FiberSet.run(background, failFast(turn, refused)))
      }
      case "Result":
        sessionId = event.sessionId
        conversation = { _tag: "Resume", sessionId: event.sessionId }
        if (turn === undefined) return Effect.void
        turn.result = event
        // Idle first, then the result and the end of the stream: whoever the end of the stream wakes up
        // (`ask` returning, a pool taking the session back) finds the session ready for the next turn.
        current = undefined
        return Effect.andThen(
          settle,
          Effect.andThen(deliver, endTurn(turn, event.error === undefined ? undefined : fail(event.error)))
        )
      default:
        return deliver
    }
  }

  // Decisions about a process's life and death are taken one at a time: a process that dies while its
  // replacement is declared ready is either seen dead by the launcher, or ready by its reader.
  const lifecycle = yield* Semaphore.make(1)

  // A replacement process resumes the conversation; before any turn, it starts as configured; after a
  // verified reset, it starts a new conversation (the reset one has nothing to resume).
  const launchOptions = (): ClaudeOptions.ClaudeOptions => {
    if (conversation._tag === "AsConfigured") return spawnOptions
    const { continue: _continue, forkSession: _fork, resume: _resume, ...rest } = spawnOptions
    return conversation._tag === "Fresh" ? rest : { ...rest, resume: conversation.sessionId }
  }

  // The process of a generation died (its stdout ended). Whatever waited on it fails with the reason read
  // from its exit; a ready process that died while the session was in use is replaced, in the background.
  const died = (generation: Generation): Effect.Effect<void> =>
    Effect.gen(function*() {
      const exit = yield* generation.proc.exit
      // A process stopped for a resource limit dies by a signal that would otherwise read as a crash.
      const limit = yield* generation.proc.stoppedFor
      const reason: ClaudeError.Reason = Option.isSome(limit)
        ? limit.value
        : TurnOutcome.classify({ apiRetries, exit, stderrTail: yield* generation.proc.stderrTail }) ??
          new ClaudeError.ProtocolError({ detail: "the CLI exited" })
      const error = fail(reason)
      // Control requests of the dead process are nobody's to answer now.
      yield* FiberMap.clear(serving)
      // "expected": still starting (the launcher sees `initialize` fail, and decides), or stopped on purpose,
      // or closing; else it died in use, and is replaced ("recover") unless crash recovery is off ("failed").
      const fate = yield* lifecycle.withPermits(1)(Effect.suspend(() => {
        generation.dead = true
        if (!generation.ready) return Effect.succeed("expected" as const)
        return SubscriptionRef.modify(state, (now): readonly ["expected" | "recover" | "failed", State] => {
          if (now !== "Idle" && now !== "Running") return ["expected", now]
          return restart.maxRestarts > 0 ? ["recover", "Starting"] : ["failed", "Failed"]
        })
      }))
      if (fate === "recover") {
        yield* note("died", `${reason.message}; starting a replacement that resumes the conversation`, "Warn")
      } else if (fate === "failed") {
        yield* note("died", reason.message)
      }
      // Starting (or Failed) first, then the turn's failure: whoever it wakes up (a pool taking the session
      // back) does not find it Idle.
      if (current !== undefined) yield* endTurn(current, error)
      yield* failPending(error)
      if (fate === "recover") {
        // Started on its own fiber, once this reader is done: the replacement closes this reader's scope.
        yield* FiberSet.run(background, respawn(generation, reason), { startImmediately: false })
      }
    }).pipe(withLogContext)

  // What the CLI says a resumed conversation has cost so far (`get_usage`), if it says.
  const restoredCost = (response: unknown): Option.Option<number> => {
    if (!Predicate.isObject(response) || !("session" in response)) return Option.none()
    const session = response.session
    if (!Predicate.isObject(session) || !("total_cost_usd" in session)) return Option.none()
    return typeof session.total_cost_usd === "number" ? Option.some(session.total_cost_usd) : Option.none()
  }

  // Spawns a process (in a scope of its own), starts its reader, and sends `initialize`, bounded by the
  // start-up deadline. A process that fails to start is stopped (its scope closed) before this fails.
  const launch = (
    launchWith: ClaudeOptions.ClaudeOptions,
    kind: "initial" | "restart"
  ): Effect.Effect<Generation, ClaudeError.ClaudeError> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        open.add(scope)
        const started = yield* Effect.exit(restore(Effect.gen(function*() {
          const proc = yield* processes.spawn({
            options: launchWith,
            args: [...ClaudeOptions.toArgs(launchWith, { permissionPromptTool }), ...debugArgs]
          }).pipe(Scope.provide(scope))
          const generation: Generation = { proc, scope, ready: false, dead: false }
          newest = generation
          yield* Metric.update(spawnsSeries(kind), 1)
          yield* note("spawned", kind)
          // The reader: every stdout byte goes through the StreamHandler; when stdout ends, the process
          // is gone.
          yield* proc.stdout.pipe(
            StreamHandler.events({ maxLineBytes: options.maxLineBytes }),
            Stream.runForEach(route),
            Effect.catch(() => Effect.void),
            Effect.andThen(died(generation)),
            Effect.forkIn(scope)
          )
          // Only the start-up deadline bounds `initialize` (not `controlTimeout`): a start-up longer than
          // our usual control deadline is allowed when configured so, and times out as `startup`.
          yield* control(
            "initialize",
            Object.keys(hooksConfig).length === 0 ? undefined : { hooks: hooksConfig },
            startupTimeout,
            "startup"
          ).pipe(Effect.withSpan("Session.initialize"))
          // A resumed conversation's cost so far is the CLI's starting point: the next result's
          // `total_cost_usd` includes it. Without an answer, a replacement keeps what this session last saw
          // of the conversation; a conversation resumed from elsewhere has no cost on record for its first
          // turn here.
          if (launchWith.resume !== undefined || launchWith.continue === true) {
            const usage = yield* Effect.option(control("get_usage", undefined, controlTimeout, "control"))
            const restored = Option.flatMap(usage, restoredCost)
            if (Option.isSome(restored)) conversationCost = restored.value
          }
          return generation
        })))
        if (Exit.isFailure(started)) {
          const error = Cause.findErrorOption(started.cause)
          if (Option.isSome(error)) {
            yield* Metric.update(spawnFailuresSeries(error.value.reason._tag), 1)
            yield* note("spawnFailed", error.value.reason._tag)
          }
          yield* closeGeneration(scope)
          return yield* Effect.failCause(started.cause)
        }
        return started.value
      })
    ).pipe(withLogContext)

  const closeGeneration = (scope: Scope.Closeable) =>
    Effect.andThen(Scope.close(scope, Exit.void), Effect.sync(() => open.delete(scope)))

  // The process is ready: it serves turns from now on, unless it died meanwhile, or the session was
  // failed or closed meanwhile (then it is not wanted: `false`).
  // The process's bookkeeping changes in the same step as the state, before anyone sees it Idle (a caller
  // woken by Idle reads the new pid).
  const declareReady = (generation: Generation) =>
    lifecycle.withPermits(1)(Effect.suspend(() =>
      generation.dead ? Effect.succeed(false) : SubscriptionRef.modify(state, (now): readonly [boolean, State] => {
        if (now !== "Starting") return [false, now]
        generation.ready = true
        livePid = generation.proc.pid
        remember("ready")
        return [true, "Idle"]
      })
    )).pipe(Effect.tap((ready) => (ready ? logLifecycle("ready") : Effect.void)))

  // Replaces a process that died, within the restart intensity: at most `maxRestarts` replacements in any
  // `window`, counted on the Clock; a replacement that fails to start counts too. Past the limit, or when
  // the session was failed or closed meanwhile, the session stays as it is (Failed past the limit).
  const respawn = (dead: Generation, reason: ClaudeError.Reason): Effect.Effect<void> =>
    Effect.gen(function*() {
      // Its process has exited: the ladder ends at once and frees the pipes.
      yield* closeGeneration(dead.scope)
      for (;;) {
        if ((yield* SubscriptionRef.get(state)) !== "Starting") return
        const now = yield* Clock.currentTimeMillis
        while (restartedAt.length > 0 && now - (restartedAt[0] ?? now) >= restart.windowMs) restartedAt.shift()
        if (restartedAt.length >= restart.maxRestarts) {
          yield* SubscriptionRef.update(state, (s): State => (s === "Starting" ? "Failed" : s))
          return yield* note(
            "failed",
            `the CLI died ${restartedAt.length + 1} times within ${restart.windowMs} ms (last: ${reason._tag}); ` +
              "the session is Failed",
            "Warn"
          )
        }
        restartedAt.push(now)
        restarts++
        yield* Metric.update(restartsSeries(reason._tag), 1)
        yield* note("restarting", reason._tag)
        const launched = yield* Effect.exit(launch(launchOptions(), "restart"))
        if (Exit.isSuccess(launched)) {
          if (yield* declareReady(launched.value)) return
          // Died while starting, or no longer wanted: stop it; the state decides whether to try again.
          yield* closeGeneration(launched.value.scope)
        } else {
          yield* Effect.logWarning("a replacement CLI failed to start", launched.cause).pipe(withLogContext)
        }
      }
    }).pipe(Effect.withSpan("Session.respawn", { attributes: { reason: reason._tag } }))

  const first = yield* launch(spawnOptions, "initial").pipe(
    Effect.tapError((error) => Effect.andThen(SubscriptionRef.set(state, "Failed"), attach(error)))
  )
  if (!(yield* declareReady(first))) {
    yield* SubscriptionRef.set(state, "Failed")
    yield* closeGeneration(first.scope)
    const error = fail(new ClaudeError.ProtocolError({ detail: "the CLI exited during start-up" }))
    yield* attach(error)
    return yield* Effect.fail(error)
  }

  // A stalled turn fails with Timeout and takes the process down with it: it is never reused. The
  // process is stopped first, the turn failed after: when the turn's stream fails (and `ask` returns),
  // the process has exited. The turn is detached before the ladder starts, so the reader, seeing stdout
  // end, does not fail it with the exit's reason instead of the Timeout (nor deliver what the process
  // writes meanwhile: the turn returns what arrived before its deadline). A turn that already ended
  // (its process died, say) is left alone.
  const expire = (turn: Turn, kind: ClaudeError.TimeoutKind, durationMs: number) =>
    Effect.suspend(() => {
      if (current !== turn) return Effect.void
      const error = fail(new ClaudeError.Timeout({ kind, durationMs }))
      current = undefined
      return Effect.andThen(stop(`${kind} timeout`), endTurn(turn, error))
    }).pipe(Effect.uninterruptible)

  const watch = (turn: Turn, startedAt: number) =>
    Effect.gen(function*() {
      const firstEvent = Duration.toMillis(ClaudeOptions.timeout(options, "firstEvent"))
      const idle = Duration.toMillis(ClaudeOptions.timeout(options, "idle"))
      const whole = Duration.toMillis(ClaudeOptions.timeout(options, "turn"))
      while (current === turn) {
        const now = yield* Clock.currentTimeMillis
        // Time spent waiting on the host (a permission callback, a hook) is not the CLI's silence.
        if (hostBusy > 0) turn.lastEventAt = now
        const checks: Array<readonly [ClaudeError.TimeoutKind, number, number]> = [
          ["turn", startedAt + whole, whole],
          turn.sawEvent ? ["idle", turn.lastEventAt + idle, idle] : ["firstEvent", startedAt + firstEvent, firstEvent]
        ]
        const expired = checks.find(([, deadline]) => now >= deadline)
        if (expired !== undefined) return yield* expire(turn, expired[0], expired[2])
        // Wake at the next deadline, and at least once per idle period: the first event switches
        // the watch from the first-event deadline to the (usually nearer) idle one.
        yield* Effect.sleep(Duration.millis(Math.min(idle, ...checks.map(([, deadline]) => deadline - now))))
      }
    })

  // The consumer of a turn's stream left while the turn still runs (it took what it needed, or its fiber
  // was interrupted). The CLI is told to stop the turn, and the session waits for the turn to end (its
  // result), so that it is Idle again and the next turn never receives this one's frames: the next turn
  // cannot start before, it waits for the turn permit this holds. All of it within the control timeout;
  // a CLI that does not comply is stopped (the session is Failed, never reused).
  const abandon = (turn: Turn) =>
    Effect.suspend(() => {
      if (current !== turn) return Effect.void
      if (!turn.sent) {
        // Nothing reached the CLI: there is no turn to stop.
        current = undefined
        return Effect.andThen(settle, endTurn(turn, undefined))
      }
      return control("interrupt", undefined, controlTimeout, "control").pipe(
        Effect.andThen(Deferred.await(turn.ended)),
        Effect.timeoutOption(controlTimeout),
        Effect.ignore,
        Effect.andThen(Effect.suspend(() => (current === turn ? stop("an abandoned turn did not end") : Effect.void))),
        Effect.withSpan("Session.abandonTurn")
      )
    })

  // A turn asked for while a dead CLI is being replaced waits for the replacement: each attempt is bounded
  // by the start-up deadline and the shutdown ladder of the one before.
  const replacementWait = Duration.times(
    Duration.sum(startupTimeout, Duration.times(ClaudeOptions.timeout(options, "shutdownGrace"), 2)),
    Math.max(1, restart.maxRestarts)
  )
  const replaced = SubscriptionRef.changes(state).pipe(
    Stream.filter((now) => now !== "Starting"),
    Stream.runHead,
    Effect.flatMap(Option.match({
      onNone: () => SubscriptionRef.get(state),
      onSome: Effect.succeed
    })),
    Effect.timeoutOrElse({
      duration: replacementWait,
      orElse: () =>
        Effect.fail(fail(new ClaudeError.Timeout({ kind: "startup", durationMs: Duration.toMillis(replacementWait) })))
    })
  )
  const settled = Effect.flatMap(SubscriptionRef.get(state), (now) => (now === "Starting" ? replaced : Effect.succeed(now)))

  const turns = yield* Semaphore.make(1)

  const sendTurn = (prompt: Protocol.UserContent, kind: TurnKind): Stream.Stream<ClaudeEvent, ClaudeError.ClaudeError> =>
    Effect.gen(function*() {
      yield* Effect.acquireRelease(turns.take(1), () => turns.release(1))
      const now = yield* settled
      if (now !== "Idle") {
        return yield* Effect.fail(fail(new ClaudeError.ProtocolError({ detail: `the session is ${now}` })))
      }
      const events = yield* Queue.unbounded<ClaudeEvent, ClaudeError.ClaudeError | Cause.Done>()
      const ended = yield* Deferred.make<void>()
      const startedAt = yield* Clock.currentTimeMillis
      // The `Claude.turn` span this runs in; the turn's tool calls and control requests become its children.
      const span = Option.getOrUndefined(yield* Effect.option(Effect.currentSpan))
      const turn: Turn = {
        number: turnNumber + 1,
        kind,
        events,
        ended,
        sent: false,
        over: false,
        startedAt,
        lastEventAt: startedAt,
        sawEvent: false,
        firstEventAt: undefined,
        result: undefined,
        span,
        tracer: yield* Tracer.Tracer,
        tools: new Map()
      }
      if (span !== undefined) {
        span.attribute("claude.turn", turn.number)
        span.attribute("claude.turn.kind", kind)
        if (livePid !== 0) span.attribute("claude.pid", livePid)
        if (sessionId !== undefined) span.attribute("claude.session_id", sessionId)
        if (model !== undefined) span.attribute("claude.model", model)
        if (tracePrompts) span.attribute("claude.prompt", promptText(prompt))
      }
      // Runs after the watchdog is stopped and before the turn permit is released (finalizers run in reverse).
      yield* Effect.addFinalizer(() => abandon(turn))
      current = turn
      turnNumber = turn.number
      apiRetries.length = 0
      yield* SubscriptionRef.set(state, "Running")
      yield* note("turnStarted", kind === "reset" ? "/clear" : undefined)
      const message = Protocol.userMessage(prompt)
      yield* write(message, tracePrompts ? message : elidedUserMessage(prompt))
      turn.sent = true
      const watchdog = yield* Effect.forkScoped(watch(turn, startedAt))
      yield* Effect.addFinalizer(() => Fiber.interrupt(watchdog))
      return Stream.fromQueue(events)
    }).pipe(
      withLogContext,
      Stream.unwrap,
      Stream.tapError(attach),
      Stream.withSpan("Claude.turn")
    )

  // A prompt that is not text or content blocks is refused here (written, it would only wait out the
  // first-event deadline), and so is one the CLI would run as a slash command (F19): unsent.
  const send = (prompt: Protocol.UserContent) =>
    Stream.suspend(() => {
      const issues = promptIssues(prompt)
      const problem = issues === undefined
        ? SlashCommands.promptProblem(prompt)
        : new ClaudeError.InvalidPrompt({ issues })
      return problem === undefined ? sendTurn(prompt, "prompt") : Stream.fail(fail(problem))
    })

  const ask = Effect.fn("Session.ask")(function*(prompt: Protocol.UserContent) {
    const result = yield* send(prompt).pipe(
      Stream.runFold((): ResultEvent | undefined => undefined, (last, event) => event._tag === "Result" ? event : last)
    )
    if (result !== undefined) return result
    const error = fail(new ClaudeError.ProtocolError({ detail: "the turn ended without a result" }))
    yield* attach(error)
    return yield* Effect.fail(error)
  })

  const command = Effect.fn("Session.command")(function*(name: string, args?: string) {
    const refuse = (detail: string) => Effect.fail(fail(new ClaudeError.CommandRefused({ command: `/${name}`, detail })))
    const parsed = SlashCommands.call(name, args)
    if (parsed === undefined) {
      return yield* refuse("a command name is letters, digits, `_`, `:` and `-`, without the leading `/`")
    }
    const text = SlashCommands.render(parsed)
    const reach = SlashCommands.reachOf(parsed)
    if (reach === "shared") {
      return yield* refuse(
        "it writes settings that every other Claude Code CLI of this user or project reads, which no " +
          "process restart undoes; set the model, permission mode or settings through the options instead"
      )
    }
    const events = yield* Stream.runCollect(sendTurn(text, "command"))
    const result = events.findLast((event) => event._tag === "Result")
    if (result?._tag !== "Result") {
      return yield* Effect.fail(fail(new ClaudeError.ProtocolError({ detail: `${text} ended without a result` })))
    }
    return { command: text, output: result.text ?? "", changesProcess: reach === "process", events }
  })

  const reset = Effect.gen(function*() {
    const before = sessionId
    const events = yield* Stream.runCollect(sendTurn("/clear", "reset"))
    const result = events.findLast((event) => event._tag === "Result")
    const confirmed = events.some((event) => event._tag === "ConversationReset") &&
      result?._tag === "Result" && result.sessionId !== before
    if (!confirmed || result?._tag !== "Result") {
      yield* stop("the /clear reset was not confirmed")
      const error = fail(new ClaudeError.ProtocolError({ detail: "the /clear reset was not confirmed by the CLI" }))
      yield* attach(error)
      return yield* Effect.fail(error)
    }
    // The new conversation has had no turn: a replacement process starts a new one rather than resume it.
    conversation = { _tag: "Fresh" }
    return result.sessionId
  }).pipe(Effect.withSpan("Session.reset"))

  const requestWithLog = (subtype: string, payload?: Readonly<Record<string, unknown>>) =>
    Effect.tapError(request(subtype, payload), attach)

  return {
    state,
    get pid() {
      return livePid
    },
    restarts: Effect.sync(() => restarts),
    sessionId: Effect.sync(() => Option.fromNullishOr(sessionId)),
    lastEventAt: Effect.suspend(() => {
      if (current === undefined) return Effect.succeedNone
      const { lastEventAt } = current
      return hostBusy > 0 ? Effect.map(Clock.currentTimeMillis, Option.some) : Effect.succeedSome(lastEventAt)
    }),
    send,
    ask,
    command,
    reset,
    interrupt: Effect.asVoid(requestWithLog("interrupt")).pipe(Effect.withSpan("Session.interrupt")),
    setModel: Effect.fn("Session.setModel")(function*(model: string | undefined) {
      yield* requestWithLog("set_model", model === undefined ? {} : { model })
    }),
    setPermissionMode: Effect.fn("Session.setPermissionMode")(function*(mode: ClaudeOptions.PermissionMode) {
      yield* requestWithLog("set_permission_mode", { mode })
    }),
    request: requestWithLog,
    debugLog
  } satisfies Session
})

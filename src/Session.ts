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
 * **Spans.** Names and attributes are stable; the catalogue, with every attribute, is in the project's
 * `docs/operations.md` ("Traces"). No span carries prompt text unless `tracePrompts` is set, and none ever
 * carries a credential (credentials never reach a session).
 *
 * - `Claude.turn`: one per turn, around the stream of `send` (so also `ask`, `command`, and the `/clear` of
 *   `reset`), with the turn's number, kind, pid, session id, model, outcome and reason, tokens, cost and
 *   durations (`claude.*`). A failed turn's span ends with its `ClaudeError`.
 * - `Claude.tool_use`: one per tool call, from its `ToolUse` event to its `ToolResult`, under the turn (or
 *   under the `Task` of the subagent that made it).
 * - `Claude.control_request`: one per control request served (`incoming`: a permission request, a hook
 *   callback, an in-process tool's message) or sent (`outgoing`: `initialize`, `interrupt`, `set_model`,
 *   ...), under the tool call it is about, else the running turn, else the caller's span.
 * - `Claude.tool_call`: one per call of an in-process tool (`McpTools`), under the control request that
 *   carries it: `claude.mcp.server`, `claude.mcp.tool`, `claude.tool.outcome`, `claude.tool.duration_ms`.
 * - Also `Session.initialize`, `Session.reset`, `Session.respawn`, `Session.failFast`, `Session.abandonTurn`,
 *   and one per method call (`Session.ask`, `Session.request`, `Session.interrupt`, ...).
 *
 * **Metrics** (see `Metrics`): the turn metrics, once per turn when it ends (the `/clear` of `reset` is not a
 * turn), process starts and replacements, and calls of in-process tools are recorded here.
 *
 * **Debug log.** `session.debugLog` returns what the session knows about itself, and a `ClaudeError` from a
 * session carries it as it was (`DebugLog.of`): see the `DebugLog` module.
 *
 * **Logs** go through Effect's `Logger`, annotated with `sessionId` (once known), `pid` and `turn`: lifecycle
 * at `Debug` (not printed by default), a CLI that died and its replacement at `Warning`.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, FiberSet, Option, type Scope, type Stream, type SubscriptionRef } from "effect"
import * as ClaudeError from "./ClaudeError.ts"
import type { ClaudeEvent } from "./ClaudeEvent.ts"
import * as ClaudeOptions from "./ClaudeOptions.ts"
import * as DebugLog from "./DebugLog.ts"
import type * as Hooks from "./Hooks.ts"
import { carrying, debugFileIn, Recorder, snapshot } from "./internal/debugLog.ts"
import * as Background from "./internal/session/background.ts"
import * as Control from "./internal/session/control.ts"
import * as Controls from "./internal/session/controls.ts"
import { Conversation } from "./internal/session/conversation.ts"
import type * as Dialogs from "./internal/session/dialogs.ts"
import * as McpServers from "./internal/session/mcpServers.ts"
import * as Methods from "./internal/session/methods.ts"
import type { PermissionDecision, PermissionRequest } from "./internal/session/permissions.ts"
import { Processes, stopper } from "./internal/session/processes.ts"
import * as SessionState from "./internal/session/state.ts"
import * as Supervisor from "./internal/session/supervisor.ts"
import * as Telemetry from "./internal/session/telemetry.ts"
import * as Turns from "./internal/session/turn.ts"
import * as Watchdog from "./internal/session/watchdog.ts"
import { validateSessionConfig } from "./internal/validation.ts"
import * as McpTools from "./McpTools.ts"
import * as ProcessManager from "./ProcessManager.ts"
import type * as Protocol from "./Protocol.ts"

/**
 * Where a session is: `Starting` while a process starts (the first, or a replacement), `Idle` between turns,
 * `Running` during one; `Closed` and `Failed` are for good.
 *
 * @since 0.1.0
 * @category models
 */
export type State = SessionState.State

export type { BackgroundTask, Work } from "./internal/session/background.ts"
export type { Controls, ThinkingDisplay } from "./internal/session/controls.ts"
export type {
  ElicitationRequest,
  ElicitationResult,
  UserDialogRequest,
  UserDialogResult
} from "./internal/session/dialogs.ts"
export type { CommandOutput } from "./internal/session/methods.ts"
export type { PermissionDecision, PermissionRequest, PermissionUpdate } from "./internal/session/permissions.ts"

/**
 * A hook handler of event `E`: see the `Hooks` module (`Hooks.Hook`).
 *
 * @since 0.1.0
 * @category hooks
 */
export type HookHandler<E extends Hooks.HookEvent = Hooks.HookEvent> = Hooks.Hook<E>

/**
 * A hook event's name: one of `Hooks.events`.
 *
 * @since 0.1.0
 * @category models
 */
export type HookEvent = Hooks.HookEvent

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
export interface Config<Tools extends McpTools.Toolkits = McpTools.Toolkits> {
  readonly options?: ClaudeOptions.Input | undefined
  /**
   * Decides tool permissions. Without it the CLI is started without
   * `--permission-prompt-tool stdio`, so anything that needs approval (beyond
   * `allowedTools` and the permission mode) is denied.
   */
  readonly canUseTool?: ((request: PermissionRequest) => Effect.Effect<PermissionDecision>) | undefined
  /** Hook handlers by event, each typed by its event, with its matcher, timeout and failure policy: see `Hooks`. */
  readonly hooks?: Hooks.Hooks | undefined
  /**
   * Answers an MCP server's request for the user's input (an `elicitation`). Without it, or when it fails or
   * answers out of shape, the request is declined.
   */
  readonly onElicitation?:
    | ((request: Dialogs.ElicitationRequest) => Effect.Effect<Dialogs.ElicitationResult, unknown>)
    | undefined
  /**
   * Shows a dialog the CLI asks for (`request_user_dialog`), of one of `supportedDialogKinds`. Without it,
   * or when it fails or answers out of shape, the dialog is cancelled (the CLI does what it does by default).
   */
  readonly onUserDialog?:
    | ((request: Dialogs.UserDialogRequest) => Effect.Effect<Dialogs.UserDialogResult, unknown>)
    | undefined
  /**
   * The dialog kinds `onUserDialog` shows (e.g. `"refusal_fallback_prompt"`), declared to the CLI, which
   * sends no others. Needs `onUserDialog`.
   */
  readonly supportedDialogKinds?: ReadonlyArray<string> | undefined
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
  /** In-process MCP servers: effect/ai toolkits by server name, handlers from the context (see `McpTools`). */
  readonly tools?: Tools | undefined
  /** How long a call of an in-process tool may run, when its tool does not say. Default 2 minutes. */
  readonly toolTimeout?: Duration.Input | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Session extends Controls.Controls {
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
  /** The CLI's answer to `initialize` on its current process: its commands, agents, models, account, ... */
  readonly serverInfo: Effect.Effect<Option.Option<Protocol.InitializeResponse>>
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
  readonly command: (name: string, args?: string) => Effect.Effect<Methods.CommandOutput, ClaudeError.ClaudeError>
  /**
   * Starts a new conversation on the same process (`/clear`) and checks that
   * the reset took: a `conversation_reset` frame and a new session id, which it
   * returns. An unconfirmed reset fails the session, so the process is not reused.
   */
  readonly reset: Effect.Effect<string, ClaudeError.ClaudeError>
  /** Asks the CLI to stop the running turn (a control `interrupt`); the turn then ends as interrupted. */
  readonly interrupt: Effect.Effect<void, ClaudeError.ClaudeError>
  /** Switches the model for the next turns (`undefined`: the CLI's default). */
  readonly setModel: (model: string | undefined) => Effect.Effect<void, ClaudeError.ClaudeError>
  /** Switches the permission mode for the next tool uses. */
  readonly setPermissionMode: (mode: ClaudeOptions.PermissionMode) => Effect.Effect<void, ClaudeError.ClaudeError>
  /** Sends any control request and returns the CLI's `response` payload. */
  readonly request: (
    subtype: string,
    payload?: Readonly<Record<string, unknown>>
  ) => Effect.Effect<unknown, ClaudeError.ClaudeError>
  /** What the session knows about itself, for debugging: see the `DebugLog` module. */
  readonly debugLog: Effect.Effect<DebugLog.DebugLog>
}

// Wired from the modules of src/internal/session/ (docs/DESIGN.md says which does what), in the order of
// their finalizers, which run in reverse when the scope closes.

/**
 * Starts a session: spawns the CLI, sends `initialize`, and waits until it is ready.
 * Closing the scope stops the process with the shutdown ladder. With `tools`, the session requires their
 * handlers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Tools extends McpTools.Toolkits = {}>(
  config: Config<Tools> = {}
): Effect.Effect<
  Session,
  ClaudeError.ClaudeError,
  ProcessManager.ProcessManager | Scope.Scope | McpTools.ToolkitServices<Tools>
> => Effect.flatMap(McpTools.resolve(config.tools), (servers) => makeServing(config, servers))

const makeServing = Effect.fnUntraced(function*(config: Config, servers: McpTools.Resolved) {
  const spawner = yield* ProcessManager.ProcessManager
  const options = yield* validateSessionConfig(config)
  const restart = yield* Supervisor.restartPolicy(config.restart, defaultRestart)
  const controlTimeout = Duration.fromInputUnsafe(config.controlTimeout ?? Duration.seconds(10))
  const startupTimeout = ClaudeOptions.timeout(options, "startup")
  const clock = yield* Clock.Clock
  const owner = yield* SessionState.makeOwner
  // Environment additions that options map to (`maxApiRetries`) travel in the spawned options' `env`.
  const conversation = new Conversation({ ...options, env: ClaudeOptions.toEnv(options) })
  const recorder = new Recorder(config.debugLog, DebugLog.defaultLimits)
  const processes = new Processes(recorder, () => clock.currentTimeMillisUnsafe())
  const telemetry = Telemetry.make(recorder, clock, conversation, () => processes.newest?.proc.pid)
  const fail = (reason: ClaudeError.Reason) => ClaudeError.make(reason, conversation.context())
  // Debug mode: one `--debug-file` for every process of the session (the CLI appends to it), in a temp dir
  // that outlives the processes: it is removed after they are stopped (finalizers run in reverse order).
  const debugFile = config.debug === true ? yield* debugFileIn(config.debugLog) : undefined

  const debugLog = snapshot({
    recorder,
    state: owner.get,
    sessionId: () => conversation.sessionId,
    pid: () => processes.newest?.proc.pid,
    turns: () => conversation.turns,
    restarts: () => processes.restarts,
    stderrTail: Effect.suspend(() => processes.newest?.proc.stderrTail ?? Effect.succeed("")),
    debugFile
  })
  const withLog = carrying(debugLog)

  const mcp = yield* McpServers.forSession(servers, options, config.toolTimeout)
  const control = yield* Control.make({
    handlers: config,
    mcp,
    write: (frame) => processes.write(frame),
    fail,
    withLogContext: telemetry.withLogContext,
    hookFailed: (detail) => telemetry.note("hookFailed", detail, "Warn")
  })
  // Processes still open when the session closes get the shutdown ladder (after the finalizer below).
  yield* Effect.addFinalizer(() => processes.closeAll)
  const background = yield* FiberSet.make()
  const stop = stopper(owner, processes, telemetry)
  const cliWork = yield* Background.make
  const turns = yield* Turns.make({
    owner,
    conversation,
    processes,
    control,
    cliWork,
    telemetry,
    recorder,
    background,
    stop,
    fail,
    withLog,
    deadlines: Watchdog.deadlinesOf(options),
    controlTimeout,
    // Each replacement is bounded by the start-up deadline and the shutdown ladder of the one before.
    replacementWait: Duration.times(
      Duration.sum(startupTimeout, Duration.times(ClaudeOptions.timeout(options, "shutdownGrace"), 2)),
      Math.max(1, restart.maxRestarts)
    ),
    tracePrompts: config.tracePrompts === true
  })

  // Closing the scope interrupts the readers (this finalizer runs just before that), then stops the
  // processes. The readers will never see stdout end, so what waits on them is failed here, at once: the
  // running turn's stream and our pending requests fail with Interrupted instead of hanging.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      yield* owner.apply(SessionState.close)
      yield* telemetry.note("closed")
      const error = fail(new ClaudeError.Interrupted({}))
      yield* turns.endCurrent(error)
      yield* control.failPending(error)
    })
  )

  yield* Supervisor.make({
    spawner,
    owner,
    conversation,
    processes,
    control,
    turns,
    cliWork,
    telemetry,
    background,
    fail,
    restart,
    extraArgs: debugFile === undefined ? [] : [`--debug-file=${debugFile.path}`],
    permissionPromptTool: config.canUseTool !== undefined,
    sdkMcpServers: mcp?.names ?? [],
    maxLineBytes: options.maxLineBytes,
    startupTimeout,
    controlTimeout
  }).start.pipe(Effect.catch((error) => Effect.flatMap(withLog(error), Effect.fail)))

  const publicState: SubscriptionRef.SubscriptionRef<State> = owner.ref
  const methods = Methods.make({ turns, control, conversation, stop, fail, withLog, controlTimeout })
  return {
    state: publicState,
    get pid() {
      return processes.pid
    },
    restarts: Effect.sync(() => processes.restarts),
    sessionId: Effect.sync(() => Option.fromNullishOr(conversation.sessionId)),
    serverInfo: Effect.sync(() => Option.fromNullishOr(processes.serverInfo)),
    lastEventAt: turns.lastEventAt,
    ...methods,
    ...Controls.make({ request: methods.request, turns, cliWork, fail }),
    debugLog
  } satisfies Session
})

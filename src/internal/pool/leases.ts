/**
 * Leases: the session as a lease holder sees it (refused after release; its turns counted; a change of the
 * process noted), and what becomes of the process when the lease ends (parked, idle, recycled with a
 * verified `/clear`, or stopped).
 */
import { Deferred, Effect, Exit, Option, Stream } from "effect"
import * as ClaudeError from "../../ClaudeError.ts"
import type * as Protocol from "../../Protocol.ts"
import type * as Session from "../../Session.ts"
import * as SlashCommands from "../slashCommands.ts"
import { type Limits, planRelease } from "./planner.ts"
import type { Lifecycle } from "./processes.ts"
import type { PoolState, Process } from "./state.ts"

/** What a lease did with its process, noted as it goes. */
export interface Lease {
  released: boolean
  /** It changed the process (its model, permission mode, ...): the process retires when the lease ends. */
  mutated: boolean
  /** Turns it ran: the process is recycled with `/clear` when the lease ends. */
  turns: number
}

/** A lease just taken. */
export const newLease = (): Lease => ({ released: false, mutated: false, turns: 0 })

/**
 * The control requests (`session.request`) that only read the process's state, seen with the CLI 2.1.329:
 * its MCP servers' status, its context window's and the account's usage, its effective settings, its hooks,
 * its permission rules. They add nothing to the conversation either, so the process stays reusable as it is.
 */
export const readOnlyRequests: ReadonlySet<string> = new Set([
  "mcp_status",
  "get_context_usage",
  "get_usage",
  "get_settings",
  "get_hooks_listing",
  "list_permission_rules"
])

/**
 * Whether a control request may change the process, so that it must not serve another lease: any request
 * but the known reads (`set_model`, `set_max_thinking_tokens`, `mcp_set_servers`, and any subtype not known
 * here).
 */
export const requestChangesProcess = (subtype: string): boolean => !readOnlyRequests.has(subtype)

type Counts = "turn" | "mutation" | "none"

// A command that may change the process retires it; one that only reports is a turn like any other; one
// the session refuses changes nothing.
const commandCounts = (name: string, args: string | undefined): Counts => {
  const command = SlashCommands.call(name, args)
  const reach = command === undefined ? "shared" : SlashCommands.reachOf(command)
  return reach === "process" ? "mutation" : reach === "nothing" ? "turn" : "none"
}

// A prompt the session refuses (F19) reaches no CLI: not a turn.
const promptCounts = (prompt: Protocol.UserContent): Counts =>
  SlashCommands.promptProblem(prompt) === undefined ? "turn" : "none"

/** The session as its lease holder sees it: refused after release, turns counted, changes noted. */
export const leasedSession = (session: Session.Session, lease: Lease): Session.Session => {
  // Built only when refused: an error (its schema check and stack) on every lease would be on the hot path.
  const refused = Effect.failSync(() =>
    ClaudeError.make(new ClaudeError.ProtocolError({ detail: "this pooled session was already returned to the pool" }))
  )
  const guard = <A>(effect: Effect.Effect<A, ClaudeError.ClaudeError>, counts: Counts) =>
    Effect.suspend(() => {
      if (lease.released) return refused
      if (counts === "turn") lease.turns++
      if (counts === "mutation") lease.mutated = true
      return effect
    })
  return {
    ...session,
    get pid() {
      return session.pid
    },
    send: (prompt) => Stream.unwrap(guard(Effect.succeed(session.send(prompt)), promptCounts(prompt))),
    ask: (prompt) => guard(session.ask(prompt), promptCounts(prompt)),
    reset: guard(session.reset, "none"),
    interrupt: guard(session.interrupt, "none"),
    command: (name, args) => guard(session.command(name, args), commandCounts(name, args)),
    setModel: (model) => guard(session.setModel(model), "mutation"),
    setPermissionMode: (mode) => guard(session.setPermissionMode(mode), "mutation"),
    request: (subtype, payload) =>
      guard(session.request(subtype, payload), requestChangesProcess(subtype) ? "mutation" : "none"),
    setMaxThinkingTokens: (tokens, display) => guard(session.setMaxThinkingTokens(tokens, display), "mutation"),
    mcpServerStatus: guard(session.mcpServerStatus, "none"),
    reconnectMcpServer: (name) => guard(session.reconnectMcpServer(name), "none"),
    toggleMcpServer: (name, enabled) => guard(session.toggleMcpServer(name, enabled), "mutation"),
    getContextUsage: (options) => guard(session.getContextUsage(options), "none"),
    rewindFiles: (id, options) => guard(session.rewindFiles(id, options), "none"),
    stopTask: (taskId) => guard(session.stopTask(taskId), "none"),
    backgroundTasks: (toolUseId) => guard(session.backgroundTasks(toolUseId), "none"),
    inject: (prompt) => guard(session.inject(prompt), "none")
  }
}

/** What handing processes back needs of the rest of the pool. */
export interface ReturnsDeps {
  readonly state: PoolState
  readonly lifecycle: Lifecycle
  readonly limits: Pick<Limits, "maxTurns" | "maxAge">
  readonly now: () => number
  /** Runs an effect on a background fiber of the pool. */
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<void>
  readonly dispatch: Effect.Effect<void>
  readonly retire: (process: Process) => Effect.Effect<void>
  /** Signals that a process was handed back (the drain waits for the busy ones). */
  readonly handedBack: Effect.Effect<void>
}

/** Handing processes back to the pool. */
export interface Returns {
  /** A process back from a lease (or from a waiter that gave up): parked, idle, recycled or stopped. */
  readonly giveBack: (process: Process) => Effect.Effect<void>
  /** The end of a lease: what it did is noted on its process, which is handed back. */
  readonly release: (process: Process, lease: Lease, sticky: boolean) => Effect.Effect<void>
}

/** Handing back over the pool's state. */
export const makeReturns = (deps: ReturnsDeps): Returns => {
  const { lifecycle, state } = deps

  // The pool's own work, traced on its own: not under the span of whichever lease happened to end.
  const recycle = (process: Process) =>
    deps.run(
      lifecycle.reset(process).pipe(
        Effect.withSpan("SessionPool.recycle", { root: true }),
        Effect.andThen(Effect.sync(() => {
          state.processes.move(process, process.claimed === undefined ? "idle" : "busy")
          process.lastUsedAt = deps.now()
        })),
        Effect.exit,
        Effect.flatMap((exit) => {
          const claimed = process.claimed
          process.claimed = undefined
          return claimed === undefined ? deps.dispatch : Deferred.succeed(claimed, Exit.isSuccess(exit))
        })
      )
    )

  const giveBack = (process: Process): Effect.Effect<void> =>
    Effect.gen(function*() {
      process.handlers = undefined
      process.lastUsedAt = deps.now()
      const idle = yield* lifecycle.isIdle(process)
      const next = planRelease(process, deps.now(), deps.limits, { idle, draining: state.draining })
      switch (next) {
        // A lease that leaves its process mid-turn or failed has it stopped before its scope finishes
        // closing; a healthy process past its limits is stopped in the background.
        case "stop":
          return yield* Effect.andThen(lifecycle.stop(process), deps.dispatch)
        case "retire":
          return yield* deps.retire(process)
        case "park":
        case "idle":
          state.processes.move(process, next === "park" ? "parked" : "idle")
          return yield* deps.dispatch
        case "reset":
          state.processes.move(process, "resetting")
          return yield* recycle(process)
      }
    }).pipe(Effect.ensuring(deps.handedBack))

  const release = (process: Process, lease: Lease, sticky: boolean) =>
    Effect.gen(function*() {
      lease.released = true
      process.turns += lease.turns
      if (lease.turns > 0) process.dirty = true
      if (lease.mutated) process.overLimit = true
      process.conversation = sticky && process.dirty && process.session !== undefined
        ? Option.getOrUndefined(yield* process.session.sessionId)
        : undefined
      yield* giveBack(process)
    })

  return { giveBack, release }
}

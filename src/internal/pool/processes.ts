/**
 * A pooled process's life: started in a scope of its own with a session whose permission callback, hooks and
 * in-process tools call the lease of the moment, recycled with a verified `/clear`, stopped by closing its scope.
 */
import { Effect, Exit, Scope, SubscriptionRef } from "effect"
import type * as ClaudeError from "../../ClaudeError.ts"
import * as Hooks from "../../Hooks.ts"
import type * as McpTools from "../../McpTools.ts"
import * as ProcessManager from "../../ProcessManager.ts"
import * as Session from "../../Session.ts"
import type { PoolState, Process, Request } from "./state.ts"

const carryOn: Hooks.CommonOutput = { continue: true }

const declined: Session.ElicitationResult = { action: "decline" }
const cancelled: Session.UserDialogResult = { behavior: "cancelled" }

const denyWithoutCallback: Session.PermissionDecision = {
  behavior: "deny",
  message: "No permission callback was given for this session"
}

// Pooled processes register the lease's hook *shape* (part of the key); calls go to the lease of the moment,
// and with no lease holding the process (a recycle's `/clear`), the answer is to carry on.
const dispatchingHooks = (process: Process, hooks: Hooks.Hooks | undefined): Hooks.Hooks => {
  const dispatching: { -readonly [E in Hooks.HookEvent]?: Hooks.Hooks[E] } = {}
  const dispatchEvent = <E extends Hooks.HookEvent>(event: E) => {
    const handlers: ReadonlyArray<Hooks.Hook<E>> | undefined = hooks?.[event]
    if (handlers === undefined) return
    const list: Hooks.Hooks[E] = handlers.map((handler, index) => ({
      matcher: handler.matcher,
      timeout: handler.timeout,
      onFailure: handler.onFailure,
      handle: (input, context) =>
        Effect.suspend(() => {
          const current: Hooks.Hook<E> | undefined = process.handlers?.hooks?.[event]?.[index]
          return current === undefined ? Effect.succeed(carryOn) : current.handle(input, context)
        })
    }))
    dispatching[event] = list
  }
  for (const event of Hooks.events) dispatchEvent(event)
  return dispatching
}

// Pooled processes serve the lease's toolkits' *shape* (part of the key); calls go to the lease of the moment.
const dispatchingServers = (process: Process, servers: McpTools.Resolved): McpTools.Resolved =>
  Object.fromEntries(
    Object.entries(servers).map(([server, served]): [string, McpTools.Served] => [server, {
      tools: served.tools,
      handle: (name, params, toolCallId) =>
        Effect.suspend(() =>
          process.handlers?.tools[server]?.handle(name, params, toolCallId) ??
            Effect.fail(`no lease holds this process: the tool ${name} of ${server} cannot run`)
        )
    }])
  )

const sessionConfig = (process: Process, request: Request): Session.Config<McpTools.Resolved> => ({
  options: request.config.options,
  controlTimeout: request.config.controlTimeout,
  toolTimeout: request.config.toolTimeout,
  tools: dispatchingServers(process, request.servers),
  debug: request.config.debug,
  tracePrompts: request.config.tracePrompts,
  debugLog: request.config.debugLog,
  // The pool replaces dead processes itself (and Resilience resumes conversations): no respawn in place.
  restart: { maxRestarts: 0 },
  // The lease of the moment decides.
  canUseTool: request.config.canUseTool === undefined ?
    undefined :
    (permission) =>
      Effect.suspend(() => process.handlers?.canUseTool?.(permission) ?? Effect.succeed(denyWithoutCallback)),
  hooks: dispatchingHooks(process, request.config.hooks),
  onElicitation: (elicitation) =>
    Effect.suspend(() => process.handlers?.onElicitation?.(elicitation) ?? Effect.succeed(declined)),
  onUserDialog: (dialog) => Effect.suspend(() => process.handlers?.onUserDialog?.(dialog) ?? Effect.succeed(cancelled)),
  supportedDialogKinds: request.config.supportedDialogKinds
})

/** Starting, recycling and stopping the pool's processes. */
export interface Lifecycle {
  /** Starts the process's CLI for the request; a start that fails stops it. */
  readonly spawn: (process: Process, request: Request) => Effect.Effect<Session.Session, ClaudeError.ClaudeError>
  /** Takes the process out of the pool and closes its scope (the shutdown ladder). */
  readonly stop: (process: Process) => Effect.Effect<void>
  /** Starts a new conversation on it with a verified `/clear`; a reset that fails stops it. */
  readonly reset: (process: Process) => Effect.Effect<void, ClaudeError.ClaudeError>
  /** Whether its session is Idle (ready for a turn): a process that died, or was left mid-turn, is not. */
  readonly isIdle: (process: Process) => Effect.Effect<boolean>
}

/** The lifecycle of the pool's processes, started with `processes`. */
export const makeLifecycle = (state: PoolState, processes: ProcessManager.ProcessManager["Service"]): Lifecycle => {
  const stop = (process: Process) =>
    Effect.suspend(() => {
      state.processes.remove(process)
      const processScope = process.scope
      process.scope = undefined
      if (processScope === undefined) return Effect.void
      if (process.session !== undefined) state.retired++
      return Scope.close(processScope, Exit.void).pipe(
        Effect.ensuring(Effect.sync(() => state.open.delete(processScope)))
      )
    })

  const spawn = (process: Process, request: Request) =>
    Effect.gen(function*() {
      const processScope = yield* Scope.make()
      state.open.add(processScope)
      process.scope = processScope
      // Started on a conversation of its own: reset before anyone else uses it, even if no turn ran.
      process.dirty = request.fresh
      const session = yield* Session.make(sessionConfig(process, request)).pipe(
        Effect.provideService(ProcessManager.ProcessManager, processes),
        Scope.provide(processScope),
        Effect.tapError(() => stop(process))
      )
      state.spawned++
      process.session = session
      return session
    })

  const reset = (process: Process) =>
    Effect.suspend(() => process.session === undefined ? Effect.void : Effect.asVoid(process.session.reset)).pipe(
      Effect.tap(() =>
        Effect.sync(() => {
          process.dirty = false
          process.conversation = undefined
        })
      ),
      Effect.tapError(() => stop(process))
    )

  // Idle, and no work of the CLI's own left: a background task would report into the next lease's turns.
  const isIdle = (process: Process) => {
    const session = process.session
    return session === undefined
      ? Effect.succeed(false)
      : Effect.zipWith(
        SubscriptionRef.get(session.state),
        session.backgroundWork,
        (state, work) => state === "Idle" && work.tasks.length === 0 && !work.ownTurn
      )
  }

  return { spawn, stop, reset, isIdle }
}

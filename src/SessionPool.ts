/**
 * Warm CLI processes, reused safely.
 *
 * A cold CLI costs the better part of a second before its first token; a
 * running one answers in tens of milliseconds. The pool keeps running
 * {@link Session}s per *key* (everything that makes two sessions incompatible:
 * credential identity, executable, cwd, model, permission mode, tools, system
 * prompt, MCP configuration, environment additions, hooks, whether a permission
 * callback is given) and lends them out:
 *
 * - `acquire` hands out an idle session of the key, or spawns one (counted
 *   against a global `max`; an idle process of another key is stopped to make
 *   room), or waits in a bounded FIFO queue, failing with `PoolExhausted` when
 *   the queue is full or the wait runs out.
 * - On release a session that ran a turn is recycled with `/clear`, and the
 *   reset is verified (`conversation_reset` and a new session id) before the
 *   process serves another conversation; a failed reset stops it. A `sticky`
 *   lease parks its conversation instead: a later `acquire` with
 *   `options.resume` set to its session id gets the same process back.
 * - Processes retire after `maxTurnsPerProcess`, `maxProcessAge`,
 *   `maxIdleTime` (parked ones and spares beyond `minIdle`), an RSS above
 *   `maxRssBytes` (sampled from `/proc` by the sweeper, never on the hot
 *   path), when a `HealthChecker` in the context finds them unhealthy, when
 *   the credential rotates, and always when their session failed, timed
 *   out, was left mid-turn, had its model or permission mode changed, sent
 *   a control request that may change the process (`session.request`; only
 *   known reads such as `mcp_status` or `get_context_usage` do not), or ran a
 *   slash command that may change it (`session.command`; only known reports
 *   such as `/cost` do not).
 * - What a lease may send: prompts, which are only ever text (a prompt the
 *   CLI would run as a slash command fails with `InvalidPrompt`, unsent), and
 *   commands through `session.command`, which refuses the ones that write
 *   settings other CLIs read (`/config key=value`, ...). So no lease changes
 *   what the next lease of the key gets: `/model x` in one conversation never
 *   reaches the next, which a `/clear` alone would not ensure.
 * - Closing the pool's scope drains it: acquisitions stop, waiters are
 *   interrupted, running turns get `drainGrace` to finish (then an
 *   `interrupt`), and every process is stopped with the shutdown ladder.
 *
 * Why not `effect/Pool` (or a `RcMap` of them)? Its items belong to one key and
 * its waiters are not bounded; here one `max` spans every key, a waiter of one
 * key may take the room of another key's idle process, and returning an item
 * involves a verified reset. The pool is built from the same parts: scopes per
 * process, `Deferred` hand-offs, a `FiberSet` for background work, and the
 * Effect `Clock` for every timer, so `TestClock` drives it.
 *
 * @since 0.1.0
 */
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  FiberSet,
  Layer,
  Metric,
  Option,
  Scope,
  SubscriptionRef
} from "effect"
import type * as ClaudeError from "./ClaudeError.ts"
import type * as ClaudeOptions from "./ClaudeOptions.ts"
import * as HealthChecker from "./HealthChecker.ts"
import { seriesBy } from "./internal/metricSeries.ts"
import { startHousekeeping } from "./internal/pool/housekeeping.ts"
import * as Key from "./internal/pool/key.ts"
import { leasedSession, makeReturns, newLease } from "./internal/pool/leases.ts"
import type { Status } from "./internal/pool/planner.ts"
import { makeLifecycle } from "./internal/pool/processes.ts"
import { makeTable, type PoolState, type Request } from "./internal/pool/state.ts"
import { makeDispatcher } from "./internal/pool/waiters.ts"
import { withSpanNotHolding } from "./internal/spanValue.ts"
import { validateLeaseConfig, validateTools } from "./internal/validation.ts"
import * as McpTools from "./McpTools.ts"
import * as Metrics from "./Metrics.ts"
import * as ProcessManager from "./ProcessManager.ts"
import * as ResourceLimits from "./ResourceLimits.ts"
import type * as Session from "./Session.ts"
import * as TokenManager from "./TokenManager.ts"

/**
 * How big the pool is, how long acquisitions wait, and when processes retire. Every field is optional;
 * the defaults suit one application on one machine.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** Processes across all keys (starting, idle, parked, busy, resetting). Default 8. */
  readonly max?: number | undefined
  /** Ready spares kept per key in use. Default 1. */
  readonly minIdle?: number | undefined
  /** Longest wait queue; one more acquisition fails at once with `PoolExhausted`. Default 64. */
  readonly maxWaiters?: number | undefined
  /** Longest time an acquisition waits in the queue (spawning is bounded by the startup timeout). Default 30 s. */
  readonly acquireTimeout?: Duration.Input | undefined
  /** Turns a process serves before it retires. Default 100. */
  readonly maxTurnsPerProcess?: number | undefined
  /** Age at which a process retires (when next idle). Default 1 hour. */
  readonly maxProcessAge?: Duration.Input | undefined
  /**
   * Idle time after which a parked conversation's process, or a spare beyond
   * `minIdle`, retires; a key not acquired for this long loses its spares. Default 10 minutes.
   */
  readonly maxIdleTime?: Duration.Input | undefined
  /** Resident memory above which a process retires (sampled by the sweeper). Default: no limit. */
  readonly maxRssBytes?: number | undefined
  /** How often idle processes are checked for age, idleness and memory. Default 5 s. */
  readonly sweepInterval?: Duration.Input | undefined
  /** How long closing the pool waits for running turns before it interrupts them. Default 10 s. */
  readonly drainGrace?: Duration.Input | undefined
  /** Reads a process's resident memory in bytes. Default: `VmRSS` of `/proc/<pid>/status`. */
  readonly sampleRss?: ((pid: number) => Effect.Effect<Option.Option<number>>) | undefined
}

/**
 * What a lease asks for: a session's configuration, and whether its
 * conversation stays on the process after release.
 *
 * Without `restart`: a pooled process is never respawned in place. When one
 * dies, its lease fails and the pool replaces the process (Resilience, where
 * it is used, resumes the conversation on the new one). A `restart` that
 * reaches `acquire` anyway (from untyped code, or a `Session.Config` passed
 * as it is) fails with `InvalidOptions` before anything is spawned.
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseConfig<Tools extends McpTools.Toolkits = McpTools.Toolkits>
  extends Omit<Session.Config<Tools>, "restart">
{
  /**
   * Park the conversation on its process when the lease ends, instead of
   * recycling it: an `acquire` whose `options.resume` is its session id gets
   * it back, context and all. Parked processes retire after `maxIdleTime`, or
   * are recycled when another conversation needs the room (the conversation
   * can still be resumed from disk on a new process).
   */
  readonly sticky?: boolean | undefined
}

/**
 * The processes of one pool key, by status.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyStats {
  /** A hash of the key: safe to log. */
  readonly key: string
  /** Starting their CLI (a spare, or for an acquisition waiting on it). */
  readonly starting: number
  /** Ready for a new conversation. */
  readonly idle: number
  /** Idle, holding a sticky conversation. */
  readonly parked: number
  /** Lent to a lease (or claimed by an acquisition while it is recycled for it). */
  readonly busy: number
  /** Being recycled with `/clear`. */
  readonly resetting: number
}

/**
 * A snapshot of the pool: its size against `max`, its queue, what it started and retired, and its
 * processes by key and status.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** The `max` setting in effect. */
  readonly max: number
  /** Processes counted against `max`. */
  readonly size: number
  /** Acquisitions in the wait queue. */
  readonly waiting: number
  /** The pool's scope is closing: no acquisition is served any more. */
  readonly draining: boolean
  /** Processes started since the pool opened. */
  readonly spawned: number
  /** Processes that had started and were stopped since the pool opened, whatever the reason. */
  readonly retired: number
  /** Background fibers of the pool: spawns of spares, resets, the sweeper. */
  readonly tasks: number
  /** The keys with at least one process. */
  readonly keys: ReadonlyArray<KeyStats>
}

/**
 * The pool: lends warm sessions per key, and reports on itself.
 *
 * @since 0.1.0
 * @category services
 */
export class SessionPool extends Context.Service<SessionPool, {
  /**
   * Leases a ready session for the configuration; it goes back to the pool
   * when the scope closes. The session refuses further use after that. The
   * configuration is checked first, as `Session.Config` is (`sticky` too):
   * unknown keys and values of the wrong kind fail with `InvalidOptions`.
   * With `tools`, the lease requires their handlers; the process calls this lease's handlers while it holds
   * it (see `McpTools`).
   */
  readonly acquire: <const Tools extends McpTools.Toolkits = {}>(
    config?: LeaseConfig<Tools>
  ) => Effect.Effect<Session.Session, ClaudeError.ClaudeError, Scope.Scope | McpTools.ToolkitServices<Tools>>
  /** A snapshot of the pool's processes, queue and counters. */
  readonly stats: Effect.Effect<Stats>
}>()("effect-claude-code/SessionPool") {}

const sessionsIn = seriesBy(Metrics.poolSessions, "state")
const waitedFor = seriesBy(Metrics.poolWait, "outcome")

/**
 * The pool key of a configuration: a hash of everything that makes two
 * sessions incompatible. Never contains a secret (the credential enters as its
 * identity hash, and the whole key is hashed again).
 *
 * @since 0.1.0
 * @category keys
 */
export const keyOf: (
  options: ClaudeOptions.ClaudeOptions,
  config: Session.Config,
  credential: Option.Option<TokenManager.Credential>,
  servers?: McpTools.Resolved
) => string = Key.keyOf

// The resident memory the ResourceLimits sampler reads from `/proc`.
const rssFromProc = (pid: number): Effect.Effect<Option.Option<number>> =>
  Effect.map(ResourceLimits.sampleProc(pid), Option.map((usage) => usage.rssBytes))

/**
 * Opens a pool; closing the scope drains it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(settings: Settings = {}) {
  const processManager = yield* ProcessManager.ProcessManager
  const tokens = yield* TokenManager.TokenManager
  const clock = yield* Clock.Clock
  const scope = yield* Scope.Scope
  const background = yield* FiberSet.make()

  const limits = {
    max: Math.max(1, settings.max ?? 8),
    minIdle: Math.max(0, settings.minIdle ?? 1),
    maxTurns: settings.maxTurnsPerProcess ?? 100,
    maxAge: Duration.toMillis(Duration.fromInputUnsafe(settings.maxProcessAge ?? Duration.hours(1))),
    maxIdle: Duration.toMillis(Duration.fromInputUnsafe(settings.maxIdleTime ?? Duration.minutes(10)))
  }

  // The gauge of processes by status is moved synchronously, where the pool's state changes.
  const metricsContext = yield* Effect.context<never>()
  const state: PoolState = {
    processes: makeTable((status, delta) => sessionsIn(status).modifyUnsafe(delta, metricsContext)),
    open: new Set(),
    keys: new Map(),
    draining: false,
    spawned: 0,
    retired: 0
  }
  const handedBack = yield* SubscriptionRef.make(0)

  const now = () => clock.currentTimeMillisUnsafe()
  const run = <A, E>(effect: Effect.Effect<A, E>) => FiberSet.run(background, effect).pipe(Effect.asVoid)

  const lifecycle = makeLifecycle(state, processManager)
  const dispatcher = makeDispatcher({
    state,
    lifecycle,
    settings: {
      max: limits.max,
      maxWaiters: Math.max(0, settings.maxWaiters ?? 64),
      acquireTimeout: Duration.fromInputUnsafe(settings.acquireTimeout ?? Duration.seconds(30))
    },
    now,
    run,
    giveBack: (process) => returns.giveBack(process)
  })
  const returns = makeReturns({
    state,
    lifecycle,
    limits,
    now,
    run,
    dispatch: dispatcher.dispatch,
    retire: dispatcher.retire,
    handedBack: SubscriptionRef.update(handedBack, (n) => n + 1)
  })
  const { replenish } = yield* startHousekeeping({
    state,
    lifecycle,
    dispatcher,
    settings: {
      limits,
      maxRssBytes: settings.maxRssBytes,
      sampleRss: settings.sampleRss ?? rssFromProc,
      sweepInterval: Duration.fromInputUnsafe(settings.sweepInterval ?? Duration.seconds(5)),
      drainGrace: Duration.fromInputUnsafe(settings.drainGrace ?? Duration.seconds(10))
    },
    now,
    background,
    run,
    handedBack,
    tokens,
    health: yield* Effect.serviceOption(HealthChecker.HealthChecker)
  }, scope)

  const requestOf = Effect.fnUntraced(function*(config: LeaseConfig, servers: McpTools.Resolved) {
    const options = yield* validateLeaseConfig(config)
    yield* validateTools(servers, options)
    const credential = yield* tokens.getToken
    const key = keyOf(options, config, credential, servers)
    const resume = options.resume
    // A conversation of its own (resumed, continued, or with its own session id) needs a process of its own.
    const fresh = resume !== undefined || options.continue === true || options.sessionId !== undefined
    const request: Request = { key, config, servers, resume, fresh }
    const info = state.keys.get(key)
    if (info === undefined) {
      // Spares start a new conversation whatever the first lease asked for.
      const spareOptions = Key.processOptions(config.options ?? {})
      const template: Request = {
        key,
        config: { ...config, options: spareOptions },
        servers,
        resume: undefined,
        fresh: false
      }
      state.keys.set(key, { lastAcquiredAt: now(), credential: Option.getOrUndefined(credential)?.identity, template })
    } else {
      info.lastAcquiredAt = now()
    }
    return request
  })

  // How long an acquisition waited: about nothing for a warm spare, longer for a spawn, a recycle or the queue.
  const timed = (request: Request) =>
    Effect.suspend(() => {
      const startedAt = now()
      return dispatcher.obtain(request).pipe(
        Effect.onExit((exit) =>
          Exit.isSuccess(exit) || Cause.hasFails(exit.cause)
            ? Metric.update(waitedFor(Exit.isSuccess(exit) ? "acquired" : "failed"), (now() - startedAt) / 1000)
            : Effect.void
        )
      )
    })

  // The span ends before the session is handed over: it outlives the span, and a span kept by the fibers of
  // the spare spawned below would otherwise keep this session, and so on from lease to lease (F23).
  const acquireTraced = Effect.fnUntraced(function*(config: LeaseConfig, servers: McpTools.Resolved) {
    const request = yield* requestOf(config, servers)
    yield* Effect.annotateCurrentSpan({ key: request.key })
    const session = yield* Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(timed(request)), ({ process, session }) => {
        state.processes.move(process, "busy")
        process.handlers = {
          canUseTool: config.canUseTool,
          hooks: config.hooks,
          onElicitation: config.onElicitation,
          onUserDialog: config.onUserDialog,
          tools: servers
        }
        const lease = newLease()
        return Effect.as(
          Effect.addFinalizer(() => returns.release(process, lease, config.sticky === true)),
          leasedSession(session, lease)
        )
      })
    )
    // Spares are spawned on background fibers; none is forked when the key has all it wants.
    yield* replenish(request.key)
    return session
  })
  const acquire = <const Tools extends McpTools.Toolkits = {}>(config: LeaseConfig<Tools> = {}) =>
    Effect.flatMap(
      McpTools.resolve(config.tools),
      (servers) => acquireTraced(config, servers).pipe(withSpanNotHolding("SessionPool.acquire"))
    )

  const stats = Effect.map(FiberSet.size(background), (tasks): Stats => {
    const byKey = new Map<string, Record<Status, number>>()
    for (const process of state.processes) {
      const counts = byKey.get(process.key) ?? { starting: 0, idle: 0, parked: 0, busy: 0, resetting: 0 }
      counts[process.status]++
      byKey.set(process.key, counts)
    }
    return {
      max: limits.max,
      size: state.processes.size(),
      waiting: dispatcher.waiting(),
      draining: state.draining,
      spawned: state.spawned,
      retired: state.retired,
      tasks,
      keys: [...byKey].map(([key, counts]) => ({ key, ...counts }))
    }
  })

  return SessionPool.of({ acquire, stats })
})

/**
 * A pool with these settings, drained when the Layer's scope closes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  settings: Settings = {}
): Layer.Layer<SessionPool, never, ProcessManager.ProcessManager | TokenManager.TokenManager> =>
  Layer.effect(SessionPool, make(settings))

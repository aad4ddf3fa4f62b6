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
 *   a raw control request, or ran a slash command that may change the
 *   process (`session.command`; only known reports such as `/cost` do not).
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
  Deferred,
  Duration,
  Effect,
  Exit,
  FiberSet,
  Layer,
  Metric,
  Option,
  Predicate,
  Schedule,
  Scope,
  Stream,
  SubscriptionRef
} from "effect"
import { createHash } from "node:crypto"
import * as ClaudeError from "./ClaudeError.ts"
import * as ClaudeOptions from "./ClaudeOptions.ts"
import { seriesBy } from "./internal/metricSeries.ts"
import * as SlashCommands from "./internal/slashCommands.ts"
import { withSpanNotHolding } from "./internal/spanValue.ts"
import { validateLeaseConfig } from "./internal/validation.ts"
import * as HealthChecker from "./HealthChecker.ts"
import * as Metrics from "./Metrics.ts"
import * as ProcessManager from "./ProcessManager.ts"
import type * as Protocol from "./Protocol.ts"
import * as ResourceLimits from "./ResourceLimits.ts"
import * as Session from "./Session.ts"
import * as TokenManager from "./TokenManager.ts"

/**
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
 * @since 0.1.0
 * @category models
 */
export interface LeaseConfig extends Session.Config {
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
 * @since 0.1.0
 * @category models
 */
export interface KeyStats {
  /** A hash of the key: safe to log. */
  readonly key: string
  readonly starting: number
  /** Ready for a new conversation. */
  readonly idle: number
  /** Idle, holding a sticky conversation. */
  readonly parked: number
  readonly busy: number
  /** Being recycled with `/clear`. */
  readonly resetting: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly max: number
  /** Processes counted against `max`. */
  readonly size: number
  readonly waiting: number
  readonly draining: boolean
  /** Processes started and retired since the pool opened. */
  readonly spawned: number
  readonly retired: number
  /** Background fibers of the pool: spawns of spares, resets, the sweeper. */
  readonly tasks: number
  readonly keys: ReadonlyArray<KeyStats>
}

/**
 * @since 0.1.0
 * @category services
 */
export class SessionPool extends Context.Service<SessionPool, {
  /**
   * Leases a ready session for the configuration; it goes back to the pool
   * when the scope closes. The session refuses further use after that. The
   * configuration is checked first, as `Session.Config` is (`sticky` too):
   * unknown keys and values of the wrong kind fail with `InvalidOptions`.
   */
  readonly acquire: (config?: LeaseConfig) => Effect.Effect<Session.Session, ClaudeError.ClaudeError, Scope.Scope>
  readonly stats: Effect.Effect<Stats>
}>()("effect-claude-code/SessionPool") {}

type Status = "starting" | "idle" | "parked" | "busy" | "resetting"

const sessionsIn = seriesBy(Metrics.poolSessions, "state")
const waitedFor = seriesBy(Metrics.poolWait, "outcome")

/**
 * The pool's processes. Each one is counted in `claude_pool_sessions` under its status while it is in the
 * set (its status changes move it, see `newEntry`): adding, removing and clearing keep the gauge right
 * wherever they happen. The gauge is moved by deltas, so several pools add up.
 */
class Entries extends Set<Entry> {
  readonly count: (status: Status, delta: number) => void
  constructor(count: (status: Status, delta: number) => void) {
    super()
    this.count = count
  }
  override add(entry: Entry): this {
    if (!this.has(entry)) this.count(entry.status, 1)
    return super.add(entry)
  }
  override delete(entry: Entry): boolean {
    if (this.has(entry)) this.count(entry.status, -1)
    return super.delete(entry)
  }
  override clear(): void {
    for (const entry of this) this.count(entry.status, -1)
    super.clear()
  }
}

interface Handlers {
  readonly canUseTool: Session.Config["canUseTool"]
  readonly hooks: Session.Config["hooks"]
}

interface Entry {
  readonly key: string
  readonly createdAt: number
  status: Status
  session: Session.Session | undefined
  scope: Scope.Closeable | undefined
  turns: number
  /** Turns run since the last verified reset (or the process was started to resume a conversation). */
  dirty: boolean
  /** The parked conversation's session id. */
  conversation: string | undefined
  lastUsedAt: number
  overLimit: boolean
  /** The current lease's callbacks: the process's permission tool and hooks call through these. */
  handlers: Handlers | undefined
  /** Claimed while resetting: the claimant gets it as soon as the reset is confirmed (`true`), or not. */
  claimed: Deferred.Deferred<boolean> | undefined
}

interface Request {
  readonly key: string
  readonly config: LeaseConfig
  /** Needs a process of its own: it resumes or continues a conversation not parked here. */
  readonly resume: string | undefined
  readonly fresh: boolean
}

/** A process handed to a lease holder, with its (then always started) session. */
interface Leased {
  readonly entry: Entry
  readonly session: Session.Session
}

interface Waiter {
  readonly request: Request
  readonly dispatched: Deferred.Deferred<void>
  readonly result: Deferred.Deferred<Leased, ClaudeError.ClaudeError>
  cancelled: boolean
}

type Plan =
  | { readonly _tag: "Lease"; readonly entry: Entry }
  | { readonly _tag: "Reset"; readonly entry: Entry }
  | { readonly _tag: "AfterReset"; readonly entry: Entry; readonly claimed: Deferred.Deferred<boolean> }
  | { readonly _tag: "Spawn"; readonly entry: Entry; readonly evict: Entry | undefined }

interface KeyInfo {
  lastAcquiredAt: number
  /** The credential identity the key's processes run with. */
  readonly credential: string | undefined
  /** What spares of this key are started with. */
  readonly template: Request
}

/** The conversation-independent part of the options: `resume` and friends pick a conversation, not a process. */
const processOptions = (options: ClaudeOptions.ClaudeOptions) => {
  const { continue: _continue, forkSession: _fork, resume: _resume, ...rest } = options
  return rest
}

const canonical = (value: unknown): unknown => {
  if (Duration.isDuration(value)) return Duration.toMillis(value)
  if (Array.isArray(value)) return value.map(canonical)
  if (Predicate.isObject(value)) {
    return Object.fromEntries(
      Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, canonical(v)])
    )
  }
  return value
}

const hookShape = (hooks: Session.Config["hooks"]) =>
  Object.entries(hooks ?? {}).map(([event, handlers]) => [event, (handlers ?? []).map((h) => h.matcher ?? "*")])

/**
 * The pool key of a configuration: a hash of everything that makes two
 * sessions incompatible. Never contains a secret (the credential enters as its
 * identity hash, and the whole key is hashed again).
 *
 * @since 0.1.0
 * @category keys
 */
export const keyOf = (
  options: ClaudeOptions.ClaudeOptions,
  config: Session.Config,
  credential: Option.Option<TokenManager.Credential>
): string =>
  createHash("sha256").update(JSON.stringify(canonical({
    credential: Option.match(credential, { onNone: () => null, onSome: (c) => c.identity }),
    options: processOptions(options),
    hooks: hookShape(config.hooks),
    // `--permission-prompt-tool stdio` is passed only to processes whose leases bring a callback.
    permissionCallback: config.canUseTool !== undefined,
    controlTimeout: config.controlTimeout === undefined ? null : Duration.fromInputUnsafe(config.controlTimeout),
    // Bound when the process starts: `debug` adds `--debug-file`, the others shape its spans and log.
    debug: config.debug === true,
    tracePrompts: config.tracePrompts === true,
    debugLog: config.debugLog ?? null
  }))).digest("hex").slice(0, 16)

// The resident memory the ResourceLimits sampler reads from `/proc`.
const rssFromProc = (pid: number): Effect.Effect<Option.Option<number>> =>
  Effect.map(ResourceLimits.sampleProc(pid), Option.map((usage) => usage.rssBytes))

const hookEvents = [
  "PreToolUse",
  "PostToolUse",
  "UserPromptSubmit",
  "Stop",
  "Notification"
] as const satisfies ReadonlyArray<Session.HookEvent>

const denyWithoutCallback: Session.PermissionDecision = {
  behavior: "deny",
  message: "No permission callback was given for this session"
}

/**
 * Opens a pool; closing the scope drains it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(settings: Settings = {}) {
  const processes = yield* ProcessManager.ProcessManager
  const tokens = yield* TokenManager.TokenManager
  const clock = yield* Clock.Clock
  const scope = yield* Scope.Scope
  const background = yield* FiberSet.make()

  const max = Math.max(1, settings.max ?? 8)
  const minIdle = Math.max(0, settings.minIdle ?? 1)
  const maxWaiters = Math.max(0, settings.maxWaiters ?? 64)
  const acquireTimeout = Duration.fromInputUnsafe(settings.acquireTimeout ?? Duration.seconds(30))
  const maxTurns = settings.maxTurnsPerProcess ?? 100
  const maxAge = Duration.toMillis(Duration.fromInputUnsafe(settings.maxProcessAge ?? Duration.hours(1)))
  const maxIdle = Duration.toMillis(Duration.fromInputUnsafe(settings.maxIdleTime ?? Duration.minutes(10)))
  const sweepInterval = Duration.fromInputUnsafe(settings.sweepInterval ?? Duration.seconds(5))
  const drainGrace = Duration.fromInputUnsafe(settings.drainGrace ?? Duration.seconds(10))
  const sampleRss = settings.sampleRss ?? rssFromProc

  // The gauge of processes by status is moved synchronously, where the pool's state changes.
  const metricsContext = yield* Effect.context<never>()
  const entries = new Entries((status, delta) => sessionsIn(status).modifyUnsafe(delta, metricsContext))
  // Scopes of processes still to be closed, retired ones included: the drain waits for all.
  const open = new Set<Scope.Closeable>()
  const waiters: Array<Waiter> = []
  const keys = new Map<string, KeyInfo>()
  let draining = false
  let spawned = 0
  let retired = 0
  const idleAgain = yield* SubscriptionRef.make(0)

  const now = () => clock.currentTimeMillisUnsafe()
  const run = <A, E>(effect: Effect.Effect<A, E>) => FiberSet.run(background, effect).pipe(Effect.asVoid)
  const busyCount = () => {
    let n = 0
    for (const entry of entries) if (entry.status === "busy") n++
    return n
  }

  // --- planning: synchronous decisions over the pool's state, so no two fibers claim one process ---

  const ready = (status: Status) => status === "idle" || status === "parked"

  const newEntry = (key: string): Entry => {
    let status: Status = "starting"
    const entry: Entry = {
      key,
      createdAt: now(),
      get status() {
        return status
      },
      set status(next: Status) {
        if (next !== status && entries.has(entry)) {
          entries.count(status, -1)
          entries.count(next, 1)
        }
        status = next
      },
      session: undefined,
      scope: undefined,
      turns: 0,
      dirty: false,
      conversation: undefined,
      lastUsedAt: now(),
      overLimit: false,
      handlers: undefined,
      claimed: undefined
    }
    entries.add(entry)
    return entry
  }

  const plan = (request: Request): Plan | undefined => {
    let clean: Entry | undefined
    let parkedOfKey: Entry | undefined
    let oldestReady: Entry | undefined
    let recycling: Entry | undefined
    for (const entry of entries) {
      if (entry.status === "resetting" && entry.key === request.key && entry.claimed === undefined) recycling = entry
      if (!ready(entry.status)) continue
      if (entry.key === request.key) {
        if (request.resume !== undefined && entry.conversation === request.resume) {
          entry.status = "busy"
          return { _tag: "Lease", entry }
        }
        // The most recently used spare: its caches are the warmest.
        if (entry.status === "idle" && (clean === undefined || entry.lastUsedAt > clean.lastUsedAt)) clean = entry
        if (entry.status === "parked" && (parkedOfKey === undefined || entry.lastUsedAt < parkedOfKey.lastUsedAt)) {
          parkedOfKey = entry
        }
      }
      if (oldestReady === undefined || entry.lastUsedAt < oldestReady.lastUsedAt) oldestReady = entry
    }
    if (!request.fresh && clean !== undefined) {
      clean.status = "busy"
      return { _tag: "Lease", entry: clean }
    }
    // A `/clear` takes milliseconds, a cold start most of a second: wait for the recycle rather than spawn.
    if (!request.fresh && recycling !== undefined) {
      const claimed = Deferred.makeUnsafe<boolean>()
      recycling.claimed = claimed
      return { _tag: "AfterReset", entry: recycling, claimed }
    }
    if (entries.size < max) return { _tag: "Spawn", entry: newEntry(request.key), evict: undefined }
    if (!request.fresh && parkedOfKey !== undefined) {
      parkedOfKey.status = "resetting"
      return { _tag: "Reset", entry: parkedOfKey }
    }
    if (oldestReady !== undefined) {
      entries.delete(oldestReady)
      return { _tag: "Spawn", entry: newEntry(request.key), evict: oldestReady }
    }
    return undefined
  }

  // --- processes ---

  const sessionConfig = (entry: Entry, request: Request): Session.Config => ({
    options: request.config.options,
    controlTimeout: request.config.controlTimeout,
    debug: request.config.debug,
    tracePrompts: request.config.tracePrompts,
    debugLog: request.config.debugLog,
    // The pool replaces dead processes itself (and Resilience resumes conversations): no respawn in place.
    restart: { maxRestarts: 0 },
    // The lease of the moment decides.
    canUseTool: request.config.canUseTool === undefined ? undefined : (permission) =>
      Effect.suspend(() => entry.handlers?.canUseTool?.(permission) ?? Effect.succeed(denyWithoutCallback)),
    hooks: dispatchingHooks(entry, request.config.hooks)
  })

  // Pooled processes register the lease's hook *shape* (part of the key); calls go to the lease of the moment.
  const dispatchingHooks = (entry: Entry, hooks: Session.Config["hooks"]) => {
    const dispatching: Partial<Record<Session.HookEvent, ReadonlyArray<Session.HookHandler>>> = {}
    for (const event of hookEvents) {
      const handlers = hooks?.[event]
      if (handlers === undefined) continue
      dispatching[event] = handlers.map((handler, index) => ({
        ...(handler.matcher === undefined ? {} : { matcher: handler.matcher }),
        handle: (input: unknown) =>
          Effect.suspend(() => entry.handlers?.hooks?.[event]?.[index]?.handle(input) ?? Effect.succeed({ continue: true }))
      }))
    }
    return dispatching
  }

  const stop = (entry: Entry) =>
    Effect.suspend(() => {
      entries.delete(entry)
      const processScope = entry.scope
      entry.scope = undefined
      if (processScope === undefined) return Effect.void
      if (entry.session !== undefined) retired++
      return Scope.close(processScope, Exit.void).pipe(Effect.ensuring(Effect.sync(() => open.delete(processScope))))
    })

  const retire = (entry: Entry) => Effect.andThen(run(stop(entry)), dispatch)

  const spawn = (entry: Entry, request: Request) =>
    Effect.gen(function*() {
      const processScope = yield* Scope.make()
      open.add(processScope)
      entry.scope = processScope
      entry.dirty = request.resume !== undefined || request.config.options?.continue === true
      const session = yield* Session.make(sessionConfig(entry, request)).pipe(
        Effect.provideService(ProcessManager.ProcessManager, processes),
        Scope.provide(processScope),
        Effect.tapError(() => stop(entry))
      )
      spawned++
      entry.session = session
      return session
    })

  const reset = (entry: Entry) =>
    Effect.suspend(() => entry.session === undefined ? Effect.void : Effect.asVoid(entry.session.reset)).pipe(
      Effect.tap(() =>
        Effect.sync(() => {
          entry.dirty = false
          entry.conversation = undefined
        })
      ),
      Effect.tapError(() => stop(entry))
    )

  const isIdle = (entry: Entry) =>
    entry.session === undefined
      ? Effect.succeed(false)
      : Effect.map(SubscriptionRef.get(entry.session.state), (state) => state === "Idle")

  /** Carries out a plan; a spare that turned out dead, or a failed reset, is replaced by planning again. */
  const fulfil = (first: Plan, request: Request): Effect.Effect<Leased, ClaudeError.ClaudeError> =>
    Effect.gen(function*() {
      let current: Plan | undefined = first
      while (current !== undefined) {
        const step: Plan = current
        if (step._tag === "Spawn") {
          if (step.evict !== undefined) yield* run(stop(step.evict))
          const session = yield* spawn(step.entry, request).pipe(Effect.tapError(() => dispatch))
          return { entry: step.entry, session }
        }
        if (step._tag === "AfterReset" && !(yield* Deferred.await(step.claimed))) {
          current = plan(request)
          continue
        }
        const session = step.entry.session
        const alive = session !== undefined && (yield* isIdle(step.entry))
        if (alive && step._tag !== "Reset") return { entry: step.entry, session }
        if (alive && (yield* Effect.isSuccess(reset(step.entry)))) return { entry: step.entry, session }
        yield* stop(step.entry)
        current = plan(request)
      }
      return yield* Effect.fail(ClaudeError.make(new ClaudeError.PoolExhausted({ waiting: waiters.length, max })))
    })

  /** Carries out a waiter's plan in the background; a waiter that gave up meanwhile has it go back to the pool. */
  const start = (waiter: Waiter, next: Plan) =>
    Effect.suspend(() => {
      Deferred.doneUnsafe(waiter.dispatched, Exit.void)
      return run(fulfil(next, waiter.request).pipe(
        // On interruption too (the pool draining): the waiter must not wait for ever.
        Effect.onExit((exit) =>
          waiter.cancelled && Exit.isSuccess(exit)
            ? giveBack(exit.value.entry)
            : Deferred.done(waiter.result, exit)
        )
      ))
    })

  /** Hands freed room to the waiters, oldest first. */
  const dispatch: Effect.Effect<void> = Effect.suspend(() => {
    const started: Array<Effect.Effect<void>> = []
    while (!draining) {
      const head = waiters[0]
      if (head === undefined) break
      const next = plan(head.request)
      if (next === undefined) break
      waiters.shift()
      started.push(start(head, next))
    }
    return Effect.all(started, { discard: true })
  })

  // --- release ---

  const giveBack = (entry: Entry): Effect.Effect<void> =>
    Effect.gen(function*() {
      entry.handlers = undefined
      entry.lastUsedAt = now()
      const idle = yield* isIdle(entry)
      // A lease that leaves its process mid-turn or failed has it stopped before its scope finishes closing;
      // a healthy process past its limits is stopped in the background.
      if (!idle) return yield* Effect.andThen(stop(entry), dispatch)
      if (draining || entry.overLimit || entry.turns >= maxTurns || now() - entry.createdAt >= maxAge) {
        return yield* retire(entry)
      }
      if (entry.dirty && entry.conversation !== undefined) {
        entry.status = "parked"
        return yield* dispatch
      }
      if (!entry.dirty) {
        entry.status = "idle"
        return yield* dispatch
      }
      entry.status = "resetting"
      // The pool's own work, traced on its own: not under the span of whichever lease happened to end.
      yield* run(reset(entry).pipe(
        Effect.withSpan("SessionPool.recycle", { root: true }),
        Effect.andThen(Effect.sync(() => {
          entry.status = entry.claimed === undefined ? "idle" : "busy"
          entry.lastUsedAt = now()
        })),
        Effect.exit,
        Effect.flatMap((exit) => {
          const claimed = entry.claimed
          entry.claimed = undefined
          return claimed === undefined ? dispatch : Deferred.succeed(claimed, Exit.isSuccess(exit))
        })
      ))
    }).pipe(Effect.ensuring(SubscriptionRef.update(idleAgain, (n) => n + 1)))

  interface Lease {
    released: boolean
    mutated: boolean
    turns: number
  }

  const release = (entry: Entry, lease: Lease, sticky: boolean) =>
    Effect.gen(function*() {
      lease.released = true
      entry.turns += lease.turns
      if (lease.turns > 0) entry.dirty = true
      if (lease.mutated) entry.overLimit = true
      entry.conversation = sticky && entry.dirty && entry.session !== undefined
        ? Option.getOrUndefined(yield* entry.session.sessionId)
        : undefined
      yield* giveBack(entry)
    })

  /** The session as its lease holder sees it: refused after release, turns counted. */
  const leased = (session: Session.Session, lease: Lease): Session.Session => {
    const refused = Effect.fail(ClaudeError.make(new ClaudeError.ProtocolError({
      detail: "this pooled session was already returned to the pool"
    })))
    const guard = <A>(effect: Effect.Effect<A, ClaudeError.ClaudeError>, counts: "turn" | "mutation" | "none") =>
      Effect.suspend(() => {
        if (lease.released) return refused
        if (counts === "turn") lease.turns++
        if (counts === "mutation") lease.mutated = true
        return effect
      })
    const turnOf = (prompt: Protocol.UserContent) => (SlashCommands.promptProblem(prompt) === undefined ? "turn" : "none")
    return {
      ...session,
      get pid() {
        return session.pid
      },
      // A prompt the session refuses (F19) reaches no CLI: not a turn.
      send: (prompt) => Stream.unwrap(guard(Effect.succeed(session.send(prompt)), turnOf(prompt))),
      ask: (prompt) => guard(session.ask(prompt), turnOf(prompt)),
      reset: guard(session.reset, "none"),
      interrupt: guard(session.interrupt, "none"),
      // A command that may change the process retires it; one that only reports is a turn like any other;
      // one the session refuses changes nothing.
      command: (name, args) => {
        const command = SlashCommands.call(name, args)
        const reach = command === undefined ? "shared" : SlashCommands.reachOf(command)
        return guard(session.command(name, args), reach === "process" ? "mutation" : reach === "nothing" ? "turn" : "none")
      },
      setModel: (model) => guard(session.setModel(model), "mutation"),
      setPermissionMode: (mode) => guard(session.setPermissionMode(mode), "mutation"),
      request: (subtype, payload) => guard(session.request(subtype, payload), "mutation")
    }
  }

  // --- acquisition ---

  const requestOf = Effect.fnUntraced(function*(config: LeaseConfig) {
    const options = yield* validateLeaseConfig(config)
    const credential = yield* tokens.getToken
    const key = keyOf(options, config, credential)
    const resume = options.resume
    const request: Request = {
      key,
      config,
      resume,
      fresh: resume !== undefined || options.continue === true
    }
    const info = keys.get(key)
    if (info === undefined) {
      // Spares start a new conversation whatever the first lease asked for.
      const { resume: _resume, continue: _continue, forkSession: _fork, ...spareOptions } = config.options ?? {}
      const template: Request = { key, config: { ...config, options: spareOptions }, resume: undefined, fresh: false }
      keys.set(key, { lastAcquiredAt: now(), credential: Option.getOrUndefined(credential)?.identity, template })
    } else {
      info.lastAcquiredAt = now()
    }
    return request
  })

  const obtain = (request: Request): Effect.Effect<Leased, ClaudeError.ClaudeError> =>
    Effect.suspend(() => {
      if (draining) return Effect.interrupt
      const immediate = waiters.length === 0 ? plan(request) : undefined
      const ready = immediate?.entry.session
      // The hot path: a ready spare, handed over without a fiber or a Deferred.
      if (immediate?._tag === "Lease" && ready !== undefined) return Effect.succeed({ entry: immediate.entry, session: ready })
      if (immediate === undefined && waiters.length >= maxWaiters) {
        return Effect.fail(ClaudeError.make(new ClaudeError.PoolExhausted({ waiting: waiters.length, max })))
      }
      const waiter: Waiter = {
        request,
        dispatched: Deferred.makeUnsafe(),
        result: Deferred.makeUnsafe(),
        cancelled: false
      }
      // Spawns and recycles run in the pool's fibers, never the caller's: a caller that gives up
      // cannot strand a half-started process; what it was to get goes back to the pool.
      const queued = immediate === undefined ? Effect.sync(() => waiters.push(waiter)) : start(waiter, immediate)
      return queued.pipe(
        Effect.andThen(Deferred.await(waiter.dispatched)),
        Effect.timeoutOrElse({
          duration: acquireTimeout,
          orElse: () =>
            Effect.fail(ClaudeError.make(new ClaudeError.PoolExhausted({ waiting: waiters.length, max })))
        }),
        Effect.andThen(Deferred.await(waiter.result)),
        Effect.onExit((exit) =>
          Effect.suspend(() => {
            if (Exit.isSuccess(exit)) return Effect.void
            waiter.cancelled = true
            const index = waiters.indexOf(waiter)
            if (index >= 0) waiters.splice(index, 1)
            if (!Deferred.isDoneUnsafe(waiter.result)) return Effect.void
            return Effect.flatMap(Effect.exit(Deferred.await(waiter.result)), (handed) =>
              Exit.isSuccess(handed) ? giveBack(handed.value.entry) : Effect.void)
          })
        )
      )
    })

  const replenish = (key: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      const info = keys.get(key)
      if (info === undefined || draining || waiters.length > 0) return Effect.void
      let spares = 0
      for (const entry of entries) {
        if (entry.key === key && (entry.status === "idle" || entry.status === "starting" || entry.status === "resetting")) spares++
      }
      const wanted = Math.min(minIdle - spares, max - entries.size)
      const started: Array<Effect.Effect<void>> = []
      for (let i = 0; i < wanted; i++) {
        const entry = newEntry(key)
        started.push(run(spawn(entry, info.template).pipe(
          Effect.andThen(Effect.sync(() => {
            entry.status = "idle"
            entry.lastUsedAt = now()
          })),
          Effect.ignore,
          Effect.andThen(dispatch)
        )))
      }
      return Effect.all(started, { discard: true })
    })

  // How long an acquisition waited: about nothing for a warm spare, longer for a spawn, a recycle or the queue.
  const timed = (request: Request) =>
    Effect.suspend(() => {
      const startedAt = now()
      return obtain(request).pipe(
        Effect.onExit((exit) =>
          Exit.isSuccess(exit) || Cause.hasFails(exit.cause)
            ? Metric.update(waitedFor(Exit.isSuccess(exit) ? "acquired" : "failed"), (now() - startedAt) / 1000)
            : Effect.void
        )
      )
    })

  // The span ends before the session is handed over: it outlives the span, and a span kept by the fibers of
  // the spare spawned below would otherwise keep this session, and so on from lease to lease (F23).
  const acquireTraced = Effect.fnUntraced(function*(config: LeaseConfig) {
    const request = yield* requestOf(config)
    yield* Effect.annotateCurrentSpan({ key: request.key })
    const session = yield* Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(timed(request)), ({ entry, session }) => {
        entry.status = "busy"
        entry.handlers = { canUseTool: config.canUseTool, hooks: config.hooks }
        const lease: Lease = { released: false, mutated: false, turns: 0 }
        return Effect.as(
          Effect.addFinalizer(() => release(entry, lease, config.sticky === true)),
          leased(session, lease)
        )
      })
    )
    yield* run(replenish(request.key))
    return session
  })
  const acquire = (config: LeaseConfig = {}) => acquireTraced(config).pipe(withSpanNotHolding("SessionPool.acquire"))

  // --- housekeeping ---

  const sweep = Effect.gen(function*() {
    const at = now()
    const sparesByKey = new Map<string, number>()
    for (const entry of [...entries]) {
      if (entry.session === undefined) continue
      if (settings.maxRssBytes !== undefined) {
        const rss = yield* sampleRss(entry.session.pid)
        if (Option.isSome(rss) && rss.value > settings.maxRssBytes) entry.overLimit = true
      }
      if (!ready(entry.status)) continue
      const info = keys.get(entry.key)
      const keyActive = info !== undefined && at - info.lastAcquiredAt < maxIdle
      const idleFor = at - entry.lastUsedAt
      const spares = sparesByKey.get(entry.key) ?? 0
      const expired = entry.overLimit || at - entry.createdAt >= maxAge || !(yield* isIdle(entry)) ||
        (idleFor >= maxIdle && (entry.status === "parked" || spares >= minIdle || !keyActive))
      if (expired) {
        yield* retire(entry)
      } else if (entry.status === "idle") {
        sparesByKey.set(entry.key, spares + 1)
      }
    }
    for (const [key, info] of keys) {
      if (at - info.lastAcquiredAt < maxIdle) yield* replenish(key)
      else if (![...entries].some((entry) => entry.key === key)) keys.delete(key)
    }
  })

  yield* run(sweep.pipe(Effect.repeat(Schedule.spaced(sweepInterval))))

  // With a HealthChecker in the context, every process is checked on the sweep's schedule: an unhealthy
  // idle one retires at the next sweep, a busy one when its lease ends. Checks run on their own fiber,
  // concurrently: a responsiveness probe may take its whole deadline.
  const health = yield* Effect.serviceOption(HealthChecker.HealthChecker)
  if (Option.isSome(health)) {
    const checkAll = Effect.suspend(() =>
      Effect.forEach([...entries], (entry) => {
        const session = entry.session
        if (session === undefined || !(ready(entry.status) || entry.status === "busy")) return Effect.void
        return Effect.map(health.value.check(session), (checked) => {
          if (checked.status === "unhealthy") entry.overLimit = true
        })
      }, { concurrency: "unbounded", discard: true })
    )
    yield* run(checkAll.pipe(Effect.repeat(Schedule.spaced(sweepInterval))))
  }

  // Rotation: once the credential changes, idle processes running with another one retire now; busy
  // ones retire when released (their key is never acquired again, so they are not reused).
  const retireStale = (identity: Option.Option<string>) =>
    Effect.forEach(
      [...entries].filter((entry) => {
        const credential = keys.get(entry.key)?.credential
        return ready(entry.status) && credential !== undefined && credential !== Option.getOrUndefined(identity)
      }),
      retire,
      { discard: true }
    )
  yield* run(tokens.changes.pipe(Stream.runForEach(retireStale)))

  const leasesReturned = (within: Duration.Duration) =>
    SubscriptionRef.changes(idleAgain).pipe(
      Stream.takeUntil(() => busyCount() === 0),
      Stream.runDrain,
      Effect.timeoutOrElse({ duration: within, orElse: () => Effect.void })
    )

  const drain = Effect.gen(function*() {
    draining = true
    for (const waiter of waiters.splice(0)) {
      waiter.cancelled = true
      yield* Deferred.interrupt(waiter.dispatched)
    }
    // Running turns get the grace period, then an interrupt, and a little longer to report it.
    yield* leasesReturned(drainGrace)
    yield* Effect.forEach(
      [...entries].filter((entry) => entry.status === "busy"),
      (entry) => entry.session === undefined ? Effect.void : Effect.ignore(entry.session.interrupt),
      { concurrency: "unbounded", discard: true }
    )
    yield* leasesReturned(Duration.seconds(5))
    yield* FiberSet.clear(background)
    yield* Effect.forEach([...open], (processScope) => Scope.close(processScope, Exit.void), {
      concurrency: "unbounded",
      discard: true
    })
    entries.clear()
    open.clear()
  })
  yield* Scope.addFinalizer(scope, drain)

  const stats = Effect.map(FiberSet.size(background), (tasks): Stats => {
    const byKey = new Map<string, { starting: number; idle: number; parked: number; busy: number; resetting: number }>()
    for (const entry of entries) {
      const counts = byKey.get(entry.key) ?? { starting: 0, idle: 0, parked: 0, busy: 0, resetting: 0 }
      counts[entry.status]++
      byKey.set(entry.key, counts)
    }
    return {
      max,
      size: entries.size,
      waiting: waiters.length,
      draining,
      spawned,
      retired,
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

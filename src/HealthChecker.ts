/**
 * The health of CLI sessions, checked per process on a `Schedule`:
 *
 * - **alive**: the session's process runs (`/proc/<pid>` on Linux, signal 0
 *   elsewhere); a `Failed` session is unhealthy whatever its process does;
 * - **responsive**: only while the session is `Idle`, a cheap control request
 *   (`mcp_status` by default) is answered within `responseDeadline`. A running
 *   session is never probed: its turn has the CLI's attention, and the
 *   session's own deadlines watch it;
 * - **resources**: RSS and CPU seconds from `/proc/<pid>`, over optional
 *   thresholds (`maxRssBytes`, `maxCpuSeconds`). These are health thresholds:
 *   the hard limits, which stop a process, are `ClaudeOptions.limits`;
 * - **stalled**: a `Running` session that has shown no sign of life for longer
 *   than `stallAfter` (default: the idle timeout's default). The last sign of
 *   life is the later of the turn's last event (`lastEventAt`, which a
 *   `Session` reports, and which is "now" while the host decides a permission
 *   or a hook; for a target without it, the time it was seen entering
 *   `Running`) and the last change of the process's I/O counters (`rchar +
 *   wchar` of `/proc/<pid>/io`: every event it writes, every byte it reads from
 *   the API).
 *
 * Each check gives a {@link Health}: `healthy`, `unhealthy` with its
 * {@link Problem}s, or `unknown` (a session still starting, or closed).
 * `watch` checks a session on the schedule for as long as a scope, and gives
 * its stream of changes (a change is a new status or a new set of problems,
 * not a new reading); `changes` and `onChange` (the milestone's
 * `RegisterHealthHandler`) carry the changes of every watched session;
 * `aggregate` sums them up (`healthy`, `degraded`, `unhealthy`).
 *
 * What to do about an unhealthy process is the pool's: an idle one is
 * retired, a running one is flagged and stopped after its turn. The pool calls
 * {@link HealthChecker} `check` for that, on its own schedule.
 *
 * A watch with an explicit `id` records each reading in the gauges
 * `claude_process_rss_bytes` and `claude_process_cpu_seconds`, with the id as
 * their `session` attribute (without one, a watch records no gauge: the
 * attribute's values must stay few, e.g. pool slot names).
 *
 * Every wait is on the Effect `Clock` and bounded (`responseDeadline`), so
 * `TestClock` drives all of it; the process readings come from a
 * {@link ResourceLimits.Sampler} and an `isAlive` function, both replaceable
 * (by default the host's `/proc`, read through the `FileSystem`).
 *
 * @since 0.1.0
 */
import {
  Clock,
  Context,
  Duration,
  Effect,
  Fiber,
  type FileSystem,
  Layer,
  Metric,
  Option,
  PubSub,
  Result,
  Schedule,
  type Scope,
  Stream,
  SubscriptionRef
} from "effect"
import * as ClaudeOptions from "./ClaudeOptions.ts"
import * as Metrics from "./Metrics.ts"
import * as ResourceLimits from "./ResourceLimits.ts"
import type * as Session from "./Session.ts"

/**
 * The verdict of a check: `unknown` while a session starts or once it closed.
 *
 * @since 0.1.0
 * @category models
 */
export type Status = "unknown" | "healthy" | "unhealthy"

/**
 * What is wrong with a session.
 *
 * @since 0.1.0
 * @category models
 */
export type Problem =
  /** Its process is gone while the session is Idle or Running. */
  | { readonly _tag: "Dead"; readonly pid: number }
  /** The session is `Failed`: it runs no more turns. */
  | { readonly _tag: "Failed" }
  /** Idle, and the probe was not answered in time (or was refused). */
  | { readonly _tag: "Unresponsive"; readonly deadlineMs: number; readonly detail: string }
  /** A reading over a health threshold. */
  | {
    readonly _tag: "OverThreshold"
    readonly resource: "rssBytes" | "cpuSeconds"
    readonly threshold: number
    readonly observed: number
  }
  /** Running, with no sign of life for longer than `stallAfter`. */
  | { readonly _tag: "Stalled"; readonly silentMs: number; readonly thresholdMs: number }

/**
 * The outcome of one check of one session.
 *
 * @since 0.1.0
 * @category models
 */
export interface Health {
  /** The watch's id, or `pid-<pid>` for a one-off check. */
  readonly id: string
  readonly pid: number
  readonly state: Session.State
  readonly status: Status
  readonly problems: ReadonlyArray<Problem>
  /** Whether the process runs (`false` too for a session without one). */
  readonly alive: boolean
  /** The probe's round trip, when one ran (Idle) and was answered. */
  readonly responseMs: Option.Option<number>
  readonly usage: Option.Option<ResourceLimits.Usage>
  /** Clock millis of the check. */
  readonly checkedAt: number
}

/**
 * The health of a set of sessions: `healthy` when none is unhealthy, `unhealthy` when all are (and there is
 * at least one), `degraded` in between.
 *
 * @since 0.1.0
 * @category models
 */
export interface Aggregate {
  readonly status: "healthy" | "degraded" | "unhealthy"
  readonly total: number
  readonly healthy: number
  readonly unhealthy: number
  readonly unknown: number
  /** Sessions with each problem. */
  readonly problems: Readonly<Record<Problem["_tag"], number>>
}

/**
 * What a check needs of a session: a `Session.Session` is one. `lastEventAt` (Clock millis of the running
 * turn's last sign of life) makes stall detection exact; without it, stalls are derived from the time spent
 * Running and the process's I/O (see the module's notes).
 *
 * @since 0.1.0
 * @category models
 */
export interface Target extends Pick<Session.Session, "state" | "pid" | "request"> {
  readonly lastEventAt?: Effect.Effect<Option.Option<number>> | undefined
}

/**
 * How one check names and judges its session.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckOptions {
  /**
   * Names the session in its {@link Health}; for a watch, also the `session` attribute of the process gauges
   * (`claude_process_rss_bytes`, `claude_process_cpu_seconds`), which are recorded only with an explicit id.
   */
  readonly id?: string | undefined
  /** Overrides the settings' `stallAfter` (the pool passes the session's own idle timeout). */
  readonly stallAfter?: Duration.Input | undefined
}

/**
 * How a watch checks its session: a check's options and its own schedule.
 *
 * @since 0.1.0
 * @category models
 */
export interface WatchOptions extends CheckOptions {
  /** Overrides the settings' schedule for this session. */
  readonly schedule?: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * A watched session.
 *
 * @since 0.1.0
 * @category models
 */
export interface Watched {
  readonly id: string
  /** The latest check (`unknown` before the first one has finished). */
  readonly current: Effect.Effect<Health>
  /**
   * The latest check, then every change of status or problems; it ends once the session is `Closed` (with a
   * last `unknown` health in state `Closed`), or the watch's scope closes.
   */
  readonly changes: Stream.Stream<Health>
}

/**
 * What a checker probes, how often, and its thresholds and readers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** When a watched session is checked. Default: every 10 seconds (`Schedule.spaced`). */
  readonly schedule?: Schedule.Schedule<unknown, unknown> | undefined
  /** The control request that probes an idle session. Default `"mcp_status"`. */
  readonly probe?: string | undefined
  /** How long an idle session has to answer the probe. Default 5 seconds. */
  readonly responseDeadline?: Duration.Input | undefined
  /** A running session silent this long is stalled. Default `ClaudeOptions.defaultTimeouts.idle` (5 minutes). */
  readonly stallAfter?: Duration.Input | undefined
  /** Resident memory above which a session is unhealthy. Default: none. */
  readonly maxRssBytes?: number | undefined
  /** CPU seconds above which a session is unhealthy. Default: none. */
  readonly maxCpuSeconds?: number | undefined
  /** Reads a process's usage. Default: the host's `/proc` (`ResourceLimits.Proc`; nothing where there is none). */
  readonly sample?: ResourceLimits.Sampler | undefined
  /** Whether a process runs. Default: the host's `/proc` (`ResourceLimits.Proc`), signal 0 where there is none. */
  readonly isAlive?: ((pid: number) => Effect.Effect<boolean>) | undefined
}

/**
 * Checks the health of CLI sessions, once or on a schedule, and tells of every change.
 *
 * @since 0.1.0
 * @category services
 */
export class HealthChecker extends Context.Service<HealthChecker, {
  /** Checks a session once, now. */
  readonly check: (target: Target, options?: CheckOptions) => Effect.Effect<Health>
  /** Checks a session on the schedule for as long as the scope (or until it is `Closed`). */
  readonly watch: (target: Target, options?: WatchOptions) => Effect.Effect<Watched, never, Scope.Scope>
  /** Changes of every watched session, from the moment the stream is run. */
  readonly changes: Stream.Stream<Health>
  /**
   * Runs `handler` on every change of every watched session, for as long as the scope. Subscribed before
   * this returns: no change after it is missed. A handler's failure or defect is logged, not propagated.
   */
  readonly onChange: (handler: (health: Health) => Effect.Effect<void>) => Effect.Effect<void, never, Scope.Scope>
  /** The aggregate of the watched sessions' latest checks. */
  readonly aggregate: Effect.Effect<Aggregate>
  /** The aggregate, each time it changes. */
  readonly aggregateChanges: Stream.Stream<Aggregate>
}>()("effect-claude-code/HealthChecker") {}

const problemTags: ReadonlyArray<Problem["_tag"]> = ["Dead", "Failed", "Unresponsive", "OverThreshold", "Stalled"]

/**
 * Sums up a set of healths. Pure.
 *
 * @since 0.1.0
 * @category aggregation
 */
export const aggregateOf = (healths: Iterable<Health>): Aggregate => {
  let total = 0
  let healthy = 0
  let unhealthy = 0
  let unknown = 0
  const problems: Record<Problem["_tag"], number> = {
    Dead: 0,
    Failed: 0,
    Unresponsive: 0,
    OverThreshold: 0,
    Stalled: 0
  }
  for (const health of healths) {
    total++
    if (health.status === "healthy") healthy++
    else if (health.status === "unhealthy") unhealthy++
    else unknown++
    for (const tag of new Set(health.problems.map((p) => p._tag))) problems[tag]++
  }
  const status = unhealthy === 0 ? "healthy" : unhealthy === total ? "unhealthy" : "degraded"
  return { status, total, healthy, unhealthy, unknown, problems }
}

/** Two healths differ for the streams when their status or their kinds of problems differ. */
const sameHealth = (a: Health, b: Health) => a.status === b.status && signature(a.problems) === signature(b.problems)
const signature = (problems: ReadonlyArray<Problem>) =>
  problemTags.filter((tag) => problems.some((p) => p._tag === tag)).join(",")

const sameAggregate = (a: Aggregate, b: Aggregate) =>
  a.status === b.status && a.total === b.total && a.healthy === b.healthy && a.unhealthy === b.unhealthy &&
  a.unknown === b.unknown && problemTags.every((tag) => a.problems[tag] === b.problems[tag])

/** What a check remembers of a session between checks, for the derived stall detection. */
interface Tracker {
  /** Clock millis at which the session was (first) seen Running in its current turn. */
  runningSince: number | undefined
  ioBytes: number | undefined
  ioChangedAt: number
}

/** How a checker reads a process: the settings' functions, else the host's `/proc`. */
interface Readers {
  readonly sample: ResourceLimits.Sampler
  readonly isAlive: (pid: number) => Effect.Effect<boolean>
}

const makeWith = Effect.fnUntraced(function*(settings: Settings, readers: Readers) {
  const schedule = settings.schedule ?? Schedule.spaced(Duration.seconds(10))
  const probe = settings.probe ?? "mcp_status"
  const deadline = Duration.fromInputUnsafe(settings.responseDeadline ?? Duration.seconds(5))
  const defaultStall = Duration.fromInputUnsafe(settings.stallAfter ?? ClaudeOptions.defaultTimeouts.idle)
  const sample = readers.sample
  const alive = readers.isAlive

  const trackers = new WeakMap<Target, Tracker>()
  const trackerOf = (target: Target, now: number): Tracker => {
    const found = trackers.get(target)
    if (found !== undefined) return found
    const created: Tracker = { runningSince: undefined, ioBytes: undefined, ioChangedAt: now }
    trackers.set(target, created)
    return created
  }
  // Keeps `runningSince` to the time the session entered Running (exact when watched: see `watch`).
  const observeState = (tracker: Tracker, state: Session.State, now: number) => {
    if (state !== "Running") tracker.runningSince = undefined
    else if (tracker.runningSince === undefined) tracker.runningSince = now
  }

  const watched = new Map<string, SubscriptionRef.SubscriptionRef<Health>>()
  const published = yield* PubSub.sliding<Health>(4096)
  let nextId = 0

  const responsive = (target: Target) =>
    Effect.gen(function*() {
      const sentAt = yield* Clock.currentTimeMillis
      const answer = yield* target.request(probe).pipe(Effect.timeoutOption(deadline), Effect.result)
      const deadlineMs = Duration.toMillis(deadline)
      if (Result.isFailure(answer)) {
        return {
          responseMs: Option.none<number>(),
          problem: Option.some<Problem>({ _tag: "Unresponsive", deadlineMs, detail: answer.failure.message })
        }
      }
      if (Option.isNone(answer.success)) {
        return {
          responseMs: Option.none<number>(),
          problem: Option.some<Problem>({
            _tag: "Unresponsive",
            deadlineMs,
            detail: `no answer to ${probe} within ${deadlineMs} ms`
          })
        }
      }
      const answeredAt = yield* Clock.currentTimeMillis
      return { responseMs: Option.some(answeredAt - sentAt), problem: Option.none<Problem>() }
    })

  const check = Effect.fn("HealthChecker.check")(function*(target: Target, options?: CheckOptions) {
    const pid = target.pid
    const id = options?.id ?? `pid-${pid}`
    const stallAfter = options?.stallAfter === undefined
      ? defaultStall
      : Duration.fromInputUnsafe(options.stallAfter)
    const startedAt = yield* Clock.currentTimeMillis
    const tracker = trackerOf(target, startedAt)
    const state = yield* SubscriptionRef.get(target.state)
    observeState(tracker, state, startedAt)
    yield* Effect.annotateCurrentSpan({ pid, state })
    const base = { id, pid, state, responseMs: Option.none<number>(), usage: Option.none<ResourceLimits.Usage>() }
    if (state === "Starting" || state === "Closed") {
      const running = state === "Starting" && pid > 0 ? yield* alive(pid) : false
      return { ...base, status: "unknown", problems: [], alive: running, checkedAt: startedAt } satisfies Health
    }
    if (state === "Failed") {
      const isAlive = yield* alive(pid)
      return {
        ...base,
        status: "unhealthy",
        problems: [{ _tag: "Failed" }],
        alive: isAlive,
        checkedAt: startedAt
      } satisfies Health
    }
    const problems: Array<Problem> = []
    const isAlive = yield* alive(pid)
    if (!isAlive) problems.push({ _tag: "Dead", pid })
    const usage = isAlive ? yield* sample(pid) : Option.none<ResourceLimits.Usage>()
    if (Option.isSome(usage)) {
      const { cpuSeconds, ioBytes, rssBytes } = usage.value
      if (settings.maxRssBytes !== undefined && rssBytes > settings.maxRssBytes) {
        problems.push({
          _tag: "OverThreshold",
          resource: "rssBytes",
          threshold: settings.maxRssBytes,
          observed: rssBytes
        })
      }
      if (settings.maxCpuSeconds !== undefined && cpuSeconds > settings.maxCpuSeconds) {
        problems.push({
          _tag: "OverThreshold",
          resource: "cpuSeconds",
          threshold: settings.maxCpuSeconds,
          observed: cpuSeconds
        })
      }
      if (ioBytes !== undefined && ioBytes !== tracker.ioBytes) {
        tracker.ioBytes = ioBytes
        tracker.ioChangedAt = startedAt
      }
    }
    let responseMs = Option.none<number>()
    if (isAlive && state === "Idle") {
      const probed = yield* responsive(target)
      responseMs = probed.responseMs
      if (Option.isSome(probed.problem)) problems.push(probed.problem.value)
    }
    if (isAlive && state === "Running") {
      const reported = target.lastEventAt === undefined ? Option.none<number>() : yield* target.lastEventAt
      // A process still reading or writing is alive, whatever its last event.
      const silentSince = Math.max(
        Option.getOrElse(reported, () => tracker.runningSince ?? startedAt),
        tracker.ioBytes === undefined ? 0 : tracker.ioChangedAt
      )
      const silentMs = startedAt - silentSince
      const thresholdMs = Duration.toMillis(stallAfter)
      if (silentMs > thresholdMs) problems.push({ _tag: "Stalled", silentMs, thresholdMs })
    }
    return {
      ...base,
      status: problems.length === 0 ? "healthy" : "unhealthy",
      problems,
      alive: isAlive,
      responseMs,
      usage,
      checkedAt: yield* Clock.currentTimeMillis
    } satisfies Health
  })

  const watch = Effect.fn("HealthChecker.watch")(function*(target: Target, options?: WatchOptions) {
    const id = options?.id ?? `session-${++nextId}`
    const now = yield* Clock.currentTimeMillis
    const tracker = trackerOf(target, now)
    const initial: Health = {
      id,
      pid: target.pid,
      state: yield* SubscriptionRef.get(target.state),
      status: "unknown",
      problems: [],
      alive: true,
      responseMs: Option.none(),
      usage: Option.none(),
      checkedAt: now
    }
    const latest = yield* SubscriptionRef.make(initial)
    watched.set(id, latest)
    yield* Effect.addFinalizer(() => Effect.sync(() => watched.delete(id)))
    // The gauges' series of this watch, made once (only for an explicit id: attribute values stay bounded).
    const gauges = options?.id === undefined ? undefined : {
      rss: Metric.withAttributes(Metrics.processRssBytes, { session: id }),
      cpu: Metric.withAttributes(Metrics.processCpuSeconds, { session: id })
    }

    const record = (health: Health) =>
      Effect.gen(function*() {
        if (gauges !== undefined && Option.isSome(health.usage)) {
          yield* Metric.update(gauges.rss, health.usage.value.rssBytes)
          yield* Metric.update(gauges.cpu, health.usage.value.cpuSeconds)
        }
        const previous = yield* SubscriptionRef.getAndSet(latest, health)
        if (!sameHealth(previous, health) || (health.state === "Closed" && previous.state !== "Closed")) {
          yield* PubSub.publish(published, health)
        }
      })

    // Exact Running times for the stall detection, and the end of the watch once the session is Closed.
    const closed = SubscriptionRef.changes(target.state).pipe(
      Stream.tap((state) => Effect.map(Clock.currentTimeMillis, (at) => observeState(tracker, state, at))),
      Stream.takeUntil((state) => state === "Closed"),
      Stream.runDrain
    )
    const checks = yield* check(target, { ...options, id }).pipe(
      Effect.flatMap(record),
      Effect.repeat(options?.schedule ?? schedule),
      Effect.forkScoped
    )
    // Closed: no more checks; a last health (state Closed) ends the session's stream, and it leaves the aggregate.
    yield* closed.pipe(
      Effect.andThen(Fiber.interrupt(checks)),
      Effect.andThen(Effect.flatMap(check(target, { ...options, id }), record)),
      Effect.andThen(Effect.sync(() => watched.delete(id))),
      Effect.forkScoped
    )
    return {
      id,
      current: SubscriptionRef.get(latest),
      changes: SubscriptionRef.changes(latest).pipe(
        Stream.changesWith((a, b) => sameHealth(a, b) && (a.state === "Closed") === (b.state === "Closed")),
        Stream.takeUntil((health) => health.state === "Closed")
      )
    } satisfies Watched
  })

  const changes = Stream.fromPubSub(published)

  const onChange = Effect.fn("HealthChecker.onChange")(function*(handler: (health: Health) => Effect.Effect<void>) {
    const subscription = yield* PubSub.subscribe(published)
    yield* Stream.fromSubscription(subscription).pipe(
      Stream.runForEach((health) =>
        handler(health).pipe(
          Effect.catchCause((cause) => Effect.logWarning("a health change handler failed", cause))
        )
      ),
      Effect.forkScoped
    )
  })

  const aggregate = Effect.suspend(() =>
    Effect.map(Effect.forEach([...watched.values()], SubscriptionRef.get), aggregateOf)
  ).pipe(Effect.withSpan("HealthChecker.aggregate"))

  const aggregateChanges = Stream.concat(Stream.make(undefined), changes).pipe(
    Stream.mapEffect(() => aggregate),
    Stream.changesWith(sameAggregate)
  )

  return HealthChecker.of({ check, watch, changes, onChange, aggregate, aggregateChanges })
})

/**
 * Settings that bring both readers of a process (`sample` and `isAlive`): a checker made with them reads no
 * `/proc` of its own, so it needs no `FileSystem`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SettingsWithReaders extends Settings {
  readonly sample: ResourceLimits.Sampler
  readonly isAlive: (pid: number) => Effect.Effect<boolean>
}

/**
 * Builds the service. A reader the settings leave out reads the host's `/proc` through the `FileSystem`
 * ({@link ResourceLimits.makeProc}, looked for here, once).
 *
 * @since 0.1.0
 * @category constructors
 */
export function make(settings: SettingsWithReaders): Effect.Effect<HealthChecker["Service"]>
export function make(settings?: Settings): Effect.Effect<HealthChecker["Service"], never, FileSystem.FileSystem>
export function make(settings: Settings = {}): Effect.Effect<HealthChecker["Service"], never, FileSystem.FileSystem> {
  const { isAlive, sample } = settings
  if (sample !== undefined && isAlive !== undefined) return makeWith(settings, { sample, isAlive })
  return Effect.flatMap(
    ResourceLimits.makeProc,
    (proc) => makeWith(settings, { sample: sample ?? proc.sample, isAlive: isAlive ?? proc.isAlive })
  )
}

/**
 * A HealthChecker with these settings; on the context's `FileSystem` unless they bring both readers.
 *
 * @since 0.1.0
 * @category layers
 */
export function layer(settings: SettingsWithReaders): Layer.Layer<HealthChecker>
export function layer(settings?: Settings): Layer.Layer<HealthChecker, never, FileSystem.FileSystem>
export function layer(settings?: Settings): Layer.Layer<HealthChecker, never, FileSystem.FileSystem> {
  return Layer.effect(HealthChecker, make(settings))
}

/**
 * The pool's decisions, as pure functions of its state and an event: which process serves an acquisition,
 * what is spawned, evicted or retired, what a released process becomes, what the sweeper retires, how many
 * spares a key lacks. Nothing here runs an effect, reads a clock or changes a process: the pool reads its
 * state, asks, and carries the answer out in the same synchronous step, so no two fibers claim one process.
 */

/**
 * Where a process is in its life: `starting` until its CLI is ready; `idle`, ready for a new conversation;
 * `parked`, idle with a sticky conversation on it; `busy`, lent to a lease (or claimed by one while it
 * starts or recycles for it); `resetting`, being recycled with `/clear`.
 */
export type Status = "starting" | "idle" | "parked" | "busy" | "resetting"

/** Ready to be lent at once: a spare, or a parked conversation. */
export const isReady = (status: Status): boolean => status === "idle" || status === "parked"

/** What the planner reads of one of the pool's processes. */
export interface ProcessView {
  /** The pool key of the configuration it was started with. */
  readonly key: string
  readonly status: Status
  /** Clock millis when it was started. */
  readonly createdAt: number
  /** Clock millis when it was last handed back (or started). */
  readonly lastUsedAt: number
  /** Turns it has served. */
  readonly turns: number
  /** Turns ran on it since its last verified reset (or it was started to resume a conversation). */
  readonly dirty: boolean
  /** The session id of the sticky conversation parked on it. */
  readonly conversation: string | undefined
  /** Found over a limit (RSS, health, a change of the process by its lease): never lent again. */
  readonly overLimit: boolean
  /** Whatever marks an acquisition waiting for its reset; `undefined` while none is. */
  readonly claimed: unknown
}

/** What an acquisition asks for. */
export interface Want {
  readonly key: string
  /** The conversation it resumes, which may be parked on a process of the key. */
  readonly resume: string | undefined
  /** It needs a process of its own (it resumes or continues a conversation not parked here): no spare. */
  readonly fresh: boolean
}

/**
 * How an acquisition is served:
 * - `Lease`: a ready process of the key, lent at once (its parked conversation, or the warmest spare);
 * - `AfterReset`: a process of the key being recycled, claimed for when its reset is confirmed;
 * - `Reset`: a parked process of the key, recycled for this acquisition (the pool is full);
 * - `Spawn`: a new process, after stopping `evict` (the least recently used ready process) when the pool
 *   is full.
 */
export type Decision<P> =
  | { readonly _tag: "Lease"; readonly process: P }
  | { readonly _tag: "AfterReset"; readonly process: P }
  | { readonly _tag: "Reset"; readonly process: P }
  | { readonly _tag: "Spawn"; readonly evict: P | undefined }

/**
 * Which process serves an acquisition, or `undefined` when it must wait: the pool is full of processes that
 * are busy, starting or resetting (for other acquisitions).
 */
export const planAcquire = <P extends ProcessView>(
  processes: Iterable<P>,
  max: number,
  want: Want
): Decision<P> | undefined => {
  let size = 0
  let clean: P | undefined
  let parkedOfKey: P | undefined
  let oldestReady: P | undefined
  let recycling: P | undefined
  for (const process of processes) {
    size++
    if (process.status === "resetting" && process.key === want.key && process.claimed === undefined) {
      recycling = process
    }
    if (!isReady(process.status)) continue
    if (process.key === want.key) {
      if (want.resume !== undefined && process.conversation === want.resume) return { _tag: "Lease", process }
      // The most recently used spare: its caches are the warmest.
      if (process.status === "idle" && (clean === undefined || process.lastUsedAt > clean.lastUsedAt)) clean = process
      if (process.status === "parked" && (parkedOfKey === undefined || process.lastUsedAt < parkedOfKey.lastUsedAt)) {
        parkedOfKey = process
      }
    }
    if (oldestReady === undefined || process.lastUsedAt < oldestReady.lastUsedAt) oldestReady = process
  }
  if (!want.fresh && clean !== undefined) return { _tag: "Lease", process: clean }
  // A `/clear` takes milliseconds, a cold start most of a second: wait for the recycle rather than spawn.
  if (!want.fresh && recycling !== undefined) return { _tag: "AfterReset", process: recycling }
  if (size < max) return { _tag: "Spawn", evict: undefined }
  if (!want.fresh && parkedOfKey !== undefined) return { _tag: "Reset", process: parkedOfKey }
  if (oldestReady !== undefined) return { _tag: "Spawn", evict: oldestReady }
  return undefined
}

/** The limits a process retires at, and the pool's bounds. Durations in milliseconds. */
export interface Limits {
  /** Processes across all keys. */
  readonly max: number
  /** Ready spares kept per key in use. */
  readonly minIdle: number
  readonly maxTurns: number
  readonly maxAge: number
  readonly maxIdle: number
}

/**
 * What a process handed back becomes:
 * - `stop`: it was left mid-turn, or its session failed: stopped before the lease's scope finishes closing;
 * - `retire`: past a limit, or the pool drains: stopped in the background;
 * - `park`: it holds a sticky conversation;
 * - `idle`: it ran no turn since its last reset, so it is clean;
 * - `reset`: recycled with a verified `/clear`.
 */
export type Release = "stop" | "retire" | "park" | "idle" | "reset"

/** What a process handed back at `now` becomes; `idle` says whether its session is Idle. */
export const planRelease = (
  process: ProcessView,
  now: number,
  limits: Pick<Limits, "maxTurns" | "maxAge">,
  observed: { readonly idle: boolean; readonly draining: boolean }
): Release => {
  if (!observed.idle) return "stop"
  if (
    observed.draining || process.overLimit || process.turns >= limits.maxTurns ||
    now - process.createdAt >= limits.maxAge
  ) return "retire"
  if (process.dirty && process.conversation !== undefined) return "park"
  if (!process.dirty) return "idle"
  return "reset"
}

/** A process as the sweeper found it: whether its session was Idle when read. */
export interface Observed<P> {
  readonly process: P
  readonly idle: boolean
}

/**
 * The ready processes the sweeper retires at `now`: over a limit, too old, no longer Idle (their CLI died),
 * or idle for `maxIdle` while parked, beyond the key's first `minIdle` spares (in the order given), or of a
 * key not acquired for `maxIdle` (`lastAcquiredAt` gives when each key last was).
 */
export const planSweep = <P extends ProcessView>(
  observed: Iterable<Observed<P>>,
  now: number,
  limits: Pick<Limits, "minIdle" | "maxAge" | "maxIdle">,
  lastAcquiredAt: (key: string) => number | undefined
): ReadonlyArray<P> => {
  const sparesByKey = new Map<string, number>()
  const retiring: Array<P> = []
  for (const { idle, process } of observed) {
    if (!isReady(process.status)) continue
    const acquiredAt = lastAcquiredAt(process.key)
    const keyActive = acquiredAt !== undefined && now - acquiredAt < limits.maxIdle
    const spares = sparesByKey.get(process.key) ?? 0
    const idleTooLong = now - process.lastUsedAt >= limits.maxIdle &&
      (process.status === "parked" || spares >= limits.minIdle || !keyActive)
    if (process.overLimit || now - process.createdAt >= limits.maxAge || !idle || idleTooLong) {
      retiring.push(process)
    } else if (process.status === "idle") {
      sparesByKey.set(process.key, spares + 1)
    }
  }
  return retiring
}

/**
 * After a sweep: the keys acquired within `maxIdle` keep their spares topped up (`active`); the others are
 * forgotten once none of their processes is left (`forgotten`).
 */
export const planKeys = (
  keys: Iterable<readonly [key: string, lastAcquiredAt: number]>,
  processes: Iterable<ProcessView>,
  now: number,
  maxIdle: number
): { readonly active: ReadonlyArray<string>; readonly forgotten: ReadonlyArray<string> } => {
  const inUse = new Set<string>()
  for (const process of processes) inUse.add(process.key)
  const active: Array<string> = []
  const forgotten: Array<string> = []
  for (const [key, lastAcquiredAt] of keys) {
    if (now - lastAcquiredAt < maxIdle) active.push(key)
    else if (!inUse.has(key)) forgotten.push(key)
  }
  return { active, forgotten }
}

/**
 * How many spares to start for a key: up to `minIdle` ready or soon ready (idle, starting, resetting)
 * processes of it, within the room `max` leaves. Zero or less: none.
 */
export const sparesWanted = (
  processes: Iterable<ProcessView>,
  key: string,
  limits: Pick<Limits, "minIdle" | "max">
): number => {
  let size = 0
  let spares = 0
  for (const process of processes) {
    size++
    if (
      process.key === key &&
      (process.status === "idle" || process.status === "starting" || process.status === "resetting")
    ) spares++
  }
  return Math.min(limits.minIdle - spares, limits.max - size)
}

/**
 * After the credential changed to `identity`: the ready processes running with another credential (whose
 * identity `credentialOf` gives by key), to retire now. Busy ones retire when handed back: their key is
 * never acquired again.
 */
export const staleProcesses = <P extends ProcessView>(
  processes: Iterable<P>,
  credentialOf: (key: string) => string | undefined,
  identity: string | undefined
): ReadonlyArray<P> => {
  const stale: Array<P> = []
  for (const process of processes) {
    const credential = credentialOf(process.key)
    if (isReady(process.status) && credential !== undefined && credential !== identity) stale.push(process)
  }
  return stale
}

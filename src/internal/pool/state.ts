/**
 * The pool's state: its processes (with the `claude_pool_sessions` gauge kept at every change of them),
 * the keys in use, the scopes still to close, and its counters. Every change of a process's status goes
 * through {@link ProcessTable.move}, every entry and exit through `add` and `remove`: the gauge is updated
 * there, in plain sight, and nowhere else.
 */
import type { Deferred, Scope } from "effect"
import type * as McpTools from "../../McpTools.ts"
import type * as Session from "../../Session.ts"
import type { ProcessView, Status } from "./planner.ts"

/** The lease of the moment's callbacks: the process's permission tool and hooks call through these. */
export interface Handlers {
  readonly canUseTool: Session.Config["canUseTool"]
  readonly hooks: Session.Config["hooks"]
  readonly onElicitation: Session.Config["onElicitation"]
  readonly onUserDialog: Session.Config["onUserDialog"]
  /** The lease's toolkits, with the lease's handlers. */
  readonly tools: McpTools.Resolved
}

/** One of the pool's processes. Its status is read-only here: {@link ProcessTable.move} changes it. */
export interface Process extends ProcessView {
  /** Set once its CLI is ready. */
  session: Session.Session | undefined
  /** The scope its session lives in; taken when it is stopped. */
  scope: Scope.Closeable | undefined
  turns: number
  dirty: boolean
  conversation: string | undefined
  lastUsedAt: number
  overLimit: boolean
  /** The current lease's callbacks. */
  handlers: Handlers | undefined
  /** Claimed while resetting: the claimant gets it as soon as the reset is confirmed (`true`), or not. */
  claimed: Deferred.Deferred<boolean> | undefined
}

/**
 * What a pooled process is started with: a session's configuration without `restart`, since the pool
 * replaces a process that died rather than respawning it in place.
 */
export type ProcessConfig = Omit<Session.Config, "restart">

/** An acquisition, as the pool serves it. */
export interface Request {
  readonly key: string
  readonly config: ProcessConfig
  /** Its toolkits with its handlers: the process serves their tools (part of the key). */
  readonly servers: McpTools.Resolved
  /** Needs a process of its own: it resumes or continues a conversation not parked here. */
  readonly resume: string | undefined
  readonly fresh: boolean
}

/** What the pool remembers of a key in use. */
export interface KeyInfo {
  lastAcquiredAt: number
  /** The credential identity the key's processes run with. */
  readonly credential: string | undefined
  /** What spares of this key are started with. */
  readonly template: Request
}

/** The pool's processes, counted in the `claude_pool_sessions` gauge by status while they are in it. */
export interface ProcessTable extends Iterable<Process> {
  /** Processes counted against `max`. */
  readonly size: () => number
  /** Processes of this status. */
  readonly count: (status: Status) => number
  /** Whether the process is still the pool's (not stopped, not evicted). */
  readonly has: (process: Process) => boolean
  /** A new process of the key, `starting`. */
  readonly add: (key: string, now: number) => Process
  /** Changes a process's status; the gauge follows while the process is in the table. */
  readonly move: (process: Process, status: Status) => void
  /** Takes a process out (it no longer counts against `max`); `false` if it was not in. */
  readonly remove: (process: Process) => boolean
  /** Takes every process out. */
  readonly clear: () => void
}

/**
 * A table whose changes move the gauge by `count(status, delta)`. The gauge is moved by deltas, so the
 * processes of several pools add up.
 */
export const makeTable = (gauge: (status: Status, delta: number) => void): ProcessTable => {
  const processes = new Set<Process>()
  return {
    [Symbol.iterator]: () => processes[Symbol.iterator](),
    size: () => processes.size,
    count: (status) => {
      let n = 0
      for (const process of processes) if (process.status === status) n++
      return n
    },
    has: (process) => processes.has(process),
    add: (key, now) => {
      const process: Process = {
        key,
        createdAt: now,
        status: "starting",
        session: undefined,
        scope: undefined,
        turns: 0,
        dirty: false,
        conversation: undefined,
        lastUsedAt: now,
        overLimit: false,
        handlers: undefined,
        claimed: undefined
      }
      processes.add(process)
      gauge(process.status, 1)
      return process
    },
    move: (process, status) => {
      if (process.status === status) return
      if (processes.has(process)) {
        gauge(process.status, -1)
        gauge(status, 1)
      }
      statusOf(process).status = status
    },
    remove: (process) => {
      if (!processes.delete(process)) return false
      gauge(process.status, -1)
      return true
    },
    clear: () => {
      for (const process of processes) gauge(process.status, -1)
      processes.clear()
    }
  }
}

// `Process.status` is read-only to everyone but the table; TypeScript lets a read-only property be written
// through a type that declares it writable, which is how the table (and only the table) changes it.
const statusOf = (process: Process): { status: Status } => process

/** Everything the pool's modules share. */
export interface PoolState {
  readonly processes: ProcessTable
  /** Scopes of processes still to be closed, retired ones included: the drain waits for all. */
  readonly open: Set<Scope.Closeable>
  readonly keys: Map<string, KeyInfo>
  draining: boolean
  /** Processes started and retired since the pool opened. */
  spawned: number
  retired: number
}

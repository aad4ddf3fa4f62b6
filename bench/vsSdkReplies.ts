/**
 * What the children of `vsSdk.ts` answer its commands with, as Schemas: the parent decodes the answers, the
 * children (which load no effect) only take the types.
 */
import { Schema } from "effect"

/** A child's memory in MiB (after full GCs when `gc`). */
export const Memory = Schema.Struct({
  rssMiB: Schema.Number,
  heapUsedMiB: Schema.Number,
  heapTotalMiB: Schema.Number,
  externalMiB: Schema.Number,
  gc: Schema.Boolean
})
export type Memory = typeof Memory.Type

/** The highest RSS and heap used of a child's samples (every 50 ms) during a round, in MiB. */
export const PeakMemory = Schema.Struct({ rssMiB: Schema.Number, heapUsedMiB: Schema.Number })
export type PeakMemory = typeof PeakMemory.Type

export const SetupReply = Schema.Struct({ memory: Memory })
export type SetupReply = typeof SetupReply.Type

export const RoundReply = Schema.Struct({
  /** Each turn that reached its Result: from just before the query to the Result. */
  latenciesMs: Schema.Array(Schema.Number),
  failures: Schema.Array(Schema.String),
  /** The round's start -> the last Result. */
  lastResultMs: Schema.Number,
  /** The round's start -> every query's stream (ours) / message loop (SDK) ended. */
  doneMs: Schema.Number,
  /** The round's start -> settled: every pooled process idle and reset (ours), every CLI exited (SDK). */
  settledMs: Schema.Number,
  settled: Schema.Boolean,
  /** CPU seconds of the side's host process (the child) over the round. */
  hostCpuS: Schema.Number,
  /** CPU seconds of the side's CLIs over the round: ours per pid from /proc; SDK's from the child's cutime+cstime. */
  cliCpuS: Schema.Number,
  cliProcesses: Schema.Number,
  /** Ours: pooled processes there at the start and gone at the end (their CPU in the round is lost). */
  cliProcessesGone: Schema.Number,
  peakMemory: PeakMemory,
  /** The distinct texts the turns' results carried. */
  texts: Schema.Array(Schema.String),
  pool: Schema.optionalKey(Schema.Struct({ spawned: Schema.Number, retired: Schema.Number, size: Schema.Number }))
})
export type RoundReply = typeof RoundReply.Type

export const ToolTurnReply = Schema.Struct({
  ms: Schema.Number,
  /** How many times the tool's handler ran in the host during the turn. */
  calls: Schema.Number,
  text: Schema.String,
  failure: Schema.optionalKey(Schema.String)
})
export type ToolTurnReply = typeof ToolTurnReply.Type

export const TeardownReply = Schema.Struct({
  memory: Memory,
  leftoverProcesses: Schema.Number,
  /** CPU seconds of every CLI the child started and reaped in its life so far (cutime + cstime). */
  lifetimeCliCpuS: Schema.Number
})
export type TeardownReply = typeof TeardownReply.Type

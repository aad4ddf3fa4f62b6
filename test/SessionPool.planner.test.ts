/**
 * The pool's planner, without processes: which process serves an acquisition, what a released process
 * becomes, what the sweeper retires, how many spares a key lacks, what a rotation retires. Properties over
 * arbitrary pool states (fast-check), and a simulation of acquisitions, releases and recycles carried out
 * as the pool carries the planner's decisions out, checking what no sequence of them may break.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import {
  isReady,
  type Limits,
  planAcquire,
  planKeys,
  planRelease,
  planSweep,
  type ProcessView,
  sparesWanted,
  staleProcesses,
  type Status,
  type Want
} from "../src/internal/pool/planner.ts"

type Mutable<T> = { -readonly [K in keyof T]: T[K] }
type P = Mutable<ProcessView> & { readonly id: number }

const keys = ["a", "b", "c"] as const
const conversations = ["s1", "s2", "s3"] as const
const statusArb = fc.constantFrom<Status>("starting", "idle", "parked", "busy", "resetting")

let ids = 0
const proc = (fields: Partial<P> = {}): P => ({
  id: ids++,
  key: "a",
  status: "idle",
  createdAt: 0,
  lastUsedAt: 0,
  turns: 0,
  dirty: false,
  conversation: undefined,
  overLimit: false,
  claimed: undefined,
  ...fields
})

// A process in a state the pool can put it in: a parked one holds a conversation and ran turns, an idle one
// is clean, only a resetting one may be claimed.
const processArb = fc.record({
  key: fc.constantFrom(...keys),
  status: statusArb,
  createdAt: fc.nat({ max: 1000 }),
  lastUsedAt: fc.nat({ max: 1000 }),
  turns: fc.nat({ max: 10 }),
  conversation: fc.constantFrom(...conversations),
  overLimit: fc.boolean(),
  claimed: fc.boolean()
}).map((r) =>
  proc({
    ...r,
    dirty: r.status === "parked" || (r.status !== "idle" && r.turns > 0),
    conversation: r.status === "parked" ? r.conversation : undefined,
    claimed: r.status === "resetting" && r.claimed ? {} : undefined
  })
)

const wantArb: fc.Arbitrary<Want> = fc.record({
  key: fc.constantFrom(...keys),
  resume: fc.option(fc.constantFrom(...conversations, "elsewhere"), { nil: undefined }),
  continues: fc.boolean()
}).map(({ continues, key, resume }) => ({ key, resume, fresh: resume !== undefined || continues }))

const poolArb = fc.record({
  max: fc.integer({ min: 1, max: 6 }),
  processes: fc.array(processArb, { maxLength: 6 })
}).map(({ max, processes }) => ({ max, processes: processes.slice(0, max) }))

const minBy = <A>(items: ReadonlyArray<A>, f: (a: A) => number) =>
  items.reduce<number | undefined>((m, a) => (m === undefined || f(a) < m ? f(a) : m), undefined)

describe("planAcquire", () => {
  it("lends the warmest spare of the key; a resumed conversation gets its parked process", () => {
    const cold = proc({ lastUsedAt: 1 })
    const warm = proc({ lastUsedAt: 5 })
    const other = proc({ key: "b", lastUsedAt: 9 })
    const parked = proc({ status: "parked", dirty: true, conversation: "s1", lastUsedAt: 2 })
    const pool = [cold, warm, other, parked]
    assert.deepStrictEqual(planAcquire(pool, 8, { key: "a", resume: undefined, fresh: false }), {
      _tag: "Lease",
      process: warm
    })
    assert.deepStrictEqual(planAcquire(pool, 8, { key: "a", resume: "s1", fresh: true }), {
      _tag: "Lease",
      process: parked
    })
    // A conversation not parked here needs a process of its own, not a spare.
    assert.deepStrictEqual(planAcquire(pool, 8, { key: "a", resume: "s9", fresh: true }), {
      _tag: "Spawn",
      evict: undefined
    })
  })

  it("waits for a recycle of the key rather than spawn, unless another acquisition claimed it", () => {
    const resetting = proc({ status: "resetting", dirty: true })
    assert.deepStrictEqual(planAcquire([resetting], 8, { key: "a", resume: undefined, fresh: false }), {
      _tag: "AfterReset",
      process: resetting
    })
    const claimed = proc({ status: "resetting", dirty: true, claimed: {} })
    assert.deepStrictEqual(planAcquire([claimed], 8, { key: "a", resume: undefined, fresh: false }), {
      _tag: "Spawn",
      evict: undefined
    })
  })

  it("when full: recycles a parked process of the key, else evicts the least recently used ready one, else waits", () => {
    const parkedOld = proc({ status: "parked", dirty: true, conversation: "s1", lastUsedAt: 1 })
    const parkedNew = proc({ status: "parked", dirty: true, conversation: "s2", lastUsedAt: 4 })
    const busy = proc({ status: "busy" })
    assert.deepStrictEqual(
      planAcquire([busy, parkedNew, parkedOld], 3, { key: "a", resume: undefined, fresh: false }),
      {
        _tag: "Reset",
        process: parkedOld
      }
    )
    const idleOther = proc({ key: "b", lastUsedAt: 3 })
    const idleOlder = proc({ key: "c", lastUsedAt: 2 })
    assert.deepStrictEqual(
      planAcquire([busy, idleOther, idleOlder], 3, { key: "a", resume: undefined, fresh: false }),
      {
        _tag: "Spawn",
        evict: idleOlder
      }
    )
    const starting = proc({ status: "starting" })
    assert.isUndefined(planAcquire([busy, starting], 2, { key: "a", resume: undefined, fresh: false }))
  })

  it("property: a decision names only a free process, of the key unless evicted, and never exceeds max", () => {
    fc.assert(fc.property(poolArb, wantArb, ({ max, processes }, want) => {
      const decision = planAcquire(processes, max, want)
      if (decision === undefined) return
      switch (decision._tag) {
        case "Lease":
          assert.strictEqual(decision.process.key, want.key)
          assert.isTrue(isReady(decision.process.status))
          break
        case "AfterReset":
          assert.strictEqual(decision.process.key, want.key)
          assert.strictEqual(decision.process.status, "resetting")
          assert.isUndefined(decision.process.claimed)
          assert.isFalse(want.fresh)
          break
        case "Reset":
          assert.strictEqual(decision.process.key, want.key)
          assert.strictEqual(decision.process.status, "parked")
          assert.isFalse(want.fresh)
          break
        case "Spawn":
          if (decision.evict === undefined) {
            assert.isBelow(processes.length, max)
          } else {
            assert.isAtLeast(processes.length, max)
            assert.isTrue(isReady(decision.evict.status))
            // The least recently used of the ready processes.
            const ready = processes.filter((p) => isReady(p.status))
            assert.strictEqual(decision.evict.lastUsedAt, minBy(ready, (p) => p.lastUsedAt))
          }
      }
    }))
  })

  it("property: a new conversation gets a clean process; only its own conversation is ever lent dirty", () => {
    fc.assert(fc.property(poolArb, wantArb, ({ max, processes }, want) => {
      const decision = planAcquire(processes, max, want)
      if (decision?._tag !== "Lease") return
      if (decision.process.conversation === undefined) {
        assert.isFalse(want.fresh, "a resumed or continued conversation never takes a spare")
        assert.isFalse(decision.process.dirty)
      } else {
        assert.strictEqual(decision.process.conversation, want.resume)
      }
    }))
  })

  it("property: an acquisition waits only when nothing can serve it", () => {
    fc.assert(fc.property(poolArb, wantArb, ({ max, processes }, want) => {
      const decision = planAcquire(processes, max, want)
      const room = processes.length < max
      const anyReady = processes.some((p) => isReady(p.status))
      const recyclable = processes.some((p) =>
        p.key === want.key && p.status === "resetting" && p.claimed === undefined
      )
      assert.strictEqual(decision === undefined, !room && !anyReady && (want.fresh || !recyclable))
      // Its parked conversation is always found.
      const parked = processes.find((p) => p.key === want.key && isReady(p.status) && p.conversation === want.resume)
      if (want.resume !== undefined && parked !== undefined) {
        assert.strictEqual(decision?._tag, "Lease")
      }
    }))
  })
})

describe("planRelease", () => {
  const limits = { maxTurns: 3, maxAge: 100 }
  const observed = { idle: true, draining: false }

  it("stops a process left mid-turn, retires one past a limit, parks a sticky conversation, recycles the rest", () => {
    assert.strictEqual(planRelease(proc({ dirty: true }), 10, limits, { idle: false, draining: false }), "stop")
    assert.strictEqual(planRelease(proc({ turns: 3, dirty: true }), 10, limits, observed), "retire")
    assert.strictEqual(planRelease(proc({ createdAt: 0 }), 100, limits, observed), "retire")
    assert.strictEqual(planRelease(proc({ overLimit: true }), 10, limits, observed), "retire")
    assert.strictEqual(planRelease(proc(), 10, limits, { idle: true, draining: true }), "retire")
    assert.strictEqual(planRelease(proc({ dirty: true, conversation: "s1" }), 10, limits, observed), "park")
    assert.strictEqual(planRelease(proc({ dirty: false }), 10, limits, observed), "idle")
    assert.strictEqual(planRelease(proc({ dirty: true }), 10, limits, observed), "reset")
  })

  it("property: a process that ran a turn is never idle again without a reset; limits always retire", () => {
    fc.assert(fc.property(processArb, fc.nat({ max: 300 }), fc.boolean(), fc.boolean(), (p, now, idle, draining) => {
      const next = planRelease(p, now, limits, { idle, draining })
      if (next === "idle") assert.isFalse(p.dirty)
      if (next === "park") assert.isDefined(p.conversation)
      const pastLimit = draining || p.overLimit || p.turns >= limits.maxTurns || now - p.createdAt >= limits.maxAge
      if (idle && pastLimit) assert.strictEqual(next, "retire")
      if (!idle) assert.strictEqual(next, "stop")
    }))
  })
})

describe("planSweep", () => {
  const limits = { minIdle: 1, maxAge: 1000, maxIdle: 30 }
  const observe = (processes: ReadonlyArray<P>, idle = true) => processes.map((process) => ({ process, idle }))

  it("keeps minIdle spares of a key in use, retires spares beyond them and parked processes idle too long", () => {
    const kept = proc({ lastUsedAt: 0 })
    const extra = proc({ lastUsedAt: 0 })
    const recent = proc({ lastUsedAt: 40 })
    const parked = proc({ status: "parked", dirty: true, conversation: "s1", lastUsedAt: 0 })
    const retiring = planSweep(observe([kept, extra, recent, parked]), 50, limits, () => 45)
    assert.deepStrictEqual(retiring, [extra, parked])
  })

  it("retires every idle spare of a key not acquired for maxIdle, and old, over-limit or dead ones at once", () => {
    const a = proc({ lastUsedAt: 0 })
    assert.deepStrictEqual(planSweep(observe([a]), 50, limits, () => 0), [a])
    const old = proc({ createdAt: 0, lastUsedAt: 1990 })
    const over = proc({ lastUsedAt: 1990, createdAt: 1500, overLimit: true })
    const fine = proc({ lastUsedAt: 1990, createdAt: 1500 })
    assert.deepStrictEqual(planSweep(observe([old, over, fine]), 2000, limits, () => 1990), [old, over])
    const dead = proc({ lastUsedAt: 1990, createdAt: 1500 })
    assert.deepStrictEqual(planSweep([{ process: dead, idle: false }], 2000, limits, () => 1990), [dead])
  })

  it("property: never retires a busy, starting or resetting process, nor a young, recent, healthy one", () => {
    fc.assert(fc.property(fc.array(processArb, { maxLength: 8 }), fc.nat({ max: 2000 }), (processes, now) => {
      const retiring = planSweep(observe(processes), now, limits, () => now)
      for (const p of retiring) {
        assert.isTrue(isReady(p.status))
        assert.isTrue(p.overLimit || now - p.createdAt >= limits.maxAge || now - p.lastUsedAt >= limits.maxIdle)
      }
      // A key in use keeps at least min(minIdle, spares) of its clean spares.
      for (const key of keys) {
        const spares = processes.filter((p) =>
          p.key === key && p.status === "idle" && !p.overLimit && now - p.createdAt < limits.maxAge
        )
        const left = spares.filter((p) => !retiring.includes(p))
        assert.isAtLeast(left.length, Math.min(limits.minIdle, spares.length))
      }
    }))
  })
})

describe("spares, keys and rotation", () => {
  it("sparesWanted counts idle, starting and resetting processes of the key, within the room left", () => {
    const pool = [proc({ status: "starting" }), proc({ status: "busy" }), proc({ key: "b" })]
    assert.strictEqual(sparesWanted(pool, "a", { minIdle: 3, max: 8 }), 2)
    assert.strictEqual(sparesWanted(pool, "a", { minIdle: 3, max: 4 }), 1)
    assert.strictEqual(sparesWanted(pool, "a", { minIdle: 1, max: 8 }), 0)
    assert.isAtMost(sparesWanted(pool, "a", { minIdle: 3, max: 2 }), 0)
  })

  it("planKeys tops up keys in use and forgets idle keys once their processes are gone", () => {
    const plan = planKeys([["a", 90], ["b", 0], ["c", 0]], [proc({ key: "b" })], 100, 30)
    assert.deepStrictEqual(plan, { active: ["a"], forgotten: ["c"] })
  })

  it("staleProcesses names the ready processes of another credential", () => {
    const idleOld = proc({ key: "old" })
    const busyOld = proc({ key: "old", status: "busy" })
    const idleNew = proc({ key: "new" })
    const anonymous = proc({ key: "none" })
    const credentials: Record<string, string | undefined> = { old: "id-1", new: "id-2", none: undefined }
    assert.deepStrictEqual(staleProcesses([idleOld, busyOld, idleNew, anonymous], (key) => credentials[key], "id-2"), [
      idleOld
    ])
  })
})

// --- a simulation: the planner's decisions carried out as the pool carries them out ---

type Op =
  | { readonly _tag: "Acquire"; readonly want: Want; readonly sticky: boolean }
  | { readonly _tag: "Release"; readonly index: number; readonly turns: number }
  | { readonly _tag: "ResetDone"; readonly index: number; readonly ok: boolean }
  | { readonly _tag: "Tick"; readonly ms: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ want: wantArb, sticky: fc.boolean() }).map((r) => ({ _tag: "Acquire" as const, ...r })),
  fc.record({ index: fc.nat(), turns: fc.nat({ max: 3 }) }).map((r) => ({ _tag: "Release" as const, ...r })),
  fc.record({ index: fc.nat(), ok: fc.boolean() }).map((r) => ({ _tag: "ResetDone" as const, ...r })),
  fc.nat({ max: 50 }).map((ms) => ({ _tag: "Tick" as const, ms }))
)

interface Holder {
  readonly want: Want
  readonly sticky: boolean
  process: P | undefined
}

describe("planner simulation", () => {
  it("property: no process is lent twice, none outside its key, a new conversation never inherits one, max holds", () => {
    const limits: Limits = { max: 3, minIdle: 1, maxTurns: 4, maxAge: 400, maxIdle: 100 }
    fc.assert(fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const processes = new Set<P>()
      const holders: Array<Holder> = []
      const claims = new Map<P, Holder>()
      let now = 0
      let sessions = 0

      const lend = (holder: Holder, process: P) => {
        assert.isFalse(holders.some((h) => h.process === process), "a process lent twice")
        assert.strictEqual(process.key, holder.want.key)
        if (!holder.want.fresh) assert.isFalse(process.dirty, "a new conversation got a used process")
        process.status = "busy"
        holder.process = process
        holders.push(holder)
      }
      const serve = (holder: Holder): boolean => {
        const decision = planAcquire(processes, limits.max, holder.want)
        switch (decision?._tag) {
          case undefined:
            return false
          case "Lease":
            lend(holder, decision.process)
            return true
          case "Reset":
            // Recycled for this acquisition: clean when it is lent.
            decision.process.dirty = false
            decision.process.conversation = undefined
            lend(holder, decision.process)
            return true
          case "AfterReset":
            decision.process.claimed = holder
            claims.set(decision.process, holder)
            return true
          case "Spawn": {
            if (decision.evict !== undefined) processes.delete(decision.evict)
            const spawned = proc({ key: holder.want.key, createdAt: now, lastUsedAt: now, status: "starting" })
            spawned.dirty = holder.want.fresh
            processes.add(spawned)
            lend(holder, spawned)
            return true
          }
        }
      }

      for (const op of ops) {
        switch (op._tag) {
          case "Acquire":
            serve({ want: op.want, sticky: op.sticky, process: undefined })
            break
          case "Tick":
            now += op.ms
            break
          case "Release": {
            const held = holders.filter((h) => h.process !== undefined)
            const holder = held[op.index % Math.max(1, held.length)]
            const process = holder?.process
            if (holder === undefined || process === undefined) break
            holders.splice(holders.indexOf(holder), 1)
            process.turns += op.turns
            if (op.turns > 0) process.dirty = true
            process.conversation = holder.sticky && process.dirty ? (holder.want.resume ?? `c${sessions++}`) : undefined
            process.lastUsedAt = now
            const next = planRelease(process, now, limits, { idle: true, draining: false })
            if (next === "retire" || next === "stop") processes.delete(process)
            else process.status = next === "park" ? "parked" : next === "idle" ? "idle" : "resetting"
            break
          }
          case "ResetDone": {
            const resetting = [...processes].filter((p) => p.status === "resetting")
            const process = resetting[op.index % Math.max(1, resetting.length)]
            if (process === undefined) break
            const claimant = claims.get(process)
            claims.delete(process)
            process.claimed = undefined
            if (!op.ok) {
              processes.delete(process)
              if (claimant !== undefined) serve(claimant)
              break
            }
            process.dirty = false
            process.conversation = undefined
            if (claimant !== undefined) lend(claimant, process)
            else process.status = "idle"
            break
          }
        }
        // Every lent process is the pool's, busy, and held once; every busy one is held.
        for (const h of holders) {
          assert.isTrue(h.process !== undefined && processes.has(h.process) && h.process.status === "busy")
        }
        const busy = [...processes].filter((p) => p.status === "busy")
        assert.strictEqual(busy.length, holders.length)
        assert.isAtMost(processes.size, limits.max)
      }
    }))
  })
})

/**
 * The pool's process table: the `claude_pool_sessions` gauge is moved by the table's transitions (add, move,
 * remove, clear) and by nothing else, so it always reads what the table holds.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { Status } from "../src/internal/pool/planner.ts"
import { makeTable, type Process } from "../src/internal/pool/state.ts"

const statuses: ReadonlyArray<Status> = ["starting", "idle", "parked", "busy", "resetting"]

const gaugeOf = () => {
  const values: Record<Status, number> = { starting: 0, idle: 0, parked: 0, busy: 0, resetting: 0 }
  return { values, move: (status: Status, delta: number) => void (values[status] += delta) }
}

describe("ProcessTable", () => {
  it("each transition moves the gauge once; a process out of the table no longer counts", () => {
    const gauge = gaugeOf()
    const table = makeTable(gauge.move)
    const process = table.add("a", 0)
    assert.deepStrictEqual(gauge.values, { starting: 1, idle: 0, parked: 0, busy: 0, resetting: 0 })
    table.move(process, "busy")
    table.move(process, "busy")
    assert.deepStrictEqual(gauge.values, { starting: 0, idle: 0, parked: 0, busy: 1, resetting: 0 })
    assert.isTrue(table.remove(process))
    assert.isFalse(table.remove(process))
    table.move(process, "idle")
    assert.strictEqual(process.status, "idle", "its status still changes")
    assert.deepStrictEqual(gauge.values, { starting: 0, idle: 0, parked: 0, busy: 0, resetting: 0 })
    table.add("a", 0)
    table.add("b", 0)
    table.clear()
    assert.strictEqual(table.size(), 0)
    assert.deepStrictEqual(gauge.values, { starting: 0, idle: 0, parked: 0, busy: 0, resetting: 0 })
  })

  it("property: after any transitions the gauge reads the table's count of each status", () => {
    const op = fc.oneof(
      fc.constant({ _tag: "add" as const }),
      fc.record({ index: fc.nat(), status: fc.constantFrom(...statuses) }).map((r) => ({
        _tag: "move" as const,
        ...r
      })),
      fc.record({ index: fc.nat() }).map((r) => ({ _tag: "remove" as const, ...r }))
    )
    fc.assert(fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const gauge = gaugeOf()
      const table = makeTable(gauge.move)
      // Removed processes stay here: moving them must not count.
      const seen: Array<Process> = []
      for (const o of ops) {
        if (o._tag === "add") seen.push(table.add("k", 0))
        else {
          const process = seen[o.index % Math.max(1, seen.length)]
          if (process === undefined) continue
          if (o._tag === "move") table.move(process, o.status)
          else table.remove(process)
        }
      }
      for (const status of statuses) assert.strictEqual(gauge.values[status], table.count(status), status)
    }))
  })
})

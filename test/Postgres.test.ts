import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as fs from "node:fs"
import * as Leftovers from "../src/testing/Leftovers.ts"
import * as Postgres from "../src/testing/Postgres.ts"

describe("testing/Postgres", () => {
  it.effect("a throwaway server answers a query through PgClient, then leaves no process or directory", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      // Closed below, and on any failure before that, so a failing test leaves no server either.
      yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
      const context = yield* Layer.buildWithScope(Postgres.layerClient(), scope)
      const { dataDir, pid, port } = Context.get(context, Postgres.Postgres)
      assert.isTrue(Leftovers.isAlive(pid))
      assert.isTrue(fs.existsSync(dataDir))
      assert.isAbove(port, 0)
      const rows = yield* Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        yield* sql`CREATE TABLE t (id text PRIMARY KEY, n integer NOT NULL)`
        yield* sql`INSERT INTO t ${sql.insert([{ id: "a", n: 1 }, { id: "b", n: 2 }])}`
        return yield* sql<{ readonly db: string; readonly total: number }>`
          SELECT current_database() AS db, sum(n)::int AS total FROM t`
      }).pipe(Effect.provideContext(context))
      assert.deepStrictEqual(rows.map((r) => ({ ...r })), [{ db: "test", total: 3 }])
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(Leftovers.isAlive(pid), "the postmaster is gone")
      assert.isFalse(fs.existsSync(dataDir), "the data directory is removed")
    }).pipe(Effect.scoped))

  it("binDir finds initdb and pg_ctl on PATH or under /usr/lib/postgresql", () => {
    const fromDebian = Postgres.binDir({ PATH: "/nonexistent" })
    assert.match(fromDebian ?? "", /^\/usr\/lib\/postgresql\/\d+\/bin$/)
    for (const tool of ["initdb", "pg_ctl", "createdb"]) assert.isTrue(fs.existsSync(`${fromDebian}/${tool}`), tool)
    // A link on PATH is followed to the directory that holds the rest.
    assert.strictEqual(Postgres.binDir(), fromDebian)
  })
})

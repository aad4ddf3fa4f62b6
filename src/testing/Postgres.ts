/**
 * A throwaway PostgreSQL server for tests: `initdb` into a temp dir, `pg_ctl start` on a free loopback port,
 * a database of its own; stopped (`pg_ctl stop -m immediate`) and removed when its scope closes. Every step
 * is bounded in time.
 *
 * The binaries are looked up on `PATH`, then under `/usr/lib/postgresql/<version>/bin` (where Debian's
 * `postgresql` package puts them). `initdb` refuses to run as root, so a root process runs the server as the
 * `postgres` user (which that package creates); any other user runs it as itself.
 *
 * ```ts
 * // A PgClient (and SqlClient) on a fresh server, for one test file:
 * const SqlLive = Postgres.layerClient()
 * ```
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import type { Scope } from "effect"
import { Context, Data, Duration, Effect, Layer } from "effect"
import type { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as Net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

/**
 * A step of starting or stopping the server failed: `step` names it, `message` says what it printed.
 *
 * @since 0.1.0
 * @category errors
 */
export class PostgresError extends Data.TaggedError("PostgresError")<{
  readonly step: string
  readonly message: string
}> {}

/**
 * A running server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Server {
  readonly host: string
  readonly port: number
  /** The superuser, with `trust` authentication on loopback: no password. */
  readonly username: string
  /** The database made for the caller. */
  readonly database: string
  /** The data directory (removed with the scope). */
  readonly dataDir: string
  /** The postmaster's process id. */
  readonly pid: number
}

/**
 * The running server of {@link layer}.
 *
 * @since 0.1.0
 * @category services
 */
export class Postgres extends Context.Service<Postgres, Server>()("effect-claude-code/testing/Postgres") {}

/**
 * Options for {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The database to create; default `"test"`. */
  readonly database?: string
  /** How long each step (initdb, start, stop) may take; default 30 seconds. */
  readonly stepTimeout?: Duration.Input
}

const debianRoot = "/usr/lib/postgresql"

/**
 * The directory holding `initdb`, `pg_ctl` and `createdb`: where the `initdb` on `PATH` really is (links
 * followed), else the newest `/usr/lib/postgresql/<v>/bin`; `undefined` when neither has them.
 *
 * @since 0.1.0
 * @category binaries
 */
export const binDir = (env: Readonly<Record<string, string | undefined>> = process.env): string | undefined => {
  const onPath = (env["PATH"] ?? "").split(":").filter((dir) => dir !== "")
  const versions = fs.existsSync(debianRoot)
    ? fs.readdirSync(debianRoot).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
    : []
  const candidates = [...onPath, ...versions.map((v) => path.join(debianRoot, v, "bin"))]
  const found = candidates.find((dir) =>
    fs.existsSync(path.join(dir, "initdb")) && fs.existsSync(path.join(dir, "pg_ctl"))
  )
  // A link on PATH (as /usr/local/bin/initdb may be) leads to the directory holding createdb too.
  return found === undefined ? undefined : path.dirname(fs.realpathSync(path.join(found, "initdb")))
}

interface Account {
  readonly uid: number
  readonly gid: number
}

// Root cannot run initdb: find the `postgres` account in /etc/passwd.
const serverAccount = (): Account | undefined => {
  if (process.getuid?.() !== 0) return undefined
  const line = fs.readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("postgres:"))
  const fields = line?.split(":")
  return fields === undefined ? undefined : { uid: Number(fields[2]), gid: Number(fields[3]) }
}

const freePort: Effect.Effect<number, PostgresError> = Effect.callback<number, PostgresError>((resume) => {
  const server = Net.createServer()
  server.once("error", (error) => resume(Effect.fail(new PostgresError({ step: "port", message: error.message }))))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const run = (
  step: string,
  file: string,
  args: ReadonlyArray<string>,
  account: Account | undefined,
  timeout: Duration.Duration
): Effect.Effect<string, PostgresError> =>
  Effect.callback<string, PostgresError>((resume) => {
    const child = ChildProcess.execFile(
      file,
      [...args],
      {
        timeout: Duration.toMillis(timeout),
        killSignal: "SIGKILL",
        cwd: os.tmpdir(),
        env: { ...process.env, LC_ALL: "C" },
        ...(account === undefined ? {} : { uid: account.uid, gid: account.gid })
      },
      (error, stdout, stderr) =>
        resume(
          error === null
            ? Effect.succeed(stdout)
            : Effect.fail(new PostgresError({ step, message: `${error.message}\n${stderr}`.trim() }))
        )
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const readPid = (dataDir: string): number =>
  Number(fs.readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0])

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Starts a server that lives as long as the scope. Closing the scope stops it (`-m immediate`, then SIGKILL
 * of the postmaster if it is still there) and removes its directory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fn("Postgres.make")(function*(
  options?: Options
): Effect.fn.Return<Server, PostgresError, Scope.Scope> {
  const timeout = Duration.fromInputUnsafe(options?.stepTimeout ?? "30 seconds")
  const bin = binDir()
  if (bin === undefined) {
    return yield* new PostgresError({ step: "binaries", message: "no initdb on PATH or under /usr/lib/postgresql" })
  }
  const account = serverAccount()
  const root = yield* Effect.acquireRelease(
    Effect.sync(() => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ecc-pg-"))
      if (account !== undefined) fs.chownSync(dir, account.uid, account.gid)
      return dir
    }),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  const dataDir = path.join(root, "data")
  yield* run(
    "initdb",
    path.join(bin, "initdb"),
    [
      "-D",
      dataDir,
      "-U",
      "postgres",
      "--auth=trust",
      "--no-sync",
      "-E",
      "UTF8",
      "--locale=C"
    ],
    account,
    timeout
  )
  const port = yield* freePort
  const serverOptions = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${root}`,
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=200"
  ].join(" ")
  yield* Effect.acquireRelease(
    run(
      "start",
      path.join(bin, "pg_ctl"),
      [
        "start",
        "-w",
        "-t",
        String(Math.ceil(Duration.toSeconds(timeout))),
        "-D",
        dataDir,
        "-l",
        path.join(root, "server.log"),
        "-o",
        serverOptions
      ],
      account,
      timeout
    ),
    () =>
      Effect.gen(function*() {
        const pid = fs.existsSync(path.join(dataDir, "postmaster.pid")) ? readPid(dataDir) : undefined
        yield* run(
          "stop",
          path.join(bin, "pg_ctl"),
          ["stop", "-m", "immediate", "-w", "-t", "10", "-D", dataDir],
          account,
          timeout
        )
          .pipe(Effect.ignore)
        if (pid !== undefined && isAlive(pid)) {
          yield* Effect.sync(() => process.kill(pid, "SIGKILL")).pipe(Effect.ignore)
        }
      })
  )
  const pid = readPid(dataDir)
  const database = options?.database ?? "test"
  yield* run(
    "createdb",
    path.join(bin, "createdb"),
    ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", database],
    account,
    timeout
  )
  return { host: "127.0.0.1", port, username: "postgres", database, dataDir, pid }
})

/**
 * A server for the lifetime of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Postgres, PostgresError> => Layer.effect(Postgres, make(options))

/**
 * A server for the lifetime of the layer and a `PgClient` (also the `SqlClient`) connected to its database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (
  options?: Options
): Layer.Layer<Postgres | PgClient.PgClient | SqlClient, PostgresError | SqlError> =>
  Layer.unwrap(
    Effect.map(Postgres, (server) =>
      PgClient.layer({
        host: server.host,
        port: server.port,
        username: server.username,
        database: server.database
      }))
  ).pipe(Layer.provideMerge(layer(options)))

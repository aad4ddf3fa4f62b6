/**
 * The FakeApi's HTTP server on `127.0.0.1` at a free port, for the lifetime of a scope: each request runs its
 * handler on a fiber of the server's; closing the scope stops listening, destroys every open connection,
 * then interrupts the replies still pending (delays, hangs).
 */
import type { Scope } from "effect"
import { Effect, FiberSet } from "effect"
import * as Http from "node:http"

/** Listens until the scope closes; the port it listens on. */
export const serve = Effect.fnUntraced(function*(
  handle: (req: Http.IncomingMessage, res: Http.ServerResponse) => Effect.Effect<void>
): Effect.fn.Return<number, never, Scope.Scope> {
  // Created before the server, so the server's finalizer runs first: it stops
  // accepting and destroys sockets. Then the FiberSet interrupts pending replies.
  const fibers = yield* FiberSet.make<void, never>()
  const run = yield* FiberSet.runtime(fibers)()

  const server = yield* Effect.acquireRelease(
    Effect.callback<Http.Server>((resume) => {
      const srv = Http.createServer((req, res) => {
        // errors of aborted connections are expected; the handler notices via `close`
        req.on("error", () => {})
        res.on("error", () => {})
        run(handle(req, res))
      })
      srv.once("error", (cause) => resume(Effect.die(cause)))
      srv.listen(0, "127.0.0.1", () => resume(Effect.succeed(srv)))
    }),
    (srv) =>
      Effect.callback<void>((resume) => {
        srv.close(() => resume(Effect.void))
        // close() alone waits for keep-alive and streaming connections to end
        srv.closeAllConnections()
      })
  )

  const address = server.address()
  return address !== null && typeof address === "object" ? address.port : 0
})

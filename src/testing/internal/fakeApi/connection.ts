/**
 * The FakeApi's side of one HTTP exchange on `node:http`: reading the body, writing with backpressure,
 * flushing before a cut, and noticing the client has gone.
 */
import { Data, Effect } from "effect"
import type * as Http from "node:http"

/** The client closed the connection (or the server is closing it): the reply stops there. */
export class ClientGone extends Data.TaggedError("ClientGone")<{}> {}

export type Res = Http.ServerResponse

export const gone = (res: Res): boolean => res.destroyed || res.writableEnded

/** Writes, waiting for `drain` when the socket buffer is full. */
export const write = (res: Res, data: string): Effect.Effect<void, ClientGone> =>
  Effect.callback<void, ClientGone>((resume) => {
    if (gone(res)) return resume(Effect.fail(new ClientGone()))
    if (res.write(data)) return resume(Effect.void)
    const cleanup = () => {
      res.off("drain", onDrain)
      res.off("close", onClose)
    }
    const onDrain = () => {
      cleanup()
      resume(Effect.void)
    }
    const onClose = () => {
      cleanup()
      resume(Effect.fail(new ClientGone()))
    }
    res.on("drain", onDrain)
    res.on("close", onClose)
    return Effect.sync(cleanup)
  })

/**
 * Writes, and waits until the bytes are handed to the socket (the write's callback): a `destroy` right
 * after a plain `write` drops what is still buffered.
 */
export const writeFlushed = (res: Res, data: string): Effect.Effect<void, ClientGone> =>
  Effect.callback<void, ClientGone>((resume) => {
    if (gone(res)) return resume(Effect.fail(new ClientGone()))
    const onClose = () => resume(Effect.fail(new ClientGone()))
    res.once("close", onClose)
    res.write(data, (cause) => {
      res.off("close", onClose)
      resume(cause === null || cause === undefined ? Effect.void : Effect.fail(new ClientGone()))
    })
    return Effect.sync(() => res.off("close", onClose))
  })

/** Completes when the connection closes (the client left, or the server is closing). */
export const awaitClose = (res: Res): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (res.destroyed) return resume(Effect.void)
    const onClose = () => resume(Effect.void)
    res.once("close", onClose)
    return Effect.sync(() => res.off("close", onClose))
  })

export const sendJson = (
  res: Res,
  status: number,
  body: unknown,
  headers: Record<string, string> = {}
): Effect.Effect<void> =>
  Effect.sync(() => {
    if (gone(res) || res.headersSent) return
    const payload = JSON.stringify(body)
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(payload)),
      ...headers
    })
    res.end(payload)
  })

export const startSse = (res: Res, requestId: string): Effect.Effect<void, ClientGone> =>
  Effect.suspend(() => {
    if (gone(res)) return Effect.fail(new ClientGone())
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "request-id": requestId
    })
    res.flushHeaders()
    return Effect.void
  })

/** The request body, once complete. */
export const readBody = (req: Http.IncomingMessage): Effect.Effect<string, ClientGone> =>
  Effect.callback<string, ClientGone>((resume) => {
    const chunks: Array<Buffer> = []
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resume(Effect.succeed(Buffer.concat(chunks).toString("utf8")))
    }
    const onClose = () => {
      cleanup()
      resume(Effect.fail(new ClientGone()))
    }
    const cleanup = () => {
      req.off("data", onData)
      req.off("end", onEnd)
      req.off("close", onClose)
    }
    req.on("data", onData)
    req.on("end", onEnd)
    req.on("close", onClose)
    return Effect.sync(cleanup)
  })

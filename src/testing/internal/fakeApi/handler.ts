/**
 * What the FakeApi does with one request: read and record it, classify it, and answer it (the script's next
 * reply for a conversation request, the default answers for side requests, a count for `count_tokens`, the
 * reachability probe, a 404 for anything else). A defect becomes a 500 the test can see.
 */
import { Clock, Effect, Ref } from "effect"
import type * as Http from "node:http"
import { gone, readBody, type Res, sendJson } from "./connection.ts"
import { sideReply } from "./defaultReplies.ts"
import type { Reply } from "./replies.ts"
import type { RequestLog } from "./requestLog.ts"
import { classify, type RecordedRequest, type RequestInfo, requestInfo } from "./requests.ts"
import { errorBody, type Resolved, respond } from "./respond.ts"

export interface Handling {
  readonly log: RequestLog
  readonly isConversation: (request: RequestInfo) => boolean
  /** The reply to a conversation request. */
  readonly nextReply: (request: RecordedRequest) => Effect.Effect<Reply>
}

/** The handler of every request of one FakeApi; sequence numbers count from 0. */
export const makeHandler = Effect.fnUntraced(function*({ isConversation, log, nextReply }: Handling) {
  const sequenceRef = yield* Ref.make(0)

  return Effect.fnUntraced(function*(req: Http.IncomingMessage, res: Res) {
    const raw = yield* readBody(req)
    const timestamp = yield* Clock.currentTimeMillis
    const sequence = yield* Ref.getAndUpdate(sequenceRef, (n) => n + 1)
    const info = requestInfo(req, raw, sequence, timestamp)
    const { method, path } = info
    const kind = classify(info, isConversation)
    const request: RecordedRequest = { ...info, kind }
    yield* log.record(request)

    const requestId = `req_fake_${sequence}`
    const model = request.messagesRequest?.model ?? "claude-fake"
    const ids: Resolved = { messageId: `msg_fake_${sequence}`, requestId, model, sequence }

    switch (kind) {
      case "count_tokens":
        return yield* sendJson(res, 200, { input_tokens: Math.max(1, Math.ceil(raw.length / 4)) }, {
          "request-id": requestId
        })
      case "conversation": {
        const reply = yield* nextReply(request)
        const replyModel = reply._tag === "Message" && reply.model !== undefined ? reply.model : model
        return yield* respond(res, reply, { ...ids, model: replyModel }, request.messagesRequest?.stream === true)
      }
      case "side": {
        const reply = sideReply(request)
        return yield* respond(res, reply, ids, request.messagesRequest?.stream === true)
      }
      case "other": {
        // The CLI's reachability probe (only without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC).
        if (path === "/api/hello" && (method === "HEAD" || method === "GET")) {
          return yield* Effect.sync(() => {
            res.writeHead(200, { "content-type": "application/json" })
            res.end(method === "GET" ? JSON.stringify({ message: "hello" }) : undefined)
          })
        }
        return yield* sendJson(
          res,
          404,
          errorBody("not_found_error", `Not found: ${method} ${path}`, requestId),
          { "request-id": requestId }
        )
      }
    }
  }, (effect, _req, res) =>
    effect.pipe(
      Effect.catchTag("ClientGone", () => Effect.void),
      // a bug here (or in a script function) becomes a 500 the test can see
      Effect.catchDefect((defect) =>
        Effect.sync(() => {
          if (res.headersSent || gone(res)) return res.destroy()
          res.writeHead(500, { "content-type": "application/json" })
          res.end(JSON.stringify(errorBody("api_error", `FakeApi defect: ${String(defect)}`, "req_fake_defect")))
        })
      ),
      // a reply interrupted mid-way (scope closing) must not leave a half-open socket
      Effect.ensuring(Effect.sync(() => {
        if (!res.writableEnded) res.destroy()
      })),
      // The fake serves a real external process, so its delays use wall-clock
      // time even when the caller runs under TestClock.
      Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())
    ))
})

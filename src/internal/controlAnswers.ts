/**
 * The host's answer to a control request nobody else handles.
 *
 * @internal
 */
import * as Protocol from "../Protocol.ts"

/** What a host with no permission callback answers, so nothing ever waits on it (F06). */
export const defaultControlAnswer = (request: Protocol.ControlRequest): unknown => {
  switch (request.request.subtype) {
    case "can_use_tool":
      return Protocol.controlSuccess(request.request_id, {
        behavior: "deny",
        message: "No permission callback is configured; effect-claude-code denies tool use by default."
      })
    case "hook_callback":
      return Protocol.controlSuccess(request.request_id, { continue: true })
    default:
      return Protocol.controlError(
        request.request_id,
        `effect-claude-code does not handle control requests of subtype "${request.request.subtype}"`,
        "unsupported_request"
      )
  }
}

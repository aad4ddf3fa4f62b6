/**
 * The reasons about the session's control channel. Re-exported by `ClaudeError`.
 */
import { Schema } from "effect"
import { reasonId as id } from "./id.ts"

/**
 * The CLI answered a control request of ours with an error: an MCP server it does not have
 * ("Server not found: ..."), a control this CLI does not know, a value it rejects. The session is fine;
 * sending the same request again gets the same answer.
 *
 * @since 0.1.0
 * @category reasons
 */
export class ControlRefused extends Schema.TaggedError<ControlRefused>(id("ControlRefused"))("ControlRefused", {
  /** The request's subtype, e.g. `mcp_reconnect`. */
  subtype: Schema.String,
  /** The CLI's words. */
  error: Schema.String
}) {
  override get message() {
    return `The CLI refused the control request ${this.subtype}: ${this.error}`
  }
  get isRetryable() {
    return false
  }
}

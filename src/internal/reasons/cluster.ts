/**
 * The reasons about conversations served by a cluster (`Cluster`). Re-exported by `ClaudeError`.
 */
import { Schema } from "effect"
import { reasonId as id } from "./id.ts"

/**
 * The cluster could not carry the turn: its storage failed, the owning runner's mailbox was full, or the
 * conversation's shard had no runner. Nothing was committed; the same turn id can be sent again.
 *
 * @since 0.1.0
 * @category reasons
 */
export class ClusterUnavailable extends Schema.TaggedError<ClusterUnavailable>(id("ClusterUnavailable"))(
  "ClusterUnavailable",
  { detail: Schema.String }
) {
  override get message() {
    return `The cluster could not carry the turn: ${this.detail}`
  }
  get isRetryable() {
    return true
  }
}

/**
 * Another runner took the conversation over (its epoch is newer), so this runner's commit of a turn was
 * refused: a runner that was frozen or cut off cannot overwrite the conversation. The turn's outcome was not
 * stored; send the turn again and its new owner runs it.
 *
 * @since 0.1.0
 * @category reasons
 */
export class ConversationFenced extends Schema.TaggedError<ConversationFenced>(id("ConversationFenced"))(
  "ConversationFenced",
  { conversationId: Schema.String, epoch: Schema.Number }
) {
  override get message() {
    return `Conversation ${this.conversationId} was taken over by another runner; epoch ${this.epoch} may no longer commit`
  }
  get isRetryable() {
    return true
  }
}

/**
 * What a session knows of the CLI's conversation: its session id and model as the CLI reports them, the
 * number of the last turn, the cost so far, and what a replacement process resumes.
 */
import { Option, Predicate } from "effect"
import * as ClaudeOptions from "../../ClaudeOptions.ts"

/** What a replacement process resumes. */
type ResumeTarget =
  /** No turn ran yet: the options as given (their `resume` / `continue`, if any). */
  | { readonly _tag: "AsConfigured" }
  /** A turn ran in this CLI session id. */
  | { readonly _tag: "Resume"; readonly sessionId: string }
  /** A verified reset started a conversation that has had no turn yet. */
  | { readonly _tag: "Fresh" }

/** What the CLI says a resumed conversation has cost so far (`get_usage`), if it says. */
export const restoredCost = (response: unknown): Option.Option<number> => {
  if (!Predicate.isObject(response) || !("session" in response)) return Option.none()
  const session = response.session
  if (!Predicate.isObject(session) || !("total_cost_usd" in session)) return Option.none()
  return typeof session.total_cost_usd === "number" ? Option.some(session.total_cost_usd) : Option.none()
}

/** One session's conversation. */
export class Conversation {
  /** The CLI's session id, once a turn has started. */
  sessionId: string | undefined = undefined
  /** The model of the running (or last) turn, as the CLI reports it. */
  model: string | undefined
  /** The number of the last turn started (1-based; 0 before the first). */
  turns = 0
  /**
   * The conversation's cost (`total_cost_usd`) as the CLI last reported it: a turn's cost is how much it
   * grew. `undefined` when not known: the first turn of a conversation resumed from elsewhere, whose cost
   * the CLI did not tell (`get_usage`), has no cost of its own on record.
   */
  cost: number | undefined
  #target: ResumeTarget = { _tag: "AsConfigured" }
  readonly #options: ClaudeOptions.ClaudeOptions

  /** `options`: what the first process starts with. */
  constructor(options: ClaudeOptions.ClaudeOptions) {
    this.#options = options
    this.model = options.model
    this.cost = options.resume === undefined && options.continue !== true ? 0 : undefined
  }

  /** What errors of the session name: the conversation and the turn. */
  context(): { readonly sessionId: string | undefined; readonly turn: number } {
    return { sessionId: this.sessionId, turn: this.turns }
  }

  /** The CLI reported the conversation's id (and maybe its model): a replacement resumes it. */
  joined(sessionId: string, model?: string | undefined): void {
    this.sessionId = sessionId
    this.#target = { _tag: "Resume", sessionId }
    if (model !== undefined) this.model = model
  }

  /** A verified reset: the new conversation has had no turn, so a replacement starts a new one. */
  cleared(): void {
    this.#target = { _tag: "Fresh" }
  }

  /**
   * The options of a process of this conversation: before any turn, as configured; after one, resuming
   * it; after a verified reset, a new conversation (the reset one has nothing to resume).
   */
  launchOptions(): ClaudeOptions.ClaudeOptions {
    if (this.#target._tag === "AsConfigured") return this.#options
    const rest = ClaudeOptions.withoutConversation(this.#options)
    return this.#target._tag === "Fresh" ? rest : { ...rest, resume: this.#target.sessionId }
  }
}

/**
 * The CLI's questions for the user, as a session's callbacks see them: MCP elicitations (`elicitation`)
 * and the CLI's own dialogs (`request_user_dialog`), with the answers the CLI expects. Without a callback,
 * or when one fails or answers out of shape, the request is refused in the CLI's terms: an elicitation is
 * declined, a dialog cancelled (the CLI then does what the dialog does by default). Re-exported by
 * `Session`.
 */
import { Cause, Effect, Schema } from "effect"
import type * as Protocol from "../../Protocol.ts"

/**
 * What an MCP server asks the user (the Agent SDK's `ElicitationRequest`).
 *
 * @since 0.1.0
 * @category dialogs
 */
export interface ElicitationRequest {
  readonly serverName: string
  readonly message: string
  /** `"form"`: fields described by `requestedSchema`; `"url"`: a page to open (`url`). */
  readonly mode: "form" | "url" | undefined
  readonly url: string | undefined
  readonly elicitationId: string | undefined
  readonly requestedSchema: Readonly<Record<string, unknown>> | undefined
  readonly title: string | undefined
  readonly displayName: string | undefined
  readonly description: string | undefined
}

/**
 * The answer to an {@link ElicitationRequest} (MCP's `ElicitResult`): `accept` with the form's `content`,
 * or `decline` / `cancel`.
 *
 * @since 0.1.0
 * @category dialogs
 */
export const ElicitationResult = Schema.Struct({
  action: Schema.Literals(["accept", "decline", "cancel"]),
  content: Schema.optionalKey(
    Schema.Record(
      Schema.String,
      Schema.Union([Schema.String, Schema.Number, Schema.Boolean, Schema.Array(Schema.String)])
    )
  )
})

/**
 * @since 0.1.0
 * @category dialogs
 */
export type ElicitationResult = typeof ElicitationResult.Type

/**
 * A dialog the CLI asks the host to show (the Agent SDK's `UserDialogRequest`), of a kind the session
 * declared in `supportedDialogKinds`.
 *
 * @since 0.1.0
 * @category dialogs
 */
export interface UserDialogRequest {
  readonly dialogKind: string
  /** Defined by the dialog's kind. */
  readonly payload: Readonly<Record<string, unknown>>
  readonly toolUseId: string | undefined
}

/**
 * The answer to a {@link UserDialogRequest}: `completed` with the kind's result, or `cancelled` (the CLI
 * then does what the dialog does by default; the answer for a kind the host does not know).
 *
 * @since 0.1.0
 * @category dialogs
 */
export const UserDialogResult = Schema.Union([
  Schema.Struct({ behavior: Schema.Literal("completed"), result: Schema.Unknown }),
  Schema.Struct({ behavior: Schema.Literal("cancelled") })
])

/**
 * @since 0.1.0
 * @category dialogs
 */
export type UserDialogResult = typeof UserDialogResult.Type

/** The session's callbacks (the public `Session.Config` fields). */
export interface DialogHandlers {
  readonly onElicitation?: ((request: ElicitationRequest) => Effect.Effect<ElicitationResult, unknown>) | undefined
  readonly onUserDialog?: ((request: UserDialogRequest) => Effect.Effect<UserDialogResult, unknown>) | undefined
}

const declined: ElicitationResult = { action: "decline" }
const cancelled: UserDialogResult = { behavior: "cancelled" }
const isElicitationResult = Schema.is(ElicitationResult)
const isUserDialogResult = Schema.is(UserDialogResult)

// A callback's failure, defect or out-of-shape answer is the refusal; an interruption (the CLI withdrew
// the request) is not caught, so nothing is written for it.
const orRefusal = <A>(answer: Effect.Effect<unknown, unknown>, is: (u: unknown) => u is A, refusal: A) =>
  answer.pipe(
    Effect.map((value) => (is(value) ? value : refusal)),
    Effect.catchCause((cause) => (Cause.hasInterruptsOnly(cause) ? Effect.interrupt : Effect.succeed(refusal)))
  )

/** Answers an `elicitation` request: the callback's answer, else a decline (as the Agent SDK does). */
export const answerElicitation = (
  body: typeof Protocol.ElicitationControlRequest.Type,
  handler: DialogHandlers["onElicitation"]
): Effect.Effect<ElicitationResult> =>
  handler === undefined ? Effect.succeed(declined) : orRefusal(
    Effect.suspend(() =>
      handler({
        serverName: body.mcp_server_name,
        message: body.message,
        mode: body.mode,
        url: body.url,
        elicitationId: body.elicitation_id,
        requestedSchema: body.requested_schema,
        title: body.title,
        displayName: body.display_name,
        description: body.description
      })
    ),
    isElicitationResult,
    declined
  )

/**
 * Answers a `request_user_dialog` request: the callback's answer, else `cancelled`. (The Agent SDK leaves
 * a dialog it has no callback for unanswered, for another client of a shared session to settle; a session
 * here is the CLI's only client, so nothing else would, and the dialog would wait out the CLI's deadline.)
 */
export const answerUserDialog = (
  body: typeof Protocol.UserDialogControlRequest.Type,
  handler: DialogHandlers["onUserDialog"]
): Effect.Effect<UserDialogResult> =>
  handler === undefined ? Effect.succeed(cancelled) : orRefusal(
    Effect.suspend(() => handler({ dialogKind: body.dialog_kind, payload: body.payload, toolUseId: body.tool_use_id })),
    isUserDialogResult,
    cancelled
  )

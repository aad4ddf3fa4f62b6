/**
 * Hooks: the host's handlers of the CLI's hook events, typed by event. Every event of the Agent SDK's
 * `HOOK_EVENTS` has a Schema for what the CLI sends ({@link inputs}) and for what a handler answers
 * ({@link outputs}); a handler's signature follows its event:
 *
 * ```ts
 * hooks: {
 *   PreToolUse: [{
 *     matcher: "Bash",
 *     timeout: "5 seconds",
 *     onFailure: "block",
 *     handle: (input) => Effect.succeed({ hookSpecificOutput: { hookEventName: "PreToolUse", permissionDecision: "deny" } })
 *   }]
 * }
 * ```
 *
 * **Registration.** Each handler is one matcher of the `initialize` request, with its `matcher`, its
 * `timeout` (in seconds, one second more than ours, so our answer comes first and the CLI's own deadline is
 * only the backstop) and its `onFailure`.
 *
 * **Failures.** A handler that fails or dies, that runs past its `timeout` (on the Effect `Clock`), or whose
 * answer does not match its event's output Schema, and an input that does not match its event's input
 * Schema (the handler is then not called), are answered with a control error naming what went wrong, also
 * recorded in the session's debug log (`hookFailed`). The CLI then applies the handler's `onFailure`:
 * `"continue"` (the default, as in the Agent SDK) reports the failure and lets the action go ahead;
 * `"block"` blocks what the event guards (a tool call, a permission request, a prompt). The CLI ignores the
 * policy on `Stop`, `SubagentStop`, `TaskCompleted` and `TeammateIdle`.
 *
 * @since 0.1.0
 */
import type { Duration, Effect } from "effect"
import { inputs } from "./internal/hooks/inputs.ts"
import type { CommonOutput, outputs } from "./internal/hooks/outputs.ts"

/**
 * Input Schemas of every event, and the fields they share.
 *
 * @since 0.1.0
 */
export * from "./internal/hooks/inputs.ts"
/**
 * Output Schemas of every event, and the fields they share.
 *
 * @since 0.1.0
 */
export * from "./internal/hooks/outputs.ts"

/**
 * A hook event's name.
 *
 * @since 0.1.0
 * @category models
 */
export type HookEvent = keyof typeof inputs

/**
 * Every hook event, in the order of the Agent SDK's `HOOK_EVENTS`.
 *
 * @since 0.1.0
 * @category constants
 */
export const events: ReadonlyArray<HookEvent> = Object.keys(inputs).filter((key): key is HookEvent => key in inputs)

/**
 * What the CLI sends with event `E`, e.g. `Input<"PreToolUse">` (the Agent SDK's `PreToolUseHookInput`).
 *
 * @since 0.1.0
 * @category models
 */
export type Input<E extends HookEvent> = (typeof inputs)[E]["Type"]

/**
 * What a handler of event `E` answers, e.g. `Output<"PreToolUse">`; the common fields alone
 * (`{ continue: true }`) are an answer to every event.
 *
 * @since 0.1.0
 * @category models
 */
export type Output<E extends HookEvent> = (typeof outputs)[E]["Type"] | CommonOutput

/**
 * What the CLI does when a handler fails (see the module's documentation): `"continue"` (default) lets the
 * action go ahead, `"block"` blocks it.
 *
 * @since 0.1.0
 * @category models
 */
export type FailurePolicy = "continue" | "block"

/**
 * What a handler gets besides the input: the tool call the hook is about, when it is about one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly toolUseId: string | undefined
}

/**
 * A handler of event `E`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Hook<E extends HookEvent = HookEvent> {
  /** A matcher as in Claude Code settings (`"Bash"`, `"Edit|Write"`): tool names for tool events; all when absent. */
  readonly matcher?: string | undefined
  /** How long the handler may run (on the Effect `Clock`); then its failure policy applies. Default: no limit of ours (the CLI's own applies). */
  readonly timeout?: Duration.Input | undefined
  /** Default `"continue"`. */
  readonly onFailure?: FailurePolicy | undefined
  /** Answers one hook callback: its input, decoded; its answer, checked against the event's output Schema. */
  readonly handle: (input: Input<E>, context: Context) => Effect.Effect<Output<E>, unknown>
}

/**
 * A session's hooks: handlers by event, each typed by its event.
 *
 * @since 0.1.0
 * @category models
 */
export type Hooks = { readonly [E in HookEvent]?: ReadonlyArray<Hook<E>> | undefined }

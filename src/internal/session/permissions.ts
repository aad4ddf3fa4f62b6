/**
 * Tool permissions as a session's callback sees them: the CLI's `can_use_tool` request, with the "always
 * allow" rules it suggests, and the answer, which may add such rules or stop the turn. Re-exported by
 * `Session`.
 */
import type * as Protocol from "../../Protocol.ts"

/**
 * A change to the CLI's permissions (the Agent SDK's `PermissionUpdate`): rules to add, replace or remove,
 * a permission mode, or directories, each for a `destination` (`"session"` lasts as long as the process;
 * the settings files persist it).
 *
 * @since 0.1.0
 * @category permissions
 */
export type PermissionUpdate = Protocol.PermissionUpdate

/**
 * What the CLI asks before it runs a tool (with `--permission-prompt-tool stdio`).
 *
 * @since 0.1.0
 * @category permissions
 */
export interface PermissionRequest {
  readonly toolName: string
  readonly input: unknown
  readonly toolUseId: string | undefined
  /** The changes the CLI suggests to allow it from now on ("always allow" in its own prompt). */
  readonly suggestions: ReadonlyArray<PermissionUpdate>
  /** The path the request is about, when it is one outside the allowed directories. */
  readonly blockedPath: string | undefined
  readonly request: Protocol.ControlRequest["request"]
}

/**
 * The answer to a {@link PermissionRequest}: allow it (with other input, and with `updatedPermissions`,
 * e.g. one of its `suggestions`, so the CLI does not ask again), or deny it with a message for the model
 * (`interrupt: true` also stops the turn).
 *
 * @since 0.1.0
 * @category permissions
 */
export type PermissionDecision =
  | {
    readonly behavior: "allow"
    readonly updatedInput?: unknown
    readonly updatedPermissions?: ReadonlyArray<PermissionUpdate>
  }
  | { readonly behavior: "deny"; readonly message: string; readonly interrupt?: boolean }

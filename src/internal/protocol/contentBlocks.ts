/**
 * The content blocks of the messages both sides exchange (text, thinking, tool
 * use, tool result, any other), and their type guards. Part of the public
 * `Protocol` namespace.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { compiledIs } from "./compiledGuard.ts"

/**
 * A text block.
 *
 * @since 0.1.0
 * @category content
 */
export const TextBlock = Schema.Struct({ type: Schema.Literal("text"), text: Schema.String })
/**
 * A thinking block (the model's reasoning, when the CLI shows it).
 *
 * @since 0.1.0
 * @category content
 */
export const ThinkingBlock = Schema.Struct({ type: Schema.Literal("thinking"), thinking: Schema.String })
/**
 * A tool call of the model: its id, the tool's name and its input.
 *
 * @since 0.1.0
 * @category content
 */
export const ToolUseBlock = Schema.Struct({
  type: Schema.Literal("tool_use"),
  id: Schema.String,
  name: Schema.String,
  input: Schema.Unknown
})
/**
 * The result of a tool call, by the id of its `tool_use` block.
 *
 * @since 0.1.0
 * @category content
 */
export const ToolResultBlock = Schema.Struct({
  type: Schema.Literal("tool_result"),
  tool_use_id: Schema.String,
  content: Schema.optionalKey(Schema.Unknown),
  is_error: Schema.optionalKey(Schema.NullOr(Schema.Boolean))
})
/**
 * Any block, known or not: `type` is all that is required.
 *
 * @since 0.1.0
 * @category content
 */
export const AnyBlock = Schema.Struct({ type: Schema.String })

/**
 * The type of a value {@link TextBlock} accepts.
 *
 * @since 0.1.0
 * @category content
 */
export type TextBlock = typeof TextBlock.Type
/**
 * The type of a value {@link ThinkingBlock} accepts.
 *
 * @since 0.1.0
 * @category content
 */
export type ThinkingBlock = typeof ThinkingBlock.Type
/**
 * The type of a value {@link ToolUseBlock} accepts.
 *
 * @since 0.1.0
 * @category content
 */
export type ToolUseBlock = typeof ToolUseBlock.Type
/**
 * The type of a value {@link ToolResultBlock} accepts.
 *
 * @since 0.1.0
 * @category content
 */
export type ToolResultBlock = typeof ToolResultBlock.Type

/**
 * Whether a block (of an `assistant` or `user` frame, typed as {@link AnyBlock}) is a {@link TextBlock}.
 * The block is checked, not copied: keys the schema does not name stay.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTextBlock: (u: unknown) => u is TextBlock = compiledIs(TextBlock)
/**
 * Whether a block is a {@link ThinkingBlock}.
 *
 * @since 0.1.0
 * @category guards
 */
export const isThinkingBlock: (u: unknown) => u is ThinkingBlock = compiledIs(ThinkingBlock)
/**
 * Whether a block is a {@link ToolUseBlock} (its `input` must be present, whatever it holds).
 *
 * @since 0.1.0
 * @category guards
 */
export const isToolUseBlock: (u: unknown) => u is ToolUseBlock = compiledIs(ToolUseBlock)
/**
 * Whether a block is a {@link ToolResultBlock}.
 *
 * @since 0.1.0
 * @category guards
 */
export const isToolResultBlock: (u: unknown) => u is ToolResultBlock = compiledIs(ToolResultBlock)

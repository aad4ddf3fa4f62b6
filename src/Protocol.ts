/**
 * Schemas of the stream-json protocol the Claude Code CLI speaks, both directions.
 *
 * Decoding is tolerant and lossless: a frame is validated against the schema of
 * its `type` (and `subtype` for `system` frames), and the decoded value **is**
 * the parsed JSON object, so every field the CLI sent, known or not, is still
 * there. A frame whose type is unknown, or whose shape does not match its
 * schema, is kept as an {@link UnknownFrame} rather than rejected.
 *
 * One namespace, three parts, each in a module of its own:
 * - content blocks, both directions (`TextBlock`, `ToolUseBlock`, ... and their guards);
 * - what the CLI prints on stdout (`SystemInit`, `AssistantFrame`, `ResultFrame`, ..., the control
 *   frames, which go both ways) and {@link decode}, which tells them apart;
 * - what the host writes to stdin: {@link userMessage}, {@link controlRequest}, {@link controlSuccess},
 *   {@link controlError}, {@link encodeLine}.
 *
 * @since 0.1.0
 */
/**
 * Content blocks, both directions.
 *
 * @since 0.1.0
 */
export * from "./internal/protocol/contentBlocks.ts"
/**
 * Control frames, both directions.
 *
 * @since 0.1.0
 */
export * from "./internal/protocol/controlFrames.ts"
/**
 * The CLI's answers to the session's typed controls.
 *
 * @since 0.1.0
 */
export * from "./internal/protocol/controlResponses.ts"
/**
 * What the host writes to the CLI's stdin.
 *
 * @since 0.1.0
 */
export * from "./internal/protocol/inputFrames.ts"
/**
 * What the CLI prints on stdout, and its decoding.
 *
 * @since 0.1.0
 */
export * from "./internal/protocol/outputFrames.ts"
/**
 * The `system` frames about the session (`compact_boundary`, `session_state_changed`, `notification`, ...),
 * and `auth_status`, `prompt_suggestion`.
 *
 * @since 0.1.0
 */
export * from "./internal/protocol/systemFrames.ts"
/**
 * The frames about tasks and tool calls in progress (`task_*`, `background_tasks_changed`, `tool_progress`,
 * `tool_use_summary`).
 *
 * @since 0.1.0
 */
export * from "./internal/protocol/taskFrames.ts"

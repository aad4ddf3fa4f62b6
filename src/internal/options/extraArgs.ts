/**
 * `extraArgs`, the Agent SDK's escape hatch: flags of the CLI this library has no option for. Each key must
 * be a flag name the options do not own; `ClaudeOptions.toArgs` glues each value to its flag.
 */
import { Schema } from "effect"
import { Text } from "./text.ts"

// A flag name of the CLI: what `extraArgs` may add.
const flagName = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/

/**
 * Flags `extraArgs` may not set: the protocol's own, the ones that take a prompt, and every flag an option
 * maps to (set the option instead, so it is validated and in the pool key once).
 */
const reservedFlags: Readonly<Record<string, string>> = {
  "output-format": "the protocol",
  "input-format": "the protocol",
  "verbose": "the protocol",
  "print": "the protocol (prompts go over stdin)",
  "p": "the protocol (prompts go over stdin)",
  "model": "model",
  "fallback-model": "fallbackModel",
  "system-prompt": "systemPrompt",
  "system-prompt-file": "systemPrompt",
  "append-system-prompt": "appendSystemPrompt",
  "append-system-prompt-file": "appendSystemPrompt",
  "max-turns": "maxTurns",
  "max-budget-usd": "maxBudgetUsd",
  "allowedTools": "allowedTools",
  "disallowedTools": "disallowedTools",
  "tools": "tools",
  "permission-mode": "permissionMode",
  "add-dir": "additionalDirectories",
  "mcp-config": "mcpServers",
  "strict-mcp-config": "strictMcpConfig",
  "resume": "resume",
  "continue": "continue",
  "fork-session": "forkSession",
  "session-id": "sessionId",
  "resume-session-at": "resumeSessionAt",
  "no-session-persistence": "persistSession",
  "include-partial-messages": "includePartialMessages",
  "settings": "settings",
  "setting-sources": "settingSources",
  "json-schema": "outputFormat",
  "agents": "agents",
  "agent": "agent",
  "thinking": "thinking",
  "thinking-display": "thinking",
  "max-thinking-tokens": "maxThinkingTokens",
  "effort": "effort",
  "betas": "betas",
  "plugin-dir": "plugins",
  "plugin-dir-no-mcp": "plugins",
  "include-hook-events": "includeHookEvents",
  "allow-dangerously-skip-permissions": "allowDangerouslySkipPermissions",
  "permission-prompt-tool": "permissionPromptToolName (or a permission callback, canUseTool)",
  "debug": "debug mode (config.debug)",
  "debug-file": "debug mode (config.debug)"
}

/** Flag names to values (`null` for a bare flag); a reserved or malformed name is an error naming it. */
export const ExtraArgs = Schema.Record(Schema.String, Schema.NullOr(Text)).check(
  Schema.makeFilter((args) => {
    const problems = Object.keys(args).flatMap((name) => {
      const owner = reservedFlags[name.replace(/^-+/, "")]
      if (owner !== undefined) return [`${JSON.stringify(name)} is set by ${owner}`]
      return flagName.test(name)
        ? []
        : [`${JSON.stringify(name)} is not a flag name (lowercase words joined by "-", without the dashes)`]
    })
    return problems.length === 0 || problems.join("; ")
  })
)

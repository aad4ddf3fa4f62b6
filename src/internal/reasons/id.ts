/** The schema identifier of a `ClaudeError` reason. */
export const reasonId = (name: string) => `effect-claude-code/ClaudeError/${name}`

/**
 * Slash commands: which prompts the CLI would run as one, and what a command may change.
 *
 * The CLI 2.1.329 (read from its bundle, and checked against it with the FakeApi) takes a user message for a
 * command when its LAST content block is text that starts with `/` (no leading whitespace) followed by a
 * name of `[a-zA-Z0-9_][a-zA-Z0-9:_-]*` and then whitespace or the end; arguments are the rest, trimmed.
 * A known name is run (`/model x` switches the process's model, and the pool's `/clear` does not undo it);
 * an unknown one (`/etc/passwd ...`, `//model`) is sent to the model as text. A string prompt and a single
 * text block are the same message; `[text "hi", text "/model x"]` runs the command, `[text "/model x",
 * text "hi"]` does not, and neither does `" /model x"` (sent as text, the space included).
 */
import * as ClaudeError from "../ClaudeError.ts"
import * as Protocol from "../Protocol.ts"

/** A command as the CLI parses it. */
export interface Command {
  readonly name: string
  readonly args: string
}

const commandName = /^[a-zA-Z0-9_][a-zA-Z0-9:_-]*$/

/** Whether a name is one the CLI would parse as a command name. */
export const isCommandName = (name: string): boolean => commandName.test(name)

/** The text the CLI parses for a command: the prompt itself, or its last block when that is text. */
const parsedText = (prompt: Protocol.UserContent): string | undefined => {
  if (typeof prompt === "string") return prompt
  const last = prompt.at(-1)
  return last !== undefined && Protocol.isTextBlock(last) ? last.text : undefined
}

/** The command the CLI would run for this prompt, if its name were known to it. */
export const commandIn = (prompt: Protocol.UserContent): Command | undefined => {
  const text = parsedText(prompt)
  if (text === undefined || !text.startsWith("/")) return undefined
  const rest = text.slice(1)
  const space = rest.search(/\s/)
  const name = space === -1 ? rest : rest.slice(0, space)
  return isCommandName(name) ? { name, args: space === -1 ? "" : rest.slice(space + 1).trim() } : undefined
}

/** Why a prompt may not be sent as one: the CLI would run it as a command. */
export const promptProblem = (prompt: Protocol.UserContent): ClaudeError.InvalidPrompt | undefined => {
  const command = commandIn(prompt)
  if (command === undefined) return undefined
  const name = `/${command.name}`
  return new ClaudeError.InvalidPrompt({
    issues: `it starts with ${name}, which the Claude Code CLI would run as a slash command; nothing was sent. ` +
      `Run commands with session.command("${command.name}", args), or start the prompt with a space to send it ` +
      "as text."
  })
}

/** A command to run, from a name (without `/`) and arguments; `undefined` when the name is not one. */
export const call = (name: string, args?: string): Command | undefined =>
  isCommandName(name) ? { name, args: (args ?? "").trim() } : undefined

/** The user message text that runs a command. */
export const render = (command: Command): string =>
  command.args === "" ? `/${command.name}` : `/${command.name} ${command.args}`

/**
 * What running a command may change:
 * - `nothing`: it only reports (`/cost`, `/context`, `/model` without arguments, ...). Its output still
 *   joins the conversation, which the pool's `/clear` removes.
 * - `process`: it may change the process (its model, effort, MCP servers, plugins, name), or it is not
 *   known here (skills, plugins, a project's own commands): the process must not serve another lease.
 * - `shared`: it writes settings other CLIs read (the user's `settings.json`, a project's
 *   `settings.local.json`): retiring the process cannot undo it, so it is refused.
 */
export type Reach = "nothing" | "process" | "shared"

/** Commands that report and change nothing, whatever their arguments. */
const reportOnly = new Set(["cost", "usage", "context", "help", "status", "insights"])

/** Commands that report without arguments and change something with them. */
const reportWithoutArgs = new Set(["model", "effort", "config", "output-style", "autocompact", "mcp"])

/**
 * Commands whose arguments change settings files shared with other CLIs, seen with 2.1.329:
 * `/config key=value` writes `~/.claude/settings.json` (`permissionMode=plan` makes every later CLI of the
 * user start in plan mode; `model=opus` changes every later CLI's model), `/autocompact <n>` writes a
 * model's window there, `/output-style <style>` writes the project's `.claude/settings.local.json` (and the
 * user's git excludes), `/auto-mode-setup` applies permission rules to the user's settings.
 */
const writesShared = new Set(["config", "autocompact", "output-style", "auto-mode-setup"])

/** What a command may change; names compared without case. */
export const reachOf = (command: Command): Reach => {
  const name = command.name.toLowerCase()
  if (writesShared.has(name) && (command.args !== "" || name === "auto-mode-setup")) return "shared"
  if (reportOnly.has(name) || (reportWithoutArgs.has(name) && command.args === "")) return "nothing"
  return "process"
}

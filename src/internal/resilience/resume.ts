/**
 * Resuming a turn whose tools ran (F14): the options of an attempt that resumes the CLI session, and
 * whether its transcript lets it: every tool call the attempts saw must be there, with its result.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import * as ClaudeError from "../../ClaudeError.ts"
import * as ClaudeOptions from "../../ClaudeOptions.ts"
import * as Transcript from "../../Transcript.ts"
import * as HostEnvironment from "../hostEnvironment.ts"

/**
 * The options of an attempt that resumes `sessionId`: the same process options, that conversation.
 *
 * @since 0.1.0
 * @category options
 */
export const resumeOptions = (options: ClaudeOptions.Input | undefined, sessionId: string): ClaudeOptions.Input => {
  return { ...ClaudeOptions.withoutConversation(options ?? {}), resume: sessionId }
}

/** What the CLI 2.1.329 says when `--resume` names a session it has no transcript of (then it exits 1). */
const noConversation = "No conversation found with session ID"

/**
 * Whether a resumed attempt failed because the CLI has no transcript of the session.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isNoConversation = (reason: ClaudeError.Reason): boolean => {
  switch (reason._tag) {
    case "ProcessExited":
      return reason.stderrTail.includes(noConversation)
    case "ExecutionError":
      return reason.errors.some((error) => error.includes(noConversation))
    case "ProtocolError":
      return reason.detail.includes(noConversation)
    default:
      return false
  }
}

/**
 * The failure of a turn that cannot be resumed safely.
 *
 * @since 0.1.0
 * @category errors
 */
export const transcriptLost = (
  sessionId: string,
  transcript: "missing" | "incomplete",
  toolsMayHaveRun: boolean,
  toolUseIds: ReadonlyArray<string>
): ClaudeError.ClaudeError =>
  ClaudeError.make(new ClaudeError.TranscriptLost({ sessionId, transcript, toolsMayHaveRun, toolUseIds }), {
    sessionId
  })

/**
 * The CLI's config directory for these options: theirs over the host's (`HOME`, `CLAUDE_CONFIG_DIR`, read
 * through `Config`), as the child's environment is built.
 *
 * @since 0.1.0
 * @category transcripts
 */
export const configDirOf = Effect.fnUntraced(function*(options: ClaudeOptions.Input | undefined) {
  const HOME = yield* HostEnvironment.variable("HOME")
  const CLAUDE_CONFIG_DIR = yield* HostEnvironment.variable("CLAUDE_CONFIG_DIR")
  return Transcript.configDir({ HOME, CLAUDE_CONFIG_DIR, ...options?.env })
})

/**
 * The reason `sessionId` cannot be resumed, if it cannot: no transcript, or one without the result of a
 * tool call in `toolUseIds`.
 *
 * @since 0.1.0
 * @category transcripts
 */
export const checkResumable = Effect.fnUntraced(function*(
  transcripts: Transcript.Transcript["Service"],
  sessionId: string,
  options: ClaudeOptions.Input | undefined,
  toolUseIds: ReadonlyArray<string>
) {
  const dir = yield* configDirOf(options)
  const contents = dir === undefined ? Option.none<Transcript.Contents>() : yield* transcripts.read(dir, sessionId)
  if (Option.isNone(contents)) return Option.some(transcriptLost(sessionId, "missing", true, toolUseIds))
  const open = Transcript.unresolved(contents.value, toolUseIds)
  return open.length === 0 ? Option.none() : Option.some(transcriptLost(sessionId, "incomplete", true, open))
})

/**
 * A session's hook handlers: registered in `initialize` (a matcher each, with its timeout and failure
 * policy), and each `hook_callback` served: the input checked against its event's Schema, the handler run
 * within its timeout on the Effect `Clock`, its answer checked against the event's output Schema. What goes
 * wrong is answered as a failure the CLI applies the handler's `onFailure` to (see the `Hooks` module).
 */
import { Cause, Duration, Effect, Exit, Schema } from "effect"
import * as Hooks from "../../Hooks.ts"
import { inputs } from "../hooks/inputs.ts"
import { outputs } from "../hooks/outputs.ts"
import { formatIssues } from "../issues.ts"

/** What a hook callback is answered with: the handler's output, or a failure naming what went wrong. */
export type HookAnswer =
  | { readonly _tag: "Output"; readonly output: unknown }
  | { readonly _tag: "Failed"; readonly detail: string }

/** Serves one callback of a registered handler: its input and the tool call it is about. */
export type ServeHook = (input: unknown, toolUseId: string | undefined) => Effect.Effect<HookAnswer>

/** A matcher of `initialize`'s `hooks`, as the CLI reads it. */
export interface Matcher {
  readonly matcher?: string
  readonly hookCallbackIds: ReadonlyArray<string>
  readonly timeout?: number
  readonly onFailure?: Hooks.FailurePolicy
}

const failed = (detail: string): HookAnswer => ({ _tag: "Failed", detail })

const issueOf = (schema: Schema.Top, value: unknown): string => {
  const exit = Schema.decodeUnknownExit(Schema.toType(schema))(value, { errors: "all" })
  if (Exit.isSuccess(exit)) return "it does not match"
  const error = Cause.findErrorOption(exit.cause)
  return error._tag === "Some" && Schema.isSchemaError(error.value)
    ? formatIssues(error.value.issue)
    : Cause.pretty(exit.cause)
}

const serving = <E extends Hooks.HookEvent>(event: E, hook: Hooks.Hook<E>): ServeHook => {
  const isInput = Schema.is(inputs[event])
  const isOutput = Schema.is(outputs[event])
  const timeout = hook.timeout === undefined ? undefined : Duration.fromInputUnsafe(hook.timeout)
  return (input, toolUseId) => {
    if (!isInput(input)) {
      return Effect.succeed(failed(`the ${event} input does not match its Schema: ${issueOf(inputs[event], input)}`))
    }
    const handled = Effect.suspend(() => hook.handle(input, { toolUseId })).pipe(
      Effect.map((output): HookAnswer =>
        isOutput(output)
          ? { _tag: "Output", output }
          : failed(`the ${event} handler's answer does not match its Schema: ${issueOf(outputs[event], output)}`)
      ),
      // A handler's failure or defect is its own; an interruption (a withdrawn request) is not caught.
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.interrupt
          : Effect.succeed(failed(`the ${event} handler failed: ${Cause.pretty(cause)}`))
      )
    )
    return timeout === undefined ? handled : handled.pipe(
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () => Effect.succeed(failed(`the ${event} handler did not answer within ${Duration.format(timeout)}`))
      })
    )
  }
}

/** The CLI's deadline for a handler with a timeout of ours: one second later, so our answer comes first. */
const cliSeconds = (timeout: Duration.Input) =>
  Math.ceil(Duration.toMillis(Duration.fromInputUnsafe(timeout)) / 1000) + 1

/** Registers `hooks` under callback ids: the matchers for `initialize`, and each id's server. */
export const register = (hooks: Hooks.Hooks | undefined) => {
  const served = new Map<string, ServeHook>()
  const config: Record<string, Array<Matcher>> = {}
  const registerEvent = <E extends Hooks.HookEvent>(event: E) => {
    const list: ReadonlyArray<Hooks.Hook<E>> = hooks?.[event] ?? []
    if (list.length === 0) return
    config[event] = list.map((hook) => {
      const id = `hook_${served.size}`
      served.set(id, serving(event, hook))
      return {
        ...(hook.matcher === undefined ? {} : { matcher: hook.matcher }),
        hookCallbackIds: [id],
        ...(hook.timeout === undefined ? {} : { timeout: cliSeconds(hook.timeout) }),
        ...(hook.onFailure === undefined ? {} : { onFailure: hook.onFailure })
      }
    })
  }
  for (const event of Hooks.events) registerEvent(event)
  return { served, config: Object.keys(config).length === 0 ? undefined : config }
}

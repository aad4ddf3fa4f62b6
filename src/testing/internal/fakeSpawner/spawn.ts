/**
 * Spawning a fake process: its record in the table, its pipes, its fiber, and the handle the host gets, with
 * the signal ladder (`kill`, `forceKillAfter`, closing the spawn's scope) and exit codes as the Node spawner
 * reports them.
 */
import { Cause, Deferred, Effect, Exit, Fiber, Option, PlatformError, Queue, Redacted, Sink, Stream } from "effect"
import type { ChildProcess } from "effect/process"
import { ChildProcessSpawner, CommandLine } from "effect/process"
import { makeOutput, type ProcessIo, resolveStdin } from "./io.ts"
import type { ExitStatus, MutableRecord, Registry } from "./processTable.ts"
import type { Script } from "./script.ts"
import { sessionProcess, versionProcess } from "./session.ts"

/**
 * Exactly what the Node spawner fails `exitCode` with on a death by signal: the message is
 * `Unknown: ChildProcess.exitCode (<command line>)`, and only the `cause` names the signal.
 */
const signalError = (command: ChildProcess.StandardCommand, signal: ChildProcess.Signal) =>
  PlatformError.systemError({
    _tag: "Unknown",
    module: "ChildProcess",
    method: "exitCode",
    pathOrDescriptor: CommandLine.display([command.command, ...command.args]),
    cause: new Error(`Process interrupted due to receipt of signal: '${signal}'`)
  })

const brokenPipe = (command: ChildProcess.StandardCommand) =>
  PlatformError.systemError({
    _tag: "Unknown",
    module: "ChildProcess",
    method: "fromWritable(stdin)",
    pathOrDescriptor: CommandLine.display([command.command, ...command.args]),
    description: "write EPIPE: the process has exited",
    syscall: "write"
  })

/** The spawn function of a FakeSpawner: each command becomes a fake process on a fiber of its own. */
export const makeSpawn = (registry: Registry, script: Script) =>
  Effect.fnUntraced(function*(command: ChildProcess.Command) {
    if (command._tag !== "StandardCommand") {
      return yield* Effect.fail(PlatformError.badArgument({
        module: "ChildProcess",
        method: "spawn",
        description: "the FakeSpawner runs single commands, not pipelines"
      }))
    }
    const options = command.options
    const args = command.args.map((word) => (Redacted.isRedacted(word) ? Redacted.value(word) : word))
    const record: MutableRecord = {
      pid: registry.pid(),
      kind: args.includes("--version") || args.includes("-v") ? "version" : "session",
      command: command.command,
      args,
      cwd: options.cwd,
      env: { ...options.env },
      descriptors: {},
      stdin: [],
      stdinClosed: false,
      controlRequests: [],
      controlAnswers: [],
      signals: [],
      turns: 0,
      sleeping: false,
      sleeps: 0,
      hung: false,
      exit: undefined
    }
    registry.records.push(record)
    registry.changed()

    const stdout = yield* makeOutput(options.stdout)
    const stderr = yield* makeOutput(options.stderr)
    const stdinQueue = yield* Queue.unbounded<Uint8Array, Cause.Done>()
    const terminated = yield* Deferred.make<ExitStatus>()
    const exited = yield* Deferred.make<ExitStatus>()

    const finish = (status: ExitStatus) =>
      Effect.suspend(() => {
        if (record.exit !== undefined) return Effect.void
        record.exit = status
        registry.changed()
        return Effect.all([stdout.close, stderr.close, Queue.shutdown(stdinQueue), Deferred.succeed(exited, status)], {
          discard: true
        })
      })

    // stdin: a sink that feeds the fake; EOF when its stream ends (unless `endOnDone: false`).
    const stdinConfig = resolveStdin(options)
    const stdinSink: Sink.Sink<void, Uint8Array, never, PlatformError.PlatformError> = Sink.forEach((
      chunk: Uint8Array
    ) =>
      Effect.flatMap(
        Queue.offer(stdinQueue, chunk),
        (accepted) => (accepted ? Effect.void : Effect.fail(brokenPipe(command)))
      )
    ).pipe(
      Sink.onExit((
        exit
      ) => (Exit.isSuccess(exit) && stdinConfig.endOnDone !== false ? Queue.end(stdinQueue) : Effect.void))
    )
    const input = stdinConfig.stream
    if (input === "ignore" || input === "inherit") yield* Queue.end(stdinQueue)

    const io: ProcessIo = {
      registry,
      record,
      script,
      stdout,
      stderr,
      stdinLines: Stream.fromQueue(stdinQueue).pipe(Stream.decodeText(), Stream.splitLines),
      terminate: (status) => Effect.asVoid(Deferred.succeed(terminated, status))
    }

    const fiber = yield* Effect.raceFirst(
      record.kind === "version" ? versionProcess(io) : sessionProcess(io),
      Deferred.await(terminated)
    ).pipe(
      Effect.flatMap(finish),
      Effect.onExit((exit) => {
        if (Exit.isSuccess(exit)) return Effect.void
        // Interrupted without a signal (its scope went away): as good as SIGKILLed. A defect in the fake
        // itself: exit 70, as fake-cli.mjs does on an internal error, so the host does not wait forever.
        if (Cause.hasInterruptsOnly(exit.cause)) return finish({ _tag: "Signaled", signal: "SIGKILL" })
        return Effect.logError("FakeSpawner: internal error in a fake process", exit.cause).pipe(
          Effect.andThen(finish({ _tag: "Exited", code: 70 }))
        )
      }),
      Effect.forkDetach
    )

    const deliver = (signal: ChildProcess.Signal) =>
      Effect.suspend(() => {
        if (record.exit !== undefined) return Effect.void
        record.signals.push(signal)
        registry.changed()
        if (signal !== "SIGTERM") return io.terminate({ _tag: "Signaled", signal })
        switch (script.sigterm ?? "die") {
          case "ignore":
            return io.stderr.write("fake-cli: ignoring SIGTERM\n")
          case "exit":
            return io.terminate({ _tag: "Exited", code: 143 })
          case "die":
            return io.terminate({ _tag: "Signaled", signal })
        }
      })

    const kill = Effect.fnUntraced(function*(killOptions?: ChildProcess.KillOptions) {
      if (record.exit !== undefined) return
      yield* deliver(killOptions?.killSignal ?? "SIGTERM")
      if (killOptions?.forceKillAfter === undefined) {
        yield* Deferred.await(exited)
        return
      }
      const done = yield* Effect.timeoutOption(Deferred.await(exited), killOptions.forceKillAfter)
      if (Option.isNone(done)) {
        yield* deliver("SIGKILL")
        yield* Deferred.await(exited)
      }
    })

    // Closing the spawn's scope stops a fake that still runs, as the real spawner does with its child.
    yield* Effect.addFinalizer(() =>
      kill({ killSignal: options.killSignal, forceKillAfter: options.forceKillAfter }).pipe(
        Effect.andThen(Fiber.interrupt(fiber))
      )
    )

    if (Stream.isStream(input)) {
      yield* Stream.run(input, stdinSink).pipe(Effect.ignore, Effect.forkScoped)
    }

    const stdoutStream = stdout.stream
    const stderrStream = stderr.stream
    return ChildProcessSpawner.makeHandle({
      pid: ChildProcessSpawner.ProcessId(record.pid),
      exitCode: Effect.flatMap(Deferred.await(exited), (status) =>
        status._tag === "Exited"
          ? Effect.succeed(ChildProcessSpawner.ExitCode(status.code))
          : Effect.fail(signalError(command, status.signal))),
      isRunning: Effect.map(Deferred.isDone(exited), (done) => !done),
      kill,
      stdin: input === "pipe" || input === "overlapped" ? stdinSink : Sink.drain,
      stdout: stdoutStream,
      stderr: stderrStream,
      all: Stream.merge(stdoutStream, stderrStream),
      getInputFd: (fd) =>
        Sink.forEach((chunk: Uint8Array) =>
          Effect.sync(() => {
            record.descriptors[fd] = (record.descriptors[fd] ?? "") + new TextDecoder().decode(chunk)
            registry.changed()
          })
        ),
      getOutputFd: () => Stream.empty,
      // The fake cannot outlive the test: closing the scope stops it whether or not it was unref'ed.
      unref: Effect.succeed(Effect.void)
    })
  })

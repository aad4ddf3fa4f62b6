/**
 * `npm run example:otel`: the library's spans, exported with OpenTelemetry.
 *
 * The library traces with Effect's own tracer (`Effect.fn` / `withSpan`), so
 * it needs no OpenTelemetry package itself: an application that wants its
 * spans in a collector provides a `NodeSdk` layer from `@effect/opentelemetry`
 * with the exporter of its choice, as {@link layerTracing} does here.
 *
 * Runs one turn with a Bash tool call on the real CLI, offline against the
 * bundled FakeApi (as `npm start` does without a credential). With
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set,
 * the spans go to that collector over OTLP/HTTP; without, they are printed to
 * stdout by the `ConsoleSpanExporter`. To look at them in Jaeger:
 *
 *     docker run --rm -p 127.0.0.1:16686:16686 -p 127.0.0.1:4318:4318 jaegertracing/all-in-one
 *     OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 npm run example:otel
 *
 * Dependencies (the application's, not the library's): `@effect/opentelemetry`
 * and the `@opentelemetry/*` SDK packages it names as peers (`api`,
 * `resources`, `sdk-trace-base`, `sdk-trace-node`, `sdk-metrics`, `sdk-logs`,
 * `api-logs`), plus an exporter such as `@opentelemetry/exporter-trace-otlp-http`.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { NodeRuntime } from "@effect/platform-node"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanProcessor
} from "@opentelemetry/sdk-trace-base"
import { Config, Console, Effect, type Layer, Option, Stream } from "effect"
import { Claude } from "effect-claude-code"
import { FakeApi } from "effect-claude-code/testing"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/**
 * A `NodeSdk` tracer provider for the span processor given: every span the
 * library (and the application) opens under this layer is exported through
 * it. Closing the layer flushes and shuts the provider down.
 */
export const layerTracing = (spanProcessor: SpanProcessor) =>
  NodeSdk.layer(() => ({
    resource: { serviceName: "effect-claude-code-example", serviceVersion: "0.1.0" },
    spanProcessor
  }))

/** OTLP/HTTP in batches when a collector is configured, else each span to stdout as it ends. */
const exporterFromEnvironment = Effect.gen(function*() {
  const endpoint = yield* Config.option(
    Config.String("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").pipe(
      Config.orElse(() => Config.String("OTEL_EXPORTER_OTLP_ENDPOINT"))
    )
  )
  return Option.match(endpoint, {
    // The OTLP exporter reads the endpoint (and headers) from the same variables itself.
    onSome: (url): { readonly label: string; readonly processor: SpanProcessor } => ({
      label: `OTLP/HTTP to ${url}`,
      processor: new BatchSpanProcessor(new OTLPTraceExporter())
    }),
    onNone: () => ({ label: "the console", processor: new SimpleSpanProcessor(new ConsoleSpanExporter()) })
  })
})

/**
 * One turn with a tool call, offline: a fresh HOME for the CLI and the FakeApi it talks to, acquired before
 * the Claude layer is built so that they outlive it (the CLI is stopped before its HOME is removed).
 */
const oneTurn = Effect.fn("example.oneTurn")(
  function*<E, R>(claude: Layer.Layer<Claude.Claude, E, R>) {
    const home = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-claude-code-otel-"))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    const api = yield* FakeApi.make({
      script: [
        FakeApi.toolUse("Bash", { command: "echo 'hello from a tool'", description: "Say hello" }),
        FakeApi.text("The tool said hello.")
      ]
    })
    const events = yield* Claude.query("Run `echo 'hello from a tool'` with Bash and tell me what it printed.", {
      env: FakeApi.cliEnvironment(api, home),
      allowedTools: ["Bash"]
    }).pipe(Stream.runCollect, Effect.provide(claude))
    const result = events.at(-1)
    return result?._tag === "Result" ? result : undefined
  },
  Effect.scoped
)

const program = Effect.gen(function*() {
  const { label, processor } = yield* exporterFromEnvironment
  yield* Console.log(`exporting spans to ${label}`)
  // The tracing layer wraps the Claude layer, so the pool's and the sessions' spans are exported too;
  // closing it flushes them.
  const result = yield* oneTurn(Claude.layer).pipe(Effect.provide(layerTracing(processor)))
  yield* Console.log(`one turn: ${result?.text ?? "no result"} (session ${result?.sessionId ?? "?"})`)
})

if (import.meta.main) NodeRuntime.runMain(program)

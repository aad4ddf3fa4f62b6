/**
 * `npm run example:prometheus`: the library's `claude_*` metrics, scraped by
 * Prometheus.
 *
 * Runs one turn with a Bash tool call on the real CLI, offline against the
 * bundled FakeApi on loopback (as `npm start` does without a credential), then
 * serves `GET /metrics` in the text exposition format on 127.0.0.1 until
 * Ctrl-C. `METRICS_PORT` picks the port (default 9464; 0 for any free one).
 *
 *     curl -s http://127.0.0.1:9464/metrics
 *
 * and in prometheus.yml:
 *
 *     scrape_configs:
 *       - job_name: effect-claude-code
 *         static_configs: [{ targets: ["127.0.0.1:9464"] }]
 */
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Config, Console, Context, Effect, Layer, Stream } from "effect"
import { Claude, Prometheus } from "effect-claude-code"
import { FakeApi } from "effect-claude-code/testing"
import { HttpRouter, HttpServer } from "effect/http"
import * as fs from "node:fs"
import { createServer } from "node:http"
import * as os from "node:os"
import * as path from "node:path"

// `GET /metrics` on an Effect HTTP server bound to loopback.
const metricsServer = (port: number) =>
  HttpRouter.serve(Prometheus.layerHttp({ path: "/metrics" }), { disableListenLog: true, disableLogger: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
  )

const program = Effect.gen(function*() {
  const port = yield* Config.Int("METRICS_PORT").pipe(Config.withDefault(9464))

  // Offline: a fresh HOME for the CLI and the FakeApi it talks to. They are acquired before the Claude layer
  // is built, so they outlive it: the CLI is stopped before its HOME is removed.
  const home = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-claude-code-prometheus-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  const api = yield* FakeApi.make({
    script: [
      FakeApi.toolUse("Bash", { command: "echo 'hello from a tool'", description: "Say hello" }),
      FakeApi.text("The tool said hello.")
    ]
  })

  return yield* Effect.gen(function*() {
    // One turn with a tool call.
    const events = yield* Claude.query("Run `echo 'hello from a tool'` with Bash and tell me what it printed.", {
      env: FakeApi.cliEnvironment(api, home),
      allowedTools: ["Bash"]
    }).pipe(Stream.runCollect)
    const result = events.at(-1)
    yield* Console.log(
      result?._tag === "Result"
        ? `one turn: ${result.text ?? ""} ($${(result.costUsd ?? 0).toFixed(5)}, session ${result.sessionId})`
        : "one turn: no result"
    )

    // Then serve the metrics until interrupted (Ctrl-C or SIGTERM: NodeRuntime closes every scope).
    const services = yield* Layer.build(metricsServer(port))
    const server = Context.get(services, HttpServer.HttpServer)
    yield* Console.log(
      `serving the claude_* metrics at ${HttpServer.formatAddress(server.address)}/metrics (Ctrl-C to stop)`
    )
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.provide(Claude.layer))
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)

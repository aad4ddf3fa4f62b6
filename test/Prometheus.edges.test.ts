import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { HttpRouter } from "effect/http"
import { Prometheus } from "../src/index.ts"

/** Runs with a registry of its own, so no metric of the library (or of another test) shows up. */
const isolated = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.provideService(self, Metric.MetricRegistry, new Map())

describe("Prometheus: values and names at the edges of the format", () => {
  it.effect("a bigint counter is printed exactly, past what a double holds", () =>
    isolated(Effect.gen(function*() {
      yield* Metric.update(
        Metric.counter("claude_test_bytes_total", { bigint: true, incremental: true }),
        2n ** 70n + 1n
      )
      assert.strictEqual(
        yield* Prometheus.text,
        "# TYPE claude_test_bytes_total counter\nclaude_test_bytes_total 1180591620717411303425\n"
      )
    })))

  it.effect("infinite gauges are +Inf and -Inf", () =>
    isolated(Effect.gen(function*() {
      const bound = Metric.gauge("claude_test_bound")
      yield* Metric.update(Metric.withAttributes(bound, { side: "upper" }), Number.POSITIVE_INFINITY)
      yield* Metric.update(Metric.withAttributes(bound, { side: "lower" }), Number.NEGATIVE_INFINITY)
      assert.strictEqual(
        yield* Prometheus.text,
        [
          "# TYPE claude_test_bound gauge",
          "claude_test_bound{side=\"lower\"} -Inf",
          "claude_test_bound{side=\"upper\"} +Inf",
          ""
        ].join("\n")
      )
    })))

  it.effect("a metric name that starts with a digit, or holds characters Prometheus refuses, is made valid", () =>
    isolated(Effect.gen(function*() {
      yield* Metric.update(Metric.counter("9lives.total"), 1)
      yield* Metric.update(Metric.counter("claude-test/odd name"), 2)
      assert.strictEqual(
        yield* Prometheus.textWith({ prefix: "" }),
        [
          "# TYPE _9lives_total counter",
          "_9lives_total 1",
          "# TYPE claude_test_odd_name counter",
          "claude_test_odd_name 2",
          ""
        ]
          .join("\n")
      )
    })))

  it.effect("series of one family are ordered by their labels, whatever order they were recorded in", () =>
    isolated(Effect.gen(function*() {
      const turns = Metric.counter("claude_test_turns_total")
      for (const model of ["zeta", "alpha", "mid"]) yield* Metric.update(Metric.withAttributes(turns, { model }), 1)
      const lines = (yield* Prometheus.text).split("\n").filter((line) => line.startsWith("claude_test_turns_total{"))
      assert.deepStrictEqual(lines, [
        "claude_test_turns_total{model=\"alpha\"} 1",
        "claude_test_turns_total{model=\"mid\"} 1",
        "claude_test_turns_total{model=\"zeta\"} 1"
      ])
    })))

  it.effect("layerHttp serves GET /metrics when given no path", () =>
    Effect.gen(function*() {
      // The web handler runs on the default (global) registry: a name no other test uses.
      const name = `claude_test_default_path_${process.pid}_total`
      yield* Metric.update(Metric.counter(name), 7)
      const { dispose, handler } = HttpRouter.toWebHandler(Prometheus.layerHttp(), { disableLogger: true })
      yield* Effect.addFinalizer(() => Effect.promise(() => dispose()))
      const response = yield* Effect.promise(() => handler(new Request("http://127.0.0.1/metrics")))
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("content-type"), Prometheus.contentType)
      assert.include(yield* Effect.promise(() => response.text()), `\n${name} 7\n`)
    }))
})

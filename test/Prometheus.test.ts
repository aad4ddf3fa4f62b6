import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Metric } from "effect"
import { HttpRouter } from "effect/http"
import * as Prometheus from "../src/Prometheus.ts"

// -----------------------------------------------------------------------------
// A parser for the text exposition format (0.0.4), to read the output back
// -----------------------------------------------------------------------------

interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

interface Exposition {
  readonly help: ReadonlyMap<string, string>
  readonly type: ReadonlyMap<string, string>
  readonly samples: ReadonlyArray<Sample>
}

const unescapeHelp = (text: string) => text.replace(/\\(\\|n)/g, (_, c: string) => (c === "n" ? "\n" : "\\"))

const parseValue = (text: string): number =>
  text === "+Inf" ? Infinity : text === "-Inf" ? -Infinity : text === "NaN" ? NaN : Number(text)

/** Parses `{a="x",b="y\"z"}` starting at `text[0] === "{"`; returns the labels and the rest of the line. */
const parseLabels = (text: string): { labels: Record<string, string>; rest: string } => {
  const labels: Record<string, string> = {}
  let i = 1
  while (text[i] !== "}") {
    const name = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i))?.[0]
    if (name === undefined) throw new Error(`bad label name at ${i}: ${text}`)
    i += name.length
    if (text.slice(i, i + 2) !== "=\"") throw new Error(`expected =" at ${i}: ${text}`)
    i += 2
    let value = ""
    while (text[i] !== "\"") {
      const c = text[i]
      if (c === undefined || c === "\n") throw new Error(`unterminated label value: ${text}`)
      if (c === "\\") {
        const next = text[i + 1]
        if (next === "\\") value += "\\"
        else if (next === "\"") value += "\""
        else if (next === "n") value += "\n"
        else throw new Error(`bad escape \\${next}: ${text}`)
        i += 2
      } else {
        value += c
        i += 1
      }
    }
    i += 1
    if (name in labels) throw new Error(`duplicate label ${name}: ${text}`)
    labels[name] = value
    if (text[i] === ",") i += 1
    else if (text[i] !== "}") throw new Error(`expected , or } at ${i}: ${text}`)
  }
  return { labels, rest: text.slice(i + 1) }
}

const parse = (text: string): Exposition => {
  const help = new Map<string, string>()
  const type = new Map<string, string>()
  const samples: Array<Sample> = []
  let family = ""
  assert.isTrue(text === "" || text.endsWith("\n"), "the exposition ends with a newline")
  for (const line of text.split("\n").slice(0, -1)) {
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line)
    if (comment !== null) {
      const [, kind = "", name = "", rest = ""] = comment
      const map = kind === "HELP" ? help : type
      assert.isFalse(map.has(name), `one ${kind} line for ${name}`)
      if (kind === "TYPE") {
        assert.include(["counter", "gauge", "histogram", "summary", "untyped"], rest)
        assert.isFalse(samples.some((s) => s.name === name), `TYPE ${name} comes before its samples`)
        family = name
      }
      map.set(name, kind === "HELP" ? unescapeHelp(rest) : rest)
      continue
    }
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0]
    if (name === undefined) throw new Error(`bad sample line: ${JSON.stringify(line)}`)
    const after = line.slice(name.length)
    const { labels, rest } = after.startsWith("{") ? parseLabels(after) : { labels: {}, rest: after }
    const value = /^ (\S+)$/.exec(rest)?.[1]
    if (value === undefined) throw new Error(`bad sample value: ${JSON.stringify(line)}`)
    assert.isFalse(Number.isNaN(parseValue(value)) && value !== "NaN", `a number: ${value}`)
    // A family's samples follow its TYPE line, all together.
    const suffixes = type.get(family) === "histogram"
      ? ["_bucket", "_sum", "_count"]
      : type.get(family) === "summary"
      ? ["", "_sum", "_count"]
      : [""]
    assert.include(suffixes.map((suffix) => family + suffix), name, `${name} in the family of the TYPE line before it`)
    samples.push({ name, labels, value: parseValue(value) })
  }
  return { help, type, samples }
}

const samplesOf = (exposition: Exposition, name: string) => exposition.samples.filter((s) => s.name === name)

const sameLabels = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v)

const valueOf = (exposition: Exposition, name: string, labels: Record<string, string> = {}) =>
  exposition.samples.find((s) => s.name === name && sameLabels(s.labels, labels))?.value

/** Runs with a registry of its own, so no metric of the library (or of another test) shows up. */
const isolated = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.provideService(self, Metric.MetricRegistry, new Map())

// -----------------------------------------------------------------------------

describe("Prometheus", () => {
  it.effect("counters and gauges, with HELP and TYPE once per family and attributes as labels", () =>
    isolated(Effect.gen(function*() {
      const turns = Metric.counter("claude_test_turns_total", { description: "Turns by outcome", incremental: true })
      const active = Metric.gauge("claude_test_sessions", { description: "Sessions by state" })
      yield* Metric.update(Metric.withAttributes(turns, { outcome: "success", model: "claude-sonnet-4-5" }), 3)
      yield* Metric.update(Metric.withAttributes(turns, { outcome: "error", model: "claude-sonnet-4-5" }), 1)
      yield* Metric.update(Metric.withAttributes(active, { state: "idle" }), 2)
      yield* Metric.update(Metric.withAttributes(active, { state: "running" }), 5)
      yield* Metric.modify(Metric.withAttributes(active, { state: "running" }), -1)

      const text = yield* Prometheus.text
      const parsed = parse(text)
      assert.strictEqual(parsed.type.get("claude_test_turns_total"), "counter")
      assert.strictEqual(parsed.help.get("claude_test_turns_total"), "Turns by outcome")
      assert.strictEqual(parsed.type.get("claude_test_sessions"), "gauge")
      assert.strictEqual(
        valueOf(parsed, "claude_test_turns_total", { model: "claude-sonnet-4-5", outcome: "success" }),
        3
      )
      assert.strictEqual(
        valueOf(parsed, "claude_test_turns_total", { model: "claude-sonnet-4-5", outcome: "error" }),
        1
      )
      assert.strictEqual(valueOf(parsed, "claude_test_sessions", { state: "idle" }), 2)
      assert.strictEqual(valueOf(parsed, "claude_test_sessions", { state: "running" }), 4)
      // Families sorted by name, series by labels, labels by name: two scrapes of one state are identical.
      assert.deepStrictEqual(text.split("\n"), [
        "# HELP claude_test_sessions Sessions by state",
        "# TYPE claude_test_sessions gauge",
        "claude_test_sessions{state=\"idle\"} 2",
        "claude_test_sessions{state=\"running\"} 4",
        "# HELP claude_test_turns_total Turns by outcome",
        "# TYPE claude_test_turns_total counter",
        "claude_test_turns_total{model=\"claude-sonnet-4-5\",outcome=\"error\"} 1",
        "claude_test_turns_total{model=\"claude-sonnet-4-5\",outcome=\"success\"} 3",
        ""
      ])
      assert.strictEqual(yield* Prometheus.text, text)
    })))

  it.effect("escapes label values (backslash, double quote, newline) and HELP text; parses back to the originals", () =>
    isolated(Effect.gen(function*() {
      const nasty = "C:\\tmp\\\"quoted\" line one\nline two {a=\"b\"}, # not a comment"
      const help = "Help with a backslash \\ and a\nnewline"
      const counter = Metric.counter("claude_test_escaping_total", { description: help })
      yield* Metric.update(Metric.withAttributes(counter, { path: nasty, "model.name": "opus", "9lives": "x" }), 1)

      const text = yield* Prometheus.text
      // Every sample stays on one line.
      assert.strictEqual(text.split("\n").filter((l) => l.startsWith("claude_test_escaping_total")).length, 1)
      assert.include(text, "# HELP claude_test_escaping_total Help with a backslash \\\\ and a\\nnewline\n")
      assert.include(text, "path=\"C:\\\\tmp\\\\\\\"quoted\\\" line one\\nline two {a=\\\"b\\\"}, # not a comment\"")
      const parsed = parse(text)
      assert.strictEqual(parsed.help.get("claude_test_escaping_total"), help)
      const [sample] = samplesOf(parsed, "claude_test_escaping_total")
      // Attribute names become valid label names.
      assert.deepStrictEqual(sample?.labels, { _9lives: "x", model_name: "opus", path: nasty })
      assert.strictEqual(sample?.value, 1)
    })))

  it.effect("histograms: cumulative _bucket{le} series ending in +Inf, _sum and _count, per attribute set", () =>
    isolated(Effect.gen(function*() {
      const histogram = Metric.histogram("claude_test_tokens", {
        description: "Tokens per turn",
        boundaries: [1, 5, 10, 2.5]
      })
      const opus = Metric.withAttributes(histogram, { model: "opus" })
      for (const n of [0.5, 3, 5, 7, 20]) yield* Metric.update(opus, n)
      yield* Metric.update(Metric.withAttributes(histogram, { model: "haiku" }), 1)

      const parsed = parse(yield* Prometheus.text)
      assert.strictEqual(parsed.type.get("claude_test_tokens"), "histogram")
      assert.isUndefined(parsed.type.get("claude_test_tokens_bucket"))
      const buckets = samplesOf(parsed, "claude_test_tokens_bucket").filter((s) => s.labels["model"] === "opus")
      assert.deepStrictEqual(buckets.map((s) => [s.labels["le"], s.value]), [
        ["1", 1],
        ["2.5", 1],
        ["5", 3],
        ["10", 4],
        ["+Inf", 5]
      ])
      assert.strictEqual(valueOf(parsed, "claude_test_tokens_sum", { model: "opus" }), 35.5)
      assert.strictEqual(valueOf(parsed, "claude_test_tokens_count", { model: "opus" }), 5)
      assert.strictEqual(valueOf(parsed, "claude_test_tokens_bucket", { model: "haiku", le: "1" }), 1)
      assert.strictEqual(valueOf(parsed, "claude_test_tokens_bucket", { model: "haiku", le: "+Inf" }), 1)
      assert.strictEqual(valueOf(parsed, "claude_test_tokens_count", { model: "haiku" }), 1)
    })))

  it.effect("timers: the unit goes into HELP, not into a label; boundaries from Metric.boundariesFromIterable keep one +Inf", () =>
    isolated(Effect.gen(function*() {
      const timer = Metric.timer("claude_test_turn_duration", {
        description: "Turn duration",
        boundaries: Metric.boundariesFromIterable([100, 1000])
      })
      yield* Metric.update(timer, Duration.millis(250))
      yield* Metric.update(timer, Duration.seconds(2))
      const parsed = parse(yield* Prometheus.text)
      assert.strictEqual(parsed.help.get("claude_test_turn_duration"), "Turn duration (milliseconds)")
      const buckets = samplesOf(parsed, "claude_test_turn_duration_bucket")
      assert.deepStrictEqual(buckets.map((s) => [s.labels, s.value]), [
        [{ le: "100" }, 0],
        [{ le: "1000" }, 1],
        [{ le: "+Inf" }, 2]
      ])
      assert.strictEqual(valueOf(parsed, "claude_test_turn_duration_sum"), 2250)
    })))

  it.effect("a reserved label name taken by an attribute is renamed exported_<name>", () =>
    isolated(Effect.gen(function*() {
      const histogram = Metric.withAttributes(Metric.histogram("claude_test_le", { boundaries: [1] }), { le: "mine" })
      yield* Metric.update(histogram, 0)
      const frequency = Metric.withAttributes(Metric.frequency("claude_test_tools"), { key: "k", __name__: "n" })
      yield* Metric.update(frequency, "Bash")
      yield* Metric.update(frequency, "Bash")
      yield* Metric.update(frequency, "Read")
      const parsed = parse(yield* Prometheus.text)
      assert.strictEqual(valueOf(parsed, "claude_test_le_bucket", { exported_le: "mine", le: "1" }), 1)
      assert.strictEqual(parsed.type.get("claude_test_tools"), "counter")
      assert.strictEqual(
        valueOf(parsed, "claude_test_tools", { exported___name__: "n", exported_key: "k", key: "Bash" }),
        2
      )
      assert.strictEqual(
        valueOf(parsed, "claude_test_tools", { exported___name__: "n", exported_key: "k", key: "Read" }),
        1
      )
    })))

  it.effect("summaries: quantile samples (NaN before any observation), _sum and _count", () =>
    isolated(Effect.gen(function*() {
      const summary = Metric.summary("claude_test_latency", {
        maxAge: "1 minute",
        maxSize: 10,
        quantiles: [0.5, 0.9]
      })
      yield* Metric.update(summary, 10)
      yield* Metric.update(summary, 20)
      const empty = Metric.summary("claude_test_empty", { maxAge: "1 minute", maxSize: 10, quantiles: [0.5] })
      yield* Metric.value(empty)
      const parsed = parse(yield* Prometheus.text)
      assert.strictEqual(parsed.type.get("claude_test_latency"), "summary")
      assert.deepStrictEqual(samplesOf(parsed, "claude_test_latency").map((s) => s.labels["quantile"]), ["0.5", "0.9"])
      assert.strictEqual(valueOf(parsed, "claude_test_latency_count"), 2)
      assert.strictEqual(valueOf(parsed, "claude_test_latency_sum"), 30)
      assert.isTrue(Number.isNaN(valueOf(parsed, "claude_test_empty", { quantile: "0.5" }) ?? 0))
    })))

  it.effect("only claude_* metrics by default; another prefix, or \"\" for all, on request; nothing gives \"\"", () =>
    isolated(Effect.gen(function*() {
      assert.strictEqual(yield* Prometheus.text, "")
      yield* Metric.update(Metric.counter("http_requests_total"), 1)
      yield* Metric.update(Metric.counter("claude_test_spawns_total"), 2)
      const mine = parse(yield* Prometheus.text)
      assert.deepStrictEqual(mine.samples.map((s) => s.name), ["claude_test_spawns_total"])
      const all = parse(yield* Prometheus.textWith({ prefix: "" }))
      assert.deepStrictEqual(all.samples.map((s) => s.name), ["claude_test_spawns_total", "http_requests_total"])
      const http = parse(yield* Prometheus.textWith({ prefix: "http_" }))
      assert.deepStrictEqual(http.samples.map((s) => s.name), ["http_requests_total"])
      // No description: no HELP line, still a TYPE line.
      assert.isFalse(mine.help.has("claude_test_spawns_total"))
      assert.strictEqual(mine.type.get("claude_test_spawns_total"), "counter")
    })))

  it.effect("a series whose type differs from its family's is left out rather than breaking the exposition", () =>
    isolated(Effect.gen(function*() {
      yield* Metric.update(Metric.counter("claude_test_mixed", { description: "a" }), 1)
      yield* Metric.update(Metric.gauge("claude_test_mixed", { description: "b" }), 7)
      const parsed = parse(yield* Prometheus.text)
      // The first registered (the counter) decides the family's type.
      assert.strictEqual(parsed.type.get("claude_test_mixed"), "counter")
      assert.deepStrictEqual(samplesOf(parsed, "claude_test_mixed").map((s) => s.value), [1])
    })))

  it.effect("layerHttp serves the exposition with the 0.0.4 content type on an HttpRouter", () =>
    Effect.gen(function*() {
      // The web handler runs on the default (global) registry: a name no other test uses.
      const name = `claude_test_http_${process.pid}_total`
      yield* Metric.update(Metric.withAttributes(Metric.counter(name), { via: "http" }), 42)
      const { dispose, handler } = HttpRouter.toWebHandler(Prometheus.layerHttp({ path: "/scrape" }), {
        disableLogger: true
      })
      yield* Effect.addFinalizer(() => Effect.promise(() => dispose()))
      const response = yield* Effect.promise(() => handler(new Request("http://127.0.0.1/scrape")))
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("content-type"), Prometheus.contentType)
      const parsed = parse(yield* Effect.promise(() => response.text()))
      assert.strictEqual(valueOf(parsed, name, { via: "http" }), 42)
      assert.isTrue(parsed.samples.every((s) => s.name.startsWith("claude_")))
      const missing = yield* Effect.promise(() => handler(new Request("http://127.0.0.1/metrics")))
      assert.strictEqual(missing.status, 404)
    }))
})

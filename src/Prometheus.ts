/**
 * The library's metrics in the Prometheus text exposition format (0.0.4).
 *
 * {@link text} reads Effect's metric registry (the one `Metric.update`
 * writes to) and renders every series whose name starts with `claude_`:
 * counters, gauges, histograms (`_bucket{le=…}`, `_sum`, `_count`), summaries
 * and frequencies, their attributes as labels, one `# HELP` and `# TYPE` line
 * per family. Serve it from any HTTP server, or add {@link layerHttp} to an
 * Effect `HttpRouter`:
 *
 * ```ts
 * import { NodeHttpServer } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { HttpRouter } from "effect/http"
 * import { createServer } from "node:http"
 * import { Prometheus } from "effect-claude-code"
 *
 * const MetricsServer = HttpRouter.serve(Prometheus.layerHttp()).pipe(
 *   Layer.provide(NodeHttpServer.layer(createServer, { port: 9464, host: "127.0.0.1" }))
 * )
 * ```
 *
 * Unlike `PrometheusMetrics.format` from `effect/observability`, which
 * renders every metric of the registry, this keeps to the library's own
 * (`prefix`), orders families and series so that two scrapes of the same
 * state are byte for byte the same, and never emits an invalid exposition: an
 * attribute named like a reserved label (`le` of a histogram, `quantile` of a
 * summary, `key` of a frequency) is renamed `exported_<name>`, and a series
 * whose type differs from its family's first series is left out.
 *
 * @since 0.1.0
 */
import type { Layer } from "effect"
import { Effect, Metric } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Only metrics whose name starts with this are rendered; `""` renders the
   * whole registry. Default `"claude_"`.
   */
  readonly prefix?: string | undefined
}

/**
 * The `Content-Type` of the text exposition format.
 *
 * @since 0.1.0
 * @category constants
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/**
 * The prefix of every metric of the library.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPrefix = "claude_"

/**
 * Renders metric snapshots (from `Metric.snapshot`) in the text exposition
 * format. Pure: the same snapshots give the same text.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (snapshots: ReadonlyArray<Metric.Metric.Snapshot>, options?: Options): string => {
  const prefix = options?.prefix ?? defaultPrefix
  const families = new Map<string, Array<Metric.Metric.Snapshot>>()
  for (const snapshot of snapshots) {
    if (!snapshot.id.startsWith(prefix)) continue
    const name = metricName(snapshot.id)
    const family = families.get(name)
    if (family === undefined) families.set(name, [snapshot])
    else family.push(snapshot)
  }
  const lines: Array<string> = []
  for (const name of [...families.keys()].sort()) {
    const family = families.get(name) ?? []
    const first = family[0]
    if (first === undefined) continue
    const description = family.find((s) => s.description !== undefined && s.description !== "")?.description
    const unit = first.attributes?.["time_unit"] ?? first.attributes?.["unit"]
    const help = description === undefined
      ? unit
      : unit === undefined || description.includes(unit)
      ? description
      : `${description} (${unit})`
    if (help !== undefined) lines.push(`# HELP ${name} ${escapeHelp(help)}`)
    lines.push(`# TYPE ${name} ${typeOf(first.type)}`)
    const series = family
      .filter((s) => s.type === first.type)
      .map((s) => ({ snapshot: s, labels: labelsOf(s) }))
      .sort((a, b) => compare(renderLabels(a.labels), renderLabels(b.labels)))
    for (const { labels, snapshot } of series) sample(name, snapshot, labels, lines)
  }
  return lines.length === 0 ? "" : lines.join("\n") + "\n"
}

/**
 * The text exposition of the library's metrics (every `claude_*` series of
 * the current metric registry).
 *
 * @since 0.1.0
 * @category formatting
 */
export const text: Effect.Effect<string> = Effect.map(Metric.snapshot, (snapshots) => format(snapshots))

/**
 * {@link text} with options: another prefix, or `""` for the whole registry.
 *
 * @since 0.1.0
 * @category formatting
 */
export const textWith = (options: Options): Effect.Effect<string> =>
  Effect.map(Metric.snapshot, (snapshots) => format(snapshots, options))

/**
 * Adds `GET <path>` (default `/metrics`) serving {@link text} to the
 * `HttpRouter` of an Effect HTTP server.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttp = (
  options?: Options & { readonly path?: HttpRouter.PathInput | undefined }
): Layer.Layer<never, never, HttpRouter.HttpRouter> =>
  HttpRouter.add(
    "GET",
    options?.path ?? "/metrics",
    Effect.map(
      Metric.snapshot,
      (snapshots) => HttpServerResponse.text(format(snapshots, options), { contentType })
    )
  )

// -----------------------------------------------------------------------------
// internal
// -----------------------------------------------------------------------------

type Label = readonly [name: string, value: string]

const typeOf = (type: Metric.Metric.Type): string => {
  switch (type) {
    case "Counter":
    case "Frequency":
      return "counter"
    case "Gauge":
      return "gauge"
    case "Histogram":
      return "histogram"
    case "Summary":
      return "summary"
  }
}

/** `[a-zA-Z_:][a-zA-Z0-9_:]*` */
const metricName = (id: string): string => {
  const name = id.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[0-9]/.test(name) ? `_${name}` : name
}

/** `[a-zA-Z_][a-zA-Z0-9_]*`, and not reserved (`__*`). */
const labelName = (key: string): string => {
  const name = key.replace(/[^a-zA-Z0-9_]/g, "_")
  const valid = /^[0-9]/.test(name) ? `_${name}` : name
  return valid.startsWith("__") ? `exported_${valid}` : valid
}

/** The label a type adds to its samples, which an attribute may not take. */
const reservedLabel = (type: Metric.Metric.Type): string | undefined =>
  type === "Histogram" ? "le" : type === "Summary" ? "quantile" : type === "Frequency" ? "key" : undefined

const labelsOf = (snapshot: Metric.Metric.Snapshot): ReadonlyArray<Label> => {
  const reserved = reservedLabel(snapshot.type)
  const labels = new Map<string, string>()
  const entries = Object.entries(snapshot.attributes ?? {}).sort(([a], [b]) => compare(a, b))
  for (const [key, value] of entries) {
    // The unit of a timer (`time_unit`) goes into the HELP line, not into a label of every sample.
    if (key === "unit" || key === "time_unit") continue
    const sanitized = labelName(key)
    const name = sanitized === reserved ? `exported_${sanitized}` : sanitized
    // Two attributes that sanitize to one label name: the first (in key order) wins.
    if (!labels.has(name)) labels.set(name, value)
  }
  return [...labels]
}

const escapeLabelValue = (value: string): string =>
  value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

const escapeHelp = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const renderLabels = (labels: ReadonlyArray<Label>): string =>
  labels.length === 0 ? "" : `{${labels.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",")}}`

const value = (n: number | bigint): string =>
  typeof n === "bigint"
    ? n.toString()
    : Number.isNaN(n)
    ? "NaN"
    : n === Number.POSITIVE_INFINITY
    ? "+Inf"
    : n === Number.NEGATIVE_INFINITY
    ? "-Inf"
    : String(n)

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const sample = (
  name: string,
  snapshot: Metric.Metric.Snapshot,
  labels: ReadonlyArray<Label>,
  lines: Array<string>
): void => {
  switch (snapshot.type) {
    case "Counter":
      lines.push(`${name}${renderLabels(labels)} ${value(snapshot.state.count)}`)
      return
    case "Gauge":
      lines.push(`${name}${renderLabels(labels)} ${value(snapshot.state.value)}`)
      return
    case "Frequency":
      for (const [key, count] of [...snapshot.state.occurrences].sort(([a], [b]) => compare(a, b))) {
        lines.push(`${name}${renderLabels([...labels, ["key", key]])} ${value(count)}`)
      }
      return
    case "Histogram": {
      const { buckets, count, sum } = snapshot.state
      // Effect's buckets are cumulative already: [upper bound, observations <= bound].
      for (const [bound, cumulative] of buckets) {
        if (bound === Number.POSITIVE_INFINITY) continue
        lines.push(`${name}_bucket${renderLabels([...labels, ["le", value(bound)]])} ${value(cumulative)}`)
      }
      lines.push(`${name}_bucket${renderLabels([...labels, ["le", "+Inf"]])} ${value(count)}`)
      lines.push(`${name}_sum${renderLabels(labels)} ${value(sum)}`)
      lines.push(`${name}_count${renderLabels(labels)} ${value(count)}`)
      return
    }
    case "Summary": {
      const { count, quantiles, sum } = snapshot.state
      for (const [quantile, estimate] of quantiles) {
        lines.push(
          `${name}${renderLabels([...labels, ["quantile", value(quantile)]])} ${value(estimate ?? Number.NaN)}`
        )
      }
      lines.push(`${name}_sum${renderLabels(labels)} ${value(sum)}`)
      lines.push(`${name}_count${renderLabels(labels)} ${value(count)}`)
      return
    }
  }
}

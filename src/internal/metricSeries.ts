/**
 * Attributed series of a metric, made once per combination of values and kept, so that recording into a
 * known series re-merges no attributes (each `Metric.withAttributes` call makes a new metric whose series
 * key is computed again). For attributes with few values: a model, a reason tag, a state.
 */
import { Metric } from "effect"

export const seriesBy = <Input, State, const Names extends ReadonlyArray<string>>(
  metric: Metric.Metric<Input, State>,
  ...names: Names
): (...values: { readonly [K in keyof Names]: string }) => Metric.Metric<Input, State> => {
  const series = new Map<string, Metric.Metric<Input, State>>()
  return (...values) => {
    const key = values.length === 1 ? values[0] ?? "" : values.join("\u0000")
    let found = series.get(key)
    if (found === undefined) {
      const attributes: Record<string, string> = {}
      names.forEach((name, i) => {
        attributes[name] = values[i] ?? ""
      })
      found = Metric.withAttributes(metric, attributes)
      series.set(key, found)
    }
    return found
  }
}

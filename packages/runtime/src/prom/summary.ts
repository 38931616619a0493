// A Prometheus summary with prom-client's API. Quantiles are exact over a sliding window of recent
// observations (maxAgeSeconds, default 600 s, at most `maxSamples` kept per series) rather than
// prom-client's t-digest: no podkit service observes at a rate where that matters, and it keeps
// the code small. _sum and _count cover every observation since start.

import {
  type CollectFunction,
  type LabelValues,
  type MetricConfiguration,
  type MetricValue,
  type ObservedChild,
  ObservedMetric,
  type SeriesBase,
} from './metric.ts'
import { braces, formatValue } from './text-format.ts'

export interface SummaryConfiguration<T extends string> extends MetricConfiguration<T> {
  percentiles?: number[]
  maxAgeSeconds?: number
  /** Observations kept per series for the quantiles; older ones are dropped first. Default 10,000. */
  maxSamples?: number
  collect?: CollectFunction<Summary<T>>
}

interface SummarySeries extends SeriesBase {
  /** Observed values and when (ms), oldest first. */
  window: Array<{ v: number; at: number }>
  sum: number
  count: number
}

export class Summary<T extends string = string> extends ObservedMetric<T, SummarySeries> {
  readonly type = 'summary' as const
  readonly percentiles: readonly number[]
  private readonly maxAgeMs: number
  private readonly maxSamples: number

  constructor(config: SummaryConfiguration<T>) {
    super(config)
    for (const l of this.labelNames)
      if (l === 'quantile') throw new Error('quantile is a reserved label keyword')
    this.percentiles = [...(config.percentiles ?? [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999])]
    this.maxAgeMs = (config.maxAgeSeconds ?? 600) * 1000
    this.maxSamples = config.maxSamples ?? 10_000
    this.init(config.registers)
  }

  protected newSeries(base: SeriesBase): SummarySeries {
    return { ...base, window: [], sum: 0, count: 0 }
  }

  protected record(s: SummarySeries, value: number): void {
    s.window.push({ v: value, at: Date.now() })
    if (s.window.length > this.maxSamples) s.window.shift()
    s.sum += value
    s.count++
  }

  /** Quantile values of a series over the window (NaN when it holds no observation). */
  private quantiles(s: SummarySeries): number[] {
    const cutoff = Date.now() - this.maxAgeMs
    let drop = 0
    while (drop < s.window.length && s.window[drop]!.at < cutoff) drop++
    if (drop > 0) s.window.splice(0, drop)
    const sorted = s.window.map((o) => o.v).sort((x, y) => x - y)
    // Nearest rank: the smallest value with at least q of the observations at or below it.
    const rank = (q: number) => Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
    return this.percentiles.map((q) => (sorted.length === 0 ? Number.NaN : sorted[rank(q)]!))
  }

  render(): string {
    let out = this.header
    for (const s of this.series.values()) {
      const rest = s.pairs === '' ? '' : `,${s.pairs}`
      const qs = this.quantiles(s)
      this.percentiles.forEach((q, i) => {
        out += `\n${this.name}{quantile="${q}"${rest}} ${formatValue(qs[i]!)}`
      })
      out += `\n${this.name}_sum${braces(s.pairs)} ${formatValue(s.sum)}\n${this.name}_count${braces(s.pairs)} ${s.count}`
    }
    return out
  }

  values(): MetricValue<T>[] {
    const out: MetricValue<T>[] = []
    for (const s of this.series.values()) {
      const qs = this.quantiles(s)
      this.percentiles.forEach((quantile, i) => {
        out.push({ labels: { quantile, ...s.labels } as LabelValues<T>, value: qs[i]! })
      })
      out.push({ labels: { ...s.labels } as LabelValues<T>, value: s.sum, metricName: `${this.name}_sum` })
      out.push({
        labels: { ...s.labels } as LabelValues<T>,
        value: s.count,
        metricName: `${this.name}_count`,
      })
    }
    return out
  }
}

export declare namespace Summary {
  type Internal<T extends string> = ObservedChild<T>
}

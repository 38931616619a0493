// A Prometheus summary with prom-client's API. Quantiles are exact over a sliding window of recent
// observations (maxAgeSeconds, default 600 s, at most `maxSamples` kept per series) rather than
// prom-client's t-digest: no podkit service observes at a rate where that matters, and it keeps
// the code small. _sum and _count cover every observation since start.

import {
  type CollectFunction,
  type LabelValues,
  Metric,
  type MetricConfiguration,
  type MetricValue,
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

export class Summary<T extends string = string> extends Metric<T, SummarySeries> {
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

  reset(): void {
    this.series = new Map()
    if (this.labelNames.length === 0) this.entry({} as LabelValues<T>, '')
  }

  private entry(labels: LabelValues<T>, key: string): SummarySeries {
    let s = this.series.get(key)
    if (!s) {
      s = { ...this.seriesBase(labels), window: [], sum: 0, count: 0 }
      this.series.set(key, s)
    }
    return s
  }

  private record(s: SummarySeries, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`)
    s.window.push({ v: value, at: Date.now() })
    if (s.window.length > this.maxSamples) s.window.shift()
    s.sum += value
    s.count++
  }

  observe(value: number): void
  observe(labels: LabelValues<T>, value: number): void
  observe(a: LabelValues<T> | number, b?: number): void {
    const labels = a !== null && typeof a === 'object' ? a : ({} as LabelValues<T>)
    this.validate(labels)
    this.record(this.entry(labels, this.key(labels)), (a !== null && typeof a === 'object' ? b : a) as number)
  }

  startTimer(labels?: LabelValues<T>): (labels?: LabelValues<T>) => number {
    const start = process.hrtime.bigint()
    return (end) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9
      this.observe({ ...labels, ...end } as LabelValues<T>, seconds)
      return seconds
    }
  }

  labels(...values: string[]): Summary.Internal<T>
  labels(labels: LabelValues<T>): Summary.Internal<T>
  labels(...args: unknown[]): Summary.Internal<T> {
    const labels = this.labelArgs(args)
    const key = this.key(labels)
    return {
      observe: (value) => this.record(this.entry(labels, key), value),
      startTimer: () => this.startTimer(labels),
    }
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
  interface Internal<T extends string> {
    observe(value: number): void
    startTimer(): (labels?: LabelValues<T>) => number
  }
}

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
  /** A ring of observed values and when (ms): `size` of them from `head`, oldest first. */
  vals: Float64Array
  ats: Float64Array
  head: number
  size: number
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
    return {
      ...base,
      vals: new Float64Array(0),
      ats: new Float64Array(0),
      head: 0,
      size: 0,
      sum: 0,
      count: 0,
    }
  }

  protected record(s: SummarySeries, value: number): void {
    let cap = s.vals.length
    if (s.size === cap && cap < this.maxSamples) {
      // Grow by doubling up to maxSamples, unrolling the ring oldest first.
      const next = Math.min(this.maxSamples, Math.max(64, cap * 2))
      const vals = new Float64Array(next)
      const ats = new Float64Array(next)
      for (let i = 0; i < s.size; i++) {
        vals[i] = s.vals[(s.head + i) % cap]!
        ats[i] = s.ats[(s.head + i) % cap]!
      }
      s.vals = vals
      s.ats = ats
      s.head = 0
      cap = next
    }
    const at = (s.head + s.size) % cap
    s.vals[at] = value
    s.ats[at] = Date.now()
    // Full: the oldest observation makes room.
    if (s.size < cap) s.size++
    else s.head = (s.head + 1) % cap
    s.sum += value
    s.count++
  }

  /** Quantile values of a series over the window (NaN when it holds no observation). */
  private quantiles(s: SummarySeries): number[] {
    const cutoff = Date.now() - this.maxAgeMs
    const cap = s.vals.length
    while (s.size > 0 && s.ats[s.head]! < cutoff) {
      s.head = (s.head + 1) % cap
      s.size--
    }
    const sorted = new Float64Array(s.size)
    for (let i = 0; i < s.size; i++) sorted[i] = s.vals[(s.head + i) % cap]!
    sorted.sort()
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
      out.push(...this.sumAndCount(s))
    }
    return out
  }
}

export declare namespace Summary {
  type Internal<T extends string> = ObservedChild<T>
}

// A Prometheus histogram with prom-client's API (observe, labels().observe, startTimer, zero,
// reset, remove). Buckets count per bound and are summed at scrape time into the cumulative
// `le` series; the label text of every bucket line is built once per series.

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

export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export interface HistogramConfiguration<T extends string> extends MetricConfiguration<T> {
  buckets?: number[]
  collect?: CollectFunction<Histogram<T>>
}

interface HistogramSeries extends SeriesBase {
  /** Observations per bucket (not cumulative); values above the last bound only count in `count`. */
  counts: Float64Array
  sum: number
  count: number
  /** `name_bucket{le="..",pairs} ` per bound then +Inf, `name_sum{pairs} `, `name_count{pairs} `; built on first render. */
  lines?: string[]
}

export class Histogram<T extends string = string> extends ObservedMetric<T, HistogramSeries> {
  readonly type = 'histogram' as const
  readonly upperBounds: readonly number[]

  constructor(config: HistogramConfiguration<T>) {
    super(config)
    for (const l of this.labelNames) if (l === 'le') throw new Error('le is a reserved label keyword')
    this.upperBounds = Object.freeze([...(config.buckets ?? DEFAULT_BUCKETS)])
    this.init(config.registers)
  }

  protected newSeries(base: SeriesBase): HistogramSeries {
    return { ...base, counts: new Float64Array(this.upperBounds.length), sum: 0, count: 0 }
  }

  protected record(s: HistogramSeries, value: number): void {
    observeInto(this.upperBounds, s.counts, s, value)
  }

  /** A series with every bucket at 0, so it is exported before its first observation. */
  zero(labels: LabelValues<T>): void {
    this.validate(labels)
    const key = this.key(labels)
    this.series.delete(key)
    this.entry(labels, key)
  }

  private linesOf(s: HistogramSeries): string[] {
    if (s.lines) return s.lines
    // prom-client put `le` before the series' own labels; the bytes stay the same.
    const rest = s.pairs === '' ? '' : `,${s.pairs}`
    const lines = this.upperBounds.map((le) => `${this.name}_bucket{le="${le}"${rest}} `)
    lines.push(`${this.name}_bucket{le="+Inf"${rest}} `)
    lines.push(`${this.name}_sum${braces(s.pairs)} `, `${this.name}_count${braces(s.pairs)} `)
    s.lines = lines
    return lines
  }

  render(): string {
    let out = this.header
    const n = this.upperBounds.length
    for (const s of this.series.values()) {
      const lines = this.linesOf(s)
      let acc = 0
      for (let i = 0; i < n; i++) {
        acc += s.counts[i]!
        out += `\n${lines[i]}${acc}`
      }
      out += `\n${lines[n]}${s.count}\n${lines[n + 1]}${formatValue(s.sum)}\n${lines[n + 2]}${s.count}`
    }
    return out
  }

  values(): MetricValue<T>[] {
    const out: MetricValue<T>[] = []
    for (const s of this.series.values()) {
      let acc = 0
      this.upperBounds.forEach((le, i) => {
        acc += s.counts[i]!
        out.push({
          labels: { le, ...s.labels } as LabelValues<T>,
          value: acc,
          metricName: `${this.name}_bucket`,
        })
      })
      out.push({
        labels: { le: '+Inf', ...s.labels } as LabelValues<T>,
        value: s.count,
        metricName: `${this.name}_bucket`,
      })
      out.push(...this.sumAndCount(s))
    }
    return out
  }
}

export declare namespace Histogram {
  type Internal<T extends string> = ObservedChild<T>
}

/**
 * One observation: the first bucket whose upper bound holds `value` (none above the last bound:
 * +Inf is `count`), the sum and the count. Shared by Histogram and FastHistogram.
 */
export function observeInto(
  bounds: readonly number[],
  counts: Float64Array,
  totals: { sum: number; count: number },
  value: number,
): void {
  for (let i = 0; i < bounds.length; i++) {
    if (value <= bounds[i]!) {
      counts[i]!++
      break
    }
  }
  totals.sum += value
  totals.count++
}

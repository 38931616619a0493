// A Prometheus histogram for a service's hot path. Its series are found once (per pool, per
// cluster) and kept by the caller, so observe() is a bucket search and three additions:
// Histogram.observe(labels, v) looks its series up by the label values on every call. Registered
// as a custom metric (name, help, type, get()), which the registry serialises from get()'s values.

import { observeInto } from './prom/histogram.ts'
import type { MetricObjectWithValues, MetricValue } from './prom/metric.ts'

/** One labelled series: plain numbers the hot path adds to. */
export interface FastHistogramSeries {
  readonly labels: Record<string, string>
  /** Observations per bound (not cumulative); above the last bound they only count in `count`. */
  readonly buckets: Float64Array
  sum: number
  count: number
}

/** A series as plain data (what dump() gives, structured-cloneable): another thread's counts. */
export interface HistogramSeriesDump {
  labels: Record<string, string>
  buckets: number[]
  sum: number
  count: number
}

/** Where series counted elsewhere come from (a service's other threads), read at each scrape. */
export type HistogramSource = () => Promise<Iterable<HistogramSeriesDump>>

export class FastHistogram {
  readonly type = 'histogram' as const
  readonly aggregator = 'sum' as const
  private readonly bounds: number[]
  private readonly series: FastHistogramSeries[] = []

  /**
   * `others`, when given, is asked at every scrape and its series are added to this one's by
   * label set (so a process's threads export one histogram); without it get() is synchronous.
   */
  constructor(
    readonly name: string,
    readonly help: string,
    bounds: readonly number[],
    private readonly others?: HistogramSource,
  ) {
    this.bounds = [...bounds]
  }

  /** The series for these labels, created on first use; keep it and pass it to observe(). */
  seriesFor(labels: Record<string, string>): FastHistogramSeries {
    for (const s of this.series) if (sameLabels(s.labels, labels)) return s
    const s = { labels, buckets: new Float64Array(this.bounds.length), sum: 0, count: 0 }
    this.series.push(s)
    return s
  }

  observe(s: FastHistogramSeries, v: number): void {
    observeInto(this.bounds, s.buckets, s, v)
  }

  /** This histogram's own series as plain data, for another thread's `others`. */
  dump(): HistogramSeriesDump[] {
    return this.series.map((s) => ({ labels: s.labels, buckets: [...s.buckets], sum: s.sum, count: s.count }))
  }

  get(): MetricObjectWithValues | Promise<MetricObjectWithValues> {
    if (!this.others) return this.family(this.series)
    return this.others().then((others) => this.family(this.merged(others)))
  }

  /** Zeroes this histogram's own series (not the others': they are read anew at each scrape). */
  reset(): void {
    for (const s of this.series) {
      s.buckets.fill(0)
      s.sum = 0
      s.count = 0
    }
  }

  /** Own series first, then the others', each label set once with its counts added up. */
  private merged(others: Iterable<HistogramSeriesDump>): FastHistogramSeries[] {
    const merged = new Map<string, FastHistogramSeries>()
    const add = (e: {
      labels: Record<string, string>
      buckets: ArrayLike<number>
      sum: number
      count: number
    }) => {
      const key = JSON.stringify(e.labels)
      let m = merged.get(key)
      if (!m) {
        m = { labels: e.labels, buckets: new Float64Array(this.bounds.length), sum: 0, count: 0 }
        merged.set(key, m)
      }
      for (let i = 0; i < m.buckets.length; i++) m.buckets[i]! += e.buckets[i] ?? 0
      m.sum += e.sum
      m.count += e.count
    }
    for (const s of this.series) add(s)
    for (const o of others) add(o)
    return [...merged.values()]
  }

  private family(series: readonly FastHistogramSeries[]): MetricObjectWithValues {
    const values: MetricValue[] = []
    const bucket = `${this.name}_bucket`
    for (const s of series) {
      let acc = 0
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.buckets[i]!
        values.push({ labels: { ...s.labels, le: this.bounds[i]! }, value: acc, metricName: bucket })
      }
      values.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: bucket })
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` })
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a)
  if (ka.length !== Object.keys(b).length) return false
  for (const k of ka) if (a[k] !== b[k]) return false
  return true
}

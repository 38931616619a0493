// A Prometheus counter with prom-client's API: inc() with or without labels, labels() children,
// reset(), remove(), a collect() callback run before each scrape.

import {
  type CollectFunction,
  type LabelValues,
  Metric,
  type MetricConfiguration,
  type MetricValue,
  type SeriesBase,
} from './metric.ts'
import { formatValue } from './text-format.ts'

export interface ValueSeries extends SeriesBase {
  value: number
  /** `name{pairs} `: the sample line up to its value. */
  prefix: string
}

export interface CounterConfiguration<T extends string> extends MetricConfiguration<T> {
  collect?: CollectFunction<Counter<T>>
}

/** A counter or gauge: one number per label set. */
export abstract class ValueMetric<T extends string> extends Metric<T, ValueSeries> {
  protected newSeries(base: SeriesBase): ValueSeries {
    return { ...base, value: 0, prefix: `${this.sampleName(base)} ` }
  }

  render(): string {
    let out = this.header
    for (const s of this.series.values()) out += `\n${s.prefix}${formatValue(s.value)}`
    return out
  }

  values(): MetricValue<T>[] {
    return [...this.series.values()].map((s) => ({ value: s.value, labels: s.labels as LabelValues<T> }))
  }
}

function checkInc(value: number): void {
  if (value && !Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`)
  if (value < 0) throw new Error('It is not possible to decrease a counter')
}

export class Counter<T extends string = string> extends ValueMetric<T> {
  readonly type = 'counter' as const

  constructor(config: CounterConfiguration<T>) {
    super(config)
    this.init(config.registers)
  }

  inc(labels: LabelValues<T>, value?: number): void
  inc(value?: number): void
  inc(a?: LabelValues<T> | number, b?: number): void {
    let labels: LabelValues<T>
    let value: number | undefined
    if (a !== null && typeof a === 'object') {
      this.validate(a)
      labels = a
      value = b
    } else {
      labels = {}
      value = a
    }
    value ??= 1
    checkInc(value)
    this.entry(labels, this.key(labels)).value += value
  }

  labels(...values: string[]): Counter.Internal
  labels(labels: LabelValues<T>): Counter.Internal
  labels(...args: unknown[]): Counter.Internal {
    const labels = this.labelArgs(args)
    const key = this.key(labels)
    // The child finds its series by key on every call, so it keeps counting after reset() or remove().
    return {
      inc: (value = 1) => {
        checkInc(value)
        this.entry(labels, key).value += value
      },
    }
  }
}

export declare namespace Counter {
  interface Internal {
    inc(value?: number): void
  }
}

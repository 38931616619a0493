// A Prometheus gauge with prom-client's API: set/inc/dec with or without labels, labels() children,
// setToCurrentTime(), startTimer(), reset(), remove(), a collect() callback run before each scrape.

import { ValueMetric } from './counter.ts'
import type { CollectFunction, LabelValues, MetricConfiguration } from './metric.ts'

export interface GaugeConfiguration<T extends string> extends MetricConfiguration<T> {
  collect?: CollectFunction<Gauge<T>>
}

function split<T extends string>(a: LabelValues<T> | number | undefined, b: number | undefined) {
  return a !== null && typeof a === 'object'
    ? { labels: a, value: b }
    : { labels: {} as LabelValues<T>, value: a }
}

export class Gauge<T extends string = string> extends ValueMetric<T> {
  readonly type = 'gauge' as const

  constructor(config: GaugeConfiguration<T>) {
    super(config)
    this.init(config.registers)
  }

  set(labels: LabelValues<T>, value: number): void
  set(value: number): void
  set(a: LabelValues<T> | number, b?: number): void {
    const { labels, value } = split(a, b)
    if (typeof value !== 'number') throw new TypeError(`Value is not a valid number: ${value}`)
    this.validate(labels)
    this.entry(labels, this.key(labels)).value = value
  }

  inc(labels: LabelValues<T>, value?: number): void
  inc(value?: number): void
  inc(a?: LabelValues<T> | number, b?: number): void {
    const { labels, value } = split(a, b)
    this.add(labels, value ?? 1)
  }

  dec(labels: LabelValues<T>, value?: number): void
  dec(value?: number): void
  dec(a?: LabelValues<T> | number, b?: number): void {
    const { labels, value } = split(a, b)
    this.add(labels, -(value ?? 1))
  }

  private add(labels: LabelValues<T>, delta: number): void {
    if (typeof delta !== 'number') throw new TypeError(`Delta is not a valid number: ${delta}`)
    this.validate(labels)
    this.entry(labels, this.key(labels)).value += delta
  }

  setToCurrentTime(labels?: LabelValues<T>): void {
    this.set(labels ?? {}, Date.now() / 1000)
  }

  startTimer(labels?: LabelValues<T>): (labels?: LabelValues<T>) => number {
    const start = process.hrtime.bigint()
    return (end) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9
      this.set({ ...labels, ...end }, seconds)
      return seconds
    }
  }

  labels(...values: string[]): Gauge.Internal<T>
  labels(labels: LabelValues<T>): Gauge.Internal<T>
  labels(...args: unknown[]): Gauge.Internal<T> {
    const labels = this.labelArgs(args)
    return {
      inc: (v = 1) => this.inc(labels, v),
      dec: (v = 1) => this.dec(labels, v),
      set: (v) => this.set(labels, v),
      setToCurrentTime: () => this.setToCurrentTime(labels),
      startTimer: () => this.startTimer(labels),
    }
  }
}

export declare namespace Gauge {
  interface Internal<T extends string> {
    inc(value?: number): void
    dec(value?: number): void
    set(value: number): void
    setToCurrentTime(): void
    startTimer(): (labels?: LabelValues<T>) => number
  }
}

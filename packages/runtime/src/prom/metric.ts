// The part every metric type shares: configuration checks, registration, label validation, and a
// map of series keyed by their label values. A series keeps its label text, escaped once when it
// is created, so rendering a scrape is string concatenation of numbers into prepared text.

import type { Registry } from './registry.ts'
import { braces, escapeHelp, labelPairs, validLabelName, validMetricName } from './text-format.ts'

export type LabelValues<T extends string> = Partial<Record<T, string | number>>
export type CollectFunction<T> = (this: T) => void | Promise<void>
export type Aggregator = 'omit' | 'sum' | 'first' | 'min' | 'max' | 'average'
export type MetricKind = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface MetricConfiguration<T extends string> {
  name: string
  help: string
  labelNames?: T[] | readonly T[]
  /** Registries to register on; none when omitted (there is no global registry). */
  registers?: Registry[]
  aggregator?: Aggregator
  // biome-ignore lint/suspicious/noExplicitAny: narrowed by each metric type's configuration
  collect?: CollectFunction<any>
}

/** One value of a metric as get() returns it, the shape prom-client's get() had. */
export interface MetricValue<T extends string = string> {
  value: number
  labels: LabelValues<T>
  metricName?: string
}

export interface MetricObjectWithValues<V extends MetricValue = MetricValue> {
  name: string
  help: string
  type: MetricKind
  aggregator: Aggregator
  values: V[]
}

/** What a registry can serialise: podkit's metrics, or a custom object with name, help, type and get(). */
export interface Collectable {
  name: string
  help: string
  type: MetricKind | string
  get(): MetricObjectWithValues | Promise<MetricObjectWithValues>
  reset?(): void
}

export interface SeriesBase {
  labels: Record<string, string | number>
  /** `a="1",b="2"`: escaped once, at creation. */
  pairs: string
}

export abstract class Metric<T extends string, S extends SeriesBase> implements Collectable {
  readonly name: string
  readonly help: string
  abstract readonly type: MetricKind
  readonly labelNames: readonly T[]
  readonly aggregator: Aggregator
  readonly collect: CollectFunction<unknown> | undefined
  /** `# HELP ...\n# TYPE ...`, built once. */
  protected header = ''
  protected series = new Map<string, S>()

  constructor(config: MetricConfiguration<T>) {
    if (config === null || typeof config !== 'object')
      throw new TypeError('constructor expected a config object')
    if (!config.help) throw new Error('Missing mandatory help parameter')
    if (!config.name) throw new Error('Missing mandatory name parameter')
    if (!validMetricName(config.name)) throw new Error('Invalid metric name')
    const labelNames = config.labelNames ?? []
    if (!labelNames.every(validLabelName)) throw new Error('Invalid label name')
    if (config.collect !== undefined && typeof config.collect !== 'function') {
      throw new Error('Optional "collect" parameter must be a function')
    }
    this.name = config.name
    this.help = config.help
    this.labelNames = [...labelNames]
    this.aggregator = config.aggregator ?? 'sum'
    this.collect = config.collect
  }

  /** Subclasses call this at the end of their constructor, once `type` is set. */
  protected init(registers: Registry[] | undefined): void {
    this.header = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}`
    this.reset()
    for (const r of registers ?? []) r.registerMetric(this)
  }

  /** Runs the collect callback; a promise only when the callback returned one. */
  runCollect(): Promise<void> | undefined {
    if (!this.collect) return undefined
    const v = this.collect.call(this)
    return v instanceof Promise ? v : undefined
  }

  /** The family's text (HELP, TYPE, samples; no final line feed), after collect has run. */
  abstract render(): string

  abstract values(): MetricValue<T>[]

  async get(): Promise<MetricObjectWithValues<MetricValue<T>>> {
    await this.runCollect()
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values: this.values(),
      aggregator: this.aggregator,
    }
  }

  /** A new series of this type around its label text. */
  protected abstract newSeries(base: SeriesBase): S

  reset(): void {
    this.series = new Map()
    // A metric without labels has its one series from the start, as prom-client's did.
    if (this.labelNames.length === 0) this.entry({} as LabelValues<T>, '')
  }

  /** The series of these labels (key from key()), created on first use. */
  protected entry(labels: LabelValues<T>, key: string): S {
    let s = this.series.get(key)
    if (!s) {
      s = this.newSeries(this.seriesBase(labels))
      this.series.set(key, s)
    }
    return s
  }

  remove(...args: [LabelValues<T>] | string[]): void {
    const labels = this.labelArgs(args)
    this.series.delete(this.key(labels))
  }

  /** Labels from `labels({a: 1})` or positional `labels('1')`, validated against labelNames. */
  protected labelArgs(args: unknown[]): LabelValues<T> {
    const first = args[0]
    let labels: Record<string, string | number>
    if (first !== null && typeof first === 'object') labels = first as Record<string, string | number>
    else {
      if (args.length !== this.labelNames.length) {
        throw new Error(
          `Invalid number of arguments (${args.length}): "${args.join(', ')}" for label names (${this.labelNames.length}): "${this.labelNames.join(', ')}".`,
        )
      }
      labels = {}
      this.labelNames.forEach((n, i) => {
        labels[n] = args[i] as string
      })
    }
    this.validate(labels)
    return labels as LabelValues<T>
  }

  protected validate(labels: object): void {
    for (const k in labels) {
      if (!(this.labelNames as readonly string[]).includes(k)) {
        throw new Error(
          `Added label "${k}" is not included in initial labelset: [ ${this.labelNames.map((n) => `'${n}'`).join(', ')} ]`,
        )
      }
    }
  }

  /** The series key: label values in labelNames order (a missing label differs from an empty one). */
  protected key(labels: LabelValues<T>): string {
    const names = this.labelNames
    if (names.length === 0) return ''
    let key = ''
    for (let i = 0; i < names.length; i++) {
      const v = labels[names[i]!]
      key += v === undefined ? '\u0001' : `${v}\u0000`
    }
    return key
  }

  protected seriesBase(labels: LabelValues<T>): SeriesBase {
    const own = labels as Record<string, string | number>
    return { labels: own, pairs: labelPairs(own) }
  }

  /** `name{pairs}` of a series. */
  protected sampleName(s: SeriesBase, suffix = ''): string {
    return `${this.name}${suffix}${braces(s.pairs)}`
  }
}

/** What labels() of a histogram or summary returns. */
export interface ObservedChild<T extends string> {
  observe(value: number): void
  startTimer(): (labels?: LabelValues<T>) => number
}

/** A histogram or summary: observe(), startTimer() and labels() over the type's record(). */
export abstract class ObservedMetric<T extends string, S extends SeriesBase> extends Metric<T, S> {
  /** Adds one finite observation to a series. */
  protected abstract record(s: S, value: number): void

  observe(value: number): void
  observe(labels: LabelValues<T>, value: number): void
  observe(a: LabelValues<T> | number, b?: number): void {
    const labels = a !== null && typeof a === 'object' ? a : ({} as LabelValues<T>)
    const value = a !== null && typeof a === 'object' ? b : a
    this.validate(labels)
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`)
    this.record(this.entry(labels, this.key(labels)), value as number)
  }

  startTimer(labels?: LabelValues<T>): (labels?: LabelValues<T>) => number {
    const start = process.hrtime.bigint()
    return (end) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9
      this.observe({ ...labels, ...end } as LabelValues<T>, seconds)
      return seconds
    }
  }

  /** The `_sum` and `_count` values of one series, which histograms and summaries both end with. */
  protected sumAndCount(s: S & { sum: number; count: number }): MetricValue<T>[] {
    return [
      { labels: { ...s.labels } as LabelValues<T>, value: s.sum, metricName: `${this.name}_sum` },
      { labels: { ...s.labels } as LabelValues<T>, value: s.count, metricName: `${this.name}_count` },
    ]
  }

  labels(...values: string[]): ObservedChild<T>
  labels(labels: LabelValues<T>): ObservedChild<T>
  labels(...args: unknown[]): ObservedChild<T> {
    const labels = this.labelArgs(args)
    const key = this.key(labels)
    // Looked up by key on every call, so the child keeps working after reset() or remove().
    return {
      observe: (value) => {
        if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`)
        this.record(this.entry(labels, key), value)
      },
      startTimer: () => this.startTimer(labels),
    }
  }
}

// A registry of metrics with prom-client's API (registerMetric, metrics(), getSingleMetric,
// getMetricsAsJSON, ...). podkit's own metric types render their text synchronously after their
// collect callbacks; any other object with name, help, type and get() is serialised from get()'s
// values the way prom-client did, so custom metrics written for prom-client keep working.

import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, toOpenMetrics } from '../exposition.ts'
import { type Collectable, Metric, type MetricObjectWithValues, type MetricValue } from './metric.ts'
import { braces, escapeHelp, formatValue, labelPairs } from './text-format.ts'

export type RegistryContentType = typeof PROMETHEUS_CONTENT_TYPE | typeof OPENMETRICS_CONTENT_TYPE

// biome-ignore lint/suspicious/noExplicitAny: any podkit metric, whatever its label names
type AnyMetric = Metric<any, any>

export class Registry {
  static readonly PROMETHEUS_CONTENT_TYPE = PROMETHEUS_CONTENT_TYPE
  static readonly OPENMETRICS_CONTENT_TYPE = OPENMETRICS_CONTENT_TYPE

  private byName = new Map<string, Collectable>()
  private defaultLabels: Record<string, string | number> = {}
  private type: RegistryContentType

  constructor(contentType: RegistryContentType = PROMETHEUS_CONTENT_TYPE) {
    if (contentType !== PROMETHEUS_CONTENT_TYPE && contentType !== OPENMETRICS_CONTENT_TYPE) {
      throw new TypeError(`Content type ${contentType} is unsupported`)
    }
    this.type = contentType
  }

  get contentType(): RegistryContentType {
    return this.type
  }

  setContentType(contentType: RegistryContentType): void {
    if (contentType !== PROMETHEUS_CONTENT_TYPE && contentType !== OPENMETRICS_CONTENT_TYPE) {
      throw new Error(`Content type ${contentType} is unsupported`)
    }
    this.type = contentType
  }

  registerMetric(metric: Collectable): void {
    const had = this.byName.get(metric.name)
    if (had && had !== metric)
      throw new Error(`A metric with the name ${metric.name} has already been registered.`)
    this.byName.set(metric.name, metric)
  }

  getMetricsAsArray(): Collectable[] {
    return [...this.byName.values()]
  }

  getSingleMetric(name: string): Collectable | undefined {
    return this.byName.get(name)
  }

  removeSingleMetric(name: string): void {
    this.byName.delete(name)
  }

  clear(): void {
    this.byName = new Map()
    this.defaultLabels = {}
  }

  resetMetrics(): void {
    for (const m of this.byName.values()) m.reset?.()
  }

  /** Labels added to every sample that does not carry them itself. */
  setDefaultLabels(labels: Record<string, string | number>): void {
    this.defaultLabels = { ...labels }
  }

  /** Every metric's family in registration order, text format 0.0.4 (OpenMetrics on such a registry). */
  async metrics(): Promise<string> {
    const list = [...this.byName.values()]
    const texts = await this.familyTexts(list)
    const text = `${texts.join('\n\n')}\n`
    return this.type === OPENMETRICS_CONTENT_TYPE ? toOpenMetrics(text) : text
  }

  /** One family's text, without the final line feed. */
  async getSingleMetricAsString(name: string): Promise<string> {
    const m = this.byName.get(name)
    if (!m) throw new Error(`No metric named ${name} is registered.`)
    return (await this.familyTexts([m]))[0]!
  }

  async getMetricsAsJSON(): Promise<MetricObjectWithValues[]> {
    const out = await Promise.all([...this.byName.values()].map((m) => m.get()))
    const defaults = Object.keys(this.defaultLabels)
    if (defaults.length > 0) {
      for (const item of out) {
        for (const v of item.values) v.labels = { ...this.defaultLabels, ...v.labels }
      }
    }
    return out
  }

  /** A registry holding every metric of the given ones (the same metric objects). */
  static merge(registries: Registry[]): Registry {
    const merged = new Registry(registries[0]?.contentType)
    for (const r of registries) {
      if (r.contentType !== merged.contentType) {
        throw new Error('Registers can only be merged if they have the same content type')
      }
      for (const m of r.getMetricsAsArray()) merged.registerMetric(m)
    }
    return merged
  }

  private async familyTexts(list: Collectable[]): Promise<string[]> {
    // Collect callbacks first (all of them, concurrently when they are asynchronous), then render.
    const plain = Object.keys(this.defaultLabels).length === 0
    const pending: Array<Promise<unknown>> = []
    const foreign = new Map<Collectable, MetricObjectWithValues | Promise<MetricObjectWithValues>>()
    for (const m of list) {
      if (plain && m instanceof Metric) {
        const p = (m as AnyMetric).runCollect()
        if (p) pending.push(p)
      } else {
        const got = m.get()
        foreign.set(m, got)
        if (got instanceof Promise) pending.push(got)
      }
    }
    if (pending.length > 0) await Promise.all(pending)
    const out: string[] = []
    for (const m of list) {
      const got = foreign.get(m)
      out.push(got === undefined ? (m as AnyMetric).render() : this.formatValues(await got))
    }
    return out
  }

  /** A family from get()'s values, as prom-client wrote it. */
  private formatValues(metric: MetricObjectWithValues): string {
    let out = `# HELP ${metric.name} ${escapeHelp(metric.help)}\n# TYPE ${metric.name} ${metric.type}`
    const defaults = Object.keys(this.defaultLabels).length > 0 ? this.defaultLabels : undefined
    for (const v of (metric.values ?? []) as Array<MetricValue & { sharedLabels?: Record<string, string> }>) {
      let labels = { ...v.labels, ...v.sharedLabels } as Record<string, string | number>
      if (defaults) labels = { ...labels, ...defaults, ...labels }
      out += `\n${v.metricName ?? metric.name}${braces(labelPairs(labels))} ${formatValue(v.value)}`
    }
    return out
  }
}

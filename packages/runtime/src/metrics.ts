// The runtime's own Prometheus metrics and the registry every service adds its metrics to. The
// metric classes are podkit's (./prom/), with the subset of prom-client's API the services use:
// prom-client loaded cluster, v8, perf_hooks, zlib and tls at import (+6 MiB RSS on Node 20,
// +14 MiB on Node 24) for features no podkit service uses, and rendered /metrics slowly.

import { Gauge } from './prom/gauge.ts'
import { registerProcessMetrics } from './prom/process-metrics.ts'
import { Registry } from './prom/registry.ts'

export { Counter, type CounterConfiguration } from './prom/counter.ts'
export { Gauge, type GaugeConfiguration } from './prom/gauge.ts'
export { DEFAULT_BUCKETS, Histogram, type HistogramConfiguration } from './prom/histogram.ts'
export type {
  Aggregator,
  Collectable,
  CollectFunction,
  LabelValues,
  MetricConfiguration,
  MetricKind,
  MetricObjectWithValues,
  MetricValue,
} from './prom/metric.ts'
export { Registry, type RegistryContentType } from './prom/registry.ts'
export { Summary, type SummaryConfiguration } from './prom/summary.ts'

export interface ServiceRegistryOptions {
  service: string
  version?: string
  /** Collect Node's process metrics (CPU, RSS, heap, event loop lag, fds). Default true. */
  processMetrics?: boolean
}

/** A registry with process metrics and `podkit_build_info`, `podkit_ready`. */
export function createServiceRegistry(opts: ServiceRegistryOptions): {
  registry: Registry
  readyGauge: Gauge
} {
  const registry = new Registry()
  if (opts.processMetrics !== false) registerProcessMetrics(registry)
  const build = new Gauge({
    name: 'podkit_build_info',
    help: 'A metric with a constant 1 value labelled by service, version and Node.js version.',
    labelNames: ['service', 'version', 'nodejs'],
    registers: [registry],
  })
  build.set({ service: opts.service, version: opts.version ?? 'dev', nodejs: process.versions.node }, 1)
  const readyGauge = new Gauge({
    name: 'podkit_ready',
    help: 'Whether the service is ready for traffic (1) or starting or draining (0).',
    registers: [registry],
  })
  return { registry, readyGauge }
}

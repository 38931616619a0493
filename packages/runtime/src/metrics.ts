// The runtime's own Prometheus metrics and the registry every service adds its metrics to.

import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'

export { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client'

export interface ServiceRegistryOptions {
  service: string
  version?: string
  /** Collect Node's process metrics (CPU, RSS, event loop lag, GC). Default true. */
  processMetrics?: boolean
}

/** A registry with process metrics and `podkit_build_info`, `podkit_ready`. */
export function createServiceRegistry(opts: ServiceRegistryOptions): {
  registry: Registry
  readyGauge: Gauge
} {
  const registry = new Registry()
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry })
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

// Every Prometheus metric of the http-ambassador, registered on the registry runService hands
// over. Hot-path counters are bound once per label set (bound()) so a request does no label hashing.

import { Counter, Gauge, type Registry } from '@podkit/runtime'

export interface ClusterGauges {
  name: string
  active(): number
  hosts(): { healthy: number; ejected: number }
  connections(): number
}

export function createMetrics(registry: Registry, clusters: () => ClusterGauges[]) {
  const registers = [registry]
  // The two per-request metrics count into plain fields and are handed to prom-client at scrape
  // time: a labelled inc() hashes and validates its labels on every call.
  const counts = new Map<string, { labels: Record<string, string>; n: number }>()
  new Counter({
    name: 'podkit_http_ambassador_requests_total',
    help: 'Requests answered, by listener, cluster and status class (2xx..5xx; none when the app hung up first); local replies included.',
    labelNames: ['listener', 'cluster', 'code_class'],
    registers,
    collect() {
      this.reset()
      for (const c of counts.values()) this.inc(c.labels, c.n)
    },
  })
  const duration = new FastHistogram(
    'podkit_http_ambassador_request_duration_seconds',
    'Time from the request arriving to the last response byte, by cluster.',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  )
  registry.registerMetric(duration as never)
  const upstreamErrors = new Counter({
    name: 'podkit_http_ambassador_upstream_errors_total',
    help: 'Failed upstream tries by kind: connect, tls, timeout, reset, protocol.',
    labelNames: ['cluster', 'kind'],
    registers,
  })
  const retries = new Counter({
    name: 'podkit_http_ambassador_retries_total',
    help: 'Upstream tries repeated by the retry policy.',
    labelNames: ['cluster'],
    registers,
  })
  const overflow = new Counter({
    name: 'podkit_http_ambassador_overflow_total',
    help: 'Requests refused with 503 by a circuit breaker (max_requests, max_pending_requests, max_retries).',
    labelNames: ['cluster', 'breaker'],
    registers,
  })
  const rateLimited = new Counter({
    name: 'podkit_http_ambassador_rate_limited_total',
    help: "Requests refused with 429 by a route's local rate limit.",
    labelNames: ['listener'],
    registers,
  })
  const ejections = new Counter({
    name: 'podkit_http_ambassador_outlier_ejections_total',
    help: 'Hosts ejected by outlier detection (consecutive 5xx or connect failures).',
    labelNames: ['cluster'],
    registers,
  })
  const downstreamErrors = new Counter({
    name: 'podkit_http_ambassador_downstream_errors_total',
    help: 'Malformed requests from the app answered 400 or 431 (the connection is closed, others keep going).',
    labelNames: ['listener', 'kind'],
    registers,
  })
  const dns = new Counter({
    name: 'podkit_http_ambassador_dns_resolutions_total',
    help: 'DNS resolutions of cluster endpoints, by result (ok, error).',
    labelNames: ['cluster', 'result'],
    registers,
  })
  new Gauge({
    name: 'podkit_http_ambassador_active_requests',
    help: 'Requests in flight per cluster.',
    labelNames: ['cluster'],
    registers,
    collect() {
      this.reset()
      for (const c of clusters()) this.set({ cluster: c.name }, c.active())
    },
  })
  new Gauge({
    name: 'podkit_http_ambassador_hosts',
    help: 'Upstream hosts per cluster, by state (healthy, ejected).',
    labelNames: ['cluster', 'state'],
    registers,
    collect() {
      this.reset()
      for (const c of clusters()) {
        const h = c.hosts()
        this.set({ cluster: c.name, state: 'healthy' }, h.healthy)
        this.set({ cluster: c.name, state: 'ejected' }, h.ejected)
      }
    },
  })
  new Gauge({
    name: 'podkit_http_ambassador_upstream_connections',
    help: 'Open upstream connections per cluster.',
    labelNames: ['cluster'],
    registers,
    collect() {
      this.reset()
      for (const c of clusters()) this.set({ cluster: c.name }, c.connections())
    },
  })

  const durEntries = new Map<string, HistogramEntry>()
  return {
    /** Counts one answered request; the entry per (listener, cluster, class) is created once. */
    request(listener: string, cluster: string, status: number, seconds: number) {
      const cls =
        status >= 500
          ? '5xx'
          : status >= 400
            ? '4xx'
            : status >= 300
              ? '3xx'
              : status >= 200
                ? '2xx'
                : status >= 100
                  ? '1xx'
                  : 'none'
      const key = `${listener}\0${cluster}\0${cls}`
      let c = counts.get(key)
      if (!c) {
        c = { labels: { listener, cluster, code_class: cls }, n: 0 }
        counts.set(key, c)
      }
      c.n++
      let d = durEntries.get(cluster)
      if (!d) {
        d = duration.entry({ cluster })
        durEntries.set(cluster, d)
      }
      duration.observe(d, seconds)
    },
    upstreamError: (cluster: string, kind: string) => upstreamErrors.inc({ cluster, kind }),
    retry: (cluster: string) => retries.inc({ cluster }),
    overflow: (cluster: string, breaker: string) => overflow.inc({ cluster, breaker }),
    rateLimited: (listener: string) => rateLimited.inc({ listener }),
    ejection: (cluster: string) => ejections.inc({ cluster }),
    downstreamError: (listener: string, kind: string) => downstreamErrors.inc({ listener, kind }),
    dns: (cluster: string, result: 'ok' | 'error') => dns.inc({ cluster, result }),
  }
}

export type Metrics = ReturnType<typeof createMetrics>

interface HistogramEntry {
  labels: Record<string, string>
  buckets: Float64Array
  sum: number
  count: number
}

/**
 * A Prometheus histogram whose observe() is a bucket search and three additions; registered as
 * a custom metric (name, help, get()) that prom-client's registry serialises like its own.
 */
class FastHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  private readonly entries: HistogramEntry[] = []

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: number[],
  ) {}

  entry(labels: Record<string, string>): HistogramEntry {
    const e = { labels, buckets: new Float64Array(this.bounds.length), sum: 0, count: 0 }
    this.entries.push(e)
    return e
  }

  observe(e: HistogramEntry, v: number): void {
    const b = this.bounds
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        e.buckets[i]!++
        break
      }
    }
    e.sum += v
    e.count++
  }

  get() {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = []
    for (const e of this.entries) {
      let acc = 0
      this.bounds.forEach((le, i) => {
        acc += e.buckets[i]!
        values.push({ labels: { ...e.labels, le }, value: acc, metricName: `${this.name}_bucket` })
      })
      values.push({ labels: { ...e.labels, le: '+Inf' }, value: e.count, metricName: `${this.name}_bucket` })
      values.push({ labels: e.labels, value: e.sum, metricName: `${this.name}_sum` })
      values.push({ labels: e.labels, value: e.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  reset(): void {
    for (const e of this.entries) {
      e.buckets.fill(0)
      e.sum = 0
      e.count = 0
    }
  }
}

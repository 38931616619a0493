// Every Prometheus metric of the http-ambassador, registered on the registry runService hands
// over. Hot-path counters are bound once per label set (bound()) so a request does no label hashing.

import {
  Counter,
  FastHistogram,
  type FastHistogramSeries,
  Gauge,
  type HistogramSeriesDump,
  type Registry,
} from '@podkit/runtime'

export interface ClusterGauges {
  name: string
  active(): number
  hosts(): HostStats[]
  connections(): number
}

/** One upstream host as one thread sees it: for /clusters and the hosts gauge. */
export interface HostStats {
  label: string
  address: string
  port: number
  active: number
  total: number
  errors: number
  connected: number
  ejected: boolean
}

/**
 * Everything one thread counted, cumulative since it started: what a worker thread hands the
 * main thread at scrape time (structured-cloned), so /stats and /clusters cover every thread.
 */
export interface MetricsSnapshot {
  counters: Record<string, Array<[Record<string, string>, number]>>
  durations: HistogramSeriesDump[]
  clusters: Array<{ name: string; active: number; connections: number; hosts: HostStats[] }>
}

/** Where the other threads' numbers come from (the main thread's view of its worker threads). */
export type RemoteStats = () => Promise<MetricsSnapshot[]>

/** Counts per label set in plain fields; prom-client only sees them at scrape time. */
class LabelCounts {
  readonly entries = new Map<string, { labels: Record<string, string>; n: number }>()

  inc(labels: Record<string, string>, n = 1): void {
    let key = ''
    for (const k in labels) key += `${labels[k]}\0`
    const e = this.entries.get(key)
    if (e) e.n += n
    else this.entries.set(key, { labels, n })
  }

  dump(): Array<[Record<string, string>, number]> {
    return [...this.entries.values()].map((e) => [e.labels, e.n])
  }
}

/** Merges every thread's host stats by cluster and host: counts add up, a host ejected anywhere is ejected. */
export function mergeClusters(all: MetricsSnapshot['clusters'][]): MetricsSnapshot['clusters'] {
  const out = new Map<string, MetricsSnapshot['clusters'][number]>()
  for (const list of all) {
    for (const c of list) {
      let m = out.get(c.name)
      if (!m) {
        m = { name: c.name, active: 0, connections: 0, hosts: [] }
        out.set(c.name, m)
      }
      // The cluster's count is the process's already (shared.ts): every thread reports the same.
      m.active = Math.max(m.active, c.active)
      m.connections += c.connections
      for (const h of c.hosts) {
        const mh = m.hosts.find((x) => x.label === h.label)
        if (!mh) m.hosts.push({ ...h })
        else {
          mh.active += h.active
          mh.total += h.total
          mh.errors += h.errors
          mh.connected += h.connected
          mh.ejected ||= h.ejected
        }
      }
    }
  }
  return [...out.values()]
}

export function createMetrics(registry: Registry, clusters: () => ClusterGauges[], remote?: RemoteStats) {
  const registers = [registry]
  // Every metric counts into plain fields and is handed to prom-client at scrape time: a labelled
  // inc() hashes and validates its labels on every call, and the counts of worker threads (see
  // threads.ts) are added to this thread's there.
  const counters = new Map<string, LabelCounts>()
  const counter = (name: string, help: string, labelNames: string[]) => {
    const counts = new LabelCounts()
    counters.set(name, counts)
    new Counter({
      name,
      help,
      labelNames,
      registers,
      async collect() {
        const others = remote ? await remote() : []
        this.reset()
        for (const e of counts.entries.values()) this.inc(e.labels, e.n)
        for (const o of others) for (const [labels, n] of o.counters[name] ?? []) this.inc(labels, n)
      },
    })
    return counts
  }
  const requests = counter(
    'podkit_http_ambassador_requests_total',
    'Requests answered, by listener, cluster and status class (2xx..5xx; none when the app hung up first); local replies included.',
    ['listener', 'cluster', 'code_class'],
  )
  const duration = new FastHistogram(
    'podkit_http_ambassador_request_duration_seconds',
    'Time from the request arriving to the last response byte, by cluster.',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    // Other threads' series are added to this thread's by label set (the cluster).
    remote && (async () => (await remote()).flatMap((s) => s.durations)),
  )
  registry.registerMetric(duration)
  const upstreamErrors = counter(
    'podkit_http_ambassador_upstream_errors_total',
    'Failed upstream tries by kind: connect, tls, timeout, reset, protocol.',
    ['cluster', 'kind'],
  )
  const retries = counter(
    'podkit_http_ambassador_retries_total',
    'Upstream tries repeated by the retry policy.',
    ['cluster'],
  )
  const overflow = counter(
    'podkit_http_ambassador_overflow_total',
    'Requests refused with 503 by a circuit breaker (max_requests, max_pending_requests, max_retries).',
    ['cluster', 'breaker'],
  )
  const rateLimited = counter(
    'podkit_http_ambassador_rate_limited_total',
    "Requests refused with 429 by a route's local rate limit.",
    ['listener'],
  )
  const ejections = counter(
    'podkit_http_ambassador_outlier_ejections_total',
    'Hosts ejected by outlier detection (consecutive 5xx or connect failures).',
    ['cluster'],
  )
  const downstreamErrors = counter(
    'podkit_http_ambassador_downstream_errors_total',
    'Malformed requests from the app answered 400 or 431 (the connection is closed, others keep going).',
    ['listener', 'kind'],
  )
  const dns = counter(
    'podkit_http_ambassador_dns_resolutions_total',
    'DNS resolutions of cluster endpoints, by result (ok, error).',
    ['cluster', 'result'],
  )

  const localClusters = (): MetricsSnapshot['clusters'] =>
    clusters().map((c) => ({
      name: c.name,
      active: c.active(),
      connections: c.connections(),
      hosts: c.hosts(),
    }))
  /** Every thread's clusters, merged. */
  const allClusters = async () =>
    mergeClusters([localClusters(), ...(remote ? await remote() : []).map((s) => s.clusters)])

  new Gauge({
    name: 'podkit_http_ambassador_active_requests',
    help: 'Requests in flight per cluster.',
    labelNames: ['cluster'],
    registers,
    async collect() {
      const all = await allClusters()
      this.reset()
      for (const c of all) this.set({ cluster: c.name }, c.active)
    },
  })
  new Gauge({
    name: 'podkit_http_ambassador_hosts',
    help: 'Upstream hosts per cluster, by state (healthy, ejected).',
    labelNames: ['cluster', 'state'],
    registers,
    async collect() {
      const all = await allClusters()
      this.reset()
      for (const c of all) {
        const ejected = c.hosts.filter((h) => h.ejected).length
        this.set({ cluster: c.name, state: 'healthy' }, c.hosts.length - ejected)
        this.set({ cluster: c.name, state: 'ejected' }, ejected)
      }
    },
  })
  new Gauge({
    name: 'podkit_http_ambassador_upstream_connections',
    help: 'Open upstream connections per cluster.',
    labelNames: ['cluster'],
    registers,
    async collect() {
      const all = await allClusters()
      this.reset()
      for (const c of all) this.set({ cluster: c.name }, c.connections)
    },
  })

  const durEntries = new Map<string, FastHistogramSeries>()
  const reqEntries = new Map<string, { labels: Record<string, string>; n: number }>()
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
      let c = reqEntries.get(key)
      if (!c) {
        c = { labels: { listener, cluster, code_class: cls }, n: 0 }
        reqEntries.set(key, c)
        requests.entries.set(key, c)
      }
      c.n++
      let d = durEntries.get(cluster)
      if (!d) {
        d = duration.seriesFor({ cluster })
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
    /** This thread's counts, for the main thread to add to its own. */
    snapshot(): MetricsSnapshot {
      const out: MetricsSnapshot['counters'] = {}
      for (const [name, c] of counters) out[name] = c.dump()
      return { counters: out, durations: duration.dump(), clusters: localClusters() }
    },
    /** /clusters: every thread's view of the hosts, merged. */
    clusters: allClusters,
  }
}

export type Metrics = ReturnType<typeof createMetrics>

// A cluster: its hosts (from STRICT_DNS, LOGICAL_DNS or STATIC endpoints), one connection pool per
// host with keep-alive and TLS (ours for HTTP/1.1, h1-client.ts; undici's when the cluster offers
// h2), load balancing, circuit-breaker counters and outlier detection.

import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { isIP } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from '@podkit/runtime'
import type { ClusterSpec } from './config.ts'
import { type DispatchHandler, type DispatchOptions, H1Pool } from './h1-client.ts'
import type { Metrics } from './metrics.ts'
import { SharedState } from './shared.ts'
import { type TlsConnectOptions, tlsConnectOptions } from './tls.ts'
import { loadUndici, type Pool, type PoolClass } from './undici-pool.ts'

/** What a Host's pool does for the proxy: ours (HTTP/1.1) and undici's Pool (HTTP/2) both. */
export interface Dispatcher {
  dispatch(opts: DispatchOptions, handler: DispatchHandler): unknown
  close(): Promise<void>
  destroy(): Promise<void>
  readonly stats: { connected: number }
}

/** undici's dispatch handler for an Upgrade request: the methods its HTTP/1.1 client calls. */
export interface UpgradeHandler {
  onConnect(abort: (err?: Error) => void): void
  onHeaders(status: number, raw: Buffer[], resume: () => void, statusText: string): boolean
  onData(chunk: Buffer): boolean
  onComplete(trailers: unknown): void
  onUpgrade(status: number, raw: Buffer[], socket: Duplex): void
  onError(err: Error): void
}

/** Resolves a name to addresses; tests and the `resolve` option replace DNS with it. */
export type Resolver = (host: string) => Promise<string[]>

export class Host {
  /** Requests in flight on this host (for LEAST_REQUEST and /clusters). */
  active = 0
  total = 0
  errors = 0
  consecutive5xx = 0
  ejections = 0
  ejectedUntil = 0
  /** Requests go here: our HTTP/1.1 pool, or undici's when the cluster offers h2 by ALPN. */
  readonly pool: Dispatcher
  /** undici's HTTP/1.1 Pool for Upgrade requests (WebSocket), made at the first one. */
  private upgrades: Pool | undefined

  constructor(
    readonly address: string,
    readonly port: number,
    private readonly cluster: ClusterSpec,
    private readonly tls: TlsConnectOptions | undefined,
    private readonly lookup: ((hostname: string, opts: unknown, cb: LookupCallback) => void) | undefined,
    /** undici's Pool class: loaded by the cluster (start()) when it offers h2, else undefined. */
    undici: PoolClass | undefined,
  ) {
    const v6 = isIP(address) === 6
    this.label = v6 ? `[${address}]:${port}` : `${address}:${port}`
    this.pool =
      cluster.http2 && undici
        ? (this.undiciPool(undici, true) as unknown as Dispatcher)
        : new H1Pool({
            address,
            port,
            tls,
            connectTimeout: cluster.connectTimeout,
            maxConnections: cluster.circuitBreakers.maxConnections,
            keepAliveTimeout: cluster.keepAliveTimeout,
            maxHeaderSize: 64 * 1024,
            lookup,
          })
  }

  private undiciPool(PoolClass: PoolClass, allowH2: boolean): Pool {
    const v6 = isIP(this.address) === 6
    const origin = `${this.tls ? 'https' : 'http'}://${v6 ? `[${this.address}]` : this.address}:${this.port}`
    const cluster = this.cluster
    const lookup = this.lookup
    return new PoolClass(origin, {
      connections: cluster.circuitBreakers.maxConnections,
      pipelining: 1,
      allowH2,
      keepAliveTimeout: cluster.keepAliveTimeout,
      keepAliveMaxTimeout: cluster.keepAliveTimeout,
      // The route and per-try timeouts are ours; undici's would cut long streams (SSE, downloads).
      headersTimeout: 0,
      bodyTimeout: 0,
      maxHeaderSize: 64 * 1024,
      connect: {
        timeout: cluster.connectTimeout,
        ...(this.tls ?? {}),
        // Upgrades are HTTP/1.1 only (no extended CONNECT over h2).
        ...(allowH2 ? {} : { ALPNProtocols: ['http/1.1'] }),
        ...(lookup ? { lookup } : {}),
      },
    })
  }

  /**
   * An Upgrade request (WebSocket) over undici's HTTP/1.1 client, made at the first one. The
   * handler gets onUpgrade for a 101, or onHeaders/onData/onComplete for an upstream that
   * answered without switching (its 401 or 404 goes to the app as it is).
   */
  async dispatchUpgrade(
    opts: { path: string; method: string; headers: string[]; upgrade: string },
    handler: UpgradeHandler,
  ): Promise<void> {
    const { Pool: PoolClass } = await loadUndici()
    this.upgrades ??= this.undiciPool(PoolClass, false)
    this.upgrades.dispatch(opts as never, handler as never)
  }

  async close(force: boolean): Promise<void> {
    await Promise.all(
      [this.pool, this.upgrades].map((p) =>
        p ? (force ? p.destroy() : p.close()).catch(() => {}) : undefined,
      ),
    )
  }

  /** host:port for logs and /clusters (computed once: the access log names it per request). */
  readonly label: string

  ejected(now: number): boolean {
    return this.ejectedUntil > now
  }
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void

export const systemResolver: Resolver = (host) =>
  new Promise((resolve, reject) => {
    dnsLookup(host, { all: true }, (err, addrs) => {
      if (err) reject(err)
      else resolve(addrs.map((a) => a.address))
    })
  })

export class Cluster {
  hosts: Host[] = []
  private rr = 0
  private timer: NodeJS.Timeout | undefined
  private readonly tls: TlsConnectOptions | undefined
  private closed = false
  /** undici's Pool class, loaded at start() when the cluster offers h2 (HTTP/2 upstreams). */
  private undici: PoolClass | undefined
  /** The Host header of the upstream: its TLS name or first endpoint, with a non-default port. */
  readonly authority: string

  constructor(
    readonly spec: ClusterSpec,
    private readonly resolver: Resolver,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    /** The breakers' counts, shared with the other threads (shared.ts); this cluster's index and this thread's. */
    private readonly shared: SharedState = SharedState.create(1, 1, 0),
    private readonly index = 0,
    thread = 0,
  ) {
    this.own = shared.counts(index, thread)
    this.tls = spec.tls && tlsConnectOptions(spec.name, spec.tls)
    const ep = spec.endpoints[0]!
    const name = spec.tls?.sni || ep.host
    const host = isIP(name) === 6 ? `[${name}]` : name
    this.authority = ep.port === (spec.tls ? 443 : 80) ? host : `${host}:${ep.port}`
    if (spec.tls?.insecure) {
      logger.warn(
        { cluster: spec.name },
        'TLS certificate verification is OFF for this cluster (tls.insecure).',
      )
    }
  }

  private readonly own: number

  get name(): string {
    return this.spec.name
  }

  /** Requests in flight in every thread, pending ones included: the max_requests breaker counts these. */
  get active(): number {
    return this.shared.total(this.index, 0)
  }

  /** Retries in flight in every thread: the max_retries breaker. */
  get activeRetries(): number {
    return this.shared.total(this.index, 1)
  }

  /** One more (1) or one fewer (-1) request in flight in this thread. */
  addActive(n: 1 | -1): void {
    Atomics.add(this.shared.i32, this.own, n)
  }

  addRetries(n: 1 | -1): void {
    Atomics.add(this.shared.i32, this.own + 1, n)
  }

  /** First resolution; the refresh loop of STRICT_DNS runs after it. */
  async start(): Promise<void> {
    if (this.spec.http2) this.undici = (await loadUndici()).Pool
    if (this.spec.type === 'LOGICAL_DNS') {
      // One host addressed by name: each new connection resolves it again (Envoy's LOGICAL_DNS).
      const ep = this.spec.endpoints[0]!
      const resolver = this.resolver
      const lookup = (hostname: string, opts: unknown, cb: LookupCallback) => {
        resolver(hostname).then(
          (addrs) => {
            if (addrs.length === 0)
              cb(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '')
            // net.connect asks for all addresses when it may try both families (autoSelectFamily).
            else if ((opts as { all?: boolean })?.all)
              cb(
                null,
                addrs.map((address) => ({ address, family: isIP(address) })),
              )
            else cb(null, addrs[0]!, isIP(addrs[0]!))
          },
          (err) => cb(err, ''),
        )
      }
      this.hosts = [new Host(ep.host, ep.port, this.spec, this.tls, lookup, this.undici)]
      return
    }
    await this.refresh()
    if (this.spec.type === 'STRICT_DNS' && this.spec.endpoints.some((e) => !isIP(e.host))) {
      const loop = () => {
        this.timer = setTimeout(
          () => void this.refresh().finally(() => !this.closed && loop()),
          this.spec.dnsRefreshRate,
        )
        this.timer.unref()
      }
      loop()
    }
  }

  /** Re-resolves every endpoint; keeps hosts whose address stays, closes the ones that went away. */
  async refresh(): Promise<void> {
    const wanted: Array<{ address: string; port: number }> = []
    let failed = false
    await Promise.all(
      this.spec.endpoints.map(async (ep) => {
        if (isIP(ep.host)) {
          wanted.push({ address: ep.host, port: ep.port })
          return
        }
        try {
          const addrs = await this.resolver(ep.host)
          for (const a of addrs) wanted.push({ address: a, port: ep.port })
          this.metrics.dns(this.name, 'ok')
        } catch (err) {
          failed = true
          this.metrics.dns(this.name, 'error')
          this.logger.warn(
            { cluster: this.name, host: ep.host, err: (err as Error).message },
            'DNS resolution of an endpoint failed; keeping the hosts known so far.',
          )
        }
      }),
    )
    if (this.closed) return
    if (failed && wanted.length === 0) return
    const key = (a: string, p: number) => `${a}|${p}`
    const old = new Map(this.hosts.map((h) => [key(h.address, h.port), h]))
    const next: Host[] = []
    const seen = new Set<string>()
    for (const w of wanted) {
      const k = key(w.address, w.port)
      if (seen.has(k)) continue
      seen.add(k)
      next.push(old.get(k) ?? new Host(w.address, w.port, this.spec, this.tls, undefined, this.undici))
    }
    const removed = this.hosts.filter((h) => !seen.has(key(h.address, h.port)))
    const added = next.filter((h) => !old.has(key(h.address, h.port)))
    this.hosts = next
    if (added.length > 0 || removed.length > 0) {
      this.logger.info(
        {
          cluster: this.name,
          hosts: next.map((h) => h.label),
          added: added.map((h) => h.label),
          removed: removed.map((h) => h.label),
        },
        'Cluster hosts changed.',
      )
    }
    for (const h of removed) void h.close(false)
  }

  /** Picks a host by the cluster's policy, skipping ejected hosts unless all are (Envoy's panic mode). */
  pick(exclude?: Host): Host | undefined {
    const all = this.hosts
    const n = all.length
    if (n === 0) return undefined
    if (n === 1) return all[0]
    const now = Date.now()
    let healthy: Host[] = all
    for (const h of all) {
      if (h.ejectedUntil > now || h === exclude) {
        healthy = all.filter((x) => x.ejectedUntil <= now && x !== exclude)
        if (healthy.length === 0) healthy = all
        break
      }
    }
    const m = healthy.length
    switch (this.spec.lbPolicy) {
      case 'RANDOM':
        return healthy[Math.floor(Math.random() * m)]
      case 'LEAST_REQUEST': {
        // Power of two choices (Envoy's default), two distinct hosts: the one with fewer in flight.
        const i = Math.floor(Math.random() * m)
        const j = (i + 1 + Math.floor(Math.random() * (m - 1))) % m
        const a = healthy[i]!
        const b = healthy[j]!
        return b.active < a.active ? b : a
      }
      default:
        this.rr = (this.rr + 1) % 1_000_000_000
        return healthy[this.rr % m]
    }
  }

  /** The breaker that is open for one more request, if any. */
  overflow(): string | undefined {
    const cb = this.spec.circuitBreakers
    if (this.active >= cb.maxRequests) return 'max_requests'
    if (!this.spec.http2) {
      // With one request per connection, what exceeds the connections waits: that is "pending".
      const capacity = cb.maxConnections * Math.max(1, this.hosts.length)
      if (this.active - capacity >= cb.maxPendingRequests) return 'max_pending_requests'
    }
    return undefined
  }

  /** Outlier detection: a 5xx or a failed try counts against the host, a success resets it. */
  outcome(host: Host, failed: boolean): void {
    if (!failed) {
      host.consecutive5xx = 0
      return
    }
    host.errors++
    const od = this.spec.outlier
    if (!od) return
    host.consecutive5xx++
    if (host.consecutive5xx < od.consecutive5xx) return
    const now = Date.now()
    if (host.ejected(now)) return
    const ejectedNow = this.hosts.filter((h) => h.ejected(now)).length
    const allowed = Math.max(1, Math.floor((this.hosts.length * od.maxEjectionPercent) / 100))
    if (ejectedNow >= allowed) return
    host.ejections++
    host.consecutive5xx = 0
    const time = Math.min(od.baseEjectionTime * host.ejections, od.maxEjectionTime)
    host.ejectedUntil = now + time
    this.metrics.ejection(this.name)
    this.logger.warn(
      { cluster: this.name, host: host.label, ejectedMs: time, ejections: host.ejections },
      'Outlier detection ejected a host after consecutive failures.',
    )
  }

  connections(): number {
    let n = 0
    for (const h of this.hosts) n += h.pool.stats.connected
    return n
  }

  async close(force: boolean): Promise<void> {
    this.closed = true
    clearTimeout(this.timer)
    await Promise.all(this.hosts.map((h) => h.close(force)))
  }
}

// @podkit/http-ambassador: a TLS egress HTTP ambassador. createHttpAmbassador(spec) builds the
// listeners, routes and clusters of a normalised config; main.ts runs it under @podkit/runtime.

import {
  createLogger,
  createServiceRegistry,
  type Logger,
  type Registry,
  type StopContext,
} from '@podkit/runtime'
import { AccessLog } from './access-log.ts'
import { Cluster, type Resolver, systemResolver } from './cluster.ts'
import type { AmbassadorSpec } from './config.ts'
import { HeaderRules } from './headers.ts'
import { Listener } from './listener.ts'
import { createMetrics, type Metrics, type RemoteStats } from './metrics.ts'
import type { CompiledRoute } from './proxy.ts'
import { TokenBucket } from './rate-limit.ts'
import { SharedState } from './shared.ts'

export type { Resolver } from './cluster.ts'
export {
  type AmbassadorSpec,
  type ClusterSpec,
  type Config,
  type ListenerSpec,
  normalize,
  type RouteSpec,
  schema,
} from './config.ts'
export { envoyToConfig, prepareArgs } from './envoy.ts'
export * from './errors.ts'

export interface HttpAmbassadorOptions {
  logger?: Logger
  registry?: Registry
  /**
   * Resolves endpoint names; defaults to the `resolve` map of the config, then DNS. Tests point
   * names at 127.0.0.x with it.
   */
  resolver?: Resolver
  /**
   * Listen with SO_REUSEPORT, so that several threads (or processes) of the same user can each
   * listen on the same ports and the kernel spreads new connections over them (threads.ts).
   */
  reusePort?: boolean
  /** The other threads' counts, added to this one's in /stats and /clusters (threads.ts). */
  remote?: RemoteStats
  /** Log each listener's address at info (the main thread); worker threads log it at debug. */
  announce?: boolean
  /**
   * The breakers' counts and rate-limit buckets shared with other threads (threads.ts), this
   * thread's index in it, and whether this thread fills the buckets (the one that made it).
   */
  shared?: { state: SharedState; thread: number; init: boolean }
}

/** How many token buckets a spec needs: one per route with a rate limit, in listener and route order. */
export function bucketCount(spec: AmbassadorSpec): number {
  let n = 0
  for (const l of spec.listeners) for (const r of l.routes) if (r.rateLimit) n++
  return n
}

export interface HttpAmbassador {
  start(): Promise<void>
  /** Drains every listener (Connection: close, stop accepting after drainTime) and waits for in-flight work. */
  stop(ctx?: Partial<StopContext>): Promise<void>
  /** Envoy's POST /drain_listeners: graceful keeps accepting for drainTime, else listeners stop now. */
  drainListeners(graceful: boolean): void
  /** Envoy's /healthcheck/fail and /healthcheck/ok: /ready answers 503 while failed. */
  setHealthcheckFailed(failed: boolean): void
  state(): 'PRE_INITIALIZING' | 'LIVE' | 'DRAINING'
  /** queuedBytes: response bytes waiting in this thread's app connections' buffers (unread by the app). */
  listeners(): Array<{ name: string; address: string; port: number; queuedBytes: number }>
  clusters(): Cluster[]
  metrics: Metrics
}

export function createHttpAmbassador(spec: AmbassadorSpec, opts: HttpAmbassadorOptions = {}): HttpAmbassador {
  const logger = opts.logger ?? createLogger({ name: 'http-ambassador', level: 'silent' })
  const registry =
    opts.registry ?? createServiceRegistry({ service: 'http-ambassador', processMetrics: false }).registry
  const resolve = spec.resolve
  const dns = opts.resolver ?? systemResolver
  const resolver: Resolver = (host) => (resolve[host] ? Promise.resolve(resolve[host]!) : dns(host))

  const clusters = new Map<string, Cluster>()
  const access = new AccessLog(logger)
  const metrics = createMetrics(
    registry,
    () =>
      [...clusters.values()].map((c) => ({
        name: c.name,
        active: () => c.active,
        connections: () => c.connections(),
        hosts: () => {
          const now = Date.now()
          return c.hosts.map((h) => ({
            label: h.label,
            address: h.address,
            port: h.port,
            active: h.active,
            total: h.total,
            errors: h.errors,
            connected: h.pool.stats.connected,
            ejected: h.ejected(now),
          }))
        },
      })),
    opts.remote,
  )
  const shared = opts.shared ?? {
    state: SharedState.create(1, spec.clusters.length, bucketCount(spec)),
    thread: 0,
    init: true,
  }
  spec.clusters.forEach((c, i) => {
    clusters.set(c.name, new Cluster(c, resolver, logger, metrics, shared.state, i, shared.thread))
  })
  let bucket = 0
  const listeners = spec.listeners.map((l) => {
    const routes: CompiledRoute[] = l.routes.map((r) => ({
      spec: r,
      cluster: clusters.get(r.cluster)!,
      rules: new HeaderRules(r),
      bucket:
        r.rateLimit &&
        new TokenBucket(
          r.rateLimit.maxTokens,
          r.rateLimit.tokensPerFill,
          r.rateLimit.fillInterval,
          Date.now(),
          shared.state,
          bucket++,
          shared.thread,
          shared.init,
        ),
    }))
    return new Listener(
      l,
      routes,
      logger,
      metrics,
      spec.accessLog && access.enabled,
      access,
      opts.reusePort ?? false,
    )
  })

  let state: 'PRE_INITIALIZING' | 'LIVE' | 'DRAINING' = 'PRE_INITIALIZING'
  let hcFailed = false

  return {
    metrics,
    async start() {
      // Like Envoy's cluster warming: the first DNS answers are in before traffic is taken, but a
      // resolver that hangs does not hold the listeners back for longer than the connect timeout.
      await Promise.all(
        [...clusters.values()].map((c) => {
          let timer: NodeJS.Timeout | undefined
          const cap = new Promise<void>((r) => {
            timer = setTimeout(r, c.spec.connectTimeout)
          })
          return Promise.race([c.start(), cap]).finally(() => clearTimeout(timer))
        }),
      )
      for (const c of clusters.values()) {
        if (c.hosts.length === 0)
          logger.warn(
            { cluster: c.name },
            'The cluster has no hosts yet; its requests get 503 until DNS answers.',
          )
      }
      for (const l of listeners) {
        const a = await l.listen()
        logger[opts.announce === false ? 'debug' : 'info'](
          { listener: l.name, address: a.address, port: a.port },
          'Listener accepting connections.',
        )
      }
      state = 'LIVE'
    },
    async stop(ctx = {}) {
      state = 'DRAINING'
      const deadline = ctx.deadline ?? Date.now() + 30_000
      // Listeners accept for the drain time (or until the deadline), then close.
      const drainTime = Math.max(0, Math.min(spec.drainTime, deadline - Date.now() - 1000))
      for (const l of listeners) l.drain(true, drainTime)
      // Cut at the runtime's signal, or at the deadline when called as a library without one.
      const cut = new Promise<void>((resolve) => {
        if (ctx.signal?.aborted) resolve()
        ctx.signal?.addEventListener('abort', () => resolve(), { once: true })
        if (!ctx.signal) setTimeout(resolve, Math.max(0, deadline - Date.now())).unref()
      })
      const accepting = new Promise<void>((resolve) => {
        const t = setTimeout(resolve, drainTime)
        t.unref()
      })
      await Promise.race([accepting, cut])
      for (const l of listeners) l.stopAccepting()
      const idle = Promise.all(listeners.map((l) => l.idle()))
      const forced = await Promise.race([idle.then(() => false), cut.then(() => true)])
      if (forced) {
        logger.warn(
          { inflight: listeners.reduce((n, l) => n + l.inflight, 0) },
          'Cutting requests still in flight.',
        )
        for (const l of listeners) l.destroyAll()
      }
      await Promise.all([...clusters.values()].map((c) => c.close(forced)))
      access.flush()
    },
    drainListeners(graceful) {
      state = 'DRAINING'
      for (const l of listeners) l.drain(graceful, spec.drainTime)
      logger.info({ graceful, drainTimeMs: graceful ? spec.drainTime : 0 }, 'Draining listeners.')
    },
    setHealthcheckFailed(failed) {
      hcFailed = failed
      logger.info({ failed }, failed ? 'Health checks set to fail.' : 'Health checks set to pass.')
    },
    state: () => (state === 'LIVE' && hcFailed ? 'DRAINING' : state),
    listeners: () =>
      listeners.map((l) => ({
        name: l.name,
        address: l.spec.address,
        port: l.port,
        queuedBytes: l.server.queuedBytes(),
      })),
    clusters: () => [...clusters.values()],
  }
}

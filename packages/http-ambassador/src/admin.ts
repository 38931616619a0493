// Envoy's admin paths on the runtime's admin server, so probes, preStop hooks and scrapers
// written for Envoy keep working: /ready, /stats/prometheus, /drain_listeners,
// /healthcheck/fail|ok, /clusters. Mutating endpoints are POST-only, as in Envoy.

import type { AdminApp, AdminReply, Registry, ServiceControl } from '@podkit/runtime'
import type { HttpAmbassador } from './index.ts'

export function registerEnvoyAdmin(
  app: AdminApp,
  opts: { registry: Registry; control: ServiceControl; ambassador: () => HttpAmbassador | undefined },
): void {
  const text = (reply: AdminReply, code: number, body: string) => {
    reply.code(code).type('text/plain; charset=utf-8')
    return body
  }

  app.get('/ready', async (_req, reply) => {
    const amb = opts.ambassador()
    const s = opts.control.state()
    const state =
      s === 'draining' || s === 'stopped'
        ? 'DRAINING'
        : s === 'starting' || !amb
          ? 'PRE_INITIALIZING'
          : amb.state()
    return text(reply, state === 'LIVE' ? 200 : 503, `${state}\n`)
  })

  app.get('/stats/prometheus', async (_req, reply) => {
    reply.type('text/plain; version=0.0.4; charset=utf-8')
    return opts.registry.metrics()
  })

  const mutating = (path: string, run: (query: Record<string, string>) => string) => {
    app.post(path, async (req, reply) => {
      const amb = opts.ambassador()
      if (!amb) return text(reply, 503, 'not started\n')
      return text(reply, 200, run(req.query as Record<string, string>))
    })
    app.get(path, async (_req, reply) => text(reply, 405, 'This endpoint requires POST.\n'))
  }
  mutating('/drain_listeners', (q) => {
    opts.ambassador()!.drainListeners('graceful' in q)
    return 'OK\n'
  })
  mutating('/healthcheck/fail', () => {
    opts.ambassador()!.setHealthcheckFailed(true)
    return 'OK\n'
  })
  mutating('/healthcheck/ok', () => {
    opts.ambassador()!.setHealthcheckFailed(false)
    return 'OK\n'
  })

  app.get('/clusters', async (req, reply) => {
    const amb = opts.ambassador()
    const specs = new Map((amb?.clusters() ?? []).map((c) => [c.name, c.spec]))
    // Every thread's view merged: counts add up, a host ejected by any thread is flagged.
    const clusters = amb ? await amb.metrics.clusters() : []
    if ((req.query as Record<string, string>).format === 'json') {
      reply.type('application/json')
      return {
        cluster_statuses: clusters.map((c) => ({
          name: c.name,
          host_statuses: c.hosts.map((h) => ({
            address: { socket_address: { address: h.address, port_value: h.port } },
            stats: { rq_active: h.active, rq_total: h.total, rq_error: h.errors },
            health_status: { eds_health_status: 'HEALTHY', failed_outlier_check: h.ejected },
          })),
        })),
      }
    }
    // Envoy's text format: cluster::host::stat::value, one per line.
    const lines: string[] = []
    for (const c of clusters) {
      const cb = specs.get(c.name)?.circuitBreakers
      if (cb)
        lines.push(
          `${c.name}::default_priority::max_connections::${cb.maxConnections}`,
          `${c.name}::default_priority::max_pending_requests::${cb.maxPendingRequests}`,
          `${c.name}::default_priority::max_requests::${cb.maxRequests}`,
          `${c.name}::default_priority::max_retries::${cb.maxRetries}`,
        )
      for (const h of c.hosts) {
        const p = `${c.name}::${h.label}`
        lines.push(
          `${p}::cx_active::${h.connected}`,
          `${p}::rq_active::${h.active}`,
          `${p}::rq_total::${h.total}`,
          `${p}::rq_error::${h.errors}`,
          `${p}::health_flags::${h.ejected ? '/failed_outlier_check' : 'healthy'}`,
        )
      }
    }
    return text(reply, 200, `${lines.join('\n')}\n`)
  })
}

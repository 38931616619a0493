// The admin HTTP server every service runs: /healthz (alive), /ready (ready for traffic),
// /metrics (Prometheus text, or OpenMetrics when asked). Services add their own routes.

import Fastify, { type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import {
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  toOpenMetrics,
  wantsOpenMetrics,
} from './exposition.ts'

export interface AdminServerOptions {
  host: string
  port: number
  registry: Registry
  /** True when the service takes traffic; /ready answers 503 otherwise. */
  isReady: () => boolean
  /** Why the service is not ready, for the /ready body. */
  readyDetail?: () => string
  metricsPath?: string
  /** Register extra routes before the built-in ones; a built-in route is skipped if a path is taken. */
  routes?: (app: FastifyInstance) => void | Promise<void>
}

export interface AdminServer {
  app: FastifyInstance
  /** The bound address, e.g. for port 0. */
  address: { host: string; port: number }
  close(): Promise<void>
}

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const app = Fastify({ logger: false, forceCloseConnections: true, return503OnClosing: false })
  if (opts.routes) await opts.routes(app)
  const metricsPath = opts.metricsPath ?? '/metrics'

  const taken = (url: string) => app.hasRoute({ method: 'GET', url })
  if (!taken('/healthz')) app.get('/healthz', async () => 'ok\n')
  if (!taken('/ready')) {
    app.get('/ready', async (_req, reply) => {
      if (opts.isReady()) return 'ready\n'
      reply.code(503)
      return `${opts.readyDetail?.() ?? 'not ready'}\n`
    })
  }
  if (!taken(metricsPath)) {
    app.get(metricsPath, async (req, reply) => {
      const text = await opts.registry.metrics()
      if (wantsOpenMetrics(req.headers.accept)) {
        reply.type(OPENMETRICS_CONTENT_TYPE)
        return toOpenMetrics(text)
      }
      reply.type(PROMETHEUS_CONTENT_TYPE)
      return text
    })
  }
  await app.listen({ host: opts.host, port: opts.port })
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr ? addr.port : opts.port
  return { app, address: { host: opts.host, port }, close: () => app.close() }
}

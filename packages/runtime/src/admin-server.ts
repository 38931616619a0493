// The admin HTTP server every service runs: /healthz (alive), /ready (ready for traffic),
// /metrics (Prometheus text, or OpenMetrics when asked). Services add their own routes.

import { type AdminApp, AdminRouter } from './admin-app.ts'
import { httpDate } from './clock.ts'
import {
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  toOpenMetrics,
  wantsOpenMetrics,
} from './exposition.ts'
import type { Registry } from './metrics.ts'

// Builtins come from process.getBuiltinModule, not an ESM import: an ESM import of a builtin makes
// Node build its module facade, reading every export, and node:http's lazy exports then load
// http2, zlib, perf_hooks, worker_threads and undici (+13 MiB RSS on Node 24).
const { createServer } = process.getBuiltinModule('node:http')

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
  routes?: (app: AdminApp) => void | Promise<void>
}

export interface AdminServer {
  app: AdminApp
  /** The bound address, e.g. for port 0. */
  address: { host: string; port: number }
  close(): Promise<void>
}

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const app = new AdminRouter()
  if (opts.routes) await opts.routes(app)
  const metricsPath = opts.metricsPath ?? '/metrics'

  const taken = (url: string) => app.hasRoute({ method: 'GET', url })
  if (!taken('/healthz')) app.get('/healthz', () => 'ok\n')
  if (!taken('/ready')) {
    app.get('/ready', (_req, reply) => {
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

  // The Date header from epoch arithmetic (clock.ts), once a second: Node's own makes a Date,
  // which loads the time zone from ICU's data (~0.5 MiB resident) for a UTC string.
  let dateSecond = -1
  let dateHeader = ''
  const server = createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => {
    const now = Date.now()
    const second = Math.floor(now / 1000)
    if (second !== dateSecond) {
      dateSecond = second
      dateHeader = httpDate(now)
    }
    res.sendDate = false
    res.setHeader('date', dateHeader)
    app.handle(req, res)
  })
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : opts.port
  return {
    app,
    address: { host: opts.host, port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

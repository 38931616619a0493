// A listener: our HTTP/1.1 server (h1-server.ts) on one address, its route table, the WebSocket
// (Upgrade) tunnel, the 400/431/408 answers to malformed or slow requests, and the drain
// (Connection: close, then stop accepting).

import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from '@podkit/runtime'
import type { AccessLog } from './access-log.ts'
import type { UpgradeHandler } from './cluster.ts'
import type { ListenerSpec } from './config.ts'
import { BadRequestError, HeadersTooLargeError, NoRouteError, type ProxyError } from './errors.ts'
import { type AppRequest, type AppResponse, H1Server } from './h1-server.ts'
import type { Metrics } from './metrics.ts'
import {
  type CompiledRoute,
  classify,
  Forward,
  hostHeader,
  type ListenerContext,
  proxyErrorFor,
} from './proxy.ts'

/** Orders routes as Envoy picks virtual hosts: exact domains, then *.suffix, then prefix.*, then *. */
function specificity(domains: string[]): number {
  let best = 3
  for (const d of domains) {
    const s = d === '*' ? 3 : d.startsWith('*') ? 1 : d.endsWith('*') ? 2 : 0
    if (s < best) best = s
  }
  return best
}

function domainMatches(domains: string[], host: string): boolean {
  const bare = host.replace(/:\d+$/, '')
  for (const d of domains) {
    if (d === '*' || d === host || d === bare) return true
    if (d.startsWith('*') && (host.endsWith(d.slice(1)) || bare.endsWith(d.slice(1)))) return true
    if (d.endsWith('*') && host.startsWith(d.slice(0, -1))) return true
  }
  return false
}

export class RouteTable {
  private readonly routes: CompiledRoute[]
  private readonly anyHost: boolean

  constructor(routes: CompiledRoute[]) {
    this.routes = routes
      .map((r, i) => ({ r, i, s: specificity(r.spec.domains) }))
      .sort((a, b) => a.s - b.s || a.i - b.i)
      .map((x) => x.r)
    this.anyHost = routes.every((r) => r.spec.domains.includes('*'))
  }

  match(host: string | undefined, url: string): CompiledRoute | undefined {
    const h = (host ?? '').toLowerCase()
    for (const r of this.routes) {
      if (!this.anyHost && !domainMatches(r.spec.domains, h)) continue
      const s = r.spec
      if (s.path !== undefined) {
        const q = url.indexOf('?')
        if ((q === -1 ? url : url.slice(0, q)) === s.path) return r
      } else if (url.startsWith(s.prefix)) return r
    }
    return undefined
  }
}

export class Listener implements ListenerContext {
  readonly name: string
  readonly useRemoteAddress: boolean
  readonly server: H1Server
  draining = false
  inflight = 0
  readonly access: AccessLog | undefined
  private readonly upgrades = new Set<Duplex>()
  private readonly table: RouteTable
  private drainTimer: NodeJS.Timeout | undefined
  private listening = false
  private idleWaiters: Array<() => void> = []

  constructor(
    readonly spec: ListenerSpec,
    routes: CompiledRoute[],
    readonly logger: Logger,
    readonly metrics: Metrics,
    readonly accessLog: boolean,
    access: AccessLog,
    private readonly reusePort = false,
  ) {
    this.name = spec.name
    this.useRemoteAddress = spec.useRemoteAddress
    this.access = accessLog ? access : undefined
    this.table = new RouteTable(routes)
    // node:http's defaults for the head and idle times; long uploads and streams are governed by
    // the route timeout, not a server-wide cap.
    this.server = new H1Server(
      { maxHeaderSize: spec.maxHeaderSize, headersTimeout: 60_000, keepAliveTimeout: 60_000 },
      {
        onRequest: this.onRequest,
        onUpgrade: this.onUpgrade,
        onClientError: this.onClientError,
        draining: () => this.draining,
      },
    )
  }

  async listen(): Promise<{ address: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.net.once('error', reject)
      // reusePort: the other threads listen on the same port and the kernel balances connections.
      const opts = {
        port: this.spec.port,
        host: this.spec.address,
        ...(this.reusePort ? { reusePort: true } : {}),
      }
      this.server.net.listen(opts, () => {
        this.server.net.off('error', reject)
        resolve()
      })
    })
    this.listening = true
    const a = this.server.net.address()
    return { address: this.spec.address, port: typeof a === 'object' && a ? a.port : this.spec.port }
  }

  get port(): number {
    const a = this.server.net.address()
    return typeof a === 'object' && a ? a.port : this.spec.port
  }

  private onRequest = (req: AppRequest, res: AppResponse): void => {
    const url = req.url
    // Only paths (absolute-form http URLs arrive as paths, their authority as the Host: the
    // parser did that): CONNECT, `*` or another scheme would ask for what no route serves.
    if (url.charCodeAt(0) !== 47 || req.method === 'CONNECT') {
      this.localOnly(
        req,
        res,
        new BadRequestError('only origin-form request targets (/path) are proxied'),
        `request target ${JSON.stringify(url.slice(0, 100))} is not a path`,
      )
      return
    }
    const route = this.table.match(req.host, url)
    if (!route) {
      this.localOnly(req, res, new NoRouteError('no route'), 'no route matches the host and path')
      return
    }
    new Forward(this, route, req, res).start()
  }

  /** A local answer before any cluster is involved (no route, not a path). */
  private localOnly(req: AppRequest, res: AppResponse, e: ProxyError, reason: string): void {
    const body = `${e.message}\n`
    // A request that is not a path is not one this app should keep a connection for.
    if (e.status === 400) res.close = true
    res.writeHead(e.status, undefined, [
      'content-type',
      'text/plain',
      'content-length',
      String(Buffer.byteLength(body)),
      'x-podkit-error',
      e.code,
    ])
    res.end(Buffer.from(body))
    this.metrics.request(this.name, '', e.status, 0)
    if (this.accessLog) {
      const path = req.url.split('?')[0]
      this.logger.info(
        {
          listener: this.name,
          method: req.method,
          path,
          status: e.status,
          flag: e.flag,
          code: e.code,
          reason,
        },
        'request',
      )
    }
  }

  /** WebSocket and other Upgrade requests: a byte tunnel once the upstream answers 101. */
  private onUpgrade = (req: AppRequest, socket: Socket, head: Buffer): void => {
    socket.on('error', () => socket.destroy())
    const url = req.url
    const route = url.charCodeAt(0) === 47 ? this.table.match(req.host, url) : undefined
    const started = performance.now()
    const reply = (e: ProxyError, reason: string) => {
      const body = `${e.message}\n`
      socket.end(
        `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-podkit-error: ${e.code}\r\n\r\n${body}`,
      )
      this.metrics.request(
        this.name,
        route?.cluster.name ?? '',
        e.status,
        (performance.now() - started) / 1000,
      )
      this.logger.info(
        {
          listener: this.name,
          method: req.method,
          path: url.split('?')[0],
          status: e.status,
          flag: e.flag,
          code: e.code,
          reason,
          upgrade: req.upgrade,
        },
        'request',
      )
    }
    if (!route) {
      reply(new NoRouteError('no route'), 'no route matches the host and path')
      return
    }
    if (this.draining) {
      reply(proxyErrorFor('connect', new Error('draining')), 'the listener is draining')
      return
    }
    const host = route.cluster.pick()
    if (!host) {
      reply(proxyErrorFor('connect', new Error('no host')), 'the cluster has no hosts')
      return
    }
    const { headers, requestId } = route.rules.request(req.rawHeaders, hostHeader(route, req))
    const path =
      route.spec.prefixRewrite !== undefined && !route.spec.path
        ? route.spec.prefixRewrite + url.slice(route.spec.prefix.length)
        : url
    const log = (status: number, extra: Record<string, unknown> = {}) => {
      this.metrics.request(this.name, route.cluster.name, status, (performance.now() - started) / 1000)
      if (this.accessLog)
        this.logger.info(
          {
            listener: this.name,
            method: req.method,
            path: url.split('?')[0],
            status,
            cluster: route.cluster.name,
            upstream: host.label,
            requestId,
            upgrade: req.upgrade,
            ...extra,
          },
          'request',
        )
    }
    let abort: ((err?: Error) => void) | undefined
    /** The upstream refused the upgrade and its answer is being forwarded. */
    let refused = false
    // The app gave up before the upstream answered: its request is dropped.
    const onAppClose = () => abort?.(new Error('the app closed the connection'))
    socket.once('close', onAppClose)
    const handler: UpgradeHandler = {
      onConnect: (a) => {
        abort = a
        if (socket.destroyed) a(new Error('the app closed the connection'))
      },
      // An upstream that answers without switching (401, 403, 404...): its answer goes to the app
      // as it is, as Envoy forwards it, and the app's connection closes after it (the app sent the
      // request as an upgrade; what it sends next is not read as requests).
      onHeaders: (status, raw, resume, statusText) => {
        if (status < 200) return true
        refused = true
        route.cluster.outcome(host, status >= 500)
        const h = route.rules.response(raw)
        let out = `HTTP/1.1 ${status} ${statusText || STATUS_CODES[status] || 'Unknown'}\r\n`
        // undici's parser refused control characters in names and values already.
        for (let i = 0; i < h.length; i += 2) out += `${h[i]}: ${h[i + 1]}\r\n`
        // Without a Content-Length the body runs to the close (undici de-chunked it).
        socket.write(`${out}connection: close\r\n\r\n`, 'latin1')
        socket.on('drain', resume)
        log(status, { flag: '-' })
        return !socket.writableNeedDrain
      },
      onData: (chunk) => socket.write(chunk),
      onComplete: () => {
        socket.off('close', onAppClose)
        socket.end()
        socket.once('finish', () => socket.destroy())
      },
      onUpgrade: (_status, raw, upstream) => {
        socket.off('close', onAppClose)
        if (socket.destroyed) {
          upstream.destroy()
          return
        }
        let head101 = 'HTTP/1.1 101 Switching Protocols\r\n'
        for (let i = 0; i < raw.length; i += 2) {
          const k = raw[i]!.toString('latin1')
          const l = k.toLowerCase()
          if (l === 'keep-alive' || l === 'transfer-encoding' || l === 'proxy-connection') continue
          head101 += `${k}: ${raw[i + 1]!.toString('latin1')}\r\n`
        }
        socket.write(`${head101}\r\n`, 'latin1')
        if (head.length > 0) upstream.write(head)
        this.upgrades.add(socket)
        const done = () => {
          upstream.destroy()
          socket.destroy()
          if (
            this.upgrades.delete(socket) &&
            this.draining &&
            this.upgrades.size === 0 &&
            this.inflight === 0
          )
            this.onIdle()
        }
        upstream.on('error', done).on('close', done)
        socket.on('close', done)
        upstream.pipe(socket)
        socket.pipe(upstream)
        log(101)
      },
      onError: (err: Error & { code?: string }) => {
        socket.off('close', onAppClose)
        // Mid-way through a refusal's body: the status is sent, so the app sees the cut.
        if (refused) {
          socket.destroy()
          return
        }
        if (socket.destroyed) return
        const kind = classify(err)
        route.cluster.outcome(host, true)
        this.metrics.upstreamError(route.cluster.name, kind)
        reply(proxyErrorFor(kind, err), `${err.code ?? err.name}: ${err.message}`)
      },
    }
    host
      .dispatchUpgrade({ path, method: req.method, headers, upgrade: String(req.upgrade) }, handler)
      .catch((err: Error) => handler.onError(err))
  }

  /** Malformed requests (smuggling attempts, bad framing, oversized headers): answer, close that connection only. */
  private onClientError = (err: { code: string; message: string; status: number }, socket: Duplex): void => {
    if (!socket.writable) {
      socket.destroy()
      return
    }
    const tooLarge = err.status === 431
    const timeout = err.status === 408
    const e = tooLarge
      ? new HeadersTooLargeError('request headers too large')
      : new BadRequestError(timeout ? 'request headers not received in time' : 'malformed request')
    const status = timeout ? 408 : e.status
    this.metrics.downstreamError(
      this.name,
      tooLarge ? 'headers_too_large' : timeout ? 'timeout' : 'bad_request',
    )
    this.logger.warn(
      { listener: this.name, status, code: e.code, reason: `${err.code}: ${err.message}` },
      'Rejected a malformed request and closed its connection.',
    )
    const body = `${e.message}\n`
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-podkit-error: ${e.code}\r\n\r\n${body}`,
    )
  }

  /**
   * Starts draining: responses carry Connection: close. Graceful keeps accepting new connections
   * for `drainTime` (Envoy's drain time), and idle keep-alive connections stay open as long: the
   * app's pool may be sending on one right now, and its request is answered (with Connection:
   * close) instead of meeting a closed socket, as Envoy keeps an idle HTTP/1.1 connection until
   * its drain timeout. stopAccepting() closes the idle ones; without graceful, that is now.
   */
  drain(graceful: boolean, drainTime: number): void {
    this.draining = true
    if (!graceful || drainTime <= 0) this.stopAccepting()
    else if (!this.drainTimer) {
      this.drainTimer = setTimeout(() => this.stopAccepting(), drainTime)
      this.drainTimer.unref()
    }
  }

  stopAccepting(): void {
    if (this.drainTimer) clearTimeout(this.drainTimer)
    if (!this.listening) return
    this.listening = false
    this.server.net.close()
    this.server.closeIdleConnections()
  }

  get accepting(): boolean {
    return this.listening
  }

  onIdle(): void {
    if (this.inflight > 0 || this.upgrades.size > 0) return
    const w = this.idleWaiters
    this.idleWaiters = []
    for (const f of w) f()
  }

  /** Resolves when no request and no tunnel is in flight. */
  idle(): Promise<void> {
    if (this.inflight === 0 && this.upgrades.size === 0) return Promise.resolve()
    return new Promise((r) => this.idleWaiters.push(r))
  }

  /** Cuts everything still open: the grace period is over. */
  destroyAll(): void {
    this.stopAccepting()
    this.server.closeAllConnections()
    for (const s of this.upgrades) s.destroy()
  }
}

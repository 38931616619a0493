// The HTTP proxy state machine: one Forward per app request (route timeout, retries, local
// replies, access log) and one Attempt per upstream try, the dispatch handler (our HTTP/1.1
// client's, or undici's for HTTP/2) that writes the upstream's response straight into our
// AppResponse with backpressure and no streams.

import type { Logger } from '@podkit/runtime'
import type { AccessLog } from './access-log.ts'
import type { Cluster, Host } from './cluster.ts'
import { RETRY_ON, type RetryOn, type RouteSpec } from './config.ts'
import {
  NoHealthyHostError,
  OverflowError,
  type ProxyError,
  RateLimitedError,
  UpstreamConnectError,
  UpstreamProtocolError,
  UpstreamResetError,
  UpstreamTimeoutError,
  UpstreamTlsError,
} from './errors.ts'
import type { AppRequest, AppResponse } from './h1-server.ts'
import type { HeaderRules } from './headers.ts'
import type { Metrics } from './metrics.ts'
import type { TokenBucket } from './rate-limit.ts'
import { isTlsError } from './tls.ts'

/** A route compiled against its cluster, header rules and rate limit. */
export interface CompiledRoute {
  spec: RouteSpec
  cluster: Cluster
  rules: HeaderRules
  bucket?: TokenBucket
}

/** What a Forward needs from its listener. */
export interface ListenerContext {
  name: string
  /** Envoy's use_remote_address: requests from internal addresses may set their timeouts. */
  useRemoteAddress: boolean
  logger: Logger
  metrics: Metrics
  /** The access log, or undefined when it is off. */
  access: AccessLog | undefined
  accessLog: boolean
  draining: boolean
  inflight: number
  onIdle(): void
}

/**
 * Envoy's default internal addresses (Network::Utility::isInternalAddress, with no
 * internal_address_config): RFC 1918, 127.0.0.1, fd00::/8 and ::1.
 */
export function isInternalAddress(a: string | undefined): boolean {
  if (!a) return false
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a
  if (v4 === '127.0.0.1' || /^(10\.|192\.168\.)/.test(v4)) return true
  const m = /^172\.(\d+)\./.exec(v4)
  if (m) return Number(m[1]) >= 16 && Number(m[1]) <= 31
  const l = a.toLowerCase()
  return l === '::1' || /^fd[0-9a-f]{2}:/.test(l)
}

/** Methods that are safe to send twice (RFC 9110 9.2.2); only these are retried. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

export type FailureKind = 'connect' | 'tls' | 'reset' | 'timeout' | 'protocol'

/** Envoy's texts for local replies, so apps that parse them keep working. */
const RESET_TEXT = 'upstream connect error or disconnect/reset before headers. reset reason:'

export function classify(err: unknown): FailureKind {
  const code = (err as NodeJS.ErrnoException)?.code ?? ''
  if (isTlsError(err)) return 'tls'
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED')
    return 'reset'
  if (code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_INFO')
    return 'protocol'
  return 'connect'
}

export function proxyErrorFor(kind: FailureKind, err: unknown): ProxyError {
  const reason = (err as Error)?.message ?? String(err)
  switch (kind) {
    case 'tls':
      return new UpstreamTlsError(`${RESET_TEXT} TLS error: ${reason}`, { cause: err })
    case 'reset':
      return new UpstreamResetError(`${RESET_TEXT} connection termination`, { cause: err })
    case 'timeout':
      return new UpstreamTimeoutError('upstream request timeout', { cause: err })
    case 'protocol':
      return new UpstreamProtocolError(`${RESET_TEXT} protocol error`, { cause: err })
    default:
      return new UpstreamConnectError(`${RESET_TEXT} connection failure`, { cause: err })
  }
}

class TimeoutAbort extends Error {
  override name = 'TimeoutAbort'
}

/** One try against one host: the undici dispatch handler. */
class Attempt {
  abort: ((err?: Error) => void) | undefined
  timer: NodeJS.Timeout | undefined
  /** Set when the Forward gave up on this try (retry, timeout, client gone): ignore what comes. */
  dead = false
  private released = false

  constructor(
    readonly fwd: Forward,
    readonly host: Host,
  ) {}

  release(): void {
    if (this.released) return
    this.released = true
    this.host.active--
    if (this.timer) clearTimeout(this.timer)
  }

  kill(err: Error): void {
    this.dead = true
    this.release()
    this.abort?.(err)
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort
    if (this.dead) abort(new Error('request abandoned'))
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.dead) return true
    if (status < 200) return true // 1xx informational (100 Continue): Node answers the app itself
    if (this.timer) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    return this.fwd.onResponse(this, status, statusText, raw, resume)
  }

  onData(chunk: Buffer, last?: boolean): boolean {
    if (this.dead) return true
    return this.fwd.onData(chunk, last === true)
  }

  onComplete(): void {
    this.release()
    if (!this.dead) this.fwd.onComplete()
  }

  /** `unsent`: the connection failed before its handshake completed; nothing of the request went out. */
  onError(err: Error, unsent = false): void {
    this.release()
    if (this.dead) return
    this.dead = true
    let kind = err instanceof TimeoutAbort ? 'timeout' : classify(err)
    // A connection closed during its handshake is a connect failure, as Envoy's pool reports it.
    if (unsent && kind === 'reset') kind = 'connect'
    this.fwd.onAttemptError(this, kind, err, unsent)
  }

  onPerTryTimeout = (): void => {
    this.timer = undefined
    if (this.dead) return
    this.abort?.(new TimeoutAbort('per-try timeout'))
    // Aborting an attempt that has no connection yet does not always call onError.
    if (!this.dead) this.onError(new TimeoutAbort('per-try timeout'))
  }

  // undici calls these on the old-style handler; nothing to do.
  onBodySent(): void {}
  onResponseStarted(): void {}
}

/** One request from the app, from routing to the last byte and the access-log line. */
export class Forward {
  readonly started = performance.now()
  private attempts = 0
  private current: Attempt | undefined
  private lastHost: Host | undefined
  private timer: NodeJS.Timeout | undefined
  private status = 0
  private bytes = 0
  private upstreamMs = -1
  private flag = '-'
  private code: string | undefined
  private reason: string | undefined
  private finished = false
  private resume: (() => void) | undefined
  private drainHooked = false
  /** The body's last bytes went with res.end(). */
  private ended = false
  private readonly hasBody: boolean
  private readonly headers: string[]
  private readonly requestId: string
  private readonly path: string
  /** The route timeout and per-try timeout of this request (ms; 0: none). */
  private readonly timeout: number
  private readonly perTry: number
  /** The route's retry policy, or the one an internal app's x-envoy-retry-* headers made of it. */
  private readonly retryPolicy: RouteSpec['retry']

  constructor(
    private readonly listener: ListenerContext,
    private readonly route: CompiledRoute,
    private readonly req: AppRequest,
    private readonly res: AppResponse,
  ) {
    this.hasBody = req.body !== null
    const spec = route.spec
    const url = req.url
    this.path =
      spec.prefixRewrite !== undefined && !spec.path
        ? spec.prefixRewrite + url.slice(spec.prefix.length)
        : url
    const h = route.rules.request(req.rawHeaders, hostHeader(route, req))
    const { timeout, perTry } = h
    this.headers = h.headers
    this.requestId = h.requestId
    // The app's x-envoy-upstream-rq-timeout-ms and -per-try-timeout-ms replace the route's, and
    // its x-envoy-retry-on, -max-retries and -retriable-status-codes join the route's retry
    // policy, when Envoy deems the request internal: a use_remote_address listener, an internal
    // peer address, no X-Forwarded-For (ConnectionManagerUtility::mutateRequestHeaders).
    // Otherwise Envoy drops them unread. Never forwarded either way.
    const retryHeaders =
      h.retryOn !== undefined || h.maxRetries !== undefined || h.retriableCodes !== undefined
    const trusted =
      (timeout !== undefined || perTry !== undefined || retryHeaders) &&
      listener.useRemoteAddress &&
      !h.forwardedFor &&
      isInternalAddress(req.remoteAddress)
    this.timeout = trusted && timeout !== undefined ? timeout : spec.timeout
    this.perTry = trusted && perTry !== undefined ? perTry : spec.perTryTimeout
    this.retryPolicy =
      trusted && retryHeaders ? mergeRetry(spec.retry, h.retryOn, h.maxRetries, h.retriableCodes) : spec.retry
  }

  start(): void {
    const cluster = this.route.cluster
    const l = this.listener
    const breaker = cluster.overflow()
    cluster.addActive(1)
    l.inflight++
    this.res.onClose = this.onClientClose
    if (this.route.bucket && !this.route.bucket.take()) {
      l.metrics.rateLimited(l.name)
      this.fail(new RateLimitedError('local_rate_limited'), "the route's local rate limit is exhausted")
      return
    }
    if (breaker) {
      l.metrics.overflow(cluster.name, breaker)
      this.fail(new OverflowError(`${RESET_TEXT} overflow`), `circuit breaker ${breaker} is open`, true)
      return
    }
    const timeout = this.timeout
    // Envoy starts the route timeout once the app's request is complete.
    if (timeout > 0) this.whenRequestComplete(() => this.armTimeout(timeout))
    this.attempt()
  }

  /** Runs fn once the app's request is complete (its body read), at once if it is already. */
  private whenRequestComplete(fn: () => void): void {
    const body = this.req.body
    if (body && !body.complete) body.once('end', fn)
    else fn()
  }

  private armTimeout(ms: number): void {
    if (this.finished) return
    this.timer = setTimeout(this.onRouteTimeout, ms)
  }

  private attempt(): void {
    const host = this.route.cluster.pick(this.lastHost)
    if (!host) {
      this.fail(new NoHealthyHostError('no healthy upstream'), 'the cluster has no hosts')
      return
    }
    this.attempts++
    this.lastHost = host
    host.active++
    host.total++
    const a = new Attempt(this, host)
    this.current = a
    const perTry = this.perTry
    // As the route timeout, a try's timeout starts once the app's request is complete (Envoy's
    // setupPerTryTimeout on request complete): a slow upload is not a slow upstream.
    if (perTry > 0)
      this.whenRequestComplete(() => {
        if (!a.dead && !this.res.headersSent) a.timer = setTimeout(a.onPerTryTimeout, perTry)
      })
    try {
      host.pool.dispatch(
        {
          path: this.path,
          method: this.req.method,
          headers: this.headers,
          body: this.req.body,
        },
        a as never,
      )
    } catch (err) {
      a.onError(err as Error)
    }
  }

  onResponse(a: Attempt, status: number, statusText: string, raw: Buffer[], resume: () => void): boolean {
    const cluster = this.route.cluster
    cluster.outcome(a.host, status >= 500)
    if (this.retriable(status === 503 || status === 502 || status === 504 ? 'gateway' : 'status', status)) {
      a.kill(new Error('retrying'))
      this.retry()
      return false
    }
    this.upstreamMs = performance.now() - this.started
    this.status = status
    this.resume = resume
    try {
      // Strings come from our HTTP/1.1 client, whose parser refused bad names and control
      // characters already; undici's HTTP/2 Buffers are checked by writeHead.
      this.res.writeHead(status, statusText, this.route.rules.response(raw), typeof raw[0] === 'string')
    } catch (err) {
      // The upstream sent a header we will not forward (invalid characters).
      a.kill(err as Error)
      this.fail(proxyErrorFor('protocol', err), (err as Error).message)
      return false
    }
    return true
  }

  onData(chunk: Buffer, last: boolean): boolean {
    this.bytes += chunk.length
    if (last) {
      // The whole body is here: end() with it writes head and body at once, without write()'s
      // cork-until-next-tick round.
      this.ended = true
      this.res.end(chunk)
      return true
    }
    if (this.res.write(chunk)) return true
    if (!this.drainHooked) {
      this.drainHooked = true
      this.res.onDrain = () => this.resume?.()
    }
    return false
  }

  onComplete(): void {
    if (!this.ended) this.res.end()
    this.finish()
  }

  onAttemptError(a: Attempt, kind: FailureKind, err: Error, unsent = false): void {
    if (this.finished) return
    const cluster = this.route.cluster
    cluster.outcome(a.host, true)
    this.listener.metrics.upstreamError(cluster.name, kind)
    if (this.res.headersSent) {
      // Killed mid-response: the status is gone, so cut the app's connection so it sees a
      // truncated body rather than a complete-looking one.
      this.flag = this.resetFlag()
      this.code = 'PODKIT_HTTP_UPSTREAM_RESET'
      this.reason = err.message
      this.listener.logger.warn(
        { cluster: cluster.name, upstream: a.host.label, err: err.message, requestId: this.requestId },
        'The upstream connection failed mid-response; closing the app connection.',
      )
      this.res.destroy()
      this.finish()
      return
    }
    if (this.retriable(kind, 0, unsent)) {
      this.retry()
      return
    }
    this.fail(proxyErrorFor(kind, err), `${(err as NodeJS.ErrnoException).code ?? err.name}: ${err.message}`)
  }

  /**
   * Whether this failure may be tried again: retries left, the policy says so, and the request is
   * safe to send again: idempotent without a body, or `unsent`, certain that nothing of it left
   * (a connection that never completed its handshake; its body was not read, so it is sent whole
   * on the next try). Envoy retries a connect failure of any method (it buffers bodies); a request
   * that may have reached the upstream is not retried unless safe, as its body is not buffered.
   */
  private retriable(kind: FailureKind | 'status' | 'gateway', status = 0, unsent = false): boolean {
    const r = this.retryPolicy
    if (this.attempts > r.numRetries || this.finished) return false
    if (kind === 'status' || kind === 'gateway') {
      const ok =
        (r.on.has('5xx') && status >= 500) ||
        (kind === 'gateway' && r.on.has('gateway-error')) ||
        (r.on.has('retriable-status-codes') && r.statuses.has(status))
      if (!ok) return false
    } else if (!matches(r.on, kind)) return false
    if (!unsent && (this.hasBody || !IDEMPOTENT.has(this.req.method))) return false
    const cluster = this.route.cluster
    if (cluster.activeRetries >= cluster.spec.circuitBreakers.maxRetries) {
      this.listener.metrics.overflow(cluster.name, 'max_retries')
      return false
    }
    return true
  }

  private retry(): void {
    const cluster = this.route.cluster
    cluster.addRetries(1)
    this.listener.metrics.retry(cluster.name)
    const r = this.retryPolicy
    // Fully jittered exponential backoff, as Envoy: random in [0, (2^n - 1) * base], capped.
    const delay = Math.random() * Math.min(r.max, ((1 << this.attempts) - 1) * r.base)
    setTimeout(() => {
      cluster.addRetries(-1)
      if (!this.finished) this.attempt()
    }, delay)
  }

  private onRouteTimeout = (): void => {
    this.timer = undefined
    if (this.finished) return
    const err = new TimeoutAbort('route timeout')
    this.current?.kill(err)
    this.listener.metrics.upstreamError(this.route.cluster.name, 'timeout')
    if (this.res.headersSent) {
      this.flag = 'UT'
      this.code = 'PODKIT_HTTP_UPSTREAM_TIMEOUT'
      this.res.destroy()
      this.finish()
      return
    }
    this.fail(proxyErrorFor('timeout', err), `no complete response within ${this.timeout} ms`)
  }

  private onClientClose = (): void => {
    if (this.finished || this.res.finished) return
    this.flag = 'DC'
    this.reason = 'the app closed the connection'
    this.current?.kill(new Error('downstream closed'))
    this.finish()
  }

  /**
   * Envoy's flag for a reset: UC (upstream connection termination) when an HTTP/1.1 upstream's
   * connection closed or was reset, UR (remote reset) for an HTTP/2 stream reset.
   */
  private resetFlag(): string {
    return this.route.cluster.spec.http2 ? 'UR' : 'UC'
  }

  /** Answers the app locally (no upstream response): status, Envoy's text, our error code. */
  fail(e: ProxyError, reason: string, overloaded = false): void {
    if (this.finished) return
    this.localReply(e, reason, overloaded)
    this.finish()
  }

  private localReply(e: ProxyError, reason: string, overloaded: boolean): void {
    this.status = e.status
    this.flag = e instanceof UpstreamResetError ? this.resetFlag() : e.flag
    this.code = e.code
    this.reason = reason
    const res = this.res
    if (res.headersSent) {
      res.destroy()
      return
    }
    const body = `${e.message}\n`
    const headers: string[] = [
      'content-type',
      'text/plain',
      'content-length',
      String(Buffer.byteLength(body)),
      'x-podkit-error',
      e.code,
    ]
    if (overloaded) headers.push('x-envoy-overloaded', 'true')
    // While draining, the server adds Connection: close itself.
    res.writeHead(e.status, undefined, headers)
    res.end(Buffer.from(body))
  }

  private finish(): void {
    if (this.finished) return
    this.finished = true
    if (this.timer) clearTimeout(this.timer)
    this.route.cluster.addActive(-1)
    const l = this.listener
    l.inflight--
    this.log()
    if (l.inflight === 0 && l.draining) l.onIdle()
  }

  private log(): void {
    const l = this.listener
    const seconds = (performance.now() - this.started) / 1000
    l.metrics.request(l.name, this.route.cluster.name, this.status, seconds)
    if (!l.access) return
    const url = this.req.url
    const q = url.indexOf('?')
    l.access.write({
      listener: l.name,
      method: this.req.method,
      // The query string may carry tokens: it is not logged.
      path: q === -1 ? url : url.slice(0, q),
      status: this.status,
      flag: this.flag,
      cluster: this.route.cluster.name,
      upstream: this.lastHost?.label,
      attempts: this.attempts,
      durationMs: Math.round(seconds * 10000) / 10,
      upstreamMs: this.upstreamMs < 0 ? -1 : Math.round(this.upstreamMs * 10) / 10,
      bytes: this.bytes,
      requestId: this.requestId,
      code: this.code,
      reason: this.reason,
    })
  }
}

/**
 * Envoy's retry decision for a try that got no response (RetryStateImpl::wouldRetryFromReset):
 * `reset` means the upstream "does not respond at all (disconnect/reset/read timeout)", so it
 * covers a failed connect and a per-try timeout too, as 5xx and gateway-error do.
 */
function matches(on: Set<RetryOn>, kind: FailureKind): boolean {
  const anyReset = on.has('reset') || on.has('5xx') || on.has('gateway-error')
  switch (kind) {
    case 'connect':
    case 'tls':
      return on.has('connect-failure') || anyReset
    case 'reset':
      // An HTTP/2 REFUSED_STREAM reaches us as a reset of that stream.
      return anyReset || on.has('refused-stream')
    case 'timeout':
      return anyReset
    default:
      return false
  }
}

/**
 * The retry policy for an internal request with Envoy's retry headers (RetryStateImpl's
 * constructor): x-envoy-retry-on's conditions join the route's (names we do not know are ignored,
 * as Envoy ignores them), x-envoy-max-retries replaces the number of retries once any condition
 * is on, x-envoy-retriable-status-codes adds codes. A route without a retry policy allows one
 * retry, as Envoy's default policy does.
 */
export function mergeRetry(
  base: RouteSpec['retry'],
  retryOn: string | undefined,
  maxRetries: number | undefined,
  codes: string | undefined,
): RouteSpec['retry'] {
  const on = new Set(base.on)
  if (retryOn !== undefined)
    for (const t of retryOn.split(',')) {
      const name = t.trim() as RetryOn
      if ((RETRY_ON as readonly string[]).includes(name)) on.add(name)
    }
  let statuses = base.statuses
  if (codes !== undefined) {
    statuses = new Set(statuses)
    for (const c of codes.split(',')) if (/^\s*\d{3}\s*$/.test(c)) statuses.add(Number(c))
  }
  const numRetries = on.size > 0 && maxRetries !== undefined ? maxRetries : base.numRetries
  return { ...base, on, statuses, numRetries }
}

/** The Host the upstream gets: its own name (auto), the app's (keep), or a literal. */
export function hostHeader(route: CompiledRoute, req: AppRequest): string {
  const rw = route.rules.hostRewrite
  if (rw === 'keep') return req.host ?? route.cluster.authority
  if (rw === 'auto') return route.cluster.authority
  return rw
}

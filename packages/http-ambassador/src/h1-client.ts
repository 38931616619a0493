// Our HTTP/1.1 upstream client: one pool of keep-alive connections per host over tls.connect or
// net.connect, one request per connection at a time. Each request is written as one string (head,
// and a body when the app sent it already), the response is parsed on Buffers (h1-parser.ts) and
// handed to the same handler interface as undici's dispatch(), which still serves HTTP/2 upstreams.
// Why our own: undici's per-request Request object, header validation and wasm parser callbacks
// were the largest per-request cost we control (issue #7).

import { connect as netConnect, type OnReadOpts, type Socket } from 'node:net'
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls'
import { type ResponseParseError, ResponseParser, type ResponseSink } from './h1-parser.ts'
import type { RequestBody } from './h1-server.ts'
import type { TlsConnectOptions } from './tls.ts'

/** What Attempt (proxy.ts) implements: undici's dispatch handler, the subset we call. */
export interface DispatchHandler {
  onConnect(abort: (err?: Error) => void): void
  onHeaders(status: number, raw: string[], resume: () => void, statusText: string): boolean
  /** `last` (our client only): no more body follows, onComplete comes next. */
  onData(chunk: Buffer, last?: boolean): boolean
  onComplete(trailers: null): void
  /**
   * `unsent` (our client only): the connection never completed its TCP (and TLS) handshake, so
   * not one byte of the request left this process and its body was not read: it may be sent
   * again, whatever its method.
   */
  onError(err: Error, unsent?: boolean): void
}

export interface DispatchOptions {
  path: string
  method: string
  /** [name, value, ...]; values from the app were checked by our request parser, ours by the config. */
  headers: string[]
  /** The app's request body, streamed (Content-Length as the app sent it, else chunked). */
  body: RequestBody | null
}

export interface H1PoolOptions {
  address: string
  port: number
  tls: TlsConnectOptions | undefined
  connectTimeout: number
  maxConnections: number
  keepAliveTimeout: number
  maxHeaderSize: number
  /** A name to resolve per connection (LOGICAL_DNS): connects to it with this lookup. */
  // biome-ignore lint/suspicious/noExplicitAny: net.connect's lookup callback has several overloads.
  lookup?: (hostname: string, opts: unknown, cb: (...args: any[]) => void) => void
}

/** Methods whose requests carry content: without a body they get `content-length: 0` (RFC 9110 8.6). */
const CONTENT_METHODS = new Set(['POST', 'PUT', 'PATCH'])

function hasContentLength(h: string[]): boolean {
  for (let i = 0; i < h.length; i += 2)
    if (h[i]!.length === 14 && h[i]!.toLowerCase() === 'content-length') return true
  return false
}

/**
 * The read buffer every upstream connection of this thread shares (tls/net `onread`): a response
 * is parsed within the read callback and what must outlive it is copied (a partial head by the
 * parser, body bytes by the AppResponse), so no Buffer is allocated per read and no stream
 * machinery runs per response.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024)

function codeError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code })
}

/** One request on one connection: the handler, and the abort undici's interface hands it. */
class H1Request {
  conn: H1Connection | undefined
  done = false

  constructor(
    readonly pool: H1Pool,
    readonly opts: DispatchOptions,
    readonly handler: DispatchHandler,
  ) {}

  readonly abort = (err?: Error): void => {
    if (this.done) return
    const e = err ?? new Error('request aborted')
    if (this.conn) this.conn.destroy(e)
    else {
      // Still queued for a connection: nothing was sent.
      this.pool.unqueue(this)
      this.fail(e, true)
    }
  }

  fail(err: Error, unsent = false): void {
    if (this.done) return
    this.done = true
    this.handler.onError(err, unsent)
  }
}

class H1Connection implements ResponseSink {
  readonly socket: Socket | TLSSocket
  readonly parser: ResponseParser
  req: H1Request | undefined
  connected = false
  closed = false
  idleAt = 0
  /** How long this connection may stay idle: our keepAliveTimeout, or less when the upstream said so. */
  keepAliveMs = 0
  private connectTimer: NodeJS.Timeout | undefined
  private error: Error | undefined
  /** The request body is still being sent: the response may end first, then no reuse. */
  private sending = false
  private bodyStream: RequestBody | undefined
  private corked = false

  constructor(private readonly pool: H1Pool) {
    const o = pool.opts
    this.parser = new ResponseParser(this, o.maxHeaderSize)
    const host = o.address
    if (o.tls) {
      const t = o.tls
      this.socket = tlsConnect({
        host,
        port: o.port,
        secureContext: t.secureContext,
        rejectUnauthorized: t.rejectUnauthorized,
        // Only HTTP/1.1 here: an upstream that would pick h2 is a cluster with http2 (undici).
        ALPNProtocols: ['http/1.1'],
        ...(t.servername ? { servername: t.servername } : {}),
        ...(t.checkServerIdentity ? { checkServerIdentity: t.checkServerIdentity } : {}),
        ...(pool.session ? { session: pool.session } : {}),
        ...(o.lookup ? { lookup: o.lookup as never } : {}),
        // tls.connect takes net's onread (documented; @types/node's ConnectionOptions lacks it).
        onread: this.onread,
      } as ConnectionOptions)
      this.socket.on('secureConnect', this.onConnected)
      // TLS session resumption for the next connection: cheaper handshakes after a reset.
      this.socket.on('session', (s: Buffer) => {
        pool.session = s
      })
    } else {
      this.socket = netConnect({
        host,
        port: o.port,
        ...(o.lookup ? { lookup: o.lookup as never } : {}),
        onread: this.onread,
      })
      this.socket.on('connect', this.onConnected)
    }
    this.connectTimer = setTimeout(() => {
      this.destroy(codeError('ETIMEDOUT', `connect timeout after ${o.connectTimeout} ms`))
    }, o.connectTimeout)
    this.socket.setNoDelay(true)
    this.socket.on('end', this.onSocketEnd)
    this.socket.on('error', this.onSocketError)
    this.socket.on('close', this.onSocketClose)
  }

  private readonly onConnected = (): void => {
    clearTimeout(this.connectTimer)
    this.connectTimer = undefined
    this.connected = true
    this.pool.connected++
    this.socket.setKeepAlive(true, 60_000)
    if (this.req && !this.closed) this.write(this.req)
  }

  /**
   * Sends a request on this connection (new, or idle and taken from the pool). On a new one it is
   * written once the handshake is done: a connection that fails before then has sent nothing and
   * read nothing of the body, so the request can be retried as it is (destroy's `unsent`).
   */
  send(req: H1Request): void {
    this.req = req
    req.conn = this
    if (this.connected) this.write(req)
  }

  private write(req: H1Request): void {
    const o = req.opts
    this.parser.begin(o.method)
    let head = `${o.method} ${o.path} HTTP/1.1\r\n`
    const h = o.headers
    for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`
    const body = o.body
    if (!body) {
      if (CONTENT_METHODS.has(o.method) && !hasContentLength(h)) head += 'content-length: 0\r\n'
      this.socket.write(`${head}\r\n`, 'latin1')
      return
    }
    const chunked = body.contentLength < 0
    if (chunked) head += 'transfer-encoding: chunked\r\n'
    // Head and the first body bytes in one write: uncorked at the first chunk or the end.
    this.socket.cork()
    this.corked = true
    this.socket.write(`${head}\r\n`, 'latin1')
    this.sendBody(body, chunked)
  }

  private sendBody(body: RequestBody, chunked: boolean): void {
    this.sending = true
    this.bodyStream = body
    const socket = this.socket
    // The head's cork (send()): released with the first chunk, so both go in one write.
    const uncork = () => {
      if (this.corked) {
        this.corked = false
        socket.uncork()
      }
    }
    const onData = (chunk: Buffer) => {
      if (this.closed || this.bodyStream !== body) return
      let ok: boolean
      if (chunked) {
        // An empty chunk would read as the last one (RFC 9112 7.1).
        if (chunk.length === 0) return
        socket.cork()
        socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1')
        socket.write(chunk)
        ok = socket.write('\r\n', 'latin1')
        socket.uncork()
      } else ok = socket.write(chunk)
      uncork()
      if (!ok) {
        body.pause()
        socket.once('drain', () => body.resume())
      }
    }
    const onEnd = () => {
      if (this.closed || this.bodyStream !== body) return
      if (chunked) socket.write('0\r\n\r\n', 'latin1')
      uncork()
      this.bodyDone()
    }
    // The app went away mid-upload: the upstream got a partial body, so this connection is done.
    const onAborted = () => {
      if (!body.complete && this.bodyStream === body)
        this.destroy(codeError('ECONNRESET', 'the app aborted the upload'))
    }
    body.on('data', onData)
    body.once('end', onEnd)
    body.once('close', onAborted)
    this.detachBody = () => {
      body.off('data', onData)
      body.off('end', onEnd)
      body.off('close', onAborted)
      uncork()
      // What the app still sends is not ours to forward any more: let it be read and dropped, so
      // its connection can carry the next request.
      if (!body.complete) body.resume()
    }
  }

  private detachBody: (() => void) | undefined

  private bodyDone(): void {
    this.sending = false
    this.bodyStream = undefined
    this.detachBody?.()
    this.detachBody = undefined
  }

  readonly resume = (): void => {
    this.socket.resume()
  }

  onHead(status: number, reason: string, raw: string[]): void {
    const req = this.req!
    if (!req.handler.onHeaders(status, raw, this.resume, reason)) this.socket.pause()
  }

  onBody(chunk: Buffer, last: boolean): void {
    if (!this.req!.handler.onData(chunk, last)) this.socket.pause()
  }

  onEnd(reusable: boolean): void {
    const req = this.req!
    this.req = undefined
    req.conn = undefined
    req.done = true
    const kat = this.pool.opts.keepAliveTimeout
    const hint = this.parser.keepAliveHint
    // Close a little before the upstream would (undici's keepAliveTimeoutThreshold is 1 s).
    this.keepAliveMs = hint > 0 ? Math.min(kat, hint - 1000) : kat
    // Not reusable: the upstream said close, the body ran to the close, bytes came after the
    // response, or the upstream answered before the whole upload was sent (e.g. 413).
    if (!reusable || this.sending || this.keepAliveMs <= 0) this.destroy(undefined)
    else {
      this.socket.resume()
      this.pool.release(this)
    }
    req.handler.onComplete(null)
  }

  private readonly onread: OnReadOpts = {
    buffer: READ_BUFFER,
    callback: (nread: number, buf: Uint8Array): boolean => {
      this.onSocketData((buf as Buffer).subarray(0, nread))
      // Backpressure pauses the socket itself (socket.pause() in onHead/onBody).
      return true
    },
  }

  private onSocketData(chunk: Buffer): void {
    if (!this.req) {
      // Bytes while idle: the upstream is out of step (or sent a 408); never reuse it.
      this.destroy(undefined)
      return
    }
    try {
      this.parser.feed(chunk)
    } catch (err) {
      this.destroy(err as ResponseParseError)
    }
  }

  private readonly onSocketEnd = (): void => {
    // A close-delimited body ends here; any other end is the upstream closing on us.
    if (this.req && this.parser.untilClose) this.parser.eof()
    this.destroy(undefined)
  }

  private readonly onSocketError = (err: Error): void => {
    this.error ??= err
    this.destroy(err)
  }

  private readonly onSocketClose = (): void => {
    this.destroy(undefined)
  }

  /** Closes the connection; the request on it (if any) fails with err or "closed". */
  destroy(err: Error | undefined): void {
    if (!this.closed) {
      this.closed = true
      if (this.connectTimer) clearTimeout(this.connectTimer)
      if (this.connected) this.pool.connected--
      this.parser.stop()
      this.detachBody?.()
      this.detachBody = undefined
      this.bodyStream = undefined
      this.socket.destroy()
      this.pool.remove(this)
    }
    const req = this.req
    if (req) {
      this.req = undefined
      req.conn = undefined
      req.fail(
        err ??
          this.error ??
          codeError(
            'ECONNRESET',
            this.parser.started
              ? 'the upstream closed the connection mid-response'
              : 'the upstream closed the connection',
          ),
        !this.connected,
      )
    }
  }
}

/** The keep-alive connections of one upstream host, and the requests waiting for one. */
export class H1Pool {
  readonly opts: H1PoolOptions
  private readonly all = new Set<H1Connection>()
  /** Idle connections, the most recently used last (reused first; the others age out). */
  private readonly idle: H1Connection[] = []
  private queue: H1Request[] = []
  private sweeper: NodeJS.Timeout | undefined
  private closing: (() => void) | undefined
  private destroyed = false
  session: Buffer | undefined
  /** Connections with their TCP (and TLS) handshake done. */
  connected = 0

  /** undici's Pool.stats.connected, read by /clusters and the connections gauge. */
  get stats(): { connected: number } {
    return { connected: this.connected }
  }

  constructor(opts: H1PoolOptions) {
    this.opts = opts
  }

  dispatch(opts: DispatchOptions, handler: DispatchHandler): void {
    const req = new H1Request(this, opts, handler)
    handler.onConnect(req.abort)
    if (req.done) return
    if (this.destroyed || this.closing) {
      req.fail(codeError('UND_ERR_CLOSED', 'the upstream pool is closed'), true)
      return
    }
    const now = performance.now()
    let conn = this.idle.pop()
    // Past its keep-alive time (ours, or what the upstream said): the upstream may be closing it.
    while (conn && now - conn.idleAt > conn.keepAliveMs) {
      conn.destroy(undefined)
      conn = this.idle.pop()
    }
    if (conn) conn.send(req)
    else if (this.all.size < this.opts.maxConnections) this.open().send(req)
    else this.queue.push(req)
  }

  private open(): H1Connection {
    const conn = new H1Connection(this)
    this.all.add(conn)
    if (!this.sweeper) {
      // Idle connections past their keep-alive time are closed here (at most a second late).
      this.sweeper = setInterval(() => this.sweep(), Math.min(1000, this.opts.keepAliveTimeout))
      this.sweeper.unref()
    }
    return conn
  }

  private sweep(): void {
    const now = performance.now()
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const c = this.idle[i]!
      if (now - c.idleAt > c.keepAliveMs) c.destroy(undefined)
    }
    if (this.all.size === 0) {
      clearInterval(this.sweeper)
      this.sweeper = undefined
    }
  }

  /** A connection finished its request and may carry another. */
  release(conn: H1Connection): void {
    const next = this.queue.shift()
    if (next) {
      conn.send(next)
      return
    }
    if (this.closing) {
      conn.destroy(undefined)
      return
    }
    conn.idleAt = performance.now()
    this.idle.push(conn)
  }

  /** A connection closed: forget it; a waiting request gets a new connection. */
  remove(conn: H1Connection): void {
    if (!this.all.delete(conn)) return
    const i = this.idle.indexOf(conn)
    if (i !== -1) this.idle.splice(i, 1)
    if (this.queue.length > 0 && !this.destroyed && this.all.size < this.opts.maxConnections)
      this.open().send(this.queue.shift()!)
    if (this.closing && this.all.size === 0) this.closing()
  }

  unqueue(req: H1Request): void {
    const i = this.queue.indexOf(req)
    if (i !== -1) this.queue.splice(i, 1)
  }

  /** Finishes what is in flight and queued, then closes every connection. */
  close(): Promise<void> {
    if (this.all.size === 0 && this.queue.length === 0) {
      this.stop()
      return Promise.resolve()
    }
    return new Promise<void>((resolve) => {
      this.closing = () => {
        this.stop()
        resolve()
      }
      for (const c of [...this.idle]) c.destroy(undefined)
    })
  }

  /** Cuts every connection and fails every request. */
  destroy(): Promise<void> {
    this.destroyed = true
    const queued = this.queue
    this.queue = []
    for (const r of queued) r.fail(codeError('UND_ERR_DESTROYED', 'the upstream pool was destroyed'), true)
    for (const c of [...this.all])
      c.destroy(codeError('UND_ERR_DESTROYED', 'the upstream pool was destroyed'))
    this.stop()
    return Promise.resolve()
  }

  private stop(): void {
    clearInterval(this.sweeper)
    this.sweeper = undefined
  }
}

// Our HTTP/1.1 server for the app-facing side: a net.Server whose connections are parsed by our
// strict request parser (h1-parser.ts) and answered by a small response writer, instead of
// node:http. Why our own: per request, node:http built an IncomingMessage and a ServerResponse
// (streams both), validated every header again, kept timers per socket and wrote through the
// stream machinery; the proxy needs none of that for a GET (issue #7). What node:http gave and
// this keeps: strict framing (CL/TE conflicts, obs-fold, bad names: 400; oversized heads: 431),
// keep-alive and HTTP/1.0, pipelined requests answered in order, Expect: 100-continue, Upgrade
// handed over with the bytes after its head, request bodies as streams with backpressure, chunked
// responses when the length is unknown, Connection: close while draining, and the headers and
// keep-alive timeouts (a slow sender cannot hold a connection forever).

import { STATUS_CODES } from 'node:http'
import { createServer, type Server, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import { acceptOnSharedRead, type MakeSharedSocket } from '@podkit/runtime'
import { type RequestHead, RequestParseError, RequestParser, type RequestSink } from './h1-parser.ts'

export interface ServerOptions {
  maxHeaderSize: number
  /** A request head must be complete this long after its first byte (or the connection's start): else 408. */
  headersTimeout: number
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeout: number
}

export interface ServerHandlers {
  onRequest(req: AppRequest, res: AppResponse): void
  /** An Upgrade request: the socket is the handler's now, `head` the bytes that followed the request head. */
  onUpgrade(req: AppRequest, socket: Socket, head: Buffer): void
  /** A malformed request or a head not received in time: answer on the socket (writable) and end it. */
  onClientError(err: { code: string; message: string; status: number }, socket: Socket): void
  /** True while draining: responses say Connection: close and connections close after them. */
  draining(): boolean
}

/** The app's request body: a Readable fed by the connection, which stops reading while it is full. */
export class RequestBody extends Readable {
  /** The whole body arrived. */
  complete = false

  constructor(
    private readonly conn: AppConnection,
    /** The Content-Length the app sent, or -1 for a chunked body. */
    readonly contentLength: number,
  ) {
    super()
  }

  override _read(): void {
    this.conn.resumeBody()
  }
}

/** A request as the proxy sees it: the parsed head, and the body when there is one. */
export class AppRequest {
  readonly method: string
  readonly url: string
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly minor: number
  readonly rawHeaders: string[]
  readonly host: string | undefined
  readonly upgrade: string | undefined
  /** Null when the request has no body (no Content-Length, or 0, and not chunked). */
  readonly body: RequestBody | null

  constructor(
    head: RequestHead,
    body: RequestBody | null,
    private readonly socket: Socket,
  ) {
    this.method = head.method
    this.url = head.url
    this.minor = head.minor
    this.rawHeaders = head.rawHeaders
    this.host = head.host
    this.upgrade = head.upgrade
    this.body = body
  }

  /** The app's address (read when needed: Node caches it after the first call). */
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress
  }
}

/** Characters Node also refuses in a header value (RFC 9110 5.5): a CR or LF would add a header. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/**
 * Response bodies up to this size are copied behind the head, so head and body go in one write
 * (and the upstream's read buffer can be reused at once).
 */
const COPY_LIMIT = 16 * 1024
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1')

let dateAt = 0
let dateText = ''
/** The Date header's value, formatted once a second (as node:http does). */
function httpDate(): string {
  const now = Date.now()
  if (now - dateAt >= 1000) {
    dateAt = now - (now % 1000)
    dateText = new Date(dateAt).toUTCString()
  }
  return dateText
}

enum Framing {
  /** No body for this status or method (HEAD, 1xx, 204, 304). */
  None = 0,
  /** The upstream's Content-Length: the body passes through as it is. */
  Length = 1,
  /** No length known, HTTP/1.1 app: chunked. */
  Chunked = 2,
  /** No length known, HTTP/1.0 app: the body ends when the connection closes. */
  Close = 3,
}

/** The answer to one request: head (held until the first body bytes or end), body, end. */
export class AppResponse {
  /**
   * writeHead() was called (as node:http's headersSent): the status is decided, so a failure
   * after it cuts the connection instead of answering anew, even if the head still waits here.
   */
  headersSent = false
  /** end() was called: the response is complete (its bytes may still be in the socket's buffer). */
  finished = false
  /** The app's connection closed before the response was complete. */
  onClose: (() => void) | undefined
  /** The socket's buffer drained after write() returned false. */
  onDrain: (() => void) | undefined
  private head: string | undefined
  private framing = Framing.Length
  /** Write Connection: close and close the connection after this response. */
  close = false

  constructor(
    private readonly conn: AppConnection,
    private readonly headOnly: boolean,
    private readonly minor: number,
    keepAlive: boolean,
  ) {
    this.close = !keepAlive
  }

  /**
   * Sets the status and headers ([name, value, ...]); they are sent with the first body bytes or
   * end(). Throws on a header Node would also refuse (a control character in a value, a bad
   * name), unless `checked`: every name and value was validated already (our upstream response
   * parser's and the config's), so they are not tested again per response.
   */
  writeHead(status: number, reason: string | undefined, headers: string[], checked = false): void {
    if (this.headersSent) throw new Error('the response head was already written')
    let s = `HTTP/1.1 ${status} ${reason || STATUS_CODES[status] || 'Unknown'}\r\n`
    let length = false
    let date = false
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!
      const value = headers[i + 1]!
      if (!checked && (BAD_VALUE.test(value) || !TOKEN.test(name)))
        throw Object.assign(new Error(`invalid header ${JSON.stringify(name)}`), { code: 'ERR_INVALID_CHAR' })
      const n = name.length
      if (n === 14 && name.toLowerCase() === 'content-length') length = true
      else if (n === 4 && name.toLowerCase() === 'date') date = true
      s += `${name}: ${value}\r\n`
    }
    if (!date) s += `date: ${httpDate()}\r\n`
    if (this.headOnly || status < 200 || status === 204 || status === 304) this.framing = Framing.None
    else if (length) this.framing = Framing.Length
    else if (this.minor === 1) {
      this.framing = Framing.Chunked
      s += 'transfer-encoding: chunked\r\n'
    } else {
      this.framing = Framing.Close
      this.close = true
    }
    if (this.close || this.conn.draining()) {
      this.close = true
      s += 'connection: close\r\n\r\n'
    } else s += this.conn.server.keepAliveHeader
    this.head = s
    this.headersSent = true
  }

  /** Sends body bytes (with the head, the first time); false: the socket's buffer is full (onDrain follows). */
  write(chunk: Buffer): boolean {
    if (this.finished) return false
    // No head yet: 200 without a length (chunked), as node:http's implicit head.
    if (!this.headersSent) this.writeHead(200, undefined, [])
    return this.send(chunk, false)
  }

  /** Completes the response, with its last body bytes if given. */
  end(chunk?: Buffer): void {
    if (this.finished) return
    if (!this.headersSent) this.writeHead(200, undefined, ['content-length', '0'])
    this.send(chunk, true)
    this.finished = true
    this.conn.responseDone(this)
  }

  /** Cuts the app's connection (a response that cannot be completed must not look complete). */
  destroy(): void {
    this.finished = true
    this.conn.destroy()
  }

  private send(chunk: Buffer | undefined, last: boolean): boolean {
    const socket = this.conn.socket
    if (socket.destroyed) return false
    const body = chunk !== undefined && chunk.length > 0 && this.framing !== Framing.None ? chunk : undefined
    const head = this.head
    this.head = undefined
    let prefix = head ?? ''
    let suffix: Buffer | undefined
    if (this.framing === Framing.Chunked) {
      // An empty chunk would read as the last one: nothing to send for it.
      if (body) {
        prefix += `${body.length.toString(16)}\r\n`
        suffix = last ? CHUNK_END_LAST : CRLF_BUF
      } else if (last) suffix = LAST_CHUNK
    }
    if (body === undefined && suffix === undefined)
      return prefix === '' ? !socket.writableNeedDrain : socket.write(prefix, 'latin1')
    const total = prefix.length + (body?.length ?? 0) + (suffix?.length ?? 0)
    if (total <= COPY_LIMIT || body === undefined) {
      // One buffer, one write: the head and a small body in one syscall.
      const out = Buffer.allocUnsafe(total)
      let at = out.write(prefix, 0, 'latin1')
      if (body) at += body.copy(out, at)
      if (suffix) suffix.copy(out, at)
      return socket.write(out)
    }
    // A large body: head, body and chunk end go out corked (one writev). The body is copied: it
    // may be a view of the upstream connection's reused read buffer (h1-client.ts), which the
    // next read overwrites while this write may still wait in the socket's queue.
    socket.cork()
    const a = prefix === '' || socket.write(prefix, 'latin1')
    const b = socket.write(Buffer.from(body))
    const c = suffix === undefined || socket.write(suffix)
    socket.uncork()
    return a && b && c
  }
}

const CRLF_BUF = Buffer.from('\r\n', 'latin1')
const CHUNK_END_LAST = Buffer.from('\r\n0\r\n\r\n', 'latin1')

/**
 * The read buffer of every app connection of this thread (each worker thread has its own module
 * instance, so its own buffer): a read lands here instead of in a fresh 64 KiB allocation with an
 * ArrayBuffer and a stream push. Reads are handled one at a time, and nothing keeps a view of it
 * past the read callback: the parser copies what stays buffered (RequestParser.settle), body
 * chunks are copied before they are handed on, an Upgrade tunnel gets copies. Not the upstream
 * connections' buffer (h1-client.ts): one connection's read callback may lead to the other's.
 */
const APP_READ = Buffer.allocUnsafe(64 * 1024)

/**
 * Response bytes an app connection may have waiting in its socket's buffer before the next
 * pipelined request is dispatched: above it, the connection stops reading and dispatching until
 * the app reads (the socket drains). Envoy's default per_connection_buffer_limit_bytes (1 MiB),
 * past which it stops reading the downstream connection; node:http pauses its socket likewise.
 * Without it, an app pipelining requests that never reads had every response queued in memory.
 */
export const MAX_QUEUED_RESPONSE_BYTES = 1024 * 1024

/** One app connection: requests parsed one at a time, each answered before the next is read. */
export class AppConnection implements RequestSink {
  readonly socket: Socket
  readonly parser: RequestParser
  req: AppRequest | undefined
  res: AppResponse | undefined
  private body: RequestBody | null = null
  private bodyDone = false
  /** Body bytes are dropped (the response ended before the upload did). */
  private discard = false
  private bodyPaused = false
  /** Reading paused because pipelined requests piled up while one is answered. */
  private held = false
  /**
   * Reading and dispatching paused because the app is not reading its responses: more than
   * MAX_QUEUED_RESPONSE_BYTES wait in the socket's buffer. The socket's 'drain' ends it.
   */
  private backedUp = false
  private running = false
  private closed = false
  private peerEnded = false
  /** Requests answered on this connection. */
  private served = 0
  /** Inside a read into APP_READ: the chunks being parsed are views of it (copy to keep). */
  private borrowed = false
  /** Upgraded: reads into APP_READ go to the socket's stream as copies, for the tunnel's pipe. */
  private tunnel = false
  /** When the current phase (waiting for a head, idle) began (performance.now()). */
  since = performance.now()

  /**
   * `socket` is either a stream socket from net.Server ('data' events), or `make`, which builds
   * it reading into APP_READ (acceptOnSharedRead).
   */
  constructor(
    socket: Socket | MakeSharedSocket,
    readonly server: H1Server,
  ) {
    this.parser = new RequestParser(this, server.opts.maxHeaderSize)
    if (typeof socket === 'function') this.socket = socket((n, buf) => this.onRead(n, buf))
    else {
      this.socket = socket
      socket.on('data', this.onData)
    }
    this.socket.on('end', this.onEnd)
    this.socket.on('error', this.onError)
    this.socket.on('close', this.onSocketClose)
  }

  /** A read into APP_READ: parsed at once, then what stays buffered is copied (settle). */
  private onRead(n: number, buf: Buffer): boolean {
    // Upgraded: the tunnel pipes the socket's stream; push returns false when it is full, which
    // stops reading until the pipe reads on (net.Socket's _read restarts it).
    if (this.tunnel) return this.socket.push(Buffer.from(buf.subarray(0, n)))
    // Closing (linger): what the app still sends is read and dropped.
    if (this.closed) return true
    this.borrowed = true
    try {
      this.onData(buf.subarray(0, n))
    } finally {
      this.borrowed = false
      this.parser.settle()
    }
    return true
  }

  draining(): boolean {
    return this.server.handlers.draining()
  }

  /** No request in progress and nothing of one received. */
  get idle(): boolean {
    return this.req === undefined && this.parser.buffered === 0
  }

  private readonly onData = (chunk: Buffer): void => {
    // The first bytes of the next request on a kept-alive connection: its headers timeout starts.
    if (this.req === undefined && this.served > 0 && this.parser.buffered === 0)
      this.since = performance.now()
    this.parser.push(chunk, this.borrowed)
    if (this.req !== undefined && this.bodyDone) {
      // A pipelined request while this one is answered: keep it, and stop reading if they pile up.
      if (this.parser.buffered > this.server.opts.maxHeaderSize && !this.held) {
        this.held = true
        this.socket.pause()
      }
      return
    }
    this.advance()
  }

  /** Parses and dispatches what is buffered, as far as the request being answered allows. */
  private advance(): void {
    if (this.running) return
    this.running = true
    try {
      while (!this.closed) {
        if (this.req !== undefined) {
          if (this.bodyDone) {
            if (!this.res!.finished) break
            this.exchangeDone()
            continue
          }
          const before = this.parser.buffered
          this.parser.run()
          if (!this.bodyDone && this.parser.buffered === before) break
          continue
        }
        if (this.parser.buffered === 0) break
        if (this.socket.writableLength > MAX_QUEUED_RESPONSE_BYTES) {
          // The app is not reading its responses: the next request waits for the drain.
          if (!this.backedUp) {
            this.backedUp = true
            this.socket.pause()
          }
          break
        }
        const before = this.parser.buffered
        this.parser.run()
        // A partial head: wait for more bytes.
        if (this.req === undefined && this.parser.buffered === before) break
      }
    } catch (err) {
      if (err instanceof RequestParseError) this.reject(err)
      else throw err
    } finally {
      this.running = false
    }
  }

  onHead(head: RequestHead): void {
    const body =
      head.contentLength !== 0 && head.upgrade === undefined
        ? new RequestBody(this, head.contentLength)
        : null
    const req = new AppRequest(head, body, this.socket)
    this.req = req
    this.body = body
    this.bodyDone = false
    this.discard = false
    if (head.upgrade !== undefined) {
      this.upgrade(req)
      return
    }
    const res = new AppResponse(this, head.method === 'HEAD', head.minor, head.keepAlive && !this.peerEnded)
    this.res = res
    if (head.expect !== undefined) {
      if (head.expect !== '100-continue') {
        // Like node:http without a checkExpectation listener.
        res.close = true
        this.bodyDone = true
        this.discard = true
        res.writeHead(417, undefined, ['content-length', '0'])
        res.end()
        return
      }
      // The app waits for this before sending its body (node:http sends it the same way).
      if (head.minor === 1) this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1')
    }
    this.server.handlers.onRequest(req, res)
  }

  onBody(chunk: Buffer): void {
    if (this.discard || this.body === null) return
    // A view of APP_READ is copied: the body's reader may queue it (an upstream write that waits).
    if (!this.body.push(this.borrowed ? Buffer.from(chunk) : chunk) && !this.bodyPaused) {
      this.bodyPaused = true
      this.socket.pause()
    }
  }

  onBodyEnd(): void {
    this.bodyDone = true
    const body = this.body
    if (body && !this.discard) {
      body.complete = true
      body.push(null)
    }
    // Reading paused because the body's buffer was full: the body is whole now, so its reader will
    // not ask for more (no _read after the end), and what follows is the next request, which the
    // pipelining rules govern. Left paused, a kept-alive connection hung on its next request.
    if (this.bodyPaused) {
      this.bodyPaused = false
      this.resumeReading()
    }
  }

  /** The body's reader wants more. */
  resumeBody(): void {
    if (!this.bodyPaused) return
    this.bodyPaused = false
    this.resumeReading()
  }

  /** Reads again once none of the three reasons to pause (body full, held, backed up) holds. */
  private resumeReading(): void {
    if (!this.bodyPaused && !this.held && !this.backedUp) this.socket.resume()
  }

  /** res.end() was called. */
  responseDone(res: AppResponse): void {
    if (res !== this.res) return
    if (!this.bodyDone) {
      // Answered before the upload ended: drop the rest of the body (the connection stays usable),
      // unless the response closes the connection anyway.
      this.discard = true
      const body = this.body
      if (body && !body.complete) body.destroy()
      if (this.bodyPaused) {
        this.bodyPaused = false
        this.socket.resume()
      }
      if (res.close) {
        this.closeAfterWrites()
        return
      }
    }
    this.advance()
  }

  /** The request and its response are both complete: the next request, or the end. */
  private exchangeDone(): void {
    const res = this.res!
    this.req = undefined
    this.res = undefined
    this.body = null
    this.served++
    if (res.close || this.peerEnded) {
      this.closeAfterWrites()
      return
    }
    this.parser.next()
    this.since = performance.now()
    if (this.held) {
      this.held = false
      this.resumeReading()
    }
  }

  private closeAfterWrites(): void {
    this.closed = true
    this.server.forget(this)
    this.linger()
  }

  /**
   * Ends our side after what is buffered (FIN), reads and drops what the app still sends until it
   * closes too (closing with unread bytes would send a reset that can destroy the response), and
   * gives it 5 s for that.
   */
  private linger(): void {
    const s = this.socket
    s.off('data', this.onData)
    s.resume()
    if (!s.writableEnded) s.end()
    s.setTimeout(5000, () => s.destroy())
  }

  private upgrade(req: AppRequest): void {
    this.closed = true
    this.server.forget(this)
    const s = this.socket
    s.off('data', this.onData)
    s.off('end', this.onEnd)
    s.off('error', this.onError)
    s.off('close', this.onSocketClose)
    this.tunnel = true
    // Nothing reads it until the tunnel is piped: what the app sends meanwhile waits in the socket.
    s.pause()
    this.server.handlers.onUpgrade(req, s, this.parser.take())
  }

  /** A malformed request: answer it (when no response has started) and close. */
  private reject(err: RequestParseError): void {
    const res = this.res
    if (res !== undefined) {
      // A bad chunk mid-upload, the request already on its way: abort its body (the upstream
      // connection is cut) and answer 400 as node:http did, unless the response has begun.
      this.req = undefined
      this.res = undefined
      const body = this.body
      if (body && !body.complete && !body.destroyed) body.destroy()
      if (!res.finished) {
        res.onClose?.()
        res.finished = true
      }
      if (res.headersSent) {
        this.destroy()
        return
      }
    }
    this.closed = true
    this.server.forget(this)
    this.server.handlers.onClientError(err, this.socket)
    this.linger()
  }

  /** The sweep: a head not complete in time gets 408, an idle keep-alive connection is closed. */
  checkTimeout(now: number): void {
    // Backed up: the next head arrived; it is we who hold it until the app reads its responses.
    if (this.closed || this.req !== undefined || this.backedUp) return
    const o = this.server.opts
    if (this.parser.buffered === 0 && this.served > 0) {
      if (now - this.since > o.keepAliveTimeout) this.destroy()
      return
    }
    if (now - this.since > o.headersTimeout) {
      this.closed = true
      this.server.forget(this)
      this.server.handlers.onClientError(
        { code: 'ERR_HTTP_REQUEST_TIMEOUT', message: 'request headers not received in time', status: 408 },
        this.socket,
      )
      this.linger()
    }
  }

  private readonly onEnd = (): void => {
    if (this.closed) {
      // Both sides are done once our last bytes are out.
      const s = this.socket
      if (s.writableFinished) s.destroy()
      else s.once('finish', () => s.destroy())
      return
    }
    // The app half-closed: finish the request in progress (if whole), then close.
    this.peerEnded = true
    if (this.req !== undefined && !this.bodyDone) {
      this.destroy()
      return
    }
    if (this.res) this.res.close = true
    // Backed up: the drain answers what is buffered, then closes (onSocketDrain).
    if (this.req === undefined && !this.backedUp) {
      // Requests already buffered are still answered; then the connection closes.
      this.advance()
      if (this.req === undefined && !this.closed) this.closeAfterWrites()
    }
  }

  private readonly onError = (): void => {
    this.destroy()
  }

  private readonly onSocketClose = (): void => {
    this.destroy()
  }

  /** Closes the connection now; a request in progress sees its body aborted and its response closed. */
  destroy(): void {
    const first = !this.closed
    this.closed = true
    if (first) this.server.forget(this)
    this.socket.destroy()
    const body = this.body
    if (body && !body.complete && !body.destroyed) body.destroy()
    const res = this.res
    if (res && !res.finished) {
      this.res = undefined
      this.req = undefined
      res.onClose?.()
      res.finished = true
    }
  }

  /** The socket's buffer drained: the response in progress may write again. */
  readonly onSocketDrain = (): void => {
    this.res?.onDrain?.()
    if (!this.backedUp || this.closed) return
    this.backedUp = false
    this.resumeReading()
    this.advance()
    if (this.peerEnded && this.req === undefined && !this.closed && !this.backedUp) this.closeAfterWrites()
  }
}

/** The listening socket and its connections (for drain and shutdown). */
export class H1Server {
  readonly net: Server
  private readonly conns = new Set<AppConnection>()
  private sweeper: NodeJS.Timeout | undefined
  /** The end of a kept-alive response's head: the keep-alive time, as node:http announces it. */
  readonly keepAliveHeader: string

  constructor(
    readonly opts: ServerOptions,
    readonly handlers: ServerHandlers,
  ) {
    this.keepAliveHeader = `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(opts.keepAliveTimeout / 1000)}\r\n\r\n`
    // allowHalfOpen: an app that half-closes after its request still gets the response.
    this.net = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket))
    // Each listen (its new handle): connections are built reading into APP_READ from the accept
    // itself, with the same allowHalfOpen and TCP_NODELAY and counted on the server as net.Server
    // counts them. Where Node's internals differ, its 'connection' event above serves instead.
    this.net.on('listening', () =>
      acceptOnSharedRead(
        this.net,
        { buffer: APP_READ, allowHalfOpen: true, noDelay: true },
        () => true,
        (make) => this.accept(make),
      ),
    )
  }

  private accept(socket: Socket | MakeSharedSocket): void {
    if (!this.sweeper) {
      this.sweeper = setInterval(this.sweep, 1000)
      this.sweeper.unref()
    }
    const c = new AppConnection(socket, this)
    c.socket.on('drain', c.onSocketDrain)
    this.conns.add(c)
  }

  private readonly sweep = (): void => {
    const now = performance.now()
    for (const c of this.conns) c.checkTimeout(now)
    if (this.conns.size === 0) {
      clearInterval(this.sweeper)
      this.sweeper = undefined
    }
  }

  /** Response bytes waiting in the buffers of this server's app connections (tests watch it). */
  queuedBytes(): number {
    let n = 0
    for (const c of this.conns) n += c.socket.writableLength
    return n
  }

  forget(c: AppConnection): void {
    this.conns.delete(c)
  }

  /** Connections with no request in progress close now (drain). */
  closeIdleConnections(): void {
    for (const c of this.conns) if (c.idle) c.destroy()
  }

  closeAllConnections(): void {
    for (const c of this.conns) c.destroy()
  }
}

// A minimal keep-alive HTTP/1.1 GET client for status pages, over TCP, TLS or a unix socket.
// Status pages are small and fetched often: one precomputed request, a response parsed on Buffers
// (RFC 9112: status line, Content-Length or chunked framing, Connection), idle sockets reused.
// undici does all this too, but costs ~11 MiB of RSS in a 64 MiB container and more CPU per fetch.

import type { Socket } from 'node:net'
import type { ConnectionOptions } from 'node:tls'
import { FetchConnectError, type FetchError, FetchTimeoutError, FetchTlsError, ParseError } from './errors.ts'

// Builtins through process.getBuiltinModule rather than ESM imports (an ESM import builds the
// module's facade, which costs resident memory: see the runtime's admin-server.ts), and node:tls
// only when a target is https: loading it costs ~8 MiB RSS on Node 24, ~1 MiB on Node 20.
const { connect: netConnect } = process.getBuiltinModule('node:net')

export interface HttpClientOptions {
  host?: string
  port?: number
  socketPath?: string
  /** TLS options when the target is https (ca, cert, key, rejectUnauthorized, servername). */
  tls?: ConnectionOptions
  /** Value of the Host header. */
  hostHeader: string
  path: string
  headers?: Record<string, string>
  /** Larger bodies are a parse error. */
  maxBody: number
  /** Idle keep-alive connections kept; more are closed after use. */
  maxIdle?: number
  /** Open each connection with a PROXY protocol v2 header (before TLS), as the exporter's --nginx.proxy-protocol. */
  proxyProtocol?: boolean
}

export interface HttpResponse {
  status: number
  body: Buffer
  /** The Location header of a redirect, as sent. */
  location?: string
}

const MAX_HEAD = 32 * 1024
const CRLFCRLF = Buffer.from('\r\n\r\n')

interface Exchange {
  resolve(r: HttpResponse): void
  reject(e: FetchError): void
  /** Whether any byte of the answer arrived (a reused socket closed before that is retried). */
  gotBytes: boolean
}

/** The framing of a response once its head is parsed. */
interface Head {
  status: number
  bodyStart: number
  /** Content-Length, or -1 for chunked, or -2 for "until the connection closes". */
  length: number
  keepAlive: boolean
  location?: string
}

class Connection {
  readonly socket: Socket
  connected = false
  closed = false
  exchange: Exchange | undefined
  private acc: Buffer | undefined
  private head: Head | undefined

  constructor(
    private readonly client: HttpClient,
    opts: HttpClientOptions,
  ) {
    const tls = opts.tls !== undefined
    if (tls && opts.proxyProtocol) {
      // The PROXY header goes first on the TCP (or unix) stream, TLS after it: dial, write the
      // header once connected (this listener runs before TLS's own), then hand the socket to TLS.
      const raw = opts.socketPath
        ? netConnect({ path: opts.socketPath })
        : netConnect({ host: opts.host!, port: opts.port! })
      raw.once('connect', () => raw.write(proxyV2Header(raw, opts.socketPath)))
      raw.on('error', (err) => this.fail(classifySocketError(err, false)))
      this.socket = process.getBuiltinModule('node:tls').connect({
        ...opts.tls,
        socket: raw,
        ...(opts.host ? { host: opts.host } : {}),
        ALPNProtocols: ['http/1.1'],
      })
      this.socket.once('secureConnect', () => this.onConnect())
    } else if (tls) {
      this.socket = process.getBuiltinModule('node:tls').connect({
        ...opts.tls,
        ...(opts.socketPath ? { path: opts.socketPath } : { host: opts.host, port: opts.port }),
        ALPNProtocols: ['http/1.1'],
      })
      this.socket.once('secureConnect', () => this.onConnect())
    } else {
      this.socket = opts.socketPath
        ? netConnect({ path: opts.socketPath })
        : netConnect({ host: opts.host!, port: opts.port! })
      this.socket.once('connect', () => {
        if (opts.proxyProtocol) this.socket.write(proxyV2Header(this.socket, opts.socketPath))
        this.onConnect()
      })
    }
    this.socket.setNoDelay(true)
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk))
    this.socket.on('error', (err) => this.fail(classifySocketError(err, tls && !this.connected)))
    this.socket.on('close', () => {
      if (this.head?.length === -2 && this.exchange) {
        // A body delimited by the end of the connection is complete now.
        const body = this.acc ? this.acc.subarray(this.head.bodyStart) : Buffer.alloc(0)
        this.complete({ status: this.head.status, body, location: this.head.location }, false)
      }
      this.fail(new FetchConnectError('the connection closed before the response was complete'))
    })
  }

  private onConnect(): void {
    this.connected = true
    this.client.onConnected(this)
  }

  send(exchange: Exchange, request: Buffer): void {
    this.exchange = exchange
    this.acc = undefined
    this.head = undefined
    this.socket.write(request)
  }

  private onData(chunk: Buffer): void {
    const ex = this.exchange
    if (!ex) {
      // Bytes nobody asked for: the server is not speaking HTTP/1.1 request-response.
      this.socket.destroy()
      return
    }
    ex.gotBytes = true
    this.acc = this.acc ? Buffer.concat([this.acc, chunk]) : chunk
    try {
      this.parse()
    } catch (err) {
      this.fail(err as FetchError)
      this.socket.destroy()
    }
  }

  private parse(): void {
    const acc = this.acc!
    const max = this.client.maxBody
    if (!this.head) {
      const end = acc.indexOf(CRLFCRLF)
      if (end === -1) {
        if (acc.length > MAX_HEAD) throw new ParseError(`the response head is larger than ${MAX_HEAD} bytes`)
        return
      }
      const head = parseHead(acc, end)
      if (head.status >= 100 && head.status < 200) {
        // An interim answer (100 Continue): the real one follows.
        this.acc = acc.subarray(end + 4)
        if (this.acc.length > 0) this.parse()
        return
      }
      this.head = head
    }
    const h = this.head
    if (h.length >= 0) {
      if (h.length > max) throw new ParseError(`the body is ${h.length} bytes, more than ${max}`)
      if (acc.length - h.bodyStart < h.length) return
      this.complete(
        { status: h.status, body: acc.subarray(h.bodyStart, h.bodyStart + h.length), location: h.location },
        h.keepAlive,
      )
    } else if (h.length === -1) {
      const body = dechunk(acc, h.bodyStart, max)
      if (body) this.complete({ status: h.status, body, location: h.location }, h.keepAlive)
    } else if (acc.length - h.bodyStart > max) {
      throw new ParseError(`the body is more than ${max} bytes`)
    }
  }

  private complete(res: HttpResponse, keepAlive: boolean): void {
    const ex = this.exchange!
    this.exchange = undefined
    this.acc = undefined
    this.head = undefined
    ex.resolve(res)
    if (keepAlive && !this.closed) this.client.release(this)
    else this.destroy()
  }

  private fail(err: FetchError): void {
    const wasClosed = this.closed
    this.closed = true
    this.client.forget(this)
    const ex = this.exchange
    this.exchange = undefined
    if (ex) ex.reject(err)
    if (!wasClosed) this.socket.destroy()
  }

  destroy(): void {
    this.closed = true
    this.client.forget(this)
    this.socket.destroy()
  }
}

const PROXY_V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

/**
 * A PROXY protocol v2 header (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt,
 * section 2.2) for a connected socket: command PROXY, source our end, destination the server's,
 * as the exporter's go-proxyproto writes it. A unix socket gets AF_UNIX with the socket's path.
 */
export function proxyV2Header(socket: Socket, socketPath?: string): Buffer {
  let family: number
  let addrs: Buffer
  if (socketPath !== undefined) {
    family = 0x31 // AF_UNIX, STREAM
    addrs = Buffer.alloc(216) // source and destination paths, 108 bytes each; ours is unnamed
    addrs.write(socketPath, 108, 107, 'utf8')
  } else {
    const v6 = socket.remoteFamily === 'IPv6'
    family = v6 ? 0x21 : 0x11 // AF_INET6 or AF_INET, STREAM
    const n = v6 ? 16 : 4
    addrs = Buffer.alloc(2 * n + 4)
    ipBytes(socket.localAddress ?? '', v6).copy(addrs, 0)
    ipBytes(socket.remoteAddress ?? '', v6).copy(addrs, n)
    addrs.writeUInt16BE(socket.localPort ?? 0, 2 * n)
    addrs.writeUInt16BE(socket.remotePort ?? 0, 2 * n + 2)
  }
  const head = Buffer.alloc(16)
  PROXY_V2_SIGNATURE.copy(head, 0)
  head[12] = 0x21 // version 2, PROXY
  head[13] = family
  head.writeUInt16BE(addrs.length, 14)
  return Buffer.concat([head, addrs])
}

/** The bytes of an IPv4 or IPv6 address as Node reports it (an IPv4 one may come as ::ffff:a.b.c.d). */
function ipBytes(ip: string, v6: boolean): Buffer {
  const out = Buffer.alloc(v6 ? 16 : 4)
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip)
  if (!v6) {
    if (dotted) for (let i = 0; i < 4; i++) out[i] = Number(dotted[i + 1])
    return out
  }
  // Expand "::", then an embedded dotted quad as the last two groups.
  let text = ip.replace(/%.*$/, '')
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [left, right] = text.includes('::') ? text.split('::') : [text, undefined]
  const l = left ? left.split(':') : []
  const r = right ? right.split(':') : []
  const groups = right === undefined ? l : [...l, ...Array(8 - l.length - r.length).fill('0'), ...r]
  for (let i = 0; i < 8 && i < groups.length; i++)
    out.writeUInt16BE(Number.parseInt(groups[i]!, 16) || 0, i * 2)
  return out
}

/** Parses the status line and the headers that decide the framing (RFC 9112 section 6.3). */
export function parseHead(acc: Buffer, end: number): Head {
  const text = acc.toString('latin1', 0, end)
  const m = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?\r?\n?/.exec(text)
  if (!m) {
    throw new ParseError(`not an HTTP/1.x response: ${JSON.stringify(text.slice(0, 40))}`)
  }
  const status = Number(m[2])
  let length = -2
  let chunked = false
  let keepAlive = m[1] === '1'
  let location: string | undefined
  for (const line of text.slice(m[0].length).split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const raw = line.slice(colon + 1).trim()
    const value = raw.toLowerCase()
    if (name === 'location') location = raw
    else if (name === 'content-length') {
      if (!/^\d+$/.test(value)) throw new ParseError(`invalid Content-Length ${JSON.stringify(value)}`)
      length = Number(value)
    } else if (name === 'transfer-encoding') {
      chunked = value.split(',').at(-1)!.trim() === 'chunked'
    } else if (name === 'connection') {
      if (value.includes('close')) keepAlive = false
      else if (value.includes('keep-alive')) keepAlive = true
    }
  }
  if (chunked) length = -1
  if (status === 204 || status === 304) length = 0
  if (length === -2) keepAlive = false
  return { status, bodyStart: end + 4, length, keepAlive, location }
}

/** The body of a complete chunked message starting at `from`, or undefined while incomplete. */
export function dechunk(acc: Buffer, from: number, max: number): Buffer | undefined {
  const parts: Buffer[] = []
  let size = 0
  let at = from
  for (;;) {
    const eol = acc.indexOf('\r\n', at)
    if (eol === -1) {
      if (acc.length - at > 1024) throw new ParseError('a chunk size line is too long')
      return undefined
    }
    const line = acc.toString('latin1', at, eol)
    const m = /^([0-9a-fA-F]+)(?:;.*)?$/.exec(line.trim())
    if (!m) throw new ParseError(`invalid chunk size ${JSON.stringify(line.slice(0, 20))}`)
    const n = Number.parseInt(m[1]!, 16)
    if (n === 0) {
      // Trailers end with an empty line.
      const t = acc.indexOf(CRLFCRLF, eol - 2)
      if (t === -1) return undefined
      return parts.length === 1 ? parts[0]! : Buffer.concat(parts, size)
    }
    size += n
    if (size > max) throw new ParseError(`the body is more than ${max} bytes`)
    const start = eol + 2
    if (acc.length < start + n + 2) return undefined
    parts.push(acc.subarray(start, start + n))
    at = start + n + 2
  }
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EACCES',
  'ENOTSOCK',
  'EADDRNOTAVAIL',
])

function classifySocketError(err: NodeJS.ErrnoException, duringTlsHandshake: boolean): FetchError {
  const code = err.code ?? ''
  const msg = `${code ? `${code}: ` : ''}${err.message}`
  if (code === 'ETIMEDOUT') return new FetchTimeoutError(msg, { cause: err })
  if (
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    /CERT|SELF_SIGNED|UNABLE_TO_|EPROTO/.test(code) ||
    (duringTlsHandshake && !CONNECT_CODES.has(code))
  ) {
    return new FetchTlsError(`TLS failed: ${msg}`, { cause: err })
  }
  return new FetchConnectError(msg, { cause: err })
}

export class HttpClient {
  readonly maxBody: number
  private readonly opts: HttpClientOptions
  private readonly request: Buffer
  private readonly maxIdle: number
  private readonly idle: Connection[] = []
  private readonly all = new Set<Connection>()
  private readonly connecting = new Map<Connection, Exchange>()
  private closed = false

  constructor(opts: HttpClientOptions) {
    this.opts = opts
    this.maxBody = opts.maxBody
    this.maxIdle = opts.maxIdle ?? 16
    let head = `GET ${opts.path} HTTP/1.1\r\nHost: ${opts.hostHeader}\r\n`
    for (const [k, v] of Object.entries(opts.headers ?? {})) head += `${k}: ${v}\r\n`
    this.request = Buffer.from(`${head}\r\n`, 'latin1')
  }

  /**
   * One GET; rejects with a FetchError (connect, tls, parse) or after `timeout` ms (timeout).
   * A timeout of 0 is none, as in Go's http.Client (the exporter's -nginx.timeout=0).
   */
  get(timeout: number): Promise<HttpResponse> {
    if (this.closed) return Promise.reject(new FetchConnectError('the client is closed'))
    return new Promise<HttpResponse>((resolve, reject) => {
      let conn: Connection | undefined
      const timer =
        timeout <= 0
          ? undefined
          : setTimeout(() => {
              ex.reject(new FetchTimeoutError(`no complete answer within ${timeout} ms`))
              conn?.destroy()
            }, timeout)
      let settled = false
      const ex: Exchange = {
        gotBytes: false,
        resolve: (r) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          resolve(r)
        },
        reject: (e) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          reject(e)
        },
      }
      // A reused keep-alive socket may have been closed by the server meanwhile: then, and only
      // if no byte of an answer came back, the request is sent once more on a new connection.
      const reused = this.takeIdle()
      if (reused) {
        conn = reused
        const retry: Exchange = {
          gotBytes: false,
          resolve: ex.resolve,
          reject: (e) => {
            if (settled) return
            if (!retry.gotBytes && e instanceof FetchConnectError && !this.closed) {
              conn = this.open(ex)
            } else ex.reject(e)
          },
        }
        reused.send(retry, this.request)
      } else conn = this.open(ex)
    })
  }

  private takeIdle(): Connection | undefined {
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (!c.closed && !c.socket.destroyed) return c
    }
    return undefined
  }

  private open(ex: Exchange): Connection | undefined {
    let conn: Connection
    try {
      conn = new Connection(this, this.opts)
    } catch (err) {
      // Bad TLS material or options throw synchronously: a failed fetch, never a crash.
      ex.reject(new FetchConnectError(`cannot open a connection: ${(err as Error).message}`, { cause: err }))
      return undefined
    }
    this.all.add(conn)
    this.connecting.set(conn, ex)
    // A failure before the connection is up rejects the exchange through the connection.
    conn.exchange = ex
    return conn
  }

  /** Called by a connection once TCP (and TLS) is up: send the request waiting on it. */
  onConnected(conn: Connection): void {
    const ex = this.connecting.get(conn)
    this.connecting.delete(conn)
    if (ex) conn.send(ex, this.request)
  }

  release(conn: Connection): void {
    if (this.closed || this.idle.length >= this.maxIdle) conn.destroy()
    else this.idle.push(conn)
  }

  forget(conn: Connection): void {
    this.all.delete(conn)
    this.connecting.delete(conn)
    const i = this.idle.indexOf(conn)
    if (i !== -1) this.idle.splice(i, 1)
  }

  /** Closes idle connections now and the others when their exchange ends. */
  close(): void {
    this.closed = true
    for (const c of this.idle.splice(0)) c.destroy()
    for (const c of this.all) if (!c.exchange) c.destroy()
  }
}

// The upstream's HTTP/1.1 responses, parsed strictly on Buffers (RFC 9112): the status line and
// header fields, the body's framing (Content-Length, chunked, close-delimited; no body for HEAD,
// 1xx, 204 and 304), chunked decoding. Anything ambiguous is an error, never forwarded: the
// proxy answers 502 (a response a proxy misreads is how responses get smuggled to the app).

/** What the parser hands on: the head, body bytes (slices of the chunks it was fed), the end. */
export interface ResponseSink {
  /** A final (non-1xx) response head; raw is [name, value, ...] as sent (latin1). */
  onHead(status: number, reason: string, raw: string[]): void
  /** `last`: the body is complete with this chunk (a Content-Length body's final bytes). */
  onBody(chunk: Buffer, last: boolean): void
  /** The response is complete; `reusable` says the connection may carry another request. */
  onEnd(reusable: boolean): void
}

/** A malformed response; the codes are llhttp's names for the same faults. */
export class ResponseParseError extends Error {
  override name = 'ResponseParseError'
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

enum State {
  Head = 0,
  Length = 1,
  ChunkSize = 2,
  ChunkData = 3,
  /** The CRLF after a chunk's data. */
  ChunkEnd = 4,
  Trailers = 5,
  /** Read until the upstream closes (no length, not chunked). */
  UntilClose = 6,
  Done = 7,
}

/** RFC 9110 5.6.2 token characters, for field names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** Controls other than HTAB (RFC 9110 5.5): never valid in a field line or the status line. */
const CTL = /[\x00-\x08\x0a-\x1f\x7f]/
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d) ?(.*)$/
/** A chunk-size line: hex digits, optional extensions (RFC 9112 7.1.1). */
const CHUNK_SIZE = /^([0-9a-fA-F]{1,12})(?:[ \t]*;.*)?$/
const CRLF = 0x0a0d // "\r\n" read as a little-endian uint16

/** Trims spaces and tabs only (String.trim would also eat 0xA0, a valid obs-text byte). */
function trimOws(s: string): string {
  let a = 0
  let b = s.length
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--
  return a === 0 && b === s.length ? s : s.slice(a, b)
}

/**
 * The rest of buf from `at`, kept for the next feed(): copied, as the chunks fed may be views of
 * a read buffer the connection reuses (h1-client.ts).
 */
function keep(buf: Buffer, at: number): Buffer {
  return Buffer.from(buf.subarray(at))
}

/**
 * One response at a time (no pipelining): `begin()` before each request, then `feed()` every
 * chunk the connection reads, and `eof()` when the upstream closes.
 */
export class ResponseParser {
  private state = State.Done
  private partial: Buffer | undefined
  private remaining = 0
  private head = false
  private keepAlive = true
  /** Keep-Alive: timeout=N from the last response, in ms (0: none said). */
  keepAliveHint = 0
  /** Set when bytes arrive after a complete response: the connection must not be reused. */
  extra = false
  /** Set by stop(): the request was abandoned, nothing more is parsed. */
  private stopped = false

  constructor(
    private readonly sink: ResponseSink,
    private readonly maxHeaderSize: number,
  ) {}

  /** Starts a response to a request with this method. */
  begin(method: string): void {
    this.state = State.Head
    this.partial = undefined
    this.head = method === 'HEAD'
    this.keepAliveHint = 0
    this.extra = false
    this.stopped = false
  }

  /** Abandons the response (the sink gave up on it): feed() parses nothing more. */
  stop(): void {
    this.stopped = true
    this.state = State.Done
    this.partial = undefined
  }

  /** True between the first byte of a response head and its end. */
  get started(): boolean {
    return this.state !== State.Head || this.partial !== undefined
  }

  get done(): boolean {
    return this.state === State.Done
  }

  /** True while the body runs until the upstream closes. */
  get untilClose(): boolean {
    return this.state === State.UntilClose
  }

  /**
   * Parses one chunk; throws ResponseParseError on a malformed response. The body slices handed
   * to the sink are views of `chunk`: the sink must copy what it keeps beyond the call.
   */
  feed(chunk: Buffer): void {
    let buf = chunk
    let at = 0
    if (this.partial) {
      buf = Buffer.concat([this.partial, chunk])
      this.partial = undefined
    }
    while (at < buf.length && !this.stopped) {
      switch (this.state) {
        case State.Head: {
          const end = buf.indexOf('\r\n\r\n', at, 'latin1')
          if (end === -1) {
            if (buf.length - at > this.maxHeaderSize)
              throw new ResponseParseError('HPE_HEADER_OVERFLOW', 'response headers too large')
            this.partial = keep(buf, at)
            return
          }
          if (end - at > this.maxHeaderSize)
            throw new ResponseParseError('HPE_HEADER_OVERFLOW', 'response headers too large')
          const text = buf.toString('latin1', at, end)
          at = end + 4
          if (this.parseHead(text, buf.length - at)) return
          break
        }
        case State.Length: {
          const n = Math.min(this.remaining, buf.length - at)
          this.remaining -= n
          const slice = buf.subarray(at, at + n)
          at += n
          this.sink.onBody(slice, this.remaining === 0)
          if (this.remaining === 0 && !this.stopped) {
            this.complete(buf.length - at)
            return
          }
          break
        }
        case State.UntilClose: {
          this.sink.onBody(at === 0 ? buf : buf.subarray(at), false)
          return
        }
        case State.ChunkData: {
          const n = Math.min(this.remaining, buf.length - at)
          this.remaining -= n
          const slice = buf.subarray(at, at + n)
          at += n
          this.sink.onBody(slice, false)
          if (this.remaining === 0) this.state = State.ChunkEnd
          break
        }
        case State.ChunkEnd: {
          if (buf.length - at < 2) {
            this.partial = keep(buf, at)
            return
          }
          if (buf.readUInt16LE(at) !== CRLF)
            throw new ResponseParseError('HPE_STRICT', 'chunk data not followed by CRLF')
          at += 2
          this.state = State.ChunkSize
          break
        }
        case State.ChunkSize:
        case State.Trailers: {
          const eol = buf.indexOf('\r\n', at, 'latin1')
          if (eol === -1) {
            if (buf.length - at > this.maxHeaderSize)
              throw new ResponseParseError('HPE_HEADER_OVERFLOW', 'chunk line or trailers too large')
            this.partial = keep(buf, at)
            return
          }
          const line = buf.toString('latin1', at, eol)
          at = eol + 2
          if (this.state === State.Trailers) {
            // Trailer fields are not forwarded (the app's response has none); an empty line ends them.
            if (line === '') {
              this.complete(buf.length - at)
              return
            }
            if (CTL.test(line) || line.indexOf(':') <= 0)
              throw new ResponseParseError('HPE_INVALID_HEADER_TOKEN', 'malformed trailer field')
            break
          }
          const m = CHUNK_SIZE.exec(line)
          if (!m || CTL.test(line))
            throw new ResponseParseError('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size')
          const size = Number.parseInt(m[1]!, 16)
          if (size === 0) this.state = State.Trailers
          else {
            this.remaining = size
            this.state = State.ChunkData
          }
          break
        }
        default:
          // Bytes after a complete response, with one request at a time: the upstream is out of step.
          this.extra = true
          return
      }
    }
  }

  /** The upstream closed: completes a close-delimited body, else the response was cut short. */
  eof(): boolean {
    if (this.state === State.UntilClose) {
      this.state = State.Done
      this.sink.onEnd(false)
      return true
    }
    return this.state === State.Done
  }

  /** The response is complete; `rest` bytes followed it in the same read (the upstream is out of step). */
  private complete(rest: number): void {
    this.state = State.Done
    if (rest > 0) this.extra = true
    this.sink.onEnd(this.keepAlive && rest === 0)
  }

  /** Parses a head; true when the response is complete with it (no body), so feed() stops. */
  private parseHead(text: string, rest: number): boolean {
    const lines = text.split('\r\n')
    const m = STATUS_LINE.exec(lines[0]!)
    if (!m || CTL.test(lines[0]!)) throw new ResponseParseError('HPE_INVALID_STATUS', 'invalid status line')
    const http10 = m[1] === '0'
    const status = Number(m[2])
    const raw: string[] = []
    let length = -1
    let chunked = false
    let te = false
    let closeToken = false
    let keepAliveToken = false
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!
      const colon = line.indexOf(':')
      // No obs-fold (a line starting with whitespace), no empty name, no control characters.
      if (colon <= 0 || CTL.test(line))
        throw new ResponseParseError('HPE_INVALID_HEADER_TOKEN', 'malformed header field')
      const name = line.slice(0, colon)
      if (!TOKEN.test(name)) throw new ResponseParseError('HPE_INVALID_HEADER_TOKEN', 'invalid header name')
      const value = trimOws(line.slice(colon + 1))
      raw.push(name, value)
      // Only names of these lengths can be the framing headers: lower-case just those.
      const n = name.length
      if (n !== 14 && n !== 17 && n !== 10) continue
      const lower = name.toLowerCase()
      if (lower === 'content-length') {
        if (!/^\d{1,15}$/.test(value))
          throw new ResponseParseError('HPE_INVALID_CONTENT_LENGTH', 'invalid Content-Length')
        const v = Number(value)
        if (length !== -1 && length !== v)
          throw new ResponseParseError('HPE_INVALID_CONTENT_LENGTH', 'conflicting Content-Length values')
        length = v
      } else if (lower === 'transfer-encoding') {
        // Only plain chunked: other transfer codings would reach the app undeclared.
        if (te || value.toLowerCase() !== 'chunked')
          throw new ResponseParseError('HPE_INVALID_TRANSFER_ENCODING', 'unsupported Transfer-Encoding')
        te = true
        chunked = true
      } else if (lower === 'connection') {
        for (const t of value.toLowerCase().split(',')) {
          const tok = trimOws(t)
          if (tok === 'close') closeToken = true
          else if (tok === 'keep-alive') keepAliveToken = true
        }
      } else if (lower === 'keep-alive') {
        const t = /(?:^|[,;\s])timeout=(\d+)/i.exec(value)
        if (t) this.keepAliveHint = Number(t[1]) * 1000
      }
    }
    if (te && length !== -1)
      throw new ResponseParseError(
        'HPE_UNEXPECTED_CONTENT_LENGTH',
        'both Content-Length and Transfer-Encoding',
      )
    if (te && http10)
      throw new ResponseParseError(
        'HPE_INVALID_TRANSFER_ENCODING',
        'Transfer-Encoding in an HTTP/1.0 response',
      )
    if (status < 200) {
      // 100 Continue, 103 Early Hints: informational, a final response follows. 101 we never asked for.
      if (status === 101)
        throw new ResponseParseError('HPE_INVALID_STATUS', 'unexpected 101 Switching Protocols')
      this.keepAliveHint = 0
      return false
    }
    // HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 only when it says keep-alive.
    this.keepAlive = !closeToken && (!http10 || keepAliveToken)
    this.sink.onHead(status, m[3]!, raw)
    if (this.stopped) return true
    if (this.head || status === 204 || status === 304 || length === 0) {
      this.complete(rest)
      return true
    }
    if (chunked) this.state = State.ChunkSize
    else if (length > 0) {
      this.remaining = length
      this.state = State.Length
    } else {
      this.keepAlive = false
      this.state = State.UntilClose
    }
    return false
  }
}

// ---------------------------------------------------------------------------------------------
// The app's requests (the downstream side, h1-server.ts), parsed as strictly as llhttp does for
// node:http: what two parsers could read differently is refused (400), never forwarded.

/** A malformed request: `status` is what the app gets (400, or 431 for an oversized head). */
export class RequestParseError extends Error {
  override name = 'RequestParseError'
  constructor(
    readonly code: string,
    message: string,
    readonly status: 400 | 431 = 400,
  ) {
    super(message)
  }
}

/** A request head as the parser hands it on. */
export interface RequestHead {
  method: string
  /** The request target as sent (latin1), e.g. `/v1/items?q=1`. */
  url: string
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number
  /** [name, value, ...] as sent (names in their case, values trimmed of OWS). */
  rawHeaders: string[]
  host: string | undefined
  /** The body's length; -1 for a chunked body. 0: no body. */
  contentLength: number
  /** The connection may carry another request after this one (HTTP/1.1 unless `close`, 1.0 with `keep-alive`). */
  keepAlive: boolean
  /** `Connection: upgrade` with an `Upgrade` header: the upgrade's protocol. */
  upgrade: string | undefined
  /** The Expect header, lower-cased (`100-continue`), if any. */
  expect: string | undefined
}

export interface RequestSink {
  /** A complete head; body bytes (if any) follow through onBody, then onBodyEnd. */
  onHead(head: RequestHead): void
  /** Body bytes (de-chunked), slices of the pushed chunks (views of a borrowed one: copy to keep). */
  onBody(chunk: Buffer): void
  /** The request (head and body) is complete. */
  onBodyEnd(): void
}

/** http(s)://authority[/path][?query]: no userinfo, the authority not empty. */
const ABSOLUTE_FORM = /^https?:\/\/([^/?#@]+)([/?][^#]*)?$/i
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^ ]+) HTTP\/1\.([01])$/
const CR = 13
const LF = 10

/**
 * One request at a time: `push()` what the connection reads, `run()` parses what is buffered up to
 * the end of one request (bytes after it stay buffered: pipelined requests wait until the
 * response is written), `next()` to start on the following request.
 */
export class RequestParser {
  private state = State.Head
  /** Unparsed bytes (after the head: the body's, or the next requests'). */
  private buf: Buffer | undefined
  /** An incomplete head: its pieces, their length, and how much of CRLF CRLF ends them. */
  private parts: Buffer[] = []
  private partLen = 0
  private crlf = 0
  private remaining = 0
  private trailerBytes = 0
  /** The memory of the chunk the last push() kept as it is, while it is borrowed (until settle()). */
  private loan: ArrayBufferLike | undefined

  constructor(
    private readonly sink: RequestSink,
    private readonly maxHeaderSize: number,
  ) {}

  /** Bytes buffered and not parsed yet (a partial head, or pipelined requests). */
  get buffered(): number {
    return this.partLen + (this.buf?.length ?? 0)
  }

  /** True between a request's head and the end of its body. */
  get inBody(): boolean {
    return this.state !== State.Head && this.state !== State.Done
  }

  /** True once a request is complete, until next(). */
  get done(): boolean {
    return this.state === State.Done
  }

  /** Some bytes of a head have arrived (a request has started). */
  get started(): boolean {
    return this.state === State.Head && this.buffered > 0
  }

  /**
   * Buffers a read. `borrowed`: the chunk is a view of a read buffer its connection shares with
   * others (h1-server.ts), valid only until settle(), which copies what of it is still kept.
   */
  push(chunk: Buffer, borrowed = false): void {
    if (chunk.length === 0) return
    if (this.buf === undefined || this.buf.length === 0) {
      this.buf = chunk
      if (borrowed) this.loan = chunk.buffer
    } else this.buf = Buffer.concat([this.buf, chunk])
  }

  /**
   * The end of a borrowed read: the unparsed bytes still viewing the borrowed memory (a partial
   * head, pipelined requests, a body held back) are copied, as the next read overwrites it. A
   * request parsed whole in its read keeps nothing: no copy.
   */
  settle(): void {
    const loan = this.loan
    if (loan === undefined) return
    this.loan = undefined
    if (this.buf !== undefined && this.buf.buffer === loan) this.buf = Buffer.from(this.buf)
    // Only the last piece of a partial head can be from this read (earlier ones were settled).
    const last = this.parts.length - 1
    if (last >= 0 && this.parts[last]!.buffer === loan) this.parts[last] = Buffer.from(this.parts[last]!)
  }

  /**
   * Takes the buffered bytes (the start of an upgraded connection's stream): a copy when they are
   * borrowed (the tunnel may write them after the read that brought them).
   */
  take(): Buffer {
    const b = this.buf ?? Buffer.alloc(0)
    this.buf = undefined
    return this.loan !== undefined && b.buffer === this.loan ? Buffer.from(b) : b
  }

  /** Ready for the next request (the previous one is answered). */
  next(): void {
    this.state = State.Head
  }

  /** Parses buffered bytes until they run out or a request is complete; throws RequestParseError. */
  run(): void {
    while (this.buf !== undefined && this.buf.length > 0) {
      const buf = this.buf
      switch (this.state) {
        case State.Head: {
          if (this.parts.length === 0 && (buf[0] === CR || buf[0] === LF)) {
            // Empty lines before a request line are skipped, however many (RFC 9112 2.2; llhttp
            // and Envoy's parsers skip them too): some clients end a body with an extra CRLF.
            let i = 1
            while (i < buf.length && (buf[i] === CR || buf[i] === LF)) i++
            this.buf = i === buf.length ? undefined : buf.subarray(i)
            continue
          }
          const end = this.headEnd(buf)
          if (end === -1) {
            this.buf = undefined
            return
          }
          this.buf = end === buf.length ? undefined : buf.subarray(end)
          let head: Buffer
          if (this.parts.length === 0) head = buf.subarray(0, end - 4)
          else {
            this.parts.push(buf.subarray(0, end))
            head = Buffer.concat(this.parts, this.partLen + end - 4)
            this.parts = []
            this.partLen = 0
            this.crlf = 0
          }
          if (head.length > this.maxHeaderSize) throw tooLarge()
          this.parseHead(head.toString('latin1'))
          break
        }
        case State.Length: {
          const n = Math.min(this.remaining, buf.length)
          this.remaining -= n
          this.buf = n === buf.length ? undefined : buf.subarray(n)
          if (this.remaining === 0) this.state = State.Done
          this.sink.onBody(n === buf.length ? buf : buf.subarray(0, n))
          if (this.state === State.Done) {
            this.sink.onBodyEnd()
            return
          }
          break
        }
        case State.ChunkData: {
          const n = Math.min(this.remaining, buf.length)
          this.remaining -= n
          this.buf = n === buf.length ? undefined : buf.subarray(n)
          if (this.remaining === 0) this.state = State.ChunkEnd
          this.sink.onBody(n === buf.length ? buf : buf.subarray(0, n))
          break
        }
        case State.ChunkEnd: {
          if (buf.length < 2) return
          if (buf[0] !== CR || buf[1] !== LF)
            throw new RequestParseError('HPE_STRICT', 'chunk data not followed by CRLF')
          this.buf = buf.subarray(2)
          this.state = State.ChunkSize
          break
        }
        case State.ChunkSize:
        case State.Trailers: {
          const eol = buf.indexOf('\r\n', 0, 'latin1')
          if (eol === -1) {
            if (buf.length > this.maxHeaderSize)
              throw new RequestParseError('HPE_HEADER_OVERFLOW', 'chunk line or trailers too large', 431)
            return
          }
          const line = buf.toString('latin1', 0, eol)
          this.buf = buf.subarray(eol + 2)
          if (CTL.test(line))
            throw new RequestParseError('HPE_INVALID_CHUNK_SIZE', 'control character in a chunk line')
          if (this.state === State.Trailers) {
            // Trailer fields are not forwarded (the upstream gets the body only); an empty line ends them.
            if (line === '') {
              this.state = State.Done
              this.sink.onBodyEnd()
              return
            }
            this.trailerBytes += eol + 2
            if (this.trailerBytes > this.maxHeaderSize) throw tooLarge()
            if (line.indexOf(':') <= 0)
              throw new RequestParseError('HPE_INVALID_HEADER_TOKEN', 'malformed trailer field')
            break
          }
          const m = CHUNK_SIZE.exec(line)
          if (!m) throw new RequestParseError('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size')
          const size = Number.parseInt(m[1]!, 16)
          if (size === 0) {
            this.state = State.Trailers
            this.trailerBytes = 0
          } else {
            this.remaining = size
            this.state = State.ChunkData
          }
          break
        }
        default:
          // Done: the rest waits for next() (pipelined requests are answered in order).
          return
      }
    }
  }

  /** Where the head ends in buf (after CRLF CRLF), else -1 (buf kept as a part of the head). */
  private headEnd(buf: Buffer): number {
    if (this.parts.length === 0) {
      const i = buf.indexOf('\r\n\r\n', 0, 'latin1')
      if (i !== -1) return i + 4
      if (buf.length > this.maxHeaderSize) throw tooLarge()
      // A head with bare LF line ends would never complete: refused now, not after the headers
      // timeout (a complete head with one fails the control-character check instead).
      for (let j = buf.indexOf(LF); j !== -1; j = buf.indexOf(LF, j + 1))
        if (j === 0 || buf[j - 1] !== CR) throw bareLf()
      // How much of CRLF CRLF the piece ends with (at most 3 bytes of it).
      let s = 0
      for (let j = Math.max(0, buf.length - 3); j < buf.length; j++) s = step(s, buf[j]!)
      this.crlf = s
      this.parts.push(buf)
      this.partLen = buf.length
      return -1
    }
    // A head in pieces (slow senders): one pass over the new bytes, no re-scanning of the old.
    let s = this.crlf
    for (let j = 0; j < buf.length; j++) {
      const b = buf[j]!
      if (b === LF && s !== 1 && s !== 3) throw bareLf()
      s = step(s, b)
      if (s === 4) return j + 1
    }
    this.crlf = s
    this.parts.push(buf)
    this.partLen += buf.length
    if (this.partLen > this.maxHeaderSize) throw tooLarge()
    return -1
  }

  private parseHead(text: string): void {
    // A client may send empty lines before a request (RFC 9112 2.2).
    let start = 0
    while (text.startsWith('\r\n', start)) start += 2
    const lines = (start === 0 ? text : text.slice(start)).split('\r\n')
    const first = lines[0]!
    const m = REQUEST_LINE.exec(first)
    if (!m || CTL.test(first)) throw new RequestParseError('HPE_INVALID_REQUEST_LINE', 'invalid request line')
    const minor = m[3] === '0' ? 0 : 1
    const rawHeaders: string[] = []
    let host: string | undefined
    let hosts = 0
    let length = -1
    let te = false
    let close = false
    let keepAliveToken = false
    let upgradeToken = false
    let upgrade: string | undefined
    let expect: string | undefined
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!
      const colon = line.indexOf(':')
      // No obs-fold (a line starting with whitespace), no empty name, no control characters.
      if (colon <= 0 || CTL.test(line))
        throw new RequestParseError('HPE_INVALID_HEADER_TOKEN', 'malformed header field')
      const name = line.slice(0, colon)
      // A space before the colon is refused (RFC 9112 5.1): "Transfer-Encoding : chunked" smuggles.
      if (!TOKEN.test(name)) throw new RequestParseError('HPE_INVALID_HEADER_TOKEN', 'invalid header name')
      const value = trimOws(line.slice(colon + 1))
      rawHeaders.push(name, value)
      const n = name.length
      // Only names of these lengths matter here: lower-case just those.
      if (n !== 4 && n !== 6 && n !== 7 && n !== 10 && n !== 14 && n !== 17) continue
      const lower = name.toLowerCase()
      if (lower === 'host') {
        host = value
        hosts++
      } else if (lower === 'content-length') {
        // One value, digits only: two Content-Length headers (even equal ones) are refused.
        if (length !== -1 || !/^\d{1,15}$/.test(value))
          throw new RequestParseError('HPE_INVALID_CONTENT_LENGTH', 'invalid or repeated Content-Length')
        length = Number(value)
      } else if (lower === 'transfer-encoding') {
        // Only plain chunked, once: anything else could be framed differently by the upstream.
        if (te || value.toLowerCase() !== 'chunked')
          throw new RequestParseError('HPE_INVALID_TRANSFER_ENCODING', 'unsupported Transfer-Encoding')
        te = true
      } else if (lower === 'connection') {
        for (const t of value.toLowerCase().split(',')) {
          const tok = trimOws(t)
          if (tok === 'close') close = true
          else if (tok === 'keep-alive') keepAliveToken = true
          else if (tok === 'upgrade') upgradeToken = true
        }
      } else if (lower === 'upgrade') upgrade = value
      else if (lower === 'expect') expect = value.toLowerCase()
    }
    if (te && length !== -1)
      throw new RequestParseError(
        'HPE_UNEXPECTED_CONTENT_LENGTH',
        'both Content-Length and Transfer-Encoding',
      )
    if (te && minor === 0)
      throw new RequestParseError('HPE_INVALID_TRANSFER_ENCODING', 'Transfer-Encoding in an HTTP/1.0 request')
    // RFC 9112 3.2: a request without Host, or with two, gets 400.
    if (hosts > 1 || (hosts === 0 && minor === 1))
      throw new RequestParseError(
        'HPE_INVALID_HOST',
        hosts > 1 ? 'more than one Host header' : 'no Host header',
      )
    const contentLength = te ? -1 : length === -1 ? 0 : length
    let url = m[2]!
    if (url.charCodeAt(0) !== 47 && m[1] !== 'CONNECT') {
      // Absolute-form (RFC 9112 3.2.2), what clients told to use a proxy (http_proxy) send: its
      // authority replaces Host and the path is routed as any other, as Envoy does (its
      // allow_absolute_url is on by default). Only the route table's clusters are reachable.
      const a = ABSOLUTE_FORM.exec(url)
      if (a) {
        host = a[1]!
        const rest = a[2] ?? ''
        url = rest.charCodeAt(0) === 47 ? rest : `/${rest}`
      }
    }
    const head: RequestHead = {
      method: m[1]!,
      url,
      minor,
      rawHeaders,
      host,
      contentLength,
      keepAlive: !close && (minor === 1 || keepAliveToken),
      // An h2c upgrade (RFC 7540 3.2) is not one we take: it is ignored and the request is served
      // as HTTP/1.1, as Envoy does (its PR 7981); tunnelling it failed every request of clients
      // that offer h2c by default (curl --http2, Java's HttpClient) with a 502.
      upgrade: upgradeToken && upgrade !== undefined && upgrade.toLowerCase() !== 'h2c' ? upgrade : undefined,
      expect,
    }
    // After an upgrade's head the bytes are the new protocol's: the connection takes them (take()).
    if (head.upgrade !== undefined) this.state = State.Done
    else if (te) this.state = State.ChunkSize
    else if (contentLength > 0) {
      this.remaining = contentLength
      this.state = State.Length
    } else this.state = State.Done
    this.sink.onHead(head)
    if (this.state === State.Done && head.upgrade === undefined) this.sink.onBodyEnd()
  }
}

function bareLf(): RequestParseError {
  return new RequestParseError('HPE_CR_EXPECTED', 'a line of the request head ends in LF without CR')
}

function tooLarge(): RequestParseError {
  return new RequestParseError('HPE_HEADER_OVERFLOW', 'request headers too large', 431)
}

/** One byte of the CRLF CRLF matcher: how many of its bytes the input now ends with. */
function step(s: number, b: number): number {
  if (b === CR) return s === 2 ? 3 : 1
  if (b === LF && (s === 1 || s === 3)) return s + 1
  return 0
}

// The upstream response parser: expected results are written out by hand, and every response is
// also fed split at every byte boundary (a response arrives in whatever pieces TLS records make).

import { describe, expect, it } from 'vitest'
import {
  type RequestHead,
  RequestParseError,
  RequestParser,
  ResponseParseError,
  ResponseParser,
} from './h1-parser.ts'

interface Parsed {
  heads: Array<{ status: number; reason: string; raw: string[] }>
  body: string
  ends: boolean[]
}

function parser(maxHeaderSize = 1024) {
  const out: Parsed = { heads: [], body: '', ends: [] }
  const p = new ResponseParser(
    {
      onHead: (status, reason, raw) => out.heads.push({ status, reason, raw }),
      onBody: (c) => {
        out.body += c.toString('latin1')
      },
      onEnd: (reusable) => out.ends.push(reusable),
    },
    maxHeaderSize,
  )
  return { p, out }
}

/** Parses `text` whole, then split in two at every offset; every way must give the same result. */
function parseAllWays(text: string, method = 'GET', close = false): Parsed {
  const bytes = Buffer.from(text, 'latin1')
  const whole = parser()
  whole.p.begin(method)
  whole.p.feed(bytes)
  if (close) whole.p.eof()
  for (let i = 1; i < bytes.length; i++) {
    const split = parser()
    split.p.begin(method)
    split.p.feed(bytes.subarray(0, i))
    split.p.feed(bytes.subarray(i))
    if (close) split.p.eof()
    expect(split.out, `split at ${i}`).toEqual(whole.out)
  }
  return whole.out
}

function parseError(text: string, method = 'GET'): string {
  const { p } = parser()
  p.begin(method)
  try {
    p.feed(Buffer.from(text, 'latin1'))
  } catch (err) {
    expect(err).toBeInstanceOf(ResponseParseError)
    return (err as ResponseParseError).code
  }
  return 'no error'
}

describe('ResponseParser', () => {
  it('reads a Content-Length response and keeps the connection', () => {
    const r = parseAllWays('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b c \r\n\r\nhello')
    expect(r.heads).toEqual([{ status: 200, reason: 'OK', raw: ['Content-Length', '5', 'X-A', 'b c'] }])
    expect(r.body).toBe('hello')
    expect(r.ends).toEqual([true])
  })

  it('decodes chunked bodies with extensions and trailers', () => {
    const r = parseAllWays(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: t\r\n\r\n',
    )
    expect(r.body).toBe('hello, world!!!')
    expect(r.ends).toEqual([true])
  })

  it('reads a body until the upstream closes when it has no length, and does not reuse it', () => {
    const r = parseAllWays(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstreamed until close',
      'GET',
      true,
    )
    expect(r.body).toBe('streamed until close')
    expect(r.ends).toEqual([false])
  })

  it('gives no body to HEAD, 204 and 304 whatever the length says', () => {
    expect(parseAllWays('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 'HEAD')).toMatchObject({
      body: '',
      ends: [true],
    })
    expect(parseAllWays('HTTP/1.1 204 No Content\r\n\r\n').ends).toEqual([true])
    expect(parseAllWays('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n').ends).toEqual([true])
  })

  it('skips 1xx responses and reads the final one', () => {
    const r = parseAllWays(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    )
    expect(r.heads.map((h) => h.status)).toEqual([200])
    expect(r.body).toBe('ok')
  })

  it('honours Connection: close, HTTP/1.0 keep-alive and the Keep-Alive timeout hint', () => {
    expect(parseAllWays('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').ends).toEqual([
      false,
    ])
    expect(parseAllWays('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').ends).toEqual([false])
    expect(
      parseAllWays('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').ends,
    ).toEqual([true])
    const { p } = parser()
    p.begin('GET')
    p.feed(Buffer.from('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n'))
    expect(p.keepAliveHint).toBe(5000)
  })

  it('does not reuse a connection that sent bytes after the response', () => {
    const { p, out } = parser()
    p.begin('GET')
    p.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n'))
    expect(out.ends).toEqual([false])
    expect(p.extra).toBe(true)
  })

  it('refuses ambiguous framing and malformed heads (502, never forwarded)', () => {
    expect(parseError('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n')).toBe(
      'HPE_UNEXPECTED_CONTENT_LENGTH',
    )
    expect(parseError('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n')).toBe(
      'HPE_INVALID_CONTENT_LENGTH',
    )
    expect(parseError('HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n')).toBe('HPE_INVALID_CONTENT_LENGTH')
    expect(parseError('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n')).toBe(
      'HPE_INVALID_TRANSFER_ENCODING',
    )
    expect(
      parseError('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n'),
    ).toBe('HPE_INVALID_TRANSFER_ENCODING')
    expect(parseError('HTTP/1.1 200 OK\r\nX-A: b\r\n folded\r\n\r\n')).toBe('HPE_INVALID_HEADER_TOKEN')
    expect(parseError('HTTP/1.1 200 OK\r\nBad Name: b\r\n\r\n')).toBe('HPE_INVALID_HEADER_TOKEN')
    expect(parseError('HTTP/1.1 200 OK\r\nX-A: b\nX-B: c\r\n\r\n')).toBe('HPE_INVALID_HEADER_TOKEN')
    expect(parseError('HTTP/1.1 200 OK\r\nX-A: b\rc\r\n\r\n')).toBe('HPE_INVALID_HEADER_TOKEN')
    expect(parseError('HTTP/2.0 200 OK\r\n\r\n')).toBe('HPE_INVALID_STATUS')
    expect(parseError('HTTP/1.1 20 OK\r\n\r\n')).toBe('HPE_INVALID_STATUS')
    expect(parseError('HTTP/1.1 101 Switching Protocols\r\n\r\n')).toBe('HPE_INVALID_STATUS')
    expect(parseError('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')).toBe(
      'HPE_INVALID_CHUNK_SIZE',
    )
    expect(parseError('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n')).toBe('HPE_STRICT')
    expect(parseError(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`)).toBe('HPE_HEADER_OVERFLOW')
  })

  it('refuses oversized heads before they complete', () => {
    const { p } = parser(100)
    p.begin('GET')
    expect(() => p.feed(Buffer.from(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(200)}`))).toThrow(
      'response headers too large',
    )
  })

  it('reports a response cut short: eof() is false until the body is complete', () => {
    const { p, out } = parser()
    p.begin('GET')
    p.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhal'))
    expect(p.eof()).toBe(false)
    expect(out.ends).toEqual([])
  })
})

interface ParsedRequests {
  heads: Array<Pick<RequestHead, 'method' | 'url' | 'minor' | 'rawHeaders' | 'contentLength' | 'keepAlive'>>
  bodies: string[]
}

/** Feeds `pieces` and answers each request at once (next()), as a connection does. */
function parseRequests(pieces: Buffer[], maxHeaderSize = 1024): ParsedRequests {
  const out: ParsedRequests = { heads: [], bodies: [] }
  let done = false
  const p = new RequestParser(
    {
      onHead: (h) => {
        out.heads.push({
          method: h.method,
          url: h.url,
          minor: h.minor,
          rawHeaders: h.rawHeaders,
          contentLength: h.contentLength,
          keepAlive: h.keepAlive,
        })
        out.bodies.push('')
      },
      onBody: (c) => {
        out.bodies[out.bodies.length - 1] += c.toString('latin1')
      },
      onBodyEnd: () => {
        done = true
      },
    },
    maxHeaderSize,
  )
  for (const piece of pieces) {
    p.push(piece)
    for (;;) {
      p.run()
      if (!done) break
      done = false
      p.next()
    }
  }
  return out
}

/** Parses `text` whole, in two pieces at every offset, and one byte at a time: all must agree. */
function requestsAllWays(text: string): ParsedRequests {
  const bytes = Buffer.from(text, 'latin1')
  const whole = parseRequests([bytes])
  for (let i = 1; i < bytes.length; i++) {
    expect(parseRequests([bytes.subarray(0, i), bytes.subarray(i)]), `split at ${i}`).toEqual(whole)
  }
  const bytewise = [...bytes].map((b) => Buffer.from([b]))
  expect(parseRequests(bytewise), 'byte by byte').toEqual(whole)
  return whole
}

function requestError(text: string, maxHeaderSize = 1024): { code: string; status: number } | 'no error' {
  try {
    parseRequests([Buffer.from(text, 'latin1')], maxHeaderSize)
  } catch (err) {
    expect(err).toBeInstanceOf(RequestParseError)
    return { code: (err as RequestParseError).code, status: (err as RequestParseError).status }
  }
  return 'no error'
}

describe('RequestParser', () => {
  it('reads pipelined requests: no body, Content-Length, chunked with extensions and trailers', () => {
    const r = requestsAllWays(
      // Empty lines before a request, however many, are skipped (llhttp and Envoy skip them too).
      '\r\n\r\n\r\nGET /a?q=1 HTTP/1.1\r\nHost: x\r\nX-A:  b c \r\n\r\n' +
        'POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\r\n\r\n' +
        'PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-T: t\r\n\r\n' +
        'GET /d HTTP/1.0\r\n\r\n',
    )
    expect(r.heads).toEqual([
      {
        method: 'GET',
        url: '/a?q=1',
        minor: 1,
        rawHeaders: ['Host', 'x', 'X-A', 'b c'],
        contentLength: 0,
        keepAlive: true,
      },
      {
        method: 'POST',
        url: '/b',
        minor: 1,
        rawHeaders: ['Host', 'x', 'Content-Length', '5'],
        contentLength: 5,
        keepAlive: true,
      },
      {
        method: 'PUT',
        url: '/c',
        minor: 1,
        rawHeaders: ['Host', 'x', 'Transfer-Encoding', 'chunked'],
        contentLength: -1,
        keepAlive: true,
      },
      { method: 'GET', url: '/d', minor: 0, rawHeaders: [], contentLength: 0, keepAlive: false },
    ])
    expect(r.bodies).toEqual(['', 'hello', 'hello, world!!!', ''])
  })

  it('keeps a request after the current one buffered until next()', () => {
    const heads: string[] = []
    const p = new RequestParser(
      { onHead: (h) => heads.push(h.url), onBody: () => {}, onBodyEnd: () => {} },
      1024,
    )
    p.push(Buffer.from('GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n'))
    p.run()
    expect(heads).toEqual(['/1'])
    expect(p.done).toBe(true)
    p.run()
    expect(heads).toEqual(['/1'])
    p.next()
    p.run()
    expect(heads).toEqual(['/1', '/2'])
  })

  it('honours Connection: close and HTTP/1.0 keep-alive, and sees Upgrade only with Connection: upgrade', () => {
    const heads: RequestHead[] = []
    const p = new RequestParser({ onHead: (h) => heads.push(h), onBody: () => {}, onBodyEnd: () => {} }, 1024)
    const one = (t: string) => {
      p.next()
      p.push(Buffer.from(t))
      p.run()
      return heads[heads.length - 1]!
    }
    expect(one('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n').keepAlive).toBe(false)
    expect(one('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').keepAlive).toBe(true)
    expect(one('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n').upgrade).toBeUndefined()
    const up = one(
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\nframe',
    )
    expect(up.upgrade).toBe('websocket')
    // The bytes after an upgrade's head are the new protocol's, not a request.
    expect(p.take().toString()).toBe('frame')
    // Absolute-form: the URL's authority is the Host, the path what is routed and forwarded.
    const abs = one('GET HTTP://Api.Test:8080?q=1 HTTP/1.1\r\nHost: other\r\n\r\n')
    expect([abs.url, abs.host]).toEqual(['/?q=1', 'Api.Test:8080'])
    const userinfo = one('GET http://u:p@api.test/x HTTP/1.1\r\nHost: x\r\n\r\n')
    expect([userinfo.url, userinfo.host]).toEqual(['http://u:p@api.test/x', 'x'])
    // An h2c offer is ignored (Envoy does too): a plain request, its body read as one.
    const h2c = one(
      'POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: H2C\r\nHTTP2-Settings: AAEAAEAA\r\nContent-Length: 2\r\n\r\nok',
    )
    expect(h2c.upgrade).toBeUndefined()
    expect(h2c.contentLength).toBe(2)
  })

  it('refuses what two parsers could frame differently (400), and oversized heads (431)', () => {
    const bad = (code: string) => ({ code, status: 400 })
    expect(
      requestError('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n'),
    ).toEqual(bad('HPE_UNEXPECTED_CONTENT_LENGTH'))
    expect(
      requestError('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n'),
    ).toEqual(bad('HPE_INVALID_CONTENT_LENGTH'))
    expect(requestError('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n')).toEqual(
      bad('HPE_INVALID_CONTENT_LENGTH'),
    )
    expect(requestError('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n')).toEqual(
      bad('HPE_INVALID_TRANSFER_ENCODING'),
    )
    expect(requestError('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n')).toEqual(
      bad('HPE_INVALID_HEADER_TOKEN'),
    )
    expect(requestError('GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n folded\r\n\r\n')).toEqual(
      bad('HPE_INVALID_HEADER_TOKEN'),
    )
    expect(requestError('GET / HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n')).toEqual(
      bad('HPE_INVALID_HEADER_TOKEN'),
    )
    // A head with bare LF line ends never completes: refused at once, whole or byte by byte.
    const lf = 'GET / HTTP/1.1\nHost: x\n\n'
    expect(requestError(lf)).toEqual(bad('HPE_CR_EXPECTED'))
    expect(() => parseRequests([...Buffer.from(lf)].map((b) => Buffer.from([b])))).toThrow('without CR')
    expect(requestError('GET / HTTP/1.1\r\nHost: x\n\n')).toEqual(bad('HPE_CR_EXPECTED'))
    expect(requestError('GET /a b HTTP/1.1\r\nHost: x\r\n\r\n')).toEqual(bad('HPE_INVALID_REQUEST_LINE'))
    expect(requestError('GET / HTTP/1.2\r\nHost: x\r\n\r\n')).toEqual(bad('HPE_INVALID_REQUEST_LINE'))
    expect(requestError('GET / HTTP/1.1\r\n\r\n')).toEqual(bad('HPE_INVALID_HOST'))
    expect(
      requestError('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n'),
    ).toEqual(bad('HPE_STRICT'))
    expect(requestError('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n')).toEqual(
      bad('HPE_INVALID_CHUNK_SIZE'),
    )
    expect(requestError(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`)).toEqual({
      code: 'HPE_HEADER_OVERFLOW',
      status: 431,
    })
    // In pieces too: refused once the buffered head passes the limit, before it completes.
    const pieces = Array.from({ length: 30 }, () =>
      Buffer.from('X-Slow: 0123456789012345678901234567890123456789\r\n'),
    )
    expect(() => parseRequests([Buffer.from('GET / HTTP/1.1\r\n'), ...pieces])).toThrow(
      'request headers too large',
    )
  })
})

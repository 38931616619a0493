// The upstream response parser: expected results are written out by hand, and every response is
// also fed split at every byte boundary (a response arrives in whatever pieces TLS records make).

import { describe, expect, it } from 'vitest'
import { ResponseParseError, ResponseParser } from './h1-parser.ts'

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

// The keep-alive client against raw TCP servers that write hand-built HTTP/1.1 bytes, so framing
// (Content-Length, chunked, close-delimited), split delivery and dropped keep-alive sockets are
// exercised exactly. Responses are built here, not by the code under test.
import { createServer, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { FetchConnectError, FetchTimeoutError, ParseError } from './errors.ts'
import { dechunk, HttpClient, parseHead, proxyV2Header } from './http-client.ts'

const servers: Server[] = []
const clients: HttpClient[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

/** A server that answers each request (one per line of "\r\n\r\n") with `respond`. */
async function rawServer(
  respond: (sock: Socket, n: number) => void,
): Promise<{ port: number; connections: () => number }> {
  let n = 0
  let conns = 0
  const srv = createServer((sock) => {
    conns++
    let buf = ''
    sock.on('data', (d) => {
      buf += d.toString('latin1')
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4)
        respond(sock, n++)
      }
    })
    sock.on('error', () => {})
  })
  servers.push(srv)
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const port = (srv.address() as { port: number }).port
  return { port, connections: () => conns }
}

const client = (port: number, maxBody = 1024) => {
  const c = new HttpClient({ host: '127.0.0.1', port, hostHeader: `127.0.0.1:${port}`, path: '/s', maxBody })
  clients.push(c)
  return c
}

/** Writes bytes one at a time, to split every boundary. */
async function dribble(sock: Socket, text: string) {
  for (const ch of Buffer.from(text, 'latin1')) {
    sock.write(Buffer.from([ch]))
    await new Promise((r) => setImmediate(r))
  }
}

describe('HttpClient', () => {
  it('reads Content-Length bodies and reuses the connection', async () => {
    const srv = await rawServer((s, n) => s.write(`HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nbody ${n}`))
    const c = client(srv.port)
    for (let i = 0; i < 3; i++) {
      const r = await c.get(2000)
      expect(r.status).toBe(200)
      expect(r.body.toString()).toBe(`body ${i}`)
    }
    expect(srv.connections()).toBe(1)
  })

  it('reads a chunked body delivered one byte at a time', async () => {
    const srv = await rawServer((s) => {
      void dribble(
        s,
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n',
      )
    })
    const r = await client(srv.port).get(5000)
    expect(r.body.toString()).toBe('hello, world')
  })

  it('reads a body delimited by the end of the connection', async () => {
    const srv = await rawServer((s) => s.end('HTTP/1.0 200 OK\r\n\r\nuntil close'))
    const c = client(srv.port)
    expect((await c.get(2000)).body.toString()).toBe('until close')
    expect((await c.get(2000)).body.toString()).toBe('until close')
    expect(srv.connections()).toBe(2)
  })

  it('skips an interim 100 answer', async () => {
    const srv = await rawServer((s) =>
      s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno'),
    )
    const r = await client(srv.port).get(2000)
    expect(r).toMatchObject({ status: 404 })
    expect(r.body.toString()).toBe('no')
  })

  it('sends the request again on a new connection when the server closed the idle one', async () => {
    const srv = await rawServer((s, n) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${n}`)
      // The server drops the keep-alive connection after the first answer, without saying so.
      if (n === 0) setTimeout(() => s.destroy(), 20)
    })
    const c = client(srv.port)
    expect((await c.get(2000)).body.toString()).toBe('0')
    await new Promise((r) => setTimeout(r, 60))
    expect((await c.get(2000)).body.toString()).toBe('1')
    expect(srv.connections()).toBe(2)
  })

  it('fails with a parse error on a non-HTTP answer and on a body over the limit', async () => {
    const junk = await rawServer((s) => s.write('SSH-2.0-OpenSSH_9.2\r\n\r\n'))
    await expect(client(junk.port).get(2000)).rejects.toThrow(ParseError)
    const big = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n'))
    await expect(client(big.port, 1024).get(2000)).rejects.toThrow(/5000 bytes, more than 1024/)
  })

  it('times out when the server never answers, and fails to connect where nothing listens', async () => {
    const silent = await rawServer(() => {})
    await expect(client(silent.port).get(200)).rejects.toThrow(FetchTimeoutError)
    const srv = createServer()
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    const port = (srv.address() as { port: number }).port
    await new Promise((r) => srv.close(r))
    await expect(client(port).get(2000)).rejects.toThrow(FetchConnectError)
  })

  it('fails when the connection closes in the middle of a body', async () => {
    const srv = await rawServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort'))
    await expect(client(srv.port).get(2000)).rejects.toThrow(/closed before the response was complete/)
  })
})

describe('framing helpers', () => {
  it('parses the head: length, chunked, keep-alive', () => {
    const text = 'HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\n'
    expect(parseHead(Buffer.from(text), text.length - 4)).toEqual({
      status: 200,
      bodyStart: text.length,
      length: 12,
      keepAlive: false,
    })
    const c = 'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n'
    expect(parseHead(Buffer.from(c), c.length - 4)).toMatchObject({ length: -1, keepAlive: true })
    const bad = 'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n'
    expect(() => parseHead(Buffer.from(bad), bad.length - 4)).toThrow(/Content-Length/)
  })

  it('dechunks only complete messages, at every split point', () => {
    const msg = Buffer.from('3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n')
    for (let cut = 0; cut < msg.length; cut++) expect(dechunk(msg.subarray(0, cut), 0, 100)).toBeUndefined()
    expect(dechunk(msg, 0, 100)?.toString()).toBe('abcde')
    expect(() => dechunk(Buffer.from('zz\r\n'), 0, 100)).toThrow(/chunk size/)
  })
})

describe('PROXY protocol v2 header', () => {
  const sig = '0d0a0d0a000d0a515549540a21'
  const of = (s: Partial<Socket>) => proxyV2Header(s as Socket).toString('hex')
  it('writes IPv4 source and destination, then ports', () => {
    expect(
      of({
        remoteFamily: 'IPv4',
        localAddress: '10.1.2.3',
        localPort: 40000,
        remoteAddress: '127.0.0.1',
        remotePort: 8080,
      }),
    ).toBe(`${sig}11000c0a0102037f0000019c401f90`)
  })
  it('expands IPv6 addresses, an IPv4-mapped one included', () => {
    expect(
      of({
        remoteFamily: 'IPv6',
        localAddress: '::ffff:10.0.0.1',
        localPort: 1,
        remoteAddress: 'fd00::2',
        remotePort: 2,
      }),
    ).toBe(`${sig}210024${'0'.repeat(20)}ffff0a000001fd00${'0'.repeat(26)}0200010002`)
  })
  it('names the socket path for a unix socket', () => {
    const h = proxyV2Header({} as Socket, '/run/nginx.sock')
    expect(h.subarray(12, 16).toString('hex')).toBe('213100d8')
    expect(h.subarray(16 + 108, 16 + 108 + 15).toString()).toBe('/run/nginx.sock')
    expect(h.length).toBe(16 + 216)
  })
})

// Our HTTP/1.1 upstream client (h1-client.ts) against a raw TLS upstream that writes exact bytes:
// keep-alive reuse, bodies framed every way, and responses a proxy must refuse (502) rather than
// forward: conflicting Content-Length / Transfer-Encoding, oversized or malformed heads.

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { createServer, type Server, type TLSSocket } from 'node:tls'
import { tempDir } from '@podkit/test-utils'
import { request } from 'undici'
import { describe, expect, it } from 'vitest'
import { normalize } from '../src/config.ts'
import { createHttpAmbassador } from '../src/index.ts'
import { fileFixtures, tlsCluster } from './helpers.ts'

const { pki, cleanups, inProcess } = fileFixtures()

interface RawUpstream {
  port: number
  /** Connections accepted so far. */
  connections: number
  /** Every request head received, as text. */
  heads: string[]
  /** Request bodies (bytes after each head, per connection, as text). */
  bodies: string[]
}

/**
 * A TLS upstream that answers each request head with `answer(head, socket)`'s bytes. Bodies are
 * collected but not parsed: the tests send small ones in one piece.
 */
async function rawUpstream(
  answer: (head: string, socket: TLSSocket) => string | undefined,
): Promise<RawUpstream> {
  const up: RawUpstream = { port: 0, connections: 0, heads: [], bodies: [] }
  const sockets = new Set<TLSSocket>()
  const server: Server = createServer({ cert: pki.server.cert, key: pki.server.key }, (socket) => {
    up.connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let buf = ''
    socket.on('data', (d) => {
      buf += d.toString('latin1')
      for (;;) {
        const end = buf.indexOf('\r\n\r\n')
        if (end === -1) return
        const head = buf.slice(0, end)
        const len = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0)
        const chunked = /\r\ntransfer-encoding: chunked/i.test(head)
        let bodyEnd = end + 4 + len
        if (chunked) {
          const last = buf.indexOf('0\r\n\r\n', end + 4)
          if (last === -1) return
          bodyEnd = last + 5
        }
        if (buf.length < bodyEnd) return
        up.heads.push(head)
        up.bodies.push(buf.slice(end + 4, bodyEnd))
        buf = buf.slice(bodyEnd)
        const out = answer(head, socket)
        if (out !== undefined) socket.write(out, 'latin1')
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  up.port = (server.address() as { port: number }).port
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  )
  return up
}

async function ambassador(port: number, cluster: Record<string, unknown> = {}) {
  return inProcess({
    listeners: [{ port: 0, routes: [{ prefix: '/', cluster: 'raw' }] }],
    clusters: [tlsCluster('raw', port, pki, cluster) as never],
  })
}

const ok = (body: string, extra = '') =>
  `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`

describe('HTTP/1.1 upstream client', () => {
  it('reuses one keep-alive connection for sequential requests', async () => {
    const up = await rawUpstream(() => ok('hi'))
    const a = await ambassador(up.port)
    for (let i = 0; i < 5; i++) {
      const res = await request(`${a.url}/n/${i}`)
      expect(await res.body.text()).toBe('hi')
    }
    expect(up.connections).toBe(1)
    expect(up.heads[4]).toMatch(/^GET \/n\/4 HTTP\/1\.1\r\n/)
    expect(up.heads[4]).toMatch(/\r\nhost: localhost:\d+/)
  })

  it('forwards chunked and close-delimited bodies, and does not reuse a closed-delimited connection', async () => {
    const up = await rawUpstream((head, socket) => {
      if (head.startsWith('GET /chunked'))
        return 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3;x=y\r\ndef\r\n0\r\nX-T: 1\r\n\r\n'
      socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close', 'latin1')
      return undefined
    })
    const a = await ambassador(up.port)
    const c = await request(`${a.url}/chunked`)
    expect(await c.body.text()).toBe('abcdef')
    const d = await request(`${a.url}/close`)
    expect(await d.body.text()).toBe('until close')
    const e = await request(`${a.url}/chunked`)
    expect(await e.body.text()).toBe('abcdef')
    expect(up.connections).toBe(2)
  })

  it('sends content-length: 0 for a POST without a body, and no body for HEAD, 204 and 304', async () => {
    const up = await rawUpstream((head) => {
      if (head.startsWith('HEAD')) return 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'
      if (head.includes('/204')) return 'HTTP/1.1 204 No Content\r\n\r\n'
      if (head.includes('/304')) return 'HTTP/1.1 304 Not Modified\r\nETag: "a"\r\n\r\n'
      return ok('posted')
    })
    const a = await ambassador(up.port)
    const p = await request(`${a.url}/post`, { method: 'POST' })
    expect(await p.body.text()).toBe('posted')
    expect(up.heads[0]).toMatch(/\r\ncontent-length: 0(\r\n|$)/)
    expect(up.heads[0]!.match(/content-length/gi)).toHaveLength(1)
    const h = await request(`${a.url}/head`, { method: 'HEAD' })
    expect(h.headers['content-length']).toBe('100')
    expect(await h.body.text()).toBe('')
    expect((await request(`${a.url}/204`)).statusCode).toBe(204)
    const n = await request(`${a.url}/304`)
    expect(n.statusCode).toBe(304)
    await n.body.text()
    // All on one connection: none of these left a body behind.
    const again = await request(`${a.url}/post`, { method: 'POST', body: 'abc' })
    expect(await again.body.text()).toBe('posted')
    expect(up.bodies.at(-1)).toBe('abc')
    expect(up.connections).toBe(1)
  })

  it('streams a chunked upload as chunked, and skips 100 Continue and 103 from the upstream', async () => {
    const up = await rawUpstream(
      () => `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n${ok('done')}`,
    )
    const a = await ambassador(up.port)
    const res = await request(`${a.url}/up`, {
      method: 'POST',
      body: Readable.from(['part1-', 'part2']),
    })
    expect(res.statusCode).toBe(200)
    expect(await res.body.text()).toBe('done')
    expect(up.heads[0]).toMatch(/\r\ntransfer-encoding: chunked/)
    expect(up.bodies[0]!.replace(/\r\n/g, '|')).toMatch(/part1-/)
    expect(up.bodies[0]).toMatch(/0\r\n\r\n$/)
  })

  it.each([
    [
      'Content-Length with Transfer-Encoding',
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    ],
    [
      'two different Content-Length values',
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
    ],
    ['an obs-folded header', 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n'],
    [
      'headers over 64 KiB',
      `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\nContent-Length: 0\r\n\r\n`,
    ],
    ['a status line that is not HTTP/1.x', 'HTTP/2 200\r\n\r\n'],
  ])('answers 502 to %s from the upstream, never forwarding it', async (_what, bytes) => {
    const up = await rawUpstream(() => bytes)
    const a = await ambassador(up.port)
    const res = await request(`${a.url}/x`)
    expect(res.statusCode).toBe(502)
    expect(res.headers['x-podkit-error']).toBe('PODKIT_HTTP_UPSTREAM_PROTOCOL')
    expect(await res.body.text()).toMatch(/protocol error/)
    const line = await a.waitLog((l) => l.msg === 'request' && l.status === 502)
    expect(String(line.reason)).toMatch(/^HPE_/)
  })

  it('gets a new connection when the upstream closed the idle one, or shortened keep-alive', async () => {
    const up = await rawUpstream((head, socket) => {
      if (head.includes('/bye')) {
        // The response says keep-alive, then the upstream closes the idle connection soon after.
        setTimeout(() => socket.end(), 50)
      }
      return ok('ok', head.includes('/short') ? 'Keep-Alive: timeout=1\r\n' : '')
    })
    const a = await ambassador(up.port)
    expect(await (await request(`${a.url}/bye`)).body.text()).toBe('ok')
    await new Promise((r) => setTimeout(r, 200))
    expect(await (await request(`${a.url}/short`)).body.text()).toBe('ok')
    // timeout=1 leaves no time to reuse it (closed a second before the upstream would).
    expect(await (await request(`${a.url}/next`)).body.text()).toBe('ok')
    expect(up.connections).toBe(3)
  })

  it('cuts the app connection when the upstream dies mid-body (no complete-looking response)', async () => {
    const up = await rawUpstream((_head, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial', 'latin1')
      setTimeout(() => socket.destroy(), 30)
      return undefined
    })
    const a = await ambassador(up.port)
    const res = await request(`${a.url}/cut`)
    expect(res.statusCode).toBe(200)
    await expect(res.body.text()).rejects.toThrow()
  })
})

describe('request head safety', () => {
  it('refuses header values with line breaks in the config, and in a header file at start', () => {
    const { issues } = normalize({
      listeners: [
        {
          port: 0,
          routes: [
            {
              prefix: '/',
              cluster: 'c',
              requestHeadersToAdd: { 'x-a': 'b\r\nx-injected: 1' },
              prefixRewrite: '/a b',
            },
          ],
        },
      ],
      clusters: [{ name: 'c', endpoints: ['127.0.0.1:1'] }],
    } as never)
    expect(issues.map((i) => i.key)).toEqual(
      expect.arrayContaining([
        'listeners.0.routes.0.requestHeadersToAdd.x-a',
        'listeners.0.routes.0.prefixRewrite',
      ]),
    )
    const dir = tempDir('podkit-h1-')
    cleanups.push(() => dir.cleanup())
    const file = join(dir.path, 'token')
    writeFileSync(file, 'Bearer a\nx-injected: 1\n')
    const { spec } = normalize({
      listeners: [
        {
          port: 0,
          routes: [{ prefix: '/', cluster: 'c', requestHeadersFromFiles: { authorization: file } }],
        },
      ],
      clusters: [{ name: 'c', endpoints: ['127.0.0.1:1'] }],
      resolve: {},
      accessLog: false,
      drainTime: '0s',
    } as never)
    expect(() => createHttpAmbassador(spec!)).toThrow(/line break/)
  })
})

// App connections read into one buffer per thread (h1-server.ts, APP_READ): every read starts at
// its first byte, so a read on one connection overwrites what the last read on any other left
// there. These tests interleave connections so that any view of that buffer kept past its read
// callback (a partial head, pipelined requests held while one is answered, a body chunk queued for
// a slow upstream, the bytes after an Upgrade's head) would be overwritten and arrive corrupted.

import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { imageNode, imageNodeOptions } from '@podkit/test-utils'
import { describe, expect, it } from 'vitest'
import { RequestParser } from '../src/h1-parser.ts'
import { fileFixtures, type Handler, spawnAmbassador, tlsCluster } from './helpers.ts'

const { pki, cleanups, proxied, upstream } = fileFixtures()

/**
 * The ambassador as the image runs it: the bundle on the images' Node (accepting on the shared
 * buffer follows that Node's net.Server internals), one listener routing to a test upstream.
 */
async function proxiedOnImageNode(handler?: Handler) {
  const u = await upstream(handler)
  const amb = await spawnAmbassador({
    node: imageNode(),
    env: { NODE_OPTIONS: imageNodeOptions('http-ambassador'), DRAIN_TIME: '100ms' },
    yaml: {
      listeners: [{ port: 0, routes: [{ prefix: '/', cluster: 'api' }] }],
      clusters: [tlsCluster('api', u.port, pki)],
    },
  })
  cleanups.push(() => amb.stop())
  return { port: amb.ports[0]!, u }
}

/** A raw client: what it received (latin1), and a wait for it. */
function client(port: number) {
  const socket = connect(port, '127.0.0.1')
  const c = { socket, out: '', closed: false }
  socket.on('data', (d) => {
    c.out += d.toString('latin1')
  })
  socket.on('error', () => {})
  socket.on('close', () => {
    c.closed = true
  })
  cleanups.push(() => socket.destroy())
  return c
}

async function until(test: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!test() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
  expect(test()).toBe(true)
}

const write = (s: Socket, data: string | Buffer) =>
  new Promise<void>((r, j) => s.write(data, (e) => (e ? j(e) : r())))
const answers = (out: string) => (out.match(/HTTP\/1\.1 200 OK/g) ?? []).length
/** A request that fills the read buffer's first bytes with other bytes than the test's. */
const noise = (i: number) => `GET /noise${i} HTTP/1.1\r\nHost: x\r\nX-Noise: ${'z'.repeat(200 + i)}\r\n\r\n`

/**
 * Feeds `pieces` as AppConnection does from the shared buffer: each copied into one scratch
 * buffer, pushed as borrowed, parsed (unless `hold`: pipelined bytes kept while a request is
 * answered), settled, and then the scratch is overwritten. Body chunks are copied by the sink,
 * as AppConnection.onBody does. Returns the heads (method url headers) and bodies.
 */
function parseBorrowed(pieces: Buffer[], hold: boolean): string[] {
  const scratch = Buffer.alloc(4096)
  const out: string[] = []
  let done = false
  const p = new RequestParser(
    {
      onHead: (h) => out.push(`${h.method} ${h.url} ${h.rawHeaders.join('|')}`, ''),
      onBody: (c) => {
        out[out.length - 1] += Buffer.from(c).toString('latin1')
      },
      onBodyEnd: () => {
        done = true
      },
    },
    1024,
  )
  const runAll = () => {
    for (;;) {
      p.run()
      if (!done) break
      done = false
      p.next()
    }
  }
  for (const piece of pieces) {
    piece.copy(scratch)
    p.push(scratch.subarray(0, piece.length), true)
    if (!hold) runAll()
    p.settle()
    scratch.fill(0x58)
  }
  runAll()
  return out
}

describe('RequestParser.settle', () => {
  it('keeps nothing of a borrowed read: split at every byte, parsed at once or held', () => {
    const text =
      'GET /a HTTP/1.1\r\nHost: x\r\nX-A: aaaa\r\n\r\n' +
      'POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' +
      'PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n' +
      'GET /d HTTP/1.1\r\nHost: y\r\n\r\n'
    const bytes = Buffer.from(text, 'latin1')
    const expected = [
      'GET /a Host|x|X-A|aaaa',
      '',
      'POST /b Host|x|Content-Length|5',
      'hello',
      'PUT /c Host|x|Transfer-Encoding|chunked',
      'helloabc',
      'GET /d Host|y',
      '',
    ]
    for (const hold of [false, true]) {
      expect(parseBorrowed([bytes], hold)).toEqual(expected)
      for (let i = 1; i < bytes.length; i++)
        expect(parseBorrowed([bytes.subarray(0, i), bytes.subarray(i)], hold), `split at ${i}`).toEqual(
          expected,
        )
      const bytewise = [...bytes].map((b) => Buffer.from([b]))
      expect(parseBorrowed(bytewise, hold), 'byte by byte').toEqual(expected)
    }
  })
})

describe.each([
  { where: 'in-process', setup: proxied },
  { where: "the bundle on the images' Node", setup: proxiedOnImageNode },
])('app reads on a shared buffer, $where', ({ setup }) => {
  it("keeps a partial head intact while other connections' reads overwrite the buffer", async () => {
    const { port, u } = await setup((req, res) => res.end(`${req.url} ${req.headers['x-a'] ?? ''}`))
    const a = client(port)
    const value = 'a'.repeat(300)
    // Head in three reads; between them, other connections' requests land in the same buffer.
    await write(a.socket, `GET /partial HTTP/1.1\r\nHost: x\r\nX-A: ${value.slice(0, 100)}`)
    await new Promise((r) => setTimeout(r, 30))
    for (let i = 0; i < 3; i++) {
      const b = client(port)
      await write(b.socket, noise(i))
      await until(() => answers(b.out) === 1)
    }
    await write(a.socket, value.slice(100))
    await new Promise((r) => setTimeout(r, 30))
    const c = client(port)
    await write(c.socket, noise(9))
    await until(() => answers(c.out) === 1)
    await write(a.socket, '\r\n\r\n')
    await until(() => a.out.endsWith(`/partial ${value}`))
    expect(u.requests.filter((r) => r.url === '/partial').map((r) => r.headers['x-a'])).toEqual([value])
  })

  it('answers pipelined requests split across reads, held while another connection sends', async () => {
    // /slow answers late: the requests behind it wait, buffered, while other connections read.
    const { port, u } = await setup((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('slow;'), 150)
      else res.end(`path=${req.url};`)
    })
    const a = client(port)
    await write(
      a.socket,
      'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nPOST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nsecondGET /th',
    )
    await new Promise((r) => setTimeout(r, 20))
    const others = [client(port), client(port)]
    for (const [i, o] of others.entries()) await write(o.socket, noise(i) + noise(i + 10))
    await write(a.socket, 'ird HTTP/1.1\r\nHost: x\r\n\r\nGET /fourth HTTP/1.1\r\nHo')
    for (const [i, o] of others.entries()) await write(o.socket, noise(i + 20))
    await write(a.socket, 'st: x\r\n\r\n')
    await until(() => a.out.includes('path=/fourth;'))
    expect([...a.out.matchAll(/\r\n\r\n(slow|path=\/\w+);/g)].map((m) => m[1])).toEqual([
      'slow',
      'path=/second',
      'path=/third',
      'path=/fourth',
    ])
    await until(() => others.every((o) => answers(o.out) === 3))
    const mine = u.requests.filter((r) => !r.url.startsWith('/noise')).map((r) => `${r.method} ${r.url}`)
    expect(mine).toEqual(['GET /slow', 'POST /second', 'GET /third', 'GET /fourth'])
    expect(a.closed).toBe(false)
  })

  it('streams a request body to a slow upstream intact while other connections send', async () => {
    const body = randomBytes(1024 * 1024)
    const { port } = await setup((req, res) => {
      if (req.url !== '/upload') {
        req.resume()
        req.on('end', () => res.end('ok'))
        return
      }
      // Reads nothing for a while: the body backs up in the proxy's queues (TLS writes waiting,
      // the request body's buffer), where a view of the read buffer would be overwritten.
      req.pause()
      const hash = createHash('sha256')
      setTimeout(() => {
        req.on('data', (d) => hash.update(d))
        req.on('end', () => res.end(hash.digest('hex')))
        req.resume()
      }, 400)
    })
    const a = client(port)
    await write(a.socket, `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`)
    const others = [client(port), client(port), client(port)]
    const sent = [0, 0, 0]
    // The upload in 16 KiB writes, each followed by other connections' requests with bodies.
    const sending = (async () => {
      for (let at = 0, i = 0; at < body.length; at += 16 * 1024, i++) {
        a.socket.write(body.subarray(at, at + 16 * 1024))
        if (i % 4 === 0) {
          const o = others[i % others.length]!
          sent[i % others.length]!++
          o.socket.write(`POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n${'q'.repeat(1000)}`)
        }
        if (a.socket.writableNeedDrain) await once(a.socket, 'drain')
        else await new Promise((r) => setImmediate(r))
      }
    })()
    await sending
    const expected = createHash('sha256').update(body).digest('hex')
    await until(() => a.out.includes(expected) || a.closed, 15_000)
    expect(a.out).toContain(expected)
    await until(() => others.every((o, i) => answers(o.out) === sent[i]))
    expect(sent.reduce((x, y) => x + y)).toBe(16)
  })

  it('hands an Upgrade tunnel the bytes after its head intact while other connections send', async () => {
    const { port, u } = await setup()
    const first = Buffer.from(`early:${'e'.repeat(200)}`)
    let upstreamGot = Buffer.alloc(0)
    u.server.on('upgrade', (_req, socket, head: Buffer) => {
      upstreamGot = Buffer.concat([upstreamGot, head])
      // Answers late: the bytes that came with the request head wait in the proxy meanwhile.
      setTimeout(() => {
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n')
        socket.on('data', (d: Buffer) => {
          upstreamGot = Buffer.concat([upstreamGot, d])
        })
      }, 100)
    })
    const a = client(port)
    await write(
      a.socket,
      Buffer.concat([
        Buffer.from('GET /tunnel HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n'),
        first,
      ]),
    )
    await new Promise((r) => setTimeout(r, 20))
    const b = client(port)
    for (let i = 0; i < 3; i++) await write(b.socket, noise(i))
    await until(() => a.out.includes('101 Switching Protocols'))
    // Through the tunnel now: these reads are copied onto the socket's stream for the pipe.
    const later = Buffer.from(`later:${'l'.repeat(300)}`)
    await write(a.socket, later)
    await write(b.socket, noise(5))
    await until(() => upstreamGot.length >= first.length + later.length)
    expect(upstreamGot.toString('latin1')).toBe(first.toString('latin1') + later.toString('latin1'))
    await until(() => answers(b.out) === 4)
  })

  it('stops reading a tunnel whose upstream stops reading, then delivers every byte in order while other connections send', async () => {
    const { port, u } = await setup()
    const payload = randomBytes(64 * 1024 * 1024)
    let upstreamSocket: Socket | undefined
    const hash = createHash('sha256')
    let received = 0
    u.server.on('upgrade', (_req, socket: Socket, head: Buffer) => {
      upstreamSocket = socket
      hash.update(head)
      received += head.length
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n')
      socket.on('data', (d: Buffer) => {
        hash.update(d)
        received += d.length
      })
      // Reads nothing until the test resumes it.
      socket.pause()
    })
    const a = client(port)
    a.socket.write('GET /tunnel HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n')
    await until(() => a.out.includes('101 Switching Protocols'))
    // The app writes as a stream does, waiting for 'drain' whenever its socket's buffer is full.
    let handed = 0
    const sending = (async () => {
      for (let at = 0; at < payload.length; at += 64 * 1024) {
        const piece = payload.subarray(at, at + 64 * 1024)
        handed += piece.length
        if (!a.socket.write(piece)) await once(a.socket, 'drain')
      }
    })()
    await new Promise((r) => setTimeout(r, 300))
    // Meanwhile other connections' reads overwrite the shared buffer: what the tunnel holds for
    // the pipe must be its own copies.
    const b = client(port)
    for (let i = 0; i < 5; i++) await write(b.socket, noise(i))
    await until(() => answers(b.out) === 5)
    // The proxy stopped reading the app: the app is held back with most of the payload unsent
    // (what is in flight is socket buffers, not the whole upload read into the proxy).
    expect(handed).toBeLessThan(payload.length / 2)
    upstreamSocket!.resume()
    await until(() => received >= payload.length, 30_000)
    await sending
    expect(received).toBe(payload.length)
    expect(hash.digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'))
  })
})

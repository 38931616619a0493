// The app-facing HTTP/1.1 server (h1-server.ts) on raw sockets: pipelining, HTTP/1.0, Expect,
// half-close, malformed heads, and the headers and keep-alive timeouts that keep a slow or idle
// client from holding a connection forever.

import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { sleep, waitFor } from '@podkit/test-utils'
import { describe, expect, it } from 'vitest'
import { H1Server, MAX_QUEUED_RESPONSE_BYTES } from '../src/h1-server.ts'
import { fileFixtures, tlsCluster } from './helpers.ts'

const { cleanups, pki, proxied, upstream, inProcess } = fileFixtures()

/** A raw client: everything it received, and whether the server closed the connection. */
class RawClient {
  out = ''
  closed = false
  readonly socket: Socket
  private waiters: Array<() => void> = []

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1')
    this.socket.on('data', (d) => {
      this.out += d.toString('latin1')
      this.wake()
    })
    this.socket.on('error', () => {})
    this.socket.on('close', () => {
      this.closed = true
      this.wake()
    })
    cleanups.push(() => {
      this.socket.destroy()
    })
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w()
  }

  /** Waits until `test` holds for what came in (or the connection closed), at most `ms`. */
  async until(test: (out: string) => boolean, ms = 3000): Promise<string> {
    const deadline = Date.now() + ms
    while (!test(this.out) && !this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()))
        this.waiters.push(() => {
          clearTimeout(t)
          r()
        })
      })
    }
    return this.out
  }
}

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length

/** Real curl: what it printed (with -i, the response head too). */
function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('curl', ['--max-time', '10', ...args], (err, stdout) => (err ? reject(err) : resolve(stdout))),
  )
}

describe('the app-facing HTTP/1.1 server', () => {
  it('answers pipelined requests in order, each forwarded once', async () => {
    const { port, u } = await proxied((req, res) => res.end(`path=${req.url}`))
    const c = new RawClient(port)
    c.socket.write(
      'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nPOST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /d HTTP/1.1\r\nHost: x\r\n\r\n',
    )
    const out = await c.until((o) => o.includes('path=/d'))
    expect(count(out, /HTTP\/1\.1 200 OK/g)).toBe(4)
    const order = [...out.matchAll(/path=(\/\w)/g)].map((m) => m[1])
    expect(order).toEqual(['/a', '/b', '/c', '/d'])
    expect(u.requests.map((r) => r.url)).toEqual(['/a', '/b', '/c', '/d'])
    expect(c.closed).toBe(false)
  })

  it('reads the next request on a kept-alive connection after an upload whose last bytes filled the body buffer', async () => {
    // The body's last chunk arrives while nothing reads the body yet (the upstream connection is
    // still being made): it fills the body's buffer, reading pauses, and the body then ends, so
    // nothing asks for more. The connection must still read the next request, not hang.
    const { port, u } = await proxied((req, res) => {
      let n = 0
      req.on('data', (d: Buffer) => {
        n += d.length
      })
      req.on('end', () => res.end(`${req.url} got=${n}`))
    })
    const c = new RawClient(port)
    const body = 'x'.repeat(20 * 1024)
    c.socket.write(`POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    await c.until((o) => o.includes('got=20480'))
    c.socket.write('GET /next HTTP/1.1\r\nHost: x\r\n\r\n')
    const out = await c.until((o) => o.includes('/next got=0'))
    expect(count(out, /HTTP\/1\.1 200 OK/g)).toBe(2)
    expect(u.requests.map((r) => r.url)).toEqual(['/up', '/next'])
  })

  it('skips empty lines between pipelined requests, and refuses a head with bare LF at once', async () => {
    const { port, u } = await proxied((req, res) => res.end(`path=${req.url}`))
    const c = new RawClient(port)
    c.socket.write(
      'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok\r\n\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n',
    )
    const out = await c.until((o) => o.includes('path=/b'))
    expect(count(out, /HTTP\/1\.1 200 OK/g)).toBe(2)
    expect(c.closed).toBe(false)
    // LF-only line ends (printf | nc): a 400 now, not a wait for the 60 s headers timeout.
    const lf = new RawClient(port)
    lf.socket.write('GET /c HTTP/1.1\nHost: x\n\n')
    expect(await lf.until(() => false, 2000)).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/)
    expect(lf.closed).toBe(true)
    expect(u.requests.map((r) => r.url)).toEqual(['/a', '/b'])
  })

  it('answers HTTP/1.0 without chunking, closing unless asked to keep alive', async () => {
    const { port } = await proxied((req, res) => {
      if (req.url === '/stream') {
        // No length: chunked from the upstream, close-delimited to an HTTP/1.0 app.
        res.write('one,')
        setTimeout(() => res.end('two'), 20)
      } else res.end('fixed')
    })
    const plain = new RawClient(port)
    plain.socket.write('GET /stream HTTP/1.0\r\n\r\n')
    const out = await plain.until(() => false, 2000)
    expect(plain.closed).toBe(true)
    expect(out).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(out.toLowerCase()).toContain('connection: close')
    expect(out.toLowerCase()).not.toContain('transfer-encoding')
    expect(out.endsWith('\r\n\r\none,two')).toBe(true)

    const kept = new RawClient(port)
    kept.socket.write('GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
    await kept.until((o) => o.endsWith('fixed'))
    expect(kept.out.toLowerCase()).toContain('connection: keep-alive')
    kept.socket.write('GET /b HTTP/1.0\r\n\r\n')
    await kept.until(() => false, 2000)
    expect(count(kept.out, /fixed/g)).toBe(2)
    expect(kept.closed).toBe(true)
  })

  it('sends 100 Continue before the body is sent, and 417 to other expectations', async () => {
    const { port, u } = await proxied((req, res) => {
      let body = ''
      req.on('data', (d) => {
        body += d
      })
      req.on('end', () => res.end(`got=${body}`))
    })
    const c = new RawClient(port)
    c.socket.write('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n')
    expect(await c.until((o) => o.includes('\r\n\r\n'))).toBe('HTTP/1.1 100 Continue\r\n\r\n')
    c.socket.write('hello')
    expect(await c.until((o) => o.endsWith('got=hello'))).toMatch(/HTTP\/1\.1 200 OK/)
    expect(u.requests[0]?.headers.expect).toBeUndefined()

    const other = new RawClient(port)
    other.socket.write('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: teapot\r\n\r\nhello')
    expect(await other.until(() => false, 2000)).toMatch(/^HTTP\/1\.1 417 /)
    expect(other.closed).toBe(true)
    expect(u.requests).toHaveLength(1)
  })

  it('serves an h2c upgrade offer (curl --http2, Java HttpClient) as plain HTTP/1.1, as Envoy does', async () => {
    const { port, u } = await proxied((req, res) => {
      let body = ''
      req.on('data', (d) => {
        body += d
      })
      req.on('end', () => res.end(`${req.method} ${req.url} body=${body}`))
    })
    // curl offers h2c on http:// URLs with --http2: Connection: Upgrade, HTTP2-Settings.
    const get = await curl(['-s', '-i', '--http2', `http://127.0.0.1:${port}/a`])
    expect(get).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(get.endsWith('GET /a body=')).toBe(true)
    const post = await curl(['-s', '-i', '--http2', '-d', 'hello=1', `http://127.0.0.1:${port}/b`])
    expect(post).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(post.endsWith('POST /b body=hello=1')).toBe(true)
    // Java's HttpClient sends the same offer on every request of a kept-alive connection.
    const c = new RawClient(port)
    const offer =
      'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAEAAEAAAAIAAAAA\r\n'
    c.socket.write(`POST /c HTTP/1.1\r\nHost: x\r\n${offer}Content-Length: 3\r\n\r\nabc`)
    await c.until((o) => o.endsWith('body=abc'))
    c.socket.write(`GET /d HTTP/1.1\r\nHost: x\r\n${offer}\r\n`)
    const out = await c.until((o) => o.endsWith('GET /d body='))
    expect(count(out, /HTTP\/1\.1 200 OK/g)).toBe(2)
    expect(c.closed).toBe(false)
    expect(u.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /a', 'POST /b', 'POST /c', 'GET /d'])
    for (const r of u.requests) {
      expect(r.headers.upgrade).toBeUndefined()
      expect(r.headers['http2-settings']).toBeUndefined()
    }
  })

  it('answers an app that half-closes after its request', async () => {
    const { port } = await proxied((_req, res) => setTimeout(() => res.end('late but whole'), 50))
    const c = new RawClient(port)
    c.socket.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    const out = await c.until(() => false, 2000)
    expect(out).toMatch(/^HTTP\/1\.1 200 OK/)
    expect(out.endsWith('late but whole')).toBe(true)
    expect(c.closed).toBe(true)
  })

  it.each([
    ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\n\r\n'],
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['a bare LF line end', 'GET / HTTP/1.1\r\nHost: a\nX-Sneaky: 1\r\n\r\n'],
    ['an obs-folded header', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n'],
    ['a bad request line', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['HTTP/2.0 in the request line', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n'],
    ['chunked in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['a NUL in a header value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n'],
  ])('refuses %s with 400 and closes that connection', async (_name, text) => {
    const { port, u } = await proxied((_req, res) => res.end('ok'))
    const c = new RawClient(port)
    c.socket.write(text)
    const out = await c.until(() => false, 2000)
    expect(out).toMatch(/^HTTP\/1\.1 400 /)
    expect(out).toContain('PODKIT_HTTP_BAD_REQUEST')
    expect(c.closed).toBe(true)
    expect(u.requests).toHaveLength(0)
  })

  it('refuses a malformed chunk mid-upload with 400, and the upstream never gets a whole body', async () => {
    let ended = 0
    const { port } = await proxied((req, res) => {
      req.on('data', () => {})
      req.on('error', () => {})
      req.on('end', () => {
        ended++
        res.end('ok')
      })
    })
    const c = new RawClient(port)
    c.socket.write('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n')
    await new Promise((r) => setTimeout(r, 100))
    c.socket.write('zz\r\n0\r\n\r\n')
    const out = await c.until(() => false, 2000)
    expect(out).toMatch(/^HTTP\/1\.1 400 /)
    expect(c.closed).toBe(true)
    expect(ended).toBe(0)
  })

  it('stops reading a pipelining app that does not read its responses, then answers every request in order', async () => {
    // 2000 pipelined GETs of 8 KiB each (16 MiB), the app reading nothing: once the kernel's
    // buffers are full, responses wait in the ambassador. Each is complete in one upstream read,
    // so no write waits for a drain: it must stop dispatching (and reading) past its bound, as
    // Envoy and node:http stop reading such a connection, not queue them all.
    const n = 2000
    const size = 8 * 1024
    let amb: Awaited<ReturnType<typeof inProcess>> | undefined
    let maxQueued = 0
    const queued = () => {
      const q = amb?.amb.listeners()[0]?.queuedBytes ?? 0
      maxQueued = Math.max(maxQueued, q)
      return q
    }
    const u = await upstream((req, res) => {
      queued()
      const body = Buffer.alloc(size, 'x')
      body.write(`${req.url}\n`)
      res.writeHead(200, { 'content-length': String(size) })
      res.end(body)
    })
    amb = await inProcess({
      listeners: [{ port: 0, routes: [{ cluster: 'api' }] }],
      clusters: [tlsCluster('api', u.port, pki)],
    })
    const s = connect(amb.port, '127.0.0.1')
    cleanups.push(() => s.destroy())
    s.pause()
    await once(s, 'connect')
    let reqs = ''
    for (let i = 0; i < n; i++) reqs += `GET /r${i} HTTP/1.1\r\nHost: x\r\n\r\n`
    s.write(reqs)
    // Until all were dispatched (the bug) or responses back up past half the bound and stay.
    await waitFor(
      () => u.requests.length === n || queued() > MAX_QUEUED_RESPONSE_BYTES / 2,
      5000,
      'a backlog',
    )
    await sleep(300)
    queued()
    expect(u.requests.length).toBeLessThan(n)
    // The bound, plus the one response that crossed it (head included).
    expect(maxQueued).toBeLessThanOrEqual(MAX_QUEUED_RESPONSE_BYTES + size + 1024)
    // The app reads: every response arrives, in order, on the same connection.
    const paths: string[] = []
    let buf = Buffer.alloc(0)
    const done = new Promise<void>((resolve, reject) => {
      s.on('error', reject)
      s.on('close', () => reject(new Error(`closed after ${paths.length} responses`)))
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d])
        for (;;) {
          const end = buf.indexOf('\r\n\r\n')
          if (end === -1) break
          const head = buf.subarray(0, end).toString('latin1')
          const len = Number(/content-length: (\d+)/i.exec(head)?.[1])
          if (buf.length < end + 4 + len) break
          expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
          const body = buf.subarray(end + 4, end + 4 + len).toString('latin1')
          paths.push(body.slice(0, body.indexOf('\n')))
          buf = buf.subarray(end + 4 + len)
        }
        if (paths.length === n) resolve()
      })
    })
    s.resume()
    await done
    expect(paths).toEqual(Array.from({ length: n }, (_, i) => `/r${i}`))
    expect(u.requests.length).toBe(n)
  })

  it('cuts the app connection when the upstream dies after its head, before any body byte', async () => {
    const { port } = await proxied((req, res) => {
      if (req.url === '/ok') {
        res.end('fine')
        return
      }
      res.writeHead(200, { 'content-length': '10' })
      res.flushHeaders()
      setTimeout(() => res.socket?.destroy(), 20)
    })
    const c = new RawClient(port)
    c.socket.write('GET /dies HTTP/1.1\r\nHost: x\r\n\r\n')
    const out = await c.until(() => false, 2000)
    expect(c.closed).toBe(true)
    // The status was decided: no second answer (a 503) after it, and no complete-looking body.
    expect(count(out, /HTTP\/1\.1 /g)).toBeLessThanOrEqual(1)
    expect(out).not.toMatch(/\r\n\r\n.{10}/s)
    const ok = new RawClient(port)
    ok.socket.write('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n')
    expect(await ok.until((o) => o.endsWith('fine'))).toMatch(/^HTTP\/1\.1 200 OK/)
  })
})

describe('timeouts', () => {
  async function server(opts: { headersTimeout: number; keepAliveTimeout: number }) {
    const errors: number[] = []
    const s = new H1Server(
      { maxHeaderSize: 16 * 1024, ...opts },
      {
        onRequest: (_req, res) => {
          res.writeHead(200, undefined, ['content-length', '2'])
          res.end(Buffer.from('ok'))
        },
        onUpgrade: (_req, socket) => socket.destroy(),
        onClientError: (err, socket) => {
          errors.push(err.status)
          socket.end(`HTTP/1.1 ${err.status} x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
        },
        draining: () => false,
      },
    )
    s.net.listen(0, '127.0.0.1')
    await once(s.net, 'listening')
    cleanups.push(() => {
      s.closeAllConnections()
      s.net.close()
    })
    const a = s.net.address()
    return { port: typeof a === 'object' && a ? a.port : 0, errors }
  }

  it('answers 408 to a head that trickles in slower than the headers timeout (slowloris)', async () => {
    const { port, errors } = await server({ headersTimeout: 1000, keepAliveTimeout: 60_000 })
    const c = new RawClient(port)
    const started = Date.now()
    // One byte every 200 ms: each byte is activity, but the head never completes in time.
    const text = 'GET / HTTP/1.1\r\nHost: a\r\nX-Slow: 0123456789012345678901234567890123456789'
    let i = 0
    const t = setInterval(() => {
      if (i < text.length && !c.closed) c.socket.write(text[i++]!)
    }, 200)
    cleanups.push(() => clearInterval(t))
    const out = await c.until(() => false, 5000)
    expect(out).toMatch(/^HTTP\/1\.1 408 /)
    expect(c.closed).toBe(true)
    expect(Date.now() - started).toBeLessThan(3500)
    expect(errors).toEqual([408])
  })

  it('closes an idle keep-alive connection after the keep-alive timeout, and not one in use', async () => {
    const { port } = await server({ headersTimeout: 60_000, keepAliveTimeout: 1000 })
    const idle = new RawClient(port)
    idle.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    await idle.until((o) => o.endsWith('ok'))
    expect(idle.out.toLowerCase()).toContain('keep-alive: timeout=1')
    const busy = new RawClient(port)
    const t = setInterval(() => busy.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), 300)
    cleanups.push(() => clearInterval(t))
    await new Promise((r) => setTimeout(r, 2500))
    expect(idle.closed).toBe(true)
    expect(busy.closed).toBe(false)
    expect(count(busy.out, /HTTP\/1\.1 200/g)).toBeGreaterThan(5)
  })
})

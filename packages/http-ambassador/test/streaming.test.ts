// Streams both ways without buffering (large uploads and downloads, server-sent events, a
// WebSocket upgrade) and the framing attacks a proxy must refuse (request smuggling, oversized
// headers), each on its own connection while the proxy keeps serving others.

import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { Readable } from 'node:stream'
import { startNginx } from '@podkit/test-utils'
import { request, WebSocket } from 'undici'
import { describe, expect, it } from 'vitest'
import { fileFixtures, rawRequest, tlsCluster } from './helpers.ts'

const { pki, cleanups, inProcess, proxied } = fileFixtures()

/** Real curl: what it printed (with -i, the response head too). */
function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('curl', ['--max-time', '10', ...args], (err, stdout) => (err ? reject(err) : resolve(stdout))),
  )
}

const raw = (port: number, text: string) => rawRequest(port, text, 3000)

describe('streaming', () => {
  it('streams a 32 MiB upload chunked and a 32 MiB download', async () => {
    const { url } = await proxied((req, res) => {
      if (req.method === 'POST') {
        const h = createHash('sha256')
        let n = 0
        req.on('data', (d: Buffer) => {
          h.update(d)
          n += d.length
        })
        req.on('end', () => res.end(`${n} ${h.digest('hex')}`))
        return
      }
      const chunk = Buffer.alloc(1024 * 1024, 7)
      let left = 32
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const pump = () => {
        while (left > 0) {
          left--
          if (!res.write(chunk)) return res.once('drain', pump)
        }
        res.end()
      }
      pump()
    })
    const parts = Array.from({ length: 32 }, () => randomBytes(1024 * 1024))
    const want = createHash('sha256')
    for (const p of parts) want.update(p)
    const up = await request(`${url}/upload`, { method: 'POST', body: Readable.from(parts) })
    expect(await up.body.text()).toBe(`${32 * 1024 * 1024} ${want.digest('hex')}`)

    const down = await request(`${url}/download`)
    let n = 0
    for await (const c of down.body) n += (c as Buffer).length
    expect(n).toBe(32 * 1024 * 1024)
  })

  it('passes server-sent events through as they are sent (no buffering), with the timeout disabled', async () => {
    let ended = false
    const { url } = await proxied(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
        res.write('data: first\n\n')
        let n = 0
        const t = setInterval(() => {
          n++
          res.write(`data: tick ${n}\n\n`)
          if (n === 3) {
            clearInterval(t)
            ended = true
            res.end()
          }
        }, 300)
      },
      { timeout: 0 },
    )
    const res = await request(`${url}/events`)
    expect(res.headers['content-type']).toBe('text/event-stream')
    const it = res.body[Symbol.asyncIterator]()
    const first = (await it.next()).value as Buffer
    expect(first.toString()).toBe('data: first\n\n')
    expect(ended).toBe(false) // the first event arrived while the upstream was still streaming
    let rest = ''
    for (let r = await it.next(); !r.done; r = await it.next()) rest += r.value.toString()
    expect(rest).toBe('data: tick 1\n\ndata: tick 2\n\ndata: tick 3\n\n')
  })

  it('tunnels a WebSocket upgrade to a TLS upstream', async () => {
    const { port, u } = await proxied()
    // A minimal RFC 6455 echo server: accept, read one masked text frame, answer "echo:<text>".
    u.server.on('upgrade', (req, socket) => {
      const accept = createHash('sha1')
        .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64')
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      )
      socket.on('data', (buf: Buffer) => {
        if ((buf[0]! & 0x0f) === 8) return void socket.end(Buffer.from([0x88, 0])) // close frame
        const len = buf[1]! & 0x7f
        const mask = buf.subarray(2, 6)
        const payload = Buffer.from(buf.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]!))
        const text = Buffer.from(`echo:${payload.toString()}`)
        socket.write(Buffer.concat([Buffer.from([0x81, text.length]), text]))
      })
    })
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`)
    const got = await new Promise<string>((resolve, reject) => {
      ws.onopen = () => ws.send('hello')
      ws.onmessage = (e) => resolve(String(e.data))
      ws.onerror = (e) => reject(new Error(String((e as { message?: string }).message ?? 'ws error')))
    })
    expect(got).toBe('echo:hello')
    const closed = new Promise((r) => {
      ws.onclose = r
    })
    ws.close()
    await closed
    expect(u.requests).toHaveLength(0) // the handshake went to the upgrade path, not the request handler
  })
})

describe('an upstream that refuses an Upgrade', () => {
  it("answers the app with the upstream's own status and body (nginx, curl), as Envoy does", async () => {
    const ngx = await startNginx({
      http: ({ port }) => `
        server {
          listen 127.0.0.1:${port} ssl;
          ssl_certificate ${pki.server.certFile};
          ssl_certificate_key ${pki.server.keyFile};
          location /ws-auth { add_header WWW-Authenticate Bearer always; return 401 "log in first\\n"; }
          location / { return 200 "plain\\n"; }
        }`,
    })
    cleanups.push(() => ngx.stop())
    const a = await inProcess({
      listeners: [{ port: 0, routes: [{ cluster: 'nginx' }] }],
      clusters: [tlsCluster('nginx', ngx.port, pki)],
    })
    const ws = [
      ['-H', 'Connection: Upgrade'],
      ['-H', 'Upgrade: websocket'],
      ['-H', 'Sec-WebSocket-Version: 13'],
      ['-H', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='],
    ].flat()
    const out = await curl(['-s', '-i', ...ws, `${a.url}/ws-auth`])
    expect(out).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/)
    expect(out.toLowerCase()).toContain('www-authenticate: bearer')
    expect(out.endsWith('\r\n\r\nlog in first\n')).toBe(true)
    // The route serves on: an upstream that does not know the upgrade answers as to a plain request.
    expect(await curl(['-s', ...ws, `${a.url}/other`])).toBe('plain\n')
    expect(await a.waitLog((l) => l.msg === 'request' && l.status === 401)).toMatchObject({
      path: '/ws-auth',
      upgrade: 'websocket',
    })
  })
})

describe('the app hanging up', () => {
  it('survives the app closing mid-upload and mid-download, and keeps serving', async () => {
    let uploads = 0
    const { port, url } = await proxied((req, res) => {
      if (req.method === 'POST') {
        uploads++
        req.on('data', () => {})
        req.on('end', () => res.end('got it'))
        req.on('error', () => {})
        return
      }
      if (req.url === '/big') {
        res.writeHead(200)
        const t = setInterval(() => res.write(Buffer.alloc(64 * 1024)), 5)
        res.on('close', () => clearInterval(t))
        return
      }
      res.end('still here')
    })
    // Mid-upload: headers and part of a chunked body, then the socket goes away.
    await new Promise<void>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.write('POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n')
        setTimeout(() => {
          s.destroy()
          resolve()
        }, 200)
      })
    })
    // Mid-download: read the start of an endless body, then go away.
    await new Promise<void>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.write('GET /big HTTP/1.1\r\nHost: a\r\n\r\n'))
      s.once('data', () => {
        s.destroy()
        resolve()
      })
    })
    const res = await request(`${url}/`)
    expect(await res.body.text()).toBe('still here')
    expect(uploads).toBe(1)
  })
})

describe('request smuggling and limits', () => {
  it('rejects Content-Length with Transfer-Encoding (400), closes that connection and keeps serving', async () => {
    const { port, url, u } = await proxied((_req, res) => res.end('ok'))
    const out = await raw(
      port,
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    )
    expect(out).toMatch(/^HTTP\/1\.1 400 /)
    expect(out).toContain('PODKIT_HTTP_BAD_REQUEST')
    expect(out.match(/HTTP\/1\.1/g)).toHaveLength(1)
    expect(u.requests).toHaveLength(0)
    expect((await request(`${url}/`)).statusCode).toBe(200)
  })

  it('rejects conflicting Content-Length values and an obfuscated Transfer-Encoding', async () => {
    const { port, u } = await proxied((_req, res) => res.end('ok'))
    const twoLengths = await raw(
      port,
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde',
    )
    expect(twoLengths).toMatch(/^HTTP\/1\.1 400 /)
    const te = await raw(
      port,
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
    )
    expect(te).toMatch(/^HTTP\/1\.1 400 /)
    const spaceBeforeColon = await raw(
      port,
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n',
    )
    expect(spaceBeforeColon).toMatch(/^HTTP\/1\.1 400 /)
    expect(u.requests).toHaveLength(0)
  })

  it('answers 431 to request headers over the limit', async () => {
    const { port, u } = await proxied((_req, res) => res.end('ok'))
    const out = await raw(port, `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`)
    expect(out).toMatch(/^HTTP\/1\.1 431 /)
    expect(u.requests).toHaveLength(0)
  })
})

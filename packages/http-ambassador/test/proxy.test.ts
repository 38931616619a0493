// The proxy against real TLS upstreams (node https and http2 servers) with certificates made at
// test time: forwarding and header rules, TLS verification, mTLS, HTTP/2, errors and timeouts.

import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestPki } from '@podkit/test-utils'
import { request } from 'undici'
import { describe, expect, it } from 'vitest'
import { fileFixtures, rawRequest, tlsCluster, type Upstream } from './helpers.ts'

const { pki, cleanups, upstream, inProcess } = fileFixtures()

async function ambassador(
  cluster: Record<string, unknown>,
  route: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) {
  return inProcess({
    listeners: [{ port: 0, routes: [{ prefix: '/', cluster: String(cluster.name), ...route }] }],
    clusters: [cluster as never],
    ...extra,
  })
}

const echo = (u: Upstream) => u.requests.at(-1)!

/** Real curl: what it printed. */
function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('curl', ['--max-time', '10', ...args], (err, stdout) => (err ? reject(err) : resolve(stdout))),
  )
}

describe('forwarding', () => {
  it('forwards over verified TLS, rewrites Host, strips hop-by-hop headers and sets x-request-id', async () => {
    const u = await upstream((req, res) => {
      res.setHeader('keep-alive', 'timeout=5')
      res.setHeader('x-upstream', 'yes')
      res.end(`path=${req.url}`)
    })
    const a = await ambassador(tlsCluster('api', u.port, pki))
    const raw = await rawRequest(
      a.port,
      'GET /v1/items?q=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close, x-drop-me\r\nX-Drop-Me: secret-hop\r\nProxy-Connection: keep-alive\r\nX-App: kept\r\nConnection: x-drop-too\r\nX-Drop-Too: hop\r\n\r\n',
    )
    expect(raw).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(raw).toMatch(/\r\nx-upstream: yes\r\n/i)
    expect(raw).not.toMatch(/keep-alive: timeout=5/i)
    expect(raw.endsWith('path=/v1/items?q=1')).toBe(true)
    const seen = echo(u).headers
    expect(seen.host).toBe(`localhost:${u.port}`)
    expect(seen['x-app']).toBe('kept')
    // Every Connection line nominates, not just the last.
    expect(seen['x-drop-me']).toBeUndefined()
    expect(seen['x-drop-too']).toBeUndefined()
    expect(seen['proxy-connection']).toBeUndefined()
    expect(seen['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    const log = await a.waitLog((l) => l.msg === 'request')
    expect(log).toMatchObject({
      method: 'GET',
      path: '/v1/items',
      status: 200,
      cluster: 'api',
      attempts: 1,
      flag: '-',
    })
    expect(log.requestId).toBe(seen['x-request-id'])
    // The query string may carry credentials: it is not logged.
    expect(JSON.stringify(a.logs)).not.toContain('q=1')
  })

  it('propagates x-request-id, applies route header rules and reads a credential from a mounted file', async () => {
    const u = await upstream((_req, res) => {
      res.setHeader('server', 'upstream-server')
      res.end('ok')
    })
    const secret = join(pki.dir, 'token')
    writeFileSync(secret, 'Bearer s3cr3t-value\n')
    const a = await ambassador(tlsCluster('api', u.port, pki), {
      requestHeadersToAdd: { 'x-tenant': 'acme' },
      requestHeadersToRemove: ['x-internal'],
      requestHeadersFromFiles: { authorization: secret },
      responseHeadersToRemove: ['server'],
      responseHeadersToAdd: { 'x-via': 'podkit' },
    })
    const res = await request(`${a.url}/`, {
      headers: { 'x-request-id': 'req-42', 'x-internal': 'no', authorization: 'Bearer from-app' },
    })
    expect(res.statusCode).toBe(200)
    await res.body.text()
    expect(res.headers.server).toBeUndefined()
    expect(res.headers['x-via']).toBe('podkit')
    const seen = echo(u).headers
    expect(seen['x-request-id']).toBe('req-42')
    expect(seen['x-tenant']).toBe('acme')
    expect(seen['x-internal']).toBeUndefined()
    expect(seen.authorization).toBe('Bearer s3cr3t-value')
    await a.waitLog((l) => l.msg === 'request')
    expect(JSON.stringify(a.logs)).not.toContain('s3cr3t')

    // A rotated secret is picked up without a restart.
    writeFileSync(secret, 'Bearer rotated-value\n')
    const later = Date.now() + 1100
    await new Promise((r) => setTimeout(r, later - Date.now()))
    await (await request(`${a.url}/`)).body.text()
    expect(echo(u).headers.authorization).toBe('Bearer rotated-value')
  })

  it("writes non-ASCII values from the config as UTF-8, as Envoy does, and the app's bytes as sent", async () => {
    const u = await upstream((_req, res) => res.end('ok'))
    const secret = join(pki.dir, 'label')
    writeFileSync(secret, 'Zürich 東京\n')
    const a = await ambassador(tlsCluster('api', u.port, pki), {
      requestHeadersToAdd: { 'x-city': 'München €' },
      requestHeadersFromFiles: { 'x-label': secret },
      responseHeadersToAdd: { 'x-greeting': 'grüß dich ✓' },
    })
    const utf8 = (v: unknown) => Buffer.from(String(v), 'latin1').toString('utf8')
    const res = await request(`${a.url}/x`, {
      headers: { 'x-app': Buffer.from('ñandú', 'utf8').toString('latin1') },
    })
    await res.body.text()
    // Node and undici read header bytes as latin1: decoded back to UTF-8, each is what was configured.
    expect(utf8(res.headers['x-greeting'])).toBe('grüß dich ✓')
    const seen = echo(u)
    expect(utf8(seen.headers['x-city'])).toBe('München €')
    expect(utf8(seen.headers['x-label'])).toBe('Zürich 東京')
    expect(utf8(seen.headers['x-app'])).toBe('ñandú')
  })

  it('forwards a request body with its Content-Length and the upstream status unchanged', async () => {
    const u = await upstream((req, res) => {
      let body = ''
      req.on('data', (d) => {
        body += d
      })
      req.on('end', () => {
        res.statusCode = 201
        res.setHeader('content-type', 'application/json')
        res.end(
          JSON.stringify({
            length: req.headers['content-length'],
            te: req.headers['transfer-encoding'] ?? null,
            body,
          }),
        )
      })
    })
    const a = await ambassador(tlsCluster('api', u.port, pki))
    const res = await request(`${a.url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"item":"book","qty":2}',
    })
    expect(res.statusCode).toBe(201)
    expect(await res.body.json()).toEqual({ length: '23', te: null, body: '{"item":"book","qty":2}' })
  })

  it('answers 404 when no route matches, and refuses CONNECT (no open proxy)', async () => {
    const u = await upstream()
    const a = await ambassador(tlsCluster('api', u.port, pki), { prefix: '/api' })
    const res = await request(`${a.url}/other`)
    expect(res.statusCode).toBe(404)
    expect(res.headers['x-podkit-error']).toBe('PODKIT_HTTP_NO_ROUTE')
    await res.body.text()
    const raw = await rawRequest(
      a.port,
      'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n',
    )
    expect(raw).toMatch(/^HTTP\/1\.1 400/)
    expect(u.requests).toHaveLength(0)
  })

  it('routes an absolute-form request (the app has http_proxy set) by its URL, as Envoy does', async () => {
    const u = await upstream((req, res) => res.end(`path=${req.url}`))
    const a = await ambassador(tlsCluster('api', u.port, pki), { domains: ['api.test'] })
    // curl -x sends `GET http://api.test/v1/items?q=1 HTTP/1.1`: the URL's authority is the Host.
    const out = await curl(['-s', '-x', a.url, 'http://api.test/v1/items?q=1'])
    expect(out).toBe('path=/v1/items?q=1')
    expect(echo(u)).toMatchObject({ url: '/v1/items?q=1' })
    // It goes to the route's cluster only, Host rewritten to the upstream's name as for any request.
    expect(echo(u).headers.host).toBe(`localhost:${u.port}`)
    // The URL's authority wins over a Host header that disagrees (RFC 9112 3.2.2).
    const other = await rawRequest(a.port, 'GET http://evil.example/v1 HTTP/1.1\r\nHost: api.test\r\n\r\n')
    expect(other).toMatch(/^HTTP\/1\.1 404/)
    const bare = await rawRequest(
      a.port,
      'GET http://API.test HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    )
    expect(bare).toMatch(/^HTTP\/1\.1 200 [\s\S]*path=\/$/)
    expect(u.requests.map((r) => r.url)).toEqual(['/v1/items?q=1', '/'])
  })
})

describe('TLS', () => {
  it('rejects an upstream whose certificate comes from an unknown CA: 502 and the reason in the log', async () => {
    const other = createTestPki({ caName: 'some other CA' })
    cleanups.push(() => other.cleanup())
    const u = await upstream(undefined, { cert: other.server })
    const a = await ambassador(tlsCluster('api', u.port, pki))
    const res = await request(`${a.url}/`)
    expect(res.statusCode).toBe(502)
    expect(res.headers['x-podkit-error']).toBe('PODKIT_HTTP_UPSTREAM_TLS')
    await res.body.text()
    expect(u.requests).toHaveLength(0)
    const log = await a.waitLog((l) => l.msg === 'request')
    expect(String(log.reason)).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/i)
  })

  it('rejects a certificate that does not name the SNI', async () => {
    const u = await upstream()
    const a = await ambassador(tlsCluster('api', u.port, pki, { tls: { sni: 'api.example.com' } }))
    const res = await request(`${a.url}/`)
    expect(res.statusCode).toBe(502)
    await res.body.text()
    expect(String((await a.waitLog((l) => l.msg === 'request')).reason)).toMatch(
      /ERR_TLS_CERT_ALTNAME_INVALID/,
    )
    expect(u.requests).toHaveLength(0)
  })

  it('forwards to an unverified upstream only when the config says insecure', async () => {
    const other = createTestPki({ caName: 'unknown CA' })
    cleanups.push(() => other.cleanup())
    const u = await upstream(undefined, { cert: other.server })
    const a = await ambassador(tlsCluster('api', u.port, pki, { tls: { insecure: true } }))
    const res = await request(`${a.url}/`)
    expect(res.statusCode).toBe(200)
    await res.body.text()
  })

  it('presents a client certificate (mTLS) and fails without one', async () => {
    const u = await upstream(
      (req, res) =>
        res.end(`cn=${(req.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN}`),
      { requestCert: true },
    )
    const withCert = await ambassador(
      tlsCluster('api', u.port, pki, { tls: { certFile: pki.client.certFile, keyFile: pki.client.keyFile } }),
    )
    const ok = await request(`${withCert.url}/`)
    expect(ok.statusCode).toBe(200)
    expect(await ok.body.text()).toBe('cn=podkit-client')

    const without = await ambassador(tlsCluster('api', u.port, pki))
    const denied = await request(`${without.url}/`)
    expect(denied.statusCode).toBeGreaterThanOrEqual(502)
    await denied.body.text()
    expect(u.requests).toHaveLength(1)
  })

  it('speaks HTTP/2 to an upstream that picks h2 by ALPN', async () => {
    const u = await upstream((req, res) => res.end(`http/${req.httpVersion}`), { http2: true })
    const a = await ambassador(tlsCluster('api', u.port, pki, { http2: true }))
    for (let i = 0; i < 3; i++) {
      const res = await request(`${a.url}/h2`)
      expect(res.statusCode).toBe(200)
      expect(await res.body.text()).toBe('http/2.0')
    }
    expect(echo(u).headers[':authority']).toBe(`localhost:${u.port}`)
  })
})

describe('ALPN', () => {
  it('falls back to HTTP/1.1 when h2 is offered and the upstream only speaks HTTP/1.1', async () => {
    const u = await upstream((req, res) => res.end(`http/${req.httpVersion}`))
    const a = await ambassador(tlsCluster('api', u.port, pki, { http2: true }))
    const res = await request(`${a.url}/`)
    expect(await res.body.text()).toBe('http/1.1')
  })
})

describe('errors', () => {
  it('answers 503 when the upstream refuses connections', async () => {
    const u = await upstream()
    const port = u.port
    await u.close()
    const a = await ambassador(tlsCluster('api', port, pki))
    const res = await request(`${a.url}/`)
    expect(res.statusCode).toBe(503)
    expect(res.headers['x-podkit-error']).toBe('PODKIT_HTTP_UPSTREAM_CONNECT')
    expect(await res.body.text()).toContain('connection failure')
  })

  it('answers 504 when the upstream is slower than the route timeout', async () => {
    const u = await upstream((_req, res) => {
      const t = setTimeout(() => res.end('late'), 3000)
      res.on('close', () => clearTimeout(t))
    })
    const a = await ambassador(tlsCluster('api', u.port, pki), { timeout: '300ms' })
    const t0 = Date.now()
    const res = await request(`${a.url}/`)
    expect(res.statusCode).toBe(504)
    expect(res.headers['x-podkit-error']).toBe('PODKIT_HTTP_UPSTREAM_TIMEOUT')
    expect(await res.body.text()).toContain('upstream request timeout')
    expect(Date.now() - t0).toBeLessThan(2500)
  })

  it('cuts the app connection when the upstream dies mid-response, and keeps serving', async () => {
    let n = 0
    const u = await upstream((_req, res) => {
      n++
      if (n === 1) {
        res.writeHead(200, { 'content-length': '100000' })
        res.write(Buffer.alloc(1000, 'a'))
        setTimeout(() => res.socket?.destroy(), 50)
      } else res.end('fine')
    })
    const a = await ambassador(tlsCluster('api', u.port, pki))
    const res = await request(`${a.url}/`)
    expect(res.statusCode).toBe(200)
    await expect(res.body.text()).rejects.toThrow()
    const next = await request(`${a.url}/`)
    expect(await next.body.text()).toBe('fine')
    // Envoy's flag for an HTTP/1.1 upstream connection that went away: UC, not UR (an h2 reset).
    const log = await a.waitLog((l) => l.msg === 'request' && l.flag === 'UC')
    expect(log).toMatchObject({ code: 'PODKIT_HTTP_UPSTREAM_RESET' })
  })

  it('answers 503 with flag UC when the upstream closes before answering, as Envoy does', async () => {
    const u = await upstream((req) => req.socket.destroy())
    const a = await ambassador(tlsCluster('api', u.port, pki))
    const res = await request(`${a.url}/`)
    expect(res.statusCode).toBe(503)
    expect(await res.body.text()).toBe(
      'upstream connect error or disconnect/reset before headers. reset reason: connection termination\n',
    )
    expect(await a.waitLog((l) => l.msg === 'request')).toMatchObject({
      status: 503,
      flag: 'UC',
      code: 'PODKIT_HTTP_UPSTREAM_RESET',
    })
  })

  it('applies a local rate limit (429)', async () => {
    const u = await upstream()
    const a = await ambassador(tlsCluster('api', u.port, pki), {
      rateLimit: { maxTokens: 2, fillInterval: '1h' },
    })
    const codes: number[] = []
    for (let i = 0; i < 3; i++) {
      const r = await request(`${a.url}/`)
      codes.push(r.statusCode)
      await r.body.text()
    }
    expect(codes).toEqual([200, 200, 429])
    expect(u.requests).toHaveLength(2)
  })
})

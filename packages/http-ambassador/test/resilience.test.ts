// Clusters under stress: several addresses for one name (re-resolved), retries only for
// idempotent requests, circuit breakers, outlier detection and the drain with requests in flight.

import { once } from 'node:events'
import { createServer as createHttpsServer } from 'node:https'
import { type AddressInfo, connect } from 'node:net'
import { request } from 'undici'
import { describe, expect, it } from 'vitest'
import { fileFixtures, startInProcess, tlsCluster } from './helpers.ts'

const { pki, cleanups, upstream, inProcess: ambassador } = fileFixtures()
const apiCert = pki.issue('api', { dns: ['api.test'] })

/** The same port on several loopback addresses, each answering with its address. */
async function upstreamsOn(addresses: string[]) {
  let port = 0
  const hits: Record<string, number> = {}
  for (const host of addresses) {
    const server = createHttpsServer({ ...apiCert }, (_req, res) => {
      hits[host] = (hits[host] ?? 0) + 1
      res.end(host)
    })
    server.listen(port, host)
    await once(server, 'listening')
    port = (server.address() as AddressInfo).port
    cleanups.push(() => {
      server.closeAllConnections()
      return new Promise<void>((r) => server.close(() => r()))
    })
  }
  return { port, hits }
}

async function get(url: string, method = 'GET') {
  const r = await request(url, { method })
  return { status: r.statusCode, headers: r.headers, body: await r.body.text() }
}

describe('STRICT_DNS', () => {
  it('balances round robin over every address of a name and follows re-resolution', async () => {
    const { port, hits } = await upstreamsOn(['127.0.0.2', '127.0.0.3', '127.0.0.4'])
    let answer = ['127.0.0.2', '127.0.0.3', '127.0.0.4']
    const a = await ambassador(
      {
        listeners: [{ port: 0, routes: [{ cluster: 'api' }] }],
        clusters: [
          {
            name: 'api',
            type: 'STRICT_DNS',
            endpoints: [`api.test:${port}`],
            dnsRefreshRate: '100ms',
            tls: { caFile: pki.ca.certFile },
          },
        ],
      },
      { resolver: async (name: string) => (name === 'api.test' ? answer : []) },
    )
    for (let i = 0; i < 9; i++) expect((await get(`${a.url}/`)).status).toBe(200)
    expect(hits).toEqual({ '127.0.0.2': 3, '127.0.0.3': 3, '127.0.0.4': 3 })

    answer = ['127.0.0.4']
    await waitUntil(() => a.amb.clusters()[0]!.hosts.length === 1)
    for (let i = 0; i < 4; i++) expect((await get(`${a.url}/`)).body).toBe('127.0.0.4')
    expect(hits['127.0.0.4']).toBe(7)
  })

  it('takes name overrides from the resolve option', async () => {
    const { port } = await upstreamsOn(['127.0.0.5'])
    const a = await ambassador({
      listeners: [{ port: 0, routes: [{ cluster: 'api' }] }],
      clusters: [{ name: 'api', endpoints: [`api.test:${port}`], tls: { caFile: pki.ca.certFile } }],
      resolve: { 'api.test': ['127.0.0.5'] },
    })
    expect(await get(`${a.url}/`)).toMatchObject({ status: 200, body: '127.0.0.5' })
  })
})

describe('load balancing', () => {
  it('LEAST_REQUEST sends to the host with fewer requests in flight; RANDOM uses every host', async () => {
    const held: Array<() => void> = []
    const slow = await upstream((_req, res) => held.push(() => res.end('slow')))
    const fast = await upstream((_req, res) => res.end('fast'))
    const cluster = (lbPolicy: string) => ({
      name: 'api',
      type: 'STATIC',
      lbPolicy,
      endpoints: [`127.0.0.1:${slow.port}`, `127.0.0.1:${fast.port}`],
      tls: { sni: 'localhost', caFile: pki.ca.certFile },
    })
    const lr = await ambassador({
      listeners: [{ port: 0, routes: [{ cluster: 'api' }] }],
      clusters: [cluster('LEAST_REQUEST')],
    })
    // Park requests on the slow host until one is held there.
    const parked: Array<Promise<unknown>> = []
    while (held.length === 0) {
      const r = get(`${lr.url}/`)
      parked.push(r)
      if ((await Promise.race([r, new Promise((x) => setTimeout(() => x('pending'), 100))])) === 'pending')
        break
    }
    await waitUntil(() => held.length === 1)
    for (let i = 0; i < 10; i++) expect((await get(`${lr.url}/`)).body).toBe('fast')
    for (const h of held) h()
    await Promise.all(parked)

    const a = await upstream((_req, res) => res.end('a'))
    const b = await upstream((_req, res) => res.end('b'))
    const rnd = await ambassador({
      listeners: [{ port: 0, routes: [{ cluster: 'api' }] }],
      clusters: [{ ...cluster('RANDOM'), endpoints: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] }],
    })
    const seen = new Set<string>()
    for (let i = 0; i < 40 && seen.size < 2; i++) seen.add((await get(`${rnd.url}/`)).body)
    expect([...seen].sort()).toEqual(['a', 'b'])
  })
})

describe('retries', () => {
  it('retries idempotent requests on 5xx with the retry policy, never a POST', async () => {
    let n = 0
    const u = await upstream((_req, res) => {
      n++
      res.statusCode = n % 2 === 1 ? 503 : 200
      res.end(`try ${n}`)
    })
    const a = await ambassador({
      listeners: [
        { port: 0, routes: [{ cluster: 'api', retry: { on: ['5xx'], numRetries: 2, backoffBase: '5ms' } }] },
      ],
      clusters: [tlsCluster('api', u.port, pki)],
    })
    expect(await get(`${a.url}/`)).toMatchObject({ status: 200, body: 'try 2' })
    expect(await a.waitLog((l) => l.msg === 'request')).toMatchObject({ attempts: 2, status: 200 })
    const post = await get(`${a.url}/`, 'POST')
    expect(post).toMatchObject({ status: 503, body: 'try 3' })
    expect(u.requests.map((r) => r.method)).toEqual(['GET', 'GET', 'POST'])
  })

  it('retries the configured retriable status codes, and not others', async () => {
    let n = 0
    const u = await upstream((req, res) => {
      n++
      res.statusCode = req.url === '/429' && n === 1 ? 429 : req.url === '/409' ? 409 : 200
      res.end(`try ${n}`)
    })
    const a = await ambassador({
      listeners: [
        {
          port: 0,
          routes: [
            {
              cluster: 'api',
              retry: { on: ['retriable-status-codes'], retriableStatusCodes: [429], backoffBase: '1ms' },
            },
          ],
        },
      ],
      clusters: [tlsCluster('api', u.port, pki)],
    })
    expect(await get(`${a.url}/429`)).toMatchObject({ status: 200, body: 'try 2' })
    expect(await get(`${a.url}/409`)).toMatchObject({ status: 409, body: 'try 3' })
    expect(u.requests).toHaveLength(3)
  })

  it('retries a connect failure on another host', async () => {
    const { port } = await upstreamsOn(['127.0.0.6'])
    const a = await ambassador({
      listeners: [{ port: 0, routes: [{ cluster: 'api' }] }],
      clusters: [
        // 127.0.0.7 has nothing listening: every other try fails to connect, then goes to .6.
        {
          name: 'api',
          type: 'STATIC',
          endpoints: [`127.0.0.6:${port}`, `127.0.0.7:${port}`],
          tls: { sni: 'api.test', caFile: pki.ca.certFile },
        },
      ],
    })
    for (let i = 0; i < 4; i++)
      expect(await get(`${a.url}/`)).toMatchObject({ status: 200, body: '127.0.0.6' })
    expect(await a.waitLog((l) => l.msg === 'request' && l.attempts === 2)).toBeTruthy()
  })

  it('retries a POST, with its body, after a connect failure: nothing of it was sent', async () => {
    // Envoy retries a connect failure whatever the method. Safe here without buffering: a request
    // is written only once its connection's handshake is done, so the body is still unread.
    let resets = 0
    const server = createHttpsServer({ ...apiCert }, (req, res) => {
      if (req.url === '/reset') {
        // The request reached the upstream: it must not be sent again.
        resets++
        req.socket.destroy()
        return
      }
      let body = ''
      req.setEncoding('latin1')
      req.on('data', (d) => {
        body += d
      })
      req.on('end', () => res.end(`${req.method} ${body}`))
    })
    server.listen(0, '127.0.0.6')
    await once(server, 'listening')
    const port = (server.address() as AddressInfo).port
    let got = 0
    server.on('request', () => got++)
    cleanups.push(() => {
      server.closeAllConnections()
      return new Promise<void>((r) => server.close(() => r()))
    })
    const retry = { on: ['connect-failure' as const, 'reset' as const], numRetries: 3, backoffBase: '1ms' }
    const a = await ambassador({
      listeners: [{ port: 0, routes: [{ cluster: 'api', retry }] }],
      clusters: [
        // 127.0.0.7 has nothing listening: every other try fails to connect, then goes to .6.
        {
          name: 'api',
          type: 'STATIC',
          endpoints: [`127.0.0.6:${port}`, `127.0.0.7:${port}`],
          tls: { sni: 'api.test', caFile: pki.ca.certFile },
        },
      ],
    })
    const big = 'x'.repeat(300_000)
    for (let i = 0; i < 4; i++) {
      const post = (body?: string) =>
        request(`${a.url}/`, { method: 'POST', body }).then(async (r) => ({
          status: r.statusCode,
          body: await r.body.text(),
        }))
      expect(await post(`small ${i}`)).toEqual({ status: 200, body: `POST small ${i}` })
      expect(await post()).toEqual({ status: 200, body: 'POST ' })
      // A body larger than the socket buffers, sent as it streams.
      const r = await post(big)
      expect(r.status).toBe(200)
      expect(r.body === `POST ${big}`).toBe(true)
    }
    expect(got).toBe(12)
    // Reset once it was sent: a POST is not retried (its body is not kept), a GET is.
    expect((await request(`${a.url}/reset`, { method: 'POST', body: 'once' })).statusCode).toBe(503)
    expect(resets).toBe(1)
    expect((await request(`${a.url}/reset`)).statusCode).toBe(503)
    expect(resets).toBeGreaterThan(2)
    expect(
      await a.waitLog((l) => l.msg === 'request' && l.method === 'POST' && l.attempts === 2),
    ).toBeTruthy()
  })

  it('retries on a per-try timeout, then succeeds', async () => {
    let n = 0
    const u = await upstream((_req, res) => {
      n++
      if (n === 1) setTimeout(() => res.end('slow'), 1500)
      else res.end('fast')
    })
    const a = await ambassador({
      listeners: [
        {
          port: 0,
          routes: [
            {
              cluster: 'api',
              perTryTimeout: '200ms',
              retry: { on: ['5xx'], numRetries: 1, backoffBase: '1ms' },
            },
          ],
        },
      ],
      clusters: [tlsCluster('api', u.port, pki)],
    })
    expect(await get(`${a.url}/`)).toMatchObject({ status: 200, body: 'fast' })
  })
})

describe('retry_on: reset', () => {
  // Envoy's "reset" covers an upstream that "does not respond at all (disconnect/reset/read
  // timeout)": a per-try timeout and a failed connect are retried under it, not only a reset.
  it('retries a per-try timeout and a connect failure, as Envoy does', async () => {
    let n = 0
    const u = await upstream((_req, res) => {
      n++
      if (n === 1) setTimeout(() => res.end('slow'), 1500)
      else res.end('fast')
    })
    const a = await ambassador({
      listeners: [
        {
          port: 0,
          routes: [
            {
              cluster: 'api',
              perTryTimeout: '200ms',
              retry: { on: ['reset'], numRetries: 1, backoffBase: '1ms' },
            },
          ],
        },
      ],
      clusters: [tlsCluster('api', u.port, pki)],
    })
    expect(await get(`${a.url}/`)).toMatchObject({ status: 200, body: 'fast' })

    const { port } = await upstreamsOn(['127.0.0.6'])
    const b = await ambassador({
      listeners: [{ port: 0, routes: [{ cluster: 'api', retry: { on: ['reset'], backoffBase: '1ms' } }] }],
      clusters: [
        // 127.0.0.7 has nothing listening: every other first try fails to connect.
        {
          name: 'api',
          type: 'STATIC',
          endpoints: [`127.0.0.7:${port}`, `127.0.0.6:${port}`],
          tls: { sni: 'api.test', caFile: pki.ca.certFile },
        },
      ],
    })
    for (let i = 0; i < 2; i++)
      expect(await get(`${b.url}/`)).toMatchObject({ status: 200, body: '127.0.0.6' })
  })
})

describe('per-try timeout', () => {
  it('starts once the app has sent its whole request: a slow upload is not a timed-out try', async () => {
    const u = await upstream((req, res) => {
      let body = ''
      req.on('data', (d) => {
        body += d
      })
      req.on('end', () => res.end(`got=${body}`))
    })
    const a = await ambassador({
      listeners: [
        {
          port: 0,
          routes: [{ cluster: 'api', perTryTimeout: '400ms', retry: { on: ['5xx'], numRetries: 1 } }],
        },
      ],
      clusters: [tlsCluster('api', u.port, pki)],
    })
    const s = connect(a.port, '127.0.0.1')
    const closed = once(s, 'close')
    s.on('error', () => {})
    let out = ''
    s.on('data', (d) => {
      out += d
    })
    s.write('POST /up HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 4\r\n\r\nab')
    // The app takes longer than the per-try timeout to send the rest of its body.
    await new Promise((r) => setTimeout(r, 1000))
    s.write('cd')
    await closed
    expect(out).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(out.endsWith('got=abcd')).toBe(true)
  })
})

describe("the app's x-envoy-upstream-rq-timeout-ms", () => {
  it("replaces the route's timeouts on a use_remote_address listener, as Envoy's router does, and is never forwarded", async () => {
    let n = 0
    const u = await upstream((req, res) => {
      n++
      // The first request of the per-try part is slow, every other one of it fast.
      const slow = req.url === '/slow' || (req.url === '/try' && n % 2 === 1)
      setTimeout(() => res.end(`${req.url} done`), slow ? 700 : 0)
    })
    const route = { cluster: 'api', timeout: '300ms', retry: { on: ['5xx' as const], backoffBase: '1ms' } }
    const a = await ambassador({
      listeners: [
        { port: 0, useRemoteAddress: true, routes: [route] },
        // Envoy's default: the request counts as external (no XFF to trust), the headers are dropped.
        { port: 0, routes: [route] },
      ],
      clusters: [tlsCluster('api', u.port, pki)],
    })
    const plain = `http://127.0.0.1:${a.amb.listeners()[1]!.port}`
    const timed = (base: string, path: string, headers: Record<string, string>) =>
      request(`${base}${path}`, { headers }).then(async (r) => ({
        status: r.statusCode,
        body: await r.body.text(),
      }))
    const long = { 'x-envoy-upstream-rq-timeout-ms': '5000' }
    expect(await timed(a.url, '/slow', {})).toMatchObject({ status: 504 })
    expect(await timed(a.url, '/slow', long)).toEqual({ status: 200, body: '/slow done' })
    expect(await timed(plain, '/slow', long)).toMatchObject({ status: 504 })
    // Behind an X-Forwarded-For, Envoy no longer takes the peer as the client: not internal.
    expect(await timed(a.url, '/slow', { ...long, 'x-forwarded-for': '10.0.0.9' })).toMatchObject({
      status: 504,
    })
    // 0 turns the timeout off, as in Envoy; a value that is not digits is ignored.
    expect(await timed(a.url, '/slow', { 'x-envoy-upstream-rq-timeout-ms': '0' })).toMatchObject({
      status: 200,
    })
    expect(await timed(a.url, '/slow', { 'x-envoy-upstream-rq-timeout-ms': 'soon' })).toMatchObject({
      status: 504,
    })
    n = 0
    expect(await timed(a.url, '/try', { ...long, 'x-envoy-upstream-rq-per-try-timeout-ms': '150' })).toEqual({
      status: 200,
      body: '/try done',
    })
    for (const r of u.requests) {
      expect(r.headers['x-envoy-upstream-rq-timeout-ms']).toBeUndefined()
      expect(r.headers['x-envoy-upstream-rq-per-try-timeout-ms']).toBeUndefined()
    }
  })
})

describe("the app's x-envoy-retry-on and other Envoy headers", () => {
  it('are honoured from an internal app on a use_remote_address listener, ignored from any other, and never forwarded', async () => {
    // Each path fails twice with 503, then answers 200.
    const seen = new Map<string, number>()
    const u = await upstream((req, res) => {
      const n = (seen.get(req.url!) ?? 0) + 1
      seen.set(req.url!, n)
      res.statusCode = n <= 2 ? 503 : 200
      res.end(`${req.url} try ${n}`)
    })
    // Our YAML's default route policy: connect-failure, one retry.
    const route = { cluster: 'api', retry: { on: ['connect-failure' as const], backoffBase: '1ms' } }
    const a = await ambassador({
      listeners: [
        { port: 0, useRemoteAddress: true, routes: [route] },
        { port: 0, routes: [route] },
      ],
      clusters: [tlsCluster('api', u.port, pki)],
    })
    const plain = `http://127.0.0.1:${a.amb.listeners()[1]!.port}`
    const send = (base: string, path: string, headers: Record<string, string>) =>
      request(`${base}${path}`, { headers }).then(async (r) => ({
        status: r.statusCode,
        body: await r.body.text(),
      }))
    const both = { 'x-envoy-retry-on': 'gateway-error, not-a-policy', 'x-envoy-max-retries': '2' }
    // Internal: 5xx retried, twice as asked.
    expect(await send(a.url, '/a', both)).toEqual({ status: 200, body: '/a try 3' })
    // x-envoy-retry-on alone: the route's one retry.
    expect(await send(a.url, '/b', { 'x-envoy-retry-on': '5xx' })).toEqual({ status: 503, body: '/b try 2' })
    // A 503 retried through x-envoy-retriable-status-codes.
    expect(
      await send(a.url, '/c', {
        'x-envoy-retry-on': 'retriable-status-codes',
        'x-envoy-retriable-status-codes': '418,503',
        'x-envoy-max-retries': '5',
      }),
    ).toEqual({ status: 200, body: '/c try 3' })
    // Envoy's default listener: an external request, its retry headers dropped unread.
    expect(await send(plain, '/d', both)).toEqual({ status: 503, body: '/d try 1' })
    // Behind an X-Forwarded-For: not internal either.
    expect(await send(a.url, '/e', { ...both, 'x-forwarded-for': '10.0.0.9' })).toEqual({
      status: 503,
      body: '/e try 1',
    })
    // Whatever the listener, none of Envoy's own request headers reaches the upstream.
    const owned = {
      'x-envoy-expected-rq-timeout-ms': '100',
      'x-envoy-internal': 'true',
      'x-envoy-force-trace': '1',
      'x-envoy-hedge-on-per-try-timeout': 'true',
      'x-envoy-upstream-alt-stat-name': 'x',
      'x-envoy-retry-grpc-on': 'cancelled',
      'x-envoy-original-url': 'http://evil/',
    }
    await send(a.url, '/f', { ...both, ...owned })
    await send(plain, '/g', { ...both, ...owned })
    expect(u.requests.length).toBe(14)
    for (const r of u.requests)
      expect(Object.keys(r.headers).filter((k) => k.startsWith('x-envoy-'))).toEqual([])
  })
})

describe('circuit breakers and outlier detection', () => {
  it('refuses requests beyond max_requests with 503 and x-envoy-overloaded', async () => {
    const held: Array<() => void> = []
    const u = await upstream((_req, res) => held.push(() => res.end('done')))
    const a = await ambassador({
      listeners: [{ port: 0, routes: [{ cluster: 'api' }] }],
      clusters: [tlsCluster('api', u.port, pki, { circuitBreakers: { maxRequests: 2 } })],
    })
    const first = [get(`${a.url}/1`), get(`${a.url}/2`)]
    await waitUntil(() => held.length === 2)
    const third = await get(`${a.url}/3`)
    expect(third.status).toBe(503)
    expect(third.headers['x-envoy-overloaded']).toBe('true')
    expect(third.headers['x-podkit-error']).toBe('PODKIT_HTTP_OVERFLOW')
    for (const h of held) h()
    expect((await Promise.all(first)).map((r) => r.status)).toEqual([200, 200])
    expect(await a.registry.getSingleMetricAsString('podkit_http_ambassador_overflow_total')).toMatch(
      /breaker="max_requests"} 1/,
    )
  })

  it('refuses requests beyond max_pending_requests once max_connections are busy', async () => {
    const held: Array<() => void> = []
    const u = await upstream((_req, res) => held.push(() => res.end('done')))
    const a = await ambassador({
      listeners: [{ port: 0, routes: [{ cluster: 'api' }] }],
      clusters: [
        tlsCluster('api', u.port, pki, { circuitBreakers: { maxConnections: 1, maxPendingRequests: 1 } }),
      ],
    })
    const first = get(`${a.url}/1`) // on the one connection
    await waitUntil(() => held.length === 1)
    const second = get(`${a.url}/2`) // waits for the connection: pending
    await waitUntil(() => a.amb.clusters()[0]!.active === 2)
    const third = await get(`${a.url}/3`)
    expect(third.status).toBe(503)
    expect(third.headers['x-envoy-overloaded']).toBe('true')
    held.shift()!()
    await waitUntil(() => held.length === 1)
    held.shift()!()
    expect((await Promise.all([first, second])).map((r) => r.status)).toEqual([200, 200])
    expect(await a.registry.getSingleMetricAsString('podkit_http_ambassador_overflow_total')).toMatch(
      /breaker="max_pending_requests"} 1/,
    )
  })

  it('ejects a host after consecutive 5xx and sends to the healthy one', async () => {
    const servers = await Promise.all(
      [500, 200].map((code) =>
        upstream((_req, res) => {
          res.statusCode = code
          res.end(String(code))
        }),
      ),
    )
    const a = await ambassador({
      listeners: [{ port: 0, routes: [{ cluster: 'api' }] }],
      clusters: [
        {
          name: 'api',
          type: 'STATIC',
          endpoints: servers.map((s) => `127.0.0.1:${s.port}`),
          tls: { sni: 'localhost', caFile: pki.ca.certFile },
          outlierDetection: { consecutive5xx: 2, baseEjectionTime: '30s', maxEjectionPercent: 50 },
        },
      ],
    })
    const statuses: number[] = []
    for (let i = 0; i < 10; i++) statuses.push((await get(`${a.url}/`)).status)
    // Round robin hits the bad host on tries 1 and 3 (2 consecutive 5xx), then it is ejected.
    expect(statuses.slice(0, 4).filter((s) => s === 500)).toHaveLength(2)
    expect(statuses.slice(4)).toEqual([200, 200, 200, 200, 200, 200])
    const hosts = a.amb.clusters()[0]!.hosts
    expect(hosts.filter((h) => h.ejected(Date.now()))).toHaveLength(1)
  })
})

describe('drain', () => {
  it('finishes requests in flight with Connection: close, then stops accepting', async () => {
    const u = await upstream((_req, res) => setTimeout(() => res.end('finished'), 400))
    const a = await startInProcess({
      listeners: [{ port: 0, routes: [{ cluster: 'api' }] }],
      clusters: [tlsCluster('api', u.port, pki)],
      drainTime: 100,
    })
    const inflight = get(`${a.url}/slow`)
    await waitUntil(() => u.requests.length === 1)
    const stopped = a.amb.stop({ deadline: Date.now() + 5000 })
    const res = await inflight
    expect(res).toMatchObject({ status: 200, body: 'finished' })
    expect(res.headers.connection).toBe('close')
    await stopped
    await expect(request(`${a.url}/`)).rejects.toThrow(/ECONNREFUSED/)
  })

  it('answers a request on a connection idle when the drain began, with Connection: close, as Envoy does', async () => {
    const u = await upstream((req, res) => res.end(`${req.url} ok`))
    const a = await ambassador({
      listeners: [{ port: 0, routes: [{ cluster: 'api' }] }],
      clusters: [tlsCluster('api', u.port, pki)],
      drainTime: 3000,
    })
    const s = connect(a.port, '127.0.0.1')
    const closed = once(s, 'close')
    s.on('error', () => {})
    let out = ''
    s.on('data', (d) => {
      out += d
    })
    s.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n')
    await waitUntil(() => out.endsWith('/first ok'))
    // The app's pool keeps this connection and sends on it while the drain (SIGTERM) starts: its
    // request is answered, and the answer says to close, instead of the request meeting a reset.
    a.amb.drainListeners(true)
    s.write('GET /second HTTP/1.1\r\nHost: x\r\n\r\n')
    await closed
    expect(out).toMatch(
      /\/first ok[\s\S]*HTTP\/1\.1 200 OK\r\n[\s\S]*connection: close\r\n[\s\S]*\/second ok$/,
    )
  })
})

async function waitUntil(check: () => boolean, ms = 5000) {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

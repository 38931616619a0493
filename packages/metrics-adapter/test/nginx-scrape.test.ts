// The adapter as a library against Debian's nginx: exact values after known traffic, nginx going
// down and coming back, every kind of failure, unix sockets, https with a test CA and client
// certificates, several targets; every exposition checked by the strict text-format parser.

import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createLogger, Registry } from '@podkit/runtime'
import {
  createTestPki,
  freePort,
  type NginxOptions,
  type NginxServer,
  startNginx,
  type TestPki,
  waitForPort,
} from '@podkit/test-utils'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type ParsedFamily, parsePromText, sampleOf } from '../../runtime/test/prom-text.ts'
import { createMetricsAdapter, type MetricsAdapter, type MetricsAdapterConfig } from '../src/index.ts'

const logger = createLogger({ name: 'metrics-adapter-test', level: 'silent' })
const adapters: MetricsAdapter[] = []
const nginxes: NginxServer[] = []

afterEach(async () => {
  await Promise.all(adapters.splice(0).map((a) => a.stop()))
})
afterAll(async () => {
  await Promise.all(nginxes.splice(0).map((n) => n.stop()))
})

function adapter(
  config: Partial<MetricsAdapterConfig> & Pick<MetricsAdapterConfig, 'targets'>,
): MetricsAdapter {
  const a = createMetricsAdapter(
    // registryCacheTtl 0: every read of the diagnostics is fresh.
    { timeout: 5000, tls: { verify: true }, coalesceWindow: 0, registryCacheTtl: 0, ...config },
    { logger, registry: new Registry(), version: 'test' },
  )
  adapters.push(a)
  return a
}

async function nginx(http?: NginxOptions['http']): Promise<NginxServer> {
  const n = await startNginx(http ? { http } : {})
  nginxes.push(n)
  return n
}

/** The raw stub_status numbers, as curl would see them. */
async function rawStub(url: string): Promise<{
  [k in 'active' | 'accepted' | 'handled' | 'requests' | 'reading' | 'writing' | 'waiting']: number
}> {
  const text = await (await fetch(url)).text()
  const n = text.match(/\d+/g)!.map(Number)
  return {
    active: n[0]!,
    accepted: n[1]!,
    handled: n[2]!,
    requests: n[3]!,
    reading: n[4]!,
    writing: n[5]!,
    waiting: n[6]!,
  }
}

async function scrape(a: MetricsAdapter): Promise<Map<string, ParsedFamily>> {
  return parsePromText(await a.scrape())
}

const value = (f: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}) =>
  sampleOf(f, name, labels)?.value

describe('against a real nginx', () => {
  let ngx: NginxServer
  beforeAll(async () => {
    ngx = await nginx()
  })

  it('takes a timeout of 0 as none, as the exporter does', async () => {
    // Go's http.Client has no timeout at 0; every fetch here timed out at once (nginx_up 0).
    const a = adapter({ targets: [{ uri: `${ngx.url}/nginx_status` }], timeout: 0 })
    expect(value(await scrape(a), 'nginx_up')).toBe(1)
  })

  it('reports the stub_status numbers exactly, after known traffic', async () => {
    const a = adapter({ targets: [{ uri: `${ngx.url}/nginx_status` }] })
    const before = await rawStub(`${ngx.url}/nginx_status`)
    for (let i = 0; i < 25; i++) await (await fetch(`${ngx.url}/`)).text()
    const f = await scrape(a)
    // nginx counts a request when it reads it: the raw read, 25 pages, and the adapter's own fetch.
    expect(value(f, 'nginx_http_requests_total')).toBe(before.requests + 26)
    expect(value(f, 'nginx_connections_accepted')).toBeGreaterThan(before.accepted)
    expect(value(f, 'nginx_connections_handled')).toBe(value(f, 'nginx_connections_accepted'))
    // The adapter's own request is the one being written when nginx renders the page.
    expect(value(f, 'nginx_connections_writing')).toBeGreaterThanOrEqual(1)
    expect(value(f, 'nginx_connections_active')).toBeGreaterThanOrEqual(1)
    expect(value(f, 'nginx_up')).toBe(1)
    const after = await rawStub(`${ngx.url}/nginx_status`)
    expect(after.requests).toBe(before.requests + 27)
    expect(f.get('nginx_connections_accepted')).toMatchObject({
      type: 'counter',
      help: 'Accepted client connections',
    })
    expect(f.get('nginx_connections_waiting')).toMatchObject({
      type: 'gauge',
      help: 'Idle client connections',
    })
    expect(f.get('nginx_up')).toMatchObject({ type: 'gauge', help: 'Status of the last metric scrape' })
  })

  it('answers up 0 quietly once stopped, without counting an error', async () => {
    const a = adapter({ targets: [{ uri: `${ngx.url}/nginx_status` }] })
    expect(value(await scrape(a), 'nginx_up')).toBe(1)
    await a.stop()
    expect(value(await scrape(a), 'nginx_up')).toBe(0)
    expect(await a.metricsText()).not.toMatch(/scrape_errors_total\{[^}]*\} [1-9]/)
  })

  it('puts const labels on every series', async () => {
    const a = adapter({
      targets: [{ uri: `${ngx.url}/nginx_status` }],
      constLabels: { env: 'prod', team: 'web' },
    })
    const f = await scrape(a)
    const all = [...f.values()].flatMap((fam) => fam.samples)
    expect(all).toHaveLength(8)
    for (const s of all) expect(s.labels).toEqual({ env: 'prod', team: 'web' })
  })

  it('coalesces concurrent scrapes only into fetches that began after them', async () => {
    const a = adapter({ targets: [{ uri: `${ngx.url}/nginx_status` }], coalesceWindow: 50 })
    await a.scrape()
    const first = a.scrape() // starts a fetch now
    // These arrive while that fetch is in flight: they must not get its (older) numbers, but those
    // of a fetch that starts after it, which nginx counts as a later request.
    const later = Promise.all(Array.from({ length: 8 }, () => a.scrape()))
    const firstCount = value(parsePromText(await first), 'nginx_http_requests_total')!
    for (const text of await later) {
      expect(value(parsePromText(text), 'nginx_http_requests_total')).toBeGreaterThan(firstCount)
    }
    const registry = await a.metricsText()
    const fetches = /podkit_metrics_adapter_target_fetches_total\{[^}]*\} (\d+)/.exec(registry)
    expect(Number(fetches?.[1])).toBeLessThan(10)
  })
})

describe('nginx closing keep-alive connections', () => {
  it('stays up when nginx ends connections after keepalive_requests and keepalive_timeout', async () => {
    const ngx = await nginx(
      ({ port }) => `
      keepalive_requests 3;
      keepalive_timeout 1s;
      server { listen 127.0.0.1:${port}; location = /nginx_status { stub_status; } }`,
    )
    const a = adapter({ targets: [{ uri: `${ngx.url}/nginx_status` }] })
    // Every third answer carries Connection: close.
    for (let i = 0; i < 10; i++) expect(value(await scrape(a), 'nginx_up'), `scrape ${i}`).toBe(1)
    // nginx drops the idle connection after 1s without a word; the next scrape reconnects.
    await new Promise((r) => setTimeout(r, 1500))
    expect(value(await scrape(a), 'nginx_up')).toBe(1)
    expect(await a.metricsText()).not.toMatch(/scrape_errors_total\{[^}]*\} [1-9]/)
  })

  it('scrapes an IPv6 literal target', async () => {
    const ngx = await nginx(
      ({ port }) => `
      server { listen 127.0.0.1:${port}; listen [::1]:${port}; location = /nginx_status { stub_status; } }`,
    )
    const a = adapter({ targets: [{ uri: `http://[::1]:${ngx.port}/nginx_status` }] })
    expect(value(await scrape(a), 'nginx_up')).toBe(1)
  })
})

describe('failures never stop the adapter', () => {
  it('nginx stopped -> nginx_up 0 and nothing else; nginx back -> 1', async () => {
    const fixed = await freePort()
    const http = ({ port }: { port: number }) => `
      server {
        listen 127.0.0.1:${port};
        listen 127.0.0.1:${fixed};
        location = /nginx_status { stub_status; }
      }`
    let n = await startNginx({ http })
    const a = adapter({ targets: [{ uri: `http://127.0.0.1:${fixed}/nginx_status` }] })
    expect(value(await scrape(a), 'nginx_up')).toBe(1)
    await n.stop()
    const down = await scrape(a)
    expect([...down.keys()]).toEqual(['nginx_up'])
    expect(value(down, 'nginx_up')).toBe(0)
    expect(await a.metricsText()).toMatch(
      /podkit_metrics_adapter_scrape_errors_total\{[^}]*type="connect"[^}]*\} [1-9]/,
    )
    n = await startNginx({ http })
    nginxes.push(n)
    await waitForPort(fixed)
    const back = await scrape(a)
    expect(value(back, 'nginx_up')).toBe(1)
    expect(value(back, 'nginx_http_requests_total')).toBeGreaterThanOrEqual(1)
  })

  it('classifies timeout, refused, 404, HTML and garbage, each as its own error type', async () => {
    const ngx = await nginx(({ prefix, port }) => {
      writeFileSync(join(prefix, 'big.txt'), 'x'.repeat(4000))
      return `
        server {
          listen 127.0.0.1:${port};
          location = /nginx_status { stub_status; }
          location = /slow { limit_rate 100; limit_rate_after 0; alias ${prefix}/big.txt; }
          location = /html { default_type text/html; return 200 "<html><body><h1>Welcome to nginx!</h1></body></html>"; }
          location = /garbage { return 200 "\\x00\\x01 not a status page\\n"; }
          location / { return 404; }
        }`
    })
    const refused = await freePort()
    const targets = {
      timeout: `${ngx.url}/slow`,
      connect: `http://127.0.0.1:${refused}/nginx_status`,
      http_status: `${ngx.url}/missing`,
      parse: `${ngx.url}/html`,
      garbage: `${ngx.url}/garbage`,
      ok: `${ngx.url}/nginx_status`,
    }
    const a = adapter({ targets: Object.values(targets).map((uri) => ({ uri })), timeout: 1000 })
    const f = await scrape(a)
    const up = (uri: string) => value(f, 'nginx_up', { addr: uri })
    for (const [kind, uri] of Object.entries(targets)) expect(up(uri), kind).toBe(kind === 'ok' ? 1 : 0)
    // Only the healthy target has nginx_* series.
    expect(f.get('nginx_connections_active')!.samples.map((s) => s.labels.addr)).toEqual([targets.ok])
    const reg = await a.metricsText()
    const errors = (uri: string, type: string) =>
      Number(
        new RegExp(
          `podkit_metrics_adapter_scrape_errors_total\\{target="${uri}",source="nginx",type="${type}"\\} (\\d+)`,
        ).exec(reg)?.[1],
      )
    expect(errors(targets.timeout, 'timeout')).toBe(1)
    expect(errors(targets.connect, 'connect')).toBe(1)
    expect(errors(targets.http_status, 'http_status')).toBe(1)
    expect(errors(targets.parse, 'parse')).toBe(1)
    expect(errors(targets.garbage, 'parse')).toBe(1)
    expect(errors(targets.ok, 'parse')).toBe(0)
    // The slow target did not hold the others: the whole scrape took about one timeout.
    const t0 = Date.now()
    await a.scrape()
    expect(Date.now() - t0).toBeLessThan(3500)
  })
})

describe('redirects', () => {
  it('follows them as the exporter does, but not from /probe targets', async () => {
    // The exporter's Go client follows up to 10 redirects; the adapter answered nginx_up 0 to a
    // status page that moved (or an http URI sent on to another place).
    const other = await nginx()
    const ngx = await nginx(
      ({ port }) => `
        server {
          listen 127.0.0.1:${port};
          location = /nginx_status { stub_status; }
          location = /moved { return 301 /nginx_status; }
          location = /elsewhere { return 302 ${other.url}/nginx_status; }
          location = /temporary { return 307 /moved; }
          location = /loop { return 302 /loop; }
        }`,
    )
    const moved = `${ngx.url}/moved`
    const elsewhere = `${ngx.url}/elsewhere`
    const temporary = `${ngx.url}/temporary`
    const loop = `${ngx.url}/loop`
    const a = adapter({ targets: [moved, elsewhere, temporary, loop].map((uri) => ({ uri })) })
    for (let i = 0; i < 2; i++) {
      const f = await scrape(a)
      expect(value(f, 'nginx_up', { addr: moved })).toBe(1)
      expect(value(f, 'nginx_up', { addr: elsewhere })).toBe(1)
      expect(value(f, 'nginx_up', { addr: temporary })).toBe(1)
      expect(value(f, 'nginx_up', { addr: loop })).toBe(0)
      // The other nginx answered the redirected scrape: it counted that request.
      expect(value(f, 'nginx_http_requests_total', { addr: elsewhere })).toBeGreaterThanOrEqual(i + 1)
    }
    expect(await a.metricsText()).toContain(
      `podkit_metrics_adapter_scrape_errors_total{target="${loop}",source="nginx",type="http_status"} 2`,
    )
    // An allow-listed /probe target may not lead anywhere else.
    const p = adapter({ targets: [], probeTargets: [elsewhere] })
    expect(value(parsePromText(await p.probe(elsewhere)), 'nginx_up')).toBe(0)
  })
})

describe('PROXY protocol (--nginx.proxy-protocol)', () => {
  it('opens each connection with a v2 header: TCP over IPv4 and IPv6, a unix socket, TLS', async () => {
    // An nginx listening with proxy_protocol closes a connection without the header; the
    // exporter's flag sends one. $proxy_protocol_addr shows what nginx read from ours.
    const pki = createTestPki({ caName: 'metrics-adapter proxy CA' })
    const port6 = await freePort()
    const tlsPort = await freePort()
    const ngx = await nginx(
      ({ prefix, port }) => `
        log_format pp '$server_port $proxy_protocol_addr';
        server {
          listen 127.0.0.1:${port} proxy_protocol;
          listen [::1]:${port6} proxy_protocol;
          listen unix:${prefix}/pp.sock proxy_protocol;
          listen 127.0.0.1:${tlsPort} ssl proxy_protocol;
          ssl_certificate ${pki.server.certFile};
          ssl_certificate_key ${pki.server.keyFile};
          access_log ${prefix}/pp.log pp;
          location = /nginx_status { stub_status; }
        }`,
    )
    try {
      const uris = [
        `${ngx.url}/nginx_status`,
        `http://[::1]:${port6}/nginx_status`,
        `unix:${ngx.prefix}/pp.sock:/nginx_status`,
        `https://localhost:${tlsPort}/nginx_status`,
      ]
      const targets = uris.map((uri) => ({ uri }))
      const tls = { verify: true, caFile: pki.ca.certFile }
      const plain = adapter({ targets, tls })
      const f0 = await scrape(plain)
      for (const uri of uris) expect(value(f0, 'nginx_up', { addr: uri }), `${uri} without`).toBe(0)
      const a = adapter({ targets, tls, proxyProtocol: true })
      for (let i = 0; i < 2; i++) {
        const f = await scrape(a)
        for (const uri of uris) expect(value(f, 'nginx_up', { addr: uri }), uri).toBe(1)
      }
      const log = readFileSync(join(ngx.prefix, 'pp.log'), 'utf8')
      expect(log).toContain(`${ngx.port} 127.0.0.1\n`)
      expect(log).toContain(`${port6} ::1\n`)
      expect(log).toContain(`${tlsPort} 127.0.0.1\n`)
    } finally {
      pki.cleanup()
    }
  })
})

describe('credentials in the URI', () => {
  it('sends basic auth from user:password@ and never shows the password', async () => {
    const ngx = await nginx(({ prefix, port }) => {
      // An htpasswd entry made with openssl, as an admin would.
      const hash = execFileSync('openssl', ['passwd', '-apr1', 's3cret-pw'], { encoding: 'utf8' }).trim()
      writeFileSync(join(prefix, 'htpasswd'), `scraper:${hash}\n`)
      return `
        server {
          listen 127.0.0.1:${port};
          location = /nginx_status { auth_basic "status"; auth_basic_user_file ${prefix}/htpasswd; stub_status; }
        }`
    })
    const good = `http://scraper:s3cret-pw@127.0.0.1:${ngx.port}/nginx_status`
    const none = `${ngx.url}/nginx_status`
    const a = adapter({ targets: [{ uri: good }, { uri: none }] })
    const text = await a.scrape()
    const f = parsePromText(text)
    expect(f.get('nginx_up')!.samples.map((s) => [s.labels.addr, s.value])).toEqual([
      [`http://scraper:[redacted]@127.0.0.1:${ngx.port}/nginx_status`, 1],
      [none, 0],
    ])
    const all = text + (await a.metricsText())
    expect(all).not.toContain('s3cret-pw')
    // Without credentials nginx answers 401: an http_status failure of that target only.
    expect(all).toContain(
      `podkit_metrics_adapter_scrape_errors_total{target="${none}",source="nginx",type="http_status"} 1`,
    )
  })
})

describe('unix sockets', () => {
  it('dials each socket of several, each to its own nginx', async () => {
    const sock =
      (name: string) =>
      ({ prefix, port }: { prefix: string; port: number }) =>
        `
      server { listen 127.0.0.1:${port}; location / { return 200 "ok\\n"; } }
      server { listen unix:${prefix}/${name}.sock; location = /stub_status { stub_status; } }`
    const one = await nginx(sock('one'))
    const two = await nginx(sock('two'))
    // Different traffic on each, so that a mixed-up socket shows.
    for (let i = 0; i < 30; i++) await (await fetch(`${two.url}/`)).text()
    const u1 = `unix:${one.prefix}/one.sock:/stub_status`
    const u2 = `unix:${two.prefix}/two.sock:/stub_status`
    const a = adapter({ targets: [{ uri: u1 }, { uri: u2 }] })
    const f = await scrape(a)
    expect(value(f, 'nginx_up', { addr: u1 })).toBe(1)
    expect(value(f, 'nginx_up', { addr: u2 })).toBe(1)
    const r1 = value(f, 'nginx_http_requests_total', { addr: u1 })!
    const r2 = value(f, 'nginx_http_requests_total', { addr: u2 })!
    expect(r1).toBeLessThan(5)
    expect(r2).toBeGreaterThanOrEqual(31)
  })
})

describe('https targets', () => {
  let pki: TestPki
  let ngx: NginxServer
  let mtls: NginxServer
  beforeAll(async () => {
    pki = createTestPki({ caName: 'metrics-adapter test CA' })
    const tls =
      (extra: string) =>
      ({ port }: { prefix: string; port: number }) =>
        `
      server {
        listen 127.0.0.1:${port} ssl;
        ssl_certificate ${pki.server.certFile};
        ssl_certificate_key ${pki.server.keyFile};
        ${extra}
        location = /stub_status { stub_status; }
      }`
    ngx = await nginx(tls(''))
    mtls = await nginx(tls(`ssl_verify_client on; ssl_client_certificate ${pki.ca.certFile};`))
  })
  afterAll(() => pki.cleanup())

  const httpsUri = (n: NginxServer) => `https://localhost:${n.port}/stub_status`

  it('verifies the server against the configured CA', async () => {
    const a = adapter({ targets: [{ uri: httpsUri(ngx) }], tls: { verify: true, caFile: pki.ca.certFile } })
    expect(value(await scrape(a), 'nginx_up')).toBe(1)
  })

  it('fails with a tls error for an unknown CA when verification is on, and works with it off', async () => {
    const strict = adapter({ targets: [{ uri: httpsUri(ngx) }], tls: { verify: true } })
    expect(value(await scrape(strict), 'nginx_up')).toBe(0)
    expect(await strict.metricsText()).toMatch(/scrape_errors_total\{[^}]*type="tls"\} 1/)
    const lax = adapter({ targets: [{ uri: httpsUri(ngx) }], tls: { verify: false } })
    expect(value(await scrape(lax), 'nginx_up')).toBe(1)
  })

  it('fails when the name does not match the certificate', async () => {
    const wrongName = pki.issue('other', { dns: ['other.example'] })
    const n = await nginx(
      ({ port }) => `
      server {
        listen 127.0.0.1:${port} ssl;
        ssl_certificate ${wrongName.certFile};
        ssl_certificate_key ${wrongName.keyFile};
        location = /stub_status { stub_status; }
      }`,
    )
    const a = adapter({ targets: [{ uri: httpsUri(n) }], tls: { verify: true, caFile: pki.ca.certFile } })
    expect(value(await scrape(a), 'nginx_up')).toBe(0)
    expect(await a.metricsText()).toMatch(/type="tls"\} 1/)
  })

  it('presents a client certificate to a server that requires one', async () => {
    const without = adapter({
      targets: [{ uri: httpsUri(mtls) }],
      tls: { verify: true, caFile: pki.ca.certFile },
    })
    expect(value(await scrape(without), 'nginx_up')).toBe(0)
    const withCert = adapter({
      targets: [{ uri: httpsUri(mtls) }],
      tls: {
        verify: true,
        caFile: pki.ca.certFile,
        certFile: pki.client.certFile,
        keyFile: pki.client.keyFile,
      },
    })
    expect(value(await scrape(withCert), 'nginx_up')).toBe(1)
  })
})

describe('other sources and /probe', () => {
  it('scrapes an Apache and a PHP-FPM status page served over HTTP beside nginx', async () => {
    // Debian's apache2 and php-fpm are not installed here: nginx serves their pages' exact text.
    const ngx = await nginx(
      ({ port }) => `
      server {
        listen 127.0.0.1:${port};
        location = /nginx_status { stub_status; }
        location = /server-status { default_type text/plain; return 200 "localhost\\nServerVersion: Apache/2.4.57 (Debian)\\nTotal Accesses: 99\\nTotal kBytes: 12\\nUptime: 50\\nBusyWorkers: 1\\nIdleWorkers: 49\\nScoreboard: _W__\\n"; }
        location = /fpm-status { default_type text/plain; return 200 "pool:                 www\\naccepted conn:        7\\nstart since:          60\\nlisten queue:         0\\nmax listen queue:     0\\nlisten queue len:     0\\nidle processes:       1\\nactive processes:     1\\ntotal processes:      2\\nmax active processes: 1\\nmax children reached: 0\\n"; }
      }`,
    )
    const a = adapter({
      targets: [
        { uri: `${ngx.url}/nginx_status` },
        { uri: `${ngx.url}/server-status?auto`, source: 'apache' },
        { uri: `${ngx.url}/fpm-status`, source: 'php-fpm' },
      ],
    })
    const f = await scrape(a)
    expect(value(f, 'nginx_up')).toBe(1)
    expect(value(f, 'apache_up')).toBe(1)
    expect(value(f, 'apache_accesses_total')).toBe(99)
    expect(value(f, 'apache_scoreboard', { state: 'idle' })).toBe(3)
    expect(value(f, 'phpfpm_up')).toBe(1)
    expect(value(f, 'phpfpm_accepted_connections', { pool: 'www' })).toBe(7)
    // One target per source: no addr label.
    expect(sampleOf(f, 'nginx_up')!.labels).toEqual({})
  })

  it('probes only allow-listed targets', async () => {
    const ngx = await nginx()
    const listed = `${ngx.url}/nginx_status`
    const a = adapter({ targets: [], probeTargets: [listed] })
    const f = parsePromText(await a.probe(listed))
    expect(value(f, 'nginx_up')).toBe(1)
    expect(value(f, 'nginx_http_requests_total')).toBeGreaterThanOrEqual(1)
    await expect(a.probe(`${ngx.url}/other`)).rejects.toThrow(/not in probe.targets/)
    await expect(a.probe('http://169.254.169.254/latest/meta-data/')).rejects.toThrow(/not in probe.targets/)
    await expect(a.probe(listed, 'memcached')).rejects.toThrow(/unknown module/)
    // Names of Object.prototype's members are unknown modules too (they answered 500, uncounted).
    for (const m of ['constructor', '__proto__', 'toString'])
      await expect(a.probe(listed, m)).rejects.toThrow(/unknown module/)
    expect((await a.metrics.probeDenied.get()).values[0]!.value).toBe(6)
    // The right page with the wrong module is a parse failure, reported as apache_up 0.
    const wrong = parsePromText(await a.probe(listed, 'apache'))
    expect(value(wrong, 'apache_up')).toBe(0)
  })
})

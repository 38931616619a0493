// The shipped entrypoint (node dist/main.js) as the seed pod runs it: the exporter's flags of both
// generations and its env vars, nginx down at start, /probe, OpenMetrics, --check-config, the
// admin endpoints and the SIGTERM drain.

import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  freePort,
  type NginxServer,
  type ServiceProcess,
  spawnService,
  startNginx,
  waitFor,
  waitForPort,
} from '@podkit/test-utils'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parsePromText, sampleOf } from '../../runtime/test/prom-text.ts'

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..')
const entry = join(pkg, 'dist/main.js')
const services: ServiceProcess[] = []
let ngx: NginxServer

beforeAll(async () => {
  // Test what ships: bundle src/main.ts into dist/main.js as the image build does.
  execFileSync(process.execPath, [join(pkg, '../../scripts/build.mjs')], { cwd: pkg, stdio: 'pipe' })
  ngx = await startNginx()
})
afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.stop('SIGKILL')))
})
afterAll(async () => {
  await ngx?.stop()
})

async function run(args: string[], env: Record<string, string> = {}, port?: number): Promise<ServiceProcess> {
  const svc = spawnService({ entry, args, env: { LOG_LEVEL: 'info', ...env } })
  services.push(svc)
  if (port) {
    await Promise.race([
      waitForPort(port),
      svc.exited.then((code) => {
        throw new Error(`exited with ${code}: ${svc.stderr()} ${JSON.stringify(svc.logs)}`)
      }),
    ])
  }
  return svc
}

const get = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { headers })
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() }
}

describe('the seed pod command line', () => {
  it('serves the exporter metrics on :port/metrics with /healthz and /ready', async () => {
    const port = await freePort()
    await run(
      [`-nginx.scrape-uri=${ngx.url}/nginx_status`, `-web.listen-address=127.0.0.1:${port}`],
      {},
      port,
    )
    const m = await get(`http://127.0.0.1:${port}/metrics`)
    expect(m.status).toBe(200)
    expect(m.type).toBe('text/plain; version=0.0.4; charset=utf-8')
    // The whole page, prom-client's part included, passes the strict parser.
    const f = parsePromText(m.text)
    expect(sampleOf(f, 'nginx_up')!.value).toBe(1)
    expect(sampleOf(f, 'nginx_http_requests_total')!.value).toBeGreaterThanOrEqual(1)
    expect(sampleOf(f, 'nginx_exporter_build_info')!.labels).toMatchObject({ version: '0.1.0' })
    expect(f.has('process_resident_memory_bytes')).toBe(true)
    expect(f.has('podkit_metrics_adapter_scrape_duration_seconds')).toBe(true)
    expect((await get(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
    await waitFor(async () => (await get(`http://127.0.0.1:${port}/ready`)).status === 200, 10_000, '/ready')
  })

  it('takes the v1.x flags: repeated URIs, const labels, another telemetry path', async () => {
    const port = await freePort()
    const u1 = `${ngx.url}/nginx_status`
    const u2 = `http://localhost:${ngx.port}/nginx_status`
    await run(
      [
        '--nginx.scrape-uri',
        u1,
        `--nginx.scrape-uri=${u2}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.telemetry-path=/prom',
        '--prometheus.const-label=env=test',
        '--prometheus.const-label',
        'zone=a',
        '--nginx.timeout=2s',
      ],
      {},
      port,
    )
    const f = parsePromText((await get(`http://127.0.0.1:${port}/prom`)).text)
    expect(sampleOf(f, 'nginx_up', { addr: u1 })).toMatchObject({
      value: 1,
      labels: { addr: u1, env: 'test', zone: 'a' },
    })
    expect(sampleOf(f, 'nginx_up', { addr: u2 })).toMatchObject({ value: 1 })
    expect(f.get('nginx_connections_active')!.samples).toHaveLength(2)
    expect((await get(`http://127.0.0.1:${port}/metrics`)).status).toBe(404)
  })

  it('listens on IPv6 and IPv4 for :port, as the exporter does', async () => {
    // Go's ":9113" (the default), "0.0.0.0:9113" and "[::]:9113" are one dual-stack socket; the
    // adapter listened on 0.0.0.0 only, so scrapes of a pod's IPv6 address were refused.
    for (const listen of [':', '0.0.0.0:']) {
      const port = await freePort()
      await run(
        [`-nginx.scrape-uri=${ngx.url}/nginx_status`, `-web.listen-address=${listen}${port}`],
        {},
        port,
      )
      for (const host of ['127.0.0.1', '[::1]']) {
        const m = await get(`http://${host}:${port}/metrics`)
        expect(m.status, `${listen}${port} from ${host}`).toBe(200)
        expect(m.text).toMatch(/^nginx_up 1$/m)
      }
    }
  })

  it('serves the metrics on / when the telemetry path is /', async () => {
    // The exporter then has no landing page; ours answered every scrape of / with HTML.
    const port = await freePort()
    await run(
      [
        `-nginx.scrape-uri=${ngx.url}/nginx_status`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.telemetry-path=/',
      ],
      {},
      port,
    )
    const m = await get(`http://127.0.0.1:${port}/`)
    expect(m.type).toContain('text/plain')
    expect(sampleOf(parsePromText(m.text), 'nginx_up')!.value).toBe(1)
  })

  it('takes exporter v1 --web.nginx-metrics-only: the nginx families alone', async () => {
    // An unknown flag stopped the start: the pod crash-looped after the image swap.
    const port = await freePort()
    await run(
      [
        `--nginx.scrape-uri=${ngx.url}/nginx_status`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.nginx-metrics-only',
      ],
      {},
      port,
    )
    const f = parsePromText((await get(`http://127.0.0.1:${port}/metrics`)).text)
    expect(sampleOf(f, 'nginx_up')!.value).toBe(1)
    expect([...f.keys()].filter((name) => !name.startsWith('nginx_')).sort()).toEqual([])
    expect(f.has('nginx_exporter_build_info')).toBe(false)
  })

  it('takes a const label named addr; with several URIs each series has its URI as addr, as v1', async () => {
    // The label stopped the start here; exporter v1 clones the const labels and sets addr per URI.
    const port = await freePort()
    const u1 = `${ngx.url}/nginx_status`
    const u2 = `http://localhost:${ngx.port}/nginx_status`
    await run(
      [
        `--nginx.scrape-uri=${u1}`,
        `--nginx.scrape-uri=${u2}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--prometheus.const-label=addr=edge-1',
        '--prometheus.const-label=env=e',
      ],
      {},
      port,
    )
    const f = parsePromText((await get(`http://127.0.0.1:${port}/metrics`)).text)
    expect(f.get('nginx_up')!.samples.map((s) => s.labels)).toEqual([
      { addr: u1, env: 'e' },
      { addr: u2, env: 'e' },
    ])
  })

  it('takes the exporter env vars', async () => {
    const port = await freePort()
    await run(
      [],
      {
        SCRAPE_URI: `${ngx.url}/nginx_status`,
        LISTEN_ADDRESS: `127.0.0.1:${port}`,
        TELEMETRY_PATH: '/stats',
        CONST_LABELS: 'a=b,c=d',
        TIMEOUT: '3s',
      },
      port,
    )
    const f = parsePromText((await get(`http://127.0.0.1:${port}/stats`)).text)
    expect(sampleOf(f, 'nginx_up')).toMatchObject({ value: 1, labels: { a: 'b', c: 'd' } })
  })
})

describe('nginx not up yet', () => {
  it('keeps serving nginx_up 0, logs the target and the cause, and recovers', async () => {
    const nginxPort = await freePort()
    const port = await freePort()
    const uri = `http://127.0.0.1:${nginxPort}/nginx_status`
    const svc = await run([`-nginx.scrape-uri=${uri}`, `-web.listen-address=127.0.0.1:${port}`], {}, port)
    const down = parsePromText((await get(`http://127.0.0.1:${port}/metrics`)).text)
    expect(sampleOf(down, 'nginx_up')!.value).toBe(0)
    expect(down.has('nginx_connections_active')).toBe(false)
    const line = await svc.waitForLog((l) => l.level === 'warn' && l.target === uri)
    expect(line).toMatchObject({ type: 'connect', code: 'PODKIT_METRICS_FETCH_CONNECT' })
    expect(String(line.msg)).toContain('ECONNREFUSED')
    const late = await startNginx({
      http: ({ port: p }) =>
        `server { listen 127.0.0.1:${p}; listen 127.0.0.1:${nginxPort}; location = /nginx_status { stub_status; } }`,
    })
    try {
      const up = parsePromText((await get(`http://127.0.0.1:${port}/metrics`)).text)
      expect(sampleOf(up, 'nginx_up')!.value).toBe(1)
      await svc.waitForLog((l) => l.msg === 'The target answers again.')
    } finally {
      await late.stop()
    }
    expect(svc.child.exitCode).toBeNull()
  })
})

describe('admin endpoints', () => {
  it('serves /probe for allow-listed targets only', async () => {
    const port = await freePort()
    const other = `${ngx.url}/nginx_status?other`
    await run(
      [
        `-nginx.scrape-uri=${ngx.url}/nginx_status`,
        `-web.listen-address=127.0.0.1:${port}`,
        `--probe.target=${other}`,
      ],
      {},
      port,
    )
    const base = `http://127.0.0.1:${port}/probe`
    const ok = await get(`${base}?target=${encodeURIComponent(other)}`)
    expect(ok.status).toBe(200)
    expect(sampleOf(parsePromText(ok.text), 'nginx_up')!.value).toBe(1)
    expect((await get(`${base}?target=${encodeURIComponent('http://127.0.0.1:22/')}`)).status).toBe(403)
    expect((await get(`${base}?target=${encodeURIComponent(other)}&module=redis`)).status).toBe(403)
    expect((await get(base)).status).toBe(400)
  })

  it('answers OpenMetrics only when enabled and asked for', async () => {
    const port = await freePort()
    await run(
      [
        `-nginx.scrape-uri=${ngx.url}/nginx_status`,
        `-web.listen-address=127.0.0.1:${port}`,
        '--web.openmetrics',
      ],
      {},
      port,
    )
    const om = await get(`http://127.0.0.1:${port}/metrics`, {
      accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5',
    })
    expect(om.type).toContain('application/openmetrics-text')
    expect(om.text.endsWith('# EOF\n')).toBe(true)
    expect(om.text).toMatch(/^nginx_connections_accepted_total \d+$/m)
    const plain = await get(`http://127.0.0.1:${port}/metrics`)
    expect(plain.type).toContain('text/plain')
    // A scraper that prefers the text format (or refuses OpenMetrics with q=0) gets it.
    for (const accept of [
      'text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,*/*;q=0.1',
      'application/openmetrics-text;q=0,text/plain',
    ]) {
      const text = await get(`http://127.0.0.1:${port}/metrics`, { accept })
      expect(text.type, accept).toContain('text/plain')
      expect(text.text).toMatch(/^nginx_connections_accepted \d+$/m)
    }

    const port2 = await freePort()
    await run(
      [`-nginx.scrape-uri=${ngx.url}/nginx_status`, `-web.listen-address=127.0.0.1:${port2}`],
      {},
      port2,
    )
    const off = await get(`http://127.0.0.1:${port2}/metrics`, {
      accept: 'application/openmetrics-text;version=1.0.0',
    })
    expect(off.type).toContain('text/plain')
    expect(off.text).toMatch(/^nginx_connections_accepted \d+$/m)
  })

  it('drains on SIGTERM and exits 0', async () => {
    const port = await freePort()
    const svc = await run(
      [`-nginx.scrape-uri=${ngx.url}/nginx_status`, `-web.listen-address=127.0.0.1:${port}`],
      {},
      port,
    )
    await svc.waitForLog((l) => l.msg === 'Ready.')
    expect(await svc.stop('SIGTERM')).toBe(0)
    expect(svc.logs.some((l) => String(l.msg).startsWith('Drained'))).toBe(true)
  })
})

describe('config file', () => {
  it('scrapes targets of other sources named in a YAML file, and names a bad key', async () => {
    const web = await startNginx({
      http: ({ port }) => `
        server {
          listen 127.0.0.1:${port};
          location = /nginx_status { stub_status; }
          location = /server-status { default_type text/plain; return 200 "BusyWorkers: 3\nIdleWorkers: 7\nScoreboard: WWW_______\n"; }
        }`,
    })
    const dir = mkdtempSync(join(tmpdir(), 'ma-conf-'))
    try {
      const file = join(dir, 'adapter.yaml')
      writeFileSync(
        file,
        [
          'prometheus:',
          '  constLabels: [cluster=eu-1]',
          'targets:',
          `  - { uri: "${web.url}/nginx_status", source: nginx }`,
          `  - { uri: "${web.url}/server-status?auto", source: apache }`,
          '',
        ].join('\n'),
      )
      const port = await freePort()
      await run([`--config=${file}`, `--web.listen-address=127.0.0.1:${port}`], {}, port)
      const f = parsePromText((await get(`http://127.0.0.1:${port}/metrics`)).text)
      expect(sampleOf(f, 'nginx_up')).toMatchObject({ value: 1, labels: { cluster: 'eu-1' } })
      expect(sampleOf(f, 'apache_workers', { state: 'busy' })).toMatchObject({
        value: 3,
        labels: { cluster: 'eu-1' },
      })
      expect(sampleOf(f, 'apache_scoreboard', { state: 'reply' })!.value).toBe(3)

      writeFileSync(file, 'targets:\n  - { uri: "http://127.0.0.1:1/x", source: memcached }\n')
      const bad = spawnSync(process.execPath, [entry, `--config=${file}`, '--check-config'], {
        encoding: 'utf8',
      })
      expect(bad.status).toBe(2)
      expect(bad.stderr).toMatch(
        /targets\.0\.source: expected one of nginx, apache, php-fpm, got "memcached"/,
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
      await web.stop()
    }
  })
})

describe('command line checks', () => {
  const cli = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [entry, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
    })

  it('validates the seed config with --check-config', () => {
    const r = cli(['-nginx.scrape-uri=http://localhost:8080/nginx_status', '--check-config'])
    expect(r.status).toBe(0)
    expect(r.stdout).toContain('configuration is valid')
  })

  it('stops at start-up on a malformed value, naming the key', () => {
    const r = cli(['-nginx.scrape-uri=http://localhost:8080/nginx_status', '-nginx.timeout=soon'])
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/nginx\.timeout: expected a duration/)
    const plus = cli(['-nginx.plus', '--check-config'])
    expect(plus.status).toBe(2)
    expect(plus.stderr).toMatch(/nginx\.plus/)
    const uri = cli(['--check-config'], { SCRAPE_URI: 'gopher://x/' })
    expect(uri.status).toBe(2)
    expect(uri.stderr).toMatch(/nginx\.scrapeUri.*gopher/)
  })

  it('prints the version and the help with every env var', () => {
    expect(cli(['-version']).stdout).toMatch(/version=0\.1\.0/)
    const help = cli(['--help']).stdout
    for (const env of [
      'SCRAPE_URI',
      'LISTEN_ADDRESS',
      'TELEMETRY_PATH',
      'TIMEOUT',
      'SSL_VERIFY',
      'CONST_LABELS',
    ]) {
      expect(help).toContain(env)
    }
  })
})

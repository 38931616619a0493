// The shipped process (dist/main.js): the seed's envoy.yaml pointed at a local TLS upstream,
// Envoy's admin paths, nginx with TLS as an upstream, --check-config, and the SIGTERM drain.

import { readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, spawnService, startNginx, tempDir, waitFor } from '@podkit/test-utils'
import { request } from 'undici'
import { describe, expect, it } from 'vitest'
import { entry, fileFixtures, spawnAmbassador } from './helpers.ts'

const seed = readFileSync(fileURLToPath(new URL('./fixtures/seed-envoy.yaml', import.meta.url)), 'utf8')
const { pki, cleanups, upstream } = fileFixtures()
const ext = pki.issue('external', { dns: ['api.external-service.com'] })

/** The seed's envoy.yaml, unchanged but for the listener port (free) and the upstream port. */
async function seedAmbassador(upstreamPort: number, env: Record<string, string> = {}) {
  const listen = await freePort()
  const envoy = seed
    .replace('port_value: 8001', `port_value: ${listen}`)
    .replace('port_value: 443', `port_value: ${upstreamPort}`)
  const amb = await spawnAmbassador({
    envoy,
    env: {
      // The address stays api.external-service.com: the resolve option points it here, and the
      // test CA is trusted the way a pod would add a CA to the system store.
      RESOLVE: JSON.stringify({ 'api.external-service.com': ['127.0.0.1'] }),
      NODE_EXTRA_CA_CERTS: pki.ca.certFile,
      ADMIN_HOST: '127.0.0.1',
      DRAIN_TIME: '100ms',
      ...env,
    },
  })
  cleanups.push(() => amb.stop())
  return amb
}

describe('the seed envoy.yaml', () => {
  it('validates with --check-config, unchanged', async () => {
    const dir = tempDir()
    cleanups.push(() => dir.cleanup())
    const f = join(dir.path, 'envoy.yaml')
    writeFileSync(f, seed)
    const svc = spawnService({ entry, args: ['-c', f, '--check-config'] })
    expect(await svc.exited).toBe(0)
  })

  it('proxies http://localhost:8001 to the TLS upstream with SNI, and serves Envoy admin paths', async () => {
    const u = await upstream((req, res) => res.end(`sni-host=${req.headers.host}`), {
      cert: ext,
    })
    const amb = await seedAmbassador(u.port)
    const res = await request(`${amb.url}/v1/orders`)
    expect(res.statusCode).toBe(200)
    expect(await res.body.text()).toBe(`sni-host=api.external-service.com:${u.port}`)
    const access = await amb.svc.waitForLog((l) => l.msg === 'request')
    expect(access).toMatchObject({ method: 'GET', path: '/v1/orders', status: 200, cluster: 'external_api' })

    const ready = await request(`${amb.admin}/ready`)
    expect(ready.statusCode).toBe(200)
    expect(await ready.body.text()).toBe('LIVE\n')
    const stats = await (await request(`${amb.admin}/stats/prometheus`)).body.text()
    expect(stats).toMatch(
      /podkit_http_ambassador_requests_total\{listener="listener_0",cluster="external_api",code_class="2xx"\} 1/,
    )
    const metrics = await (await request(`${amb.admin}/metrics`)).body.text()
    expect(metrics).toContain('podkit_http_ambassador_requests_total')
    const clusters = await (await request(`${amb.admin}/clusters`)).body.text()
    expect(clusters).toContain(`external_api::127.0.0.1:${u.port}::rq_total::1`)
    expect(clusters).toContain(`external_api::127.0.0.1:${u.port}::health_flags::healthy`)

    // Mutating endpoints are POST-only.
    const getDrain = await request(`${amb.admin}/drain_listeners`)
    expect(getDrain.statusCode).toBe(405)
    await getDrain.body.text()

    await (await request(`${amb.admin}/healthcheck/fail`, { method: 'POST' })).body.text()
    const failing = await request(`${amb.admin}/ready`)
    expect(failing.statusCode).toBe(503)
    await failing.body.text()
    await (await request(`${amb.admin}/healthcheck/ok`, { method: 'POST' })).body.text()
    const ok = await request(`${amb.admin}/ready`)
    expect(ok.statusCode).toBe(200)
    await ok.body.text()

    // preStop: a graceful drain keeps serving, with Connection: close, and /ready says DRAINING.
    await (await request(`${amb.admin}/drain_listeners?graceful`, { method: 'POST' })).body.text()
    const draining = await request(`${amb.admin}/ready`)
    expect(draining.statusCode).toBe(503)
    expect(await draining.body.text()).toBe('DRAINING\n')
    const during = await request(`${amb.url}/after-drain`)
    expect(during.statusCode).toBe(200)
    expect(during.headers.connection).toBe('close')
    await during.body.text()
  })

  it('refuses an upstream certificate the trust store does not know (no NODE_EXTRA_CA_CERTS): 502', async () => {
    const u = await upstream((_req, res) => res.end('secret'), { cert: ext })
    const amb = await seedAmbassador(u.port, { NODE_EXTRA_CA_CERTS: '/nonexistent' })
    const res = await request(`${amb.url}/`)
    expect(res.statusCode).toBe(502)
    expect(await res.body.text()).not.toContain('secret')
    const log = await amb.svc.waitForLog((l) => l.msg === 'request')
    expect(log).toMatchObject({ code: 'PODKIT_HTTP_UPSTREAM_TLS' })
    expect(String(log.reason)).toMatch(/certificate/i)
  })

  it('stops at start-up naming the path of an unsupported Envoy field', async () => {
    const dir = tempDir()
    cleanups.push(() => dir.cleanup())
    const f = join(dir.path, 'envoy.yaml')
    const bad = seed.replace(
      '      lb_policy: ROUND_ROBIN',
      '      lb_policy: MAGLEV\n      health_checks: []',
    )
    writeFileSync(f, bad)
    const svc = spawnService({ entry, args: ['-c', f] })
    expect(await svc.exited).toBe(2)
    expect(svc.stderr()).toContain('static_resources.clusters[0].lb_policy')
    expect(svc.stderr()).toContain('static_resources.clusters[0].health_checks')
  })
})

describe('the shipped bundle', () => {
  // The bundle loads undici's Pool module alone (not its index, which adds upgrade() to every
  // dispatcher): the process died with "upgrade is not a function" on its first WebSocket, while
  // in-process tests passed because they import undici's index themselves.
  it('tunnels an Upgrade request to a TLS upstream', async () => {
    const up = await upstream()
    up.server.on('upgrade', (_req, socket: import('node:net').Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n')
      socket.on('data', (d) => socket.write(d))
    })
    const amb = await spawnAmbassador({
      yaml: {
        listeners: [{ port: 0, routes: [{ prefix: '/', cluster: 'up' }] }],
        clusters: [
          {
            name: 'up',
            endpoints: [`127.0.0.1:${up.port}`],
            tls: { sni: 'localhost', caFile: pki.ca.certFile },
          },
        ],
        drainTime: '100ms',
      },
    })
    cleanups.push(() => amb.stop())
    const got = await new Promise<string>((resolve, reject) => {
      const s = connect(amb.ports[0]!, '127.0.0.1', () =>
        s.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nping'),
      )
      let out = ''
      s.on('data', (d) => {
        out += d.toString()
        if (out.endsWith('ping') || (out.includes('\r\n\r\n') && !out.startsWith('HTTP/1.1 101'))) {
          s.destroy()
          resolve(out)
        }
      })
      s.on('error', reject)
      s.setTimeout(5000, () => {
        s.destroy()
        resolve(out)
      })
    })
    expect(got).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/)
    expect(got).toMatch(/\r\n\r\nping$/)
    await amb.svc.waitForLog((l) => l.msg === 'request' && l.status === 101)
    expect(amb.svc.child.exitCode).toBeNull()
    expect(amb.svc.logs.filter((l) => l.level === 'fatal')).toEqual([])
  })
})

describe('nginx with TLS as the upstream', () => {
  it('proxies to nginx over verified TLS from our YAML config', async () => {
    const ngx = await startNginx({
      http: ({ port }) => `
        server {
          listen 127.0.0.1:${port} ssl;
          ssl_certificate ${pki.server.certFile};
          ssl_certificate_key ${pki.server.keyFile};
          location / { return 200 "nginx saw host=$host sni=$ssl_server_name\\n"; }
        }`,
    })
    cleanups.push(() => ngx.stop())
    const amb = await spawnAmbassador({
      yaml: {
        listeners: [{ port: 0, routes: [{ prefix: '/', cluster: 'nginx' }] }],
        clusters: [
          {
            name: 'nginx',
            endpoints: [`127.0.0.1:${ngx.port}`],
            tls: { sni: 'localhost', caFile: pki.ca.certFile },
          },
        ],
        drainTime: '100ms',
      },
    })
    cleanups.push(() => amb.stop())
    const res = await request(`${amb.url}/`)
    expect(res.statusCode).toBe(200)
    expect(await res.body.text()).toBe('nginx saw host=localhost sni=localhost\n')
  })
})

describe('SIGTERM', () => {
  it('drains: the request in flight finishes, then the process exits 0', async () => {
    const u = await upstream((_req, res) => setTimeout(() => res.end('done'), 800))
    const amb = await spawnAmbassador({
      env: {
        UPSTREAM_URL: `https://localhost:${u.port}`,
        UPSTREAM_CA_FILE: pki.ca.certFile,
        LISTEN_PORT: '0',
        DRAIN_TIME: '200ms',
        RESOLVE: '{"localhost":["127.0.0.1"]}',
      },
    })
    const inflight = request(`${amb.url}/slow`)
    await waitFor(() => u.requests.length === 1)
    amb.svc.child.kill('SIGTERM')
    const res = await inflight
    expect(res.statusCode).toBe(200)
    expect(res.headers.connection).toBe('close')
    expect(await res.body.text()).toBe('done')
    expect(await amb.svc.exited).toBe(0)
    await expect(request(`${amb.url}/`)).rejects.toThrow(/ECONNREFUSED/)
  })
})

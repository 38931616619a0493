import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '@podkit/runtime'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { normalize, schema } from './config.ts'
import { envoyToConfig, prepareArgs } from './envoy.ts'
import { EnvoyUnsupportedError } from './errors.ts'

const fixture = (name: string) => fileURLToPath(new URL(`../test/fixtures/${name}`, import.meta.url))
const seedText = readFileSync(fixture('seed-envoy.yaml'), 'utf8')

function problems(doc: unknown): string[] {
  try {
    envoyToConfig(doc)
    return []
  } catch (err) {
    if (err instanceof EnvoyUnsupportedError) return err.paths
    throw err
  }
}

describe('envoyToConfig', () => {
  it("reads the seed's envoy.yaml into listeners, routes, clusters and the admin address", () => {
    expect(envoyToConfig(parse(seedText))).toEqual({
      admin: { host: '0.0.0.0', port: 9901 },
      listeners: [
        {
          name: 'listener_0',
          address: '0.0.0.0',
          port: 8001,
          routes: [
            {
              cluster: 'external_api',
              prefix: '/',
              timeout: 30_000,
              retry: { on: [], numRetries: 1 },
              domains: ['*'],
            },
          ],
        },
      ],
      clusters: [
        {
          name: 'external_api',
          type: 'STRICT_DNS',
          lbPolicy: 'ROUND_ROBIN',
          endpoints: [{ host: 'api.external-service.com', port: 443 }],
          tls: { sni: 'api.external-service.com' },
          http2: false,
          connectTimeout: 5000,
        },
      ],
    })
  })

  it('names the path of every unsupported field and value, never ignoring one', () => {
    const doc = parse(seedText)
    const c = doc.static_resources.clusters[0]
    c.lb_policy = 'MAGLEV'
    c.health_checks = [{ timeout: '1s' }]
    doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters.unshift({
      name: 'envoy.filters.http.ext_authz',
    })
    doc.static_resources.listeners[0].listener_filters = []
    doc.static_resources.secrets = []
    expect(problems(doc).sort()).toEqual(
      [
        'static_resources.clusters[0].health_checks',
        'static_resources.clusters[0].lb_policy',
        'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].name',
        'static_resources.listeners[0].listener_filters',
        'static_resources.secrets',
      ].sort(),
    )
  })

  it('accepts upgrade_configs for WebSocket (we tunnel Upgrade requests), and names what it cannot do', () => {
    const doc = parse(seedText)
    const hcm = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config
    hcm.upgrade_configs = [{ upgrade_type: 'websocket' }, { upgrade_type: 'WebSocket', enabled: true }]
    expect(problems(doc)).toEqual([])
    expect(envoyToConfig(doc)).toEqual(envoyToConfig(parse(seedText)))
    hcm.upgrade_configs = [
      { upgrade_type: 'CONNECT' },
      { upgrade_type: 'websocket', enabled: false, filters: [] },
    ]
    const p = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.upgrade_configs'
    expect(problems(doc).sort()).toEqual(
      [`${p}[0].upgrade_type`, `${p}[1].enabled`, `${p}[1].filters`].sort(),
    )
  })

  it('reads retries, header rules, circuit breakers, outlier detection, mTLS and HTTP/2 (the mesh pod)', () => {
    const out = envoyToConfig(parse(readFileSync(fixture('mesh-envoy.yaml'), 'utf8')))
    const listeners = out.listeners as Array<Record<string, unknown>>
    expect(listeners.map((l) => l.port)).toEqual([15001, 15002, 15003])
    expect((listeners[0]!.routes as unknown[])[0]).toMatchObject({
      cluster: 'inventory',
      timeout: 10_000,
      retry: { on: ['connect-failure', 'reset', '5xx'], numRetries: 2 },
    })
    // Envoy's default route timeout when none is given.
    expect((listeners[2]!.routes as Array<{ timeout: number }>)[0]!.timeout).toBe(15_000)
    const [inventory, payment, user] = out.clusters as Array<Record<string, unknown>>
    expect(inventory).toMatchObject({
      circuitBreakers: { maxConnections: 100, maxPendingRequests: 100, maxRequests: 200, maxRetries: 3 },
      outlierDetection: { consecutive5xx: 5, baseEjectionTime: 30_000, maxEjectionPercent: 50 },
      tls: {
        certFile: '/etc/certs/tls.crt',
        keyFile: '/etc/certs/tls.key',
        caFile: '/etc/certs/ca.crt',
        systemCa: false,
      },
    })
    expect(payment).toMatchObject({
      lbPolicy: 'LEAST_REQUEST',
      http2: true,
      tls: { alpn: ['h2', 'http/1.1'] },
    })
    expect(user).toMatchObject({ type: 'LOGICAL_DNS' })
    expect(out.admin).toEqual({ host: '0.0.0.0', port: 15000 })
  })

  it('rejects a retry_on value it does not implement', () => {
    const doc = parse(readFileSync(fixture('mesh-envoy.yaml'), 'utf8'))
    doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.retry_policy.retry_on =
      '5xx,retriable-4xx'
    expect(problems(doc)).toEqual([
      'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.retry_policy.retry_on',
    ])
  })
})

describe('prepareArgs', () => {
  it("turns Envoy's command line into ours", () => {
    const { argv, layers } = prepareArgs([
      '-c',
      fixture('seed-envoy.yaml'),
      '--service-cluster',
      'orders-service',
      '--service-node',
      'orders-service-pod',
      '-l',
      'warning',
      '--drain-time-s',
      '10',
    ])
    expect(argv).toEqual(['--log-level', 'warn', '--drain-time', '10s'])
    expect(layers).toHaveLength(1)
    expect(layers[0]!.source).toBe(`envoy config ${fixture('seed-envoy.yaml')}`)
    // The layer validates against our schema and normalises.
    const loaded = loadConfig({ schema, argv, env: {}, layers })
    expect(loaded.config.admin).toEqual({ host: '0.0.0.0', port: 9901 })
    expect(loaded.config.drainTime).toBe(10_000)
    const { spec, issues } = normalize(loaded.config)
    expect(issues).toEqual([])
    expect(spec!.listeners[0]!.routes[0]!.timeout).toBe(30_000)
    expect(spec!.clusters[0]!.tls).toMatchObject({
      sni: 'api.external-service.com',
      systemCa: true,
      insecure: false,
    })
  })

  it('keeps -c of our own YAML as our config file, and --mode validate as --check-config', () => {
    const ours = fixture('../helpers.ts') // any file that is not an envoy.yaml
    expect(prepareArgs(['-c', ours, '--mode', 'validate']).argv).toEqual(['--config', ours, '--check-config'])
  })

  it('reads our own YAML with an admin section as ours, not as an envoy.yaml', () => {
    const dir = mkdtempSync(join(tmpdir(), 'podkit-http-amb-args-'))
    try {
      const file = join(dir, 'ambassador.yaml')
      writeFileSync(file, 'admin:\n  port: 9902\nupstream: https://api.example.com\n')
      for (const flag of ['--config', '-c']) {
        const { argv, layers } = prepareArgs([flag, file])
        expect(argv).toEqual(['--config', file])
        expect(layers).toEqual([])
        expect(loadConfig({ schema, argv, env: {} }).config.admin).toEqual({ host: '127.0.0.1', port: 9902 })
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

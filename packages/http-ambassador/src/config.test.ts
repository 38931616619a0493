import { ConfigError, loadConfig } from '@podkit/runtime'
import { describe, expect, it } from 'vitest'
import { normalize, schema } from './config.ts'

const load = (values: Record<string, unknown>, env: Record<string, string> = {}) =>
  loadConfig({ schema, env, layers: [{ source: 'test', values }] }).config

describe('config', () => {
  it('builds one listener and a TLS cluster from UPSTREAM_URL', () => {
    const { spec, issues } = normalize(
      load({}, { UPSTREAM_URL: 'https://api.example.com', LISTEN_PORT: '9000' }),
    )
    expect(issues).toEqual([])
    expect(spec!.listeners).toMatchObject([
      { address: '127.0.0.1', port: 9000, routes: [{ prefix: '/', cluster: 'upstream', timeout: 15_000 }] },
    ])
    expect(spec!.clusters[0]).toMatchObject({
      endpoints: [{ host: 'api.example.com', port: 443 }],
      tls: { sni: 'api.example.com', systemCa: true, insecure: false, alpn: ['http/1.1'] },
      connectTimeout: 5000,
      circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
    })
  })

  it('reports every problem with its key: unknown cluster, bad duration, bad endpoint, LOGICAL_DNS with two', () => {
    const { issues } = normalize(
      load({
        listeners: [{ port: 1, routes: [{ cluster: 'nope', timeout: 'soon' }] }],
        clusters: [{ name: 'a', type: 'LOGICAL_DNS', endpoints: ['x:1', 'no-port'] }],
      }),
    )
    expect(issues.map((i) => i.key).sort()).toEqual(
      [
        'clusters.0.endpoints',
        'clusters.0.endpoints.1',
        'listeners.0.routes.0.cluster',
        'listeners.0.routes.0.timeout',
      ].sort(),
    )
  })

  it('rejects unknown keys inside listeners and clusters through the schema', () => {
    expect(() => load({ clusters: [{ name: 'a', endpoints: ['x:1'], hostname: 'x' }] })).toThrow(ConfigError)
    try {
      load({ clusters: [{ name: 'a', endpoints: ['x:1'], hostname: 'x' }] })
    } catch (err) {
      expect((err as ConfigError).issues.map((i) => i.key)).toContain('clusters.0.hostname')
    }
  })

  it('refuses route headers that would break framing', () => {
    const { issues } = normalize(
      load({
        listeners: [
          { port: 1, routes: [{ cluster: 'a', requestHeadersToAdd: { 'Transfer-Encoding': 'chunked' } }] },
        ],
        clusters: [{ name: 'a', endpoints: ['x:1'] }],
      }),
    )
    expect(issues.map((i) => i.key)).toEqual(['listeners.0.routes.0.requestHeadersToAdd.Transfer-Encoding'])
  })

  it('refuses a prefixRewrite or hostRewrite that is not ASCII (percent-encoding, punycode)', () => {
    const { issues } = normalize(
      load({
        listeners: [
          { port: 1, routes: [{ cluster: 'a', prefixRewrite: '/café/', hostRewrite: 'bücher.de' }] },
        ],
        clusters: [{ name: 'a', endpoints: ['x:1'] }],
      }),
    )
    expect(issues.map((i) => i.key)).toEqual([
      'listeners.0.routes.0.prefixRewrite',
      'listeners.0.routes.0.hostRewrite',
    ])
  })
})

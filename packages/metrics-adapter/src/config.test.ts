import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '@podkit/runtime'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_SCRAPE_URI,
  parseListenAddress,
  prepareCompat,
  type ServiceConfig,
  schema,
  toAdapterConfig,
  validateConfig,
} from './config.ts'

/** What runService does with a command line and env: prepare, load, validate. */
function load(argv: string[], env: Record<string, string> = {}) {
  const p = prepareCompat(argv, env)
  if (p.issues.length > 0) throw new ConfigError(p.issues)
  const loaded = loadConfig({ schema, argv: p.argv, env, layers: p.layers })
  const issues = validateConfig(loaded.config as ServiceConfig)
  if (issues.length > 0) throw new ConfigError(issues)
  return { config: loaded.config as ServiceConfig, sources: loaded.sources, action: loaded.action }
}

describe('exporter command lines', () => {
  it('takes the seed pod args unchanged, with the exporter defaults', () => {
    const { config, sources } = load(['-nginx.scrape-uri=http://localhost:8080/nginx_status'])
    expect(config.nginx.scrapeUri).toEqual(['http://localhost:8080/nginx_status'])
    // every interface, IPv6 included, as the exporter's ":9113"
    expect(config.admin).toEqual({ host: '', port: 9113 })
    expect(config.web.telemetryPath).toBe('/metrics')
    expect(config.nginx.timeout).toBe(5000)
    expect(config.nginx.sslVerify).toBe(true)
    expect(toAdapterConfig(config, sources).targets).toEqual([
      { uri: 'http://localhost:8080/nginx_status', source: 'nginx' },
    ])
  })

  it('reads the v0.11 single-dash generation', () => {
    const { config, sources } = load([
      '-nginx.scrape-uri',
      'unix:/run/nginx.sock:/stub_status',
      '-web.listen-address=127.0.0.1:9200',
      '-web.telemetry-path=/prom',
      '-nginx.timeout=2s',
      '-nginx.ssl-verify=false',
      '-prometheus.const-labels',
      'a=b,c=d',
      '-nginx.retries=5',
    ])
    expect(config.nginx.scrapeUri).toEqual(['unix:/run/nginx.sock:/stub_status'])
    expect(config.admin).toEqual({ host: '127.0.0.1', port: 9200 })
    expect(config.web.telemetryPath).toBe('/prom')
    expect(config.nginx.timeout).toBe(2000)
    expect(config.nginx.sslVerify).toBe(false)
    expect(toAdapterConfig(config, sources).constLabels).toEqual({ a: 'b', c: 'd' })
  })

  it('reads the v1.x double-dash generation with repeated flags', () => {
    const { config } = load([
      '--nginx.scrape-uri=http://a:8080/stub_status',
      '--nginx.scrape-uri',
      'http://b:8080/stub_status',
      '--web.listen-address=[::1]:9113',
      '--no-nginx.ssl-verify',
      '--prometheus.const-label=env=prod',
      '--prometheus.const-label',
      'zone=eu',
      '--log.level=debug',
    ])
    expect(config.nginx.scrapeUri).toEqual(['http://a:8080/stub_status', 'http://b:8080/stub_status'])
    expect(config.admin).toEqual({ host: '::1', port: 9113 })
    expect(config.nginx.sslVerify).toBe(false)
    expect(config.prometheus.constLabels).toEqual(['env=prod', 'zone=eu'])
    expect(config.logLevel).toBe('debug')
  })

  it('reads the exporter env vars', () => {
    const { config } = load([], {
      SCRAPE_URI: 'http://x:1/stub_status',
      LISTEN_ADDRESS: ':9999',
      TELEMETRY_PATH: '/m',
      TIMEOUT: '750ms',
      SSL_VERIFY: 'false',
      CONST_LABELS: 'k=v,k2=v2',
    })
    expect(config).toMatchObject({
      nginx: { scrapeUri: ['http://x:1/stub_status'], timeout: 750, sslVerify: false },
      admin: { host: '', port: 9999 },
      web: { telemetryPath: '/m' },
      prometheus: { constLabels: ['k=v', 'k2=v2'] },
    })
  })

  it('refuses a PEM file that is not a certificate, naming the option', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ma-pem-'))
    const bad = join(dir, 'ca.pem')
    writeFileSync(bad, '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n')
    try {
      expect(() => load([`--nginx.ssl-ca-cert=${bad}`])).toThrow(/nginx\.sslCaCert/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses the same target twice', () => {
    expect(() => load(['--nginx.scrape-uri=http://a/s', '--nginx.scrape-uri=http://a/s'])).toThrow(
      /each target once/,
    )
  })

  it('reads several URIs and labels from the env one a line, as exporter v1 (kingpin) does', () => {
    // SCRAPE_URI: | (a YAML block scalar) was read as one URI with the line break dropped.
    const { config, sources } = load([], {
      SCRAPE_URI: 'http://a:1/stub_status\nhttp://b:2/stub_status\n',
      CONST_LABELS: 'env=prod\nzone=a',
    })
    expect(config.nginx.scrapeUri).toEqual(['http://a:1/stub_status', 'http://b:2/stub_status'])
    expect(toAdapterConfig(config, sources).constLabels).toEqual({ env: 'prod', zone: 'a' })
  })

  it("reads booleans as Go's strconv.ParseBool does (t, F, 0, TRUE)", () => {
    // SSL_VERIFY=f started the exporter without verification and stopped ours at start.
    expect(load([], { SSL_VERIFY: 'f' }).config.nginx.sslVerify).toBe(false)
    expect(load(['-nginx.ssl-verify=F']).config.nginx.sslVerify).toBe(false)
    expect(load([], { SSL_VERIFY: 'T', PROXY_PROTOCOL: 't' }).config.nginx).toMatchObject({
      sslVerify: true,
      proxyProtocol: true,
    })
  })

  it('keeps a comma inside a scrape URI, as the exporter does', () => {
    // A password or a query with a comma was cut into two URIs, the second invalid: no start.
    const { config, sources } = load(
      [
        '-nginx.scrape-uri=http://u:pa,ss@a:1/stub_status?x=1,2',
        '--probe.target=http://b:2/s?a,b,http://c:3/s',
      ],
      { SCRAPE_URI: 'http://ignored/' },
    )
    const adapterConfig = toAdapterConfig(config, sources)
    expect(adapterConfig.targets).toEqual([{ uri: 'http://u:pa,ss@a:1/stub_status?x=1,2', source: 'nginx' }])
    expect(adapterConfig.probeTargets).toEqual(['http://b:2/s?a,b', 'http://c:3/s'])
  })

  it('takes a const label given twice (the last value) and one named addr, as the exporter does', () => {
    // Both stopped the start here; exporter 0.11 prints a="2" and addr="x".
    const dup = load(['-prometheus.const-labels=a=1,a=2'])
    expect(toAdapterConfig(dup.config, dup.sources).constLabels).toEqual({ a: '2' })
    const addr = load(['--prometheus.const-label=addr=x'])
    expect(toAdapterConfig(addr.config, addr.sources).constLabels).toEqual({ addr: 'x' })
  })

  it('lets a flag win over the env', () => {
    expect(load(['--web.listen-address=:1234'], { LISTEN_ADDRESS: ':9999' }).config.admin.port).toBe(1234)
  })

  it('refuses what it does not do, naming the flag', () => {
    expect(() => load(['-nginx.plus'])).toThrow(/nginx\.plus.*NGINX Plus/s)
    expect(() => load(['--web.listen-address=/run/exporter.sock'])).toThrow(
      /web\.listen-address.*unix socket/s,
    )
    expect(load(['-nginx.plus=false']).config.nginx.scrapeUri).toEqual([DEFAULT_SCRAPE_URI])
  })

  it('reads NGINX_PLUS, -nginx.plus and SECURED_METRICS as Go does, refusing them when on', () => {
    // The exporter reads booleans with strconv.ParseBool; NGINX_PLUS=0 stopped our start.
    for (const v of ['0', 'f', 'F', 'False', 'FALSE', 'false']) {
      expect(load([], { NGINX_PLUS: v }).config.nginx.scrapeUri, v).toEqual([DEFAULT_SCRAPE_URI])
      expect(load([`-nginx.plus=${v}`]).config.nginx.scrapeUri, v).toEqual([DEFAULT_SCRAPE_URI])
    }
    expect(() => load([], { NGINX_PLUS: '1' })).toThrow(/NGINX_PLUS/)
    // TLS on the metrics port by env, as by -web.secured-metrics: refused, not silently plain HTTP.
    expect(() => load([], { SECURED_METRICS: 'true' })).toThrow(/SECURED_METRICS.*TLS/s)
    expect(load([], { SECURED_METRICS: 'false' }).config.nginx.scrapeUri).toEqual([DEFAULT_SCRAPE_URI])
  })

  it('keeps only the last -prometheus.const-labels, as exporter v0.11 does', () => {
    // Its flag.Value replaces the labels on each use: two flags gave one label set, ours gave both
    // (a new series identity after the swap).
    const { config, sources } = load([
      '-prometheus.const-labels=app=x',
      '--prometheus.const-labels',
      'port=1,zone=a',
    ])
    expect(toAdapterConfig(config, sources).constLabels).toEqual({ port: '1', zone: 'a' })
    // v1's singular flag adds up.
    const v1 = load(['--prometheus.const-label=app=x', '--prometheus.const-label=port=1'])
    expect(toAdapterConfig(v1.config, v1.sources).constLabels).toEqual({ app: 'x', port: '1' })
  })

  it('reports every bad value in one error naming each key', () => {
    let err: ConfigError | undefined
    try {
      load([
        '--nginx.scrape-uri=ftp://x/',
        '--nginx.timeout=soon',
        '--prometheus.const-label=__bad=1',
        '--web.telemetry-path=/healthz',
        '--nginx.ssl-ca-cert=/nonexistent/ca.pem',
      ])
    } catch (e) {
      err = e as ConfigError
    }
    expect(err).toBeInstanceOf(ConfigError)
    expect(err!.message).toMatch(/nginx\.timeout/)
    // the schema problems come first; fix them and the cross-option checks name the rest
    let second: ConfigError | undefined
    try {
      load([
        '--nginx.scrape-uri=ftp://x/',
        '--prometheus.const-label=__bad=1',
        '--web.telemetry-path=/healthz',
        '--nginx.ssl-ca-cert=/nonexistent/ca.pem',
      ])
    } catch (e) {
      second = e as ConfigError
    }
    const keys = second!.issues.map((i) => i.key)
    expect(keys).toEqual(
      expect.arrayContaining([
        'nginx.scrapeUri',
        'prometheus.constLabels',
        'web.telemetryPath',
        'nginx.sslCaCert',
      ]),
    )
  })

  it("refuses a target source named like one of Object.prototype's members", () => {
    // 'constructor' in builtinSources is true: such a source passed the check and broke the start.
    const p = prepareCompat([], {})
    const loaded = loadConfig({
      schema,
      argv: p.argv,
      env: {},
      layers: [
        { source: 'test', values: { targets: [{ uri: 'http://127.0.0.1/s', source: 'constructor' }] } },
      ],
    })
    expect(validateConfig(loaded.config as ServiceConfig)).toEqual([
      expect.objectContaining({ key: 'targets.0.source', got: '"constructor"' }),
    ])
  })

  it('uses file targets of other sources instead of the default URI', () => {
    const p = prepareCompat([], {})
    const loaded = loadConfig({
      schema,
      argv: p.argv,
      env: {},
      layers: [
        {
          source: 'test',
          values: { targets: [{ uri: 'http://127.0.0.1/server-status?auto', source: 'apache' }] },
        },
      ],
    })
    expect(toAdapterConfig(loaded.config as ServiceConfig, loaded.sources).targets).toEqual([
      { uri: 'http://127.0.0.1/server-status?auto', source: 'apache' },
    ])
  })
})

describe('parseListenAddress', () => {
  it.each([
    // Go listens dual-stack on all three; the empty host is Node's dual-stack listen
    [':9113', { host: '', port: 9113 }],
    ['0.0.0.0:80', { host: '', port: 80 }],
    ['[::]:9113', { host: '', port: 9113 }],
    ['localhost:9113', { host: 'localhost', port: 9113 }],
    ['127.0.0.1:9113', { host: '127.0.0.1', port: 9113 }],
    ['[::1]:9113', { host: '::1', port: 9113 }],
  ])('%s', (text, want) => expect(parseListenAddress(text)).toEqual(want))

  it.each(['9113', 'host:99999', '/tmp/x.sock', ''])('refuses %j', (text) => {
    expect(typeof parseListenAddress(text)).toBe('string')
  })
})

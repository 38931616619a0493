// The metrics-adapter's options: nginx-prometheus-exporter's flags and env vars (both the v0.11
// single-dash and the v1.x double-dash generation) as one schema, plus podkit's own (targets of
// other sources, /probe allow-list, coalescing). The exporter's listen address is our admin server.

import type { X509Certificate } from 'node:crypto'
import {
  type CommonConfig,
  type ConfigIssue,
  type ConfigLayer,
  commonOptions,
  Duration,
  Options,
  Type,
} from '@podkit/runtime'
import type { Static } from '@sinclair/typebox'
import type { MetricsAdapterConfig } from './adapter.ts'
import { parseScrapeUri } from './scrape-uri.ts'
import { builtinSources } from './sources/index.ts'

export const DEFAULT_SCRAPE_URI = 'http://127.0.0.1:8080/stub_status'

export const schema = Options({
  // Empty host: every interface, IPv6 and IPv4 (Node listens on :: dual-stack, or 0.0.0.0 where the
  // kernel has no IPv6), as the exporter's Go listener does on its default ":9113".
  ...commonOptions({ adminPort: 9113, adminHost: '', grace: 10_000 }),
  nginx: Options({
    scrapeUri: Type.Array(Type.String({ minLength: 1 }), {
      default: [DEFAULT_SCRAPE_URI],
      env: 'SCRAPE_URI',
      flag: 'nginx.scrape-uri',
      description:
        'stub_status URIs to scrape: http(s)://host:port/path or unix:/path/to.sock:/path. Repeat the flag (or separate with commas or line breaks) for several; each target then carries an addr label.',
    }),
    timeout: Duration({
      default: 5000,
      env: 'TIMEOUT',
      flag: 'nginx.timeout',
      description:
        'Timeout of one fetch of a status page (connect, headers and body together, redirects included); 0 is none, as in the exporter.',
    }),
    sslVerify: Type.Boolean({
      default: true,
      env: 'SSL_VERIFY',
      flag: 'nginx.ssl-verify',
      description:
        'Verify the certificate of https targets (chain and name). --no-nginx.ssl-verify turns it off.',
    }),
    proxyProtocol: Type.Boolean({
      default: false,
      env: 'PROXY_PROTOCOL',
      flag: 'nginx.proxy-protocol',
      description:
        'Open each connection to a target with a PROXY protocol v2 header (before TLS), for an nginx listening with proxy_protocol (exporter v1).',
    }),
    sslCaCert: Type.String({
      default: '',
      env: 'SSL_CA_CERT',
      flag: 'nginx.ssl-ca-cert',
      description:
        "PEM file of the CA that signs the targets' certificates; empty uses Node's bundled roots.",
    }),
    sslClientCert: Type.String({
      default: '',
      env: 'SSL_CLIENT_CERT',
      flag: 'nginx.ssl-client-cert',
      description: 'PEM file of a client certificate for targets that ask for one.',
    }),
    sslClientKey: Type.String({
      default: '',
      env: 'SSL_CLIENT_KEY',
      flag: 'nginx.ssl-client-key',
      description: 'PEM file of the key of the client certificate.',
    }),
  }),
  web: Options({
    telemetryPath: Type.String({
      default: '/metrics',
      env: 'TELEMETRY_PATH',
      flag: 'web.telemetry-path',
      pattern: '^/',
      description:
        'Path of the metrics; the address is admin.host/admin.port, set by --web.listen-address or LISTEN_ADDRESS too.',
    }),
    nginxMetricsOnly: Type.Boolean({
      default: false,
      env: 'NGINX_METRICS_ONLY',
      flag: 'web.nginx-metrics-only',
      description:
        "Serve only the sources' families (nginx_*, apache_*, phpfpm_*) on the telemetry path: no build info, process or diagnostic metrics (exporter v1's flag).",
    }),
    openmetrics: Type.Boolean({
      default: false,
      env: 'OPENMETRICS',
      flag: 'web.openmetrics',
      description:
        'Answer in OpenMetrics when the scraper asks for it. Off by default, as in the exporter: OpenMetrics renames counters without _total (nginx_connections_accepted becomes nginx_connections_accepted_total), which breaks dashboards.',
    }),
  }),
  prometheus: Options({
    constLabels: Type.Array(Type.String({ pattern: '^[a-zA-Z_][a-zA-Z0-9_]*=' }), {
      default: [],
      env: 'CONST_LABELS',
      flag: 'prometheus.const-label',
      description:
        'Labels on every series, name=value. Repeat the flag or separate with commas (-prometheus.const-labels a=b,c=d works too).',
    }),
  }),
  scrape: Options({
    coalesce: Duration({
      default: 5,
      env: 'SCRAPE_COALESCE',
      flag: 'scrape.coalesce',
      description:
        'Concurrent scrapes of one target share the next fetch (always one started after they arrived); it starts when the fetch in flight ends or after this window. 0: one fetch per scrape.',
    }),
  }),
  targets: Type.Array(
    Options({
      uri: Type.String({ minLength: 1 }),
      source: Type.Optional(Type.String()),
      addr: Type.Optional(Type.String()),
    }),
    {
      default: [],
      env: false,
      flag: false,
      description:
        'Config file only: status pages of any source, [{ uri, source: nginx|apache|php-fpm, addr }]. When set, the default scrape URI is not used.',
    },
  ),
  probe: Options({
    targets: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      env: 'PROBE_TARGETS',
      flag: 'probe.target',
      description:
        'URIs that /probe?target=URI&module=nginx|apache|php-fpm may fetch, beside the configured targets. Anything else is refused (no open proxy).',
    }),
  }),
})

export type ServiceConfig = Static<typeof schema> & CommonConfig

// Builtins through process.getBuiltinModule, not ESM imports (a module facade costs memory, see the
// runtime's admin-server.ts); node:crypto only when PEM files are configured.
const { existsSync, readFileSync } = process.getBuiltinModule('node:fs')

/** Exporter flags that take no podkit equivalent: accepted, noted at start, otherwise ignored. */
const IGNORED = new Set(['nginx.retries', 'nginx.retry-interval', 'log.format', 'web.systemd-socket'])
/** Exporter flags podkit refuses, with why. */
const REFUSED: Record<string, string> = {
  'nginx.plus': 'the NGINX Plus API is not supported; scrape stub_status',
  'web.secured-metrics': 'TLS on the metrics port is not supported; terminate TLS in front of the adapter',
  'web.ssl-server-cert': 'TLS on the metrics port is not supported',
  'web.ssl-server-key': 'TLS on the metrics port is not supported',
  'web.config.file': 'the exporter-toolkit web config (TLS, basic auth on /metrics) is not supported',
}
/** Flags (both dash forms) that take a value. */
const VALUED = new Set([
  'web.listen-address',
  'prometheus.const-labels',
  'log.level',
  'log.format',
  'nginx.retries',
  'nginx.retry-interval',
  'web.ssl-server-cert',
  'web.ssl-server-key',
  'web.config.file',
])

/** What Go's strconv.ParseBool reads as false (the exporter's flags and env vars). */
const GO_FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False'])

/** Notes from prepare() for the log once the logger exists. */
export const compatNotes: string[] = []

/**
 * Turns the exporter's command line and env into ours: --web.listen-address and LISTEN_ADDRESS
 * become admin.host/admin.port; -prometheus.const-labels becomes --prometheus.const-label;
 * --log.level becomes --log-level; flags with no meaning here are noted or refused.
 * Single-dash flags need nothing: the runtime reads -x and --x alike.
 */
export function prepareCompat(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): { argv: string[]; layers: ConfigLayer[]; issues: ConfigIssue[] } {
  const out: string[] = []
  const layers: ConfigLayer[] = []
  const issues: ConfigIssue[] = []
  compatNotes.length = 0
  const pluralAt: number[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const m = /^--?([a-z][\w.-]*)(?:=(.*))?$/s.exec(arg)
    if (!m) {
      out.push(arg)
      continue
    }
    let name = m[1]!
    let value = m[2]
    const negated = name.startsWith('no-') && REFUSED[name.slice(3)] !== undefined
    if (negated) name = name.slice(3)
    if (value === undefined && VALUED.has(name) && i + 1 < argv.length) value = argv[++i]
    if (name === 'web.listen-address') {
      const addr = parseListenAddress(value ?? '')
      if (typeof addr === 'string')
        issues.push({ key: 'web.listen-address', expected: 'host:port or :port', got: addr, source: 'flag' })
      else out.push(`--admin.host=${addr.host}`, `--admin.port=${addr.port}`)
    } else if (name === 'prometheus.const-labels') {
      // v0.11's flag is a Go flag.Value whose Set replaces the labels: the last one given wins.
      // (v1's repeatable --prometheus.const-label adds up.)
      pluralAt.push(out.length)
      out.push(`--prometheus.const-label=${value ?? ''}`)
    } else if (name === 'log.level') {
      out.push(`--log-level=${value ?? ''}`)
    } else if (IGNORED.has(name)) {
      if (name !== 'log.format' || value !== 'json')
        compatNotes.push(`--${name} has no effect here and is ignored.`)
    } else if (REFUSED[name] !== undefined) {
      // "-nginx.plus=false" or "--no-nginx.plus" asks for what we do anyway.
      const off = negated || (value !== undefined && GO_FALSE.has(value))
      if (!off)
        issues.push({
          key: name,
          expected: 'not set',
          got: JSON.stringify(value ?? 'true'),
          source: `flag: ${REFUSED[name]}`,
        })
    } else out.push(arg)
  }
  const listen = env.LISTEN_ADDRESS
  if (listen) {
    const addr = parseListenAddress(listen)
    if (typeof addr === 'string')
      issues.push({
        key: 'LISTEN_ADDRESS',
        expected: 'host:port or :port',
        got: addr,
        source: 'env LISTEN_ADDRESS',
      })
    else
      layers.push({ source: 'env LISTEN_ADDRESS', values: { admin: { host: addr.host, port: addr.port } } })
  }
  // Only the last -prometheus.const-labels counts (see above): drop what the earlier ones gave.
  for (const at of pluralAt.slice(0, -1).reverse()) out.splice(at, 1)
  // The env forms of the refused flags (v0.11's getEnvBool and getEnv): refused alike, not ignored,
  // or SECURED_METRICS=true would serve plain HTTP to a Prometheus configured for https.
  for (const [e, flag] of [
    ['NGINX_PLUS', 'nginx.plus'],
    ['SECURED_METRICS', 'web.secured-metrics'],
  ] as const) {
    const v = env[e]
    if (v && !GO_FALSE.has(v))
      issues.push({ key: e, expected: 'not set', got: JSON.stringify(v), source: `env: ${REFUSED[flag]}` })
  }
  for (const e of ['NGINX_RETRIES', 'NGINX_RETRY_INTERVAL']) {
    if (env[e])
      compatNotes.push(
        `${e} has no effect here and is ignored: the adapter never exits because nginx is down.`,
      )
  }
  return { argv: out, layers, issues }
}

/**
 * ":9113" -> every interface, "127.0.0.1:9113", "[::1]:9113"; a string is what is wrong.
 * Go listens on ":9113", "0.0.0.0:9113" and "[::]:9113" alike: one dual-stack socket that takes
 * IPv6 and IPv4 connections. Those become the empty host, on which Node does the same (and falls
 * back to 0.0.0.0 without IPv6); 0.0.0.0 in Node would be IPv4 only, and an IPv6 or dual-stack
 * cluster's scrapes and probes of the pod's IPv6 address would be refused.
 */
export function parseListenAddress(text: string): { host: string; port: number } | string {
  const t = text.trim()
  if (t.startsWith('/') || t.startsWith('unix:'))
    return `${JSON.stringify(t)} (a unix socket: listen on host:port instead)`
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(t)
  if (!m) return JSON.stringify(t)
  const port = Number(m[3])
  if (port > 65535) return JSON.stringify(t)
  const host = m[1] ?? m[2] ?? ''
  return { host: host === '0.0.0.0' || host === '::' ? '' : host, port }
}

/**
 * A list of URIs as the runtime split it on commas, with the pieces that start no URI put back:
 * the exporter takes a comma inside a URI (a password, a query) as part of it. Only a piece that
 * starts with http://, https:// or unix: begins another URI.
 */
export function joinUriList(items: readonly string[]): string[] {
  const out: string[] = []
  for (const item of items) {
    if (out.length > 0 && !/^(?:https?:\/\/|unix:)/i.test(item)) out[out.length - 1] += `,${item}`
    else out.push(item)
  }
  return out
}

/** Checks the schema cannot express: URIs, sources, label names, files. */
export function validateConfig(config: ServiceConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  const uri = (key: string, u: string) => {
    try {
      parseScrapeUri(u)
    } catch (err) {
      issues.push({
        key,
        expected: 'http(s)://host:port/path or unix:/path.sock:/path',
        got: (err as Error).message,
      })
    }
  }
  for (const u of joinUriList(config.nginx.scrapeUri)) uri('nginx.scrapeUri', u)
  config.targets.forEach((t, i) => {
    uri(`targets.${i}.uri`, t.uri)
    if (t.source !== undefined && !Object.hasOwn(builtinSources, t.source)) {
      issues.push({
        key: `targets.${i}.source`,
        expected: `one of ${Object.keys(builtinSources).join(', ')}`,
        got: JSON.stringify(t.source),
      })
    }
  })
  for (const u of joinUriList(config.probe.targets)) uri('probe.targets', u)
  // The same target twice would print every series twice: an invalid exposition.
  const seen = new Set<string>()
  for (const t of toAdapterConfig(config, {}).targets) {
    // Compared as labelled: two URIs differing only in their password would print the same series.
    let shown = t.uri.trim()
    try {
      shown = parseScrapeUri(t.uri).display
    } catch {
      // reported above
    }
    const key = `${t.source ?? 'nginx'} ${t.addr ?? shown}`
    if (seen.has(key))
      issues.push({
        key: 'nginx.scrapeUri',
        expected: 'each target once',
        got: `${JSON.stringify(t.uri)} twice`,
      })
    seen.add(key)
  }
  // As in the exporter, a label given twice takes the last value (toAdapterConfig), and addr is a
  // label like any other: with several targets each target's own addr replaces it, as in v1.
  // Only the reserved __* names are refused (client_golang refuses them too, at start).
  for (const l of config.prometheus.constLabels) {
    const name = l.slice(0, l.indexOf('='))
    if (name.startsWith('__')) {
      issues.push({
        key: 'prometheus.constLabels',
        expected: 'a label name not reserved (__*)',
        got: JSON.stringify(name),
      })
    }
  }
  for (const key of ['sslCaCert', 'sslClientCert', 'sslClientKey'] as const) {
    const f = config.nginx[key]
    if (f && !existsSync(f))
      issues.push({
        key: `nginx.${key}`,
        expected: 'a readable PEM file',
        got: `${JSON.stringify(f)} (no such file)`,
      })
  }
  // Unreadable or malformed PEM files stop the start, naming the option, not the first scrape.
  const pem = (key: 'sslCaCert' | 'sslClientCert' | 'sslClientKey') => {
    const f = config.nginx[key]
    if (!f || !existsSync(f)) return undefined
    try {
      return readFileSync(f)
    } catch (err) {
      issues.push({ key: `nginx.${key}`, expected: 'a readable PEM file', got: (err as Error).message })
      return undefined
    }
  }
  const ca = pem('sslCaCert')
  const cert = pem('sslClientCert')
  const key = pem('sslClientKey')
  const certs = (buf: Buffer) =>
    buf.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []
  const { createPrivateKey, X509Certificate } =
    ca || cert || key ? process.getBuiltinModule('node:crypto') : ({} as typeof import('node:crypto'))
  const check = (name: string, fn: () => void) => {
    try {
      fn()
    } catch (err) {
      issues.push({ key: `nginx.${name}`, expected: 'a PEM file', got: (err as Error).message })
    }
  }
  if (ca) {
    check('sslCaCert', () => {
      const all = certs(ca)
      if (all.length === 0) throw new Error('no certificate in the file')
      for (const c of all) new X509Certificate(c)
    })
  }
  let certificate: X509Certificate | undefined
  if (cert) {
    check('sslClientCert', () => {
      certificate = new X509Certificate(certs(cert)[0] ?? cert)
    })
  }
  if (key) {
    check('sslClientKey', () => {
      const k = createPrivateKey(key)
      if (certificate && !certificate.checkPrivateKey(k))
        throw new Error('the key does not belong to the client certificate')
    })
  }
  if (!config.nginx.sslClientCert !== !config.nginx.sslClientKey) {
    issues.push({
      key: 'nginx.sslClientKey',
      expected: 'both a client certificate and its key, or neither',
      got: 'only one',
    })
  }
  if (['/healthz', '/ready', '/probe'].includes(config.web.telemetryPath)) {
    issues.push({
      key: 'web.telemetryPath',
      expected: 'a path other than /healthz, /ready and /probe',
      got: config.web.telemetryPath,
    })
  }
  return issues
}

/** The library config from the service's validated options. */
export function toAdapterConfig(
  config: ServiceConfig,
  sources: Record<string, string>,
): MetricsAdapterConfig {
  // The default scrape URI only when nothing else names a target.
  const skipDefault = sources['nginx.scrapeUri'] === 'default' && config.targets.length > 0
  const targets = [
    ...(skipDefault ? [] : joinUriList(config.nginx.scrapeUri).map((uri) => ({ uri, source: 'nginx' }))),
    ...config.targets,
  ]
  const constLabels: Record<string, string> = {}
  for (const l of config.prometheus.constLabels) {
    const at = l.indexOf('=')
    constLabels[l.slice(0, at)] = l.slice(at + 1)
  }
  return {
    targets,
    timeout: config.nginx.timeout,
    tls: {
      verify: config.nginx.sslVerify,
      caFile: config.nginx.sslCaCert || undefined,
      certFile: config.nginx.sslClientCert || undefined,
      keyFile: config.nginx.sslClientKey || undefined,
    },
    constLabels,
    coalesceWindow: config.scrape.coalesce,
    proxyProtocol: config.nginx.proxyProtocol,
    probeTargets: joinUriList(config.probe.targets),
  }
}

// The http-ambassador's configuration: one schema (our YAML, env vars, flags) and its
// normalisation into the listener / route / cluster model the proxy runs. envoy.ts turns an
// envoy.yaml into the same YAML shape, so both go through this one validation.

import { type ConfigIssue, commonOptions, Duration, Options, parseDuration, Size } from '@podkit/runtime'
import { type Static, type TSchema, Type } from '@sinclair/typebox'

/** A duration inside a list item ("5s", "250ms" or milliseconds); the runtime converts only top-level ones. */
const Dur = (description: string) => Type.Union([Type.Number({ minimum: 0 }), Type.String()], { description })
const StrMap = (description: string) => Type.Record(Type.String(), Type.String(), { description })

export const RETRY_ON = [
  'connect-failure',
  'reset',
  '5xx',
  'gateway-error',
  'retriable-status-codes',
  'refused-stream',
] as const

const routeSchema = Options({
  prefix: Type.Optional(Type.String({ description: 'Path prefix the route matches (default "/").' })),
  path: Type.Optional(Type.String({ description: 'Exact path the route matches instead of a prefix.' })),
  domains: Type.Optional(
    Type.Array(Type.String(), { description: 'Host headers the route serves: "*", "api.local", "*.local".' }),
  ),
  cluster: Type.String({ description: 'The cluster requests go to.' }),
  timeout: Type.Optional(Dur('Route timeout (default 15s, 0 disables, as for streams).')),
  perTryTimeout: Type.Optional(Dur('Timeout of each try until response headers (default 0: none).')),
  prefixRewrite: Type.Optional(Type.String({ description: 'Replaces the matched prefix.' })),
  hostRewrite: Type.Optional(
    Type.String({ description: '"auto" (the upstream host, default), "keep", or a literal Host.' }),
  ),
  requestHeadersToAdd: Type.Optional(StrMap('Headers set on the upstream request.')),
  requestHeadersFromFiles: Type.Optional(
    StrMap('Headers set from the content of a file (a mounted secret), re-read when it changes.'),
  ),
  requestHeadersToRemove: Type.Optional(Type.Array(Type.String())),
  responseHeadersToAdd: Type.Optional(StrMap('Headers set on the response to the app.')),
  responseHeadersToRemove: Type.Optional(Type.Array(Type.String())),
  retry: Type.Optional(
    Options({
      on: Type.Optional(Type.Array(Type.Union(RETRY_ON.map((r) => Type.Literal(r))))),
      numRetries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
      retriableStatusCodes: Type.Optional(Type.Array(Type.Integer({ minimum: 100, maximum: 599 }))),
      backoffBase: Type.Optional(Dur('Base of the jittered exponential backoff (default 25ms).')),
      backoffMax: Type.Optional(Dur('Cap of the backoff (default 10 x base).')),
    }),
  ),
  rateLimit: Type.Optional(
    Options({
      maxTokens: Type.Integer({ minimum: 1 }),
      tokensPerFill: Type.Optional(Type.Integer({ minimum: 1 })),
      fillInterval: Dur('How often tokensPerFill tokens are added (default 1s).'),
    }),
  ),
})

const listenerSchema = Options({
  name: Type.Optional(Type.String()),
  address: Type.Optional(Type.String({ description: 'Bind address (default 127.0.0.1).' })),
  port: Type.Integer({ minimum: 0, maximum: 65535 }),
  maxRequestHeadersKb: Type.Optional(Type.Integer({ minimum: 1, maximum: 8192 })),
  useRemoteAddress: Type.Optional(Type.Boolean()),
  routes: Type.Array(routeSchema, { minItems: 1 }),
})

const endpointSchema = Type.Union([
  Type.String({ description: '"host:port"' }),
  Options({ host: Type.String(), port: Type.Integer({ minimum: 1, maximum: 65535 }) }),
])

const tlsSchema = Options({
  sni: Type.Optional(Type.String({ description: 'Server name sent in the TLS handshake and verified.' })),
  caFile: Type.Optional(Type.String({ description: 'PEM file of extra trusted CAs.' })),
  ca: Type.Optional(Type.String({ description: 'PEM of extra trusted CAs, inline.' })),
  systemCa: Type.Optional(Type.Boolean({ description: 'Trust the system CAs too (default true).' })),
  certFile: Type.Optional(Type.String({ description: 'Client certificate chain (mTLS).' })),
  keyFile: Type.Optional(Type.String({ description: 'Client private key (mTLS).' })),
  cert: Type.Optional(Type.String()),
  key: Type.Optional(Type.String()),
  alpn: Type.Optional(Type.Array(Type.String(), { description: 'ALPN protocols, e.g. [h2, http/1.1].' })),
  insecure: Type.Optional(
    Type.Boolean({ description: 'Skip certificate verification. Never the default; logged at start.' }),
  ),
  subjectAltNames: Type.Optional(
    Type.Array(Type.String(), { description: 'Accept only these names in the certificate.' }),
  ),
})

const clusterSchema = Options({
  name: Type.String(),
  type: Type.Optional(Type.Union(['STRICT_DNS', 'LOGICAL_DNS', 'STATIC'].map((t) => Type.Literal(t)))),
  lbPolicy: Type.Optional(Type.Union(['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'].map((t) => Type.Literal(t)))),
  connectTimeout: Type.Optional(Dur('Connect (and TLS handshake) timeout (default 5s).')),
  dnsRefreshRate: Type.Optional(Dur('How often STRICT_DNS re-resolves (default 5s).')),
  endpoints: Type.Array(endpointSchema, { minItems: 1 }),
  tls: Type.Optional(Type.Union([Type.Boolean(), tlsSchema])),
  http2: Type.Optional(
    Type.Boolean({ description: 'Offer h2 by ALPN and use HTTP/2 when the upstream picks it.' }),
  ),
  keepAliveTimeout: Type.Optional(Dur('Idle upstream connections are closed after this (default 60s).')),
  circuitBreakers: Type.Optional(
    Options({
      maxConnections: Type.Optional(Type.Integer({ minimum: 1 })),
      maxPendingRequests: Type.Optional(Type.Integer({ minimum: 0 })),
      maxRequests: Type.Optional(Type.Integer({ minimum: 1 })),
      maxRetries: Type.Optional(Type.Integer({ minimum: 0 })),
    }),
  ),
  outlierDetection: Type.Optional(
    Options({
      consecutive5xx: Type.Optional(Type.Integer({ minimum: 1 })),
      baseEjectionTime: Type.Optional(Dur('First ejection time; multiplied by the number of ejections.')),
      maxEjectionTime: Type.Optional(Dur('Longest ejection (default 300s).')),
      maxEjectionPercent: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    }),
  ),
})

export const schema = Options({
  ...commonOptions({ adminPort: 9901, adminHost: '127.0.0.1', grace: 25_000 }),
  upstream: Type.String({
    default: '',
    env: 'UPSTREAM_URL',
    description:
      'Shortcut for one upstream: https://host[:port]; adds a listener on listen.port routing / to it (when no listeners are configured).',
  }),
  listen: Options({
    address: Type.String({
      default: '127.0.0.1',
      env: 'LISTEN_ADDRESS',
      description: 'Bind address of the shortcut listener.',
    }),
    port: Type.Integer({
      default: 8001,
      minimum: 0,
      maximum: 65535,
      env: 'LISTEN_PORT',
      description: 'Port of the shortcut listener.',
    }),
  }),
  caFile: Type.String({
    default: '',
    env: 'UPSTREAM_CA_FILE',
    description: 'Extra trusted CA (PEM) for the shortcut upstream.',
  }),
  listeners: Type.Array(listenerSchema, {
    default: [],
    env: false,
    flag: false,
    description: 'Listeners with their routes (see "Listeners, routes and clusters").',
  }),
  clusters: Type.Array(clusterSchema, {
    default: [],
    env: false,
    flag: false,
    description: 'Upstream clusters (see "Listeners, routes and clusters").',
  }),
  resolve: Type.Record(Type.String(), Type.Array(Type.String()), {
    default: {},
    env: 'RESOLVE',
    flag: false,
    description:
      'Static name overrides, like curl --resolve: {"api.example.com": ["10.0.0.5"]}. Names not listed use DNS.',
  }),
  accessLog: Type.Boolean({
    default: true,
    env: 'ACCESS_LOG',
    description: 'Write one JSON log line per request.',
  }),
  drainTime: Duration({
    default: 5000,
    env: 'DRAIN_TIME',
    description:
      'On SIGTERM or a graceful /drain_listeners, how long listeners keep accepting new connections (answered with Connection: close) before they close.',
  }),
  maxRequestHeaders: Size({
    default: 60 * 1024,
    env: 'MAX_REQUEST_HEADERS',
    description:
      'Default limit of request header bytes per listener (Envoy: max_request_headers_kb, 60 KiB); larger gets 431.',
  }),
  concurrency: Type.Integer({
    default: 0,
    minimum: 0,
    maximum: 256,
    env: 'CONCURRENCY',
    description:
      "Threads serving the listeners, as Envoy's --concurrency: 0 uses one fewer than the CPUs the container may use (CPU affinity, capped by the cgroup's cpu.max; at least one, the app beside it needs a CPU too), no more than its memory limit holds (112 MiB for one, 32 MiB per further thread). Above 1 needs Node 22.12+ (SO_REUSEPORT); the image runs Node 26.",
  }),
})

export type Config = Static<typeof schema>
export type RouteConfig = Static<typeof routeSchema>
export type ListenerConfig = Static<typeof listenerSchema>
export type ClusterConfig = Static<typeof clusterSchema>
export type RetryOn = (typeof RETRY_ON)[number]

// ---- the normalised model ----

export interface RouteSpec {
  prefix: string
  path?: string
  domains: string[]
  cluster: string
  timeout: number
  perTryTimeout: number
  prefixRewrite?: string
  hostRewrite: string
  addHeaders: Array<[string, string]>
  headerFiles: Array<[string, string]>
  removeHeaders: string[]
  responseAddHeaders: Array<[string, string]>
  responseRemoveHeaders: string[]
  retry: { on: Set<RetryOn>; numRetries: number; statuses: Set<number>; base: number; max: number }
  rateLimit?: { maxTokens: number; tokensPerFill: number; fillInterval: number }
}

export interface ListenerSpec {
  name: string
  address: string
  port: number
  maxHeaderSize: number
  /**
   * Envoy's use_remote_address: the peer's address decides whether a request is internal, and
   * only then are the app's x-envoy-upstream-rq-(per-try-)timeout-ms and x-envoy-retry-* honoured.
   */
  useRemoteAddress: boolean
  routes: RouteSpec[]
}

export interface TlsSpec {
  sni: string
  ca?: string
  caFile?: string
  systemCa: boolean
  cert?: string
  certFile?: string
  key?: string
  keyFile?: string
  alpn: string[]
  insecure: boolean
  subjectAltNames: string[]
}

export interface ClusterSpec {
  name: string
  type: 'STRICT_DNS' | 'LOGICAL_DNS' | 'STATIC'
  lbPolicy: 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM'
  connectTimeout: number
  dnsRefreshRate: number
  endpoints: Array<{ host: string; port: number }>
  tls?: TlsSpec
  http2: boolean
  keepAliveTimeout: number
  circuitBreakers: {
    maxConnections: number
    maxPendingRequests: number
    maxRequests: number
    maxRetries: number
  }
  outlier?: {
    consecutive5xx: number
    baseEjectionTime: number
    maxEjectionTime: number
    maxEjectionPercent: number
  }
}

export interface AmbassadorSpec {
  listeners: ListenerSpec[]
  clusters: ClusterSpec[]
  resolve: Record<string, string[]>
  accessLog: boolean
  drainTime: number
}

/** Hop-by-hop and framing headers a route may not add (they would break the proxy's framing). */
const RESERVED = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'content-length',
])

/** Checks what the schema cannot say and turns the config into the model; every problem in one list. */
export function normalize(config: Config): { spec?: AmbassadorSpec; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = []
  const dur = (key: string, v: number | string | undefined, dflt: number): number => {
    if (v === undefined) return dflt
    const ms = parseDuration(v)
    if (ms === undefined) {
      issues.push({ key, expected: 'a duration like 5s, 250ms or 1m', got: JSON.stringify(v) })
      return dflt
    }
    return ms
  }
  let listeners = config.listeners
  let clusters = config.clusters
  if (config.upstream) {
    const shortcut = fromUpstreamUrl(config, issues)
    if (shortcut && listeners.length === 0) {
      listeners = [shortcut.listener]
      clusters = [...clusters, shortcut.cluster]
    } else if (shortcut && listeners.length > 0) {
      issues.push({
        key: 'upstream',
        expected: 'either upstream or listeners, not both',
        got: config.upstream,
      })
    }
  }
  if (listeners.length === 0) {
    issues.push({
      key: 'listeners',
      expected: 'at least one listener (or upstream, or an envoy.yaml with -c)',
      got: 'none',
    })
  }

  const clusterSpecs: ClusterSpec[] = clusters.map((c, i) => {
    const key = `clusters.${i}`
    const endpoints = c.endpoints.map((e, j) => {
      if (typeof e !== 'string') return e
      const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(e)
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
        issues.push({ key: `${key}.endpoints.${j}`, expected: '"host:port"', got: JSON.stringify(e) })
        return { host: e, port: 443 }
      }
      return { host: m[1]!, port: Number(m[2]) }
    })
    const type = (c.type ?? 'STRICT_DNS') as ClusterSpec['type']
    if (type === 'LOGICAL_DNS' && endpoints.length !== 1) {
      issues.push({
        key: `${key}.endpoints`,
        expected: 'exactly one endpoint for LOGICAL_DNS',
        got: `${endpoints.length}`,
      })
    }
    const tlsIn = c.tls === undefined || c.tls === true ? {} : c.tls === false ? undefined : c.tls
    const tls: TlsSpec | undefined = tlsIn && {
      sni: tlsIn.sni ?? endpoints[0]?.host ?? '',
      ca: tlsIn.ca,
      caFile: tlsIn.caFile,
      systemCa: tlsIn.systemCa ?? true,
      cert: tlsIn.cert,
      certFile: tlsIn.certFile,
      key: tlsIn.key,
      keyFile: tlsIn.keyFile,
      alpn: tlsIn.alpn ?? (c.http2 ? ['h2', 'http/1.1'] : ['http/1.1']),
      insecure: tlsIn.insecure ?? false,
      subjectAltNames: tlsIn.subjectAltNames ?? [],
    }
    if (tls && Boolean(tls.cert ?? tls.certFile) !== Boolean(tls.key ?? tls.keyFile)) {
      issues.push({
        key: `${key}.tls`,
        expected: 'a client certificate and its key together',
        got: 'only one of them',
      })
    }
    const cb = c.circuitBreakers ?? {}
    const od = c.outlierDetection
    const base = od ? dur(`${key}.outlierDetection.baseEjectionTime`, od.baseEjectionTime, 30_000) : 0
    return {
      name: c.name,
      type,
      lbPolicy: (c.lbPolicy ?? 'ROUND_ROBIN') as ClusterSpec['lbPolicy'],
      connectTimeout: dur(`${key}.connectTimeout`, c.connectTimeout, 5000),
      dnsRefreshRate: dur(`${key}.dnsRefreshRate`, c.dnsRefreshRate, 5000),
      endpoints,
      tls,
      http2: c.http2 ?? tls?.alpn.includes('h2') ?? false,
      keepAliveTimeout: dur(`${key}.keepAliveTimeout`, c.keepAliveTimeout, 60_000),
      // Envoy's defaults: 1024 connections, pending requests and requests, 3 concurrent retries.
      circuitBreakers: {
        maxConnections: cb.maxConnections ?? 1024,
        maxPendingRequests: cb.maxPendingRequests ?? 1024,
        maxRequests: cb.maxRequests ?? 1024,
        maxRetries: cb.maxRetries ?? 3,
      },
      outlier: od && {
        consecutive5xx: od.consecutive5xx ?? 5,
        baseEjectionTime: base,
        maxEjectionTime: dur(
          `${key}.outlierDetection.maxEjectionTime`,
          od.maxEjectionTime,
          Math.max(300_000, base),
        ),
        maxEjectionPercent: od.maxEjectionPercent ?? 10,
      },
    }
  })
  const names = new Set<string>()
  clusterSpecs.forEach((c, i) => {
    if (names.has(c.name))
      issues.push({ key: `clusters.${i}.name`, expected: 'a unique cluster name', got: c.name })
    names.add(c.name)
  })

  const listenerSpecs: ListenerSpec[] = listeners.map((l, i) => ({
    name: l.name ?? `listener_${i}`,
    address: l.address ?? '127.0.0.1',
    port: l.port,
    maxHeaderSize: l.maxRequestHeadersKb ? l.maxRequestHeadersKb * 1024 : config.maxRequestHeaders,
    useRemoteAddress: l.useRemoteAddress ?? false,
    routes: l.routes.map((r, j) => normalizeRoute(r, `listeners.${i}.routes.${j}`, names, issues, dur)),
  }))
  if (issues.length > 0) return { issues }
  return {
    spec: {
      listeners: listenerSpecs,
      clusters: clusterSpecs,
      resolve: config.resolve,
      accessLog: config.accessLog,
      drainTime: config.drainTime,
    },
    issues,
  }
}

function normalizeRoute(
  r: RouteConfig,
  key: string,
  clusters: Set<string>,
  issues: ConfigIssue[],
  dur: (key: string, v: number | string | undefined, d: number) => number,
): RouteSpec {
  if (!clusters.has(r.cluster)) {
    issues.push({
      key: `${key}.cluster`,
      expected: `a configured cluster (${[...clusters].join(', ')})`,
      got: r.cluster,
    })
  }
  const pairs = (m: Record<string, string> | undefined, what: string): Array<[string, string]> =>
    Object.entries(m ?? {}).map(([k, v]) => {
      const name = k.toLowerCase()
      if (RESERVED.has(name) || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) {
        issues.push({ key: `${key}.${what}.${k}`, expected: 'a valid end-to-end header name', got: k })
      }
      // The request head is written as text: a CR or LF in a value would start a header of its own.
      if (what !== 'requestHeadersFromFiles' && /[\r\n\0]/.test(v)) {
        issues.push({
          key: `${key}.${what}.${k}`,
          expected: 'a header value without CR, LF or NUL',
          got: JSON.stringify(v),
        })
      }
      return [name, v]
    })
  const retry = r.retry ?? {}
  const base = dur(`${key}.retry.backoffBase`, retry.backoffBase, 25)
  if (r.prefix !== undefined && !r.prefix.startsWith('/')) {
    issues.push({ key: `${key}.prefix`, expected: 'a path prefix starting with /', got: r.prefix })
  }
  // Both end up in the request head written upstream: no whitespace or control characters, and
  // ASCII only (a path is percent-encoded, a host name punycode: other bytes are not valid there).
  if (r.prefixRewrite !== undefined && /[^\x21-\x7e]/.test(r.prefixRewrite)) {
    issues.push({
      key: `${key}.prefixRewrite`,
      expected: 'a path of ASCII characters without spaces or control characters (percent-encode the rest)',
      got: JSON.stringify(r.prefixRewrite),
    })
  }
  if (r.hostRewrite !== undefined && /[^\x21-\x7e]/.test(r.hostRewrite)) {
    issues.push({
      key: `${key}.hostRewrite`,
      expected: 'an ASCII host without spaces or control characters (punycode for other names)',
      got: JSON.stringify(r.hostRewrite),
    })
  }
  return {
    prefix: r.prefix ?? '/',
    path: r.path,
    domains: (r.domains ?? ['*']).map((d) => d.toLowerCase()),
    cluster: r.cluster,
    timeout: dur(`${key}.timeout`, r.timeout, 15_000),
    perTryTimeout: dur(`${key}.perTryTimeout`, r.perTryTimeout, 0),
    prefixRewrite: r.prefixRewrite,
    hostRewrite: r.hostRewrite ?? 'auto',
    addHeaders: pairs(r.requestHeadersToAdd, 'requestHeadersToAdd'),
    headerFiles: pairs(r.requestHeadersFromFiles, 'requestHeadersFromFiles'),
    removeHeaders: (r.requestHeadersToRemove ?? []).map((h) => h.toLowerCase()),
    responseAddHeaders: pairs(r.responseHeadersToAdd, 'responseHeadersToAdd'),
    responseRemoveHeaders: (r.responseHeadersToRemove ?? []).map((h) => h.toLowerCase()),
    retry: {
      on: new Set(retry.on ?? (r.retry ? ['connect-failure', 'reset', '5xx'] : ['connect-failure'])),
      numRetries: retry.numRetries ?? 1,
      statuses: new Set(retry.retriableStatusCodes ?? []),
      base,
      max: dur(`${key}.retry.backoffMax`, retry.backoffMax, base * 10),
    },
    rateLimit: r.rateLimit && {
      maxTokens: r.rateLimit.maxTokens,
      tokensPerFill: r.rateLimit.tokensPerFill ?? r.rateLimit.maxTokens,
      fillInterval: dur(`${key}.rateLimit.fillInterval`, r.rateLimit.fillInterval, 1000),
    },
  }
}

function fromUpstreamUrl(
  config: Config,
  issues: ConfigIssue[],
): { listener: ListenerConfig; cluster: ClusterConfig } | undefined {
  let url: URL
  try {
    url = new URL(config.upstream)
  } catch {
    issues.push({ key: 'upstream', expected: 'a URL like https://api.example.com', got: config.upstream })
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    issues.push({ key: 'upstream', expected: 'an https:// or http:// URL', got: config.upstream })
    return undefined
  }
  const tls = url.protocol === 'https:'
  const host = url.hostname.replace(/^\[|\]$/g, '')
  return {
    listener: {
      name: 'upstream',
      address: config.listen.address,
      port: config.listen.port,
      routes: [{ prefix: '/', cluster: 'upstream' }],
    },
    cluster: {
      name: 'upstream',
      endpoints: [{ host, port: Number(url.port || (tls ? 443 : 80)) }],
      tls: tls ? (config.caFile ? { caFile: config.caFile } : true) : false,
    },
  }
}

export type { TSchema }

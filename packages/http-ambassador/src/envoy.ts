// Envoy compatibility: reads the v3 static_resources subset the seed's envoy.yaml uses (and a bit
// around it) into our config shape, and Envoy's command line (-c, --config-yaml, -l, --drain-time-s,
// --service-cluster, ...). Every field outside the subset is a start-up error naming its path:
// a proxy that silently ignores part of its config is worse than one that refuses to start.

import { readFileSync } from 'node:fs'
import type { ConfigLayer } from '@podkit/runtime'
import { parse as parseYaml } from 'yaml'
import { RETRY_ON } from './config.ts'
import { ConfigFileReadError, EnvoyUnsupportedError } from './errors.ts'

type Obj = Record<string, unknown>
const HCM =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager'
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router'
const LOCAL_RL = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit'
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext'
const HTTP_OPTIONS = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions'

class Walk {
  problems: Array<{ path: string; why: string }> = []

  /** The object at `path`, with every key outside `allowed` reported. */
  obj(v: unknown, path: string, allowed: string[]): Obj {
    if (v === undefined || v === null) return {}
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.problems.push({ path, why: 'expected a mapping' })
      return {}
    }
    for (const k of Object.keys(v)) {
      if (!allowed.includes(k))
        this.problems.push({ path: `${path}.${k}`, why: 'not supported by podkit http-ambassador' })
    }
    return v as Obj
  }

  list(v: unknown, path: string): unknown[] {
    if (v === undefined || v === null) return []
    if (!Array.isArray(v)) {
      this.problems.push({ path, why: 'expected a list' })
      return []
    }
    return v
  }

  bad(path: string, why: string): void {
    this.problems.push({ path, why })
  }

  oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T | undefined {
    if (v === undefined) return undefined
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T
    this.bad(path, `value ${JSON.stringify(v)} not supported (supported: ${values.join(', ')})`)
    return undefined
  }

  /** Protobuf JSON durations: "5s", "0.25s", or { seconds, nanos }; returned in milliseconds. */
  duration(v: unknown, path: string): number | undefined {
    if (v === undefined) return undefined
    if (typeof v === 'string' && /^\d+(\.\d+)?s$/.test(v)) return Math.round(Number(v.slice(0, -1)) * 1000)
    if (typeof v === 'object' && v !== null) {
      const o = this.obj(v, path, ['seconds', 'nanos'])
      return Number(o.seconds ?? 0) * 1000 + Math.round(Number(o.nanos ?? 0) / 1e6)
    }
    this.bad(path, `expected a duration like "5s", got ${JSON.stringify(v)}`)
    return undefined
  }

  typed(v: unknown, path: string, type: string, allowed: string[]): Obj {
    const o = this.obj(v, path, ['@type', ...allowed])
    if (o['@type'] !== undefined && o['@type'] !== type) this.bad(`${path}.@type`, `expected ${type}`)
    return o
  }

  socketAddress(v: unknown, path: string): { address: string; port: number } | undefined {
    const a = this.obj(v, path, ['socket_address'])
    const sa = this.obj(a.socket_address, `${path}.socket_address`, ['address', 'port_value', 'protocol'])
    if (sa.protocol !== undefined && sa.protocol !== 'TCP')
      this.bad(`${path}.socket_address.protocol`, 'only TCP')
    if (typeof sa.address !== 'string' || typeof sa.port_value !== 'number') {
      this.bad(`${path}.socket_address`, 'needs address and port_value')
      return undefined
    }
    return { address: sa.address, port: sa.port_value }
  }

  /** An Envoy DataSource: { filename } or { inline_string }. */
  dataSource(v: unknown, path: string): { file?: string; inline?: string } {
    const o = this.obj(v, path, ['filename', 'inline_string'])
    if (typeof o.filename === 'string') return { file: o.filename }
    if (typeof o.inline_string === 'string') return { inline: o.inline_string }
    this.bad(path, 'needs filename or inline_string')
    return {}
  }
}

/** Turns a parsed envoy.yaml into our config shape (listeners, clusters, admin); throws EnvoyUnsupportedError. */
export function envoyToConfig(doc: unknown): Obj {
  const w = new Walk()
  const top = w.obj(doc, '(root)', ['static_resources', 'admin', 'node', 'layered_runtime'])
  if (top.layered_runtime !== undefined) {
    // An empty runtime layer list is what many examples carry; anything in it is not supported.
    const lr = w.obj(top.layered_runtime, 'layered_runtime', ['layers'])
    if (w.list(lr.layers, 'layered_runtime.layers').length > 0)
      w.bad('layered_runtime.layers', 'runtime layers are not supported')
  }
  w.obj(top.node, 'node', ['id', 'cluster'])
  const sr = w.obj(top.static_resources, 'static_resources', ['listeners', 'clusters'])
  const out: Obj = {}

  if (top.admin !== undefined) {
    const admin = w.obj(top.admin, 'admin', ['address', 'access_log_path', 'access_log', 'profile_path'])
    const a = w.socketAddress(admin.address, 'admin.address')
    if (a) out.admin = { host: a.address, port: a.port }
  }

  out.listeners = w
    .list(sr.listeners, 'static_resources.listeners')
    .map((l, i) => listener(w, l, `static_resources.listeners[${i}]`))
  out.clusters = w
    .list(sr.clusters, 'static_resources.clusters')
    .map((c, i) => cluster(w, c, `static_resources.clusters[${i}]`))
  if (w.problems.length > 0) throw new EnvoyUnsupportedError(w.problems)
  return out
}

function listener(w: Walk, v: unknown, path: string): Obj {
  const l = w.obj(v, path, [
    'name',
    'address',
    'filter_chains',
    'traffic_direction',
    'per_connection_buffer_limit_bytes',
  ])
  const addr = w.socketAddress(l.address, `${path}.address`)
  const chains = w.list(l.filter_chains, `${path}.filter_chains`)
  if (chains.length !== 1) w.bad(`${path}.filter_chains`, 'exactly one filter chain is supported')
  const chain = w.obj(chains[0], `${path}.filter_chains[0]`, ['filters', 'name'])
  const filters = w.list(chain.filters, `${path}.filter_chains[0].filters`)
  const fp = `${path}.filter_chains[0].filters[0]`
  if (filters.length !== 1)
    w.bad(`${path}.filter_chains[0].filters`, 'exactly one filter (the HTTP connection manager)')
  const f = w.obj(filters[0], fp, ['name', 'typed_config'])
  if (f.name !== 'envoy.filters.network.http_connection_manager')
    w.bad(`${fp}.name`, 'only envoy.filters.network.http_connection_manager is supported')
  const hp = `${fp}.typed_config`
  const hcm = w.typed(f.typed_config, hp, HCM, [
    'stat_prefix',
    'codec_type',
    'route_config',
    'http_filters',
    'access_log',
    'use_remote_address',
    'generate_request_id',
    'max_request_headers_kb',
    'upgrade_configs',
  ])
  w.oneOf(hcm.codec_type, `${hp}.codec_type`, ['AUTO', 'HTTP1'] as const)
  // Envoy tunnels WebSocket only when this list enables it; we always tunnel Upgrade requests, so
  // the common `- upgrade_type: websocket` is read as it is meant. What we cannot do (CONNECT,
  // turning upgrades off, their own filter chains) is refused by path.
  w.list(hcm.upgrade_configs, `${hp}.upgrade_configs`).forEach((u, i) => {
    const p = `${hp}.upgrade_configs[${i}]`
    const o = w.obj(u, p, ['upgrade_type', 'enabled'])
    if (typeof o.upgrade_type !== 'string' || o.upgrade_type.toLowerCase() !== 'websocket')
      w.bad(`${p}.upgrade_type`, 'only websocket is supported')
    if (o.enabled === false) w.bad(`${p}.enabled`, 'upgrades cannot be turned off')
  })
  // x-request-id is always generated when missing.
  if (hcm.generate_request_id === false)
    w.bad(`${hp}.generate_request_id`, 'request ids are always generated')
  // Access logs: ours is always one JSON line per request on stdout, whatever the format asked.
  w.list(hcm.access_log, `${hp}.access_log`)

  let rateLimit: Obj | undefined
  const httpFilters = w.list(hcm.http_filters, `${hp}.http_filters`)
  httpFilters.forEach((hf, i) => {
    const p = `${hp}.http_filters[${i}]`
    const o = w.obj(hf, p, ['name', 'typed_config'])
    if (o.name === 'envoy.filters.http.router') w.typed(o.typed_config, `${p}.typed_config`, ROUTER, [])
    else if (o.name === 'envoy.filters.http.local_ratelimit')
      rateLimit = localRateLimit(w, o.typed_config, `${p}.typed_config`)
    else
      w.bad(
        `${p}.name`,
        'only envoy.filters.http.router and envoy.filters.http.local_ratelimit are supported',
      )
  })
  if (httpFilters.length === 0 || (httpFilters.at(-1) as Obj)?.name !== 'envoy.filters.http.router')
    w.bad(`${hp}.http_filters`, 'the last HTTP filter must be envoy.filters.http.router')

  const rp = `${hp}.route_config`
  const rc = w.obj(hcm.route_config, rp, ['name', 'virtual_hosts'])
  const routes: Obj[] = []
  w.list(rc.virtual_hosts, `${rp}.virtual_hosts`).forEach((vh, i) => {
    const vp = `${rp}.virtual_hosts[${i}]`
    const v = w.obj(vh, vp, [
      'name',
      'domains',
      'routes',
      'retry_policy',
      'request_headers_to_add',
      'request_headers_to_remove',
      'response_headers_to_add',
      'response_headers_to_remove',
    ])
    const domains = w.list(v.domains, `${vp}.domains`).map(String)
    const vhHeaders = headerRules(w, v, vp)
    const vhRetry =
      v.retry_policy !== undefined ? retryPolicy(w, v.retry_policy, `${vp}.retry_policy`) : undefined
    w.list(v.routes, `${vp}.routes`).forEach((r, j) => {
      const route = routeEntry(w, r, `${vp}.routes[${j}]`, vhRetry)
      if (!route) return
      routes.push({
        ...route,
        domains: domains.length > 0 ? domains : ['*'],
        ...mergeHeaders(vhHeaders, route),
        ...(rateLimit && !route.rateLimit ? { rateLimit } : {}),
      })
    })
  })
  return {
    name: typeof l.name === 'string' ? l.name : undefined,
    address: addr?.address,
    port: addr?.port ?? 0,
    ...(typeof hcm.max_request_headers_kb === 'number'
      ? { maxRequestHeadersKb: hcm.max_request_headers_kb }
      : {}),
    ...(hcm.use_remote_address === true ? { useRemoteAddress: true } : {}),
    routes,
  }
}

function localRateLimit(w: Walk, v: unknown, path: string): Obj | undefined {
  const o = w.typed(v, path, LOCAL_RL, ['stat_prefix', 'token_bucket', 'filter_enabled', 'filter_enforced'])
  // filter_enabled / filter_enforced are runtime fractions; only "100% on" is what we do.
  for (const k of ['filter_enabled', 'filter_enforced']) {
    if (o[k] === undefined) continue
    const fe = w.obj(o[k], `${path}.${k}`, ['runtime_key', 'default_value'])
    const dv = w.obj(fe.default_value, `${path}.${k}.default_value`, ['numerator', 'denominator'])
    if (dv.numerator !== 100 || (dv.denominator ?? 'HUNDRED') !== 'HUNDRED')
      w.bad(`${path}.${k}.default_value`, 'only 100/HUNDRED (always on) is supported')
  }
  if (o.filter_enabled === undefined) return undefined // Envoy: not enabled unless filter_enabled says so
  const tb = w.obj(o.token_bucket, `${path}.token_bucket`, ['max_tokens', 'tokens_per_fill', 'fill_interval'])
  return {
    maxTokens: tb.max_tokens,
    tokensPerFill: tb.tokens_per_fill,
    fillInterval: w.duration(tb.fill_interval, `${path}.token_bucket.fill_interval`) ?? 1000,
  }
}

interface Headers {
  requestHeadersToAdd?: Record<string, string>
  requestHeadersToRemove?: string[]
  responseHeadersToAdd?: Record<string, string>
  responseHeadersToRemove?: string[]
}

function headerRules(w: Walk, o: Obj, path: string): Headers {
  const adds = (key: string) => {
    const list = w.list(o[key], `${path}.${key}`)
    if (list.length === 0) return undefined
    const out: Record<string, string> = {}
    list.forEach((h, i) => {
      const p = `${path}.${key}[${i}]`
      const e = w.obj(h, p, ['header', 'append', 'append_action', 'keep_empty_value'])
      const hv = w.obj(e.header, `${p}.header`, ['key', 'value'])
      // We set (overwrite) headers: Envoy's OVERWRITE_IF_EXISTS_OR_ADD.
      if (e.append === true) w.bad(`${p}.append`, 'appending is not supported; headers are set')
      w.oneOf(e.append_action, `${p}.append_action`, ['OVERWRITE_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT'] as const)
      if (typeof hv.key === 'string') out[hv.key] = String(hv.value ?? '')
    })
    return out
  }
  const removes = (key: string) => {
    const list = w.list(o[key], `${path}.${key}`).map(String)
    return list.length > 0 ? list : undefined
  }
  return {
    requestHeadersToAdd: adds('request_headers_to_add'),
    requestHeadersToRemove: removes('request_headers_to_remove'),
    responseHeadersToAdd: adds('response_headers_to_add'),
    responseHeadersToRemove: removes('response_headers_to_remove'),
  }
}

function mergeHeaders(vh: Headers, route: Headers): Headers {
  const out: Headers = {}
  if (vh.requestHeadersToAdd || route.requestHeadersToAdd)
    out.requestHeadersToAdd = { ...vh.requestHeadersToAdd, ...route.requestHeadersToAdd }
  if (vh.responseHeadersToAdd || route.responseHeadersToAdd)
    out.responseHeadersToAdd = { ...vh.responseHeadersToAdd, ...route.responseHeadersToAdd }
  if (vh.requestHeadersToRemove || route.requestHeadersToRemove)
    out.requestHeadersToRemove = [
      ...(vh.requestHeadersToRemove ?? []),
      ...(route.requestHeadersToRemove ?? []),
    ]
  if (vh.responseHeadersToRemove || route.responseHeadersToRemove)
    out.responseHeadersToRemove = [
      ...(vh.responseHeadersToRemove ?? []),
      ...(route.responseHeadersToRemove ?? []),
    ]
  return out
}

function retryPolicy(w: Walk, v: unknown, path: string): Obj {
  const o = w.obj(v, path, [
    'retry_on',
    'num_retries',
    'per_try_timeout',
    'retriable_status_codes',
    'retry_back_off',
  ])
  const on = String(o.retry_on ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  for (const r of on) w.oneOf(r, `${path}.retry_on`, RETRY_ON)
  const bo = w.obj(o.retry_back_off, `${path}.retry_back_off`, ['base_interval', 'max_interval'])
  return {
    on,
    numRetries: typeof o.num_retries === 'number' ? o.num_retries : 1,
    retriableStatusCodes: o.retriable_status_codes,
    backoffBase: w.duration(bo.base_interval, `${path}.retry_back_off.base_interval`),
    backoffMax: w.duration(bo.max_interval, `${path}.retry_back_off.max_interval`),
    perTryTimeout: w.duration(o.per_try_timeout, `${path}.per_try_timeout`),
  }
}

function routeEntry(
  w: Walk,
  v: unknown,
  path: string,
  vhRetry: Obj | undefined,
): (Obj & Headers) | undefined {
  const r = w.obj(v, path, [
    'name',
    'match',
    'route',
    'request_headers_to_add',
    'request_headers_to_remove',
    'response_headers_to_add',
    'response_headers_to_remove',
    // The seed's envoy.yaml puts `timeout` beside `route` (Envoy itself rejects that field there);
    // the intent is plain, so it is read as the route timeout.
    'timeout',
  ])
  const m = w.obj(r.match, `${path}.match`, ['prefix', 'path'])
  if (m.prefix === undefined && m.path === undefined) w.bad(`${path}.match`, 'needs prefix or path')
  const rp = `${path}.route`
  const a = w.obj(r.route, rp, [
    'cluster',
    'timeout',
    'prefix_rewrite',
    'host_rewrite_literal',
    'auto_host_rewrite',
    'retry_policy',
  ])
  if (typeof a.cluster !== 'string') {
    w.bad(`${rp}.cluster`, 'a route needs a cluster')
    return undefined
  }
  const retry = a.retry_policy !== undefined ? retryPolicy(w, a.retry_policy, `${rp}.retry_policy`) : vhRetry
  const { perTryTimeout, ...retryRest } = retry ?? {}
  const out: Obj & Headers = {
    cluster: a.cluster,
    ...(typeof m.prefix === 'string' ? { prefix: m.prefix } : {}),
    ...(typeof m.path === 'string' ? { path: m.path } : {}),
    // Envoy's route timeout defaults to 15s; 0s disables it.
    timeout: w.duration(a.timeout, `${rp}.timeout`) ?? w.duration(r.timeout, `${path}.timeout`) ?? 15_000,
    ...(typeof a.prefix_rewrite === 'string' ? { prefixRewrite: a.prefix_rewrite } : {}),
    // Without retry_policy Envoy does not retry: no condition is on. Its default policy still
    // allows one retry, which an internal app's x-envoy-retry-on turns on (mergeRetry).
    retry: retry ? retryRest : { on: [], numRetries: 1 },
    ...(perTryTimeout !== undefined ? { perTryTimeout } : {}),
    ...headerRules(w, r, path),
  }
  if (typeof a.host_rewrite_literal === 'string') out.hostRewrite = a.host_rewrite_literal
  else if (a.auto_host_rewrite === false) out.hostRewrite = 'keep'
  return out
}

function cluster(w: Walk, v: unknown, path: string): Obj {
  const c = w.obj(v, path, [
    'name',
    'connect_timeout',
    'type',
    'lb_policy',
    'load_assignment',
    'transport_socket',
    'dns_refresh_rate',
    'dns_lookup_family',
    'circuit_breakers',
    'outlier_detection',
    'typed_extension_protocol_options',
    'http2_protocol_options',
  ])
  const type = w.oneOf(c.type ?? 'STATIC', `${path}.type`, ['STATIC', 'STRICT_DNS', 'LOGICAL_DNS'] as const)
  const lbPolicy = w.oneOf(c.lb_policy ?? 'ROUND_ROBIN', `${path}.lb_policy`, [
    'ROUND_ROBIN',
    'LEAST_REQUEST',
    'RANDOM',
  ] as const)
  // Addresses of every family are used; the resolver's order decides (V4_PREFERRED-like).
  w.oneOf(c.dns_lookup_family, `${path}.dns_lookup_family`, [
    'AUTO',
    'V4_ONLY',
    'V4_PREFERRED',
    'ALL',
  ] as const)
  const la = w.obj(c.load_assignment, `${path}.load_assignment`, ['cluster_name', 'endpoints'])
  const endpoints: Obj[] = []
  w.list(la.endpoints, `${path}.load_assignment.endpoints`).forEach((e, i) => {
    const ep = `${path}.load_assignment.endpoints[${i}]`
    const le = w.obj(e, ep, ['lb_endpoints', 'locality'])
    w.list(le.lb_endpoints, `${ep}.lb_endpoints`).forEach((lbe, j) => {
      const p = `${ep}.lb_endpoints[${j}]`
      const o = w.obj(lbe, p, ['endpoint'])
      const en = w.obj(o.endpoint, `${p}.endpoint`, ['address'])
      const a = w.socketAddress(en.address, `${p}.endpoint.address`)
      if (a) endpoints.push({ host: a.address, port: a.port })
    })
  })
  if (endpoints.length === 0) w.bad(`${path}.load_assignment`, 'a cluster needs at least one endpoint')

  let tls: Obj | false = false
  let http2 = c.http2_protocol_options !== undefined
  if (c.transport_socket !== undefined) {
    const tp = `${path}.transport_socket`
    const ts = w.obj(c.transport_socket, tp, ['name', 'typed_config'])
    if (ts.name !== 'envoy.transport_sockets.tls')
      w.bad(`${tp}.name`, 'only envoy.transport_sockets.tls is supported')
    tls = upstreamTls(w, ts.typed_config, `${tp}.typed_config`)
  }
  const tepo = w.obj(c.typed_extension_protocol_options, `${path}.typed_extension_protocol_options`, [
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  ])
  let keepAliveTimeout: number | undefined
  const hpo = tepo['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']
  if (hpo !== undefined) {
    const p = `${path}.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]`
    const o = w.typed(hpo, p, HTTP_OPTIONS, [
      'explicit_http_config',
      'auto_config',
      'common_http_protocol_options',
    ])
    if (o.explicit_http_config !== undefined) {
      const e = w.obj(o.explicit_http_config, `${p}.explicit_http_config`, [
        'http_protocol_options',
        'http2_protocol_options',
      ])
      http2 = e.http2_protocol_options !== undefined
    }
    if (o.auto_config !== undefined) {
      w.obj(o.auto_config, `${p}.auto_config`, ['http_protocol_options', 'http2_protocol_options'])
      http2 = true // ALPN picks: offer h2 and http/1.1
    }
    const common = w.obj(o.common_http_protocol_options, `${p}.common_http_protocol_options`, [
      'idle_timeout',
    ])
    keepAliveTimeout = w.duration(common.idle_timeout, `${p}.common_http_protocol_options.idle_timeout`)
  }
  if (tls && http2 && !tls.alpn) tls.alpn = ['h2', 'http/1.1']

  const out: Obj = {
    name: c.name,
    type,
    lbPolicy,
    endpoints,
    tls,
    http2,
    connectTimeout: w.duration(c.connect_timeout, `${path}.connect_timeout`) ?? 5000,
  }
  const drr = w.duration(c.dns_refresh_rate, `${path}.dns_refresh_rate`)
  if (drr !== undefined) out.dnsRefreshRate = drr
  if (keepAliveTimeout !== undefined) out.keepAliveTimeout = keepAliveTimeout

  if (c.circuit_breakers !== undefined) {
    const cb = w.obj(c.circuit_breakers, `${path}.circuit_breakers`, ['thresholds'])
    w.list(cb.thresholds, `${path}.circuit_breakers.thresholds`).forEach((t, i) => {
      const p = `${path}.circuit_breakers.thresholds[${i}]`
      const o = w.obj(t, p, [
        'priority',
        'max_connections',
        'max_pending_requests',
        'max_requests',
        'max_retries',
      ])
      // Only the default priority exists here: no route asks for HIGH.
      if (o.priority !== undefined && o.priority !== 'DEFAULT')
        w.bad(`${p}.priority`, 'only DEFAULT priority is supported')
      out.circuitBreakers = {
        ...(o.max_connections !== undefined ? { maxConnections: o.max_connections } : {}),
        ...(o.max_pending_requests !== undefined ? { maxPendingRequests: o.max_pending_requests } : {}),
        ...(o.max_requests !== undefined ? { maxRequests: o.max_requests } : {}),
        ...(o.max_retries !== undefined ? { maxRetries: o.max_retries } : {}),
      }
    })
  }
  if (c.outlier_detection !== undefined) {
    const p = `${path}.outlier_detection`
    const o = w.obj(c.outlier_detection, p, [
      'consecutive_5xx',
      'base_ejection_time',
      'max_ejection_time',
      'max_ejection_percent',
      'interval',
    ])
    // interval: Envoy sweeps ejections every interval; we eject as the 5xx arrives, which is at least as fast.
    w.duration(o.interval, `${p}.interval`)
    out.outlierDetection = {
      ...(o.consecutive_5xx !== undefined ? { consecutive5xx: o.consecutive_5xx } : {}),
      ...(o.base_ejection_time !== undefined
        ? { baseEjectionTime: w.duration(o.base_ejection_time, `${p}.base_ejection_time`) }
        : {}),
      ...(o.max_ejection_time !== undefined
        ? { maxEjectionTime: w.duration(o.max_ejection_time, `${p}.max_ejection_time`) }
        : {}),
      ...(o.max_ejection_percent !== undefined ? { maxEjectionPercent: o.max_ejection_percent } : {}),
    }
  }
  return out
}

function upstreamTls(w: Walk, v: unknown, path: string): Obj {
  const t = w.typed(v, path, UPSTREAM_TLS, ['sni', 'common_tls_context', 'allow_renegotiation'])
  if (t.allow_renegotiation === true) w.bad(`${path}.allow_renegotiation`, 'renegotiation is not supported')
  const out: Obj = {}
  if (typeof t.sni === 'string') out.sni = t.sni
  const cp = `${path}.common_tls_context`
  const ctx = w.obj(t.common_tls_context, cp, ['validation_context', 'tls_certificates', 'alpn_protocols'])
  if (ctx.validation_context !== undefined) {
    const vp = `${cp}.validation_context`
    const vc = w.obj(ctx.validation_context, vp, [
      'trusted_ca',
      'match_subject_alt_names',
      'trust_chain_verification',
    ])
    if (vc.trusted_ca !== undefined) {
      const ca = w.dataSource(vc.trusted_ca, `${vp}.trusted_ca`)
      // Envoy trusts only trusted_ca when it is set; so do we (no system CAs on top).
      out.systemCa = false
      if (ca.file) out.caFile = ca.file
      if (ca.inline) out.ca = ca.inline
    }
    if (vc.trust_chain_verification !== undefined) {
      const mode = w.oneOf(vc.trust_chain_verification, `${vp}.trust_chain_verification`, [
        'VERIFY_TRUST_CHAIN',
        'ACCEPT_UNTRUSTED',
      ] as const)
      if (mode === 'ACCEPT_UNTRUSTED') out.insecure = true
    }
    const sans: string[] = []
    w.list(vc.match_subject_alt_names, `${vp}.match_subject_alt_names`).forEach((m, i) => {
      const o = w.obj(m, `${vp}.match_subject_alt_names[${i}]`, ['exact'])
      if (typeof o.exact === 'string') sans.push(o.exact)
      else w.bad(`${vp}.match_subject_alt_names[${i}]`, 'only exact matches are supported')
    })
    if (sans.length > 0) out.subjectAltNames = sans
  }
  const certs = w.list(ctx.tls_certificates, `${cp}.tls_certificates`)
  if (certs.length > 1) w.bad(`${cp}.tls_certificates`, 'one client certificate at most')
  if (certs.length === 1) {
    const p = `${cp}.tls_certificates[0]`
    const tc = w.obj(certs[0], p, ['certificate_chain', 'private_key'])
    const chain = w.dataSource(tc.certificate_chain, `${p}.certificate_chain`)
    const key = w.dataSource(tc.private_key, `${p}.private_key`)
    if (chain.file) out.certFile = chain.file
    if (chain.inline) out.cert = chain.inline
    if (key.file) out.keyFile = key.file
    if (key.inline) out.key = key.inline
  }
  const alpn = w.list(ctx.alpn_protocols, `${cp}.alpn_protocols`)
  if (alpn.length > 0) out.alpn = alpn.map(String)
  return out
}

/** Envoy's log levels mapped to ours. */
const ENVOY_LEVELS: Record<string, string> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  warn: 'warn',
  error: 'error',
  critical: 'fatal',
  off: 'silent',
}

/** Envoy flags that name the process but change nothing a proxy does here. */
const IDENTITY_FLAGS = new Set([
  '--service-cluster',
  '--service-node',
  '--service-zone',
  '--base-id',
  '--parent-shutdown-time-s',
])
const IDENTITY_SWITCHES = new Set([
  '--disable-hot-restart',
  '--use-dynamic-base-id',
  '--allow-unknown-static-fields',
])

/**
 * An envoy.yaml has static_resources, or at least Envoy's admin (which names an `address`): our
 * own YAML has an `admin` too ({ host, port }), and was taken for an envoy.yaml by it.
 */
function looksLikeEnvoy(doc: unknown): boolean {
  if (typeof doc !== 'object' || doc === null) return false
  if ('static_resources' in doc) return true
  const admin = (doc as { admin?: unknown }).admin
  return typeof admin === 'object' && admin !== null && 'address' in admin
}

/**
 * Envoy's command line into ours: `-c envoy.yaml` / `--config-path` / `--config-yaml` become a
 * config layer, `-l warning` becomes `--log-level warn`, `--drain-time-s 10` sets drainTime,
 * identity flags are accepted. `-c` of a file that is not an envoy.yaml stays our config file.
 */
export function prepareArgs(argv: readonly string[]): { argv: string[]; layers: ConfigLayer[] } {
  const out: string[] = []
  const layers: ConfigLayer[] = []
  const docs: Array<{ doc: unknown; source: string }> = []
  let mode: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const eq = arg.indexOf('=')
    const name = arg.startsWith('--') && eq !== -1 ? arg.slice(0, eq) : arg
    const value = () => (arg.startsWith('--') && eq !== -1 ? arg.slice(eq + 1) : argv[++i])
    if (name === '-c' || name === '--config-path' || name === '--config') {
      const path = value()
      if (path === undefined) {
        out.push(arg)
        continue
      }
      let text: string
      try {
        text = readFileSync(path, 'utf8')
      } catch (err) {
        throw new ConfigFileReadError(`cannot read config file ${path}: ${(err as Error).message}`, {
          cause: err,
        })
      }
      let doc: unknown
      try {
        doc = parseYaml(text)
      } catch {
        doc = undefined // not YAML: let the runtime report it on our own config file
      }
      if (looksLikeEnvoy(doc)) docs.push({ doc, source: `envoy config ${path}` })
      else out.push('--config', path)
    } else if (name === '--config-yaml') {
      docs.push({ doc: parseYaml(value() ?? ''), source: 'envoy --config-yaml' })
    } else if (name === '-l' || name === '--log-level') {
      const v = value() ?? ''
      out.push('--log-level', ENVOY_LEVELS[v] ?? v)
    } else if (name === '--drain-time-s') {
      out.push('--drain-time', `${value()}s`)
    } else if (name === '--mode') {
      mode = value()
    } else if (IDENTITY_FLAGS.has(name)) {
      value()
    } else if (!IDENTITY_SWITCHES.has(name)) {
      out.push(arg)
    }
  }
  if (mode === 'validate') out.push('--check-config')
  else if (mode !== undefined && mode !== 'serve') out.push(`--mode=${mode}`) // unknown: the runtime reports it
  for (const d of docs) layers.push({ source: d.source, values: envoyToConfig(d.doc) })
  return { argv: out, layers }
}

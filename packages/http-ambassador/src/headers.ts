// Header rewriting between the app and the upstream: hop-by-hop headers stripped (RFC 9110
// 7.6.1), Host rewritten, x-request-id generated or kept, route headers added or removed, secret
// header values read from mounted files. Works on the flat raw arrays Node and undici hand over.

import { randomUUID } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import type { RouteSpec } from './config.ts'
import { ConfigFileReadError } from './errors.ts'

/** Connection-specific headers a proxy must not forward (RFC 9110 7.6.1), plus proxy-connection and http2-settings. */
export const HOP_BY_HOP = new Set([
  'connection',
  // The settings of an h2c upgrade (RFC 7540 3.2.1), which we ignore: never forwarded.
  'http2-settings',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/**
 * The app's own timeouts for one request, which Envoy's router takes from an internal request
 * (FilterUtility::finalTimeout) and removes from any other (cleanInternalHeaders): they replace
 * the route's `timeout` and `per_try_timeout`, and are never forwarded.
 */
const TIMEOUT_HEADER = 'x-envoy-upstream-rq-timeout-ms'
const PER_TRY_HEADER = 'x-envoy-upstream-rq-per-try-timeout-ms'

const RETRY_ON_HEADER = 'x-envoy-retry-on'
const MAX_RETRIES_HEADER = 'x-envoy-max-retries'
const RETRIABLE_CODES_HEADER = 'x-envoy-retriable-status-codes'

/**
 * The request headers Envoy owns: what ConnectionManagerUtility::cleanInternalHeaders removes
 * from a request that is not internal, and x-envoy-internal, which Envoy always replaces with its
 * own verdict. From an internal request Envoy's router consumes the retry and timeout ones
 * (honoured here too, see Forward). None is ever forwarded: a client outside the mesh could
 * otherwise steer our retries and timeouts through them, and the upstream is an external API to
 * which they mean nothing (Envoy would pass the tracing ones of an internal request on to its
 * next mesh hop; there is none here).
 */
export const ENVOY_REQUEST_HEADERS = [
  'x-envoy-internal',
  'x-envoy-decorator-operation',
  'x-envoy-downstream-service-cluster',
  'x-envoy-downstream-service-node',
  RETRIABLE_CODES_HEADER,
  'x-envoy-retriable-header-names',
  RETRY_ON_HEADER,
  'x-envoy-retry-grpc-on',
  MAX_RETRIES_HEADER,
  'x-envoy-upstream-alt-stat-name',
  TIMEOUT_HEADER,
  PER_TRY_HEADER,
  'x-envoy-upstream-rq-timeout-alt-response',
  'x-envoy-expected-rq-timeout-ms',
  'x-envoy-force-trace',
  'x-envoy-ip-tags',
  'x-envoy-original-url',
  'x-envoy-hedge-on-per-try-timeout',
]

/** A header's milliseconds, digits only as Envoy's atoul reads them; anything else is ignored. */
function millis(v: string): number | undefined {
  return /^\d{1,12}$/.test(v) ? Number(v) : undefined
}

export interface RequestHeaders {
  /** [name, value, ...] for the upstream. */
  headers: string[]
  requestId: string
  /** x-envoy-upstream-rq-timeout-ms, when the app sent a valid one (0: no timeout). */
  timeout: number | undefined
  /** x-envoy-upstream-rq-per-try-timeout-ms, when the app sent a valid one. */
  perTry: number | undefined
  /** The app sent X-Forwarded-For: Envoy then no longer takes its address as the client's. */
  forwardedFor: boolean
  /** x-envoy-retry-on (several lines joined with commas), as sent. */
  retryOn: string | undefined
  /** x-envoy-max-retries, when digits. */
  maxRetries: number | undefined
  /** x-envoy-retriable-status-codes (several lines joined with commas), as sent. */
  retriableCodes: string | undefined
}

/**
 * A string from the config as the request and response heads are written: they go out as latin1
 * (one byte per char, so the app's and the upstream's bytes pass through unchanged), so text of
 * our own is first turned into its UTF-8 bytes, as Envoy sends it. Written as it was, "é" went out
 * as one latin1 byte and "✓" as 0x13, a control character that made the app's client refuse
 * every response of the route.
 */
export function toWire(s: string): string {
  return /[^\x00-\x7f]/.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s
}

/** A header whose value comes from a file (a Kubernetes secret); re-read when the file changes. */
class FileHeader {
  private value = ''
  private checked = 0
  private mtime = 0

  constructor(
    readonly name: string,
    readonly path: string,
  ) {
    this.load()
  }

  private load(): void {
    const st = statSync(this.path)
    const value = readFileSync(this.path, 'utf8').trim()
    // The value goes into the request head as text: a line break in it would add a header of its
    // own. Refused at start; a later bad version keeps the last good value (see get()).
    if (/[\r\n\0]/.test(value))
      throw new ConfigFileReadError(
        `the header file ${this.path} (${this.name}) holds a line break or NUL after trimming`,
      )
    this.mtime = st.mtimeMs
    this.value = toWire(value)
  }

  /** The current value; the file's mtime is checked at most once a second. */
  get(now: number): string {
    if (now - this.checked > 1000) {
      this.checked = now
      try {
        if (statSync(this.path).mtimeMs !== this.mtime) this.load()
      } catch {
        // Secret remounts swap a symlink; a moment without the file keeps the last value.
      }
    }
    return this.value
  }
}

/** A route's header rules, precomputed once so each request does set lookups only. */
export class HeaderRules {
  private readonly skip: Set<string>
  private readonly add: string[]
  private readonly files: FileHeader[]
  private readonly responseSkip: Set<string>
  private readonly responseAdd: string[]
  readonly hostRewrite: string

  constructor(route: RouteSpec) {
    this.skip = new Set([
      ...HOP_BY_HOP,
      'host',
      'expect',
      // Envoy's own: the retry and timeout ones read (request()), none forwarded.
      ...ENVOY_REQUEST_HEADERS,
      ...route.removeHeaders,
      ...route.addHeaders.map(([k]) => k),
      ...route.headerFiles.map(([k]) => k),
    ])
    this.add = route.addHeaders.flat().map(toWire)
    this.files = route.headerFiles.map(([k, p]) => new FileHeader(k, p))
    this.responseSkip = new Set([
      ...HOP_BY_HOP,
      ...route.responseRemoveHeaders,
      ...route.responseAddHeaders.map(([k]) => k),
    ])
    this.responseAdd = route.responseAddHeaders.flat().map(toWire)
    this.hostRewrite = route.hostRewrite
  }

  /**
   * The upstream request headers as a flat [name, value, ...] array; returns the request id too.
   * `host` is the Host to send (already rewritten). Upgrade is stripped: undici sets it from `protocol`.
   */
  request(raw: string[], host: string): RequestHeaders {
    const out: string[] = []
    let requestId = ''
    let timeout: number | undefined
    let perTry: number | undefined
    let forwardedFor = false
    let retryOn: string | undefined
    let maxRetries: number | undefined
    let retriableCodes: string | undefined
    let nominated: string[] | undefined
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!
      const l = name.toLowerCase()
      if (l === 'connection') {
        // Headers the app nominated as hop-by-hop go too (RFC 9110 7.6.1), from every Connection
        // line (several are one list, RFC 9110 5.3).
        const tokens = raw[i + 1]!.toLowerCase().split(/\s*,\s*/)
        nominated = nominated ? nominated.concat(tokens) : tokens
        continue
      }
      if (l === 'x-request-id') requestId = raw[i + 1]!
      else if (l.startsWith('x-envoy-')) {
        const v = raw[i + 1]!
        if (l === TIMEOUT_HEADER) timeout = millis(v)
        else if (l === PER_TRY_HEADER) perTry = millis(v)
        else if (l === RETRY_ON_HEADER) retryOn = retryOn === undefined ? v : `${retryOn},${v}`
        else if (l === MAX_RETRIES_HEADER) maxRetries = /^\d{1,9}$/.test(v) ? Number(v) : maxRetries
        else if (l === RETRIABLE_CODES_HEADER)
          retriableCodes = retriableCodes === undefined ? v : `${retriableCodes},${v}`
      } else if (l === 'x-forwarded-for') forwardedFor = true
      if (this.skip.has(l)) continue
      out.push(name, raw[i + 1]!)
    }
    if (nominated) {
      for (let i = out.length - 2; i >= 0; i -= 2) {
        const l = out[i]!.toLowerCase()
        if (nominated.includes(l) && l !== 'x-request-id') out.splice(i, 2)
      }
    }
    out.push('host', host)
    if (!requestId) {
      requestId = randomUUID()
      out.push('x-request-id', requestId)
    }
    for (let i = 0; i < this.add.length; i++) out.push(this.add[i]!)
    if (this.files.length > 0) {
      const now = Date.now()
      for (const f of this.files) out.push(f.name, f.get(now))
    }
    return { headers: out, requestId, timeout, perTry, forwardedFor, retryOn, maxRetries, retriableCodes }
  }

  /** The response headers for the app, from undici's raw Buffer (or our client's string) pairs. */
  response(raw: Array<Buffer | string>): string[] {
    const out: string[] = []
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString()
      if (this.responseSkip.has(name.toLowerCase())) continue
      const v = raw[i + 1]!
      out.push(name, typeof v === 'string' ? v : v.toString('latin1'))
    }
    for (let i = 0; i < this.responseAdd.length; i++) out.push(this.responseAdd[i]!)
    return out
  }
}

// The HTTP plumbing of the http, loki and es outputs: one undici pool per output (keep-alive, TLS
// verified against the CA), basic or bearer auth, gzip, and the mapping from status codes to
// "retry later" (network errors, 408, 429, 5xx) or "rejected for good" (other 4xx).

import { promisify } from 'node:util'
import { gzip as gzipCb } from 'node:zlib'
import { Pool } from 'undici'
import { HttpDeliveryError } from '../errors.ts'
import type { PluginSection } from '../fluent-bit/section.ts'
import { type TlsSettings, tlsFromSection } from './tls.ts'

const gzip = promisify(gzipCb)

export interface HttpTarget {
  host: string
  port: number
  tls: TlsSettings
  headers: Record<string, string>
  user: string | undefined
  password: string | undefined
  bearerToken: string | undefined
  gzip: boolean
  connectTimeoutMs: number
}

export function httpTargetFromSection(s: PluginSection, defaults: { port: number }): HttpTarget {
  const headers: Record<string, string> = {}
  for (const h of s.all('header')) {
    const m = /^(\S+)\s+(.*)$/.exec(h.value.trim())
    if (!m) throw s.error('header', `Header needs "Name Value", got "${h.value}"`)
    headers[m[1]!.toLowerCase()] = m[2]!
  }
  const tls = tlsFromSection(s)
  return {
    host: s.str('host', '127.0.0.1'),
    port: s.int('port', tls.enabled && defaults.port === 80 ? 443 : defaults.port, 1, 65535),
    tls,
    headers,
    user: s.str('http_user') || undefined,
    password: s.str('http_passwd') || undefined,
    bearerToken: s.str('bearer_token') || undefined,
    gzip: s.has('compress') && s.oneOf('compress', ['gzip', 'none', ''] as const, '') === 'gzip',
    connectTimeoutMs: s.seconds('net.connect_timeout', 10_000),
  }
}

export interface HttpReply {
  status: number
  body: string
}

export class HttpClient {
  private readonly pool: Pool
  private readonly baseHeaders: Record<string, string>

  constructor(readonly target: HttpTarget) {
    const { tls } = target
    const origin = `${tls.enabled ? 'https' : 'http'}://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`
    this.pool = new Pool(origin, {
      connections: 2,
      connectTimeout: target.connectTimeoutMs,
      connect: tls.enabled
        ? {
            ca: tls.ca,
            cert: tls.cert,
            key: tls.key,
            rejectUnauthorized: tls.verify,
            servername: tls.servername,
          }
        : undefined,
    })
    this.baseHeaders = { 'user-agent': 'podkit-log-shipper', ...target.headers }
    if (target.user !== undefined)
      this.baseHeaders.authorization = `Basic ${Buffer.from(`${target.user}:${target.password ?? ''}`).toString('base64')}`
    else if (target.bearerToken) this.baseHeaders.authorization = `Bearer ${target.bearerToken}`
  }

  /** POSTs a body; resolves with any 2xx, throws HttpDeliveryError (retryable or not) otherwise. */
  async post(
    path: string,
    body: string | Buffer,
    contentType: string,
    signal?: AbortSignal,
    extra: Record<string, string> = {},
  ): Promise<HttpReply> {
    const headers: Record<string, string> = { ...this.baseHeaders, 'content-type': contentType, ...extra }
    let payload: string | Buffer = body
    if (this.target.gzip) {
      payload = await gzip(body)
      headers['content-encoding'] = 'gzip'
    }
    let status: number
    let text: string
    try {
      const res = await this.pool.request({ method: 'POST', path, headers, body: payload, signal })
      status = res.statusCode
      text = await res.body.text()
    } catch (err) {
      throw new HttpDeliveryError(`POST ${path} failed: ${(err as Error).message}`, {
        retryable: true,
        cause: err,
      })
    }
    if (status >= 200 && status < 300) return { status, body: text }
    // 401/403/404 say nothing against the records (credentials, permissions, a missing index,
    // tenant or path that an operator fixes): retried under Retry_Limit, as Fluent Bit's http, es
    // and loki outputs retry every non-2xx. Other 4xx refuse the records themselves.
    const retryable =
      status === 401 || status === 403 || status === 404 || status === 408 || status === 429 || status >= 500
    throw new HttpDeliveryError(`POST ${path} answered ${status}: ${text.slice(0, 300)}`, {
      status,
      retryable,
    })
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => {})
  }
}

/** Fluent Bit's json_date_format: double (epoch seconds), epoch (integer seconds), iso8601, java_sql_timestamp. */
export function formatDate(ms: number, format: string): string | number {
  switch (format) {
    case 'epoch':
      return Math.floor(ms / 1000)
    case 'iso8601':
      return new Date(ms).toISOString()
    case 'java_sql_timestamp':
      return new Date(ms).toISOString().replace('T', ' ').replace('Z', '')
    default:
      return ms / 1000
  }
}

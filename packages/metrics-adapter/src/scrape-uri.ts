// Scrape URIs as nginx-prometheus-exporter takes them: http(s)://host:port/path, or a unix
// socket in the exporter's form `unix:/path/to.sock:/stub_status` (the request path is optional).

import { redactUrl } from '@podkit/runtime'
import { ScrapeUriError } from './errors.ts'

export interface ScrapeUri {
  /** The URI as configured. */
  raw: string
  /** The URI without a password, for labels and logs. */
  display: string
  /** scheme://host:port that is dialled (for a unix socket, a placeholder: the socket is dialled). */
  origin: string
  /** Path and query of the request. */
  path: string
  /** Set when the target is a unix domain socket. */
  socketPath?: string
  tls: boolean
  /** Basic-auth header from user:password@ in the URI, as Go's http client sends it. */
  authorization?: string
  /** The host name a TLS certificate must match. */
  servername?: string
}

export function parseScrapeUri(raw: string): ScrapeUri {
  const text = raw.trim()
  if (text.startsWith('unix:')) {
    // The exporter splits on ':' into at most three parts: unix, socket path, request path.
    const parts = text.split(':')
    if (parts.length > 3 || !parts[1]) {
      throw new ScrapeUriError(
        `scrape URI ${JSON.stringify(raw)}: expected unix:/path/to.sock or unix:/path/to.sock:/request/path`,
      )
    }
    const path = parts[2] ? (parts[2].startsWith('/') ? parts[2] : `/${parts[2]}`) : '/'
    return { raw, display: text, origin: 'http://unix', path, socketPath: parts[1], tls: false }
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new ScrapeUriError(
      `scrape URI ${JSON.stringify(raw)} is not a URL: expected http://host:port/path, https://... or unix:/path.sock:/path`,
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ScrapeUriError(
      `scrape URI ${JSON.stringify(raw)}: scheme ${url.protocol} is not http, https or unix`,
    )
  }
  let authorization: string | undefined
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username)
    const pass = decodeURIComponent(url.password)
    authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`
  }
  const tls = url.protocol === 'https:'
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  return {
    raw,
    display: redactUrl(text),
    origin: `${url.protocol}//${url.host}`,
    path: `${url.pathname}${url.search}`,
    tls,
    authorization,
    // SNI carries names only, never IP addresses (RFC 6066 section 3).
    servername: tls && !/^[\d.]+$|:/.test(host) ? host : undefined,
  }
}

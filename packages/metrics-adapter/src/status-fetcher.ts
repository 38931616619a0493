// Fetches one target's status page over a keep-alive connection (TCP, TLS or a unix socket)
// and turns every failure into a FetchError whose kind names the cause: timeout, connect, tls,
// http_status, parse.

import type { ConnectionOptions } from 'node:tls'
import { FetchConnectError, FetchError, FetchStatusError, FetchTimeoutError, ParseError } from './errors.ts'
import { HttpClient } from './http-client.ts'
import { parseScrapeUri, type ScrapeUri } from './scrape-uri.ts'
import { preview } from './source.ts'

// Not an ESM import: the module facade costs memory (see the runtime's admin-server.ts).
const { readFileSync } = process.getBuiltinModule('node:fs')

export interface TlsOptions {
  /** Verify the server's certificate chain and name (the exporter's -nginx.ssl-verify). */
  verify: boolean
  /** PEM file of the CA(s) that sign the server's certificate; default: Node's bundled roots. */
  caFile?: string
  /** PEM files of a client certificate and key, for servers that ask for one. */
  certFile?: string
  keyFile?: string
}

export interface FetcherOptions {
  /** Connect, headers and body together, milliseconds. */
  timeout: number
  tls: TlsOptions
  /** Larger bodies are a parse error: no status page is this big. */
  maxBody?: number
  /** Idle keep-alive connections kept per target. */
  maxIdle?: number
  userAgent?: string
  /** Follow redirects (301, 302, 303, 307, 308) as the exporter does; default true. */
  followRedirects?: boolean
  /** Send a PROXY protocol v2 header on each new connection (the exporter's --nginx.proxy-protocol). */
  proxyProtocol?: boolean
}

const DEFAULT_MAX_BODY = 1024 * 1024
// What Go's http.Client, the exporter's, follows on a GET: at most 10 hops.
const REDIRECTS = new Set([301, 302, 303, 307, 308])
const MAX_REDIRECTS = 10
/** Redirect destinations kept with their keep-alive connections; more are closed. */
const MAX_REDIRECT_CLIENTS = 4

export class StatusFetcher {
  readonly uri: ScrapeUri
  private readonly client: HttpClient
  private readonly timeout: number
  private readonly opts: FetcherOptions
  private tlsBase: ConnectionOptions | undefined
  private readonly redirectClients = new Map<string, HttpClient>()

  constructor(uri: ScrapeUri, opts: FetcherOptions) {
    this.uri = uri
    this.timeout = opts.timeout
    this.opts = opts
    this.client = this.clientFor(uri)
  }

  private clientFor(uri: ScrapeUri): HttpClient {
    const opts = this.opts
    const headers: Record<string, string> = {
      'User-Agent': opts.userAgent ?? 'podkit-metrics-adapter',
      Accept: '*/*',
    }
    if (uri.authorization) headers.Authorization = uri.authorization
    let tls: ConnectionOptions | undefined
    if (uri.tls) {
      // Files are read once: a missing file is a config problem reported at start.
      if (!this.tlsBase) {
        this.tlsBase = { rejectUnauthorized: opts.tls.verify }
        if (opts.tls.caFile) this.tlsBase.ca = readFileSync(opts.tls.caFile)
        if (opts.tls.certFile) this.tlsBase.cert = readFileSync(opts.tls.certFile)
        if (opts.tls.keyFile) this.tlsBase.key = readFileSync(opts.tls.keyFile)
      }
      tls = { ...this.tlsBase }
      if (uri.servername) tls.servername = uri.servername
    }
    const url = uri.socketPath ? undefined : new URL(uri.origin)
    return new HttpClient({
      socketPath: uri.socketPath,
      host: url?.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url ? Number(url.port || (uri.tls ? 443 : 80)) : undefined,
      tls,
      hostHeader: url ? url.host : 'localhost',
      path: uri.path,
      headers,
      maxBody: opts.maxBody ?? DEFAULT_MAX_BODY,
      maxIdle: opts.maxIdle,
      proxyProtocol: opts.proxyProtocol,
    })
  }

  /** One fetch of the status page: the body of a 200 answer, or a FetchError. */
  async fetch(): Promise<Buffer> {
    const start = Date.now()
    let res = await this.client.get(this.timeout)
    // Redirects are followed as the exporter's Go client follows them (a status page moved, http
    // sent on to https), within the one timeout; /probe targets do not follow (no way out of the
    // allow-list).
    let at = this.uri.socketPath ? `http://unix${this.uri.path}` : this.uri.raw.trim()
    for (let hops = 0; this.opts.followRedirects !== false && REDIRECTS.has(res.status); hops++) {
      if (res.location === undefined) break
      if (hops === MAX_REDIRECTS) {
        throw new FetchStatusError(res.status, `stopped after ${MAX_REDIRECTS} redirects`)
      }
      let next: URL
      try {
        // Relative to the URL that answered; a relative one keeps its user:password, as in Go.
        next = new URL(res.location, at)
      } catch {
        throw new FetchStatusError(res.status, `redirect to an invalid URL ${JSON.stringify(res.location)}`)
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new FetchStatusError(res.status, `redirect to ${next.protocol} is not http or https`)
      }
      at = next.href
      const remaining = this.timeout <= 0 ? 0 : this.timeout - (Date.now() - start)
      if (this.timeout > 0 && remaining <= 0)
        throw new FetchTimeoutError(`no complete answer within ${this.timeout} ms`)
      res = await this.redirectClient(next).get(remaining)
    }
    if (res.status !== 200) {
      throw new FetchStatusError(
        res.status,
        `expected a 200 response, got ${res.status} (body starts ${preview(res.body)})`,
      )
    }
    return res.body
  }

  private redirectClient(url: URL): HttpClient {
    let client = this.redirectClients.get(url.href)
    if (client) return client
    // A unix socket target is dialled whatever the host (the exporter's dialer ignores it too).
    const uri: ScrapeUri = this.uri.socketPath
      ? {
          ...this.uri,
          path: `${url.pathname}${url.search}`,
          tls: url.protocol === 'https:',
          servername: undefined,
        }
      : parseScrapeUri(url.href)
    if (this.redirectClients.size >= MAX_REDIRECT_CLIENTS) {
      for (const c of this.redirectClients.values()) c.close()
      this.redirectClients.clear()
    }
    client = this.clientFor(uri)
    this.redirectClients.set(url.href, client)
    return client
  }

  close(): void {
    this.client.close()
    for (const c of this.redirectClients.values()) c.close()
    this.redirectClients.clear()
  }
}

/** Anything a fetch threw, as a FetchError (an unexpected error counts as a connect failure). */
export function asFetchError(err: unknown): FetchError {
  if (err instanceof FetchError) return err
  return new FetchConnectError(String((err as Error)?.message ?? err), { cause: err })
}

/** Anything a source's parse threw, as a FetchError (a source in user code may throw anything). */
export function asParseError(err: unknown): FetchError {
  if (err instanceof FetchError) return err
  return new ParseError(String((err as Error)?.message ?? err), { cause: err })
}

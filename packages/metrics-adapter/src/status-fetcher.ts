// Fetches one target's status page over a keep-alive connection (TCP, TLS or a unix socket)
// and turns every failure into a FetchError whose kind names the cause: timeout, connect, tls,
// http_status, parse.

import type { ConnectionOptions } from 'node:tls'
import { FetchConnectError, FetchError, FetchStatusError, ParseError } from './errors.ts'
import { HttpClient } from './http-client.ts'
import type { ScrapeUri } from './scrape-uri.ts'
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
}

const DEFAULT_MAX_BODY = 1024 * 1024

export class StatusFetcher {
  readonly uri: ScrapeUri
  private readonly client: HttpClient
  private readonly timeout: number

  constructor(uri: ScrapeUri, opts: FetcherOptions) {
    this.uri = uri
    this.timeout = opts.timeout
    const headers: Record<string, string> = {
      'User-Agent': opts.userAgent ?? 'podkit-metrics-adapter',
      Accept: '*/*',
    }
    if (uri.authorization) headers.Authorization = uri.authorization
    let tls: ConnectionOptions | undefined
    if (uri.tls) {
      // Files are read once here: a missing file is a config problem reported at start.
      tls = { rejectUnauthorized: opts.tls.verify }
      if (uri.servername) tls.servername = uri.servername
      if (opts.tls.caFile) tls.ca = readFileSync(opts.tls.caFile)
      if (opts.tls.certFile) tls.cert = readFileSync(opts.tls.certFile)
      if (opts.tls.keyFile) tls.key = readFileSync(opts.tls.keyFile)
    }
    const url = uri.socketPath ? undefined : new URL(uri.origin)
    this.client = new HttpClient({
      socketPath: uri.socketPath,
      host: url?.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url ? Number(url.port || (uri.tls ? 443 : 80)) : undefined,
      tls,
      hostHeader: url ? url.host : 'localhost',
      path: uri.path,
      headers,
      maxBody: opts.maxBody ?? DEFAULT_MAX_BODY,
      maxIdle: opts.maxIdle,
    })
  }

  /** One fetch of the status page: the body of a 200 answer, or a FetchError. */
  async fetch(): Promise<Buffer> {
    const res = await this.client.get(this.timeout)
    if (res.status !== 200) {
      throw new FetchStatusError(
        res.status,
        `expected a 200 response, got ${res.status} (body starts ${preview(res.body)})`,
      )
    }
    return res.body
  }

  close(): void {
    this.client.close()
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

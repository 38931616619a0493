// The metrics-adapter's errors with stable codes. A failed fetch of a status page never stops the
// process: it becomes `<source>_up 0`, a log line naming the target and the cause, and a count in
// podkit_metrics_adapter_fetch_errors_total{type} where `type` is the error's `kind`.

import { PodkitError } from '@podkit/runtime'

/** Why a fetch of a status page failed; the `type` label of the fetch-error counter. */
export type FetchErrorKind = 'timeout' | 'connect' | 'tls' | 'http_status' | 'parse'

export abstract class FetchError extends PodkitError {
  abstract readonly kind: FetchErrorKind
}

/** The status page did not answer within the timeout (connect, headers and body together). */
export class FetchTimeoutError extends FetchError {
  override readonly code = 'PODKIT_METRICS_FETCH_TIMEOUT'
  readonly kind = 'timeout'
}

/** The connection could not be made or broke: refused, no such socket, reset, DNS. */
export class FetchConnectError extends FetchError {
  override readonly code = 'PODKIT_METRICS_FETCH_CONNECT'
  readonly kind = 'connect'
}

/** The TLS handshake failed: unknown CA, name mismatch, expired or refused client certificate. */
export class FetchTlsError extends FetchError {
  override readonly code = 'PODKIT_METRICS_FETCH_TLS'
  readonly kind = 'tls'
}

/** The status page answered with another status than 200. */
export class FetchStatusError extends FetchError {
  override readonly code = 'PODKIT_METRICS_FETCH_STATUS'
  readonly kind = 'http_status'
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/** The body is not the status page the source expects (an HTML error page, garbage, too large). */
export class ParseError extends FetchError {
  override readonly code = 'PODKIT_METRICS_PARSE'
  readonly kind = 'parse'
}

/** A scrape URI in the config cannot be used (bad scheme, malformed unix socket form). */
export class ScrapeUriError extends PodkitError {
  override readonly code = 'PODKIT_METRICS_SCRAPE_URI'
}

/** A source definition given in code is inconsistent (unknown family, duplicate name). */
export class SourceDefinitionError extends PodkitError {
  override readonly code = 'PODKIT_METRICS_SOURCE_DEFINITION'
}

/** /probe was asked for a target outside the allow-list or a module that does not exist. */
export class ProbeDeniedError extends PodkitError {
  override readonly code = 'PODKIT_METRICS_PROBE_DENIED'
}

// Errors of the http-ambassador with stable codes. Proxy errors become local responses (status
// and a short body) and an access-log line carrying the code; config errors stop start-up.

import { PodkitError } from '@podkit/runtime'

/** An error the proxy answers locally instead of forwarding: it carries the status it maps to. */
export abstract class ProxyError extends PodkitError {
  abstract readonly status: number
  /** Envoy's response flag for the access log (UF, UT, UO, ...), so Envoy users read familiar logs. */
  abstract readonly flag: string
}

/** The upstream refused the connection, did not answer the connect in time, or its name did not resolve. */
export class UpstreamConnectError extends ProxyError {
  override readonly code = 'PODKIT_HTTP_UPSTREAM_CONNECT'
  readonly status = 503
  readonly flag = 'UF'
}

/** The upstream's certificate failed verification (unknown CA, wrong name, expired), or the TLS handshake failed. */
export class UpstreamTlsError extends ProxyError {
  override readonly code = 'PODKIT_HTTP_UPSTREAM_TLS'
  readonly status = 502
  readonly flag = 'UF'
}

/** The route timeout or the per-try timeout ran out before the upstream answered. */
export class UpstreamTimeoutError extends ProxyError {
  override readonly code = 'PODKIT_HTTP_UPSTREAM_TIMEOUT'
  readonly status = 504
  readonly flag = 'UT'
}

/**
 * The upstream closed or reset the connection before or while sending the response (logged as
 * UC for an HTTP/1.1 connection, UR for an HTTP/2 stream: Forward.resetFlag).
 */
export class UpstreamResetError extends ProxyError {
  override readonly code = 'PODKIT_HTTP_UPSTREAM_RESET'
  readonly status = 503
  readonly flag = 'UR'
}

/** The upstream sent something that is not valid HTTP. */
export class UpstreamProtocolError extends ProxyError {
  override readonly code = 'PODKIT_HTTP_UPSTREAM_PROTOCOL'
  readonly status = 502
  readonly flag = 'UPE'
}

/** A circuit breaker (max_connections, max_pending_requests, max_requests) is open. */
export class OverflowError extends ProxyError {
  override readonly code = 'PODKIT_HTTP_OVERFLOW'
  readonly status = 503
  readonly flag = 'UO'
}

/** The cluster has no host to send to (DNS returned nothing). */
export class NoHealthyHostError extends ProxyError {
  override readonly code = 'PODKIT_HTTP_NO_HEALTHY_HOST'
  readonly status = 503
  readonly flag = 'UH'
}

/** No route of the listener matches the request's host and path. */
export class NoRouteError extends ProxyError {
  override readonly code = 'PODKIT_HTTP_NO_ROUTE'
  readonly status = 404
  readonly flag = 'NR'
}

/** The route's local token bucket is empty. */
export class RateLimitedError extends ProxyError {
  override readonly code = 'PODKIT_HTTP_RATE_LIMITED'
  readonly status = 429
  readonly flag = 'RL'
}

/** The downstream request is malformed (conflicting Content-Length / Transfer-Encoding, bad headers). */
export class BadRequestError extends ProxyError {
  override readonly code = 'PODKIT_HTTP_BAD_REQUEST'
  readonly status = 400
  readonly flag = 'DPE'
}

/** The request headers are larger than the listener's limit. */
export class HeadersTooLargeError extends ProxyError {
  override readonly code = 'PODKIT_HTTP_HEADERS_TOO_LARGE'
  readonly status = 431
  readonly flag = 'DPE'
}

/** The envoy.yaml uses a field or a value this ambassador does not implement. */
export class EnvoyUnsupportedError extends PodkitError {
  override readonly code = 'PODKIT_HTTP_ENVOY_UNSUPPORTED'
  readonly paths: string[]

  constructor(problems: Array<{ path: string; why: string }>) {
    super(
      `envoy.yaml uses ${problems.length} unsupported field${problems.length === 1 ? '' : 's'}:\n${problems
        .map((p) => `  ${p.path}: ${p.why}`)
        .join('\n')}`,
    )
    this.paths = problems.map((p) => p.path)
  }
}

/** A file the config names (CA, client certificate, key, header secret) cannot be read or parsed. */
export class ConfigFileReadError extends PodkitError {
  override readonly code = 'PODKIT_HTTP_CONFIG_FILE'
}

// Errors of the log shipper, each with a stable code documented in README.md.

import { PodkitError } from '@podkit/runtime'

/** A fluent-bit.conf / parsers.conf / YAML pipeline problem: names the file and line (or key). */
export class PipelineConfigError extends PodkitError {
  override readonly code = 'PODKIT_SHIPPER_CONFIG'
}

/** A plugin name the shipper does not implement (never silently ignored). */
export class UnsupportedPluginError extends PodkitError {
  override readonly code = 'PODKIT_SHIPPER_UNSUPPORTED_PLUGIN'
}

/** A msgpack frame that cannot be decoded. */
export class MsgpackDecodeError extends PodkitError {
  override readonly code = 'PODKIT_SHIPPER_MSGPACK'
}

/** The forward handshake failed: bad shared key, refused user, or a server that is not who it claims. */
export class ForwardAuthError extends PodkitError {
  override readonly code = 'PODKIT_SHIPPER_FORWARD_AUTH'
  readonly retryable = true
}

/** The forward peer closed, timed out or answered a chunk with the wrong ack. */
export class ForwardDeliveryError extends PodkitError {
  override readonly code = 'PODKIT_SHIPPER_FORWARD_DELIVERY'
  readonly retryable = true
}

/** An HTTP output (http, loki, es) got a status that says try again (429, 5xx) or the request failed. */
export class HttpDeliveryError extends PodkitError {
  override readonly code = 'PODKIT_SHIPPER_HTTP_DELIVERY'
  readonly retryable: boolean
  readonly status: number | undefined

  constructor(message: string, opts: { status?: number; retryable: boolean; cause?: unknown }) {
    super(message, { cause: opts.cause })
    this.status = opts.status
    this.retryable = opts.retryable
  }
}

/** The destination refused records for good (es item errors such as mapping conflicts, a Loki 400): dropped, counted, logged. */
export class RecordsRejectedError extends PodkitError {
  override readonly code = 'PODKIT_SHIPPER_REJECTED'
  readonly retryable = false
}

/** A chunk ran out of retries (Retry_Limit) and was given up; counted and logged. */
export class RetriesExhaustedError extends PodkitError {
  override readonly code = 'PODKIT_SHIPPER_RETRIES_EXHAUSTED'
}

/** The filesystem buffer (storage.path) could not be written or read. */
export class StorageError extends PodkitError {
  override readonly code = 'PODKIT_SHIPPER_STORAGE'
}

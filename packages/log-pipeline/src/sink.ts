// The contract between the pipeline and an output. A sink acknowledges a batch by resolving
// write(); only then may the source commit the offsets of the events in it (at-least-once).

import type { LogEvent } from './event.ts'

export interface Sink {
  /** Name used in logs and metric labels, e.g. `forward.0`. */
  readonly name: string
  /** Connect, open files; called once before the first write. */
  start?(): Promise<void>
  /**
   * Deliver a batch. Resolve only when the destination has taken every event (a Fluentd ack, a
   * 2xx with no per-item errors, an fsync'd write). Reject to have the batch retried; reject with
   * a `retryable: false` error to give it up (counted and logged by the caller).
   */
  write(events: readonly LogEvent[], signal?: AbortSignal): Promise<void>
  /**
   * Deliver a batch already encoded as `lines` newline-terminated lines (the pipeline's `encode`
   * path), with the same acknowledgement and retry contract as write(). `data` is only valid
   * until the returned promise settles: a sink that keeps bytes longer must copy them.
   */
  writeLines?(data: Buffer, lines: number, signal?: AbortSignal): Promise<void>
  /** Flush and close; called once, after the last write. */
  stop?(): Promise<void>
}

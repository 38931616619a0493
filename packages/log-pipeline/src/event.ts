// The unit that flows through a log pipeline: one record with its routing tag and time.

export interface LogEvent {
  /** Routing tag, as Fluent Bit's Tag (`kube.var.log.containers.app.log`); outputs Match on it. */
  tag: string
  /** Event time in epoch milliseconds (fractional part keeps sub-millisecond precision). */
  time: number
  /** The structured record: parsed fields, or `{ log: "<raw line>" }` when nothing parsed it. */
  record: Record<string, unknown>
}

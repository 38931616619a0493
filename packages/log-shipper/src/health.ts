// Fluent Bit's Health_Check: the process is unhealthy while its outputs failed more than
// HC_Errors_Count flushes, or gave up more than HC_Retry_Failure_Count chunks, within the last
// HC_Period. /api/v1/health answers "ok" (200) or "error" (500) from it, as Fluent Bit's does.
// Reference: https://docs.fluentbit.io/manual/administration/monitoring#health-check-for-fluent-bit

export interface HealthCheckOptions {
  /** HC_Errors_Count: failed flushes (retried or not) allowed within the period. */
  errors: number
  /** HC_Retry_Failure_Count: chunks given up (retries exhausted) allowed within the period. */
  retryFailures: number
  /** HC_Period in ms. */
  periodMs: number
}

export class HealthCheck {
  /** Times of recent failures, oldest first; only the last period is kept. */
  private readonly errors: number[] = []
  private readonly retryFailures: number[] = []

  constructor(
    private readonly o: HealthCheckOptions,
    private readonly now: () => number = Date.now,
  ) {}

  record(kind: 'error' | 'retry_failure'): void {
    const list = kind === 'error' ? this.errors : this.retryFailures
    list.push(this.now())
    this.prune(list)
  }

  healthy(): boolean {
    this.prune(this.errors)
    this.prune(this.retryFailures)
    return this.errors.length <= this.o.errors && this.retryFailures.length <= this.o.retryFailures
  }

  private prune(list: number[]): void {
    const since = this.now() - this.o.periodMs
    let n = 0
    while (n < list.length && list[n]! <= since) n++
    if (n > 0) list.splice(0, n)
  }
}

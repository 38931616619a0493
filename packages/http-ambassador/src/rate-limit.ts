// Envoy's local rate limit: a token bucket per route, refilled by tokensPerFill every
// fillInterval up to maxTokens; an empty bucket answers 429. The bucket lives in the state the
// threads share (shared.ts), so the limit is the process's, as in Envoy, whatever the concurrency.

import { SharedState } from './shared.ts'

export class TokenBucket {
  private readonly lockAt: number
  private readonly at: number
  private readonly owner: number

  constructor(
    private readonly maxTokens: number,
    private readonly tokensPerFill: number,
    private readonly fillInterval: number,
    now = Date.now(),
    private readonly state: SharedState = SharedState.create(1, 0, 1),
    bucket = 0,
    thread = 0,
    /** Only the thread that creates the state fills the bucket; a thread started later finds it. */
    init = true,
  ) {
    this.lockAt = state.lock(bucket)
    this.at = bucket * 2
    this.owner = thread + 1
    if (init) {
      state.f64[this.at] = maxTokens
      state.f64[this.at + 1] = now
    }
  }

  /** Takes one token; false when the bucket is empty. */
  take(now = Date.now()): boolean {
    const { i32, f64 } = this.state
    // The critical section is a few additions: spinning is cheaper than anything that sleeps.
    while (Atomics.compareExchange(i32, this.lockAt, 0, this.owner) !== 0);
    let tokens = f64[this.at]!
    const last = f64[this.at + 1]!
    if (now > last) {
      const fills = Math.floor((now - last) / this.fillInterval)
      if (fills > 0) {
        tokens = Math.min(this.maxTokens, tokens + fills * this.tokensPerFill)
        f64[this.at + 1] = last + fills * this.fillInterval
      }
    }
    const ok = tokens >= 1
    f64[this.at] = ok ? tokens - 1 : tokens
    Atomics.store(i32, this.lockAt, 0)
    return ok
  }
}

// Envoy's local rate limit: a token bucket per route, refilled by tokensPerFill every
// fillInterval up to maxTokens; an empty bucket answers 429.

export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    private readonly maxTokens: number,
    private readonly tokensPerFill: number,
    private readonly fillInterval: number,
    now = Date.now(),
  ) {
    this.tokens = maxTokens
    this.last = now
  }

  /** Takes one token; false when the bucket is empty. */
  take(now = Date.now()): boolean {
    if (now > this.last) {
      const fills = Math.floor((now - this.last) / this.fillInterval)
      if (fills > 0) {
        this.tokens = Math.min(this.maxTokens, this.tokens + fills * this.tokensPerFill)
        this.last += fills * this.fillInterval
      }
    }
    if (this.tokens < 1) return false
    this.tokens--
    return true
  }
}

import { describe, expect, it } from 'vitest'
import { TokenBucket } from './rate-limit.ts'

describe('TokenBucket', () => {
  it('allows maxTokens at once, then refills tokensPerFill per interval, capped', () => {
    const b = new TokenBucket(3, 2, 1000, 0)
    expect([b.take(0), b.take(0), b.take(0), b.take(0)]).toEqual([true, true, true, false])
    expect(b.take(999)).toBe(false)
    expect([b.take(1000), b.take(1000), b.take(1000)]).toEqual([true, true, false])
    // A long pause refills to maxTokens, not beyond.
    expect([b.take(60_000), b.take(60_000), b.take(60_000), b.take(60_000)]).toEqual([
      true,
      true,
      true,
      false,
    ])
  })
})

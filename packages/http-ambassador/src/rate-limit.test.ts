import { describe, expect, it } from 'vitest'
import { TokenBucket } from './rate-limit.ts'
import { SharedState } from './shared.ts'

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

  it('is one bucket for every thread that shares the state', () => {
    const state = SharedState.create(2, 0, 2)
    const a = new TokenBucket(3, 1, 1000, 0, state, 1, 0, true)
    // A thread started later (or restarted) finds the bucket as it is, not full again.
    expect(a.take(0)).toBe(true)
    const b = new TokenBucket(3, 1, 1000, 0, state, 1, 1, false)
    expect([b.take(0), a.take(0), b.take(0)]).toEqual([true, true, false])
    expect([b.take(1000), a.take(1000)]).toEqual([true, false])
    // A thread that died holding the lock does not block the others.
    Atomics.store(state.i32, state.lock(1), 2)
    state.releaseThread(1)
    expect(a.take(5000)).toBe(true)
  })
})

import { describe, expect, it } from 'vitest'
import { HealthCheck } from './health.ts'

describe('Health_Check', () => {
  it('is unhealthy past either count within the period, and healthy again once the failures age out', () => {
    let now = 0
    const h = new HealthCheck({ errors: 2, retryFailures: 1, periodMs: 60_000 }, () => now)
    h.record('error')
    h.record('error')
    expect(h.healthy()).toBe(true)
    h.record('error')
    expect(h.healthy()).toBe(false)
    now = 60_001
    expect(h.healthy()).toBe(true)
    h.record('retry_failure')
    expect(h.healthy()).toBe(true)
    h.record('retry_failure')
    expect(h.healthy()).toBe(false)
  })
})

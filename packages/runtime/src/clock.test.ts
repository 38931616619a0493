import { describe, expect, it } from 'vitest'
import { httpDate, isoTime, nowMs } from './clock.ts'

describe('clock', () => {
  const samples = [
    0,
    -1,
    951782400000, // 2000-02-29
    1795556213905,
    Date.UTC(1900, 1, 28, 23, 59, 59, 999),
    Date.UTC(2100, 2, 1),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    Date.UTC(1969, 11, 31, 23, 59, 59, 1),
  ]
  // And a spread of random instants between 1950 and 2150.
  for (let i = 0; i < 2000; i++) samples.push(Math.floor(-631152000000 + Math.random() * 6.3e12))

  it("formats ISO 8601 times as Date's toISOString does", () => {
    for (const ms of samples) expect(isoTime(ms)).toBe(new Date(ms).toISOString())
  })

  it("formats HTTP dates as Date's toUTCString does", () => {
    for (const ms of samples) expect(httpDate(ms)).toBe(new Date(ms).toUTCString())
  })

  it('nowMs is monotonic milliseconds', async () => {
    const a = nowMs()
    await new Promise((r) => setTimeout(r, 20))
    expect(nowMs() - a).toBeGreaterThanOrEqual(15)
  })
})

import type { LogEvent, Sink } from '@podkit/log-pipeline'
import { createLogger, Registry } from '@podkit/runtime'
import { waitFor } from '@podkit/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { backoffDelay, DeliveryQueue, parseRetryLimit } from './delivery-queue.ts'
import { createShipperMetrics } from './metrics.ts'

const logger = createLogger({ name: 'test', level: 'silent' })
const queues: DeliveryQueue[] = []
afterEach(async () => {
  for (const q of queues.splice(0)) await q.stop()
})

/** A sink that fails its first `failures` writes with `error`, then takes everything. */
function flaky(failures: number, error: Error & { retryable?: boolean } = new Error('down')) {
  const got: LogEvent[][] = []
  let calls = 0
  const sink: Sink = {
    name: 'out.0',
    async write(events) {
      calls++
      if (calls <= failures) throw error
      got.push([...events])
    },
  }
  return { sink, got, calls: () => calls }
}

function queue(
  sink: Sink,
  retryLimit: number,
  extra: Partial<ConstructorParameters<typeof DeliveryQueue>[0]> = {},
) {
  const registry = new Registry()
  const metrics = createShipperMetrics(registry)
  const q = new DeliveryQueue({
    sink,
    logger,
    metrics,
    retryLimit,
    backoff: { baseMs: 5, capMs: 20 },
    chunkBytes: 1000,
    flushMs: 20,
    ...extra,
  })
  queues.push(q)
  return { q, registry }
}

const ev = (i: number): LogEvent => ({ tag: 't', time: i, record: { i } })

describe('Retry_Limit', () => {
  it('reads N, no_limits, False and no_retries as Fluent Bit does', () => {
    expect(parseRetryLimit(undefined)).toBe(1)
    expect(parseRetryLimit('5')).toBe(5)
    expect(parseRetryLimit('no_limits')).toBe(Number.POSITIVE_INFINITY)
    expect(parseRetryLimit('False')).toBe(Number.POSITIVE_INFINITY)
    expect(parseRetryLimit('no_retries')).toBe(0)
    // Fluent Bit takes 0 or less as its default of 1 (one retry), not as no retries.
    expect(parseRetryLimit('0')).toBe(1)
    expect(parseRetryLimit('-1')).toBe(1)
    expect(parseRetryLimit('often')).toBeUndefined()
  })

  it('backs off exponentially with jitter, capped', () => {
    const b = { baseMs: 100, capMs: 1000 }
    expect(backoffDelay(1, b, () => 0)).toBe(50)
    expect(backoffDelay(1, b, () => 1)).toBe(100)
    expect(backoffDelay(3, b, () => 1)).toBe(400)
    expect(backoffDelay(10, b, () => 1)).toBe(1000)
    const seen = new Set(Array.from({ length: 20 }, () => backoffDelay(2, b)))
    expect(seen.size).toBeGreaterThan(1)
  })
})

describe('delivery queue', () => {
  it('retries a failed chunk until it is delivered, then releases its holds', async () => {
    const f = flaky(3)
    const { q, registry } = queue(f.sink, 5)
    let released = 0
    q.add([ev(1), ev(2)], 10, () => released++)
    await waitFor(() => released === 1)
    expect(f.calls()).toBe(4)
    expect(f.got).toEqual([[ev(1), ev(2)]])
    const m = await registry.metrics()
    expect(m).toContain('podkit_shipper_output_retries_total{output="out.0"} 3')
    expect(m).toContain('podkit_shipper_output_records_total{output="out.0"} 2')
  })

  it('gives a chunk up after Retry_Limit retries: counted as dropped, holds released', async () => {
    const f = flaky(100)
    const { q, registry } = queue(f.sink, 2)
    let released = 0
    q.add([ev(1)], 10, () => released++)
    await waitFor(() => released === 1)
    expect(f.calls()).toBe(3)
    const m = await registry.metrics()
    expect(m).toContain(
      'podkit_shipper_output_dropped_records_total{output="out.0",reason="retries_exhausted"} 1',
    )
  })

  it('does not retry with no_retries, nor an error marked not retryable', async () => {
    const f = flaky(1)
    const { q } = queue(f.sink, 0)
    let released = 0
    q.add([ev(1)], 10, () => released++)
    await waitFor(() => released === 1)
    expect(f.calls()).toBe(1)
    const g = flaky(1, Object.assign(new Error('bad request'), { retryable: false }))
    const { q: q2, registry } = queue(g.sink, 10)
    q2.add([ev(1)], 10, () => released++)
    await waitFor(() => released === 2)
    expect(g.calls()).toBe(1)
    expect(await registry.metrics()).toContain('reason="rejected"} 1')
  })

  it('keeps retrying forever with no_limits and never releases an undelivered chunk', async () => {
    const f = flaky(1_000_000)
    const { q } = queue(f.sink, Number.POSITIVE_INFINITY)
    let released = 0
    q.add([ev(1)], 10, () => released++)
    await waitFor(() => f.calls() > 5)
    expect(released).toBe(0)
    expect(q.depth()).toEqual({ chunks: 1, records: 1 })
  })

  it('seals a chunk when it is big enough, or when Flush fires, and keeps order', async () => {
    const f = flaky(0)
    const { q } = queue(f.sink, 1, { chunkBytes: 100, flushMs: 50 })
    q.add([ev(1)], 60, () => {})
    q.add([ev(2)], 60, () => {})
    await waitFor(() => f.got.length === 1)
    expect(f.got[0]).toEqual([ev(1), ev(2)])
    q.add([ev(3)], 1, () => {})
    await waitFor(() => f.got.length === 2)
    expect(f.got[1]).toEqual([ev(3)])
  })

  it('drain sends what is open at once and returns when delivered', async () => {
    const f = flaky(0)
    const { q } = queue(f.sink, 1, { flushMs: 60_000 })
    q.add([ev(1)], 1, () => {})
    await q.drain(new AbortController().signal)
    expect(f.got).toEqual([[ev(1)]])
  })

  it('drain gives up at the deadline and leaves undelivered chunks held', async () => {
    const f = flaky(1_000_000)
    const { q } = queue(f.sink, Number.POSITIVE_INFINITY)
    let released = 0
    q.add([ev(1)], 1, () => released++)
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 100)
    await q.drain(ac.signal)
    expect(released).toBe(0)
  })
})

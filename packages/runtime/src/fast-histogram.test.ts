import { describe, expect, it } from 'vitest'
import { FastHistogram, type HistogramSeriesDump } from './fast-histogram.ts'
import { Registry } from './prom/registry.ts'

const text = async (h: FastHistogram) => {
  const r = new Registry()
  r.registerMetric(h)
  return r.metrics()
}

describe('FastHistogram', () => {
  it('writes cumulative buckets, +Inf, sum and count per label set', async () => {
    const h = new FastHistogram('t_seconds', 'A test histogram.', [0.1, 1, 10])
    const a = h.seriesFor({ db: 'a' })
    const b = h.seriesFor({ db: 'b' })
    for (const v of [0.05, 0.1, 0.5, 5, 50]) h.observe(a, v)
    h.observe(b, 2)
    expect(await text(h)).toBe(
      [
        '# HELP t_seconds A test histogram.',
        '# TYPE t_seconds histogram',
        't_seconds_bucket{db="a",le="0.1"} 2',
        't_seconds_bucket{db="a",le="1"} 3',
        't_seconds_bucket{db="a",le="10"} 4',
        't_seconds_bucket{db="a",le="+Inf"} 5',
        't_seconds_sum{db="a"} 55.65',
        't_seconds_count{db="a"} 5',
        't_seconds_bucket{db="b",le="0.1"} 0',
        't_seconds_bucket{db="b",le="1"} 0',
        't_seconds_bucket{db="b",le="10"} 1',
        't_seconds_bucket{db="b",le="+Inf"} 1',
        't_seconds_sum{db="b"} 2',
        't_seconds_count{db="b"} 1',
        '',
      ].join('\n'),
    )
  })

  it('gives the same series for the same labels, so a label set is written once', () => {
    const h = new FastHistogram('t_seconds', 'A test histogram.', [1])
    const a = h.seriesFor({ db: 'a', user: 'u' })
    expect(h.seriesFor({ user: 'u', db: 'a' })).toBe(a)
    expect(h.seriesFor({ db: 'a' })).not.toBe(a)
    expect(h.seriesFor({ db: 'a', user: 'v' })).not.toBe(a)
  })

  it('zeroes every series on reset and keeps them exported', async () => {
    const h = new FastHistogram('t_seconds', 'A test histogram.', [1])
    const a = h.seriesFor({ db: 'a' })
    h.observe(a, 0.5)
    h.observe(a, 3)
    h.reset()
    expect(a.count).toBe(0)
    expect(a.sum).toBe(0)
    expect(await text(h)).toContain('t_seconds_bucket{db="a",le="1"} 0\nt_seconds_bucket{db="a",le="+Inf"} 0')
    h.observe(a, 0.5)
    expect(await text(h)).toContain('t_seconds_bucket{db="a",le="1"} 1\n')
    expect(await text(h)).toContain('t_seconds_sum{db="a"} 0.5\nt_seconds_count{db="a"} 1\n')
  })

  it("adds other threads' series to its own by label set at every scrape", async () => {
    const others: HistogramSeriesDump[][] = []
    const h = new FastHistogram('t_seconds', 'A test histogram.', [1, 10], async () => others.flat())
    const api = h.seriesFor({ cluster: 'api' })
    h.observe(api, 0.5)
    h.observe(api, 20)
    // Another thread with the same histogram: its dump is what it hands this one.
    const other = new FastHistogram('t_seconds', 'A test histogram.', [1, 10])
    other.observe(other.seriesFor({ cluster: 'api' }), 5)
    other.observe(other.seriesFor({ cluster: 'db' }), 0.25)
    others.push(other.dump())
    expect(other.dump()).toEqual([
      { labels: { cluster: 'api' }, buckets: [0, 1], sum: 5, count: 1 },
      { labels: { cluster: 'db' }, buckets: [1, 0], sum: 0.25, count: 1 },
    ])
    const merged = [
      't_seconds_bucket{cluster="api",le="1"} 1',
      't_seconds_bucket{cluster="api",le="10"} 2',
      't_seconds_bucket{cluster="api",le="+Inf"} 3',
      't_seconds_sum{cluster="api"} 25.5',
      't_seconds_count{cluster="api"} 3',
      't_seconds_bucket{cluster="db",le="1"} 1',
      't_seconds_bucket{cluster="db",le="10"} 1',
      't_seconds_bucket{cluster="db",le="+Inf"} 1',
      't_seconds_sum{cluster="db"} 0.25',
      't_seconds_count{cluster="db"} 1',
    ].join('\n')
    expect(await text(h)).toContain(merged)
    // Scraping again reads the others anew and does not add them twice, nor change this thread's own.
    expect(await text(h)).toContain(merged)
    expect(api.count).toBe(2)
    expect(h.dump()).toEqual([{ labels: { cluster: 'api' }, buckets: [1, 0], sum: 20.5, count: 2 }])
  })
})

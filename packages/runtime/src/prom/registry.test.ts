// The registry and metric types against the text format: exact bytes (prom-client's layout, so a
// page keeps its bytes across the switch), the strict parser, escaping, histograms, label sets,
// collect callbacks and custom metrics.
import { describe, expect, it, vi } from 'vitest'
import { parsePromText, sampleOf } from '../../test/prom-text.ts'
import { createServiceRegistry } from '../metrics.ts'
import { Counter } from './counter.ts'
import { Gauge } from './gauge.ts'
import { Histogram } from './histogram.ts'
import { Registry } from './registry.ts'
import { Summary } from './summary.ts'

describe('Registry text output', () => {
  it('writes families as prom-client did: HELP, TYPE, samples, a blank line between families', async () => {
    const registry = new Registry()
    const c = new Counter({
      name: 'jobs_total',
      help: 'Jobs done.',
      labelNames: ['kind'],
      registers: [registry],
    })
    const g = new Gauge({ name: 'queue', help: 'Queued.', registers: [registry] })
    c.inc({ kind: 'a' })
    c.inc({ kind: 'b' }, 2.5)
    c.labels({ kind: 'a' }).inc()
    g.set(-3)
    expect(await registry.metrics()).toBe(
      [
        '# HELP jobs_total Jobs done.',
        '# TYPE jobs_total counter',
        'jobs_total{kind="a"} 2',
        'jobs_total{kind="b"} 2.5',
        '',
        '# HELP queue Queued.',
        '# TYPE queue gauge',
        'queue -3',
        '',
      ].join('\n'),
    )
  })

  it('escapes HELP text and label values so the strict parser reads them back', async () => {
    const registry = new Registry()
    const g = new Gauge({
      name: 'odd',
      help: 'Back\\slash and\nnewline.',
      labelNames: ['v'],
      registers: [registry],
    })
    const values = ['q"uote', 'back\\slash', 'line\nfeed', 'all "\\\n', '', 'ünï 日本']
    for (const [i, v] of values.entries()) g.set({ v }, i)
    const text = await registry.metrics()
    expect(text).toContain('# HELP odd Back\\\\slash and\\nnewline.\n')
    expect(text).toContain('odd{v="all \\"\\\\\\n"} 3\n')
    const f = parsePromText(text)
    expect(f.get('odd')!.help).toBe('Back\\slash and\nnewline.')
    expect(f.get('odd')!.samples.map((s) => s.labels.v)).toEqual(values)
  })

  it('writes NaN and infinities as the spec spells them', async () => {
    const registry = new Registry()
    const g = new Gauge({ name: 'x', help: 'x', labelNames: ['k'], registers: [registry] })
    g.set({ k: 'nan' }, Number.NaN)
    g.set({ k: 'pos' }, Number.POSITIVE_INFINITY)
    g.set({ k: 'neg' }, Number.NEGATIVE_INFINITY)
    g.set({ k: 'small' }, 1e-7)
    const text = await registry.metrics()
    expect(text).toContain('x{k="nan"} NaN\nx{k="pos"} +Inf\nx{k="neg"} -Inf\nx{k="small"} 1e-7\n')
    expect(parsePromText(text).get('x')!.samples).toHaveLength(4)
  })

  it('writes histograms with cumulative buckets, le first, +Inf, _sum and _count', async () => {
    const registry = new Registry()
    const h = new Histogram({
      name: 'lat_seconds',
      help: 'Latency.',
      labelNames: ['route'],
      buckets: [0.1, 1],
      registers: [registry],
    })
    h.observe({ route: '/a' }, 0.05)
    h.observe({ route: '/a' }, 0.1) // on a bound: counts in that bucket (le is inclusive)
    h.labels({ route: '/a' }).observe(0.5)
    h.observe({ route: '/a' }, 7)
    expect(await registry.metrics()).toBe(
      [
        '# HELP lat_seconds Latency.',
        '# TYPE lat_seconds histogram',
        'lat_seconds_bucket{le="0.1",route="/a"} 2',
        'lat_seconds_bucket{le="1",route="/a"} 3',
        'lat_seconds_bucket{le="+Inf",route="/a"} 4',
        'lat_seconds_sum{route="/a"} 7.65',
        'lat_seconds_count{route="/a"} 4',
        '',
      ].join('\n'),
    )
    const f = parsePromText(await registry.metrics())
    expect(sampleOf(f, 'lat_seconds', { le: '+Inf' })?.value).toBe(4)
  })

  it('exports a histogram without labels, and zero() series, before any observation', async () => {
    const registry = new Registry()
    new Histogram({ name: 'h', help: 'h', buckets: [1], registers: [registry] })
    const byRoute = new Histogram({
      name: 'r',
      help: 'r',
      labelNames: ['route'],
      buckets: [1],
      registers: [registry],
    })
    byRoute.zero({ route: '/x' })
    const text = await registry.metrics()
    expect(text).toContain('h_bucket{le="1"} 0\nh_bucket{le="+Inf"} 0\nh_sum 0\nh_count 0\n')
    expect(text).toContain('r_bucket{le="1",route="/x"} 0\n')
    parsePromText(text)
  })

  it('writes summaries with quantiles over the window, _sum and _count', async () => {
    const registry = new Registry()
    const s = new Summary({ name: 's', help: 's', percentiles: [0.5, 0.9], registers: [registry] })
    for (let i = 1; i <= 10; i++) s.observe(i)
    const text = await registry.metrics()
    expect(text).toContain('s{quantile="0.5"} 5\ns{quantile="0.9"} 9\ns_sum 55\ns_count 10\n')
    parsePromText(text)
  })

  it('keeps quantiles over the newest maxSamples observations, in order across the ring and its growth', async () => {
    const registry = new Registry()
    const s = new Summary({
      name: 's',
      help: 's',
      percentiles: [0, 0.5, 1],
      maxSamples: 100,
      registers: [registry],
    })
    for (let i = 1; i <= 1000; i++) s.observe(i)
    const q = (await s.get()).values
    // Only 901..1000 remain: min 901, median 950, max 1000; sum and count cover every observation.
    expect(q.slice(0, 3).map((v) => v.value)).toEqual([901, 950, 1000])
    expect(q[3]!.value).toBe(500500)
    expect(q[4]!.value).toBe(1000)
  })

  it('forgets observations older than maxAgeSeconds', async () => {
    vi.useFakeTimers({ now: 1_000_000 })
    try {
      const s = new Summary({ name: 's', help: 's', percentiles: [0.5], maxAgeSeconds: 10 })
      for (let i = 0; i < 50; i++) s.observe(1)
      vi.advanceTimersByTime(6000)
      for (let i = 0; i < 50; i++) s.observe(3)
      expect((await s.get()).values[0]!.value).toBe(1)
      vi.advanceTimersByTime(5000) // the first 50 are now 11 s old
      expect((await s.get()).values[0]!.value).toBe(3)
      vi.advanceTimersByTime(6000)
      expect((await s.get()).values[0]!.value).toBeNaN()
      s.observe(7)
      expect((await s.get()).values[0]!.value).toBe(7)
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('label sets', () => {
  it('one series per distinct label set, whatever the key order or positional form', async () => {
    const registry = new Registry()
    const c = new Counter({ name: 'c', help: 'c', labelNames: ['a', 'b'], registers: [registry] })
    c.inc({ a: 'x', b: 'y' })
    c.inc({ b: 'y', a: 'x' })
    c.labels('x', 'y').inc()
    c.inc({ a: 'x', b: 'z' })
    c.inc({ a: 'x' }) // a partial label set is a series of its own
    const f = parsePromText(await registry.metrics())
    expect(f.get('c')!.samples.map((s) => [s.labels, s.value])).toEqual([
      [{ a: 'x', b: 'y' }, 3],
      [{ a: 'x', b: 'z' }, 1],
      [{ a: 'x' }, 1],
    ])
  })

  it('refuses labels not declared, and bad names, as prom-client did', () => {
    const c = new Counter({ name: 'c', help: 'c', labelNames: ['a'] })
    expect(() => c.inc({ nope: '1' } as never)).toThrow('Added label "nope" is not included')
    expect(() => c.labels('1', '2')).toThrow('Invalid number of arguments')
    expect(() => new Counter({ name: 'bad-name', help: 'x' })).toThrow('Invalid metric name')
    expect(() => new Counter({ name: 'x', help: 'x', labelNames: ['1a'] })).toThrow('Invalid label name')
    expect(() => new Histogram({ name: 'x', help: 'x', labelNames: ['le'] })).toThrow('reserved')
    expect(() => c.inc(-1)).toThrow('not possible to decrease')
    expect(() => new Gauge({ name: 'g', help: 'g' }).set('1' as never)).toThrow('not a valid number')
    expect(() => new Histogram({ name: 'h', help: 'h' }).observe(Number.NaN)).toThrow('not a valid number')
  })

  it('remove() and reset() drop series; a child keeps counting afterwards', async () => {
    const registry = new Registry()
    const c = new Counter({ name: 'c', help: 'c', labelNames: ['a'], registers: [registry] })
    const child = c.labels({ a: 'kept' })
    child.inc(5)
    c.inc({ a: 'gone' })
    c.remove({ a: 'gone' })
    expect(await registry.metrics()).not.toContain('gone')
    c.reset()
    expect(await registry.metrics()).not.toContain('kept')
    child.inc()
    expect(await registry.metrics()).toContain('c{a="kept"} 1\n')
  })

  it('a metric without labels starts at 0 and comes back to 0 on reset', async () => {
    const registry = new Registry()
    const c = new Counter({ name: 'c', help: 'c', registers: [registry] })
    expect(await registry.metrics()).toContain('\nc 0\n')
    c.inc(3)
    registry.resetMetrics()
    expect(await registry.metrics()).toContain('\nc 0\n')
  })
})

describe('collect callbacks and custom metrics', () => {
  it('runs sync and async collect callbacks before rendering, with this bound to the metric', async () => {
    const registry = new Registry()
    let n = 0
    new Gauge({
      name: 'sync_g',
      help: 'g',
      registers: [registry],
      collect() {
        this.set(++n)
      },
    })
    new Counter({
      name: 'async_c',
      help: 'c',
      labelNames: ['k'],
      registers: [registry],
      async collect() {
        await new Promise((r) => setTimeout(r, 5))
        this.reset()
        this.inc({ k: 'v' }, 7)
      },
    })
    const text = await registry.metrics()
    expect(text).toContain('sync_g 1\n')
    expect(text).toContain('async_c{k="v"} 7\n')
    expect(await registry.getSingleMetricAsString('sync_g')).toBe(
      '# HELP sync_g g\n# TYPE sync_g gauge\nsync_g 2',
    )
    const json = await registry.getMetricsAsJSON()
    expect(json.find((m) => m.name === 'async_c')).toMatchObject({
      type: 'counter',
      values: [{ value: 7, labels: { k: 'v' } }],
    })
  })

  it('serialises a custom metric from its get(), and refuses a second metric of one name', async () => {
    const registry = new Registry()
    registry.registerMetric({
      name: 'custom_seconds',
      help: 'Custom.',
      type: 'histogram',
      get: () => ({
        name: 'custom_seconds',
        help: 'Custom.',
        type: 'histogram',
        aggregator: 'sum',
        values: [
          { labels: { c: 'x', le: 1 }, value: 2, metricName: 'custom_seconds_bucket' },
          { labels: { c: 'x', le: '+Inf' }, value: 3, metricName: 'custom_seconds_bucket' },
          { labels: { c: 'x' }, value: 4.5, metricName: 'custom_seconds_sum' },
          { labels: { c: 'x' }, value: 3, metricName: 'custom_seconds_count' },
        ],
      }),
    })
    const text = await registry.metrics()
    expect(text).toContain('custom_seconds_bucket{c="x",le="1"} 2\n')
    expect(parsePromText(text).get('custom_seconds')!.samples).toHaveLength(4)
    new Counter({ name: 'dup', help: 'd', registers: [registry] })
    expect(() => new Counter({ name: 'dup', help: 'd', registers: [registry] })).toThrow(
      'already been registered',
    )
    expect(registry.getSingleMetric('dup')).toBeInstanceOf(Counter)
  })

  it('an OpenMetrics registry names counter families without _total and ends with # EOF', async () => {
    const registry = new Registry(Registry.OPENMETRICS_CONTENT_TYPE)
    new Counter({ name: 'jobs_total', help: 'j', registers: [registry] }).inc()
    const text = await registry.metrics()
    expect(text).toBe('# HELP jobs j\n# TYPE jobs counter\njobs_total 1\n# EOF\n')
  })
})

describe('createServiceRegistry', () => {
  it('exports the process metrics Prometheus users expect, as valid text', async () => {
    const { registry, readyGauge } = createServiceRegistry({ service: 's', version: '1' })
    readyGauge.set(1)
    await registry.metrics() // the event loop lag is measured from one scrape to the next
    await new Promise((r) => setImmediate(r))
    const f = parsePromText(await registry.metrics())
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_cpu_system_seconds_total',
      'process_cpu_seconds_total',
      'process_start_time_seconds',
      'process_resident_memory_bytes',
      'nodejs_heap_size_total_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_external_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_version_info',
      'podkit_build_info',
      'podkit_ready',
    ]) {
      expect(f.has(name), name).toBe(true)
    }
    if (process.platform === 'linux') {
      for (const name of [
        'process_virtual_memory_bytes',
        'process_heap_bytes',
        'process_open_fds',
        'process_max_fds',
      ])
        expect(f.get(name)!.samples[0]!.value, name).toBeGreaterThan(0)
    }
    expect(sampleOf(f, 'process_resident_memory_bytes')!.value).toBeGreaterThan(1024 * 1024)
    expect(sampleOf(f, 'nodejs_eventloop_lag_seconds')!.value).toBeGreaterThan(0)
    expect(sampleOf(f, 'process_cpu_seconds_total')!.value).toBeCloseTo(
      sampleOf(f, 'process_cpu_user_seconds_total')!.value +
        sampleOf(f, 'process_cpu_system_seconds_total')!.value,
      5,
    )
    expect(sampleOf(f, 'nodejs_version_info')!.labels.version).toBe(process.version)
    expect(sampleOf(f, 'podkit_ready')!.value).toBe(1)
  })
})

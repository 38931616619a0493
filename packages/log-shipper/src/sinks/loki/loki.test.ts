// The loki output against a fake of Loki's push API.

import { describe, expect, it } from 'vitest'
import { startLokiFake } from '../../../test/fakes/http-fakes.ts'
import { events, section, sinkTestCleanup } from '../../../test/sink-tests.ts'
import type { HttpDeliveryError } from '../../errors.ts'
import { LokiSink, lokiOptions } from '../loki/index.ts'

const { track, stops } = sinkTestCleanup()

describe('loki output', () => {
  it('pushes streams keyed by labels from record accessors, in time order, with the tenant header', async () => {
    const f = track(await startLokiFake())
    const sink = new LokiSink(
      lokiOptions(
        section({
          name: 'loki',
          port: f.port,
          labels: 'job=shipper, $level',
          tenant_id: 'team-a',
          remove_keys: 'level',
        }),
        'loki.0',
      ),
    )
    stops.push(() => sink.stop())
    // out of order on purpose: Loki wants each stream's entries in time order
    await sink.write(events(6).reverse())
    expect(f.entries).toHaveLength(6)
    expect(new Set(f.entries.map((e) => JSON.stringify(e.labels)))).toEqual(
      new Set([
        JSON.stringify({ job: 'shipper', level: 'warn' }),
        JSON.stringify({ job: 'shipper', level: 'info' }),
      ]),
    )
    expect(f.entries.every((e) => e.tenant === 'team-a')).toBe(true)
    const warn = f.entries.filter((e) => e.labels.level === 'warn')
    expect(warn.map((e) => JSON.parse(e.line))).toEqual([
      { msg: 'hello 0' },
      { msg: 'hello 2' },
      { msg: 'hello 4' },
    ])
    expect(warn[0]!.ns).toBe(`${1_700_000_000_000}000000`)
  })

  it('writes key_value lines as Fluent Bit does: strings quoted, numbers and booleans bare, arrays and maps spelled out', async () => {
    const f = track(await startLokiFake())
    const sink = new LokiSink(
      lokiOptions(section({ name: 'loki', port: f.port, line_format: 'key_value' }), 'loki.0'),
    )
    stops.push(() => sink.stop())
    await sink.write([
      {
        tag: 'x',
        time: 1_700_000_000_000,
        record: {
          agent: 'Mozilla/5.0 (X11; Linux x86_64)',
          code: 200,
          ratio: 0.25,
          ok: true,
          none: null,
          tags: ['a', 1],
          kube: { pod: 'web', n: 2 },
        },
      },
    ])
    expect(f.entries[0]!.line).toBe(
      'agent="Mozilla/5.0 (X11; Linux x86_64)" code=200 ratio=0.25 ok=true none=null tags="["a" 1]" kube="map[pod:"web" n:2]"',
    )
  })

  it('retries 429, and drops (counting) a batch Loki refuses as out of order', async () => {
    const f = track(await startLokiFake())
    const rejected: number[] = []
    const o = lokiOptions(section({ name: 'loki', port: f.port, line_format: 'key_value' }), 'loki.0')
    const sink = new LokiSink({ ...o, onRejected: (n) => rejected.push(n) })
    stops.push(() => sink.stop())
    f.throttle = 1
    const err = (await sink.write(events(2)).catch((e) => e)) as HttpDeliveryError
    expect(err.retryable).toBe(true)
    await sink.write(events(2))
    expect(f.entries.map((e) => e.line)).toEqual(['msg="hello 0" level="warn"', 'msg="hello 1" level="info"'])
    // an older entry for the same stream after a newer one cannot succeed on retry
    await sink.write([{ tag: 'x', time: 1_600_000_000_000, record: { msg: 'old' } }])
    expect(rejected).toEqual([1])
  })
})

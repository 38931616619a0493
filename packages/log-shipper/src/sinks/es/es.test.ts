// The es output against a fake of Elasticsearch's _bulk API.

import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { startEsFake } from '../../../test/fakes/http-fakes.ts'
import { events, section, sinkTestCleanup } from '../../../test/sink-tests.ts'
import { HttpDeliveryError } from '../../errors.ts'
import { EsSink, esOptions } from '../es/index.ts'
import { strftimeUtc } from './es.ts'

const { track, stops } = sinkTestCleanup()

describe('es output', () => {
  it('sends _bulk NDJSON with logstash indices, @timestamp and the tag key', async () => {
    const f = track(await startEsFake())
    const sink = new EsSink(
      esOptions(
        section({
          name: 'es',
          port: f.port,
          logstash_format: 'on',
          logstash_prefix: 'app',
          include_tag_key: 'on',
        }),
        'es.0',
      ),
    )
    stops.push(() => sink.stop())
    await sink.write(events(3))
    expect(f.docs).toHaveLength(3)
    expect(f.docs[0]!.index).toBe('app-2023.11.14')
    expect(f.docs[0]!.doc).toEqual({
      msg: 'hello 0',
      level: 'warn',
      '@timestamp': '2023-11-14T22:13:20.000Z',
      '_flb-key': 'app.web',
    })
  })

  it('resends only items refused with 429, and drops (counting) items refused for good', async () => {
    const f = track(await startEsFake())
    const rejected: Array<[number, string]> = []
    const o = esOptions(section({ name: 'es', port: f.port, index: 'logs', generate_id: 'on' }), 'es.0')
    const sink = new EsSink({ ...o, itemRetryDelayMs: 5, onRejected: (n, why) => rejected.push([n, why]) })
    stops.push(() => sink.stop())
    f.throttleItems = { perRequest: 2, requests: 1 }
    await sink.write(events(5, (i) => (i === 4 ? { reject: true } : {})))
    expect(f.requests).toHaveLength(2)
    expect(f.docs.map((d) => d.doc.msg).sort()).toEqual(['hello 0', 'hello 1', 'hello 2', 'hello 3'])
    expect(rejected).toEqual([[1, 'mapper_parsing_exception: failed to parse field [reject]']])
    // generate_id makes a full retry idempotent: nothing is indexed twice
    await sink.write(events(4))
    expect(f.docs).toHaveLength(4)
  })

  it('hands the chunk back for retry when 429s persist', async () => {
    const f = track(await startEsFake())
    const o = esOptions(section({ name: 'es', port: f.port }), 'es.0')
    const sink = new EsSink({ ...o, itemRetries: 1, itemRetryDelayMs: 5 })
    stops.push(() => sink.stop())
    f.throttleItems = { perRequest: 10, requests: 5 }
    const err = (await sink.write(events(2)).catch((e) => e)) as HttpDeliveryError
    expect(err).toBeInstanceOf(HttpDeliveryError)
    expect(err.retryable).toBe(true)
  })
})

describe('Logstash_DateFormat', () => {
  it('is strftime in UTC, as Fluent Bit formats it: hourly and weekly indices, checked against date(1)', async () => {
    const f = track(await startEsFake())
    const sink = new EsSink(
      esOptions(
        section({
          name: 'es',
          port: f.port,
          logstash_format: 'on',
          logstash_dateformat: '%Y.%m.%d.%H',
        }),
        'es.0',
      ),
    )
    stops.push(() => sink.stop())
    await sink.write(events(1))
    expect(f.docs[0]!.index).toBe('logstash-2023.11.14.22')
    const fmt = '%Y %C %y %G %g %m %d %e %j %H %I %M %S %p %a %A %b %h %B %u %w %U %W %V %s %F %%'
    // Year ends and starts where the week numberings differ, a leap day, the events' time.
    for (const iso of [
      '2023-11-14T22:13:20Z',
      '2020-12-31T23:59:59Z',
      '2021-01-03T00:00:00Z',
      '2024-02-29T12:00:00Z',
      '2018-12-31T01:02:03Z',
      '2027-01-01T09:00:00Z',
    ]) {
      const ms = Date.parse(iso)
      const want = execFileSync('date', ['-u', '-d', `@${ms / 1000}`, `+${fmt}`], {
        env: { LC_ALL: 'C', PATH: process.env.PATH },
      })
        .toString()
        .trim()
      expect(strftimeUtc(fmt, ms), iso).toBe(want)
    }
  })

  it('refuses a directive it does not know at start, naming the key', () => {
    expect(() =>
      esOptions(section({ name: 'es', logstash_format: 'on', logstash_dateformat: '%Y.%Q' }), 'es.0'),
    ).toThrow(/logstash_dateformat.*%Q/i)
  })
})

// The http, loki and es outputs against fakes written from their APIs, with real sockets and TLS.

import type { LogEvent } from '@podkit/log-pipeline'
import { createTestPki, type TestPki } from '@podkit/test-utils'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type HttpFake, startEsFake, startHttpFake, startLokiFake } from '../../test/fakes/http-fakes.ts'
import { HttpDeliveryError } from '../errors.ts'
import { PluginSection } from '../fluent-bit/section.ts'
import { EsSink, esOptions } from './es/index.ts'
import { HttpSink, httpOptions } from './http/index.ts'
import { LokiSink, lokiOptions } from './loki/index.ts'

let pki: TestPki
const fakes: HttpFake[] = []
const stops: Array<() => Promise<void>> = []
beforeAll(() => {
  pki = createTestPki()
})
afterAll(() => pki.cleanup())
afterEach(async () => {
  for (const s of stops.splice(0)) await s()
  for (const f of fakes.splice(0)) await f.stop()
})

const section = (obj: Record<string, unknown>) => PluginSection.fromObject('output', obj, 'test')
const track = <T extends HttpFake>(f: T): T => {
  fakes.push(f)
  return f
}
const events = (n: number, extra: (i: number) => Record<string, unknown> = () => ({})): LogEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    tag: 'app.web',
    time: 1_700_000_000_000 + i * 10,
    record: { msg: `hello ${i}`, level: i % 2 ? 'info' : 'warn', ...extra(i) },
  }))

describe('http output', () => {
  it('posts a JSON array with the date key, basic auth and custom headers', async () => {
    const f = track(await startHttpFake())
    const sink = new HttpSink(
      httpOptions(
        section({
          name: 'http',
          port: f.port,
          uri: '/ingest',
          http_user: 'u',
          http_passwd: 'p',
          header: ['X-Team ops', 'X-Env prod'],
        }),
        'http.0',
      ),
    )
    stops.push(() => sink.stop())
    await sink.write(events(3))
    const req = f.requests[0]!
    expect(req.url).toBe('/ingest')
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`)
    expect(req.headers['x-team']).toBe('ops')
    expect(req.headers['x-env']).toBe('prod')
    expect(JSON.parse(req.body)).toEqual(events(3).map((e) => ({ date: e.time / 1000, ...e.record })))
  })

  it("sends gzip'd JSON lines with a bearer token over verified TLS", async () => {
    const f = track(await startHttpFake({ tls: { cert: pki.server.cert, key: pki.server.key } }))
    const sink = new HttpSink(
      httpOptions(
        section({
          name: 'http',
          host: 'localhost',
          port: f.port,
          format: 'json_lines',
          compress: 'gzip',
          bearer_token: 'tok',
          tls: 'on',
          'tls.ca_file': pki.ca.certFile,
          json_date_format: 'iso8601',
        }),
        'http.0',
      ),
    )
    stops.push(() => sink.stop())
    await sink.write(events(2))
    const req = f.requests[0]!
    expect(req.headers['content-encoding']).toBe('gzip')
    expect(req.headers.authorization).toBe('Bearer tok')
    expect(
      req.body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).date),
    ).toEqual(events(2).map((e) => new Date(e.time).toISOString()))
  })

  it('refuses a server whose certificate the CA did not sign (verification on by default)', async () => {
    const f = track(await startHttpFake({ tls: { cert: pki.server.cert, key: pki.server.key } }))
    const sink = new HttpSink(
      httpOptions(section({ name: 'http', host: 'localhost', port: f.port, tls: 'on' }), 'http.0'),
    )
    stops.push(() => sink.stop())
    const err = await sink.write(events(1)).catch((e) => e)
    expect(err).toBeInstanceOf(HttpDeliveryError)
    expect(f.requests).toHaveLength(0)
  })

  it('marks 5xx and 429 retryable and other 4xx not', async () => {
    const f = track(await startHttpFake({ statuses: [503, 429, 400] }))
    const sink = new HttpSink(httpOptions(section({ name: 'http', port: f.port }), 'http.0'))
    stops.push(() => sink.stop())
    for (const retryable of [true, true, false]) {
      const err = (await sink.write(events(1)).catch((e) => e)) as HttpDeliveryError
      expect(err.retryable).toBe(retryable)
    }
    await sink.write(events(1))
  })
})

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
    expect(f.entries.map((e) => e.line)).toEqual(['msg=hello 0 level=warn', 'msg=hello 1 level=info'])
    // an older entry for the same stream after a newer one cannot succeed on retry
    await sink.write([{ tag: 'x', time: 1_600_000_000_000, record: { msg: 'old' } }])
    expect(rejected).toEqual([1])
  })
})

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

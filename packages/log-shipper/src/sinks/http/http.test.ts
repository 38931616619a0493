// The http output against a plain HTTP(S) fake, with real sockets and TLS made at test time.

import { createTestPki, type TestPki } from '@podkit/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHttpFake } from '../../../test/fakes/http-fakes.ts'
import { events, section, sinkTestCleanup } from '../../../test/sink-tests.ts'
import { HttpDeliveryError } from '../../errors.ts'
import { HttpSink, httpOptions } from '../http/index.ts'

let pki: TestPki
beforeAll(() => {
  pki = createTestPki()
})
afterAll(() => pki.cleanup())
const { track, stops } = sinkTestCleanup()

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

  it('marks 5xx, 429 and 401/403/404 (an operator fixes those) retryable and other 4xx not', async () => {
    const f = track(await startHttpFake({ statuses: [503, 429, 401, 403, 404, 400, 422] }))
    const sink = new HttpSink(httpOptions(section({ name: 'http', port: f.port }), 'http.0'))
    stops.push(() => sink.stop())
    for (const retryable of [true, true, true, true, true, false, false]) {
      const err = (await sink.write(events(1)).catch((e) => e)) as HttpDeliveryError
      expect(err.retryable).toBe(retryable)
    }
    await sink.write(events(1))
  })
})

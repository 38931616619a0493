// What /metrics says an output delivered must be what the destination kept: records it refused for
// good (a Loki 400, Elasticsearch item errors) count as dropped, not also as delivered. And
// Retry_Limit 0 retries once, as Fluent Bit reads it; refusals an operator fixes are retried; and
// buffered chunks that no output claims after a config change are reported.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createLogger, Registry } from '@podkit/runtime'
import { tempDir, waitFor } from '@podkit/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogShipper } from '../src/index.ts'
import { MsgpackWriter } from '../src/msgpack.ts'
import { ChunkStore } from '../src/storage.ts'
import { startForwardReceiver } from './fakes/forward-receiver.ts'
import { startEsFake, startHttpFake, startLokiFake } from './fakes/http-fakes.ts'
import { metricValue } from './helpers.ts'

const logger = createLogger({ name: 'test', level: 'silent' })
let cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c()
  cleanup = []
})

describe('delivered and dropped records on /metrics', () => {
  it('records Loki and Elasticsearch refused for good are dropped, not delivered', async () => {
    const dir = tempDir('shipper-accounting-')
    cleanup.push(() => dir.cleanup())
    const loki = await startLokiFake()
    const es = await startEsFake()
    cleanup.push(
      () => loki.stop(),
      () => es.stop(),
    )
    mkdirSync(join(dir.path, 'app'))
    // The es fake refuses documents with a `reject` field (a mapping error).
    writeFileSync(
      join(dir.path, 'app/a.log'),
      ['{"msg":"a"}', '{"msg":"b","reject":true}', '{"msg":"c"}', ''].join('\n'),
    )
    const registry = new Registry()
    const shipper = createLogShipper({
      logger,
      registry,
      pipeline: {
        service: { flush: '0.1' },
        parsers: [{ name: 'js', format: 'json' }],
        pipeline: {
          inputs: [
            { name: 'tail', path: `${dir.path}/app/*.log`, tag: 'app', parser: 'js', read_from_head: 'on' },
          ],
          outputs: [
            // Every stream lacks a label (the field is absent): Loki answers 400 to the push.
            { name: 'loki', alias: 'loki', match: 'app', port: loki.port, labels: '$absent' },
            { name: 'es', alias: 'es', match: 'app', port: es.port, index: 'app' },
          ],
        },
      },
    })
    await shipper.start()
    cleanup.push(() => shipper.stop(AbortSignal.timeout(2000)))
    const m = () => registry.metrics()
    await waitFor(
      async () =>
        metricValue(await m(), 'podkit_shipper_output_dropped_records_total', 'output="loki"') === 3 &&
        metricValue(await m(), 'podkit_shipper_output_dropped_records_total', 'output="es"') === 1,
      10_000,
      'loki dropped 3, es dropped 1',
    )
    expect(es.docs.map((d) => d.doc.msg)).toEqual(['a', 'c'])
    expect(loki.entries).toEqual([])
    const text = await m()
    expect(metricValue(text, 'podkit_shipper_output_records_total', 'output="es"')).toBe(2)
    // Nothing reached Loki: no delivered records, no bytes, no last-success time.
    expect(metricValue(text, 'podkit_shipper_output_records_total', 'output="loki"') || 0).toBe(0)
    expect(metricValue(text, 'podkit_shipper_output_bytes_total', 'output="loki"') || 0).toBe(0)
    expect(
      metricValue(text, 'podkit_shipper_output_last_success_timestamp_seconds', 'output="loki"') || 0,
    ).toBe(0)
  })
})

describe('Retry_Limit 0', () => {
  it('is Fluent Bit\'s default of one retry, not "no retries": a chunk that failed once is delivered', async () => {
    const dir = tempDir('shipper-retry0-')
    cleanup.push(() => dir.cleanup())
    const http = await startHttpFake({ statuses: [503] })
    cleanup.push(() => http.stop())
    mkdirSync(join(dir.path, 'app'))
    writeFileSync(join(dir.path, 'app/a.log'), 'one\n')
    const registry = new Registry()
    const shipper = createLogShipper({
      logger,
      registry,
      backoff: { baseMs: 20, capMs: 40 },
      pipeline: {
        service: { flush: '0.1' },
        pipeline: {
          inputs: [{ name: 'tail', path: `${dir.path}/app/*.log`, tag: 'app', read_from_head: 'on' }],
          outputs: [{ name: 'http', alias: 'http', match: 'app', port: http.port, retry_limit: '0' }],
        },
      },
    })
    await shipper.start()
    cleanup.push(() => shipper.stop(AbortSignal.timeout(2000)))
    await waitFor(() => http.requests.length === 2, 10_000, 'a retry after the 503')
    await waitFor(
      async () =>
        metricValue(await registry.metrics(), 'podkit_shipper_output_records_total', 'output="http"') === 1,
      5000,
      'the record delivered',
    )
    expect(JSON.parse(http.requests[1]!.body)).toEqual([expect.objectContaining({ log: 'one' })])
  })
})

describe('Loki refusals that an operator fixes', () => {
  it('a 401 is retried under Retry_Limit, not dropped, and the record arrives once fixed', async () => {
    const dir = tempDir('shipper-loki-401-')
    cleanup.push(() => dir.cleanup())
    const loki = await startLokiFake()
    cleanup.push(() => loki.stop())
    loki.pushStatus = 401
    mkdirSync(join(dir.path, 'app'))
    writeFileSync(join(dir.path, 'app/a.log'), 'kept\n')
    const registry = new Registry()
    const shipper = createLogShipper({
      logger,
      registry,
      backoff: { baseMs: 20, capMs: 40 },
      pipeline: {
        service: { flush: '0.1' },
        pipeline: {
          inputs: [{ name: 'tail', path: `${dir.path}/app/*.log`, tag: 'app', read_from_head: 'on' }],
          outputs: [{ name: 'loki', alias: 'loki', match: 'app', port: loki.port, retry_limit: 'False' }],
        },
      },
    })
    await shipper.start()
    cleanup.push(() => shipper.stop(AbortSignal.timeout(2000)))
    await waitFor(() => loki.requests.length >= 2, 10_000, 'the 401 retried')
    loki.pushStatus = undefined
    await waitFor(() => loki.entries.length === 1, 10_000, 'the record pushed once allowed')
    const text = await registry.metrics()
    expect(metricValue(text, 'podkit_shipper_output_dropped_records_total', 'output="loki"') || 0).toBe(0)
  })
})

describe('Elasticsearch refusals that an operator fixes', () => {
  it('a 401 and a read-only (flood-stage) index are retried under Retry_Limit, not dropped, and the record arrives once fixed', async () => {
    const dir = tempDir('shipper-es-block-')
    cleanup.push(() => dir.cleanup())
    const es = await startEsFake()
    cleanup.push(() => es.stop())
    es.requestStatus = 401
    mkdirSync(join(dir.path, 'app'))
    writeFileSync(join(dir.path, 'app/a.log'), 'kept\n')
    const registry = new Registry()
    const shipper = createLogShipper({
      logger,
      registry,
      backoff: { baseMs: 20, capMs: 40 },
      pipeline: {
        service: { flush: '0.1' },
        pipeline: {
          inputs: [{ name: 'tail', path: `${dir.path}/app/*.log`, tag: 'app', read_from_head: 'on' }],
          outputs: [
            { name: 'es', alias: 'es', match: 'app', port: es.port, index: 'app', retry_limit: 'False' },
          ],
        },
      },
    })
    await shipper.start()
    cleanup.push(() => shipper.stop(AbortSignal.timeout(2000)))
    await waitFor(() => es.requests.length >= 2, 10_000, 'the 401 retried')
    es.requestStatus = undefined
    es.readOnly = true
    const seen = es.requests.length
    await waitFor(() => es.requests.length >= seen + 2, 10_000, 'the blocked items retried')
    es.readOnly = false
    await waitFor(() => es.docs.length === 1, 10_000, 'the record indexed once the block is lifted')
    const text = await registry.metrics()
    expect(metricValue(text, 'podkit_shipper_output_dropped_records_total', 'output="es"') || 0).toBe(0)
    expect(metricValue(text, 'podkit_shipper_output_records_total', 'output="es"')).toBe(1)
    expect(es.docs[0]!.doc).toMatchObject({ log: 'kept' })
  })
})

describe('the filesystem buffer after a config change', () => {
  /** Chunks an outage left for an output named `output`, written as the store writes them. */
  async function leaveChunks(storage: string, output: string, tag: string, logs: string[][]) {
    const store = new ChunkStore(storage, output, { sync: true, memoryLimit: 0 })
    await store.load()
    for (const [i, chunk] of logs.entries()) {
      const events = chunk.map((log, j) => ({
        tag,
        time: Date.UTC(2026, 10, 24, 10, 0, i * 10 + j),
        record: { log },
      }))
      if (i % 2 === 0) await store.save({ events })
      else {
        // the forward output keeps its chunks as encoded [time, record] entries per tag
        const w = new MsgpackWriter(1024)
        for (const e of events) {
          w.arrayHeader(2)
          w.eventTimeMillis(e.time)
          w.map(e.record)
        }
        await store.save({ parts: [{ tag, entries: w.toBuffer(), count: events.length }] })
      }
    }
  }

  it('routes chunks of an output no [OUTPUT] is named after any more to the outputs matching their tags, as Fluent Bit does', async () => {
    const dir = tempDir('shipper-orphan-')
    cleanup.push(() => dir.cleanup())
    const storage = join(dir.path, 'storage')
    // An outage left chunks of `forward.0`; an output added before it makes it `forward.1` now.
    await leaveChunks(storage, 'forward.0', 'app', [['one', 'two'], ['three'], ['four', 'five']])
    mkdirSync(join(dir.path, 'app'))
    const recv = await startForwardReceiver()
    cleanup.push(() => recv.stop())
    const shipper = createLogShipper({
      logger: createLogger({ name: 'test', level: 'silent' }),
      registry: new Registry(),
      pipeline: {
        service: { flush: '0.1', 'storage.path': storage },
        pipeline: {
          inputs: [{ name: 'tail', path: `${dir.path}/app/*.log`, tag: 'app' }],
          outputs: [
            { name: 'stdout', match: 'nothing' },
            { name: 'forward', match: 'app', port: recv.port, require_ack_response: 'on' },
          ],
        },
      },
    })
    await shipper.start()
    cleanup.push(() => shipper.stop(AbortSignal.timeout(2000)))
    await waitFor(() => recv.events.length >= 5, 10_000, 'the five buffered records')
    expect(recv.events.map((e) => [e.tag, e.record.log, e.time])).toEqual(
      ['one', 'two', 'three', 'four', 'five'].map((log, k) => [
        'app',
        log,
        Date.UTC(2026, 10, 24, 10, 0, [0, 1, 10, 20, 21][k]!) / 1000,
      ]),
    )
    await shipper.engine.orphans
    expect(existsSync(join(storage, 'forward.0'))).toBe(false)
  })

  it('says which chunks no output takes any more (their tags match no output), with the Alias that delivers them', async () => {
    const dir = tempDir('shipper-orphan-')
    cleanup.push(() => dir.cleanup())
    const storage = join(dir.path, 'storage')
    await leaveChunks(storage, 'forward.0', 'billing', [['a'], ['b']])
    mkdirSync(join(dir.path, 'app'))
    const lines: Array<Record<string, unknown>> = []
    const shipper = createLogShipper({
      logger: createLogger({
        name: 'test',
        level: 'warn',
        destination: { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) },
      }),
      registry: new Registry(),
      pipeline: {
        service: { flush: '0.1', 'storage.path': storage },
        pipeline: {
          inputs: [{ name: 'tail', path: `${dir.path}/app/*.log`, tag: 'app' }],
          outputs: [
            { name: 'stdout', match: 'nothing' },
            { name: 'forward', match: 'app', port: 1 },
          ],
        },
      },
    })
    await shipper.start()
    cleanup.push(() => shipper.stop(AbortSignal.timeout(2000)))
    await shipper.engine.orphans
    const orphan = lines.find((l) => l.code === 'PODKIT_SHIPPER_STORAGE')
    expect(orphan).toMatchObject({ chunks: 2, dir: join(storage, 'forward.0') })
    expect(String(orphan?.msg)).toContain('Alias forward.0')
    expect(String(orphan?.msg)).toContain('billing')
  })
})

// What /metrics says an output delivered must be what the destination kept: records it refused for
// good (a Loki 400, Elasticsearch item errors) count as dropped, not also as delivered.

import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createLogger, Registry } from '@podkit/runtime'
import { tempDir, waitFor } from '@podkit/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogShipper } from '../src/index.ts'
import { startEsFake, startLokiFake } from './fakes/http-fakes.ts'
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

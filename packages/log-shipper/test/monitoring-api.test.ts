// Fluent Bit's monitoring endpoints that pods' probes use (its Helm chart: liveness on /,
// readiness on /api/v1/health with Health_Check On), served by the built shipper with the
// chart's [SERVICE] keys, against a forward output whose aggregator is down.

import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, tempDir, waitFor } from '@podkit/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { startSeedShipper } from './helpers.ts'

let cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c()
  cleanup = []
})

describe('Fluent Bit monitoring API', () => {
  it('answers /, /api/v1/metrics/prometheus and /api/v1/health, which turns to 500 "error" past HC_Errors_Count failed flushes', async () => {
    const dir = tempDir('shipper-health-')
    cleanup.push(() => dir.cleanup())
    const conf = join(dir.path, 'fluent-bit.conf')
    writeFileSync(
      conf,
      `[SERVICE]
    Flush                  0.2
    HTTP_Server            On
    HTTP_Listen            0.0.0.0
    HTTP_Port              2020
    Health_Check           On
    HC_Errors_Count        2
    HC_Retry_Failure_Count 5
    HC_Period              60

[INPUT]
    Name              tail
    Path              /var/log/app/*.log
    Tag               app

[OUTPUT]
    Name              forward
    Match             *
    Host              fluentd.logging.svc.cluster.local
    Port              24224
    Retry_Limit       False
`,
    )
    // Nothing listens there: every flush fails with connection refused.
    const deadPort = await freePort()
    mkdirSync(join(dir.path, 'var/log/app'), { recursive: true })
    const file = join(dir.path, 'var/log/app/app.log')
    writeFileSync(file, '')
    const run = await startSeedShipper({ root: dir.path, forwardPort: deadPort, conf })
    cleanup.push(() => run.proc.stop('SIGKILL'))
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${run.adminPort}${path}`)
      return { status: res.status, body: await res.text() }
    }
    const root = await get('/')
    expect(root.status).toBe(200)
    expect(JSON.parse(root.body)).toHaveProperty('fluent-bit')
    expect(await get('/api/v1/health')).toEqual({ status: 200, body: 'ok' })
    const prom = await get('/api/v1/metrics/prometheus')
    expect(prom.status).toBe(200)
    expect(prom.body).toContain('podkit_shipper_output_records_total')
    appendFileSync(file, 'one line\n')
    // Retries every 0.1-0.2 s (LOG_SHIPPER_RETRY_BASE 200ms): a third failure makes it unhealthy.
    await waitFor(async () => (await get('/api/v1/health')).status === 500, 10_000, 'unhealthy')
    expect((await get('/api/v1/health')).body).toBe('error')
    // The container's own probes are unchanged.
    expect((await get('/healthz')).status).toBe(200)
  })
})

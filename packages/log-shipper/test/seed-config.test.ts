// The seed's fluent-bit.conf and parsers.conf, verbatim, run by the built shipper against a forward
// receiver written from the protocol spec: every nginx line arrives with its parsed fields, its
// event time and the modify filter's pod fields; bad lines are shipped raw, never dropped.

import { appendFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir, waitFor } from '@podkit/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { type ForwardReceiver, startForwardReceiver } from './fakes/forward-receiver.ts'
import { accessLine, metricValue, type ShipperRun, startSeedShipper } from './helpers.ts'

let cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c()
  cleanup = []
})

async function setup(): Promise<{ root: string; file: string; recv: ForwardReceiver; run: ShipperRun }> {
  const dir = tempDir('shipper-seed-')
  cleanup.push(() => dir.cleanup())
  const recv = await startForwardReceiver()
  cleanup.push(() => recv.stop())
  const file = join(dir.path, 'var/log/app/access.log')
  const { mkdirSync } = await import('node:fs')
  mkdirSync(join(dir.path, 'var/log/app'), { recursive: true })
  writeFileSync(file, '')
  const run = await startSeedShipper({ root: dir.path, forwardPort: recv.port })
  cleanup.push(async () => {
    await run.proc.stop('SIGKILL')
  })
  return { root: dir.path, file, recv, run }
}

describe("the seed's logging sidecar config", () => {
  it('ships every nginx line with its parsed fields, time and pod fields', async () => {
    const { file, recv, run } = await setup()
    const lines = Array.from({ length: 300 }, (_, i) => accessLine(i))
    appendFileSync(file, lines.map((l) => `${l.line}\n`).join(''))
    // Flush 5: the records go out within one flush interval
    await waitFor(() => recv.events.length >= 300, 20_000, 'all 300 records')
    expect(recv.events).toHaveLength(300)
    for (const [i, e] of recv.events.entries()) {
      const want = lines[i]!
      expect(e.tag).toBe('nginx.var.log.app.access.log')
      expect(e.eventTime).toBe(true)
      expect(e.time * 1000).toBe(want.time)
      expect(e.record).toEqual({ ...want.fields, pod_name: 'web-7d9f', namespace: 'shop' })
    }
    const m = await run.metrics()
    expect(metricValue(m, 'podkit_shipper_output_records_total', 'output="forward.0"')).toBe(300)
    expect(metricValue(m, 'podkit_shipper_input_records_total', 'input="tail.0"')).toBe(300)
  })

  it('ships unparsable lines and binary garbage raw, skips over-long lines (Skip_Long_Lines On)', async () => {
    const { file, recv, run } = await setup()
    const garbage = Buffer.from([0x00, 0xff, 0xfe, 0x41, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0x80])
    appendFileSync(file, `${accessLine(1).line}\n`)
    appendFileSync(file, 'this is not an access log line\n')
    appendFileSync(file, Buffer.concat([garbage, Buffer.from('\n')]))
    appendFileSync(file, `${'x'.repeat(40_000)}\n`)
    appendFileSync(file, `${accessLine(2).line}\n`)
    await waitFor(() => recv.events.length >= 4, 20_000, '4 records')
    await new Promise((r) => setTimeout(r, 300))
    expect(recv.events).toHaveLength(4)
    expect(recv.events[0]!.record.remote).toBe(accessLine(1).fields.remote)
    expect(recv.events[1]!.record).toEqual({
      log: 'this is not an access log line',
      pod_name: 'web-7d9f',
      namespace: 'shop',
    })
    expect(typeof recv.events[2]!.record.log).toBe('string')
    expect(String(recv.events[2]!.record.log)).toContain('A\u001b[31m')
    expect(recv.events[3]!.record.remote).toBe(accessLine(2).fields.remote)
    const m = await run.metrics()
    expect(metricValue(m, 'podkit_shipper_parse_failures_total', 'input="tail.0"')).toBe(2)
  })

  it('--check-config accepts the seed config and rejects a broken one naming file and line', async () => {
    const { spawnService } = await import('@podkit/test-utils')
    const { ENTRY, SEED_CONF } = await import('./helpers.ts')
    const ok = spawnService({ entry: ENTRY, args: ['-c', SEED_CONF, '--check-config'] })
    expect(await ok.exited).toBe(0)
    expect(ok.stderr()).toContain(`${SEED_CONF}:19: \${POD_NAME} is not set`)
    const dir = tempDir('shipper-bad-')
    cleanup.push(() => dir.cleanup())
    const bad = join(dir.path, 'fluent-bit.conf')
    writeFileSync(
      bad,
      '[SERVICE]\n    Flush 1\n[OUTPUT]\n    Name forward\n    Match *\n    Retry_Limit often\n',
    )
    const p = spawnService({ entry: ENTRY, args: ['-c', bad, '--check-config'] })
    expect(await p.exited).not.toBe(0)
    expect(p.stderr()).toContain(`${bad}:6: Retry_Limit must be a number`)
    writeFileSync(bad, '[INPUT]\n    Name systemd\n')
    const q = spawnService({ entry: ENTRY, args: ['-c', bad, '--check-config'] })
    expect(await q.exited).not.toBe(0)
    expect(q.stderr()).toContain(`${bad}:2: input plugin "systemd" is not supported`)
  })
})

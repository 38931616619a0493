// At-least-once delivery of the built shipper, process level: an aggregator outage, kill -9 and
// restart under load, rotation by rename and by copytruncate under load, a million-line burst,
// Mem_Buf_Limit backpressure, the filesystem buffer across a restart, a dead output beside a live
// one, and SIGTERM flushing within Grace. Records carry their line number in `path`, so loss and
// re-reads are counted exactly.

import {
  appendFileSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  renameSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { freePort, sleep, tempDir, waitFor } from '@podkit/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { type ForwardReceiver, type ReceivedEvent, startForwardReceiver } from './fakes/forward-receiver.ts'
import { accessLine, FIXTURES, metricValue, type ShipperRun, startSeedShipper } from './helpers.ts'

let cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c()
  cleanup = []
})

/** The seed's pipeline with the keys a durable setup adds: DB, Read_from_Head, acks, no retry limit. */
function durableConf(
  dir: string,
  extra: { service?: string; input?: string; outputs?: string } = {},
): string {
  const file = join(dir, 'fluent-bit.conf')
  writeFileSync(
    file,
    `[SERVICE]
    Flush         1
    Grace         5
    Parsers_File  ${join(FIXTURES, 'parsers.conf')}
${extra.service ?? ''}
[INPUT]
    Name              tail
    Path              /var/log/app/*.log
    Parser            nginx
    Tag               nginx.*
    DB                /var/log/app/positions.db
    Read_from_Head    On
    Refresh_Interval  1
    Rotate_Wait       3
    Mem_Buf_Limit     5MB
${extra.input ?? ''}
[FILTER]
    Name              modify
    Match             *
    Add               pod_name \${POD_NAME}
    Add               namespace \${POD_NAMESPACE}
${
  extra.outputs ??
  `
[OUTPUT]
    Name                  forward
    Match                 *
    Host                  fluentd.logging.svc.cluster.local
    Port                  24224
    Require_ack_response  On
    Retry_Limit           no_limits
`
}`,
  )
  return file
}

/** Line number of a received record (its path is /api/items/<i>?q=...). */
const lineNo = (e: ReceivedEvent) => Number(/\/api\/items\/(\d+)/.exec(String(e.record.path))?.[1] ?? -1)

/** Counts every line number seen: loss is a zero, a re-read is a two. */
function tally() {
  const seen = new Map<number, number>()
  return {
    seen,
    onEvent: (e: ReceivedEvent) => {
      const n = lineNo(e)
      seen.set(n, (seen.get(n) ?? 0) + 1)
    },
    missing(total: number) {
      let m = 0
      for (let i = 0; i < total; i++) if (!seen.has(i)) m++
      return m
    },
    duplicates() {
      let d = 0
      for (const c of seen.values()) if (c > 1) d += c - 1
      return d
    },
  }
}

function lines(from: number, to: number): string {
  let s = ''
  for (let i = from; i < to; i++) s += `${accessLine(i).line}\n`
  return s
}

async function env(opts: { receiverPort?: number } = {}) {
  const dir = tempDir('shipper-deliv-')
  cleanup.push(() => dir.cleanup())
  const app = join(dir.path, 'var/log/app')
  mkdirSync(app, { recursive: true })
  const t = tally()
  const port = opts.receiverPort ?? (await freePort())
  return { dir: dir.path, app, t, port }
}

async function receiver(port: number, t: ReturnType<typeof tally>): Promise<ForwardReceiver> {
  const r = await startForwardReceiver({ port, keep: false, onEvent: t.onEvent })
  cleanup.push(() => r.stop().catch(() => {}))
  return r
}

async function shipper(
  dir: string,
  port: number,
  conf: string,
  extraEnv: Record<string, string> = {},
): Promise<ShipperRun> {
  const run = await startSeedShipper({ root: dir, forwardPort: port, conf, env: extraEnv })
  cleanup.push(() => run.proc.stop('SIGKILL'))
  return run
}

describe('delivery', () => {
  it('delivers everything after the aggregator was down for a while', async () => {
    const { dir, app, t, port } = await env()
    writeFileSync(join(app, 'access.log'), lines(0, 5000))
    const run = await shipper(dir, port, durableConf(dir))
    // no receiver yet: the shipper retries with backoff
    await waitFor(
      async () => metricValue(await run.metrics(), 'podkit_shipper_output_retries_total', 'forward.0') >= 2,
      15_000,
    )
    appendFileSync(join(app, 'access.log'), lines(5000, 10_000))
    const r = await receiver(port, t)
    await waitFor(() => t.missing(10_000) === 0, 30_000, 'every line delivered')
    expect(r.count).toBeGreaterThanOrEqual(10_000)
    const m = await run.metrics()
    expect(metricValue(m, 'podkit_shipper_output_dropped_records_total', 'forward.0')).toBeNaN()
  })

  it('loses nothing across kill -9 and restart under load', async () => {
    const { dir, app, t, port } = await env()
    await receiver(port, t)
    const conf = durableConf(dir)
    const file = join(app, 'access.log')
    writeFileSync(file, '')
    let run = await shipper(dir, port, conf)
    let written = 0
    let writing = true
    const writer = (async () => {
      while (writing) {
        appendFileSync(file, lines(written, written + 500))
        written += 500
        await sleep(10)
      }
    })()
    await waitFor(() => t.seen.size > 5000, 30_000)
    run.proc.child.kill('SIGKILL')
    await run.proc.exited
    await sleep(300)
    run = await shipper(dir, port, conf)
    await sleep(500)
    writing = false
    await writer
    await waitFor(() => t.missing(written) === 0, 60_000, `all ${written} lines after the restart`)
    // at-least-once: what was in flight at the kill may come twice, never be lost
    expect(t.duplicates()).toBeLessThan(written / 2)
  })

  it('follows rotation by rename and by copytruncate under load: nothing lost, no file re-read', async () => {
    const { dir, app, t, port } = await env()
    await receiver(port, t)
    const file = join(app, 'access.log')
    writeFileSync(file, '')
    await shipper(dir, port, durableConf(dir))
    let n = 0
    const write = (count: number) => {
      appendFileSync(file, lines(n, n + count))
      n += count
    }
    for (let i = 0; i < 10; i++) {
      write(300)
      await sleep(20)
    }
    // logrotate's default: rename, then the app reopens a new file
    renameSync(file, join(app, 'access.log.1'))
    for (let i = 0; i < 10; i++) {
      write(300)
      await sleep(20)
    }
    await waitFor(() => t.missing(n) === 0, 20_000, 'lines before the copytruncate')
    // copytruncate: copy away, truncate in place (writes paused, as the race would lose them anyway)
    copyFileSync(file, join(app, 'access.log.2'))
    truncateSync(file, 0)
    // A truncated file that regrows past its old size between two looks is indistinguishable
    // from one that only grew (for Fluent Bit too); real apps regrow slowly, so do we at first.
    write(100)
    await waitFor(() => t.missing(n) === 0, 20_000, 'the first lines after the truncation')
    for (let i = 0; i < 10; i++) {
      write(300)
      await sleep(20)
    }
    await waitFor(() => t.missing(n) === 0, 20_000, `all ${n} lines`)
    await sleep(1500)
    expect(t.duplicates()).toBe(0)
  })

  it('ships a 1,000,000-line burst completely', async () => {
    const { dir, app, t, port } = await env()
    const r = await receiver(port, t)
    const file = join(app, 'access.log')
    writeFileSync(file, '')
    const run = await shipper(dir, port, durableConf(dir))
    for (let i = 0; i < 1_000_000; i += 50_000) appendFileSync(file, lines(i, i + 50_000))
    await waitFor(() => r.count >= 1_000_000, 150_000, 'a million records')
    expect(t.missing(1_000_000)).toBe(0)
    const m = await run.metrics()
    expect(metricValue(m, 'podkit_shipper_input_records_total', 'tail.0')).toBe(1_000_000)
  }, 180_000)

  it('holds memory at Mem_Buf_Limit while the output is down, then delivers all', async () => {
    const { dir, app, t, port } = await env()
    const file = join(app, 'access.log')
    writeFileSync(file, lines(0, 40_000)) // about 5 MB
    const run = await shipper(dir, port, durableConf(dir, { input: '    Mem_Buf_Limit 1MB' }))
    await waitFor(
      async () => metricValue(await run.metrics(), 'podkit_shipper_output_retries_total', 'forward.0') >= 1,
      15_000,
    )
    await sleep(1000)
    const m = await run.metrics()
    // the tail source counts bytes read but not acknowledged; it pauses at the limit
    expect(metricValue(m, 'podkit_log_buffered_bytes')).toBeLessThanOrEqual(1024 * 1024 + 256 * 1024)
    expect(metricValue(m, 'podkit_shipper_output_queue_records', 'forward.0')).toBeLessThan(40_000)
    await receiver(port, t)
    await waitFor(() => t.missing(40_000) === 0, 30_000, 'all 40000 lines')
  })

  it('keeps undelivered chunks in storage.path across a restart during an outage', async () => {
    const { dir, app, t, port } = await env()
    const storage = join(dir, 'storage')
    const conf = durableConf(dir, { service: `    storage.path  ${storage}\n    storage.sync  full` })
    writeFileSync(join(app, 'access.log'), lines(0, 3000))
    let run = await shipper(dir, port, conf)
    await waitFor(() => readdirSync(join(storage, 'forward.0')).some((f) => f.endsWith('.fwd')), 15_000)
    await waitFor(
      async () => metricValue(await run.metrics(), 'podkit_shipper_storage_chunks', 'forward.0') >= 1,
      10_000,
    )
    await run.proc.stop('SIGTERM')
    // the chunks were on disk, so their offsets were committed: a restart must resend from storage
    await receiver(port, t)
    run = await shipper(dir, port, conf)
    await waitFor(() => t.missing(3000) === 0, 20_000, 'all 3000 lines from the filesystem buffer')
    await waitFor(
      () => readdirSync(join(storage, 'forward.0')).filter((f) => /\.(fwd|chunk)$/.test(f)).length === 0,
      10_000,
    )
  })

  it('a dead output does not stop a live one', async () => {
    const { dir, app, t, port } = await env()
    await receiver(port, t)
    const dead = await freePort()
    const outputs = `
[OUTPUT]
    Name                  forward
    Match                 *
    Host                  fluentd.logging.svc.cluster.local
    Port                  24224
    Require_ack_response  On
    Retry_Limit           no_limits
[OUTPUT]
    Name                  forward
    Alias                 archive
    Match                 nginx.*
    Host                  127.0.0.1
    Port                  ${dead}
    Retry_Limit           no_limits
`
    writeFileSync(join(app, 'access.log'), lines(0, 2000))
    const run = await shipper(dir, port, durableConf(dir, { outputs }))
    await waitFor(() => t.missing(2000) === 0, 20_000, 'the live output got everything')
    const m = await run.metrics()
    expect(metricValue(m, 'podkit_shipper_output_records_total', 'output="forward.0"')).toBe(2000)
    expect(metricValue(m, 'podkit_shipper_output_errors_total', 'output="archive"')).toBeGreaterThan(0)
  })

  it('SIGTERM flushes what waits for the next Flush (the seed flushes every 5 s) and exits 0', async () => {
    const { dir, app, t, port } = await env()
    const r = await receiver(port, t)
    writeFileSync(join(app, 'access.log'), '')
    const run = await startSeedShipper({ root: dir, forwardPort: port })
    cleanup.push(() => run.proc.stop('SIGKILL'))
    appendFileSync(join(app, 'access.log'), lines(0, 200))
    await waitFor(
      async () => metricValue(await run.metrics(), 'podkit_shipper_input_records_total', 'tail.0') === 200,
      10_000,
    )
    expect(r.count).toBe(0)
    const t0 = Date.now()
    expect(await run.proc.stop('SIGTERM')).toBe(0)
    expect(Date.now() - t0).toBeLessThan(4000)
    expect(t.missing(200)).toBe(0)
  })

  it('SIGTERM saves positions: a restart reads on from there, re-reading nothing', async () => {
    const { dir, app, t, port } = await env()
    await receiver(port, t)
    const conf = durableConf(dir)
    const file = join(app, 'access.log')
    writeFileSync(file, lines(0, 3000))
    let run = await shipper(dir, port, conf)
    await waitFor(() => t.missing(3000) === 0, 20_000, 'the first 3000 lines')
    expect(await run.proc.stop('SIGTERM')).toBe(0)
    appendFileSync(file, lines(3000, 4000))
    run = await shipper(dir, port, conf)
    await waitFor(() => t.missing(4000) === 0, 20_000, 'the next 1000 lines after the restart')
    await sleep(500)
    expect(t.duplicates()).toBe(0)
  })

  it('with storage.path a dead output spills to disk and a live one gets everything, beyond Mem_Buf_Limit', async () => {
    const { dir, app, t, port } = await env()
    await receiver(port, t)
    const dead = await freePort()
    const storage = join(dir, 'storage')
    const outputs = `
[OUTPUT]
    Name                  forward
    Match                 *
    Host                  fluentd.logging.svc.cluster.local
    Port                  24224
    Require_ack_response  On
    Retry_Limit           no_limits
[OUTPUT]
    Name                  forward
    Alias                 archive
    Match                 *
    Host                  127.0.0.1
    Port                  ${dead}
    Retry_Limit           no_limits
`
    writeFileSync(join(app, 'access.log'), lines(0, 40_000)) // about 5 MB, five times the limit
    const run = await shipper(
      dir,
      port,
      durableConf(dir, { service: `    storage.path  ${storage}`, input: '    Mem_Buf_Limit 1MB', outputs }),
    )
    await waitFor(() => t.missing(40_000) === 0, 30_000, 'the live output got all 40000 lines')
    const m = await run.metrics()
    expect(metricValue(m, 'podkit_shipper_storage_chunks', 'output="archive"')).toBeGreaterThan(1)
    expect(readdirSync(join(storage, 'archive')).filter((f) => f.endsWith('.fwd')).length).toBeGreaterThan(1)
  })
})

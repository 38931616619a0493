// The engine in-process with our YAML pipeline: a kubelet-named container log, multiline joining,
// the kubernetes, grep, parser and record_modifier filters, and the loki, es and file outputs,
// each delivering against its fake; plus a MULTILINE_PARSER from a classic config.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { createLogger, Registry } from '@podkit/runtime'
import { tempDir, waitFor } from '@podkit/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogShipper, type LogShipper } from '../src/index.ts'
import { startForwardReceiver } from './fakes/forward-receiver.ts'
import { startEsFake, startLokiFake } from './fakes/http-fakes.ts'

const logger = createLogger({ name: 'test', level: 'silent' })
let cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c()
  cleanup = []
})

async function run(shipper: LogShipper) {
  await shipper.start()
  cleanup.push(() => shipper.stop(AbortSignal.timeout(2000)))
}

const POD_FILE = `web-7d9f_shop_nginx-${'a'.repeat(64)}.log`

describe('a YAML pipeline with filters and several outputs', () => {
  it('routes container logs through kubernetes, grep, parser and record_modifier to loki, es and file', async () => {
    const dir = tempDir('shipper-pipe-')
    cleanup.push(() => dir.cleanup())
    const logs = join(dir.path, 'containers')
    mkdirSync(logs)
    const out = join(dir.path, 'out')
    const loki = await startLokiFake()
    const es = await startEsFake()
    cleanup.push(
      () => loki.stop(),
      () => es.stop(),
    )
    writeFileSync(
      join(logs, POD_FILE),
      [
        '{"level":"info","msg":"GET /health"}',
        '{"level":"error","msg":"boom","user":"alice"}',
        'not json at all',
        '{"level":"debug","msg":"noise"}',
        '',
      ].join('\n'),
    )
    const shipper = createLogShipper({
      logger,
      registry: new Registry(),
      env: { NODE_NAME: 'node-3' },
      backoff: { baseMs: 50, capMs: 200 },
      pipeline: {
        service: { flush: '0.2' },
        pipeline: {
          inputs: [{ name: 'tail', path: `${logs}/*.log`, tag: 'kube.*', read_from_head: 'on' }],
          filters: [
            { name: 'grep', match: 'kube.*', exclude: 'log "level":"debug"' },
            { name: 'kubernetes', match: 'kube.*', kube_tag_prefix: `kube${logs.replace(/\//g, '.')}.` },
            { name: 'parser', match: 'kube.*', key_name: 'log', parser: 'json', reserve_data: 'on' },
            { name: 'record_modifier', match: 'kube.*', record: 'cluster prod', remove_key: 'user' },
          ],
          outputs: [
            {
              name: 'loki',
              match: 'kube.*',
              port: loki.port,
              labels: "job=pods, $kubernetes['namespace_name']",
            },
            { name: 'es', match: 'kube.*', port: es.port, index: 'pods' },
            { name: 'file', match: 'kube.*', path: out, file: 'pods.log', mkdir: 'on', format: 'out_file' },
          ],
        },
      },
    })
    await run(shipper)
    await waitFor(
      () => loki.entries.length === 3 && es.docs.length === 3,
      10_000,
      'loki and es got 3 records',
    )
    const kube = {
      pod_name: 'web-7d9f',
      namespace_name: 'shop',
      container_name: 'nginx',
      docker_id: 'a'.repeat(64),
      host: 'node-3',
    }
    expect(es.docs.map((d) => d.doc)).toEqual([
      expect.objectContaining({ level: 'info', msg: 'GET /health', kubernetes: kube, cluster: 'prod' }),
      expect.objectContaining({ level: 'error', msg: 'boom', kubernetes: kube, cluster: 'prod' }),
      expect.objectContaining({ log: 'not json at all', kubernetes: kube, cluster: 'prod' }),
    ])
    expect(es.docs[1]!.doc.user).toBeUndefined()
    expect(loki.entries[0]!.labels).toEqual({ job: 'pods', namespace_name: 'shop' })
    await waitFor(() => readFileSync(join(out, 'pods.log'), 'utf8').split('\n').length > 3, 5000)
    const lines = readFileSync(join(out, 'pods.log'), 'utf8').trim().split('\n')
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/^kube\..*\.log: \[\d+\.\d{9}, \{.*"msg":"GET \/health".*\}\]$/)
  })

  it('joins multiline records with a MULTILINE_PARSER from a classic config', async () => {
    const dir = tempDir('shipper-ml-')
    cleanup.push(() => dir.cleanup())
    const recv = await startForwardReceiver()
    cleanup.push(() => recv.stop())
    writeFileSync(
      join(dir.path, 'fluent-bit.conf'),
      `[SERVICE]
    Flush 0.2
    Parsers_File parsers.conf
[INPUT]
    Name tail
    Path ${dir.path}/app/*.log
    Tag app
    Read_from_Head On
    multiline.parser java_start
[OUTPUT]
    Name forward
    Match app
    Port ${recv.port}
    Require_ack_response On
`,
    )
    writeFileSync(
      join(dir.path, 'parsers.conf'),
      `[MULTILINE_PARSER]
    name          java_start
    type          regex
    flush_timeout 300
    rule          "start_state"  "/^\\d{4}-\\d{2}-\\d{2}/"  "cont"
    rule          "cont"         "/^\\s+at /"               "cont"
`,
    )
    mkdirSync(join(dir.path, 'app'))
    writeFileSync(
      join(dir.path, 'app/a.log'),
      '2026-11-24 10:00:00 ERROR failed\n    at a.B(C.java:1)\n    at d.E(F.java:2)\n2026-11-24 10:00:01 INFO ok\n',
    )
    await run(
      createLogShipper({ logger, registry: new Registry(), pipeline: join(dir.path, 'fluent-bit.conf') }),
    )
    await waitFor(() => recv.events.length === 2, 10_000, 'two joined records')
    expect(recv.events.map((e) => e.record.log)).toEqual([
      '2026-11-24 10:00:00 ERROR failed\n    at a.B(C.java:1)\n    at d.E(F.java:2)',
      '2026-11-24 10:00:01 INFO ok',
    ])
  })

  it('ships long lines whole up to Buffer_Max_Size and truncates longer ones (Skip_Long_Lines Off) to stdout', async () => {
    const dir = tempDir('shipper-long-')
    cleanup.push(() => dir.cleanup())
    const stdout = new PassThrough()
    let text = ''
    stdout.on('data', (d: Buffer) => {
      text += d.toString()
    })
    const long = 'L'.repeat(50_000)
    const tooLong = 'T'.repeat(200_000)
    writeFileSync(join(dir.path, 'a.log'), `${long}\n${tooLong}\nshort\n`)
    await run(
      createLogShipper({
        logger,
        registry: new Registry(),
        stdout,
        pipeline: {
          service: { flush: '0.1' },
          pipeline: {
            inputs: [
              {
                name: 'tail',
                path: `${dir.path}/*.log`,
                tag: 'long',
                read_from_head: 'on',
                buffer_max_size: '64k',
              },
            ],
            outputs: [{ name: 'stdout', match: '*', format: 'json_lines' }],
          },
        },
      }),
    )
    await waitFor(() => text.split('\n').filter(Boolean).length === 3, 10_000, 'three records on stdout')
    const recs = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { date: number; log: string })
    expect(recs[0]!.log).toBe(long)
    expect(recs[1]!.log.length).toBeGreaterThan(0)
    expect(recs[1]!.log.length).toBeLessThanOrEqual(64 * 1024)
    expect(recs[1]!.log).toMatch(/^T+$/)
    expect(recs[2]!.log).toBe('short')
    expect(typeof recs[0]!.date).toBe('number')
  })
})

// log-adapter as the image runs it (node dist/main.js): the seed's format to JSON lines, pod
// metadata, admin endpoints, SIGTERM drain, kill -9 and restart, output rotation under a reader.
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPipeline, TailSource } from '@podkit/log-pipeline'
import {
  freePort,
  imageNode,
  imageNodeArgs,
  imageNodeOptions,
  nodeVersion,
  type ServiceProcess,
  sleep,
  spawnService,
  type TempDir,
  tempDir,
  waitFor,
} from '@podkit/test-utils'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MemorySink } from '../../log-pipeline/test/helpers.ts'

const entry = fileURLToPath(new URL('../dist/main.js', import.meta.url))
// The heap limits the image starts the adapter with (podkit.nodeOptions, repeated in the
// Dockerfile): every process test runs under them, so a limit too tight for a case fails here.
const nodeOptions = imageNodeOptions('log-adapter')
// And the node arguments of its ENTRYPOINT (podkit.nodeArgs): V8's compiler tiers, on the images' Node.
const nodeArgs = imageNodeArgs('log-adapter')

let dir: TempDir
const procs: ServiceProcess[] = []
beforeEach(() => {
  dir = tempDir('podkit-adapter-')
})
afterEach(async () => {
  for (const p of procs.splice(0)) await p.stop('SIGKILL').catch(() => {})
  dir.cleanup()
})

// Process tests run on the Node running the tests; the ones that depend on the runtime (heap
// limits, V8) also run on the images' Node, started as the image starts it (its node arguments too).
const NODES = [process.execPath, imageNode()]

async function startAdapter(env: Record<string, string> = {}, node: string = process.execPath) {
  const port = await freePort()
  const svc = spawnService({
    entry,
    node,
    ...(node === process.execPath ? {} : { nodeArgs }),
    env: {
      ADMIN_PORT: String(port),
      ADMIN_HOST: '127.0.0.1',
      LOG_ADAPTER_INPUT_PATHS: join(dir.path, 'raw/application.log'),
      LOG_ADAPTER_OUTPUT: join(dir.path, 'out/app.json'),
      LOG_ADAPTER_INPUT_POLL_INTERVAL: '20ms',
      LOG_ADAPTER_MULTILINE_TIMEOUT: '200ms',
      LOG_ADAPTER_BATCH_FLUSH_INTERVAL: '20ms',
      POD_NAME: 'app-7d9f-x2k',
      ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
      ...env,
    },
  })
  procs.push(svc)
  await svc.waitForLog((l) => l.msg === 'Ready.', 15_000)
  return { svc, url: `http://127.0.0.1:${port}` }
}

/** The output's whole lines: text after the last newline is a write still in progress. */
const outLines = (file = join(dir.path, 'out/app.json')) => {
  if (!existsSync(file)) return []
  const text = readFileSync(file, 'utf8')
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
}

const readOut = (file?: string) => outLines(file).map((l) => JSON.parse(l) as Record<string, unknown>)

function mk(...parts: string[]) {
  for (const p of parts) mkdirSync(join(dir.path, p), { recursive: true })
}

describe('log-adapter process', () => {
  it('converts the seed format to one JSON object per line, with pod metadata, and drains on SIGTERM', async () => {
    mk('raw', 'out')
    const raw = join(dir.path, 'raw/application.log')
    writeFileSync(
      raw,
      Buffer.concat([
        Buffer.from(
          [
            '2024-01-15 10:30:00.123 INFO User alice logged in',
            '2024-01-15 10:30:01 WARNING Disk usage at 91%',
            '2024-01-15 10:30:02.5 ERROR Request failed',
            'java.lang.IllegalStateException: pool exhausted',
            '\tat com.example.Pool.acquire(Pool.java:42)',
            '\tat com.example.Api.handle(Api.java:7)',
            'this line is not in the format',
            '',
            '2024-01-15 10:30:03 DEBUG unicode ✓ 日本語 "quoted" \\ back\r',
          ].join('\n'),
        ),
        Buffer.from('\n2024-01-15 10:30:04 CRITICAL bad bytes '),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('\n'),
      ]),
    )
    const { svc, url } = await startAdapter({ POD_NAMESPACE: 'shop', NODE_NAME: 'node-3' })
    const meta = { pod: 'app-7d9f-x2k', namespace: 'shop', node: 'node-3' }
    await waitFor(() => readOut().length >= 6, 15_000, 'six records')
    const out = readOut()
    expect(out[0]).toEqual({
      timestamp: '2024-01-15T10:30:00.123Z',
      level: 'info',
      message: 'User alice logged in',
      ...meta,
    })
    expect(out[1]).toEqual({
      timestamp: '2024-01-15T10:30:01.000Z',
      level: 'warn',
      message: 'Disk usage at 91%',
      ...meta,
    })
    expect(out[2]).toEqual({
      timestamp: '2024-01-15T10:30:02.500Z',
      level: 'error',
      message:
        'Request failed\njava.lang.IllegalStateException: pool exhausted\n\tat com.example.Pool.acquire(Pool.java:42)\n\tat com.example.Api.handle(Api.java:7)',
      ...meta,
    })
    expect(out[3]).toMatchObject({ level: 'unknown', message: 'this line is not in the format', ...meta })
    expect(Date.parse(out[3]!.timestamp as string)).toBeGreaterThan(Date.now() - 60_000)
    expect(out[4]).toEqual({
      timestamp: '2024-01-15T10:30:03.000Z',
      level: 'debug',
      message: 'unicode ✓ 日本語 "quoted" \\ back',
      ...meta,
    })
    expect(out[5]).toEqual({
      timestamp: '2024-01-15T10:30:04.000Z',
      level: 'fatal',
      message: 'bad bytes \ufffd\ufffd',
      ...meta,
    })
    expect(out).toHaveLength(6)

    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    expect((await fetch(`${url}/ready`)).status).toBe(200)
    const metrics = await (await fetch(`${url}/metrics`)).text()
    expect(metrics).toMatch(/^podkit_log_lines_in_total 9$/m)
    expect(metrics).toMatch(/^podkit_log_records_out_total\{sink="file"\} 6$/m)
    expect(metrics).toMatch(/^podkit_log_unparsed_total 1$/m)
    expect(metrics).toMatch(/^podkit_log_bytes_read_total \d+$/m)
    expect(metrics).toMatch(/^podkit_log_long_lines_total/m)
    expect(metrics).toMatch(/^podkit_log_lag_bytes/m)

    expect(await svc.stop('SIGTERM')).toBe(0)
    const pos = JSON.parse(readFileSync(join(dir.path, 'out/.log-adapter-positions'), 'utf8'))
    expect(Object.values(pos.files)).toEqual([{ path: raw, offset: statSync(raw).size }])

    // Restart: nothing is converted twice, new lines are.
    appendFileSync(raw, '2024-01-15 10:31:00 INFO after restart\n')
    await startAdapter()
    await waitFor(() => readOut().length >= 7, 15_000, 'the new record')
    await sleep(300)
    expect(readOut()).toHaveLength(7)
    expect(readOut()[6]).toMatchObject({ level: 'info', message: 'after restart', pod: 'app-7d9f-x2k' })
  })

  it('an output left ending inside a line (a run killed mid-write): the line is ended, with a warning, and the batch follows whole', async () => {
    mk('raw', 'out')
    const raw = join(dir.path, 'raw/application.log')
    writeFileSync(raw, '2024-01-15 10:30:00 INFO one\n2024-01-15 10:30:01 INFO two\n')
    // No positions were saved for the cut batch, so it is read and written again.
    const out = join(dir.path, 'out/app.json')
    const fragment = '{"time":"2024-01-15T10:30:00.000Z","lev'
    writeFileSync(out, fragment)
    const { svc } = await startAdapter()
    await svc.waitForLog((l) => l.level === 'warn' && /ended inside a line/.test(String(l.msg)), 15_000)
    await waitFor(() => outLines().length >= 3, 15_000, 'the batch after the fragment')
    const lines = outLines()
    expect(lines[0]).toBe(fragment)
    expect(lines.slice(1).map((l) => JSON.parse(l).message)).toEqual(['one', 'two'])
  })

  for (const node of NODES)
    it(`1 MiB lines and long stack traces under the image heap limits: every record whole, in order (Node ${nodeVersion(node)})`, async () => {
      expect(nodeOptions).toMatch(/--max-old-space-size=\d+/)
      mk('raw', 'out')
      const raw = join(dir.path, 'raw/application.log')
      const big = (i: number) => `${String(i % 10).repeat(1024 * 1024 - 64)}`
      // 998 frames: with its two head lines the record is multiline.maxLines (1000) long.
      const trace = Array.from(
        { length: 998 },
        (_, j) => `    at com.example.Worker.step${j}(Worker.java:${j})`,
      )
      let text = ''
      for (let i = 0; i < 6; i++) {
        text += `2024-01-15 10:30:0${i}.000 ERROR big ${i} ${big(i)}\n`
        text += `2024-01-15 10:30:0${i}.500 ERROR failed ${i}\njava.lang.IllegalStateException: boom ${i}\n${trace.join('\n')}\n`
      }
      text += '2024-01-15 10:30:09.000 INFO done\n'
      writeFileSync(raw, text)
      const { svc } = await startAdapter({}, node)
      await waitFor(() => readOut().length >= 13, 60_000, 'thirteen records')
      const out = readOut()
      expect(out).toHaveLength(13)
      for (let i = 0; i < 6; i++) {
        expect(out[2 * i]!.message).toBe(`big ${i} ${big(i)}`)
        const m = String(out[2 * i + 1]!.message)
        expect(m.split('\n')).toHaveLength(1000)
        expect(m.endsWith(trace[997]!)).toBe(true)
      }
      expect(out[12]!.message).toBe('done')
      expect(svc.child.exitCode).toBeNull()
    })

  it('kill -9 mid-stream and restart: every line is in the output, duplicates bounded by the batch in flight', async () => {
    mk('raw', 'out')
    const raw = join(dir.path, 'raw/application.log')
    writeFileSync(raw, '')
    const total = 30_000
    let written = 0
    const writeSome = (n: number) => {
      let s = ''
      for (let i = 0; i < n && written < total; i++, written++)
        s += `2024-01-15 10:30:00.000 INFO line ${written}\n`
      appendFileSync(raw, s)
    }
    const env = { LOG_ADAPTER_BATCH_SIZE: '200' }
    const first = await startAdapter(env)
    while (readOut().length < 8000) {
      writeSome(500)
      await sleep(5)
    }
    first.svc.child.kill('SIGKILL')
    await first.svc.exited
    const beforeRestart = outLines().length
    writeSome(5000)
    await startAdapter(env)
    while (written < total) {
      writeSome(1000)
      await sleep(5)
    }
    // kill -9 can cut a multi-page write: the restarted adapter ends the fragment's line and
    // writes that batch again, so the only line that is not JSON is the fragment of a record
    // that follows whole.
    const records = () => {
      const lines = outLines()
      const whole: Record<string, unknown>[] = []
      const fragments: string[] = []
      for (const l of lines) {
        try {
          whole.push(JSON.parse(l) as Record<string, unknown>)
        } catch {
          fragments.push(l)
        }
      }
      return { lines, whole, fragments }
    }
    await waitFor(() => new Set(records().whole.map((r) => r.message)).size >= total, 30_000, 'all lines')
    await sleep(300)
    const { lines, whole, fragments } = records()
    expect(fragments.length).toBeLessThanOrEqual(1)
    for (const f of fragments)
      expect(
        lines.some((l) => l !== f && l.startsWith(f)),
        f,
      ).toBe(true)
    const messages = whole.map((r) => r.message as string)
    const counts = new Map<string, number>()
    for (const m of messages) counts.set(m, (counts.get(m) ?? 0) + 1)
    for (let i = 0; i < total; i++) expect(counts.get(`line ${i}`), `line ${i}`).toBeGreaterThanOrEqual(1)
    const duplicates = messages.length - total
    // At most the batch that was being written when the process died: batch.size records, plus
    // the rest of the 16 KiB read that filled it (batches end on read boundaries).
    const lineBytes = '2024-01-15 10:30:00.000 INFO line 0000\n'.length
    expect(duplicates).toBeLessThanOrEqual(200 + Math.ceil((16 * 1024) / lineBytes))
    expect(beforeRestart).toBeGreaterThanOrEqual(8000)
  }, 90_000)

  it('rotates the output by size; a reader following it by inode sees every record once', async () => {
    mk('raw', 'out')
    const raw = join(dir.path, 'raw/application.log')
    writeFileSync(raw, '')
    // A reader that falls more than maxFiles rotations behind loses the oldest file (the bound
    // on disk use): 5 files of 64 KiB leave a loaded test machine enough slack.
    const maxSize = 64 * 1024
    const { url } = await startAdapter({
      LOG_ADAPTER_OUTPUT_MAX_SIZE: String(maxSize),
      LOG_ADAPTER_OUTPUT_MAX_FILES: '5',
    })
    // The concurrent reader: the log-shipper's tail source on the adapter's output, matching the
    // rotated names too, so a file that rotated before the reader opened it is still read.
    const sink = new MemorySink()
    const reader = createPipeline({
      source: new TailSource({
        path: join(dir.path, 'out/app.json*'),
        readFromHead: true,
        pollInterval: 10,
        rotateWait: 3000,
        refreshInterval: 100,
      }),
      sink,
      parser: { name: 'json', parse: (l) => ({ record: JSON.parse(l) }) },
      flushInterval: 10,
    })
    await reader.start()
    try {
      const total = 4000
      let maxOnDisk = 0
      for (let i = 0; i < total; i += 100) {
        let s = ''
        for (let j = i; j < i + 100; j++) s += `2024-01-15 10:30:00 INFO record ${j} ${'p'.repeat(40)}\n`
        appendFileSync(raw, s)
        await sleep(10)
        // A file listed here may be renamed or removed by a rotation before it is measured.
        const onDisk = readdirSync(join(dir.path, 'out'))
          .filter((f) => f.startsWith('app.json'))
          .reduce((a, f) => a + (statSync(join(dir.path, 'out', f), { throwIfNoEntry: false })?.size ?? 0), 0)
        maxOnDisk = Math.max(maxOnDisk, onDisk)
      }
      await waitFor(() => sink.events.length >= total, 30_000, 'the reader to see every record')
      await sleep(300)
      const seen = sink.events.map((e) => e.record.message as string)
      expect(seen).toHaveLength(total)
      expect(new Set(seen).size).toBe(total)
      expect(maxOnDisk).toBeLessThanOrEqual(maxSize * 6)
      expect(
        readdirSync(join(dir.path, 'out'))
          .filter((f) => f.startsWith('app.json'))
          .sort(),
      ).toEqual(['app.json', 'app.json.1', 'app.json.2', 'app.json.3', 'app.json.4', 'app.json.5'])
      const metrics = await (await fetch(`${url}/metrics`)).text()
      expect(Number(/^podkit_log_adapter_output_rotations_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(
        5,
      )
    } finally {
      await reader.stop()
    }
  }, 60_000)

  it('writes to stdout with a custom regex format, custom field names and a zone', async () => {
    mk('raw')
    writeFileSync(
      join(dir.path, 'raw/application.log'),
      '[15/Jan/2024:10:30:00 +0000] W pay-svc card declined\nno match here\n[15/Jan/2024:10:30:01 +0000] E pay-svc boom\n\tat x.y(Z.java:1)\n',
    )
    const { svc } = await startAdapter({
      LOG_ADAPTER_OUTPUT: '-',
      LOG_ADAPTER_FORMAT: 'regex',
      LOG_ADAPTER_FORMAT_REGEX: '^\\[(?<time>[^\\]]+)\\] (?<level>\\w) (?<svc>\\S+) (?<msg>.*)$',
      LOG_ADAPTER_FORMAT_TIME_FORMAT: '%d/%b/%Y:%H:%M:%S %z',
      LOG_ADAPTER_TIMEZONE: '+02:00',
      LOG_ADAPTER_FIELDS_MESSAGE: 'msg',
      LOG_ADAPTER_FIELDS_POD: 'k8s_pod',
    })
    const records = () => svc.logs.filter((l) => 'k8s_pod' in l)
    await waitFor(() => records().length >= 3, 15_000, 'three records on stdout')
    expect(records()).toEqual([
      {
        timestamp: '2024-01-15T12:30:00.000+02:00',
        level: 'warn',
        msg: 'card declined',
        svc: 'pay-svc',
        k8s_pod: 'app-7d9f-x2k',
      },
      expect.objectContaining({ level: 'unknown', msg: 'no match here', k8s_pod: 'app-7d9f-x2k' }),
      {
        timestamp: '2024-01-15T12:30:01.000+02:00',
        level: 'error',
        msg: 'boom\n\tat x.y(Z.java:1)',
        svc: 'pay-svc',
        k8s_pod: 'app-7d9f-x2k',
      },
    ])
  })

  it('rejects an unknown config key and a bad value, naming them', async () => {
    const cfg = join(dir.path, 'adapter.yaml')
    writeFileSync(cfg, 'input:\n  pathz: /x.log\noutput:\n  maxSize: lots\n')
    const svc = spawnService({ entry, args: ['--config', cfg, '--check-config'] })
    expect(await svc.exited).toBe(2)
    expect(svc.stderr()).toMatch(/input\.pathz: expected a known key/)
    expect(svc.stderr()).toMatch(/output\.maxSize: expected a size/)
    const ok = spawnService({ entry, args: ['--check-config'], env: { POD_NAME: 'p' } })
    expect(await ok.exited).toBe(0)
  })

  it('exits with a clear error when the output directory is not writable', async () => {
    const port = await freePort()
    const svc = spawnService({
      entry,
      env: { ADMIN_PORT: String(port), LOG_ADAPTER_OUTPUT: join(dir.path, 'missing/dir/app.json') },
    })
    expect(await svc.exited).toBe(1)
    expect(JSON.stringify(svc.logs)).toMatch(/PODKIT_LOG_ADAPTER_OUTPUT|output\.path: cannot write/)
  })
})

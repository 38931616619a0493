// The tail source and pipeline against real files: line edge cases, rotation while a writer
// appends, acknowledgement-gated positions, restarts and backpressure.
import {
  appendFileSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { Registry } from '@podkit/runtime'
import { sleep, type TempDir, tempDir, waitFor } from '@podkit/test-utils'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  createPipeline,
  createPipelineMetrics,
  type Pipeline,
  type TailOptions,
  TailSource,
} from '../src/index.ts'
import { MemorySink } from './helpers.ts'

let dir: TempDir
const running: Pipeline[] = []
beforeEach(() => {
  dir = tempDir('podkit-tail-')
})
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop().catch(() => {})
  dir.cleanup()
})

function start(opts: Partial<TailOptions> & { sink?: MemorySink; registry?: Registry } = {}) {
  const sink = opts.sink ?? new MemorySink()
  const registry = opts.registry ?? new Registry()
  const metrics = createPipelineMetrics(registry)
  const source = new TailSource({
    path: join(dir.path, '*.log'),
    readFromHead: true,
    pollInterval: 20,
    refreshInterval: 200,
    flushTimeout: 150,
    rotateWait: 300,
    positionsFile: join(dir.path, 'positions.json'),
    ...opts,
    metrics,
  })
  const pipeline = createPipeline({ source, sink, flushInterval: 20, batchSize: 100, metrics })
  running.push(pipeline)
  return { sink, source, pipeline, registry, ready: pipeline.start() }
}

const metric = async (registry: Registry, name: string) => {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name)
  return (m?.values ?? []).reduce((a, v) => a + Number(v.value), 0)
}

describe('lines', () => {
  it('unicode, invalid UTF-8, CRLF, empty lines and a last line without newline', async () => {
    const f = join(dir.path, 'app.log')
    writeFileSync(
      f,
      Buffer.concat([
        Buffer.from('héllo wörld 日本語 🎉\r\n\n\n'),
        Buffer.from([0x62, 0x61, 0x64, 0x20, 0xff, 0xfe, 0xc3, 0x0a]), // "bad " + invalid bytes
        Buffer.from('crlf line\r\nno newline yet'),
      ]),
    )
    const { sink, ready } = start()
    await ready
    await waitFor(() => sink.events.length >= 4, 10_000, 'four lines')
    expect(sink.lines()).toEqual([
      'héllo wörld 日本語 🎉',
      'bad \ufffd\ufffd\ufffd',
      'crlf line',
      'no newline yet',
    ])
  })

  it('lines split across reads (short, longer than a read, multi-byte characters at the boundary, CRLF) arrive whole', async () => {
    const expected: string[] = []
    let text = ''
    for (let i = 0; i < 400; i++) {
      // Lengths from 1 byte to ~9 KiB: partial lines held in the read buffer and longer ones carried.
      const len = (i * 997) % 9000
      const line = `${i} ${'é日'.repeat(len % 7)}${'x'.repeat(len)}`
      expected.push(line)
      text += i % 3 === 0 ? `${line}\r\n` : `${line}\n`
    }
    writeFileSync(join(dir.path, 'split.log'), text)
    const { sink, ready } = start({ bufferChunkSize: 4096, bufferMaxSize: 64 * 1024 })
    await ready
    await waitFor(() => sink.events.length >= expected.length, 10_000, 'every line')
    expect(sink.lines()).toEqual(expected)
  })

  it('a 1 MiB line is kept whole under a larger limit, truncated under a smaller one, and the file goes on', async () => {
    const big = 'x'.repeat(1024 * 1024)
    writeFileSync(join(dir.path, 'a.log'), `before\n${big}\nafter\n`)
    const { sink, ready } = start({ bufferMaxSize: 2 * 1024 * 1024, bufferChunkSize: 64 * 1024 })
    await ready
    await waitFor(() => sink.events.length >= 3, 10_000, 'three lines')
    expect(sink.lines().map((l) => l.length)).toEqual([6, big.length, 5])
  })

  it('over-long lines are truncated (default) or skipped, counted, and the rest of the file is read', async () => {
    const long = 'y'.repeat(100_000)
    writeFileSync(join(dir.path, 'a.log'), `one\n${long}\ntwo\n${long}${long}\nthree\n`)
    const t = start({ bufferMaxSize: 1000, bufferChunkSize: 4096 })
    await t.ready
    await waitFor(() => t.sink.events.length >= 5, 10_000, 'five lines')
    expect(t.sink.lines()).toEqual(['one', 'y'.repeat(1000), 'two', 'y'.repeat(1000), 'three'])
    expect(await metric(t.registry, 'podkit_log_long_lines_total')).toBe(2)
    await t.pipeline.stop()

    const d2 = tempDir('podkit-tail-skip-')
    try {
      writeFileSync(join(d2.path, 'b.log'), `one\n${long}\ntwo\n${long}\nthree\n`)
      const s = start({
        path: join(d2.path, '*.log'),
        positionsFile: undefined,
        bufferMaxSize: 1000,
        skipLongLines: true,
      })
      await s.ready
      await waitFor(() => s.sink.events.length >= 3, 10_000, 'three lines')
      await sleep(200)
      expect(s.sink.lines()).toEqual(['one', 'two', 'three'])
      expect(await metric(s.registry, 'podkit_log_long_lines_total')).toBe(2)
    } finally {
      d2.cleanup()
    }
  })
})

describe('discovery', () => {
  it('tags with the path, picks up new files, honours exclude and readFromHead=false', async () => {
    writeFileSync(join(dir.path, 'old.log'), 'old line\n')
    writeFileSync(join(dir.path, 'skip.log'), 'skipped\n')
    const { sink, ready } = start({ readFromHead: false, tag: 'app.*', exclude: 'skip.log', watch: true })
    await ready
    appendFileSync(join(dir.path, 'old.log'), 'appended\n')
    writeFileSync(join(dir.path, 'new.log'), 'new file line\n')
    await waitFor(() => sink.events.length >= 2, 10_000, 'two lines')
    await sleep(300)
    const byLine = Object.fromEntries(sink.events.map((e) => [e.record.log, e.tag]))
    const dotted = dir.path.replace(/^\//, '').replaceAll('/', '.')
    expect(byLine).toEqual({ appended: `app.${dotted}.old.log`, 'new file line': `app.${dotted}.new.log` })
  })

  it('the directory watch finds a new file and a new subdirectory long before the refresh (chokidar replaced)', async () => {
    const { sink, ready } = start({ path: join(dir.path, '**/*.log'), refreshInterval: 60_000, watch: true })
    await ready
    writeFileSync(join(dir.path, 'top.log'), 'top\n')
    await waitFor(() => sink.events.length >= 1, 5000, 'the new top-level file')
    mkdirSync(join(dir.path, 'sub'))
    await sleep(100) // the subdirectory is watched once a scan has walked it
    writeFileSync(join(dir.path, 'sub', 'deep.log'), 'deep\n')
    await waitFor(() => sink.events.length >= 2, 5000, 'the file in the new subdirectory')
    expect(sink.lines().sort()).toEqual(['deep', 'top'])
  })

  it('without the watch, a new file waits for the refresh', async () => {
    const { sink, ready } = start({ refreshInterval: 60_000, watch: false })
    await ready
    writeFileSync(join(dir.path, 'late.log'), 'late\n')
    await sleep(600)
    expect(sink.events).toHaveLength(0)
  })
})

describe('rotation while a writer appends', () => {
  it('rename: the old file is finished, the new one followed; every line exactly once', async () => {
    const f = join(dir.path, 'app.log')
    writeFileSync(f, '')
    const { sink, ready } = start({ path: f })
    await ready
    let n = 0
    for (let round = 0; round < 5; round++) {
      for (let b = 0; b < 10; b++) {
        let chunk = ''
        for (let i = 0; i < 100; i++) chunk += `line ${n++}\n`
        appendFileSync(f, chunk)
        await sleep(5)
      }
      // logrotate's default: rename, then the app reopens a fresh file
      renameSync(f, `${f}.1`)
      appendFileSync(`${f}.1`, `line ${n++}\n`) // the app writes once more to its old descriptor
      writeFileSync(f, '')
    }
    await waitFor(() => sink.events.length >= n, 20_000, `${n} lines`)
    await sleep(300)
    const got = sink.lines()
    expect(got).toHaveLength(n)
    expect(new Set(got).size).toBe(n)
  })

  it('copytruncate: a shrunk file is read again from the start; every line exactly once', async () => {
    const f = join(dir.path, 'app.log')
    writeFileSync(f, '')
    const { sink, source, ready, registry } = start({ path: f })
    await ready
    let n = 0
    for (let round = 0; round < 5; round++) {
      for (let b = 0; b < 5; b++) {
        let chunk = ''
        for (let i = 0; i < 100; i++) chunk += `line ${n++}\n`
        appendFileSync(f, chunk)
        await sleep(5)
      }
      // logrotate copytruncate: copy, then truncate in place once the tailer has read what is there
      const size = statSync(f).size
      await waitFor(() => source.files()[0]?.readOffset === size, 10_000, 'reader caught up')
      writeFileSync(`${f}.1`, readFileSync(f))
      truncateSync(f, 0)
      await waitFor(() => source.files()[0]?.readOffset === 0, 10_000, 'truncation seen')
    }
    await waitFor(() => sink.events.length >= n, 20_000, `${n} lines`)
    const got = sink.lines()
    expect(got).toHaveLength(n)
    expect(new Set(got).size).toBe(n)
    expect(await metric(registry, 'podkit_log_rotations_total')).toBe(5)
  })
})

describe('acknowledgements and positions', () => {
  it('a position saved under another device number is taken up for the same inode and path, kept for a file left alone', async () => {
    const a = join(dir.path, 'a.log')
    const old = join(dir.path, 'old.log')
    writeFileSync(a, 'a1\na2\na3\n')
    writeFileSync(old, 'o1\n')
    const past = new Date(Date.now() - 3_600_000)
    utimesSync(old, past, past)
    const ino = (p: string) => statSync(p).ino
    const posFile = join(dir.path, 'positions.json')
    // As a pod left it before its volume came back under device 999999.
    writeFileSync(
      posFile,
      JSON.stringify({
        version: 1,
        files: {
          [`999999:${ino(a)}`]: { path: a, offset: 3 },
          [`${statSync(old).dev}:${ino(old)}`]: { path: old, offset: 1 },
        },
      }),
    )
    const t = start({ positionsInterval: 30, ignoreOlder: 60_000 })
    await t.ready
    await waitFor(() => t.sink.events.length >= 2, 10_000, 'a2 and a3')
    await t.pipeline.stop()
    expect(t.sink.lines()).toEqual(['a2', 'a3'])
    // old.log was not followed (Ignore_Older) but its position stays for when it is written again.
    const files = JSON.parse(readFileSync(posFile, 'utf8')).files as Record<
      string,
      { path: string; offset: number }
    >
    expect(Object.values(files).sort((x, y) => x.path.localeCompare(y.path))).toEqual([
      { path: a, offset: 9 },
      { path: old, offset: 1 },
    ])
    expect(Object.keys(files)).not.toContain(`999999:${ino(a)}`)
  })

  it('the saved offset moves only after the sink acknowledged, and a restart resumes there', async () => {
    const f = join(dir.path, 'app.log')
    writeFileSync(f, 'a\nb\nc\n')
    const sink = new MemorySink()
    let open!: () => void
    sink.gate = new Promise((r) => {
      open = r
    })
    const posFile = join(dir.path, 'positions.json')
    const t = start({ sink, positionsInterval: 30 })
    await t.ready
    await waitFor(() => sink.writes >= 1, 10_000, 'a write')
    await sleep(150)
    const pos = () =>
      Object.values(JSON.parse(readFileSync(posFile, 'utf8')).files as Record<string, { offset: number }>)
    expect(pos()[0]?.offset).toBe(0)
    open()
    await waitFor(() => pos()[0]?.offset === 6, 10_000, 'offset 6')
    await t.pipeline.stop()

    appendFileSync(f, 'd\ne\n')
    const again = start()
    await again.ready
    await waitFor(() => again.sink.events.length >= 2, 10_000, 'two new lines')
    await sleep(200)
    expect(again.sink.lines()).toEqual(['d', 'e'])
  })

  it('a record waiting for continuation lines holds back only its own offset', async () => {
    const f = join(dir.path, 'app.log')
    writeFileSync(f, 'first record\nsecond record\n')
    const sink = new MemorySink()
    const source = new TailSource({
      path: f,
      readFromHead: true,
      pollInterval: 20,
      positionsFile: join(dir.path, 'p.json'),
      positionsInterval: 0,
    })
    const pipeline = createPipeline({
      source,
      sink,
      multiline: { mode: 'java', flushTimeout: 60_000 },
      flushInterval: 20,
    })
    running.push(pipeline)
    await pipeline.start()
    await waitFor(() => sink.events.length === 1, 10_000, 'the first record')
    const offset = () =>
      Object.values(
        JSON.parse(readFileSync(join(dir.path, 'p.json'), 'utf8')).files as Record<
          string,
          { offset: number }
        >,
      )[0]?.offset
    // `second record` may still get a stack trace: its line is not committed, the first one is.
    await waitFor(() => offset() === 'first record\n'.length, 10_000, 'offset after the first line')
    appendFileSync(f, '\tat frame(X.java:1)\nthird\n')
    await waitFor(() => sink.events.length === 2, 10_000, 'the second record')
    expect(sink.lines()).toEqual(['first record', 'second record\n\tat frame(X.java:1)'])
    await waitFor(
      () => offset() === 'first record\nsecond record\n\tat frame(X.java:1)\n'.length,
      10_000,
      'offset before third',
    )
  })

  it('failed writes are retried; nothing is skipped', async () => {
    writeFileSync(join(dir.path, 'app.log'), 'one\ntwo\n')
    const sink = new MemorySink()
    sink.failures = 2
    const t = start({ sink })
    await t.ready
    await waitFor(() => sink.events.length >= 2, 10_000, 'two lines after retries')
    expect(sink.writes).toBeGreaterThanOrEqual(3)
    expect(sink.lines()).toEqual(['one', 'two'])
    expect(await metric(t.registry, 'podkit_log_sink_errors_total')).toBe(2)
  })

  it('a slow sink pauses reading within the memory limit and loses nothing', async () => {
    const lines = 20_000
    let text = ''
    for (let i = 0; i < lines; i++) text += `line number ${i} with some padding to make it longer\n`
    writeFileSync(join(dir.path, 'big.log'), text)
    const sink = new MemorySink()
    sink.delayMs = 5
    const limit = 64 * 1024
    const t = start({ sink, memBufLimit: limit, bufferChunkSize: 16 * 1024 })
    let maxBuffered = 0
    const probe = setInterval(() => {
      maxBuffered = Math.max(maxBuffered, t.source.bufferedBytes())
    }, 1)
    await t.ready
    await waitFor(() => sink.events.length >= lines, 60_000, 'all lines')
    clearInterval(probe)
    expect(sink.lines()).toHaveLength(lines)
    expect(sink.lines()[lines - 1]).toBe(`line number ${lines - 1} with some padding to make it longer`)
    // One read may overshoot the limit before reading pauses.
    expect(maxBuffered).toBeLessThanOrEqual(limit + 16 * 1024)
    expect(maxBuffered).toBeGreaterThan(0)
  })
})

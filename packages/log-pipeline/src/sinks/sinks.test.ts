import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { tempDir } from '@podkit/test-utils'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { LogEvent } from '../event.ts'
import { LineBuffer } from '../line-buffer.ts'
import { FileSink } from './file.ts'
import { StdoutSink } from './stdout.ts'

const dir = tempDir('podkit-sink-')
afterAll(() => dir.cleanup())
afterEach(() => {
  for (const f of readdirSync(dir.path)) rmSync(join(dir.path, f))
})

const events = (from: number, n: number): LogEvent[] =>
  Array.from({ length: n }, (_, i) => ({ tag: 't', time: 0, record: { n: from + i, text: 'é'.repeat(10) } }))

describe('FileSink', () => {
  it('rotates before a file would pass maxSize and keeps maxFiles rotated files', async () => {
    const path = join(dir.path, 'out.json')
    let rotations = 0
    const sink = new FileSink({ path, maxSize: 1000, maxFiles: 2, onRotate: () => rotations++ })
    await sink.start()
    for (let i = 0; i < 100; i += 10) await sink.write(events(i, 10))
    await sink.stop()
    const files = readdirSync(dir.path).sort()
    expect(files).toEqual(['out.json', 'out.json.1', 'out.json.2'])
    for (const f of files) expect(statSync(join(dir.path, f)).size).toBeLessThanOrEqual(1000)
    // The newest records are in out.json, older ones in .1 and .2, each line whole JSON.
    const read = (f: string) =>
      readFileSync(join(dir.path, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { n: number }).n)
    const all = [...read('out.json.2'), ...read('out.json.1'), ...read('out.json')]
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => 100 - all.length + i))
    expect(rotations).toBeGreaterThan(2)
  })

  it('writeLines (encoded batches) rotates at the same line boundaries as write()', async () => {
    const viaEvents = join(dir.path, 'events.json')
    const viaBytes = join(dir.path, 'bytes.json')
    const a = new FileSink({ path: viaEvents, maxSize: 1000, maxFiles: 3 })
    const b = new FileSink({ path: viaBytes, maxSize: 1000, maxFiles: 3 })
    for (let i = 0; i < 60; i += 20) {
      const batch = events(i, 20)
      await a.write(batch)
      const out = new LineBuffer(16) // tiny, so it has to grow
      for (const e of batch) {
        out.write(JSON.stringify(e.record))
        out.endLine()
      }
      expect(out.lines).toBe(20)
      await b.writeLines(out.bytes())
    }
    await a.stop()
    await b.stop()
    const files = readdirSync(dir.path).sort()
    expect(files).toEqual([
      'bytes.json',
      'bytes.json.1',
      'bytes.json.2',
      'events.json',
      'events.json.1',
      'events.json.2',
    ])
    for (const suffix of ['', '.1', '.2']) {
      const x = readFileSync(viaEvents + suffix, 'utf8')
      expect(readFileSync(viaBytes + suffix, 'utf8')).toBe(x)
      expect(Buffer.byteLength(x)).toBeLessThanOrEqual(1000)
    }
  })

  it('writeLines puts a line longer than maxSize alone in its own file', async () => {
    const path = join(dir.path, 'long.json')
    const sink = new FileSink({ path, maxSize: 100, maxFiles: 5 })
    await sink.writeLines(Buffer.from(`short\n${'x'.repeat(300)}\nafter\n`))
    await sink.stop()
    expect(readFileSync(`${path}.2`, 'utf8')).toBe('short\n')
    expect(readFileSync(`${path}.1`, 'utf8')).toBe(`${'x'.repeat(300)}\n`)
    expect(readFileSync(path, 'utf8')).toBe('after\n')
  })

  it('appends to an existing file and counts its size', async () => {
    const path = join(dir.path, 'a.json')
    const s1 = new FileSink({ path, maxSize: 0 })
    await s1.write(events(0, 2))
    await s1.stop()
    const s2 = new FileSink({ path, maxSize: 0, serialize: (e) => `custom ${e.record.n}` })
    await s2.write(events(2, 1))
    await s2.stop()
    expect(readFileSync(path, 'utf8').split('\n').filter(Boolean)).toHaveLength(3)
    expect(readFileSync(path, 'utf8')).toMatch(/custom 2\n$/)
  })

  it('ends a line torn by a killed writer before appending, without shrinking the file', async () => {
    const path = join(dir.path, 'torn.json')
    // What kill -9 in the middle of a multi-page write leaves: whole lines, then a fragment.
    writeFileSync(path, '{"n":0}\n{"n":1}\n{"n":2,"te')
    const before = statSync(path).size
    let torn = 0
    const sink = new FileSink({ path, maxSize: 0, onTornLine: () => torn++ })
    await sink.start()
    await sink.writeLines(Buffer.from('{"n":2,"text":"again"}\n'))
    await sink.write(events(3, 1))
    await sink.stop()
    const text = readFileSync(path, 'utf8')
    expect(text.startsWith('{"n":0}\n{"n":1}\n{"n":2,"te\n')).toBe(true)
    expect(text.length).toBeGreaterThan(before)
    const lines = text.split('\n').filter(Boolean)
    expect(lines).toHaveLength(5)
    expect(JSON.parse(lines[3]!)).toEqual({ n: 2, text: 'again' })
    expect(JSON.parse(lines[4]!)).toMatchObject({ n: 3 })
    expect(torn).toBe(1)
    // A file that ends on a newline is left as it is.
    const again = new FileSink({ path, maxSize: 0, onTornLine: () => torn++ })
    await again.start()
    await again.stop()
    expect(readFileSync(path, 'utf8')).toBe(text)
    expect(torn).toBe(1)
  })

  it('reports a path it cannot open as a retryable write error', async () => {
    const sink = new FileSink({ path: join(dir.path, 'missing/dir/x.json') })
    await expect(sink.write(events(0, 1))).rejects.toMatchObject({
      code: 'PODKIT_LOG_SINK_WRITE',
      retryable: true,
    })
  })
})

describe('StdoutSink', () => {
  it('writes one JSON line per event and resolves once the stream took them', async () => {
    const stream = new PassThrough()
    let text = ''
    stream.on('data', (d: Buffer) => {
      text += d.toString()
    })
    await new StdoutSink({ stream }).write(events(0, 2))
    expect(
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).n),
    ).toEqual([0, 1])
  })
})

import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { tempDir } from '@podkit/test-utils'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { LogEvent } from '../event.ts'
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

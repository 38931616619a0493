import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '@podkit/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { StorageError } from './errors.ts'
import { ChunkStore } from './storage.ts'

const dirs: Array<{ cleanup(): void }> = []
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup()
})

function store(memoryLimit = 1 << 20) {
  const d = tempDir('shipper-store-')
  dirs.push(d)
  return { root: d.path, s: new ChunkStore(d.path, 'es.0', { sync: true, memoryLimit }) }
}

describe('filesystem buffer', () => {
  it('keeps records and encoded parts across a restart, oldest first, and forgets removed ones', async () => {
    const { root, s } = store()
    await s.load()
    const events = [{ tag: 'a', time: 1_700_000_000_123.5, record: { msg: 'x', n: 1, nested: { ok: true } } }]
    const first = await s.save({ events })
    const second = await s.save({ parts: [{ tag: 'b', entries: Buffer.from([0x92, 0x01, 0x80]), count: 1 }] })
    const third = await s.save({ events })
    await s.remove(third.file)
    const again = new ChunkStore(root, 'es.0', { sync: true, memoryLimit: 1 << 20 })
    const loaded = await again.load()
    expect(loaded.map((c) => c.file)).toEqual([first.file, second.file])
    expect(loaded.map((c) => c.records)).toEqual([1, 1])
    const back = await again.read(first.file)
    expect(back.events![0]!.record).toEqual(events[0]!.record)
    expect(back.events![0]!.time).toBeCloseTo(events[0]!.time, 3)
    expect((await again.read(second.file)).parts).toEqual([
      { tag: 'b', entries: Buffer.from([0x92, 0x01, 0x80]), count: 1 },
    ])
    // new chunks number after the old ones
    const next = await again.save({ events })
    expect(next.file > second.file).toBe(true)
  })

  it('says when memory is full so the queue keeps only the file', async () => {
    const { s } = store(10)
    await s.load()
    const r = await s.save({ events: [{ tag: 'a', time: 1, record: { msg: 'more than ten bytes' } }] })
    expect(r.keepInMemory).toBe(false)
  })

  it('reports a damaged chunk as not retryable, naming the file', async () => {
    const { root, s } = store()
    await s.load()
    const { file } = await s.save({ events: [{ tag: 'a', time: 1, record: {} }] })
    writeFileSync(file, Buffer.from([0x93, 0xa1]))
    const err = (await s.read(file).catch((e) => e)) as StorageError & { retryable: boolean }
    expect(err).toBeInstanceOf(StorageError)
    expect(err.message).toContain(file)
    expect(err.retryable).toBe(false)
    expect(readdirSync(join(root, 'es.0')).length).toBe(1)
  })
})

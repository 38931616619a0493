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
  it('removes chunk files a crash left before their rename (.tmp) when it loads', async () => {
    const { root, s } = store()
    await s.load()
    const kept = await s.save({ events: [{ tag: 'a', time: 1, record: { msg: 'x' } }] })
    const dir = join(root, 'es.0')
    writeFileSync(join(dir, '000000000099-3.chunk.tmp'), 'torn')
    writeFileSync(join(dir, '000000000100-1.fwd.tmp'), '')
    const loaded = await new ChunkStore(root, 'es.0', { sync: true, memoryLimit: 1 << 20 }).load()
    expect(loaded.map((c) => c.file)).toEqual([kept.file])
    expect(readdirSync(dir)).toEqual([kept.file.slice(dir.length + 1)])
  })

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

describe('storage.total_limit_size', () => {
  it('drops the oldest chunks not in flight when the buffer passes the limit, counting them', async () => {
    const { DeliveryQueue } = await import('./delivery-queue.ts')
    const { createShipperMetrics } = await import('./metrics.ts')
    const { createLogger, Registry } = await import('@podkit/runtime')
    const d = tempDir('shipper-limit-')
    dirs.push(d)
    const registry = new Registry()
    const store = new ChunkStore(d.path, 'dead.0', { sync: false, memoryLimit: 0, totalLimit: 2000 })
    let calls = 0
    const q = new DeliveryQueue({
      sink: {
        name: 'dead.0',
        async write() {
          calls++
          throw new Error('down')
        },
      },
      logger: createLogger({ name: 't', level: 'silent' }),
      metrics: createShipperMetrics(registry),
      retryLimit: Number.POSITIVE_INFINITY,
      backoff: { baseMs: 10_000, capMs: 10_000 },
      chunkBytes: 1,
      flushMs: 10,
      store,
    })
    await q.start()
    let released = 0
    for (let i = 0; i < 20; i++) {
      q.add([{ tag: 't', time: i, record: { msg: 'x'.repeat(400), i } }], 500, () => released++)
      await new Promise((r) => setTimeout(r, 5))
    }
    await new Promise((r) => setTimeout(r, 100))
    expect(released).toBe(20)
    expect(store.diskBytes).toBeLessThanOrEqual(2000 + 600)
    expect(readdirSync(join(d.path, 'dead.0')).length).toBeLessThan(20)
    expect(await registry.metrics()).toMatch(
      /podkit_shipper_output_dropped_records_total\{output="dead.0",reason="storage_full"\} \d+/,
    )
    expect(calls).toBeGreaterThan(0)
    await q.stop()
  })
})

// The filesystem buffer (Fluent Bit's storage.path): each output keeps its undelivered chunks as
// files of msgpack [tag, EventTime, record] entries, written to a temp name, fsync'd and renamed,
// so an aggregator outage longer than memory allows survives a restart. Only a bounded number of
// bytes stays in memory; the rest is read back from disk when its turn comes.

import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { LogEvent } from '@podkit/log-pipeline'
import { StorageError } from './errors.ts'
import { decodeOne, EventTime, MsgpackWriter } from './msgpack.ts'
import type { EncodedPart } from './sinks/forward/forward.ts'

/** What a chunk holds: records, or entries already encoded per tag for the forward output. */
export interface ChunkPayload {
  events?: LogEvent[]
  parts?: EncodedPart[]
}

export interface StoredChunk {
  file: string
  records: number
  bytes: number
}

export class ChunkStore {
  readonly dir: string
  private seq = 0
  private inMemory = 0
  /** Bytes of chunk files on disk, for storage.total_limit_size. */
  diskBytes = 0
  private readonly diskSizes = new Map<string, number>()
  private readonly writer = new MsgpackWriter(256 * 1024)

  constructor(
    root: string,
    output: string,
    private readonly opts: { sync: boolean; memoryLimit: number; totalLimit?: number },
  ) {
    this.dir = join(root, output.replace(/[^\w.-]/g, '_'))
  }

  /** Chunks left by an earlier run, oldest first. */
  async load(): Promise<StoredChunk[]> {
    try {
      await mkdir(this.dir, { recursive: true })
      const all = await readdir(this.dir)
      // A `.tmp` is a chunk a crash cut before its rename: its records were never released (their
      // offsets are read again), so it is only litter that would pile up crash after crash.
      for (const n of all) if (n.endsWith('.tmp')) await unlink(join(this.dir, n)).catch(() => {})
      const names = all.filter((n) => n.endsWith('.chunk') || n.endsWith('.fwd')).sort()
      const out: StoredChunk[] = []
      for (const n of names) {
        const file = join(this.dir, n)
        const data = await readFile(file)
        const m = /^(\d+)-(\d+)\.(chunk|fwd)$/.exec(n)
        this.seq = Math.max(this.seq, Number(m?.[1] ?? 0))
        out.push({ file, records: Number(m?.[2] ?? 0), bytes: data.length })
        this.diskSizes.set(file, data.length)
        this.diskBytes += data.length
      }
      return out
    } catch (err) {
      throw new StorageError(`cannot read the filesystem buffer ${this.dir}: ${(err as Error).message}`, {
        cause: err,
      })
    }
  }

  /** Writes a chunk durably. `keepInMemory` is false once the in-memory budget is spent. */
  async save(payload: ChunkPayload): Promise<{ file: string; keepInMemory: boolean }> {
    const w = this.writer
    w.reset()
    let records = 0
    if (payload.parts) {
      // [tag, entries, count] per tag: the forward output's bytes, stored as they will be sent
      for (const p of payload.parts) {
        w.arrayHeader(3)
        w.str(p.tag)
        w.bin(p.entries)
        w.num(p.count)
        records += p.count
      }
    } else {
      for (const e of payload.events ?? []) {
        w.arrayHeader(3)
        w.str(e.tag)
        w.eventTimeMillis(e.time)
        w.map(e.record)
        records++
      }
    }
    const data = w.toBuffer()
    const seq = ++this.seq
    const file = join(
      this.dir,
      `${String(seq).padStart(12, '0')}-${records}.${payload.parts ? 'fwd' : 'chunk'}`,
    )
    const tmp = `${file}.tmp`
    try {
      const fh = await open(tmp, 'w')
      try {
        await fh.write(data)
        if (this.opts.sync) await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(tmp, file)
    } catch (err) {
      throw new StorageError(`cannot write ${file}: ${(err as Error).message}`, { cause: err })
    }
    this.diskSizes.set(file, data.length)
    this.diskBytes += data.length
    const keepInMemory = this.inMemory + data.length <= this.opts.memoryLimit
    if (keepInMemory) this.inMemory += data.length
    this.sizes.set(file, keepInMemory ? data.length : 0)
    return { file, keepInMemory }
  }

  private readonly sizes = new Map<string, number>()

  async read(file: string): Promise<ChunkPayload> {
    let data: Buffer
    try {
      data = await readFile(file)
    } catch (err) {
      throw Object.assign(
        new StorageError(`cannot read ${file}: ${(err as Error).message}`, { cause: err }),
        {
          retryable: false,
        },
      )
    }
    const events: LogEvent[] = []
    const parts: EncodedPart[] = []
    const encoded = file.endsWith('.fwd')
    let pos = 0
    while (pos < data.length) {
      const r = decodeOne(data, pos)
      const v = r?.value
      if (!r || !Array.isArray(v) || v.length !== 3) {
        throw Object.assign(new StorageError(`${file} is damaged at byte ${pos}`), { retryable: false })
      }
      pos = r.end
      if (encoded) {
        parts.push({ tag: String(v[0]), entries: Buffer.from(v[1] as Buffer), count: Number(v[2]) })
        continue
      }
      const t = v[1]
      events.push({
        tag: String(v[0]),
        time: t instanceof EventTime ? t.toMillis() : Number(t) * 1000,
        record: v[2] as Record<string, unknown>,
      })
    }
    return encoded ? { parts } : { events }
  }

  /** storage.total_limit_size of the output; 0 is unlimited. */
  get totalLimit(): number {
    return this.opts.totalLimit ?? 0
  }

  async remove(file: string): Promise<void> {
    this.inMemory -= this.sizes.get(file) ?? 0
    this.sizes.delete(file)
    this.diskBytes -= this.diskSizes.get(file) ?? 0
    this.diskSizes.delete(file)
    await unlink(file).catch(() => {})
  }
}

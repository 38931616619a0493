// One output's delivery queue: records are gathered into chunks (sealed when big enough or when
// Flush fires), sent one chunk at a time, and retried with exponential backoff and jitter under
// Fluent Bit's Retry_Limit. A chunk's input holds are released only when the output acknowledged
// it (or, with storage.path, once it is safely on disk), so tail offsets never run ahead of delivery.

import type { LogEvent, Sink } from '@podkit/log-pipeline'
import type { Logger } from '@podkit/runtime'
import { RetriesExhaustedError, StorageError } from './errors.ts'
import type { ShipperMetrics } from './metrics.ts'
import { MsgpackWriter } from './msgpack.ts'
import type { EncodedPart } from './sinks/forward/forward.ts'
import type { ChunkStore } from './storage.ts'

/**
 * A sink that can take records already encoded (the forward output): the queue encodes records
 * when they arrive and keeps compact bytes instead of record objects, so queued data costs a
 * fraction of the memory and the objects die young.
 */
export interface EncodingSink extends Sink {
  appendEntries(w: MsgpackWriter, events: readonly LogEvent[]): void
  writeEncoded(parts: readonly EncodedPart[], signal?: AbortSignal): Promise<void>
}

const isEncoding = (s: Sink): s is EncodingSink =>
  typeof (s as Partial<EncodingSink>).writeEncoded === 'function' &&
  typeof (s as Partial<EncodingSink>).appendEntries === 'function'

/**
 * Fluent Bit's Retry_Limit: a number of retries, no_limits/False (forever) or no_retries (0). A
 * number of 0 or less is Fluent Bit's default of 1 (flb_output.c warns "invalid retry_limit. set
 * default"), so `Retry_Limit 0` still retries once; only no_retries means none.
 */
export function parseRetryLimit(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return 1 // Fluent Bit's default
  const l = text.trim().toLowerCase()
  if (l === 'no_limits' || l === 'false' || l === 'off') return Number.POSITIVE_INFINITY
  if (l === 'no_retries') return 0
  if (/^[+-]?\d+$/.test(l)) return Math.max(1, Number(l))
  return undefined
}

export interface Backoff {
  /** scheduler.base: the first wait (ms). */
  baseMs: number
  /** scheduler.cap: the longest wait (ms). */
  capMs: number
}

/** Wait before retry `attempt` (1-based): exponential, capped, with half of it random ("equal jitter"). */
export function backoffDelay(attempt: number, b: Backoff, random = Math.random): number {
  const exp = Math.min(b.capMs, b.baseMs * 2 ** Math.min(attempt - 1, 30))
  return exp / 2 + random() * (exp / 2)
}

export interface QueueOptions {
  sink: Sink
  logger: Logger
  metrics: ShipperMetrics
  retryLimit: number
  backoff: Backoff
  /** Seal the open chunk when it holds this many input bytes. */
  chunkBytes: number
  /** Seal the open chunk at the latest after this long (Flush). */
  flushMs: number
  store?: ChunkStore
  /** Told of every failed delivery and every chunk given up (Health_Check counts them). */
  onFailure?: (kind: 'error' | 'retry_failure') => void
}

interface Chunk {
  events: LogEvent[] | undefined
  /** Encoded entries per tag, for an EncodingSink. */
  parts?: EncodedPart[]
  records: number
  bytes: number
  releases: Array<() => void>
  attempts: number
  /** File of the chunk in the filesystem buffer. */
  file?: string
}

export class DeliveryQueue {
  readonly name: string
  private readonly o: QueueOptions
  private open: Chunk = newChunk()
  private readonly queue: Chunk[] = []
  private sending = false
  private retryTimer: NodeJS.Timeout | undefined
  private flushTimer: NodeJS.Timeout | undefined
  private idleWaiters: Array<() => void> = []
  private stopped = false
  private abort = new AbortController()
  /** Serialises writes to the filesystem buffer so chunks keep their order. */
  private storing: Promise<void> = Promise.resolve()
  private readonly encoder: EncodingSink | undefined
  /** Per tag, the entries of the open chunk being encoded. */
  private writers = new Map<string, { w: MsgpackWriter; count: number }>()
  /** Records of the chunk in flight the destination refused for good (es items, Loki 400s). */
  private refused = 0

  constructor(o: QueueOptions) {
    this.o = o
    this.name = o.sink.name
    this.encoder = isEncoding(o.sink) ? o.sink : undefined
  }

  /** Loads chunks a previous run left in the filesystem buffer; they go out first. */
  async start(): Promise<void> {
    await this.o.sink.start?.()
    if (this.o.store) {
      for (const c of await this.o.store.load()) {
        this.queue.push({
          events: undefined,
          records: c.records,
          bytes: c.bytes,
          releases: [],
          attempts: 0,
          file: c.file,
        })
      }
      if (this.queue.length > 0)
        this.o.logger.info(
          { output: this.name, chunks: this.queue.length },
          'Resuming chunks from the filesystem buffer.',
        )
      this.gauges()
      this.pump()
    }
  }

  /** Takes records that matched this output; `release` is called once they are delivered or given up. */
  add(events: LogEvent[], bytes: number, release: () => void): void {
    if (events.length === 0) {
      release()
      return
    }
    const c = this.open
    if (this.encoder) this.encode(events)
    else for (const e of events) c.events!.push(e)
    c.records += events.length
    c.bytes += bytes
    c.releases.push(release)
    if (c.bytes >= this.o.chunkBytes) this.seal()
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined
        this.seal()
      }, this.o.flushMs)
    }
  }

  /** Seals the open chunk now (into the filesystem buffer, when there is one) instead of at the next Flush. */
  sealOpen(): void {
    this.seal()
  }

  /**
   * The sink dropped `records` of the chunk it is writing (the destination refused them for good):
   * they are counted as dropped by the caller and must not count as delivered too.
   */
  noteRejected(records: number): void {
    this.refused += records
  }

  /** Records queued or in flight. */
  depth(): { chunks: number; records: number } {
    return {
      chunks: this.queue.length + (this.open.records > 0 ? 1 : 0),
      records: this.queue.reduce((a, c) => a + c.records, 0) + this.open.records,
    }
  }

  /** Seals what is open and resolves when everything queued was delivered or given up, or when `signal` aborts. */
  async drain(signal: AbortSignal): Promise<void> {
    this.seal()
    await this.storing
    if (this.retryTimer) {
      // a drain retries at once rather than sleeping through the grace period
      clearTimeout(this.retryTimer)
      this.retryTimer = undefined
      this.pump()
    }
    if (this.queue.length === 0 && !this.sending) return
    await new Promise<void>((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done)
        resolve()
      }
      this.idleWaiters.push(done)
      signal.addEventListener('abort', done, { once: true })
    })
  }

  /** Stops sending; chunks not delivered keep their holds (their offsets are not committed). */
  async stop(): Promise<void> {
    this.stopped = true
    this.abort.abort()
    if (this.retryTimer) clearTimeout(this.retryTimer)
    if (this.flushTimer) clearTimeout(this.flushTimer)
    await this.storing
    await this.o.sink.stop?.()
  }

  private encode(events: LogEvent[]): void {
    // Records of one add() nearly always share a tag (one file's chunk): group only when they do not.
    const first = events[0]!.tag
    let same = true
    for (let i = 1; i < events.length; i++) if (events[i]!.tag !== first) same = false
    const groups = same ? [[first, events] as const] : [...groupByTag(events)]
    for (const [tag, list] of groups) {
      let slot = this.writers.get(tag)
      if (!slot) {
        slot = { w: new MsgpackWriter(64 * 1024), count: 0 }
        this.writers.set(tag, slot)
      }
      this.encoder!.appendEntries(slot.w, list)
      slot.count += list.length
    }
  }

  private seal(): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer)
      this.flushTimer = undefined
    }
    const c = this.open
    if (c.records === 0) return
    this.open = newChunk()
    if (this.encoder) {
      c.events = undefined
      c.parts = []
      for (const [tag, slot] of this.writers) {
        if (slot.count === 0) {
          // a tag that went quiet gives its buffer back
          this.writers.delete(tag)
          continue
        }
        c.parts.push({ tag, entries: slot.w.toBuffer(), count: slot.count })
        slot.w.reset()
        slot.count = 0
      }
    }
    const store = this.o.store
    if (!store) {
      this.queue.push(c)
      this.gauges()
      this.pump()
      return
    }
    // With filesystem buffering the chunk is durable once written: its input offsets may be
    // committed now, and the events can leave memory when the store says memory is full.
    this.storing = this.storing.then(async () => {
      try {
        const { file, keepInMemory } = await store.save(c.parts ? { parts: c.parts } : { events: c.events! })
        c.file = file
        for (const r of c.releases.splice(0)) r()
        if (!keepInMemory) {
          c.events = undefined
          c.parts = undefined
        }
      } catch (err) {
        this.o.logger.error(
          { err, output: this.name },
          'Writing a chunk to the filesystem buffer failed; keeping it in memory.',
        )
      }
      this.queue.push(c)
      this.enforceDiskLimit()
      this.gauges()
      this.pump()
    })
  }

  /**
   * storage.total_limit_size: when the output's chunks on disk exceed it, the oldest chunks not in
   * flight are dropped (as Fluent Bit does), counted and logged, so a long outage cannot fill the volume.
   */
  private enforceDiskLimit(): void {
    const store = this.o.store!
    const limit = store.totalLimit
    if (limit <= 0) return
    let dropped = 0
    let records = 0
    while (store.diskBytes > limit) {
      const i = this.sending ? 1 : 0
      const c = this.queue[i]
      if (!c || c === this.queue.at(-1)) break
      this.queue.splice(i, 1)
      if (c.file) void store.remove(c.file)
      // a stored chunk's input holds were released when it reached the disk; release any left
      for (const r of c.releases.splice(0)) r()
      dropped++
      records += c.records
    }
    if (dropped > 0) {
      this.o.metrics.outputDropped.inc({ output: this.name, reason: 'storage_full' }, records)
      const err = new StorageError(
        `output ${this.name}: the filesystem buffer passed storage.total_limit_size; dropped the ${dropped} oldest chunks (${records} records)`,
      )
      this.o.logger.error({ output: this.name, code: err.code, records }, err.message)
    }
  }

  private pump(): void {
    if (this.sending || this.stopped || this.retryTimer) return
    const c = this.queue[0]
    if (!c) {
      for (const w of this.idleWaiters.splice(0)) w()
      return
    }
    this.sending = true
    void this.send(c).finally(() => {
      this.sending = false
      this.pump()
    })
  }

  private async send(c: Chunk): Promise<void> {
    const { sink, metrics, logger } = this.o
    const output = this.name
    this.refused = 0
    try {
      if (!c.events && !c.parts) {
        const stored = await this.o.store!.read(c.file!)
        c.events = stored.events
        c.parts = stored.parts
      }
      if (c.parts && this.encoder) await this.encoder.writeEncoded(c.parts, this.abort.signal)
      else if (c.parts)
        throw Object.assign(new Error('encoded chunk for a sink that takes records'), { retryable: false })
      else await sink.write(c.events!, this.abort.signal)
    } catch (err) {
      if (this.stopped) return
      const e = err as Error & { code?: string; retryable?: boolean }
      metrics.outputErrors.inc({ output, type: e.code ?? e.name ?? 'Error' })
      this.o.onFailure?.('error')
      const retryable = e.retryable !== false
      if (retryable && c.attempts < this.o.retryLimit) {
        c.attempts++
        metrics.outputRetries.inc({ output })
        const wait = backoffDelay(c.attempts, this.o.backoff)
        logger.warn(
          {
            output,
            err: { message: e.message, code: e.code },
            attempt: c.attempts,
            retryInMs: Math.round(wait),
          },
          'Delivery failed; retrying the chunk.',
        )
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined
          this.pump()
        }, wait)
        return
      }
      const reason = retryable ? 'retries_exhausted' : 'rejected'
      const gaveUp = new RetriesExhaustedError(
        retryable
          ? `output ${output} gave up a chunk of ${c.records} records after ${c.attempts} retries: ${e.message}`
          : `output ${output} dropped a chunk of ${c.records} records the destination rejected for good: ${e.message}`,
      )
      logger.error({ output, code: gaveUp.code, cause: e.code, records: c.records }, gaveUp.message)
      metrics.outputDropped.inc({ output, reason }, c.records)
      if (retryable) this.o.onFailure?.('retry_failure')
      this.finish(c)
      return
    }
    const delivered = Math.max(0, c.records - this.refused)
    if (delivered > 0) {
      metrics.outputRecords.inc({ output }, delivered)
      // The input bytes behind the delivered records, in proportion (records differ little in size).
      metrics.outputBytes.inc({ output }, Math.round((c.bytes * delivered) / c.records))
      metrics.lastSuccess.set({ output }, Date.now() / 1000)
    }
    this.finish(c)
  }

  private finish(c: Chunk): void {
    this.queue.shift()
    for (const r of c.releases.splice(0)) r()
    if (c.file) void this.o.store!.remove(c.file)
    c.events = undefined
    c.parts = undefined
    this.gauges()
  }

  private gauges(): void {
    const d = this.depth()
    this.o.metrics.queueChunks.set({ output: this.name }, d.chunks)
    this.o.metrics.queueRecords.set({ output: this.name }, d.records)
    if (this.o.store)
      this.o.metrics.storageChunks.set({ output: this.name }, this.queue.filter((c) => c.file).length)
  }
}

function groupByTag(events: LogEvent[]): Map<string, LogEvent[]> {
  const m = new Map<string, LogEvent[]>()
  for (const e of events) {
    let list = m.get(e.tag)
    if (!list) {
      list = []
      m.set(e.tag, list)
    }
    list.push(e)
  }
  return m
}

function newChunk(): Chunk {
  return { events: [], records: 0, bytes: 0, releases: [], attempts: 0 }
}

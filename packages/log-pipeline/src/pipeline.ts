// A pipeline: tail source -> multiline -> parser -> transforms -> batches -> sink. Batches go to
// the sink one at a time, retried with backoff until acknowledged; only then are the chunks they
// came from released, so the positions file never runs ahead of delivery.

import type { Logger } from '@podkit/runtime'
import type { LogEvent } from './event.ts'
import type { PipelineMetrics } from './metrics.ts'
import { createMultiline, type Multiline, type MultilineOptions } from './multiline/multiline.ts'
import type { Parser } from './parsers/parser.ts'
import type { Sink } from './sink.ts'
import type { TailChunk } from './tail/chunk.ts'
import type { TailSource } from './tail/tail-source.ts'
import type { Transform } from './transforms/transform.ts'

/** Where a line came from, for decode functions that need it. */
export interface LineOrigin {
  tag: string
  path: string
  /** Read time in epoch ms (the event time when the line carries none). */
  now: number
}

export interface PipelineOptions {
  source: TailSource
  sink: Sink
  multiline?: MultilineOptions
  /** Parser of each (joined) line; lines it does not match become `{ [rawKey]: line }`. */
  parser?: Parser
  /** Key of the raw line when nothing parsed it (Fluent Bit: `log`). Default `log`. */
  rawKey?: string
  /**
   * Replaces parser + rawKey: build the event yourself. Return `parsed: false` to count it as
   * unparsed. The result is read at once, so a decoder may return the same object every time.
   */
  decode?: (line: string, origin: LineOrigin) => { event: LogEvent; parsed: boolean }
  transforms?: readonly Transform[]
  /**
   * Events per sink write. Default 2048. A batch ends at the end of the chunk that filled it, so
   * it can hold up to one read's lines more.
   */
  batchSize?: number
  /** A partial batch is written after this many ms. Default 200. */
  flushInterval?: number
  /** First retry delay after a failed write, doubled up to maxRetryDelay. Default 250 ms. */
  retryDelay?: number
  maxRetryDelay?: number
  logger?: Logger
  metrics?: PipelineMetrics
}

interface Batch {
  events: LogEvent[]
  releases: Array<() => void>
  lastHold: TailChunk['hold'] | undefined
  opened: number
}

export interface PipelineStats {
  linesIn: number
  recordsOut: number
  unparsed: number
  dropped: number
  batchesQueued: number
}

export class Pipeline {
  private readonly o: PipelineOptions
  private readonly ml: Multiline | undefined
  /** Where each stream's lines come from; `now` is the read time of its latest chunk. */
  private readonly origins = new Map<string, LineOrigin>()
  /** The chunk being processed: records taken meanwhile make the batch hold it. */
  private current: TailChunk | undefined
  private batch: Batch = newBatch()
  private readonly queue: Batch[] = []
  private writing: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  private stopping = false
  private abort: AbortSignal | undefined
  private readonly batchSize: number
  private readonly flushInterval: number
  readonly stats: PipelineStats = { linesIn: 0, recordsOut: 0, unparsed: 0, dropped: 0, batchesQueued: 0 }
  private readonly decode: NonNullable<PipelineOptions['decode']>

  constructor(opts: PipelineOptions) {
    this.o = opts
    this.batchSize = opts.batchSize ?? 2048
    this.flushInterval = opts.flushInterval ?? 200
    if (opts.multiline) {
      this.ml = createMultiline(opts.multiline, (stream, text, releases) => {
        this.take(text, this.origins.get(stream) ?? { tag: '', path: '', now: Date.now() }, releases)
      })
    }
    const rawKey = opts.rawKey ?? 'log'
    const parser = opts.parser
    this.decode =
      opts.decode ??
      ((line, origin) => {
        const r = parser?.parse(line)
        if (r)
          return { event: { tag: origin.tag, time: r.time ?? origin.now, record: r.record }, parsed: true }
        return {
          event: { tag: origin.tag, time: origin.now, record: { [rawKey]: line } },
          parsed: parser === undefined,
        }
      })
  }

  async start(): Promise<void> {
    await this.o.sink.start?.()
    this.timer = setInterval(() => this.tick(), Math.max(20, Math.min(this.flushInterval, 100)))
    this.timer.unref()
    // When reading pauses for room, write the open batch now instead of after flushInterval.
    this.o.source.onBackpressure(() => this.flushBatch())
    await this.o.source.start((chunk) => this.onChunk(chunk))
  }

  /**
   * Stops reading, passes on pending multiline records and the open batch, waits for the sink to
   * acknowledge everything (or for `signal`), closes the sink and saves the positions.
   */
  async stop(ctx: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    this.abort = ctx.signal
    await this.o.source.stop()
    this.ml?.flush(0)
    this.flushBatch()
    if (this.timer) clearInterval(this.timer)
    await this.drained(ctx.signal)
    try {
      await this.o.sink.stop?.()
    } finally {
      await this.o.source.close()
    }
  }

  /** Resolves when every queued batch is acknowledged (or the signal aborts). */
  async drained(signal?: AbortSignal): Promise<void> {
    while (this.writing || this.queue.length > 0) {
      if (signal?.aborted) return
      const w = this.writing ?? Promise.resolve()
      await (signal
        ? Promise.race([
            w,
            new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true })),
          ])
        : w)
    }
  }

  private onChunk(chunk: TailChunk): void {
    this.stats.linesIn += chunk.lines.length
    let origin = this.origins.get(chunk.stream)
    if (!origin) {
      origin = { tag: chunk.tag, path: chunk.path, now: 0 }
      this.origins.set(chunk.stream, origin)
    }
    origin.now = Date.now()
    this.current = chunk
    try {
      if (this.ml) {
        const lines = chunk.lines
        for (let i = 0; i < lines.length; i++) this.ml.push(chunk.stream, lines[i]!, i)
        this.ml.holdPending(chunk.stream, chunk)
      } else {
        for (const line of chunk.lines) this.take(line, origin, undefined)
      }
    } finally {
      this.current = undefined
    }
    chunk.ack()
    // Batches end on chunk boundaries, so each chunk is held by one batch and a batch's
    // acknowledgement commits exactly its lines: a crash repeats at most the batch in flight.
    if (this.batch.events.length >= this.batchSize) this.flushBatch()
  }

  private take(line: string, origin: LineOrigin, releases: Array<() => void> | undefined): void {
    const { event, parsed } = this.decode(line, origin)
    if (!parsed) {
      this.stats.unparsed++
      this.o.metrics?.unparsed.inc()
    }
    let e: LogEvent | null = event
    const transforms = this.o.transforms
    if (transforms) {
      for (const t of transforms) {
        e = t.apply(e)
        if (e === null) break
      }
    }
    const b = this.batch
    // One hold per chunk per batch: the batch releases it when acknowledged.
    const cur = this.current
    if (cur && b.lastHold !== cur.hold) {
      b.releases.push(cur.hold())
      b.lastHold = cur.hold
    }
    if (releases) for (const r of releases) b.releases.push(r)
    if (e === null) {
      this.stats.dropped++
      this.o.metrics?.dropped.inc({ reason: 'grep' })
    } else {
      if (b.events.length === 0) b.opened = Date.now()
      b.events.push(e)
    }
    // Outside a chunk (a multiline record flushed by its timeout) the batch may end here.
    if (!cur && b.events.length >= this.batchSize) this.flushBatch()
  }

  private tick(): void {
    this.ml?.flush()
    if (this.batch.events.length > 0 && Date.now() - this.batch.opened >= this.flushInterval)
      this.flushBatch()
    else if (this.batch.events.length === 0 && this.batch.releases.length > 0) this.flushBatch()
  }

  private flushBatch(): void {
    const b = this.batch
    if (b.events.length === 0 && b.releases.length === 0) return
    this.batch = newBatch()
    this.queue.push(b)
    this.stats.batchesQueued = this.queue.length
    if (!this.writing) this.writing = this.writeLoop().finally(() => (this.writing = undefined))
  }

  private async writeLoop(): Promise<void> {
    const sink = this.o.sink
    let delay = this.o.retryDelay ?? 250
    while (this.queue.length > 0) {
      const b = this.queue[0]!
      if (b.events.length > 0) {
        let delivered = true
        try {
          await sink.write(b.events, this.abort)
        } catch (err) {
          this.o.metrics?.sinkErrors.inc({ sink: sink.name })
          if ((err as { retryable?: boolean }).retryable === false) {
            this.o.logger?.error(
              { err, sink: sink.name, records: b.events.length },
              'The sink refused a batch for good; giving it up.',
            )
            this.o.metrics?.dropped.inc({ reason: 'rejected' }, b.events.length)
            delivered = false
          } else {
            if (this.abort?.aborted) return // unacknowledged: the offsets stay, the lines are read again
            this.o.logger?.warn({ err, sink: sink.name, retryInMs: delay }, 'A sink write failed; retrying.')
            await new Promise((r) => setTimeout(r, delay))
            delay = Math.min(delay * 2, this.o.maxRetryDelay ?? 30_000)
            continue
          }
        }
        if (delivered) {
          this.stats.recordsOut += b.events.length
          this.o.metrics?.recordsOut.inc({ sink: sink.name }, b.events.length)
        }
      }
      delay = this.o.retryDelay ?? 250
      this.queue.shift()
      this.stats.batchesQueued = this.queue.length
      for (const r of b.releases) r()
      // Positions after every batch: the next batch is sent only once this one's offsets are saved.
      if (this.o.source.options.positionsInterval === 0) {
        await this.o.source
          .savePositions()
          .catch((err) => this.o.logger?.error({ err }, 'Saving positions failed.'))
      }
    }
  }
}

function newBatch(): Batch {
  return { events: [], releases: [], lastHold: undefined, opened: 0 }
}

export function createPipeline(opts: PipelineOptions): Pipeline {
  return new Pipeline(opts)
}

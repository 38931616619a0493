// A pipeline: tail source -> multiline -> parser -> transforms -> batches -> sink. Batches go to
// the sink one at a time, retried with backoff until acknowledged; only then are the chunks they
// came from released, so the positions file never runs ahead of delivery.

import type { Logger } from '@podkit/runtime'
import { PipelineConfigError } from './errors.ts'
import type { LogEvent } from './event.ts'
import { type LineBuffer, LineBufferPool } from './line-buffer.ts'
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
  /**
   * Replaces parser, decode and transforms: writes each (joined) line's output record straight
   * into the batch's bytes (one line, ended with `out.endLine()`) and returns whether it parsed.
   * Needs a sink with `writeLines`. A batch then holds only bytes while it waits for the sink,
   * which keeps the heap small: no event objects or strings survive long enough to be promoted.
   */
  encode?: (line: string, origin: LineOrigin, out: LineBuffer) => boolean
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
  /** The records, or (with `encode`) nothing: they are in `out`. */
  events: LogEvent[]
  out: LineBuffer | undefined
  /** Records in the batch. */
  count: number
  releases: Array<() => void>
  /**
   * Sequence number of the last chunk this batch holds: a number, not the chunk, so a batch
   * waiting for its sink does not keep the chunk's line strings alive.
   */
  lastHold: number
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
  private currentSeq = 0
  private readonly pool: LineBufferPool | undefined
  private batch: Batch
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
    if (opts.encode) {
      if (!opts.sink.writeLines)
        throw new PipelineConfigError(`encode needs a sink with writeLines; ${opts.sink.name} has none`)
      if (opts.transforms?.length)
        throw new PipelineConfigError('encode replaces transforms: give one or the other')
      // Sized for a typical batch (~200 bytes a record) so that most batches never grow.
      this.pool = new LineBufferPool(Math.min(1024 * 1024, Math.max(16 * 1024, this.batchSize * 256)))
    }
    this.batch = this.newBatch()
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

  private newBatch(): Batch {
    return { events: [], out: this.pool?.get(), count: 0, releases: [], lastHold: 0, opened: 0 }
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
    this.currentSeq++
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
    if (this.batch.count >= this.batchSize) this.flushBatch()
  }

  private take(line: string, origin: LineOrigin, releases: Array<() => void> | undefined): void {
    const b = this.batch
    let kept = true
    if (b.out) {
      const out = b.out
      const mark = out.length
      const lines = out.lines
      try {
        if (!this.o.encode!(line, origin, out)) this.countUnparsed()
      } catch (err) {
        // Never a half-written record in the output: take the line back out and let the
        // source's handler report it (its chunk stays unacknowledged).
        out.length = mark
        out.lines = lines
        throw err
      }
    } else {
      const { event, parsed } = this.decode(line, origin)
      if (!parsed) this.countUnparsed()
      let e: LogEvent | null = event
      const transforms = this.o.transforms
      if (transforms) {
        for (const t of transforms) {
          e = t.apply(e)
          if (e === null) break
        }
      }
      if (e === null) kept = false
      else b.events.push(e)
    }
    // One hold per chunk per batch: the batch releases it when acknowledged.
    const cur = this.current
    if (cur && b.lastHold !== this.currentSeq) {
      b.releases.push(cur.hold())
      b.lastHold = this.currentSeq
    }
    if (releases) for (const r of releases) b.releases.push(r)
    if (!kept) {
      this.stats.dropped++
      this.o.metrics?.dropped.inc({ reason: 'grep' })
    } else {
      if (b.count === 0) b.opened = Date.now()
      b.count++
    }
    // Outside a chunk (a multiline record flushed by its timeout) the batch may end here.
    if (!cur && b.count >= this.batchSize) this.flushBatch()
  }

  private countUnparsed(): void {
    this.stats.unparsed++
    this.o.metrics?.unparsed.inc()
  }

  private tick(): void {
    this.ml?.flush()
    if (this.batch.count > 0 && Date.now() - this.batch.opened >= this.flushInterval) this.flushBatch()
    else if (this.batch.count === 0 && this.batch.releases.length > 0) this.flushBatch()
  }

  private flushBatch(): void {
    const b = this.batch
    if (b.count === 0 && b.releases.length === 0) return
    this.batch = this.newBatch()
    this.queue.push(b)
    this.stats.batchesQueued = this.queue.length
    if (!this.writing) this.writing = this.writeLoop().finally(() => (this.writing = undefined))
  }

  private async writeLoop(): Promise<void> {
    const sink = this.o.sink
    let delay = this.o.retryDelay ?? 250
    while (this.queue.length > 0) {
      const b = this.queue[0]!
      if (b.count > 0) {
        let delivered = true
        try {
          if (b.out) await sink.writeLines!(b.out.bytes(), b.count, this.abort)
          else await sink.write(b.events, this.abort)
        } catch (err) {
          this.o.metrics?.sinkErrors.inc({ sink: sink.name })
          if ((err as { retryable?: boolean }).retryable === false) {
            this.o.logger?.error(
              { err, sink: sink.name, records: b.count },
              'The sink refused a batch for good; giving it up.',
            )
            this.o.metrics?.dropped.inc({ reason: 'rejected' }, b.count)
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
          this.stats.recordsOut += b.count
          this.o.metrics?.recordsOut.inc({ sink: sink.name }, b.count)
        }
      }
      delay = this.o.retryDelay ?? 250
      this.queue.shift()
      if (b.out) this.pool!.put(b.out)
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

export function createPipeline(opts: PipelineOptions): Pipeline {
  return new Pipeline(opts)
}

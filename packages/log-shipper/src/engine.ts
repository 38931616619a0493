// The shipper's engine: tail inputs -> multiline -> parser -> filters (by Match) -> one delivery
// queue per matching output. Every output that takes a chunk's records holds that chunk, so its
// file offset is committed only after every matching output acknowledged (at-least-once).

import { readdir, rmdir } from 'node:fs/promises'
import { basename, join } from 'node:path'
import {
  compileTimeFormat,
  createPipelineMetrics,
  createRegexParser,
  type LogEvent,
  type Multiline,
  type Parser,
  type ParserDefinition,
  ParserRegistry,
  parseOffset,
  type TailChunk,
  TailSource,
  type TimeParser,
} from '@podkit/log-pipeline'
import type { Logger, Registry } from '@podkit/runtime'
import { DeliveryQueue, parseRetryLimit } from './delivery-queue.ts'
import { PipelineConfigError, RecordsRejectedError, StorageError } from './errors.ts'
import { createFastRegexParser } from './fast-regex.ts'
import { buildFilter, type Filter } from './filters.ts'
import { readDecoders, withDecoders } from './fluent-bit/decoders.ts'
import { compileMatch, expandTag, type TagMatcher } from './fluent-bit/match.ts'
import type { PipelineSpec } from './fluent-bit/pipeline-spec.ts'
import { lineOf, type PluginSection } from './fluent-bit/section.ts'
import { slashRegex } from './fluent-bit/slash-regex.ts'
import { HealthCheck } from './health.ts'
import { buildInput, type InputSpec, inputMultiline, tagFromRegex } from './inputs.ts'
import { createShipperMetrics, type ShipperMetrics } from './metrics.ts'
import { decodeOne, EventTime } from './msgpack.ts'
import { createSink } from './sinks/index.ts'
import { type ChunkPayload, ChunkStore, type StoredChunk } from './storage.ts'

export interface EngineOptions {
  logger: Logger
  registry: Registry
  env?: Record<string, string | undefined>
  /** `name` or `name:port` rewritten to `host:port` for network outputs (hostAliases). */
  hostAliases?: Record<string, string>
  /** Prefix of every absolute input path and DB file (pathPrefix); tags are expanded without it. */
  pathPrefix?: string
  /** First retry wait and its cap; default scheduler.base 5s and scheduler.cap 2000s (Fluent Bit). */
  backoff?: { baseMs: number; capMs: number }
  /** Where the stdout output writes (tests). */
  stdout?: NodeJS.WritableStream
}

interface Output {
  name: string
  matches: TagMatcher
  queue: DeliveryQueue
}

interface Input {
  spec: InputSpec
  source: TailSource
  multiline: Multiline | undefined
  mlTimer: NodeJS.Timeout | undefined
  tags: Map<string, string>
}

/** The compiled route of one tag: the filters it passes through and the outputs it reaches. */
interface Route {
  filters: Filter[]
  outputs: Output[]
}

export class Engine {
  readonly inputs: Input[] = []
  readonly filters: Filter[] = []
  readonly outputs: Output[] = []
  readonly metrics: ShipperMetrics
  /** Health_Check On: what /api/v1/health answers. */
  readonly health: HealthCheck | undefined
  private readonly routes = new Map<string, Route>()
  private stopping = false
  /** Buffered chunks of renamed outputs being handed to the outputs matching their tags. */
  orphans: Promise<void> | undefined
  private readonly stores: ChunkStore[] = []
  private readonly logger: Logger
  private readonly env: Record<string, string | undefined>

  constructor(
    readonly spec: PipelineSpec,
    private readonly o: EngineOptions,
  ) {
    this.logger = o.logger
    this.env = o.env ?? process.env
    this.metrics = createShipperMetrics(o.registry)
    const pipelineMetrics = createPipelineMetrics(o.registry)
    const problems: string[] = []
    const attempt = <T>(fn: () => T): T | undefined => {
      try {
        return fn()
      } catch (err) {
        problems.push((err as Error).message)
        return undefined
      }
    }

    const parsers = new ParserRegistry()
    parsers.registerFormat('regex', (def) => createFastRegexParser(def) ?? createRegexParser(def))
    for (const p of spec.parsers) {
      attempt(() => {
        const def = parserDefinition(p)
        let parser: Parser
        try {
          parser = parsers.define(def)
          if (!p.bool('time_strict', true) && def.timeFormat) {
            parser = lenientTime(parser, def)
            parsers.register(parser)
          }
        } catch (err) {
          // A bad Regex, Time_Format or Time_Offset: say which [PARSER], and where.
          const msg = (err as Error).message
          throw p.error(undefined, msg.startsWith(`parser ${def.name}`) ? msg : `parser ${def.name}: ${msg}`)
        }
        // Decode_Field / Decode_Field_As rules apply per field in the order written.
        const entries = [
          ...p.all('decode_field').map((prop) => ({ as: false, prop })),
          ...p.all('decode_field_as').map((prop) => ({ as: true, prop })),
        ].sort((a, b) => lineOf(a.prop.where) - lineOf(b.prop.where))
        const decoders = readDecoders(entries)
        if (decoders) parsers.register(withDecoders(parser, decoders))
      })
    }
    const mlDefs = new Map(spec.multilineParsers.map((m) => [m.str('name', ''), m] as const))
    const parserSections = new Map(spec.parsers.map((p) => [p.str('name', ''), p] as const))

    spec.inputs.forEach((s, i) => {
      attempt(() => {
        const input = buildInput(s, i, parsers, mlDefs, { pathPrefix: o.pathPrefix ?? '', parserSections })
        const source = new TailSource({ ...input.tail, logger: o.logger, metrics: pipelineMetrics })
        this.inputs.push({ spec: input, source, multiline: undefined, mlTimer: undefined, tags: new Map() })
      })
    })
    spec.filters.forEach((s, i) => {
      attempt(() => this.filters.push(buildFilter(s, i, parsers, this.env)))
    })

    const service = spec.service
    this.health = service.healthCheck ? new HealthCheck(service.healthCheck) : undefined
    const backoff = o.backoff ?? {
      baseMs: 5000,
      capMs: 2_000_000,
    }
    const memLimit = Math.min(
      ...this.inputs.map((x) => x.spec.tail.memBufLimit ?? 32 * 1024 * 1024),
      32 * 1024 * 1024,
    )
    spec.outputs.forEach((s, i) => {
      attempt(() => {
        const name = s.str('alias') || `${s.name}.${i}`
        let queueRef: DeliveryQueue | undefined
        const retryLimit = parseRetryLimit(s.str('retry_limit'))
        if (retryLimit === undefined)
          throw s.error(
            'retry_limit',
            `Retry_Limit must be a number, no_limits, False or no_retries, got "${s.str('retry_limit')}"`,
          )
        if (Number(s.str('retry_limit')) <= 0)
          o.logger.warn(
            { output: name },
            `${s.whereOf('retry_limit')}: Retry_Limit ${s.str('retry_limit')} is taken as 1, as Fluent Bit does; write no_retries for none.`,
          )
        const sink = createSink(s, name, {
          resolveHost: (host, port) => this.resolveHost(host, port),
          onRejected: (output, records, reason) => {
            this.metrics.outputDropped.inc({ output, reason: 'rejected' }, records)
            queueRef?.noteRejected(records)
            const err = new RecordsRejectedError(
              `output ${output}: the destination refused ${records} records for good: ${reason}`,
            )
            this.logger.error({ output, records, code: err.code }, err.message)
          },
          stdout: o.stdout,
        })
        const store = service.storagePath
          ? new ChunkStore(service.storagePath, name, {
              sync: service.storageSync === 'full',
              memoryLimit: memLimit,
              totalLimit: s.size('storage.total_limit_size', 0),
            })
          : undefined
        if (store) this.stores.push(store)
        const queue = new DeliveryQueue({
          sink,
          logger: o.logger,
          metrics: this.metrics,
          retryLimit,
          backoff,
          // Chunks small enough that Mem_Buf_Limit never waits on a Flush timer to free memory.
          chunkBytes: Math.max(16 * 1024, Math.min(1024 * 1024, Math.floor(memLimit / 4))),
          flushMs: service.flushMs,
          store,
          onFailure: this.health ? (kind) => this.health!.record(kind) : undefined,
        })
        queueRef = queue
        this.outputs.push({ name, matches: compileMatch(s.str('match'), s.str('match_regex')), queue })
      })
    })
    if (problems.length > 0)
      throw new PipelineConfigError(
        `${spec.source}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`,
      )
    for (const w of spec.warnings) this.logger.warn(w)
    if (this.outputs.length === 0)
      this.logger.warn('No [OUTPUT] is configured: records are read and dropped.')
  }

  private resolveHost(host: string, port: number): { host: string; port: number } {
    const a = this.o.hostAliases ?? {}
    const target = a[`${host}:${port}`] ?? a[host]
    if (!target) return { host, port }
    const m = /^(.*?)(?::(\d+))?$/.exec(target)!
    return { host: m[1]!, port: m[2] ? Number(m[2]) : port }
  }

  async start(): Promise<void> {
    for (const out of this.outputs) await out.queue.start()
    const root = this.spec.service.storagePath
    if (root)
      this.orphans = this.rerouteOrphanedChunks(root).catch((err) =>
        this.logger.error({ err }, 'Routing buffered chunks of renamed outputs failed.'),
      )
    for (const input of this.inputs) {
      if (input.spec.multiline) {
        input.multiline = inputMultiline(input.spec, (stream, text, releases) =>
          this.onRecord(input, stream, text, releases),
        )
        input.mlTimer = setInterval(
          () => input.multiline!.flush(input.spec.multiline!.flushTimeout ?? 1000),
          250,
        )
        input.mlTimer.unref()
      }
      await input.source.start((chunk) => this.onChunk(input, chunk))
      this.logger.info({ input: input.spec.name, path: input.spec.tail.path }, 'Tailing.')
    }
  }

  /**
   * Chunks are kept per output, in a directory named after it (its Alias, else plugin.index): an
   * output renamed or moved since (another [OUTPUT] added before it) no longer claims the chunks an
   * outage left. Fluent Bit routes buffered chunks again by their tag when it loads them, so do
   * we: each chunk of such a directory is handed to every output whose Match now covers the tags
   * in it (already filtered, as Fluent Bit buffers after its filters) and removed once each of
   * them has it in its own buffer. Outputs that had already delivered those records may get them
   * again, as in Fluent Bit. A chunk with a tag no output matches now stays, and is reported.
   * Runs beside the inputs: it waits on nothing but the outputs' own buffers.
   */
  private async rerouteOrphanedChunks(root: string): Promise<void> {
    const claimed = new Set(this.stores.map((s) => basename(s.dir)))
    let dirs: import('node:fs').Dirent[]
    try {
      dirs = await readdir(root, { withFileTypes: true })
    } catch {
      return
    }
    for (const d of dirs) {
      // A name ChunkStore would not have made (it keeps [\w.-]) is not a chunk directory of ours.
      if (!d.isDirectory() || claimed.has(d.name) || /[^\w.-]/.test(d.name)) continue
      const dir = join(root, d.name)
      const store = new ChunkStore(root, d.name, { sync: false, memoryLimit: 0 })
      let chunks: StoredChunk[]
      try {
        chunks = await store.load()
      } catch (err) {
        this.logger.error({ err, dir }, 'Cannot read chunks no output is named after any more.')
        continue
      }
      if (chunks.length === 0) continue
      let moved = 0
      let records = 0
      const unrouted = new Set<string>()
      for (const c of chunks) {
        if (this.stopping) return
        let events: LogEvent[]
        try {
          events = eventsOf(await store.read(c.file))
        } catch (err) {
          this.logger.error({ err, file: c.file }, 'A buffered chunk cannot be read; it is left in place.')
          unrouted.add('(unreadable)')
          continue
        }
        const byOutput = new Map<Output, LogEvent[]>()
        let routed = true
        for (const e of events) {
          const outs = this.route(e.tag).outputs
          if (outs.length === 0) {
            unrouted.add(e.tag)
            routed = false
          }
          for (const o of outs) {
            const list = byOutput.get(o) ?? []
            list.push(e)
            byOutput.set(o, list)
          }
        }
        if (!routed) continue
        await new Promise<void>((resolve) => {
          let left = byOutput.size
          if (left === 0) resolve()
          for (const [o, list] of byOutput) {
            o.queue.add(list, Math.round((c.bytes * list.length) / events.length), () => {
              if (--left === 0) resolve()
            })
            // Into the output's own buffer now, rather than at its next Flush.
            o.queue.sealOpen()
          }
        })
        await store.remove(c.file)
        moved++
        records += events.length
      }
      // Emptied: nothing is left to report at the next start.
      if (moved === chunks.length) await rmdir(dir).catch(() => {})
      if (moved > 0)
        this.logger.info(
          { dir, chunks: moved, records },
          `Buffered chunks of an output named ${d.name}, which no [OUTPUT] is named after now, were handed to the outputs whose Match covers their tags.`,
        )
      if (unrouted.size > 0) {
        const left = chunks.length - moved
        const err = new StorageError(
          `The filesystem buffer holds ${left} undelivered chunks of an output named ${d.name} with tags no [OUTPUT] matches now (${[...unrouted].slice(0, 5).join(', ')}); they are not delivered. Match their tags in an output (or give it Alias ${d.name}) to deliver them, or remove ${dir}.`,
        )
        this.logger.error({ code: err.code, dir, chunks: left }, err.message)
      }
    }
  }

  /** SIGTERM: stop reading, flush every queue within the deadline, then save positions. */
  async stop(signal: AbortSignal): Promise<void> {
    this.stopping = true
    for (const input of this.inputs) await input.source.stop()
    for (const input of this.inputs) {
      if (input.mlTimer) clearInterval(input.mlTimer)
      input.multiline?.flush(0)
    }
    await Promise.all(this.outputs.map((o) => o.queue.drain(signal)))
    const left = this.outputs
      .map((o) => ({ output: o.name, ...o.queue.depth() }))
      .filter((d) => d.records > 0)
    if (left.length > 0)
      this.logger.warn(
        { undelivered: left },
        'Grace ran out with records undelivered; their offsets are not committed, so they are read again at the next start.',
      )
    for (const o of this.outputs) await o.queue.stop()
    for (const input of this.inputs) await input.source.close()
  }

  private tagOf(input: Input, path: string): string {
    let t = input.tags.get(path)
    if (t === undefined) {
      const p = input.spec.pathPrefix
      const shown = p && path.startsWith(p) ? path.slice(p.length) : path
      const spec = input.spec
      // A file Tag_Regex does not match is never followed (TailSource's accept), so undefined
      // cannot happen here; the plain Tag is the fallback all the same.
      t = (spec.tagRegex && tagFromRegex(spec.tag, spec.tagRegex, shown)) ?? expandTag(spec.tag, shown)
      // Bounded: files come and go (pod churn under /var/log/containers) over a long life.
      if (input.tags.size >= 10_000) input.tags.clear()
      input.tags.set(path, t)
    }
    return t
  }

  private route(tag: string): Route {
    let r = this.routes.get(tag)
    if (!r) {
      r = {
        filters: this.filters.filter((f) => f.matches(tag)),
        outputs: this.outputs.filter((o) => o.matches(tag)),
      }
      if (this.routes.size < 10_000) this.routes.set(tag, r)
    }
    return r
  }

  private decode(input: Input, tag: string, path: string, line: string, now: number): LogEvent {
    const spec = input.spec
    let event: LogEvent
    const parsed = spec.parser?.parse(line)
    if (parsed) event = { tag, time: parsed.time ?? now, record: parsed.record }
    else {
      if (spec.parser) this.metrics.parseFailures.inc({ input: spec.name })
      // An unparsable line is shipped raw, never dropped.
      event = { tag, time: now, record: { [spec.rawKey]: line } }
    }
    if (spec.pathKey) event.record[spec.pathKey] = path
    return event
  }

  private onChunk(input: Input, chunk: TailChunk): void {
    const name = input.spec.name
    this.metrics.inputBytes.inc({ input: name }, chunk.bytes)
    if (input.multiline) {
      if (this.streamPaths.size >= 10_000 && !this.streamPaths.has(chunk.stream)) this.streamPaths.clear()
      this.streamPaths.set(chunk.stream, chunk.path)
      // Records completed while this chunk's lines are pushed are held on this chunk too.
      this.current = chunk
      try {
        const lines = chunk.lines
        for (let i = 0; i < lines.length; i++) input.multiline.push(chunk.stream, lines[i]!, i)
        input.multiline.holdPending(chunk.stream, chunk)
      } finally {
        this.current = undefined
      }
      chunk.ack()
      return
    }
    const tag = this.tagOf(input, chunk.path)
    const route = this.route(tag)
    const now = Date.now()
    let events: LogEvent[] = new Array(chunk.lines.length)
    for (let i = 0; i < chunk.lines.length; i++)
      events[i] = this.decode(input, tag, chunk.path, chunk.lines[i]!, now)
    this.metrics.inputRecords.inc({ input: name }, events.length)
    events = this.applyFilters(route, events)
    this.dispatch(route, events, chunk.bytes, [chunk.hold], chunk.ack)
  }

  private readonly streamPaths = new Map<string, string>()

  private current: TailChunk | undefined

  private onRecord(
    input: Input,
    stream: string,
    text: string,
    releases: Array<() => void> | undefined,
  ): void {
    const path = this.streamPaths.get(stream) ?? stream
    const tag = this.tagOf(input, path)
    const route = this.route(tag)
    this.metrics.inputRecords.inc({ input: input.spec.name })
    const events = this.applyFilters(route, [this.decode(input, tag, path, text, Date.now())])
    const all = releases ? [...releases] : []
    if (this.current) all.push(this.current.hold())
    const releaseAll = () => {
      for (const r of all) r()
    }
    if (route.outputs.length === 0) {
      releaseAll()
      return
    }
    let left = route.outputs.length
    const hold = () => () => {
      if (--left === 0) releaseAll()
    }
    this.dispatch(route, events, Buffer.byteLength(text), [hold], () => {})
  }

  private readonly filterFailed = new Set<string>()

  private applyFilters(route: Route, events: LogEvent[]): LogEvent[] {
    if (route.filters.length === 0) return events
    const out: LogEvent[] = []
    outer: for (let e of events) {
      for (const f of route.filters) {
        let next: LogEvent | null
        try {
          next = f.transform.apply(e)
        } catch (err) {
          // A filter that fails on one record must not stall the file: pass the record on as it is.
          if (!this.filterFailed.has(f.name)) {
            this.filterFailed.add(f.name)
            this.logger.error(
              { err, filter: f.name },
              'A filter failed on a record; passing such records on unfiltered.',
            )
          }
          next = e
        }
        if (!next) {
          this.metrics.filterDropped.inc({ filter: f.name })
          continue outer
        }
        e = next
      }
      out.push(e)
    }
    return out
  }

  /** Hands records to every matching output; each output holds the source until it acknowledged. */
  private dispatch(
    route: Route,
    events: LogEvent[],
    bytes: number,
    holds: Array<() => () => void>,
    done: () => void,
  ): void {
    const outs = route.outputs
    for (let i = 0; i < outs.length; i++) {
      const release = holds[0]!()
      // Outputs may change records later (es adds fields to a copy); the same objects are shared read-only.
      outs[i]!.queue.add(events, bytes, release)
    }
    done()
  }
}

/** The records of a stored chunk; a forward output's chunk holds its encoded [time, record] entries per tag. */
function eventsOf(payload: ChunkPayload): LogEvent[] {
  if (payload.events) return payload.events
  const events: LogEvent[] = []
  for (const part of payload.parts ?? []) {
    let pos = 0
    while (pos < part.entries.length) {
      const r = decodeOne(part.entries, pos)
      const v = r?.value
      if (!r || !Array.isArray(v) || v.length !== 2)
        throw new StorageError(`a chunk of tag ${part.tag} is damaged`)
      pos = r.end
      const t = v[0]
      events.push({
        tag: part.tag,
        time: t instanceof EventTime ? t.toMillis() : Number(t) * 1000,
        record: v[1] as Record<string, unknown>,
      })
    }
  }
  return events
}

/**
 * Time_Strict Off: a time the whole Time_Format does not read still sets the record's time from
 * what it read, as Fluent Bit's flb_parser_time_lookup keeps the fields strptime filled before it
 * stopped ("non-exact match") where Time_Strict On refuses the time. So `%Y-%m-%dT%H:%M:%S %z`
 * takes `2026-11-24T10:00:00` (no zone) as UTC. The format is tried cut after each of its
 * directives, longest first; a time not even the first directive reads keeps the read time and
 * the field, as with Time_Strict On.
 */
function lenientTime(parser: Parser, def: ParserDefinition): Parser {
  const format = def.timeFormat!
  const tokens = format.match(/%[-_0]?[\s\S]|[^%]+/g) ?? []
  const prefixes: TimeParser[] = []
  for (let i = tokens.length - 1; i > 0; i--) {
    if (!tokens[i - 1]!.startsWith('%')) continue
    const prefix = tokens.slice(0, i).join('')
    try {
      prefixes.push(compileTimeFormat(prefix, offsetMinutes(def.timeOffset), { ignoreTrailing: true }))
    } catch {
      // a prefix that cuts a composite directive apart cannot occur; skip it if it does
    }
  }
  const key = def.timeKey ?? 'time'
  return {
    name: parser.name,
    parse(line) {
      const r = parser.parse(line)
      if (!r || r.time !== undefined) return r
      const v = r.record[key]
      if (typeof v !== 'string') return r
      for (const tp of prefixes) {
        const t = tp.parse(v)
        if (t === undefined) continue
        if (!def.timeKeep) delete r.record[key]
        return { ...r, time: t }
      }
      return r
    },
  }
}

/** Time_Offset (+0200, -05:30) in minutes east of UTC; the parser itself has checked it. */
function offsetMinutes(o: string | undefined): number {
  return (o && parseOffset(o)) || 0
}

function parserDefinition(p: PluginSection): ParserDefinition {
  const format = p.str('format')
  if (!format) throw p.error(undefined, `parser "${p.str('name')}" needs a Format`)
  if (format === 'regex' && !p.str('regex'))
    throw p.error(undefined, `parser "${p.str('name')}" needs a Regex`)
  return {
    name: p.required('name'),
    format: format.toLowerCase(),
    regex: slashRegex(p.str('regex')),
    timeKey: p.str('time_key'),
    timeFormat: p.str('time_format'),
    timeKeep: p.bool('time_keep', false),
    timeOffset: p.str('time_offset'),
    // Fluent Bit's strptime stops where the format ends: `%Y-%m-%dT%H:%M:%S` takes an ISO time
    // with fractions and zone to the second (flb_parser_time_lookup never checks the rest).
    timeIgnoreTrailing: true,
    types: p.str('types'),
    // Fluent Bit skips empty captures unless Skip_Empty_Values Off, and only in regex parsers
    // (flb_parser_create sets skip_empty for FLB_PARSER_REGEX alone).
    skipEmptyValues: format.toLowerCase() === 'regex' && p.bool('skip_empty_values', true),
  }
}

// Builds an output's Sink from its [OUTPUT] section: forward, http, loki, es here; stdout and file
// reuse @podkit/log-pipeline's sinks with Fluent Bit's record formats.

import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { FileSink, type LogEvent, type Sink, StdoutSink } from '@podkit/log-pipeline'
import type { PluginSection } from '../fluent-bit/section.ts'
import { EsSink, esOptions } from './es/index.ts'
import { ForwardSink, forwardOptions } from './forward/index.ts'
import { HttpSink, httpOptions } from './http/index.ts'
import { formatDate } from './http-client.ts'
import { LokiSink, lokiOptions } from './loki/index.ts'

export interface SinkContext {
  /** Rewrites host:port of network outputs (hostAliases), e.g. for tests and local runs. */
  resolveHost(host: string, port: number): { host: string; port: number }
  /** Records an output refused for good (es item errors, loki 400s): counted as dropped. */
  onRejected(output: string, records: number, reason: string): void
  stdout?: NodeJS.WritableStream
}

export function createSink(s: PluginSection, name: string, ctx: SinkContext): Sink {
  const aliased = <T extends { host: string; port: number }>(t: T): T => ({
    ...t,
    ...ctx.resolveHost(t.host, t.port),
  })
  const rejected = (records: number, reason: string) => ctx.onRejected(name, records, reason)
  switch (s.name) {
    case 'forward':
      return new ForwardSink(aliased(forwardOptions(s, name)))
    case 'http': {
      const o = httpOptions(s, name)
      return new HttpSink({ ...o, target: aliased(o.target) })
    }
    case 'loki': {
      const o = lokiOptions(s, name)
      return new LokiSink({ ...o, target: aliased(o.target), onRejected: rejected })
    }
    // Fluent Bit's opensearch output speaks the same _bulk API with the same keys as es.
    case 'opensearch':
    case 'es': {
      const o = esOptions(s, name)
      return new EsSink({ ...o, target: aliased(o.target), onRejected: rejected })
    }
    case 'stdout': {
      const format = s.oneOf('format', ['msgpack', 'json', 'json_lines', 'json_stream'] as const, 'msgpack')
      const dateKey = s.str('json_date_key', 'date')
      const dateFormat = s.str('json_date_format', 'double')
      let n = 0
      const serialize =
        format === 'msgpack'
          ? (e: LogEvent) => `[${n++}] ${e.tag}: [${(e.time / 1000).toFixed(9)}, ${JSON.stringify(e.record)}]`
          : (e: LogEvent) => JSON.stringify({ [dateKey]: formatDate(e.time, dateFormat), ...e.record })
      return new StdoutSink({ name, serialize, stream: ctx.stdout as never })
    }
    case 'file':
      return new PerTagFileSink(s, name)
    default:
      throw s.error('name', `output ${s.name} is not supported`)
  }
}

/** Fluent Bit's file output: one file per tag in Path (or the fixed File name), `tag: [time, record]` lines. */
class PerTagFileSink implements Sink {
  private readonly files = new Map<string, FileSink>()
  private readonly dir: string
  private readonly fixed: string | undefined
  private readonly serialize: (e: LogEvent) => string

  constructor(
    s: PluginSection,
    readonly name: string,
  ) {
    this.dir = s.str('path', process.cwd())
    this.fixed = s.str('file') || undefined
    const format = s.oneOf('format', ['out_file', 'plain', 'json_lines'] as const, 'out_file')
    this.serialize =
      format === 'out_file'
        ? (e) => `${e.tag}: [${(e.time / 1000).toFixed(9)}, ${JSON.stringify(e.record)}]`
        : (e) => JSON.stringify(e.record)
    if (s.bool('mkdir', false)) mkdirSync(this.dir, { recursive: true })
  }

  async write(events: readonly LogEvent[]): Promise<void> {
    const groups = new Map<string, LogEvent[]>()
    for (const e of events) {
      const f = this.fixed ?? e.tag
      let g = groups.get(f)
      if (!g) {
        g = []
        groups.set(f, g)
      }
      g.push(e)
    }
    for (const [f, list] of groups) {
      let sink = this.files.get(f)
      if (!sink) {
        sink = new FileSink({
          path: join(this.dir, f),
          name: this.name,
          maxSize: 0,
          serialize: this.serialize,
        })
        this.files.set(f, sink)
      }
      await sink.write(list)
    }
  }

  async stop(): Promise<void> {
    for (const f of this.files.values()) await f.stop?.()
  }
}

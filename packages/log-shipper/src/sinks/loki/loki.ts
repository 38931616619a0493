// The loki output: Loki's push API (POST /loki/api/v1/push, JSON). Streams are keyed by their label
// set (static labels plus record fields named by label_keys / $accessors); entries are sorted by
// time within a stream so Loki never sees them out of order; tenant_id goes in X-Scope-OrgID.
// 429 and 5xx are retried; a 400 (out-of-order, too old, bad labels) cannot succeed on retry and is
// dropped, counted and logged. API: https://grafana.com/docs/loki/latest/reference/loki-http-api/#ingest-logs

import type { LogEvent, Sink } from '@podkit/log-pipeline'
import { getField } from '@podkit/log-pipeline'
import { HttpDeliveryError } from '../../errors.ts'
import { HttpClient, type HttpTarget } from '../http-client.ts'

export interface LokiLabel {
  /** Label name in Loki. */
  name: string
  /** A fixed value, or the record path the value comes from. */
  value?: string
  path?: string[]
}

export interface LokiSinkOptions {
  name: string
  target: HttpTarget
  uri: string
  tenantId: string | undefined
  labels: LokiLabel[]
  removeKeys: string[][]
  lineFormat: 'json' | 'key_value'
  dropSingleKey: boolean
  /** Reports records Loki refused for good (400), for the dropped counter. */
  onRejected?: (records: number, reason: string) => void
}

export class LokiSink implements Sink {
  readonly name: string
  private readonly client: HttpClient

  constructor(private readonly o: LokiSinkOptions) {
    this.name = o.name
    this.client = new HttpClient(o.target)
  }

  /** The push request body for a batch. */
  body(events: readonly LogEvent[]): string {
    const streams = new Map<string, { stream: Record<string, string>; values: Array<[number, string]> }>()
    for (const e of events) {
      const stream: Record<string, string> = {}
      for (const l of this.o.labels) {
        const v = l.path ? getField(e.record, l.path) : l.value
        if (v !== undefined && v !== null) stream[l.name] = typeof v === 'string' ? v : JSON.stringify(v)
      }
      const key = JSON.stringify(stream)
      let s = streams.get(key)
      if (!s) {
        s = { stream, values: [] }
        streams.set(key, s)
      }
      s.values.push([e.time, this.line(e.record)])
    }
    const out = []
    for (const s of streams.values()) {
      s.values.sort((a, b) => a[0] - b[0])
      out.push({ stream: s.stream, values: s.values.map(([t, line]) => [nanos(t), line]) })
    }
    return JSON.stringify({ streams: out })
  }

  private line(record: Record<string, unknown>): string {
    let r = record
    if (this.o.removeKeys.length > 0) {
      r = { ...record }
      for (const path of this.o.removeKeys) {
        if (path.length === 1) delete r[path[0]!]
        else {
          const parent = getField(r, path.slice(0, -1))
          if (parent && typeof parent === 'object') delete (parent as Record<string, unknown>)[path.at(-1)!]
        }
      }
    }
    // A field left undefined (a regex group that did not take part, an empty capture) is absent,
    // as JSON.stringify and msgpack treat it: no `agent=undefined`, and it does not count as a key.
    const keys = Object.keys(r).filter((k) => r[k] !== undefined)
    if (this.o.dropSingleKey && keys.length === 1) {
      const v = r[keys[0]!]
      return typeof v === 'string' ? v : this.o.lineFormat === 'key_value' ? kvValue(v) : JSON.stringify(v)
    }
    if (this.o.lineFormat === 'key_value') return keys.map((k) => `${k}=${kvValue(r[k])}`).join(' ')
    return JSON.stringify(r)
  }

  async write(events: readonly LogEvent[], signal?: AbortSignal): Promise<void> {
    const extra: Record<string, string> = this.o.tenantId ? { 'x-scope-orgid': this.o.tenantId } : {}
    try {
      await this.client.post(this.o.uri, this.body(events), 'application/json', signal, extra)
    } catch (err) {
      if (err instanceof HttpDeliveryError && err.status === 400) {
        this.o.onRejected?.(events.length, err.message)
        return
      }
      // 401/403/404 (a rotated password, a tenant not yet allowed) come retryable from HttpClient.post.
      throw err
    }
  }

  async stop(): Promise<void> {
    await this.client.close()
  }
}

/**
 * A value of a `key_value` line as Fluent Bit's out_loki writes it (pack_format_line_value):
 * strings in double quotes (so `agent="curl 8"` stays one logfmt pair), numbers and booleans bare,
 * null as `null`, arrays as `"[a b]"` and maps as `"map[k:v]"` with their items formatted alike.
 */
function kvValue(v: unknown): string {
  if (typeof v === 'string') return `"${v}"`
  if (v === null || v === undefined) return 'null'
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v)
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(16)))
  if (Array.isArray(v)) return `"[${v.map(kvValue).join(' ')}]"`
  if (typeof v === 'object')
    return `"map[${Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${k}:${kvValue(x)}`)
      .join(' ')}]"`
  return `"${String(v)}"`
}

// Loki wants nanoseconds as a decimal string; ms floats keep their sub-millisecond part.
function nanos(ms: number): string {
  const whole = Math.floor(ms)
  const frac = Math.round((ms - whole) * 1e6)
  return `${whole}${String(frac).padStart(6, '0')}`
}

// The es output: Elasticsearch / OpenSearch `_bulk` API (NDJSON action + document pairs). The
// response is inspected item by item: items refused with 429 (queue full) are sent again with
// backoff, items refused for good (mapping errors, 400s) are dropped, counted and logged, and the
// rest are acknowledged. API: https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-bulk.html

import { createHash } from 'node:crypto'
import type { LogEvent, Sink } from '@podkit/log-pipeline'
import { HttpDeliveryError } from '../../errors.ts'
import { HttpClient, type HttpTarget } from '../http-client.ts'

export interface EsSinkOptions {
  name: string
  target: HttpTarget
  /** Path prefix of the cluster (Path key), e.g. `/es`. */
  path: string
  index: string
  type: string | undefined
  logstashFormat: boolean
  logstashPrefix: string
  logstashDateformat: string
  timeKey: string
  includeTagKey: boolean
  tagKey: string
  /** Derive _id from the document, so a retried item never becomes a duplicate. */
  generateId: boolean
  idKey: string | undefined
  replaceDots: boolean
  /** Resends of 429 items inside one write before the whole chunk is handed back for retry. */
  itemRetries: number
  itemRetryDelayMs: number
  onRejected?: (records: number, reason: string) => void
}

interface BulkItemResult {
  status?: number
  error?: { type?: string; reason?: string } | string
}

export class EsSink implements Sink {
  readonly name: string
  private readonly client: HttpClient

  constructor(private readonly o: EsSinkOptions) {
    this.name = o.name
    this.client = new HttpClient(o.target)
  }

  /** The NDJSON body for a batch. */
  body(events: readonly LogEvent[]): string {
    let out = ''
    for (const e of events) {
      const doc: Record<string, unknown> = this.o.replaceDots ? replaceDots(e.record) : { ...e.record }
      doc[this.o.timeKey] = new Date(e.time).toISOString()
      if (this.o.includeTagKey) doc[this.o.tagKey] = e.tag
      const json = JSON.stringify(doc)
      const meta: Record<string, unknown> = { _index: this.indexFor(e.time) }
      if (this.o.type) meta._type = this.o.type
      if (this.o.idKey && doc[this.o.idKey] !== undefined) meta._id = String(doc[this.o.idKey])
      else if (this.o.generateId) meta._id = createHash('sha1').update(json).digest('hex')
      out += `${JSON.stringify({ create: meta })}\n${json}\n`
    }
    return out
  }

  private indexFor(ms: number): string {
    if (!this.o.logstashFormat) return this.o.index
    return `${this.o.logstashPrefix}-${strftimeUtc(this.o.logstashDateformat, ms)}`
  }

  async write(events: readonly LogEvent[], signal?: AbortSignal): Promise<void> {
    let pending = events
    for (let attempt = 0; ; attempt++) {
      // A refusal of the request (401/403/404 retried, see HttpClient.post) throws from here.
      const reply = await this.client.post(
        `${this.o.path}/_bulk`,
        this.body(pending),
        'application/x-ndjson',
        signal,
      )
      let parsed: { errors?: boolean; items?: Array<Record<string, BulkItemResult>> }
      try {
        parsed = JSON.parse(reply.body)
      } catch {
        throw new HttpDeliveryError(`_bulk answered ${reply.status} with a body that is not JSON`, {
          retryable: true,
        })
      }
      if (!parsed.errors) return
      const items = parsed.items ?? []
      if (items.length !== pending.length)
        throw new HttpDeliveryError(`_bulk answered ${items.length} items for ${pending.length} documents`, {
          retryable: true,
        })
      const again: LogEvent[] = []
      const reasons = new Map<string, number>()
      items.forEach((item, i) => {
        const r = Object.values(item)[0] ?? {}
        const status = r.status ?? 500
        if (status < 300 || status === 409) return // 409: created by an earlier try (generate_id)
        // 403 is a cluster block (the read-only index of a full disk), lifted once space is freed.
        if (status === 429 || status === 403 || status >= 500) again.push(pending[i]!)
        else {
          const why =
            typeof r.error === 'string' ? r.error : `${r.error?.type ?? status}: ${r.error?.reason ?? ''}`
          reasons.set(why, (reasons.get(why) ?? 0) + 1)
        }
      })
      for (const [why, n] of reasons) this.o.onRejected?.(n, why)
      if (again.length === 0) return
      if (attempt >= this.o.itemRetries)
        throw new HttpDeliveryError(
          `${again.length} bulk items still refused with 403/429/5xx after ${attempt + 1} tries`,
          {
            status: 429,
            retryable: true,
          },
        )
      pending = again
      await sleep(this.o.itemRetryDelayMs * 2 ** attempt, signal)
    }
  }

  async stop(): Promise<void> {
    await this.client.close()
  }
}

function replaceDots(r: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(r)) out[k.replace(/\./g, '_')] = v
  return out
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t)
        reject(new HttpDeliveryError('cut by shutdown', { retryable: true }))
      },
      { once: true },
    )
  })
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
]
const p2 = (n: number) => String(n).padStart(2, '0')

/** ISO 8601 week number and week-based year of a UTC date (%V, %G): the week of its Thursday. */
function isoWeek(d: Date): { week: number; year: number } {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()))
  t.setUTCDate(t.getUTCDate() + 4 - (t.getUTCDay() || 7))
  const week = Math.ceil(((t.getTime() - Date.UTC(t.getUTCFullYear(), 0, 1)) / 86_400_000 + 1) / 7)
  return { week, year: t.getUTCFullYear() }
}

/**
 * strftime(3) in UTC, as Fluent Bit formats Logstash_DateFormat (gmtime + strftime): hourly
 * (`%Y.%m.%d.%H`) and weekly (`%G.%V`) indices included. Throws on a directive it does not know.
 */
export function strftimeUtc(fmt: string, ms: number): string {
  const d = new Date(ms)
  const Y = d.getUTCFullYear()
  const doy = Math.floor((Date.UTC(Y, d.getUTCMonth(), d.getUTCDate()) - Date.UTC(Y, 0, 1)) / 86_400_000)
  const wday = d.getUTCDay()
  return fmt.replace(/%(.)/g, (_, c: string) => {
    switch (c) {
      case 'Y':
        return String(Y)
      case 'C':
        return p2(Math.floor(Y / 100))
      case 'y':
        return p2(Y % 100)
      case 'G':
        return String(isoWeek(d).year)
      case 'g':
        return p2(isoWeek(d).year % 100)
      case 'm':
        return p2(d.getUTCMonth() + 1)
      case 'd':
        return p2(d.getUTCDate())
      case 'e':
        return String(d.getUTCDate()).padStart(2, ' ')
      case 'j':
        return String(doy + 1).padStart(3, '0')
      case 'H':
        return p2(d.getUTCHours())
      case 'I':
        return p2(d.getUTCHours() % 12 || 12)
      case 'M':
        return p2(d.getUTCMinutes())
      case 'S':
        return p2(d.getUTCSeconds())
      case 'p':
        return d.getUTCHours() < 12 ? 'AM' : 'PM'
      case 'a':
        return DAYS[wday]!.slice(0, 3)
      case 'A':
        return DAYS[wday]!
      case 'b':
      case 'h':
        return MONTHS[d.getUTCMonth()]!.slice(0, 3)
      case 'B':
        return MONTHS[d.getUTCMonth()]!
      case 'u':
        return String(wday || 7)
      case 'w':
        return String(wday)
      case 'U':
        return p2(Math.floor((doy + 7 - wday) / 7))
      case 'W':
        return p2(Math.floor((doy + 7 - ((wday + 6) % 7)) / 7))
      case 'V':
        return p2(isoWeek(d).week)
      case 's':
        return String(Math.floor(ms / 1000))
      case 'F':
        return `${Y}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}`
      case '%':
        return '%'
      default:
        throw new RangeError(`unknown strftime directive %${c}`)
    }
  })
}

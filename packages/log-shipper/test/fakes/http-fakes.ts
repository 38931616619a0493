// HTTP fakes for the http, loki and es outputs, written from the public API docs:
// - Loki push API (POST /loki/api/v1/push, JSON {streams:[{stream:{labels}, values:[[ns, line]]}]}),
//   https://grafana.com/docs/loki/latest/reference/loki-http-api/#ingest-logs ; like Loki before
//   unordered writes, it refuses an entry older than the newest of its stream (400 "out of order").
// - Elasticsearch _bulk (NDJSON action/document pairs, per-item results),
//   https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-bulk.html
// Both can answer 429 for a while, as an overloaded cluster does.

import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { gunzipSync } from 'node:zlib'

export interface CapturedRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

export interface HttpFake {
  port: number
  requests: CapturedRequest[]
  stop(): Promise<void>
}

type Handler = (req: CapturedRequest, res: ServerResponse) => void

async function serve(handler: Handler, tls?: { cert: string; key: string }): Promise<HttpFake> {
  const requests: CapturedRequest[] = []
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = []
    req.on('data', (d: Buffer) => parts.push(d))
    req.on('end', () => {
      let raw = Buffer.concat(parts)
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw)
      const captured = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: raw.toString('utf8'),
      }
      requests.push(captured)
      handler(captured, res)
    })
  }
  const server: Server = tls ? createHttpsServer(tls, onRequest) : createHttpServer(onRequest)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const addr = server.address()
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    requests,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

/** Any HTTP endpoint: answers `status` (or the next of `statuses`) and records the requests. */
export function startHttpFake(
  opts: { statuses?: number[]; tls?: { cert: string; key: string } } = {},
): Promise<HttpFake> {
  const statuses = [...(opts.statuses ?? [])]
  return serve((_req, res) => {
    res.statusCode = statuses.shift() ?? 200
    res.end('{}')
  }, opts.tls)
}

export interface LokiEntry {
  labels: Record<string, string>
  ns: string
  line: string
  tenant: string | undefined
}

export interface LokiFake extends HttpFake {
  entries: LokiEntry[]
  /** Answer 429 to this many more pushes. */
  throttle: number
  /** Answer every push with this status (401 for a tenant without access...) while set. */
  pushStatus: number | undefined
}

export async function startLokiFake(): Promise<LokiFake> {
  const newest = new Map<string, bigint>()
  const fake = { entries: [] as LokiEntry[], throttle: 0, pushStatus: undefined } as LokiFake
  const base = await serve((req, res) => {
    if (req.method !== 'POST' || req.url !== '/loki/api/v1/push') {
      res.statusCode = 404
      return res.end('not found')
    }
    if (fake.pushStatus !== undefined) {
      res.statusCode = fake.pushStatus
      return res.end('no org id')
    }
    if (fake.throttle > 0) {
      fake.throttle--
      res.statusCode = 429
      return res.end('Ingestion rate limit exceeded')
    }
    let body: { streams?: Array<{ stream?: Record<string, string>; values?: Array<[string, string]> }> }
    try {
      body = JSON.parse(req.body)
    } catch {
      res.statusCode = 400
      return res.end('invalid JSON')
    }
    const accepted: LokiEntry[] = []
    for (const s of body.streams ?? []) {
      if (!s.stream || Object.keys(s.stream).length === 0) {
        res.statusCode = 400
        return res.end('error at least one label pair is required per stream')
      }
      const key = JSON.stringify(Object.entries(s.stream).sort())
      for (const v of s.values ?? []) {
        if (!Array.isArray(v) || !/^\d+$/.test(v[0]) || typeof v[1] !== 'string') {
          res.statusCode = 400
          return res.end('invalid entry')
        }
        const ts = BigInt(v[0])
        if (ts < (newest.get(key) ?? 0n)) {
          res.statusCode = 400
          return res.end(`entry with timestamp ${v[0]} out of order for stream ${key}`)
        }
        newest.set(key, ts)
        accepted.push({
          labels: s.stream,
          ns: v[0],
          line: v[1],
          tenant: req.headers['x-scope-orgid'] as string | undefined,
        })
      }
    }
    fake.entries.push(...accepted)
    res.statusCode = 204
    res.end()
  })
  return Object.assign(fake, base)
}

export interface EsFake extends HttpFake {
  docs: Array<{ index: string; id?: string; doc: Record<string, unknown> }>
  /** Documents answered 429 in the next bulk requests: how many per request, for how many requests. */
  throttleItems: { perRequest: number; requests: number }
  /**
   * The indices are read-only, as Elasticsearch makes them past the flood-stage disk watermark:
   * every item is answered 403 cluster_block_exception until this is set back to false.
   */
  readOnly: boolean
  /** Answer every bulk request with this status and no items (401 after a credential rotation...). */
  requestStatus: number | undefined
}

/** A document with `reject: true` gets a mapper_parsing_exception (400) item error. */
export async function startEsFake(): Promise<EsFake> {
  const fake = {
    docs: [],
    throttleItems: { perRequest: 0, requests: 0 },
    readOnly: false,
    requestStatus: undefined,
  } as unknown as EsFake
  const ids = new Set<string>()
  const base = await serve((req, res) => {
    if (req.method !== 'POST' || !req.url.endsWith('/_bulk')) {
      res.statusCode = 404
      return res.end('{}')
    }
    if (req.headers['content-type'] !== 'application/x-ndjson') {
      res.statusCode = 406
      return res.end('{"error":"Content-Type header [application/json] is not supported"}')
    }
    if (fake.requestStatus !== undefined) {
      res.statusCode = fake.requestStatus
      return res.end('{"error":{"type":"security_exception","reason":"unable to authenticate user"}}')
    }
    const lines = req.body.split('\n')
    if (lines.at(-1) !== '') {
      res.statusCode = 400
      return res.end('{"error":"The bulk request must be terminated by a newline [\\n]"}')
    }
    lines.pop()
    const items: unknown[] = []
    let errors = false
    let throttleLeft = fake.throttleItems.requests > 0 ? fake.throttleItems.perRequest : 0
    if (fake.throttleItems.requests > 0) fake.throttleItems.requests--
    for (let i = 0; i < lines.length; i += 2) {
      const action = JSON.parse(lines[i]!) as Record<string, { _index?: string; _id?: string }>
      const [op, meta] = Object.entries(action)[0]!
      const doc = JSON.parse(lines[i + 1] ?? 'null') as Record<string, unknown>
      if (fake.readOnly) {
        errors = true
        items.push({
          [op]: {
            status: 403,
            error: {
              type: 'cluster_block_exception',
              reason: `index [${meta._index}] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];`,
            },
          },
        })
        continue
      }
      if (throttleLeft > 0) {
        throttleLeft--
        errors = true
        items.push({
          [op]: { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'queue full' } },
        })
        continue
      }
      if (doc?.reject === true) {
        errors = true
        items.push({
          [op]: {
            status: 400,
            error: { type: 'mapper_parsing_exception', reason: 'failed to parse field [reject]' },
          },
        })
        continue
      }
      if (op === 'create' && meta._id && ids.has(meta._id)) {
        errors = true
        items.push({
          [op]: {
            status: 409,
            error: { type: 'version_conflict_engine_exception', reason: 'document already exists' },
          },
        })
        continue
      }
      if (meta._id) ids.add(meta._id)
      fake.docs.push({ index: meta._index ?? '', id: meta._id, doc })
      items.push({ [op]: { _index: meta._index, status: 201, result: 'created' } })
    }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ took: 1, errors, items }))
  })
  return Object.assign(fake, base)
}

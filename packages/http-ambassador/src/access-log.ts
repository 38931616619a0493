// The access log: one JSON line per request in the same shape as the runtime's pino lines
// (level, time, service, version, msg), built as a string and written to the logger's own
// destination in batches: every 100 ms or 64 KiB, and on stop. At thousands of requests a second,
// pino's per-call object walk and a write per line cost more than the proxying itself.

import { type Logger, logDestination } from '@podkit/runtime'

interface Destination {
  write(s: string): unknown
}

export interface AccessEntry {
  listener: string
  method: string
  path: string
  status: number
  flag: string
  cluster: string
  upstream: string | undefined
  attempts: number
  durationMs: number
  upstreamMs: number
  bytes: number
  requestId: string
  code: string | undefined
  reason: string | undefined
}

const SAFE = /^[\x20-\x7e]*$/

/** POSIX's minimum PIPE_BUF, Linux's value: writes up to this size to a pipe are not interleaved. */
const PIPE_BUF = 4096

/** Set by str() when a literal may hold non-ASCII characters (its bytes are then counted). */
let wide = false

/** A JSON string literal; plain printable ASCII without quotes or backslashes needs no escaping. */
function str(s: string): string {
  if (SAFE.test(s) && !s.includes('"') && !s.includes('\\')) return `"${s}"`
  wide = true
  return JSON.stringify(s)
}

export class AccessLog {
  private readonly dest: Destination | undefined
  private readonly base: string
  private buf = ''
  /** Where buf is cut into writes of at most PIPE_BUF bytes (string offsets), and the bytes since the last cut. */
  private cuts: number[] = []
  private chunkBytes = 0
  private timer: NodeJS.Timeout | undefined
  private lastMs = 0
  private lastIso = ''

  constructor(private readonly logger: Logger) {
    this.dest = logDestination(logger)
    const bindings = JSON.stringify(logger.bindings())
    this.base = bindings.length > 2 ? `,${bindings.slice(1, -1)}` : ''
  }

  private readonly names = new Map<string, string>()

  /** A config name as a JSON literal, escaped once. */
  private name(n: string): string {
    let q = this.names.get(n)
    if (q === undefined) {
      q = JSON.stringify(n)
      this.names.set(n, q)
      if (!/^[\x00-\x7f]*$/.test(q) || !/^[\x00-\x7f]*$/.test(this.base)) this.wideNames = true
    }
    return q
  }

  /** A listener or cluster name, or a logger binding, holds non-ASCII characters. */
  private wideNames = false

  get enabled(): boolean {
    return this.logger.isLevelEnabled('info')
  }

  write(e: AccessEntry): void {
    if (!this.dest) {
      this.logger.info(e, 'request')
      return
    }
    wide = false
    const now = Date.now()
    if (now !== this.lastMs) {
      this.lastMs = now
      this.lastIso = new Date(now).toISOString()
    }
    // Listener and cluster names come from the config, the method from our request parser (a token):
    // only the path, the request id and the reason can carry characters that need escaping.
    let line = `{"level":"info","time":"${this.lastIso}"${this.base},"listener":${this.name(e.listener)},"method":"${e.method}","path":${str(e.path)},"status":${e.status},"flag":"${e.flag}","cluster":${this.name(e.cluster)}`
    if (e.upstream !== undefined) {
      // A host name from the config or DNS: written as it is, counted in bytes if not ASCII.
      if (!SAFE.test(e.upstream)) wide = true
      line += `,"upstream":"${e.upstream}"`
    }
    line += `,"attempts":${e.attempts},"durationMs":${e.durationMs}`
    if (e.upstreamMs >= 0) line += `,"upstreamMs":${e.upstreamMs}`
    line += `,"bytes":${e.bytes},"requestId":${str(e.requestId)}`
    if (e.code !== undefined) line += `,"code":"${e.code}"`
    if (e.reason !== undefined) line += `,"reason":${str(e.reason)}`
    line += ',"msg":"request"}\n'
    // Names from the config are JSON literals made once; everything else is ASCII unless str()
    // passed a non-ASCII string through: only then are the bytes counted (which flattens the line).
    const bytes = wide || this.wideNames ? Buffer.byteLength(line) : line.length
    if (this.chunkBytes + bytes > PIPE_BUF && this.chunkBytes > 0) {
      this.cuts.push(this.buf.length)
      this.chunkBytes = 0
    }
    this.chunkBytes += bytes
    this.buf += line
    if (this.buf.length >= 65536) this.flush()
    else if (!this.timer) {
      this.timer = setTimeout(this.flush, 100)
      this.timer.unref()
    }
  }

  flush = (): void => {
    if (this.timer) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (this.buf === '') return
    const b = this.buf
    const cuts = this.cuts
    this.buf = ''
    this.cuts = []
    this.chunkBytes = 0
    // Worker threads write to the same stdout: a write of at most PIPE_BUF bytes to a pipe is
    // atomic, so whole lines of different threads never interleave (a longer single line may).
    let from = 0
    for (const to of cuts) {
      this.dest!.write(b.slice(from, to))
      from = to
    }
    this.dest!.write(from === 0 ? b : b.slice(from))
  }
}

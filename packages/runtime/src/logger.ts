// JSON logs on stdout, as Kubernetes collects them. Secrets are redacted by key name wherever
// they sit in a logged object, so a config or a connection string can be logged whole.

import { isoTime } from './clock.ts'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

const SECRET_KEY =
  /pass(word)?|secret|token|authorization|cookie|api[-_]?key|private[-_]?key|shared[-_]?key|credential/i

/** A copy of `value` with every secret-looking key replaced by "[redacted]". */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && v !== undefined && v !== '' ? '[redacted]' : redact(v, depth + 1)
  }
  return out
}

/** Strips the password from a URL or a libpq connection string. */
export function redactUrl(text: string): string {
  return text
    .replace(/(\/\/[^:/@\s]+:)[^@\s]*@/g, '$1[redacted]@')
    .replace(/(password\s*=\s*)('[^']*'|\S+)/gi, '$1[redacted]')
}

/** Where a logger writes its lines: anything with `write(line)` (a Writable, a file, a test's array). */
export interface DestinationStream {
  write(line: string): unknown
}

/** `log.info('text')`, `log.info({ fields }, 'text')`, `log.error(err, 'text')` (the error under `err`). */
export interface LogFn {
  (msg: string): void
  (obj: object, msg?: string): void
}

/**
 * The logger every podkit service and package takes. pino's loggers have the same shape, so code
 * that embeds a package can pass its own pino logger.
 */
export interface Logger {
  level: string
  fatal: LogFn
  error: LogFn
  warn: LogFn
  info: LogFn
  debug: LogFn
  trace: LogFn
  isLevelEnabled(level: string): boolean
  /** The fields on every line (service, version, and a child's). */
  bindings(): Record<string, unknown>
  child(bindings: Record<string, unknown>): Logger
  flush(cb?: (err?: Error) => void): void
}

export interface LoggerOptions {
  name: string
  level?: LogLevel
  version?: string
  destination?: DestinationStream
}

// pino's numbers, so levels compare the way pino users expect.
const LEVEL_VALUES: Record<string, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
}

const fs = process.getBuiltinModule('node:fs')

/**
 * Synchronous writes of whole lines to a file descriptor (stdout). Synchronous: asynchronous
 * writes were seen to reorder the last lines before exit when stdout is a pipe, and a service logs
 * a few lines a second, not per request (the http-ambassador batches its access log itself). A
 * pipe whose reader is slow (EAGAIN) is waited on; one with no reader (EPIPE) drops the line: the
 * logs have nowhere to go, but the service must keep serving and still drain on SIGTERM.
 */
class FdDestination implements DestinationStream {
  private sleeper: Int32Array | undefined
  constructor(private readonly fd: number) {}

  write(line: string): void {
    // Encoded once (writeSync would encode a string itself); a pipe may take part of a long line,
    // so the rest is written from where it stopped.
    const bytes = Buffer.from(line)
    for (let off = 0, tries = 0; off < bytes.length; ) {
      try {
        off += fs.writeSync(this.fd, bytes, off)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || tries++ >= 1000) return
        this.sleeper ??= new Int32Array(new SharedArrayBuffer(4))
        Atomics.wait(this.sleeper, 0, 0, 1)
      }
    }
  }
}

const destinations = new WeakMap<Logger, DestinationStream>()

/** An Error as pino's err serializer writes it: type, message, stack, its own fields, its cause. */
function serializeError(err: Error, seen: Set<unknown>): Record<string, unknown> {
  seen.add(err)
  const out: Record<string, unknown> = {
    type: err.constructor?.name ?? 'Error',
    message: err.message,
    stack: err.stack,
  }
  for (const [k, v] of Object.entries(err)) {
    if (k in out || v === undefined || typeof v === 'function') continue
    out[k] = v instanceof Error ? (seen.has(v) ? '[Circular]' : serializeError(v, seen)) : v
  }
  const cause = (err as { cause?: unknown }).cause
  if (cause !== undefined && !('cause' in out)) {
    out.cause =
      cause instanceof Error ? (seen.has(cause) ? '[Circular]' : serializeError(cause, seen)) : cause
  }
  if (err instanceof AggregateError && Array.isArray(err.errors)) {
    out.aggregateErrors = err.errors.map((e: unknown) =>
      e instanceof Error && !seen.has(e) ? serializeError(e, seen) : e,
    )
  }
  return out
}

/** Fields as JSON: errors serialized, secrets redacted; cycles and BigInts do not break a line. */
function fieldsJson(obj: object): string {
  const copy: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined) continue
    copy[k] = v instanceof Error ? serializeError(v, new Set()) : v
  }
  const clean = redact(copy)
  try {
    return JSON.stringify(clean)
  } catch {
    const seen = new WeakSet<object>()
    return JSON.stringify(clean, (_k, v: unknown) => {
      if (typeof v === 'bigint') return v.toString()
      if (v !== null && typeof v === 'object') {
        if (seen.has(v)) return '[Circular]'
        seen.add(v)
      }
      return v
    })
  }
}

class JsonLogger implements Logger {
  private threshold: number
  private levelName: string
  /** `,"service":"...",...`: the bindings, serialized once. */
  private readonly tail: string
  private lastMs = -1
  private lastIso = ''

  constructor(
    private readonly dest: DestinationStream,
    private readonly base: Record<string, unknown>,
    level: string,
  ) {
    this.levelName = level
    this.threshold = levelValue(level)
    const json = fieldsJson(base)
    this.tail = json.length > 2 ? `,${json.slice(1, -1)}` : ''
  }

  get level(): string {
    return this.levelName
  }

  set level(level: string) {
    this.threshold = levelValue(level)
    this.levelName = level
  }

  isLevelEnabled(level: string): boolean {
    const v = LEVEL_VALUES[level]
    return v !== undefined && v >= this.threshold && Number.isFinite(v)
  }

  bindings(): Record<string, unknown> {
    return { ...this.base }
  }

  child(bindings: Record<string, unknown>): Logger {
    const child = new JsonLogger(this.dest, { ...this.base, ...bindings }, this.levelName)
    destinations.set(child, this.dest)
    return child
  }

  flush(cb?: (err?: Error) => void): void {
    // Lines are written synchronously: nothing is buffered here.
    if (cb) process.nextTick(cb)
  }

  readonly fatal: LogFn = (a: string | object, b?: string) => this.write(60, 'fatal', a, b)
  readonly error: LogFn = (a: string | object, b?: string) => this.write(50, 'error', a, b)
  readonly warn: LogFn = (a: string | object, b?: string) => this.write(40, 'warn', a, b)
  readonly info: LogFn = (a: string | object, b?: string) => this.write(30, 'info', a, b)
  readonly debug: LogFn = (a: string | object, b?: string) => this.write(20, 'debug', a, b)
  readonly trace: LogFn = (a: string | object, b?: string) => this.write(10, 'trace', a, b)

  private write(value: number, label: string, a: string | object, b: string | undefined): void {
    if (value < this.threshold) return
    let fields = ''
    let msg: string | undefined
    if (typeof a === 'string') msg = a
    else if (a !== null && typeof a === 'object') {
      // As pino: an Error first is logged under `err`, its message the line's when none is given.
      const obj = a instanceof Error ? { err: a } : a
      const json = fieldsJson(obj)
      if (json.length > 2) fields = `,${json.slice(1, -1)}`
      msg = b ?? (a instanceof Error ? a.message : undefined)
    } else msg = b ?? (a === undefined ? undefined : String(a))
    const now = Date.now()
    if (now !== this.lastMs) {
      this.lastMs = now
      this.lastIso = isoTime(now)
    }
    this.dest.write(
      `{"level":"${label}","time":"${this.lastIso}"${this.tail}${fields}${msg === undefined ? '' : `,"msg":${JSON.stringify(msg)}`}}\n`,
    )
  }
}

function levelValue(level: string): number {
  const v = LEVEL_VALUES[level]
  if (v === undefined) throw new Error(`unknown log level "${level}" (one of ${LOG_LEVELS.join(', ')})`)
  return v
}

/**
 * A JSON-lines logger: `{"level":"info","time":"<ISO 8601>","service":...,"version":...,<fields>,"msg":...}`,
 * pino's line shape with level labels, written synchronously to stdout. Ours rather than pino's
 * because a sidecar's memory is its budget: pino with sonic-boom and thread-stream loads
 * worker_threads, assert and os and cost ~3.3 MiB resident on Node 24 at idle, for features
 * (transports, async destinations, custom levels) podkit does not use.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const dest = opts.destination ?? new FdDestination(1)
  const base = { service: opts.name, ...(opts.version ? { version: opts.version } : {}) }
  const logger = new JsonLogger(dest, base, opts.level ?? 'info')
  destinations.set(logger, dest)
  return logger
}

/**
 * The stream a logger writes to, for a service that writes its own prebuilt JSON lines in
 * batches (an access log at thousands of lines a second), in the same stream and order.
 */
export function logDestination(logger: Logger): { write(line: string): unknown } | undefined {
  return destinations.get(logger)
}

/**
 * Resolves when what the logger wrote is on stdout, in order (podkit's loggers write
 * synchronously; a pino logger passed in by an embedding application is flushed).
 */
export function drainLogger(logger: Logger, timeoutMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs)
    try {
      logger.flush(() => {
        clearTimeout(timer)
        resolve()
      })
    } catch {
      clearTimeout(timer)
      resolve()
    }
  })
}

/** Writes what the logger buffered, synchronously: for a fatal exit where nothing may wait. */
export function flushLogger(logger: Logger): void {
  try {
    const dest = destinations.get(logger) as { flushSync?: () => void } | undefined
    if (dest?.flushSync) dest.flushSync()
    else if (!(logger instanceof JsonLogger)) logger.flush()
  } catch {
    // stdout may already be closed
  }
}

// JSON logs on stdout, as Kubernetes collects them. Secrets are redacted by key name wherever
// they sit in a logged object, so a config or a connection string can be logged whole.

import { type DestinationStream, type Logger, pino } from 'pino'

export type { Logger } from 'pino'

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

export interface LoggerOptions {
  name: string
  level?: LogLevel
  version?: string
  destination?: DestinationStream
}

const destinations = new WeakMap<Logger, DestinationStream>()

function stdoutDestination(): DestinationStream {
  const dest = pino.destination({ dest: 1, sync: true })
  // With nobody reading stdout (the reader died), a write fails with EPIPE: the logs have
  // nowhere to go, but the service must keep serving and still drain on SIGTERM.
  dest.on('error', () => {})
  return dest
}

// Synchronous writes: asynchronous ones were seen to reorder the last lines before exit when
// stdout is a pipe, and a service logs a few lines a second, not per request (the
// http-ambassador batches its access log itself).

export function createLogger(opts: LoggerOptions): Logger {
  const dest = opts.destination ?? stdoutDestination()
  const logger = pino(
    {
      level: opts.level ?? 'info',
      base: { service: opts.name, ...(opts.version ? { version: opts.version } : {}) },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: 'msg',
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => redact(obj) as Record<string, unknown>,
      },
      serializers: { err: pino.stdSerializers.err },
    },
    dest,
  )
  destinations.set(logger, dest)
  return logger
}

/**
 * The stream a logger writes to, for a service that writes its own prebuilt JSON lines in
 * batches (an access log at thousands of lines a second), in the same stream and order.
 */
export function logDestination(logger: Logger): { write(line: string): unknown } | undefined {
  return destinations.get(logger) as { write(line: string): unknown } | undefined
}

/**
 * Writes what the logger buffered and resolves when it is on stdout, in order. Prefer this over
 * flushLogger: a synchronous flush while an asynchronous write is in flight can reorder lines.
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
    else logger.flush()
  } catch {
    // stdout may already be closed
  }
}

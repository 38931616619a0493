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

export function createLogger(opts: LoggerOptions): Logger {
  const dest = opts.destination ?? pino.destination({ dest: 1, sync: false, minLength: 0 })
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

/** Writes what the logger buffered; call before exiting. */
export function flushLogger(logger: Logger): void {
  try {
    const dest = destinations.get(logger) as { flushSync?: () => void } | undefined
    if (dest?.flushSync) dest.flushSync()
    else logger.flush()
  } catch {
    // stdout may already be closed
  }
}

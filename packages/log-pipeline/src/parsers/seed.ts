// The seed adapter's format, `TIMESTAMP LEVEL MESSAGE` (`2024-01-15 10:30:00.123 WARNING disk full`),
// parsed by hand rather than by regex because it is the adapter's hot path.

import type { Parser } from './parser.ts'
import { resolveZone, type Zone } from './strptime.ts'

export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const
export type Level = (typeof LEVELS)[number]

const LEVEL_WORDS: Record<string, Level> = {
  trace: 'trace',
  trc: 'trace',
  finest: 'trace',
  finer: 'trace',
  debug: 'debug',
  dbg: 'debug',
  fine: 'debug',
  verbose: 'debug',
  info: 'info',
  inf: 'info',
  information: 'info',
  informational: 'info',
  notice: 'info',
  config: 'info',
  warn: 'warn',
  warning: 'warn',
  wrn: 'warn',
  error: 'error',
  err: 'error',
  eror: 'error',
  severe: 'error',
  fatal: 'fatal',
  critical: 'fatal',
  crit: 'fatal',
  panic: 'fatal',
  emerg: 'fatal',
  emergency: 'fatal',
  alert: 'fatal',
}

/**
 * A level word (`WARNING`, `[info]`, `E`, `Error:`) normalised to trace/debug/info/warn/error/fatal;
 * undefined when the word is not a level.
 */
export function normalizeLevel(word: string): Level | undefined {
  let w = word
  if (w.startsWith('[') && w.endsWith(']')) w = w.slice(1, -1)
  if (w.endsWith(':')) w = w.slice(0, -1)
  const lower = w.toLowerCase()
  const hit = LEVEL_WORDS[lower]
  if (hit) return hit
  if (lower.length === 1)
    return ({ t: 'trace', d: 'debug', i: 'info', w: 'warn', e: 'error', f: 'fatal' } as const)[lower as 't']
  return undefined
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39
const num = (s: string, a: number, b: number) => {
  let n = 0
  for (let i = a; i < b; i++) n = n * 10 + (s.charCodeAt(i) - 0x30)
  return n
}

// Positions of the digits in `YYYY-MM-DD HH:MM:SS`.
const DIGITS_AT = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]

/** Matches the start of a seed line: what begins a new record when joining stack traces. */
export const SEED_FIRST_LINE = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}/

export interface SeedParserOptions {
  /** Zone of the timestamps in the file (they carry none). Default UTC. */
  zone?: string | Zone
}

/** Where scanSeed puts what it found (reused between calls: the hot path allocates nothing). */
export interface SeedScan {
  /** Epoch ms of the timestamp. */
  time: number
  /** End of the timestamp text in the line. */
  timestampEnd: number
  /** Normalised level, or `unknown` when the third word is not a level. */
  level: Level | 'unknown'
  /** Where the message starts (the level word included when it is not a level). */
  messageStart: number
}

// Consecutive lines share their minute: Date.UTC runs once per minute, not per line.
let cachedMinute = -1
let cachedMinuteMs = 0
// Level words as written (`INFO`, `WARNING`) to their level, without lower-casing each time.
const levelCache = new Map<string, Level | undefined>()

/**
 * Reads the `TIMESTAMP LEVEL` head of a seed line (`YYYY-MM-DD[ T]HH:MM:SS[.fff][Z|+hh:mm] LEVEL`)
 * into `out`; false when the line is not in that form. Continuation lines after a `\n` are left
 * to the message.
 */
export function scanSeed(line: string, zone: Zone, out: SeedScan): boolean {
  if (line.length < 19) return false
  for (let k = 0; k < DIGITS_AT.length; k++) if (!isDigit(line.charCodeAt(DIGITS_AT[k]!))) return false
  const sep = line.charCodeAt(10)
  if (
    line.charCodeAt(4) !== 0x2d ||
    line.charCodeAt(7) !== 0x2d ||
    (sep !== 0x20 && sep !== 0x54) ||
    line.charCodeAt(13) !== 0x3a ||
    line.charCodeAt(16) !== 0x3a
  )
    return false
  let p = 19
  let frac = 0
  const dot = line.charCodeAt(p)
  if ((dot === 0x2e || dot === 0x2c) && isDigit(line.charCodeAt(p + 1))) {
    const s = ++p
    while (isDigit(line.charCodeAt(p))) p++
    frac = num(line, s, Math.min(p, s + 3)) * 10 ** (3 - Math.min(3, p - s))
  }
  // An explicit zone after the time wins over the configured one.
  let offset: number | undefined
  const z = line.charCodeAt(p)
  if (z === 0x5a /* Z */) {
    offset = 0
    p++
  } else if ((z === 0x2b || z === 0x2d) && isDigit(line.charCodeAt(p + 1))) {
    const m = /^[+-]\d{2}:?\d{2}/.exec(line.slice(p, p + 6))
    if (m) {
      const sign = z === 0x2d ? -1 : 1
      const digits = m[0].replace(':', '')
      offset = sign * (num(digits, 1, 3) * 60 + num(digits, 3, 5))
      p += m[0].length
    }
  }
  const after = line.charCodeAt(p)
  if (p < line.length && after !== 0x20 && after !== 0x09 && after !== 0x0a) return false
  out.timestampEnd = p
  const minute =
    num(line, 0, 4) * 535_680 +
    num(line, 5, 7) * 44_640 +
    num(line, 8, 10) * 1440 +
    num(line, 11, 13) * 60 +
    num(line, 14, 16)
  if (minute !== cachedMinute) {
    cachedMinute = minute
    cachedMinuteMs = Date.UTC(
      num(line, 0, 4),
      num(line, 5, 7) - 1,
      num(line, 8, 10),
      num(line, 11, 13),
      num(line, 14, 16),
    )
  }
  const local = cachedMinuteMs + num(line, 17, 19) * 1000 + frac
  out.time = offset === undefined ? zone.fromLocal(local) : local - offset * 60_000
  while (line.charCodeAt(p) === 0x20 || line.charCodeAt(p) === 0x09) p++
  let e = p
  while (e < line.length && line.charCodeAt(e) !== 0x20 && line.charCodeAt(e) !== 0x0a) e++
  const word = line.slice(p, e)
  let level = levelCache.get(word)
  if (level === undefined && !levelCache.has(word)) {
    level = normalizeLevel(word)
    if (levelCache.size > 256) levelCache.clear()
    levelCache.set(word, level)
  }
  if (level === undefined) {
    // The third word is not a level (a number, a path, a sentence): the level is unknown and
    // the word stays in the message, so nothing of the line is lost.
    out.level = 'unknown'
    out.messageStart = p
  } else {
    out.level = level
    out.messageStart = line.charCodeAt(e) === 0x20 ? e + 1 : e
  }
  return true
}

/**
 * Fields: `timestamp` (the text as written), `level` (normalised, `unknown` when the third word
 * is not a level), `message` (the rest, continuation lines included). time is the timestamp in ms.
 */
export function createSeedParser(opts: SeedParserOptions = {}): Parser {
  const zone = typeof opts.zone === 'object' ? opts.zone : resolveZone(opts.zone ?? 'UTC')
  const out: SeedScan = { time: 0, timestampEnd: 0, level: 'unknown', messageStart: 0 }
  return {
    name: 'seed',
    parse(line) {
      if (!scanSeed(line, zone, out)) return undefined
      return {
        record: {
          timestamp: line.slice(0, out.timestampEnd),
          level: out.level,
          message: line.slice(out.messageStart),
        },
        time: out.time,
      }
    },
  }
}

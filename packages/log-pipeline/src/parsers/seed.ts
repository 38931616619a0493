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

/**
 * Fields: `timestamp` (the text as written), `level` (normalised, `unknown` when the third word
 * is not a level), `message` (the rest, continuation lines included). time is the timestamp in ms.
 */
export function createSeedParser(opts: SeedParserOptions = {}): Parser {
  const zone = typeof opts.zone === 'object' ? opts.zone : resolveZone(opts.zone ?? 'UTC')
  return {
    name: 'seed',
    parse(line) {
      // YYYY-MM-DD[ T]HH:MM:SS
      if (line.length < 19) return undefined
      for (let k = 0; k < DIGITS_AT.length; k++)
        if (!isDigit(line.charCodeAt(DIGITS_AT[k]!))) return undefined
      const sep = line.charCodeAt(10)
      if (
        line.charCodeAt(4) !== 0x2d ||
        line.charCodeAt(7) !== 0x2d ||
        (sep !== 0x20 && sep !== 0x54) ||
        line.charCodeAt(13) !== 0x3a ||
        line.charCodeAt(16) !== 0x3a
      )
        return undefined
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
      if (p < line.length && line.charCodeAt(p) !== 0x20 && line.charCodeAt(p) !== 0x09) return undefined
      const timestamp = line.slice(0, p)
      const local =
        Date.UTC(
          num(line, 0, 4),
          num(line, 5, 7) - 1,
          num(line, 8, 10),
          num(line, 11, 13),
          num(line, 14, 16),
          num(line, 17, 19),
        ) + frac
      const time = offset === undefined ? zone.fromLocal(local) : local - offset * 60_000
      while (line.charCodeAt(p) === 0x20 || line.charCodeAt(p) === 0x09) p++
      let e = p
      while (e < line.length && line.charCodeAt(e) !== 0x20 && line.charCodeAt(e) !== 0x0a) e++
      const word = line.slice(p, e)
      const level = normalizeLevel(word)
      // The third word is not a level (a number, a path, a sentence): the level is unknown and the
      // word stays in the message, so nothing of the line is lost.
      if (level === undefined)
        return { record: { timestamp, level: 'unknown', message: line.slice(p) }, time }
      if (line.charCodeAt(e) === 0x20) e++
      return { record: { timestamp, level, message: line.slice(e) }, time }
    },
  }
}

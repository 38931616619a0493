// strptime-style time parsing (Fluent Bit's Time_Format: `%d/%b/%Y:%H:%M:%S %z`, `%Y-%m-%dT%H:%M:%S.%L`)
// compiled once into a RegExp, and ISO 8601 rendering in a fixed offset or an IANA zone.

import { TimeFormatError } from '../errors.ts'

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']
const MONTH_RE =
  '(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)'
const DAY_RE = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*'

type Field = 'Y' | 'y' | 'm' | 'd' | 'H' | 'I' | 'M' | 'S' | 'L' | 'z' | 'Z' | 'b' | 'p' | 'j' | 's'

interface Directive {
  re: string
  field?: Field
}

const DIRECTIVES: Record<string, Directive | string> = {
  Y: { re: '([+-]?\\d{4})', field: 'Y' },
  y: { re: '(\\d{2})', field: 'y' },
  m: { re: '(\\d{1,2})', field: 'm' },
  d: { re: '(\\d{1,2})', field: 'd' },
  e: { re: ' ?(\\d{1,2})', field: 'd' },
  H: { re: '(\\d{1,2})', field: 'H' },
  k: { re: ' ?(\\d{1,2})', field: 'H' },
  I: { re: '(\\d{1,2})', field: 'I' },
  l: { re: ' ?(\\d{1,2})', field: 'I' },
  M: { re: '(\\d{1,2})', field: 'M' },
  S: { re: '(\\d{1,2})', field: 'S' },
  L: { re: '(\\d+)', field: 'L' },
  f: { re: '(\\d+)', field: 'L' },
  N: { re: '(\\d+)', field: 'L' },
  z: { re: '(Z|[+-]\\d{2}:?\\d{2}|[+-]\\d{2})', field: 'z' },
  Z: { re: '(UTC|GMT|Z)', field: 'Z' },
  b: { re: MONTH_RE, field: 'b' },
  h: { re: MONTH_RE, field: 'b' },
  B: { re: MONTH_RE, field: 'b' },
  a: { re: DAY_RE },
  A: { re: DAY_RE },
  p: { re: '(AM|PM|am|pm)', field: 'p' },
  j: { re: '(\\d{1,3})', field: 'j' },
  s: { re: '(\\d+(?:\\.\\d+)?)', field: 's' },
  T: '%H:%M:%S',
  D: '%m/%d/%y',
  F: '%Y-%m-%d',
  R: '%H:%M',
  n: { re: '\\s+' },
  t: { re: '\\s+' },
  '%': { re: '%' },
}

export interface TimeParser {
  readonly format: string
  /** Epoch milliseconds (with sub-millisecond fraction), or undefined when the text does not fit. */
  parse(text: string): number | undefined
}

export interface TimeFormatOptions {
  /**
   * Accept text that goes on after what the format describes and ignore the rest, as Fluent Bit's
   * strptime does (`%Y-%m-%dT%H:%M:%S` takes `2024-01-15T10:30:00.123Z` to the second). Default
   * false: the whole text must fit, as jq's strptime requires.
   */
  ignoreTrailing?: boolean
}

/**
 * Compiles a strptime format. `offsetMinutes` applies when the text carries no zone (Fluent Bit's
 * Time_Offset); a year-less format (syslog) takes the current year, or the last one if that would
 * put the time more than a day in the future.
 */
export function compileTimeFormat(
  format: string,
  offsetMinutes = 0,
  opts: TimeFormatOptions = {},
): TimeParser {
  const fields: Field[] = []
  const expand = (fmt: string): string => {
    let re = ''
    for (let i = 0; i < fmt.length; i++) {
      const c = fmt[i]!
      const next = fmt.slice(i + 1, i + 3)
      if ((c === '.' || c === ',') && (next === '%L' || next === '%f' || next === '%N')) {
        // Fractional seconds are optional: RFC 3339 allows `12:00:00Z` as well as `12:00:00.123Z`.
        re += '(?:[.,](\\d+))?'
        fields.push('L')
        i += 2
        continue
      }
      if (c === '%') {
        let d = fmt[++i]
        if (d === '-' || d === '_' || d === '0') d = fmt[++i] // padding flags: the RegExps accept any padding
        const dir = d === undefined ? undefined : DIRECTIVES[d]
        if (dir === undefined) {
          throw new TimeFormatError(`time format ${JSON.stringify(format)}: unknown directive %${d ?? ''}`)
        }
        if (typeof dir === 'string') re += expand(dir)
        else {
          re += dir.re
          if (dir.field) fields.push(dir.field)
        }
      } else if (c === ' ') re += '\\s+'
      else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
    }
    return re
  }
  const body = expand(format)
  const hasZone = fields.includes('z') || fields.includes('Z') || fields.includes('s')
  // Without %z, accept (and honour) a trailing `Z` or offset, as Docker and CRI timestamps carry one.
  const end = opts.ignoreTrailing ? '' : '\\s*$'
  const regex = new RegExp(`^\\s*${body}${hasZone ? '' : '(Z|[+-]\\d{2}:?\\d{2})?'}${end}`, 'i')
  if (!hasZone) fields.push('z')
  const hasYear = fields.includes('Y') || fields.includes('y') || fields.includes('s')

  return {
    format,
    parse(text: string): number | undefined {
      const m = regex.exec(text)
      if (!m) return undefined
      let Y = 1970
      let mo = 1
      let d = 1
      let H = 0
      let I = -1
      let pm = -1
      let Mi = 0
      let S = 0
      let frac = 0
      let off: number | undefined
      let doy = -1
      for (let i = 0; i < fields.length; i++) {
        const v = m[i + 1]
        if (v === undefined) continue
        switch (fields[i]) {
          case 'Y':
            Y = Number(v)
            break
          case 'y': {
            const n = Number(v)
            Y = n < 69 ? 2000 + n : 1900 + n
            break
          }
          case 'm':
            mo = Number(v)
            break
          case 'd':
            d = Number(v)
            break
          case 'H':
            H = Number(v)
            break
          case 'I':
            I = Number(v)
            break
          case 'p':
            pm = v.toLowerCase() === 'pm' ? 1 : 0
            break
          case 'M':
            Mi = Number(v)
            break
          case 'S':
            S = Number(v)
            break
          case 'L':
            frac = Number(`0.${v}`) * 1000
            break
          case 'z':
          case 'Z':
            off = parseOffset(v)
            break
          case 'b':
            mo = MONTHS.indexOf(v.slice(0, 3).toLowerCase()) + 1
            break
          case 'j':
            doy = Number(v)
            break
          case 's':
            return Number(v) * 1000
        }
      }
      if (I >= 0) H = (I % 12) + (pm === 1 ? 12 : 0)
      if (mo < 1 || mo > 12 || d < 1 || d > 31 || H > 24 || Mi > 59 || S > 60) return undefined
      const zone = off ?? offsetMinutes
      const at = (year: number) =>
        (doy > 0 ? Date.UTC(year, 0, doy, H, Mi, S) : Date.UTC(year, mo - 1, d, H, Mi, S)) +
        frac -
        zone * 60_000
      if (hasYear) return at(Y)
      const now = Date.now()
      const year = new Date(now).getUTCFullYear()
      const t = at(year)
      return t > now + 86_400_000 ? at(year - 1) : t
    },
  }
}

/** `Z`, `UTC`, `+0200`, `-05:30`, `+02` to minutes east of UTC; undefined if not an offset. */
export function parseOffset(v: string): number | undefined {
  if (v === 'Z' || v === 'z' || /^(UTC|GMT)$/i.test(v)) return 0
  const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(v)
  if (!m) return undefined
  const mins = Number(m[2]) * 60 + Number(m[3] ?? 0)
  return m[1] === '-' ? -mins : mins
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`)
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`)

// Log lines come in time order: consecutive lines share the second, so its text is reused.
let cachedSecond = Number.NaN
let cachedOffset = 0
let cachedPrefix = ''
let cachedSuffix = 'Z'

/** ISO 8601 with milliseconds in a fixed offset: `2024-01-15T10:30:00.123Z` or `...+02:00`. */
export function formatIso(ms: number, offsetMinutes = 0): string {
  const whole = Math.floor(ms)
  const second = Math.floor(whole / 1000)
  if (second !== cachedSecond || offsetMinutes !== cachedOffset) {
    const d = new Date(second * 1000 + offsetMinutes * 60_000)
    cachedPrefix = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.`
    if (offsetMinutes === 0) cachedSuffix = 'Z'
    else {
      const a = Math.abs(offsetMinutes)
      cachedSuffix = `${offsetMinutes < 0 ? '-' : '+'}${pad2(Math.floor(a / 60))}:${pad2(a % 60)}`
    }
    cachedSecond = second
    cachedOffset = offsetMinutes
  }
  return cachedPrefix + pad3(whole - second * 1000) + cachedSuffix
}

/**
 * A time zone: `UTC`, a fixed offset (`+02:00`) or an IANA name (`Europe/Berlin`). offsetAt(ms)
 * is the zone's offset at that instant; IANA offsets are cached per hour, as zones change on hours.
 */
export interface Zone {
  readonly name: string
  offsetAt(ms: number): number
  /** Epoch ms of a wall-clock time in this zone (given as if it were UTC). */
  fromLocal(localAsUtcMs: number): number
}

export function resolveZone(name: string): Zone {
  const fixed = name === '' || /^utc$/i.test(name) ? 0 : parseOffset(name)
  if (fixed !== undefined) {
    return { name, offsetAt: () => fixed, fromLocal: (l) => l - fixed * 60_000 }
  }
  let fmt: Intl.DateTimeFormat
  try {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
  } catch {
    throw new TimeFormatError(
      `unknown time zone ${JSON.stringify(name)}: use UTC, an offset like +02:00, or an IANA name`,
    )
  }
  const cache = new Map<number, number>()
  const offsetAt = (ms: number): number => {
    const hour = Math.floor(ms / 3_600_000)
    let off = cache.get(hour)
    if (off === undefined) {
      const p = Object.fromEntries(
        fmt.formatToParts(new Date(hour * 3_600_000)).map((x) => [x.type, x.value]),
      )
      const local = Date.UTC(
        Number(p.year),
        Number(p.month) - 1,
        Number(p.day),
        Number(p.hour),
        Number(p.minute),
      )
      off = Math.round((local - hour * 3_600_000) / 60_000)
      if (cache.size > 1000) cache.clear()
      cache.set(hour, off)
    }
    return off
  }
  return {
    name,
    offsetAt,
    fromLocal(l) {
      // Two passes settle the offset across a DST change (the gap resolves forward).
      let t = l - offsetAt(l) * 60_000
      t = l - offsetAt(t) * 60_000
      return t
    },
  }
}

// The parser interface and the definition shared by every format (Fluent Bit's [PARSER] section):
// turn one line into a record, then take the event time from Time_Key with Time_Format.

import { PipelineConfigError } from '../errors.ts'
import { compileTimeFormat, parseOffset, type TimeParser } from './strptime.ts'

export interface ParseResult {
  record: Record<string, unknown>
  /** Event time in epoch ms when the line carried one; otherwise the pipeline uses the read time. */
  time?: number
}

/** Turns one line into a record; undefined means "did not match" (the line is then kept raw). */
export interface Parser {
  readonly name: string
  parse(line: string): ParseResult | undefined
}

export type FieldType = 'string' | 'integer' | 'float' | 'bool' | 'hex'

/** A parser as Fluent Bit's parsers.conf describes one (keys in camelCase). */
export interface ParserDefinition {
  name: string
  format: 'regex' | 'json' | 'logfmt' | 'ltsv' | (string & {})
  /** Regex with `(?<name>...)` groups (Onigmo syntax is translated). */
  regex?: string
  /** Field holding the time (default `time`). */
  timeKey?: string
  /** strptime format of that field; without it the time field is left as is. */
  timeFormat?: string
  /** Keep the time field in the record after using it (default false, as Fluent Bit). */
  timeKeep?: boolean
  /** Offset for times without a zone, e.g. `+0200` (Time_Offset). */
  timeOffset?: string
  /** Ignore text after what Time_Format describes (Fluent Bit's strptime stops there). Default false. */
  timeIgnoreTrailing?: boolean
  /** Field types, as a map or Fluent Bit's `code:integer size:integer` string. */
  types?: Record<string, FieldType> | string
  /** Drop fields whose value is the empty string (Skip_Empty_Values). Default false. */
  skipEmptyValues?: boolean
}

/** Extracts the raw fields of a line; the shared time and type handling wraps it. */
export type Extractor = (line: string) => Record<string, unknown> | undefined

/** Wraps an extractor with Time_Key / Time_Format / Time_Keep / Types handling. */
export function withTimeAndTypes(def: ParserDefinition, extract: Extractor): Parser {
  const timeKey = def.timeKey ?? 'time'
  let offset = 0
  if (def.timeOffset) {
    const o = parseOffset(def.timeOffset)
    if (o === undefined) {
      throw new PipelineConfigError(
        `parser ${def.name}: time offset ${JSON.stringify(def.timeOffset)} is not like +0200`,
      )
    }
    offset = o
  }
  const time: TimeParser | undefined = def.timeFormat
    ? compileTimeFormat(def.timeFormat, offset, { ignoreTrailing: def.timeIgnoreTrailing })
    : undefined
  const types = parseTypes(def)
  const keep = def.timeKeep ?? false
  const skipEmpty = def.skipEmptyValues ?? false
  return {
    name: def.name,
    parse(line) {
      const record = extract(line)
      if (!record) return undefined
      if (skipEmpty) for (const k in record) if (record[k] === '') delete record[k]
      if (types) applyTypes(record, types)
      let t: number | undefined
      if (time) {
        const v = record[timeKey]
        if (typeof v === 'string') {
          t = time.parse(v)
          // An unparsable time leaves the field in place, so nothing is lost.
          if (t !== undefined && !keep) delete record[timeKey]
        }
      }
      return t === undefined ? { record } : { record, time: t }
    },
  }
}

function parseTypes(def: ParserDefinition): Array<[string, FieldType]> | undefined {
  if (!def.types) return undefined
  const entries: Array<[string, string]> =
    typeof def.types === 'string'
      ? def.types
          .split(/\s+/)
          .filter(Boolean)
          .map((p) => {
            const i = p.lastIndexOf(':')
            return [p.slice(0, i), p.slice(i + 1)] as [string, string]
          })
      : Object.entries(def.types)
  for (const [k, t] of entries) {
    if (!k || !['string', 'integer', 'float', 'bool', 'hex'].includes(t)) {
      throw new PipelineConfigError(
        `parser ${def.name}: types entry ${k}:${t} is not field:(string|integer|float|bool|hex)`,
      )
    }
  }
  return entries as Array<[string, FieldType]>
}

/**
 * Fluent Bit's casts (flb_parser_typecast): integer is atoll, float atof, hex strtoull base 16,
 * so a value without a number in front (Apache's `-` for no bytes) becomes 0 rather than a
 * string an index mapped as a number would refuse; bool takes a leading true/false in any case,
 * anything else stays a string.
 */
function applyTypes(record: Record<string, unknown>, types: Array<[string, FieldType]>): void {
  for (const [k, t] of types) {
    const v = record[k]
    if (typeof v !== 'string') continue
    let out: unknown = v
    if (t === 'integer') {
      const m = /^\s*([+-]?\d+)/.exec(v)
      out = m ? Number(m[1]) : 0
    } else if (t === 'float') {
      const f = Number.parseFloat(v)
      out = Number.isFinite(f) ? f : 0
    } else if (t === 'bool') out = /^true/i.test(v) ? true : /^false/i.test(v) ? false : v
    else if (t === 'hex') {
      const m = /^\s*(?:0[xX])?([0-9a-fA-F]+)/.exec(v)
      out = m ? Number.parseInt(m[1]!, 16) : 0
    }
    record[k] = out
  }
}

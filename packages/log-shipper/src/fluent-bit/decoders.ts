// A [PARSER]'s Decode_Field / Decode_Field_As rules (Fluent Bit's parser decoders, used by its
// stock parsers.conf): after the parser made a record, a string field is decoded again: `json`
// (a map serialized inside the field), `escaped` (backslash escapes) or `escaped_utf8` (also
// \uXXXX). Decode_Field_As replaces the field's value; Decode_Field adds a decoded map's keys to
// the record. An optional action per rule: `try_next` tries the next rule of the field when this
// one fails, `do_next` runs it either way. Reference:
// https://docs.fluentbit.io/manual/pipeline/parsers/decoders

import type { Parser } from '@podkit/log-pipeline'
import type { Prop } from './section.ts'

type Backend = 'json' | 'escaped' | 'escaped_utf8'

interface Rule {
  /** Decode_Field_As (replace the value) rather than Decode_Field (add the map's keys). */
  as: boolean
  backend: Backend
  action: 'none' | 'try_next' | 'do_next'
}

/** Field -> its rules in the order written. */
export type Decoders = Map<string, Rule[]>

/** Reads the Decode_Field / Decode_Field_As entries; throws with file:line on a bad one. */
export function readDecoders(entries: Array<{ as: boolean; prop: Prop }>): Decoders | undefined {
  const out: Decoders = new Map()
  for (const { as, prop } of entries) {
    const [backend, field, action] = prop.value.trim().split(/\s+/)
    const key = as ? 'Decode_Field_As' : 'Decode_Field'
    if (!backend || !field)
      throw new Error(
        `${prop.where}: ${key} needs "<decoder> <field> [try_next|do_next]", got "${prop.value}"`,
      )
    const b = backend.toLowerCase()
    if (b !== 'json' && b !== 'escaped' && b !== 'escaped_utf8')
      throw new Error(`${prop.where}: ${key} decoder must be json, escaped or escaped_utf8, got "${backend}"`)
    const a = action?.toLowerCase()
    const rules = out.get(field) ?? []
    rules.push({ as, backend: b, action: a === 'try_next' || a === 'do_next' ? a : 'none' })
    out.set(field, rules)
  }
  return out.size > 0 ? out : undefined
}

/** The parser, with its decoders applied to every record it makes. */
export function withDecoders(parser: Parser, decoders: Decoders): Parser {
  return {
    name: parser.name,
    parse(line) {
      const r = parser.parse(line)
      if (r) applyDecoders(r.record, decoders)
      return r
    },
  }
}

/** flb_parser_decoder_do: per field, one successful Decode_Field_As and one Decode_Field at most. */
export function applyDecoders(record: Record<string, unknown>, decoders: Decoders): void {
  let extra: Record<string, unknown> | undefined
  for (const [field, rules] of decoders) {
    const v = record[field]
    if (typeof v !== 'string') continue
    let data = v
    let value: unknown = v
    let decodedAs = false
    let decoded = false
    for (const rule of rules) {
      if (!rule.as && rule.action === 'do_next' && decoded) continue
      // A field decoded into a map is not decoded again.
      if (decodedAs && typeof value !== 'string') continue
      const out = decode(rule.backend, data)
      if (out === undefined) {
        if (rule.action !== 'none') continue
        break
      }
      if (rule.as) {
        value = out
        if (typeof out === 'string') data = out
        decodedAs = true
      } else if (typeof out === 'object') {
        // Decode_Field adds only a map's keys (a string result is refused, as in Fluent Bit).
        extra = { ...extra, ...out }
        decoded = true
      }
      if (rule.action === 'do_next') continue
      break
    }
    if (decodedAs) record[field] = value
  }
  if (extra) Object.assign(record, extra)
}

function decode(backend: Backend, text: string): string | Record<string, unknown> | undefined {
  if (backend === 'escaped') return unescapeC(text)
  if (backend === 'escaped_utf8') return unescapeUtf8(text)
  const s = unescapeC(text)
  if (s[0] !== '{') return undefined
  try {
    const v = JSON.parse(s) as unknown
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

const CONTROL: Record<string, string> = { n: '\n', a: '\x07', b: '\b', t: '\t', v: '\v', f: '\f', r: '\r' }

/** unescape_string: `\n`, `\t`, ... become control characters; any other `\x` becomes `x`. */
function unescapeC(s: string): string {
  if (!s.includes('\\')) return s
  let out = ''
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c === '\\' && i + 1 < s.length) {
      const n = s[++i]!
      out += CONTROL[n] ?? n
    } else if (c !== '\\') out += c
  }
  return out
}

/**
 * unescape_string_utf8: C escapes (`\n`, octal `\101`, `\x41`, `\u00e9`, `\U0001F600`) become
 * their characters; a backslash before `"`, `'`, `\` or `/` is kept as it is.
 */
function unescapeUtf8(s: string): string {
  if (!s.includes('\\')) return s
  let out = ''
  let i = 0
  while (i < s.length) {
    const c = s[i]!
    const n = s[i + 1]
    if (c !== '\\' || n === undefined || n === '"' || n === "'" || n === '\\' || n === '/') {
      out += c
      i++
      continue
    }
    i++
    if (CONTROL[n]) {
      out += CONTROL[n]
      i++
    } else if (n >= '0' && n <= '7') {
      const m = /^[0-7]{1,3}/.exec(s.slice(i))![0]
      out += String.fromCodePoint(Number.parseInt(m, 8))
      i += m.length
    } else if (n === 'x' || n === 'u' || n === 'U') {
      const max = n === 'x' ? 2 : n === 'u' ? 4 : 8
      const m = new RegExp(`^[0-9a-fA-F]{1,${max}}`).exec(s.slice(i + 1))?.[0]
      const cp = m ? Number.parseInt(m, 16) : -1
      out += m && cp <= 0x10ffff ? String.fromCodePoint(cp) : n
      i += 1 + (m?.length ?? 0)
    } else {
      out += n
      i++
    }
  }
  return out
}

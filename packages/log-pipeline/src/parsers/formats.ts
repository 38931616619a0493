// The non-regex formats: JSON (one object per line), logfmt (key=value, quoted values) and LTSV
// (tab-separated label:value), as Fluent Bit's json, logfmt and ltsv parsers read them.

import { type Parser, type ParserDefinition, withTimeAndTypes } from './parser.ts'

export function createJsonParser(def: ParserDefinition): Parser {
  return withTimeAndTypes(def, (line) => {
    const c = line.charCodeAt(0)
    if (c !== 0x7b /* { */ && c !== 0x20 && c !== 0x09) return undefined
    try {
      const v = JSON.parse(line) as unknown
      return v !== null && typeof v === 'object' && !Array.isArray(v)
        ? (v as Record<string, unknown>)
        : undefined
    } catch {
      return undefined
    }
  })
}

/** logfmt: `level=info msg="hello \"you\"" took=3ms flag`; a bare key is `true`. */
export function parseLogfmt(line: string): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {}
  let i = 0
  const n = line.length
  let count = 0
  while (i < n) {
    while (i < n && line.charCodeAt(i) <= 0x20) i++
    if (i >= n) break
    const ks = i
    while (i < n && line[i] !== '=' && line.charCodeAt(i) > 0x20) i++
    const key = line.slice(ks, i)
    if (key === '' || key.includes('"')) return undefined
    if (line[i] !== '=') {
      out[key] = true
      count++
      continue
    }
    i++
    if (line[i] === '"') {
      i++
      let v = ''
      let closed = false
      while (i < n) {
        const ch = line[i]!
        if (ch === '\\' && i + 1 < n) {
          const e = line[i + 1]!
          v += e === 'n' ? '\n' : e === 't' ? '\t' : e
          i += 2
        } else if (ch === '"') {
          closed = true
          i++
          break
        } else {
          v += ch
          i++
        }
      }
      if (!closed) return undefined
      out[key] = v
    } else {
      const vs = i
      while (i < n && line.charCodeAt(i) > 0x20) i++
      out[key] = line.slice(vs, i)
    }
    count++
  }
  return count > 0 ? out : undefined
}

export function createLogfmtParser(def: ParserDefinition): Parser {
  return withTimeAndTypes(def, parseLogfmt)
}

/** LTSV (http://ltsv.org/): `time:...<TAB>host:...`; every field must have a label. */
export function parseLtsv(line: string): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {}
  for (const field of line.split('\t')) {
    if (field === '') continue
    const i = field.indexOf(':')
    if (i <= 0) return undefined
    out[field.slice(0, i)] = field.slice(i + 1)
  }
  return Object.keys(out).length > 0 ? out : undefined
}

export function createLtsvParser(def: ParserDefinition): Parser {
  return withTimeAndTypes(def, parseLtsv)
}

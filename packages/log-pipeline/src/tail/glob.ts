// Glob patterns of the tail source (`/var/log/*.log`, `/logs/**/app-?.json`, `{a,b}`), compiled
// to RegExps, plus the static directory each pattern starts from so discovery walks only that.

import { sep } from 'node:path'

export interface CompiledGlob {
  pattern: string
  /** The longest leading path without glob characters: where the walk starts. */
  base: string
  /** How deep below base a match can be; Infinity when the pattern has `**`. */
  depth: number
  regex: RegExp
}

const GLOB_CHARS = /[*?[{]/

/** Splits Fluent Bit's comma-separated `Path` / `Exclude_Path` values; a list passes through. */
export function splitGlobList(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return []
  const list = typeof value === 'string' ? splitTopLevelCommas(value) : [...value]
  return list.map((s) => s.trim()).filter((s) => s !== '')
}

// Commas inside `{a,b}` belong to the pattern, not to the list.
function splitTopLevelCommas(s: string): string[] {
  const out: string[] = []
  let depth = 0
  let cur = ''
  for (const ch of s) {
    if (ch === '{') depth++
    else if (ch === '}') depth = Math.max(0, depth - 1)
    if (ch === ',' && depth === 0) {
      out.push(cur)
      cur = ''
    } else cur += ch
  }
  out.push(cur)
  return out
}

export function compileGlob(pattern: string): CompiledGlob {
  const parts = pattern.split('/')
  const baseParts: string[] = []
  for (const p of parts) {
    if (GLOB_CHARS.test(p)) break
    baseParts.push(p)
  }
  // A pattern without glob characters names one file: its base is its directory.
  if (baseParts.length === parts.length) baseParts.pop()
  const base = baseParts.join('/') || (pattern.startsWith('/') ? '/' : '.')
  const rest = parts.slice(baseParts.length)
  const depth = rest.includes('**') ? Number.POSITIVE_INFINITY : rest.length
  return { pattern, base, depth, regex: new RegExp(`^${globToRegexSource(pattern)}$`) }
}

export function globToRegexSource(glob: string): string {
  let re = ''
  let inClass = false
  let braces = 0
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (inClass) {
      if (c === ']') {
        inClass = false
        re += ']'
      } else if (c === '\\') re += `\\${glob[++i] ?? ''}`
      else re += c
      continue
    }
    switch (c) {
      case '*':
        if (glob[i + 1] === '*') {
          // `**/` matches zero or more directories; a trailing `**` matches anything.
          i++
          if (glob[i + 1] === '/') {
            i++
            re += '(?:[^/]*/)*'
          } else re += '.*'
        } else re += '[^/]*'
        break
      case '?':
        re += '[^/]'
        break
      case '[':
        inClass = true
        re += '['
        if (glob[i + 1] === '!') {
          re += '^'
          i++
        }
        break
      case '{':
        braces++
        re += '(?:'
        break
      case '}':
        if (braces > 0) {
          braces--
          re += ')'
        } else re += '\\}'
        break
      case ',':
        re += braces > 0 ? '|' : ','
        break
      case '\\':
        re += `\\${glob[++i] ?? '\\'}`
        break
      default:
        re += /[.+^$()|]/.test(c) ? `\\${c}` : c
    }
  }
  return re
}

/** Fluent Bit's tag expansion: `*` becomes the file path with `/` replaced by `.`. */
export function expandTag(tag: string, path: string): string {
  if (!tag.includes('*')) return tag
  const dotted = path.split(sep).join('/').replace(/^\/+/, '').replaceAll('/', '.')
  return tag.replace('*', dotted)
}

// The regex parser: Fluent Bit's `(?<name>...)` patterns (Onigmo syntax) translated to JavaScript
// RegExp. Named groups become fields; groups that did not take part are left out.

import { RegexInvalidError } from '../errors.ts'
import { type Parser, type ParserDefinition, withTimeAndTypes } from './parser.ts'

export interface TranslatedRegex {
  regex: RegExp
  /** JavaScript group name -> field name (they differ when the field name is not an identifier). */
  names: Map<string, string>
}

/**
 * Translates Onigmo (Ruby) syntax to JavaScript: `\h` hex digits, `\A` `\z` `\Z` anchors, a
 * leading `(?i)` / `(?m)` (Ruby's m is JavaScript's s), and field names such as `user-agent`
 * that JavaScript does not allow as group names. Atomic groups and possessive quantifiers have
 * no JavaScript equivalent and are reported.
 */
export function translateRegex(source: string, parserName = 'regex'): TranslatedRegex {
  let src = source
  let flags = ''
  const inline = /^\(\?([imx]+)\)/.exec(src)
  if (inline) {
    src = src.slice(inline[0].length)
    if (inline[1]!.includes('i')) flags += 'i'
    if (inline[1]!.includes('m')) flags += 's'
    if (inline[1]!.includes('x')) {
      throw new RegexInvalidError(
        `parser ${parserName}: extended mode (?x) is not supported; remove whitespace and comments`,
      )
    }
  }
  const names = new Map<string, string>()
  let out = ''
  let inClass = false
  let n = 0
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!
    if (c === '\\') {
      const d = src[i + 1] ?? ''
      i++
      if (d === 'h') out += inClass ? '0-9a-fA-F' : '[0-9a-fA-F]'
      else if (d === 'H') out += inClass ? '\\W\\s' : '[^0-9a-fA-F]'
      else if (d === 'A' && !inClass) out += '^'
      else if (d === 'z' && !inClass) out += '$'
      else if (d === 'Z' && !inClass) out += '(?=\\n?$)'
      else out += `\\${d}`
      continue
    }
    if (inClass) {
      if (c === '[') {
        // Onigmo's POSIX brackets inside a class (`[[:space:]]`, `[^[:digit:]x]`); JavaScript would
        // read `[:space:]` as the characters `[`, `:`, `s`, ... and silently match something else.
        const posix = /^\[:(\^?)([a-z]+):\]/.exec(src.slice(i))
        if (posix) {
          const chars = POSIX_CLASSES[posix[2]!]
          if (!chars || posix[1])
            throw new RegexInvalidError(
              `parser ${parserName}: POSIX bracket ${posix[0]} is not supported (use ${Object.keys(
                POSIX_CLASSES,
              )
                .map((k) => `[:${k}:]`)
                .join(' ')})`,
            )
          out += chars
          i += posix[0].length - 1
          continue
        }
      }
      if (c === ']') inClass = false
      out += c
      continue
    }
    if (c === '[') {
      inClass = true
      out += c
      if (src[i + 1] === ']' || (src[i + 1] === '^' && src[i + 2] === ']')) {
        // A `]` right after `[` or `[^` is a literal in Onigmo.
        const lit = src[i + 1] === '^' ? '^\\]' : '\\]'
        out += lit
        i += lit === '^\\]' ? 2 : 1
      }
      continue
    }
    if (c === '(' && src[i + 1] === '?') {
      if (src[i + 2] === '>') {
        throw new RegexInvalidError(
          `parser ${parserName}: atomic groups (?>...) are not supported in JavaScript`,
        )
      }
      const named = /^\(\?(?:<([^>=!]+)>|'([^']+)'|P<([^>]+)>)/.exec(src.slice(i))
      if (named) {
        const field = (named[1] ?? named[2] ?? named[3])!
        const js = /^[A-Za-z_$][\w$]*$/.test(field) && !names.has(field) ? field : `__f${n++}`
        names.set(js, field)
        out += `(?<${js}>`
        i += named[0].length - 1
        continue
      }
    }
    if ((c === '+' || c === '*' || c === '?' || c === '}') && src[i + 1] === '+') {
      throw new RegexInvalidError(
        `parser ${parserName}: possessive quantifiers (${c}+) are not supported in JavaScript`,
      )
    }
    out += c
  }
  try {
    return { regex: new RegExp(out, flags), names }
  } catch (err) {
    throw new RegexInvalidError(
      `parser ${parserName}: invalid regex ${JSON.stringify(source)}: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  }
}

/** Onigmo's POSIX bracket classes as the ASCII ranges they cover, to put inside a JavaScript class. */
const POSIX_CLASSES: Record<string, string> = {
  alnum: 'a-zA-Z0-9',
  alpha: 'a-zA-Z',
  ascii: '\\x00-\\x7f',
  blank: ' \\t',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '\\x21-\\x7e',
  lower: 'a-z',
  print: '\\x20-\\x7e',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\s',
  upper: 'A-Z',
  word: '\\w',
  xdigit: '0-9a-fA-F',
}

export function createRegexParser(def: ParserDefinition): Parser {
  if (!def.regex) throw new RegexInvalidError(`parser ${def.name}: format regex needs a regex`)
  const { regex, names } = translateRegex(def.regex, def.name)
  const pairs = [...names]
  if (pairs.length === 0)
    throw new RegexInvalidError(`parser ${def.name}: the regex has no (?<name>...) group`)
  const identity = pairs.every(([js, f]) => js === f)
  return withTimeAndTypes(def, (line) => {
    const m = regex.exec(line)
    if (!m?.groups) return undefined
    const record: Record<string, unknown> = {}
    for (const [js, field] of pairs) {
      const v = m.groups[js]
      if (v !== undefined) record[identity ? js : field] = v
    }
    return record
  })
}

// Parsers by name: the presets, definitions from config (Fluent Bit's parsers.conf) and parsers
// written in code. Formats are pluggable too: registerFormat('myformat', def => parser).

import { PipelineConfigError, UnknownParserError } from '../errors.ts'
import { createJsonParser, createLogfmtParser, createLtsvParser } from './formats.ts'
import type { Parser, ParserDefinition } from './parser.ts'
import { PRESET_DEFINITIONS } from './presets.ts'
import { createRegexParser } from './regex.ts'
import { createSeedParser } from './seed.ts'

export type ParserFactory = (def: ParserDefinition) => Parser

export class ParserRegistry {
  private readonly formats = new Map<string, ParserFactory>([
    ['regex', createRegexParser],
    ['json', createJsonParser],
    ['logfmt', createLogfmtParser],
    ['ltsv', createLtsvParser],
  ])
  private readonly definitions = new Map<string, ParserDefinition>()
  private readonly parsers = new Map<string, Parser>()

  /** With `presets` (default true) the built-in parsers are available by name. */
  constructor(opts: { presets?: boolean } = {}) {
    if (opts.presets !== false) {
      for (const d of PRESET_DEFINITIONS) this.definitions.set(d.name, d)
      this.parsers.set('seed', createSeedParser())
    }
  }

  /** Adds a format (`Format` value) that definitions can use. */
  registerFormat(name: string, factory: ParserFactory): this {
    this.formats.set(name, factory)
    return this
  }

  /** Compiles a definition now (so a bad regex fails at start) and registers it under its name. */
  define(def: ParserDefinition): Parser {
    const parser = this.compile(def)
    this.definitions.set(def.name, def)
    this.parsers.set(def.name, parser)
    return parser
  }

  /** Registers a parser written in code. */
  register(parser: Parser): this {
    this.parsers.set(parser.name, parser)
    return this
  }

  has(name: string): boolean {
    return this.parsers.has(name) || this.definitions.has(name)
  }

  names(): string[] {
    return [...new Set([...this.parsers.keys(), ...this.definitions.keys()])].sort()
  }

  definition(name: string): ParserDefinition | undefined {
    return this.definitions.get(name)
  }

  get(name: string): Parser {
    let p = this.parsers.get(name)
    if (p) return p
    const def = this.definitions.get(name)
    if (!def)
      throw new UnknownParserError(
        `unknown parser ${JSON.stringify(name)}; known: ${this.names().join(', ')}`,
      )
    p = this.compile(def)
    this.parsers.set(name, p)
    return p
  }

  private compile(def: ParserDefinition): Parser {
    const factory = this.formats.get(def.format)
    if (!factory) {
      throw new PipelineConfigError(
        `parser ${def.name}: unknown format ${JSON.stringify(def.format)}; known: ${[...this.formats.keys()].join(', ')}`,
      )
    }
    return factory(def)
  }
}

/** Parsers tried in order (Fluent Bit's multiple `Parser` entries): the first match wins. */
export function firstMatch(name: string, parsers: readonly Parser[]): Parser {
  return {
    name,
    parse(line) {
      for (const p of parsers) {
        const r = p.parse(line)
        if (r) return r
      }
      return undefined
    },
  }
}

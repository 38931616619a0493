// One configured plugin (an [INPUT], [OUTPUT], [PARSER] ... or a YAML list item) with typed
// accessors that read Fluent Bit's value syntax (On/Off, 5MB, 10 = seconds) and name the file and
// line (or YAML key) of a bad value.

import { parseDuration, parseSize } from '@podkit/runtime'
import { PipelineConfigError } from '../errors.ts'
import type { ClassicSection } from './classic.ts'

export interface Prop {
  value: string
  /** `file:line` (classic) or `file key.path` (YAML). */
  where: string
}

/** The line number of a Prop's `where` (`file:line`), to keep repeated keys in the order written; 0 when it has none. */
export const lineOf = (where: string) => Number(/:(\d+)$/.exec(where)?.[1] ?? 0)

export type SectionKindName = 'service' | 'input' | 'filter' | 'output' | 'parser' | 'multiline_parser'

const TRUE = new Set(['on', 'true', 'yes', '1'])
const FALSE = new Set(['off', 'false', 'no', '0'])

export class PluginSection {
  constructor(
    readonly kind: SectionKindName,
    /** Plugin name, lower-cased (`tail`, `forward`), or the parser's name. */
    readonly name: string,
    readonly where: string,
    readonly props: Map<string, Prop[]>,
  ) {}

  static fromClassic(s: ClassicSection): PluginSection {
    const props = new Map<string, Prop[]>()
    for (const e of s.entries) {
      const list = props.get(e.lkey) ?? []
      list.push({ value: e.value, where: `${e.file}:${e.line}` })
      props.set(e.lkey, list)
    }
    const kind = s.kind.toLowerCase() as SectionKindName
    const name = (props.get('name')?.[0]?.value ?? '').toLowerCase()
    return new PluginSection(kind, name, `${s.file}:${s.line}`, props)
  }

  /** A YAML/JSON item: keys are case-insensitive; a list value is a repeated key (Add, Rule, Header). */
  static fromObject(kind: SectionKindName, obj: Record<string, unknown>, where: string): PluginSection {
    const props = new Map<string, Prop[]>()
    for (const [k, v] of Object.entries(obj)) {
      const lkey = k.toLowerCase()
      const values = Array.isArray(v) ? v : [v]
      const list = props.get(lkey) ?? []
      for (const x of values) {
        const text =
          x === null || x === undefined ? '' : typeof x === 'object' ? JSON.stringify(x) : String(x)
        list.push({ value: text, where: `${where}.${k}` })
      }
      props.set(lkey, list)
    }
    const name = (props.get('name')?.[0]?.value ?? '').toLowerCase()
    return new PluginSection(kind, name, where, props)
  }

  /** Where a key was set, or the section itself. */
  whereOf(key: string): string {
    return this.props.get(key)?.[0]?.where ?? this.where
  }

  has(key: string): boolean {
    return this.props.has(key)
  }

  /** Every value of a repeatable key, in order. */
  all(key: string): Prop[] {
    return this.props.get(key) ?? []
  }

  str(key: string): string | undefined
  str(key: string, def: string): string
  str(key: string, def?: string): string | undefined {
    const list = this.props.get(key)
    return list && list.length > 0 ? list[list.length - 1]!.value : def
  }

  required(key: string): string {
    const v = this.str(key)
    if (v === undefined || v === '') throw this.error(key, `${this.label()} needs ${key}`)
    return v
  }

  bool(key: string, def: boolean): boolean {
    const v = this.str(key)
    if (v === undefined || v === '') return def
    const l = v.toLowerCase()
    if (TRUE.has(l)) return true
    if (FALSE.has(l)) return false
    throw this.error(key, `${key} must be On or Off, got "${v}"`)
  }

  int(key: string, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.str(key)
    if (v === undefined || v === '') return def
    const n = Number(v)
    if (!Number.isInteger(n) || n < min || n > max)
      throw this.error(key, `${key} must be an integer from ${min} to ${max}, got "${v}"`)
    return n
  }

  /** Fluent Bit sizes: 5MB, 32k, 1G or bytes. */
  size(key: string, def: number): number {
    const v = this.str(key)
    if (v === undefined || v === '') return def
    const n = parseSize(v)
    if (n === undefined) throw this.error(key, `${key} must be a size like 32k, 5MB or 1G, got "${v}"`)
    return n
  }

  /** Fluent Bit times: a bare number is seconds (Flush 5, Refresh_Interval 10); 250ms, 1m also work. Milliseconds. */
  seconds(key: string, def: number): number {
    const v = this.str(key)
    if (v === undefined || v === '') return def
    const n = parseDuration(v, 's')
    if (n === undefined) throw this.error(key, `${key} must be a time like 5, 1.5, 250ms or 1m, got "${v}"`)
    return n
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], def: T): T {
    const v = this.str(key)
    if (v === undefined || v === '') return def
    const l = v.toLowerCase() as T
    if (!allowed.includes(l)) throw this.error(key, `${key} must be one of ${allowed.join(', ')}, got "${v}"`)
    return l
  }

  label(): string {
    return this.kind === 'parser' || this.kind === 'multiline_parser'
      ? `${this.kind} "${this.name}"`
      : this.kind === 'service'
        ? '[SERVICE]'
        : `${this.kind} ${this.name}`
  }

  error(key: string | undefined, message: string): PipelineConfigError {
    return new PipelineConfigError(`${key ? this.whereOf(key) : this.where}: ${message}`)
  }
}

// A source turns one kind of status page into samples of fixed metric families. Sources are
// declared, not coded: `defineSource` builds one from a mapping of `Key: value` lines or regexes
// to metric names, types and labels. nginx's stub_status has a hand-written Buffer parser
// (sources/nginx.ts) because it sits on the hot path, but declares its families the same way.

import { ParseError, SourceDefinitionError } from './errors.ts'

export type MetricType = 'gauge' | 'counter'

export interface MetricFamily {
  name: string
  type: MetricType
  help: string
}

export interface Sample {
  /** Index into the source's `families`. */
  family: number
  value: number
  /** Labels of this sample beyond the target's own (e.g. state="busy"). */
  labels?: Readonly<Record<string, string>>
}

export interface Source {
  /** The source's name, as used in config (`source: apache`) and in /probe?module=. */
  name: string
  families: readonly MetricFamily[]
  /** `<prefix>_up`: 1 when the last fetch and parse succeeded, else 0 and nothing else. */
  up: MetricFamily
  /** Turns a status page body into samples; throws ParseError when the body is not that page. */
  parse(body: Buffer): Sample[]
}

/** One rule of a declarative mapping: a `Key: value` line or a regex, to one metric. */
export interface MappingRule {
  /** Matches a line `Key<separator> value` by its key (trimmed, case-sensitive). */
  key?: string
  /** Or a regex tried on every line; group `value` (or group 1) is the value. */
  regex?: RegExp
  metric: string
  type: MetricType
  help: string
  /** Static labels; in a regex rule `$1` or `$<name>` insert a group. */
  labels?: Record<string, string>
  /** Multiply the value, e.g. 1024 for kB to bytes. */
  scale?: number
  /**
   * Count characters of the value instead of reading a number (Apache's scoreboard): one sample
   * per entry of `map`, labelled `label`=map[char], zero when the character does not occur.
   */
  countChars?: { label: string; map: Record<string, string> }
  /** A page without this line is not this source's page. Default: true for key rules. */
  required?: boolean
}

export interface SourceMapping {
  name: string
  up: { name: string; help: string }
  /** Between key and value; default ':'. */
  separator?: string
  rules: MappingRule[]
  /** Lines whose text value becomes a label on every sample, e.g. { pool: 'pool' } for PHP-FPM. */
  labelsFrom?: Record<string, string>
  /** Larger bodies are a parse error; default 256 KiB. */
  maxBody?: number
}

/** Builds a Source from a declarative mapping. */
export function defineSource(mapping: SourceMapping): Source {
  const families: MetricFamily[] = []
  const index = new Map<string, number>()
  const byKey = new Map<string, Array<{ rule: MappingRule; family: number }>>()
  const regexRules: Array<{ rule: MappingRule; family: number }> = []
  const required: string[] = []
  const sep = mapping.separator ?? ':'
  const maxBody = mapping.maxBody ?? 256 * 1024
  for (const rule of mapping.rules) {
    if (!rule.key === !rule.regex) {
      throw new SourceDefinitionError(
        `source ${mapping.name}: rule for ${rule.metric} needs exactly one of key or regex`,
      )
    }
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(rule.metric)) {
      throw new SourceDefinitionError(
        `source ${mapping.name}: ${JSON.stringify(rule.metric)} is not a metric name`,
      )
    }
    let family = index.get(rule.metric)
    if (family === undefined) {
      family = families.push({ name: rule.metric, type: rule.type, help: rule.help }) - 1
      index.set(rule.metric, family)
    } else if (families[family]!.type !== rule.type || families[family]!.help !== rule.help) {
      throw new SourceDefinitionError(
        `source ${mapping.name}: ${rule.metric} is declared twice with another type or help`,
      )
    }
    if (rule.key) {
      const list = byKey.get(rule.key) ?? []
      list.push({ rule, family })
      byKey.set(rule.key, list)
      if (rule.required !== false) required.push(rule.key)
    } else regexRules.push({ rule, family })
  }
  if (index.has(mapping.up.name)) {
    throw new SourceDefinitionError(
      `source ${mapping.name}: ${mapping.up.name} is both the up metric and a rule`,
    )
  }
  const labelKeys = new Map(Object.entries(mapping.labelsFrom ?? {}).map(([label, key]) => [key, label]))

  return {
    name: mapping.name,
    families,
    up: { name: mapping.up.name, type: 'gauge', help: mapping.up.help },
    parse(body: Buffer): Sample[] {
      if (body.length > maxBody)
        throw new ParseError(`the body is ${body.length} bytes, more than ${maxBody}`)
      const samples: Sample[] = []
      const seen = new Set<string>()
      const common: Record<string, string> = {}
      for (const rawLine of body.toString('latin1').split('\n')) {
        const line = rawLine.trimEnd()
        if (line === '') continue
        const at = line.indexOf(sep)
        if (at > 0) {
          const key = line.slice(0, at).trim()
          const text = line.slice(at + sep.length).trim()
          const label = labelKeys.get(key)
          if (label) common[label] = text
          const rules = byKey.get(key)
          // The first line of a key counts: a later one (PHP-FPM's ?full repeats "start since" in
          // every process block) would print the same series twice, an invalid exposition.
          if (rules && !seen.has(key)) {
            seen.add(key)
            for (const { rule, family } of rules) pushValue(samples, rule, family, text, key, rule.labels)
          }
        }
        for (const { rule, family } of regexRules) {
          const m = rule.regex!.exec(line)
          if (!m) continue
          const text = m.groups?.value ?? m[1] ?? ''
          pushValue(samples, rule, family, text, rule.metric, expand(rule.labels, m))
        }
      }
      const missing = required.filter((k) => !seen.has(k))
      if (missing.length > 0) {
        throw new ParseError(
          `not a ${mapping.name} status page: missing ${missing.map((k) => JSON.stringify(k)).join(', ')} (body starts ${preview(body)})`,
        )
      }
      if (samples.length === 0) {
        throw new ParseError(
          `not a ${mapping.name} status page: no line matched (body starts ${preview(body)})`,
        )
      }
      if (Object.keys(common).length > 0) {
        for (const s of samples) s.labels = { ...common, ...s.labels }
      }
      return samples
    },
  }
}

function pushValue(
  out: Sample[],
  rule: MappingRule,
  family: number,
  text: string,
  what: string,
  labels: Record<string, string> | undefined,
): void {
  if (rule.countChars) {
    const counts = new Map<string, number>()
    for (const label of Object.values(rule.countChars.map)) counts.set(label, 0)
    for (const ch of text) {
      const label = rule.countChars.map[ch]
      if (label !== undefined) counts.set(label, counts.get(label)! + 1)
    }
    for (const [state, n] of counts)
      out.push({ family, value: n, labels: { ...labels, [rule.countChars.label]: state } })
    return
  }
  const value = Number(text)
  if (text === '' || !Number.isFinite(value)) {
    throw new ParseError(`${what}: expected a number, got ${JSON.stringify(text.slice(0, 40))}`)
  }
  out.push(
    labels
      ? { family, value: value * (rule.scale ?? 1), labels }
      : { family, value: value * (rule.scale ?? 1) },
  )
}

function expand(
  labels: Record<string, string> | undefined,
  m: RegExpExecArray,
): Record<string, string> | undefined {
  if (!labels) return undefined
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(labels)) {
    out[k] = v.replace(/\$(\d+)|\$<(\w+)>/g, (_all, n: string | undefined, name: string | undefined) =>
      n !== undefined ? (m[Number(n)] ?? '') : (m.groups?.[name!] ?? ''),
    )
  }
  return out
}

/** The first bytes of a body, for error messages about what came back instead. */
export function preview(body: Buffer): string {
  const text = body.subarray(0, 60).toString('latin1').replace(/\s+/g, ' ').trim()
  return JSON.stringify(body.length > 60 ? `${text}...` : text)
}

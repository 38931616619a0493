// A strict parser of the Prometheus text exposition format 0.0.4, written from the spec
// (https://prometheus.io/docs/instrumenting/exposition_formats/#text-format-details), independent
// of the serializer under test. It throws on anything the spec does not allow: a sample before its
// TYPE, a family split in two groups, HELP or TYPE twice, duplicate series, bad escapes or names.
// The runtime's registry tests and the metrics-adapter's tests both use it.

export interface ParsedSample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface ParsedFamily {
  name: string
  type: string
  help?: string
  samples: ParsedSample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

export function parsePromText(text: string): Map<string, ParsedFamily> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the exposition must end with a line feed')
  const families = new Map<string, ParsedFamily>()
  const closed = new Set<string>()
  const series = new Set<string>()
  let current: string | undefined
  const lines = text.split('\n')
  lines.pop()
  const enter = (family: string, lineNo: number) => {
    if (current === family) return
    if (closed.has(family)) throw new Error(`line ${lineNo}: family ${family} appears in two separate groups`)
    if (current) closed.add(current)
    current = family
  }
  lines.forEach((line, i) => {
    const n = i + 1
    if (line.trim() === '') return
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line)
      if (!m) return // a plain comment
      const [, kind, name, rest = ''] = m
      if (!METRIC_NAME.test(name!) || METRIC_NAME.exec(name!)![0] !== name)
        throw new Error(`line ${n}: bad metric name ${name}`)
      enter(name!, n)
      const fam = families.get(name!) ?? { name: name!, type: 'untyped', samples: [] }
      families.set(name!, fam)
      if (kind === 'HELP') {
        if (fam.help !== undefined) throw new Error(`line ${n}: second HELP for ${name}`)
        fam.help = unescapeText(rest, false, n)
      } else {
        if ((fam as { typed?: boolean }).typed) throw new Error(`line ${n}: second TYPE for ${name}`)
        if (fam.samples.length > 0) throw new Error(`line ${n}: TYPE for ${name} after its samples`)
        if (!TYPES.has(rest.trim())) throw new Error(`line ${n}: unknown type ${JSON.stringify(rest)}`)
        fam.type = rest.trim()
        ;(fam as { typed?: boolean }).typed = true
      }
      return
    }
    const sample = parseSampleLine(line, n)
    const family = familyOf(sample.name, families)
    enter(family, n)
    const fam = families.get(family) ?? { name: family, type: 'untyped', samples: [] }
    families.set(family, fam)
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`
    if (series.has(key)) throw new Error(`line ${n}: duplicate series ${key}`)
    series.add(key)
    fam.samples.push(sample)
  })
  return families
}

function familyOf(name: string, families: Map<string, ParsedFamily>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length)
      const t = families.get(base)?.type
      if (t === 'histogram' || t === 'summary') return base
    }
  }
  return name
}

function parseSampleLine(line: string, n: number): ParsedSample {
  const nm = METRIC_NAME.exec(line)
  if (!nm) throw new Error(`line ${n}: no metric name in ${JSON.stringify(line)}`)
  const name = nm[0]
  let i = name.length
  const labels: Record<string, string> = {}
  if (line[i] === '{') {
    i++
    for (;;) {
      while (line[i] === ' ') i++
      if (line[i] === '}') {
        i++
        break
      }
      const ln = LABEL_NAME.exec(line.slice(i))
      if (!ln) throw new Error(`line ${n}: bad label name at ${JSON.stringify(line.slice(i))}`)
      const label = ln[0]
      i += label.length
      if (line[i] !== '=' || line[i + 1] !== '"') throw new Error(`line ${n}: expected =" after ${label}`)
      i += 2
      let raw = ''
      for (;;) {
        const c = line[i]
        if (c === undefined) throw new Error(`line ${n}: unterminated label value`)
        if (c === '"') break
        if (c === '\\') {
          raw += c + (line[i + 1] ?? '')
          i += 2
          continue
        }
        raw += c
        i++
      }
      i++
      if (label in labels) throw new Error(`line ${n}: label ${label} twice`)
      labels[label] = unescapeText(raw, true, n)
      if (line[i] === ',') i++
      else if (line[i] !== '}') throw new Error(`line ${n}: expected , or } after label ${label}`)
    }
  }
  if (line[i] !== ' ' && line[i] !== '\t') throw new Error(`line ${n}: expected a blank before the value`)
  const parts = line
    .slice(i)
    .trim()
    .split(/[ \t]+/)
  if (parts.length < 1 || parts.length > 2) throw new Error(`line ${n}: expected value [timestamp]`)
  const value = parseValue(parts[0]!, n)
  if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1]))
    throw new Error(`line ${n}: bad timestamp ${parts[1]}`)
  return { name, labels, value }
}

function parseValue(text: string, n: number): number {
  // The spec defers to Go's ParseFloat, which reads NaN and Inf in any letter case.
  const special = text.toLowerCase()
  if (special === 'nan') return Number.NaN
  if (special === '+inf' || special === 'inf' || special === '+infinity') return Number.POSITIVE_INFINITY
  if (special === '-inf' || special === '-infinity') return Number.NEGATIVE_INFINITY
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text))
    throw new Error(`line ${n}: bad value ${JSON.stringify(text)}`)
  return Number(text)
}

function unescapeText(raw: string, quoteAllowed: boolean, n: number): string {
  return raw.replace(/\\(.?)/g, (_all, c: string) => {
    if (c === '\\') return '\\'
    if (c === 'n') return '\n'
    if (c === '"' && quoteAllowed) return '"'
    throw new Error(`line ${n}: invalid escape \\${c}`)
  })
}

/** The one sample of a family with exactly these labels (a subset match when `subset`). */
export function sampleOf(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Record<string, string> = {},
): ParsedSample | undefined {
  const fam = families.get(name)
  return fam?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
}

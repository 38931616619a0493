// A faster build of Fluent Bit's regex parser for the shipper's hot path, on @podkit/log-pipeline's
// own regex translation and strptime: positional captures (no `groups` object per line), records
// built by a generated object literal with one fixed shape (no `delete`, which would drop V8 into
// slow dictionary objects and slow every later step), and the last Time_Format result cached
// (log lines of one second share their timestamp). Skip_Empty_Values leaves an empty capture
// undefined, as a group that did not take part is (outputs omit both), so the shape stays fixed.
// Definitions with Types use the pipeline's regex parser unchanged. Candidate for moving into
// @podkit/log-pipeline.

import {
  compileTimeFormat,
  type Parser,
  type ParserDefinition,
  parseOffset,
  translateRegex,
} from '@podkit/log-pipeline'

/** Names of the named groups and their capture numbers, counting unnamed capturing groups too. */
export function captureLayout(source: string): Array<{ name: string; index: number }> {
  const out: Array<{ name: string; index: number }> = []
  let n = 0
  let inClass = false
  for (let i = 0; i < source.length; i++) {
    const c = source[i]
    if (c === '\\') {
      i++
      continue
    }
    if (inClass) {
      if (c === ']') inClass = false
      continue
    }
    if (c === '[') {
      inClass = true
      continue
    }
    if (c !== '(') continue
    if (source[i + 1] !== '?') {
      n++
      continue
    }
    if (source[i + 2] === '<' && source[i + 3] !== '=' && source[i + 3] !== '!') {
      n++
      const end = source.indexOf('>', i + 3)
      out.push({ name: source.slice(i + 3, end), index: n })
    }
  }
  return out
}

export function createFastRegexParser(def: ParserDefinition): Parser | undefined {
  if (!def.regex || def.types) return undefined
  const { regex, names } = translateRegex(def.regex, def.name)
  const layout = captureLayout(regex.source)
  if (layout.length === 0) return undefined
  // The translated regex may rename groups JavaScript cannot take; map back to the field names.
  const fieldOf = new Map<string, string>()
  for (const [js, field] of names) fieldOf.set(js, field)
  const positional = new RegExp(regex.source.replace(/\(\?<(?![=!])[^>]*>/g, '('), regex.flags)
  const timeKey = def.timeKey ?? 'time'
  const keepTime = def.timeKeep ?? false
  let offset = 0
  if (def.timeOffset) {
    const o = parseOffset(def.timeOffset)
    // A bad Time_Offset is the pipeline parser's to report (it names the parser), not to be read as UTC.
    if (o === undefined) return undefined
    offset = o
  }
  const time = def.timeFormat
    ? compileTimeFormat(def.timeFormat, offset, { ignoreTrailing: def.timeIgnoreTrailing })
    : undefined
  // `m[i] || undefined`: an empty capture becomes undefined (Skip_Empty_Values, Fluent Bit's default).
  const value = (i: number) => (def.skipEmptyValues ? `m[${i}] || undefined` : `m[${i}]`)
  const fields = layout.map((g) => ({ field: fieldOf.get(g.name) ?? g.name, index: g.index }))
  const timeIndex = time ? (fields.find((f) => f.field === timeKey)?.index ?? -1) : -1
  // One object literal per record: every record has the same hidden class. Keys are JSON-quoted
  // and indices are numbers, so nothing from the config is spliced into code unquoted.
  const props = fields
    .filter((f) => keepTime || f.index !== timeIndex)
    .map((f) => `${JSON.stringify(f.field)}: ${value(f.index)}`)
  const build = new Function('m', `return { ${props.join(', ')} }`) as (
    m: RegExpExecArray,
  ) => Record<string, unknown>
  const buildWithTime =
    timeIndex > 0 && !keepTime
      ? (new Function(
          'm',
          `return { ${fields.map((f) => `${JSON.stringify(f.field)}: ${value(f.index)}`).join(', ')} }`,
        ) as (m: RegExpExecArray) => Record<string, unknown>)
      : build
  let lastText = ''
  let lastTime: number | undefined
  return {
    name: def.name,
    parse(line) {
      const m = positional.exec(line)
      if (!m) return undefined
      if (timeIndex <= 0) return { record: build(m) }
      const text = m[timeIndex]
      let t: number | undefined
      if (text === undefined) t = undefined
      else if (text === lastText) t = lastTime
      else {
        t = time!.parse(text)
        lastText = text
        lastTime = t
      }
      // An unparsable time stays in the record, so nothing is lost.
      if (t === undefined) return { record: buildWithTime(m) }
      return { record: build(m), time: t }
    },
  }
}

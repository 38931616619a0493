// Turns one (possibly multi-line) record into the adapter's output object: ISO 8601 `timestamp`,
// normalised `level`, `message`, the format's other fields, and the pod's metadata. A line the
// format does not match is kept whole as the message with level `unknown`, never dropped.

import {
  compileTimeFormat,
  createSeedParser,
  formatIso,
  type LineBuffer,
  type LineOrigin,
  type LogEvent,
  normalizeLevel,
  type Parser,
  ParserRegistry,
  type SeedScan,
  scanSeed,
  type TimeParser,
  type Zone,
} from '@podkit/log-pipeline'
import type { LogAdapterConfig } from './config.ts'

export type Decode = (text: string, origin: LineOrigin) => { event: LogEvent; parsed: boolean }
/** One record straight to its output line in `out`; returns whether the format matched. */
export type Encode = (text: string, origin: LineOrigin, out: LineBuffer) => boolean

const TIME_KEYS = ['timestamp', 'time']
const MESSAGE_KEYS = ['message', 'msg', 'log']

/** Builds the adapter's decode function; throws a PodkitError (naming the option) if the format does not compile. */
export function createDecoder(config: LogAdapterConfig, zone: Zone): Decode {
  const f = config.fields
  const meta: Array<[string, string]> = [[f.pod, config.pod.name]]
  if (config.pod.namespace) meta.push([f.namespace, config.pod.namespace])
  if (config.pod.node) meta.push([f.node, config.pod.node])
  if (config.pod.container) meta.push([f.container, config.pod.container])
  const iso = (ms: number) => formatIso(ms, zone.offsetAt(ms))
  const addMeta = (out: Record<string, unknown>) => {
    for (const [k, v] of meta) out[k] = v
    return out
  }
  const unparsed = (text: string, origin: LineOrigin) => ({
    event: {
      tag: origin.tag,
      time: origin.now,
      record: addMeta({ [f.timestamp]: iso(origin.now), [f.level]: 'unknown', [f.message]: text }),
    },
    parsed: false,
  })

  if (config.format.name === 'seed') {
    // The hot path: the head is scanned in place (no intermediate record) and the message runs
    // from after the level to the end, continuation lines (a stack trace) included.
    const scan: SeedScan = { time: 0, timestampEnd: 0, level: 'unknown', messageStart: 0 }
    const fTs = f.timestamp
    const fLevel = f.level
    const fMessage = f.message
    // The pipeline reads the result at once, so one result object serves every line.
    const result: ReturnType<Decode> = { event: { tag: '', time: 0, record: {} }, parsed: true }
    return (text, origin) => {
      if (!scanSeed(text, zone, scan)) return unparsed(text, origin)
      const time = scan.time
      const out: Record<string, unknown> = {}
      out[fTs] = iso(time)
      out[fLevel] = scan.level
      out[fMessage] = text.slice(scan.messageStart)
      result.event = { tag: origin.tag, time, record: addMeta(out) }
      return result
    }
  }

  let parser: Parser
  if (config.format.name === 'regex') {
    parser = new ParserRegistry({ presets: false }).define({
      name: 'format.regex',
      format: 'regex',
      regex: config.format.regex,
    })
  } else parser = new ParserRegistry().get(config.format.name)
  const timeParser: TimeParser | undefined = config.format.timeFormat
    ? compileTimeFormat(config.format.timeFormat, zone.offsetAt(Date.now()))
    : undefined
  const seedTime = createSeedParser({ zone })

  const parseTime = (v: string): number | undefined => {
    if (timeParser) return timeParser.parse(v)
    const seed = seedTime.parse(`${v} x`)
    if (seed?.time !== undefined) return seed.time
    const ms = Date.parse(v)
    return Number.isNaN(ms) ? undefined : ms
  }

  return (text, origin) => {
    const nl = text.indexOf('\n')
    const head = nl === -1 ? text : text.slice(0, nl)
    const r = parser.parse(head)
    if (!r) return unparsed(text, origin)
    const rec = r.record
    let time = r.time
    for (const k of TIME_KEYS) {
      const v = rec[k]
      if (typeof v === 'string' && time === undefined) {
        const t = parseTime(v)
        if (t !== undefined) {
          time = t
          delete rec[k]
        }
      }
    }
    time ??= origin.now
    let level = 'info'
    if (typeof rec.level === 'string') {
      level = normalizeLevel(rec.level) ?? rec.level.toLowerCase()
      delete rec.level
    }
    let message: string = head
    for (const k of MESSAGE_KEYS) {
      const v = rec[k]
      if (typeof v === 'string') {
        message = v
        delete rec[k]
        break
      }
    }
    if (nl !== -1) message += text.slice(nl)
    const out: Record<string, unknown> = { [f.timestamp]: iso(time), [f.level]: level, [f.message]: message }
    for (const k in rec) if (!(k in out)) out[k] = rec[k]
    return { event: { tag: origin.tag, time, record: addMeta(out) }, parsed: true }
  }
}

/**
 * One event to one JSON line. Records of the seed format (parsed or not) always have the same
 * keys with a timestamp and level that need no escaping, so their JSON is assembled from
 * precomputed pieces (2-3x faster than JSON.stringify); other formats use JSON.stringify.
 */
export function createSerializer(config: LogAdapterConfig): (event: LogEvent) => string {
  const pieces = seedPieces(config)
  if (config.format.name !== 'seed' || !pieces) return (e) => JSON.stringify(e.record)
  const q = JSON.stringify
  const { p1, p2, p3, tail } = pieces
  const { timestamp: ts, level: lv, message: msg } = config.fields
  return (e) => {
    const r = e.record
    return p1 + (r[ts] as string) + p2 + (r[lv] as string) + p3 + q(r[msg]) + tail
  }
}

/**
 * The constant parts of a seed record's JSON line: `{"timestamp":"` p1, `","level":"` p2,
 * `","message":` p3, the pod metadata and `}` tail. Undefined when field names collide (the
 * generic JSON.stringify path then keeps its semantics).
 */
function seedPieces(
  config: LogAdapterConfig,
): { p1: string; p2: string; p3: string; tail: string } | undefined {
  const f = config.fields
  const q = JSON.stringify
  const names = new Set([f.timestamp, f.level, f.message])
  const meta: Array<[string, string]> = [[f.pod, config.pod.name]]
  if (config.pod.namespace) meta.push([f.namespace, config.pod.namespace])
  if (config.pod.node) meta.push([f.node, config.pod.node])
  if (config.pod.container) meta.push([f.container, config.pod.container])
  if (
    names.size < 3 ||
    meta.some(([k]) => names.has(k)) ||
    new Set(meta.map(([k]) => k)).size < meta.length
  ) {
    return undefined
  }
  return {
    p1: `{${q(f.timestamp)}:"`,
    p2: `",${q(f.level)}:"`,
    p3: `",${q(f.message)}:`,
    tail: `${meta.map(([k, v]) => `,${q(k)}:${q(v)}`).join('')}}`,
  }
}

/**
 * The pipeline's encode function: each record becomes its JSON line directly in the batch's
 * bytes. For the seed format (the default) no record object is built: the head is scanned in
 * place and the line is written from precomputed pieces (the same bytes createSerializer gives);
 * other formats decode and serialize, then write the line.
 */
export function createEncoder(config: LogAdapterConfig, zone: Zone, decode: Decode): Encode {
  const serialize = createSerializer(config)
  const generic: Encode = (text, origin, out) => {
    const { event, parsed } = decode(text, origin)
    out.write(serialize(event))
    out.endLine()
    return parsed
  }
  const pieces = seedPieces(config)
  if (config.format.name !== 'seed' || !pieces) return generic
  const { p1, p2, p3, tail } = pieces
  const utf8 = (s: string) => Buffer.from(s, 'utf8')
  const scan: SeedScan = { time: 0, timestampEnd: 0, level: 'unknown', messageStart: 0 }
  // A line is written as five runs: `{"timestamp":"2024-01-15T10:30:` (cached per minute and
  // offset), the seconds and milliseconds as six bytes, `Z","level":"info","message":"` (cached
  // per offset and level), the message, and `","pod":"..."}`, then the newline. Only the message
  // is encoded per line: formatting the ISO time per line (each of the benchmark's lines is in a
  // new second) was a tenth of the adapter's CPU and most of its per-line garbage.
  let minute = Number.NaN
  let offset = Number.NaN
  let head: Uint8Array = utf8(p1)
  let zoneSuffix = ''
  const mids = new Map<string, Uint8Array>()
  const end = utf8(`"${tail}`)
  return (text, origin, out) => {
    const parsed = scanSeed(text, zone, scan)
    const time = Math.floor(parsed ? scan.time : origin.now)
    const off = zone.offsetAt(time)
    // Wall-clock ms in the output's offset: its minute picks the head, the rest is SS.mmm.
    const local = time + off * 60_000
    const m = Math.floor(local / 60_000)
    if (m !== minute || off !== offset) {
      const iso = formatIso(m * 60_000 - off * 60_000, off)
      const dot = iso.lastIndexOf('.')
      // `...T10:30:` without the seconds; the zone suffix after the milliseconds.
      head = utf8(p1 + iso.slice(0, dot - 2))
      if (off !== offset) {
        zoneSuffix = iso.slice(dot + 4)
        mids.clear()
      }
      minute = m
      offset = off
    }
    const level = parsed ? scan.level : 'unknown'
    let mid = mids.get(level)
    if (mid === undefined) {
      mid = utf8(`${zoneSuffix}${p2}${level}${p3}"`)
      mids.set(level, mid)
    }
    const inMinute = local - m * 60_000
    const sec = Math.floor(inMinute / 1000)
    out.writeBytes(head)
    out.byte(0x30 + Math.floor(sec / 10))
    out.byte(0x30 + (sec % 10))
    out.byte(0x2e)
    out.digits3(inMinute - sec * 1000)
    out.writeBytes(mid)
    writeJsonChars(out, text, parsed ? scan.messageStart : 0)
    out.writeBytes(end)
    out.endLine()
    return parsed
  }
}

// What JSON.stringify would escape: quote, backslash, control characters, and (conservatively)
// any surrogate, so a lone one gets JSON.stringify's \uXXXX form.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/g

/**
 * text.slice(from) as the inside of a JSON string (the quotes are written by the caller): the
 * same bytes JSON.stringify gives. Most messages need no escaping: those are written as they
 * are. Others are escaped run by run into `out`, never as one escaped copy: a 1 MiB line of
 * control characters would make a 6 MiB string and exceed the image's old-space limit (it did,
 * at 20 MiB).
 */
function writeJsonChars(out: LineBuffer, text: string, from: number): void {
  NEEDS_ESCAPE.lastIndex = from
  if (!NEEDS_ESCAPE.test(text)) {
    out.write(from === 0 ? text : text.slice(from))
    return
  }
  let start = from
  NEEDS_ESCAPE.lastIndex = from
  for (let m = NEEDS_ESCAPE.exec(text); m !== null; m = NEEDS_ESCAPE.exec(text)) {
    const i = m.index
    const c = text.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      NEEDS_ESCAPE.lastIndex = i + 2 // a valid surrogate pair stays in the run as it is
      continue
    }
    if (i > start) out.write(text.slice(start, i))
    out.writeAscii(ESCAPES[c] ?? `\\u${c.toString(16).padStart(4, '0')}`)
    start = i + 1
  }
  if (start < text.length) out.write(text.slice(start))
}

// JSON.stringify's short escapes; other control characters and lone surrogates get \uXXXX.
const ESCAPES: Record<number, string> = {
  8: '\\b',
  9: '\\t',
  10: '\\n',
  12: '\\f',
  13: '\\r',
  34: '\\"',
  92: '\\\\',
}

// The [INPUT] tail section as @podkit/log-pipeline TailSource options, with Fluent Bit's defaults
// (Refresh_Interval 60s, Buffer_Max_Size 32k, Skip_Empty_Lines Off, Rotate_Wait 5s), its parser and
// its multiline.parser.

import { isAbsolute } from 'node:path'
import {
  createJsonParser,
  createMultiline,
  createRegexParser,
  type Multiline,
  type MultilineEmit,
  type MultilineOptions,
  type MultilineRule,
  type Parser,
  type ParserDefinition,
  type ParserRegistry,
  splitGlobList,
  type TailOptions,
  type TranslatedRegex,
  translateRegex,
} from '@podkit/log-pipeline'
import { PipelineConfigError } from './errors.ts'
import { lineOf, type PluginSection } from './fluent-bit/section.ts'
import { slashRegex } from './fluent-bit/slash-regex.ts'

export interface InputSpec {
  name: string
  tail: TailOptions
  /** The Tag as written (`nginx.*`), expanded per file from the path as the config names it. */
  tag: string
  /** Prefix added to Path globs (pathPrefix) and taken off again before the tag is expanded. */
  pathPrefix: string
  parser: Parser | undefined
  /** Key of the raw line when no parser is set or the parser did not match (Key, default log). */
  rawKey: string
  pathKey: string | undefined
  multiline: MultilineOptions | undefined
  /** `multiline.parser docker, cri`: Docker's joining for JSON lines, CRI's for the others. */
  dockerOrCri: boolean
  /**
   * Tag_Regex: run on the file's path (as the config names it); its named captures fill the Tag's
   * `<name>` placeholders. A file it does not match is not followed, as in Fluent Bit.
   */
  tagRegex: TranslatedRegex | undefined
}

/**
 * The tag of a file under Tag_Regex, as Fluent Bit's tail composes it (tag_compose): every
 * `<name>` in the Tag becomes that capture's text, or `_` when the group captured nothing; the
 * rest of the Tag is copied as written (a `*` is not expanded). Undefined when the regex does not
 * match the path: Fluent Bit does not follow such a file.
 */
export function tagFromRegex(tag: string, re: TranslatedRegex, path: string): string | undefined {
  const m = re.regex.exec(path)
  if (!m) return undefined
  const values = new Map<string, string>()
  for (const [js, field] of re.names) {
    const v = m.groups?.[js]
    if (v) values.set(field, v)
  }
  return tag.replace(/<([^<>]*)>/g, (_, name: string) => values.get(name) ?? '_')
}

const shapeParser = (n: string): Parser => {
  const def = MULTILINE_RECORD[n]!
  return def.format === 'json' ? createJsonParser(def) : createRegexParser(def)
}

/** The multiline joiner of an input: one mode, or Docker's and CRI's side by side (`docker, cri`). */
export function inputMultiline(spec: InputSpec, emit: MultilineEmit): Multiline {
  if (!spec.dockerOrCri) return createMultiline(spec.multiline!, emit)
  const docker = createMultiline({ mode: 'docker' }, emit)
  const cri = createMultiline({ mode: 'cri' }, emit)
  return {
    push: (stream, line, index) => (line.charCodeAt(0) === 0x7b ? docker : cri).push(stream, line, index),
    holdPending(stream, chunk) {
      docker.holdPending(stream, chunk)
      cri.holdPending(stream, chunk)
    },
    flush(idleMs) {
      docker.flush(idleMs)
      cri.flush(idleMs)
    },
    pending: () => docker.pending() + cri.pending(),
  }
}

const BUILTIN_MULTILINE = new Set(['docker', 'cri', 'java', 'python', 'go'])

/**
 * The records Fluent Bit's built-in cri and docker multiline parsers produce (flb_ml_parser_cri.c,
 * flb_ml_parser_docker.c): CRI as time, stream, _p and log, Docker's JSON as it is, the time kept
 * and taken as the event time.
 */
const MULTILINE_RECORD: Record<string, ParserDefinition> = {
  cri: {
    name: '_ml_cri',
    format: 'regex',
    regex: '^(?<time>.+?) (?<stream>stdout|stderr) (?<_p>F|P) (?<log>.*)$',
    timeKey: 'time',
    timeFormat: '%Y-%m-%dT%H:%M:%S.%L%z',
    timeKeep: true,
    timeIgnoreTrailing: true,
  },
  docker: {
    name: '_ml_json_docker',
    format: 'json',
    timeKey: 'time',
    timeFormat: '%Y-%m-%dT%H:%M:%S.%L',
    timeKeep: true,
    timeIgnoreTrailing: true,
  },
}

export function buildInput(
  s: PluginSection,
  index: number,
  parsers: ParserRegistry,
  multilineDefs: Map<string, PluginSection>,
  opts: { pathPrefix: string; positionsDir?: string; parserSections?: Map<string, PluginSection> },
): InputSpec {
  const name = s.str('alias') || `tail.${index}`
  const globs = splitGlobList(s.required('path'))
  const prefix = opts.pathPrefix.replace(/\/+$/, '')
  const withPrefix = (g: string) => (prefix && isAbsolute(g) ? `${prefix}${g}` : g)
  const parserName = s.str('parser')
  let parser: Parser | undefined
  if (parserName) {
    if (!parsers.has(parserName))
      throw s.error('parser', `parser "${parserName}" is not defined (known: ${parsers.names().join(', ')})`)
    parser = parsers.get(parserName)
  }
  let multiline: MultilineOptions | undefined
  let dockerOrCri = false
  const ml = s.str('multiline.parser')
  if (ml) {
    const names = ml
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)
    const unique = [...new Set(names)]
    if (unique.length > 1) {
      // `docker, cri` (Fluent Bit's Kubernetes default): each line goes to the one that reads it,
      // as Fluent Bit tries the parsers in turn; a JSON line is Docker's, any other CRI's.
      if (unique.length !== 2 || !unique.includes('docker') || !unique.includes('cri'))
        throw s.error(
          'multiline.parser',
          `only "docker, cri" may be combined in one multiline.parser, got "${ml}"`,
        )
      const docker = shapeParser('docker')
      const cri = shapeParser('cri')
      multiline = { mode: 'docker' }
      dockerOrCri = true
      parser = {
        name: '_ml_docker_cri',
        parse: (line) => (line.charCodeAt(0) === 0x7b ? docker : cri).parse(line),
      }
    }
  }
  if (ml && !dockerOrCri) {
    const n = ml
      .split(',')
      .map((x) => x.trim())
      .find(Boolean)!
    if (BUILTIN_MULTILINE.has(n)) multiline = { mode: n as MultilineOptions['mode'] }
    else {
      const def = multilineDefs.get(n)
      if (!def) throw s.error('multiline.parser', `multiline parser "${n}" is not defined`)
      multiline = multilineFromSection(def)
    }
    // With multiline.parser, Fluent Bit's tail never applies Parser (tail_file.c skips it); the
    // cri and docker multiline parsers shape the record themselves.
    parser = MULTILINE_RECORD[n] ? shapeParser(n) : undefined
  }
  // With Parser set, Fluent Bit's tail parses every line with it and never reaches the old
  // multiline (process_content: `if (ctx->parser) ... else if (ctx->multiline)`); a warning says so.
  if (s.bool('multiline', false) && !parserName) {
    if (ml)
      throw s.error('multiline', 'Multiline On (the old multiline) and multiline.parser cannot be combined')
    const old = oldMultiline(s, parsers, opts.parserSections ?? new Map())
    multiline = old.multiline
    parser = old.parser
  }
  if (s.bool('docker_mode', false)) {
    if (multiline)
      throw s.error('docker_mode', 'Docker_Mode On cannot be combined with another multiline setting')
    if (s.str('docker_mode_parser'))
      throw s.error(
        'docker_mode_parser',
        'Docker_Mode_Parser is not supported; join Docker lines with Docker_Mode On alone or with multiline.parser docker',
      )
    // Docker_Mode (tail_dockermode.c): json-file lines whose log does not end in a newline are
    // joined with the lines after them before Parser reads the joined line.
    multiline = { mode: 'docker', flushTimeout: s.seconds('docker_mode_flush', 4000) }
  }
  const db = s.str('db')
  const tag = s.str('tag', `tail.${index}`)
  let tagRegex: TranslatedRegex | undefined
  const tr = s.str('tag_regex')
  if (tr) {
    try {
      tagRegex = translateRegex(slashRegex(tr), 'Tag_Regex')
    } catch (err) {
      throw s.error('tag_regex', (err as Error).message)
    }
    // Fluent Bit refuses a Tag whose `<` has no `>` when it composes a tag; say so at start.
    if (/<[^>]*(<|$)/.test(tag)) throw s.error('tag', `Tag ${tag} has a < without its closing >`)
  }
  const tagOf = (path: string) => (tagRegex ? tagFromRegex(tag, tagRegex, path) : undefined)
  return {
    name,
    tag,
    tagRegex,
    pathPrefix: prefix,
    parser,
    rawKey: s.str('key', 'log'),
    pathKey: s.str('path_key') || undefined,
    multiline,
    dockerOrCri,
    tail: {
      path: globs.map(withPrefix),
      exclude: splitGlobList(s.str('exclude_path')).map(withPrefix),
      // The source's own tag is not used: the shipper expands Tag from the unprefixed path.
      tag: 'tail.*',
      readFromHead: s.bool('read_from_head', false),
      refreshInterval: s.seconds('refresh_interval', 60_000),
      bufferChunkSize: s.size('buffer_chunk_size', 256 * 1024),
      bufferMaxSize: s.size('buffer_max_size', 32 * 1024),
      skipLongLines: s.bool('skip_long_lines', false),
      skipEmptyLines: s.bool('skip_empty_lines', false),
      memBufLimit: s.size('mem_buf_limit', 32 * 1024 * 1024),
      positionsFile: db ? withPrefix(db) : undefined,
      rotateWait: s.seconds('rotate_wait', 5000),
      // A line is shipped when its newline arrives, however late, as Fluent Bit's tail does: a
      // block-buffered writer (`python app.py > app.log` flushes 8 KiB at a time) leaves half a
      // line for as long as it takes to fill the next block. A rotated file's last bytes are still
      // shipped when it is finished.
      flushTimeout: Number.POSITIVE_INFINITY,
      // Ignore_Older: a file last changed longer ago than this is not followed (Fluent Bit checks
      // the mtime when it scans for files; 0, its default, means no limit).
      ignoreOlder: s.seconds('ignore_older', 0),
      // Tag_Regex: a file whose path the regex does not match is not followed, as Fluent Bit's
      // tail logs "invalid tag_regex pattern for file" and skips it. The path is matched as the
      // config names it (without pathPrefix).
      accept: tagRegex
        ? (path) => tagOf(prefix && path.startsWith(prefix) ? path.slice(prefix.length) : path) !== undefined
        : undefined,
    },
  }
}

/**
 * A [MULTILINE_PARSER] of type regex: its rules run as Fluent Bit's state machine (a start_state
 * line opens a record, lines matching the rules of the state reached continue it, any other line
 * is a record of its own).
 */
function multilineFromSection(def: PluginSection): MultilineOptions {
  const type = def.str('type', 'regex').toLowerCase()
  if (type !== 'regex') throw def.error('type', `multiline parser type ${type} is not supported (regex only)`)
  const rules: MultilineRule[] = []
  for (const r of def.all('rule')) {
    // rule "start_state" "/regex/" "next_state"; the slashes are optional, as in Fluent Bit.
    const m = /^"([^"]+)"\s+"(.*)"\s+"([^"]+)"$/.exec(r.value.trim())
    if (!m) throw def.error('rule', `rule must be "state" "/regex/" "next_state", got ${r.value}`)
    try {
      rules.push({
        from: m[1]!,
        regex: translateRegex(slashRegex(m[2]!), def.str('name', '')).regex,
        to: m[3]!,
      })
    } catch (err) {
      throw new PipelineConfigError(`${r.where}: ${(err as Error).message}`)
    }
  }
  if (!rules.some((r) => r.from.split(',').some((f) => f.trim() === 'start_state')))
    throw def.error(undefined, `multiline parser "${def.str('name')}" needs a start_state rule`)
  const options: MultilineOptions = { mode: 'regex', rules, flushTimeout: def.int('flush_timeout', 4000) }
  try {
    // Checks now that every to_state names a state, so a typo fails at start with the parser's line.
    createMultiline(options, () => {})
  } catch (err) {
    throw def.error('rule', (err as Error).message)
  }
  return options
}

/**
 * Fluent Bit's old tail multiline (Multiline On, Parser_Firstline, Parser_N, Multiline_Flush), as
 * tail_multiline.c runs it: a line Parser_Firstline's regex matches starts a record made of that
 * parser's fields and time; a following line another Parser_N reads adds its fields, and any
 * other line is appended, after a newline, to the last string field of the record so far; a
 * record ends at the next first line or after Multiline_Flush seconds (default 4) of quiet.
 * Lines before any first line are shipped raw. Parser is not applied, as in Fluent Bit.
 */
function oldMultiline(
  s: PluginSection,
  parsers: ParserRegistry,
  sections: Map<string, PluginSection>,
): { multiline: MultilineOptions; parser: Parser } {
  const get = (key: string, n: string): Parser => {
    if (!parsers.has(n))
      throw s.error(key, `parser "${n}" is not defined (known: ${parsers.names().join(', ')})`)
    return parsers.get(n)
  }
  const firstName = s.required('parser_firstline')
  const first = get('parser_firstline', firstName)
  const def = sections.get(firstName)
  const source = def?.str('regex')
  if (def?.str('format', '').toLowerCase() !== 'regex' || !source)
    throw s.error('parser_firstline', `Parser_Firstline ${firstName} must be a regex parser`)
  let firstLine: RegExp
  try {
    firstLine = translateRegex(slashRegex(source), firstName).regex
  } catch (err) {
    throw s.error('parser_firstline', (err as Error).message)
  }
  // Parser_1, Parser_2, ... in the order written, as flb_tail_mult_create reads the properties.
  const rest = [...s.props.entries()]
    .filter(([k]) => /^parser_\d+$/.test(k))
    .flatMap(([k, props]) => props.map((p) => ({ k, p })))
    .sort((a, b) => lineOf(a.p.where) - lineOf(b.p.where))
    .map(({ k, p }) => get(k, p.value))
  const lastString = (r: Record<string, unknown>): string | undefined => {
    let last: string | undefined
    for (const k in r) if (r[k] !== undefined) last = k
    return last !== undefined && typeof r[last] === 'string' ? last : undefined
  }
  const parser: Parser = {
    name: `_multiline_${firstName}`,
    parse(text) {
      const lines = text.split('\n')
      const head = first.parse(lines[0]!)
      if (!head) return undefined
      const record = head.record
      let appendTo = lastString(record)
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i]!
        let more: Record<string, unknown> | undefined
        for (const p of rest) {
          more = p.parse(line)?.record
          if (more) break
        }
        if (more) {
          Object.assign(record, more)
          appendTo = lastString(more)
        } else if (appendTo !== undefined) record[appendTo] = `${record[appendTo]}\n${line}`
        // Fluent Bit ships such a line as a record of its own; here it joins the raw key.
        else record.log = record.log === undefined ? line : `${record.log}\n${line}`
      }
      return head.time === undefined ? { record } : { record, time: head.time }
    },
  }
  return {
    multiline: { mode: 'regex', firstLine, flushTimeout: s.seconds('multiline_flush', 4000) },
    parser,
  }
}

// The [FILTER] plugins: modify and grep come from @podkit/log-pipeline; parser, record_modifier
// and kubernetes (metadata from the file name and POD_* env, never the API server) are here.

import {
  accessorPath,
  createGrep,
  createModify,
  type GrepRule,
  getField,
  type LogEvent,
  type ModifyRule,
  type Parser,
  type ParserRegistry,
  type Transform,
  translateRegex,
} from '@podkit/log-pipeline'
import { PipelineConfigError } from './errors.ts'
import { compileMatch, type TagMatcher } from './fluent-bit/match.ts'
import { lineOf, type PluginSection } from './fluent-bit/section.ts'
import { slashRegex } from './fluent-bit/slash-regex.ts'

export interface Filter {
  name: string
  matches: TagMatcher
  transform: Transform
}

/** `KEY VALUE` of repeated keys such as Add, Record, Regex. */
function pairs(s: PluginSection, key: string): Array<{ key: string; value: string; where: string }> {
  return s.all(key).map((p) => {
    const m = /^(\S+)\s*(.*)$/.exec(p.value.trim())
    if (!m) throw s.error(key, `${key} needs "KEY VALUE", got "${p.value}"`)
    return { key: m[1]!, value: m[2]!, where: p.where }
  })
}

export function buildFilter(
  s: PluginSection,
  index: number,
  parsers: ParserRegistry,
  env: Record<string, string | undefined>,
): Filter {
  const name = s.str('alias') || `${s.name}.${index}`
  const matches = compileMatch(s.str('match'), s.str('match_regex'))
  return { name, matches, transform: transformOf(s, name, parsers, env) }
}

function transformOf(
  s: PluginSection,
  name: string,
  parsers: ParserRegistry,
  env: Record<string, string | undefined>,
): Transform {
  switch (s.name) {
    case 'modify': {
      // Rules apply in the order written, as Fluent Bit does.
      const rules: ModifyRule[] = []
      const ordered: Array<{ op: string; where: string; value: string }> = []
      for (const op of [
        'set',
        'add',
        'remove',
        'remove_wildcard',
        'remove_regex',
        'rename',
        'hard_rename',
        'copy',
        'hard_copy',
      ])
        for (const p of s.all(op)) ordered.push({ op, where: p.where, value: p.value })
      ordered.sort((a, b) => lineOf(a.where) - lineOf(b.where))
      for (const o of ordered) {
        const m = /^(\S+)\s*(.*)$/.exec(o.value.trim())
        if (!m) throw s.error(o.op, `${o.op} needs a key, got "${o.value}"`)
        const [, key, rest] = m as unknown as [string, string, string]
        if (o.op.startsWith('remove')) rules.push({ op: o.op as 'remove', key })
        else if (o.op === 'set' || o.op === 'add') rules.push({ op: o.op, key, value: rest })
        else {
          if (!rest) throw s.error(o.op, `${o.op} needs "FROM TO", got "${o.value}"`)
          rules.push({ op: o.op as 'rename', key, to: rest })
        }
      }
      let modify: Transform
      try {
        modify = createModify({ name, rules, env })
      } catch (err) {
        throw s.error(undefined, (err as Error).message)
      }
      const conditions = s.all('condition').map((c) => modifyCondition(s, c.value, c.where))
      if (conditions.length === 0) return modify
      // Every Condition must hold for the rules to apply; otherwise the record passes untouched.
      return { name, apply: (e) => (conditions.every((c) => c(e.record)) ? modify.apply(e) : e) }
    }
    case 'grep': {
      const rules = (key: string): GrepRule[] => pairs(s, key).map((p) => ({ key: p.key, pattern: p.value }))
      const op = s.oneOf('logical_op', ['legacy', 'and', 'or'] as const, 'legacy')
      try {
        return createGrep({ name, regex: rules('regex'), exclude: rules('exclude'), logicalOp: op })
      } catch (err) {
        throw s.error(undefined, (err as Error).message)
      }
    }
    case 'parser':
      return parserFilter(s, name, parsers)
    case 'record_modifier':
      return recordModifier(s, name)
    case 'kubernetes':
      return kubernetesFilter(s, name, env, parsers)
    case 'nest':
      return nestFilter(s, name)
    default:
      throw s.error('name', `filter ${s.name} is not supported`)
  }
}

/**
 * flb_utils_split_quoted(value, ' ', 3): words split on spaces, a word in double or single quotes
 * may hold spaces (\" and \\ escaped); a fourth word is an error, as in Fluent Bit's modify.
 */
function splitQuoted(value: string): string[] {
  const out: string[] = []
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(\S+))/y
  while (re.lastIndex < value.length) {
    const m = re.exec(value)
    if (!m) break
    if (m[1] !== undefined) out.push(m[1].replace(/\\(["\\])/g, '$1'))
    else if (m[2] !== undefined) out.push(m[2].replace(/\\(['\\])/g, '$1'))
    else out.push(m[3]!)
    if (/^\s*$/.test(value.slice(re.lastIndex))) break
  }
  return out
}

type Condition = (record: Record<string, unknown>) => boolean

/**
 * A modify Condition, as filter_modify evaluates it: KEY is a record accessor (`level` or
 * `$kubernetes['labels']['app']`), a value compares equal only as a string (a number 200 never
 * equals "200"), a value regex sees strings and booleans (as true / false) and searches anywhere
 * in the text; the "does not" forms of the value conditions are false when the key is absent.
 */
function modifyCondition(s: PluginSection, value: string, where: string): Condition {
  const fail = (msg: string) => new PipelineConfigError(`${where}: Condition ${value}: ${msg}`)
  const words = splitQuoted(value.trim())
  if (words.length < 2 || words.length > 3)
    throw fail('needs a condition type, a key and (for value conditions) a value, quoted when it has spaces')
  const [type, a, b] = words as [string, string, string | undefined]
  const regex = (src: string | undefined): RegExp => {
    if (!src) throw fail('needs a regex')
    try {
      return translateRegex(slashRegex(src), s.str('alias') || 'modify').regex
    } catch (err) {
      throw fail((err as Error).message)
    }
  }
  const path = accessorPath(a)
  const get = (r: Record<string, unknown>) => getField(r, path)
  // helper_msgpack_object_matches_regex: strings, and booleans as their names; nothing else matches.
  const textOf = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'boolean' ? String(v) : undefined)
  const keys = (r: Record<string, unknown>) => Object.keys(r).filter((k) => r[k] !== undefined)
  const needValue = () => {
    if (b === undefined) throw fail('needs a value')
    return b
  }
  switch (type.toLowerCase()) {
    case 'key_exists':
      return (r) => get(r) !== undefined
    case 'key_does_not_exist':
      return (r) => get(r) === undefined
    case 'a_key_matches': {
      const re = regex(a)
      return (r) => keys(r).some((k) => re.test(k))
    }
    case 'no_key_matches': {
      const re = regex(a)
      return (r) => !keys(r).some((k) => re.test(k))
    }
    case 'key_value_equals': {
      const v = needValue()
      return (r) => get(r) === v
    }
    case 'key_value_does_not_equal': {
      const v = needValue()
      return (r) => {
        const x = get(r)
        return x !== undefined && x !== v
      }
    }
    case 'key_value_matches': {
      const re = regex(needValue())
      return (r) => {
        const t = textOf(get(r))
        return t !== undefined && re.test(t)
      }
    }
    case 'key_value_does_not_match': {
      const re = regex(needValue())
      return (r) => {
        const x = get(r)
        if (x === undefined) return false
        const t = textOf(x)
        return t === undefined || !re.test(t)
      }
    }
    case 'matching_keys_have_matching_values':
    case 'matching_keys_do_not_have_matching_values': {
      const kre = regex(a)
      const vre = regex(needValue())
      const all = (r: Record<string, unknown>) =>
        keys(r).every((k) => {
          if (!kre.test(k)) return true
          const t = textOf(r[k])
          return t !== undefined && vre.test(t)
        })
      return type.toLowerCase() === 'matching_keys_have_matching_values' ? all : (r) => !all(r)
    }
    default:
      throw fail(
        `unknown condition type ${type} (Key_exists, Key_does_not_exist, A_key_matches, No_key_matches, Key_value_equals, Key_value_does_not_equal, Key_value_matches, Key_value_does_not_match, Matching_keys_have_matching_values, Matching_keys_do_not_have_matching_values)`,
      )
  }
}

/** Fluent Bit's parser filter: parse one field with the first matching parser. */
function parserFilter(s: PluginSection, name: string, registry: ParserRegistry): Transform {
  const keyName = s.required('key_name')
  const list: Parser[] = s.all('parser').map((p) => {
    if (!registry.has(p.value))
      throw s.error('parser', `parser "${p.value}" is not defined (known: ${registry.names().join(', ')})`)
    return registry.get(p.value)
  })
  if (list.length === 0) throw s.error(undefined, 'filter parser needs at least one Parser')
  const reserve = s.bool('reserve_data', false)
  const preserve = s.bool('preserve_key', false)
  return {
    name,
    apply(e: LogEvent) {
      const v = e.record[keyName]
      if (typeof v !== 'string') return e
      for (const p of list) {
        const r = p.parse(v)
        if (!r) continue
        let record = r.record
        if (reserve) {
          // The original fields (Key_Name dropped unless Preserve_Key), then the parsed ones: a
          // parsed field named like Key_Name (`{"log": ...}` inside log) is kept, as Fluent Bit
          // does, and a group the regex left undefined does not hide an original field.
          record = { ...e.record }
          if (!preserve) delete record[keyName]
          for (const k in r.record) if (r.record[k] !== undefined) record[k] = r.record[k]
        } else if (preserve) record[keyName] = v
        e.record = record
        if (r.time !== undefined) e.time = r.time
        return e
      }
      // No parser matched: the record stays as it was, nothing lost.
      return e
    },
  }
}

/**
 * Remove_Key / Allowlist_Key names as Fluent Bit's record_modifier compares them: without regard
 * to case (strncasecmp), and a trailing `*` matches every key that starts so (`kubernetes_*`).
 */
function keyMatcher(names: string[]): ((key: string) => boolean) | undefined {
  if (names.length === 0) return undefined
  const exact = new Set<string>()
  const prefixes: string[] = []
  for (const n of names) {
    const l = n.toLowerCase()
    if (l.endsWith('*')) prefixes.push(l.slice(0, -1))
    else exact.add(l)
  }
  return (key) => {
    const l = key.toLowerCase()
    return exact.has(l) || prefixes.some((p) => l.startsWith(p))
  }
}

function recordModifier(s: PluginSection, name: string): Transform {
  const add = pairs(s, 'record')
  const remove = keyMatcher(s.all('remove_key').map((p) => p.value.trim()))
  const allow = keyMatcher([...s.all('allowlist_key'), ...s.all('whitelist_key')].map((p) => p.value.trim()))
  return {
    name,
    apply(e: LogEvent) {
      const r = e.record
      if (remove || allow)
        for (const k of Object.keys(r)) if (remove?.(k) || (allow && !allow(k))) delete r[k]
      for (const a of add) r[a.key] = a.value
      return e
    },
  }
}

// The kubelet's log file name: /var/log/containers/<pod>_<namespace>_<container>-<container id>.log
const CONTAINER_FILE =
  /(?<pod_name>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*)_(?<namespace_name>[^_]+)_(?<container_name>.+)-(?<docker_id>[a-z0-9]{64})\.log$/

/** Pod metadata from the tag / file name, else POD_NAME, POD_NAMESPACE, NODE_NAME: no API calls. */
export function kubernetesMetadata(
  tag: string,
  prefix: string,
  env: Record<string, string | undefined>,
  regexParser?: Parser,
): Record<string, string> | undefined {
  const rest = tag.startsWith(prefix) ? tag.slice(prefix.length) : tag
  const meta: Record<string, string> = {}
  let groups: Record<string, unknown> | undefined = CONTAINER_FILE.exec(rest)?.groups
  if (regexParser) {
    // Regex_Parser: the named parser's regex reads the tag instead (a Tag_Regex-made tag such as
    // kube.<namespace_name>.<pod_name>.<container_name>); its pod, namespace, container and
    // container id captures are the metadata, as in Fluent Bit's kube_meta.c.
    const rec = regexParser.parse(rest)?.record
    groups = undefined
    if (rec) {
      groups = {}
      for (const k of ['pod_name', 'namespace_name', 'container_name', 'docker_id'])
        if (typeof rec[k] === 'string' && rec[k] !== '') groups[k] = rec[k]
    }
  }
  if (groups && Object.keys(groups).length > 0) Object.assign(meta, groups)
  else {
    if (env.POD_NAME) meta.pod_name = env.POD_NAME
    if (env.POD_NAMESPACE) meta.namespace_name = env.POD_NAMESPACE
  }
  if (env.NODE_NAME) meta.host = env.NODE_NAME
  return Object.keys(meta).length > 0 ? meta : undefined
}

function kubernetesFilter(
  s: PluginSection,
  name: string,
  env: Record<string, string | undefined>,
  registry: ParserRegistry,
): Transform {
  const rp = s.str('regex_parser')
  if (rp && !registry.has(rp))
    throw s.error('regex_parser', `parser "${rp}" is not defined (known: ${registry.names().join(', ')})`)
  const regexParser = rp ? registry.get(rp) : undefined
  for (const k of ['labels', 'annotations', 'k8s-logging.parser', 'k8s-logging.exclude'])
    if (s.bool(k, false))
      throw s.error(k, `${k} On needs the Kubernetes API, which this shipper never calls; set ${k} Off`)
  const prefix = s.str('kube_tag_prefix', 'kube.var.log.containers.')
  const mergeLog = s.bool('merge_log', false)
  const mergeKey = s.str('merge_log_key')
  const keepLog = s.bool('keep_log', true)
  const cache = new Map<string, Record<string, string> | undefined>()
  return {
    name,
    apply(e: LogEvent) {
      let meta = cache.get(e.tag)
      if (!cache.has(e.tag)) {
        meta = kubernetesMetadata(e.tag, prefix, env, regexParser)
        if (cache.size < 10_000) cache.set(e.tag, meta)
      }
      if (meta) e.record.kubernetes = { ...meta }
      if (mergeLog && typeof e.record.log === 'string' && e.record.log.trimStart().startsWith('{')) {
        try {
          const parsed = JSON.parse(e.record.log) as unknown
          if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
            if (mergeKey) e.record[mergeKey] = parsed
            else Object.assign(e.record, parsed)
            if (!keepLog) delete e.record.log
          }
        } catch {
          // not JSON after all: leave the log as it is
        }
      }
      return e
    },
  }
}

/**
 * Fluent Bit's nest filter (filter_nest/nest.c). Operation nest moves the keys a Wildcard names
 * (`kubernetes_*` by prefix, else the exact key) into a map under Nest_under, added after the
 * keys that stay; Operation lift moves the entries of the map under Nested_under to the top level,
 * after the other keys (a Nested_under value that is not a map is left alone). Add_prefix (or
 * Prefix_with) / Remove_prefix rename the keys moved. A record with nothing to move passes as is.
 */
function nestFilter(s: PluginSection, name: string): Transform {
  const op = s.required('operation')
  // configure() compares the first four characters, case and all.
  const mode = op.startsWith('nest') ? 'nest' : op.startsWith('lift') ? 'lift' : undefined
  if (!mode) throw s.error('operation', `Operation must be nest or lift, got "${op}"`)
  const add = s.str('add_prefix') ?? s.str('prefix_with')
  const remove = s.str('remove_prefix')
  if (add !== undefined && remove !== undefined)
    throw s.error('remove_prefix', 'Add_prefix and Remove_prefix are exclusive')
  if (add === '' || remove === '')
    throw s.error(add === '' ? 'add_prefix' : 'remove_prefix', 'needs a prefix')
  const rename = (k: string) =>
    add !== undefined ? add + k : remove !== undefined && k.startsWith(remove) ? k.slice(remove.length) : k
  if (mode === 'nest') {
    const under = s.required('nest_under')
    const wildcards = s.all('wildcard').map((p) => p.value)
    if (wildcards.length === 0) throw s.error(undefined, 'Operation nest needs at least one Wildcard')
    const matches = (k: string) =>
      wildcards.some((w) => (w.endsWith('*') ? k.startsWith(w.slice(0, -1)) : k === w))
    return {
      name,
      apply(e) {
        const r = e.record
        const moved = Object.keys(r).filter((k) => r[k] !== undefined && matches(k))
        if (moved.length === 0) return e
        const out: Record<string, unknown> = {}
        const nested: Record<string, unknown> = {}
        for (const k in r) {
          if (r[k] === undefined) continue
          if (matches(k)) nested[rename(k)] = r[k]
          else if (k !== under) out[k] = r[k]
        }
        out[under] = nested
        e.record = out
        return e
      },
    }
  }
  const under = s.required('nested_under')
  const isMap = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v)
  return {
    name,
    apply(e) {
      const r = e.record
      const inner = r[under]
      if (!isMap(inner)) return e
      const out: Record<string, unknown> = {}
      for (const k in r) if (k !== under && r[k] !== undefined) out[k] = r[k]
      for (const k in inner) if (inner[k] !== undefined) out[rename(k)] = inner[k]
      e.record = out
      return e
    },
  }
}

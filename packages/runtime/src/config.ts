// Loads a service's configuration once, at start: defaults < config file < env vars < flags,
// validated against one schema, every problem reported in one ConfigError.

import type { Static, TObject, TSchema } from '@sinclair/typebox'
import { ConfigError, ConfigFileError, type ConfigIssue } from './errors.ts'
import { envName, flagName, kindOf, type Leaf, leaves, typeName } from './schema.ts'
import { parseDuration, parseSize } from './units.ts'
import { type SchemaIssue, validate } from './validate.ts'

// process.getBuiltinModule, not an ESM import: see admin-server.ts (the module facade costs memory).
const { readFileSync } = process.getBuiltinModule('node:fs')

/** Values from a compatibility format (fluent-bit.conf, pgbouncer.ini, envoy.yaml, ...), at file precedence. */
export interface ConfigLayer {
  source: string
  values: Record<string, unknown>
}

export interface LoadConfigOptions<S extends TObject> {
  schema: S
  /** Process arguments without node and the script. */
  argv?: readonly string[]
  env?: Record<string, string | undefined>
  /** Prefix of derived env var names (an option `admin.port` becomes `${prefix}ADMIN_PORT`). */
  envPrefix?: string
  /** Extra layers applied after the config file and before env vars, in order. */
  layers?: ConfigLayer[]
  /** Positional arguments are errors unless the service takes them. */
  allowPositionals?: boolean
}

export type ConfigAction = 'run' | 'help' | 'check'

export interface LoadedConfig<S extends TObject> {
  config: Static<S>
  action: ConfigAction
  positionals: string[]
  /** Where each option's value came from: 'default', 'file <path>', 'env X', 'flag --x', or a layer's source. */
  sources: Record<string, string>
}

/** Options every service understands, apart from its own schema. */
export const BUILTIN_FLAGS = {
  help: 'Print every option with its env var and default, then exit.',
  'check-config': 'Validate the configuration, print the problems if any, and exit 0 (valid) or 2 (invalid).',
  config: 'Path of a YAML or JSON config file (env CONFIG_FILE).',
} as const

export function loadConfig<S extends TObject>(opts: LoadConfigOptions<S>): LoadedConfig<S> {
  const env = opts.env ?? process.env
  const prefix = opts.envPrefix ?? ''
  const all = leaves(opts.schema)
  const issues: ConfigIssue[] = []
  const sources: Record<string, string> = {}
  const values: Record<string, unknown> = {}

  // Flags first, so that --help and --config are known before anything else is read.
  const { flags, action, configFile: flagFile, positionals, unknown } = parseArgv(opts.argv ?? [], all)
  for (const u of unknown)
    issues.push({ key: u, expected: 'a known option (see --help)', got: 'unknown flag' })
  if (!opts.allowPositionals && positionals.length > 0) {
    issues.push({ key: 'arguments', expected: 'no positional arguments', got: JSON.stringify(positionals) })
  }

  for (const leaf of all) {
    if (leaf.schema.default !== undefined) setPath(values, leaf.path, structuredClone(leaf.schema.default))
    sources[leaf.key] = 'default'
  }

  const configFile = flagFile ?? (env.CONFIG_FILE || undefined)
  if (configFile) {
    const fileValues = readConfigFile(configFile)
    mergeInto(values, fileValues, [], sources, `file ${configFile}`)
  }
  for (const layer of opts.layers ?? []) mergeInto(values, layer.values, [], sources, layer.source)

  for (const leaf of all) {
    const name = envName(leaf, prefix)
    const raw = name ? env[name] : undefined
    if (raw !== undefined && raw !== '') {
      setPath(values, leaf.path, fromText(leaf, raw))
      sources[leaf.key] = `env ${name}`
    }
  }
  for (const [leaf, raws] of flags) {
    const v = leaf.schema.type === 'array' ? raws.flatMap((r) => splitList(r)) : fromText(leaf, raws.at(-1)!)
    setPath(values, leaf.path, v)
    sources[leaf.key] = `flag --${flagName(leaf)}`
  }

  // Text from env vars, flags and files becomes numbers and booleans; durations and sizes
  // written as text become numbers, before validation.
  for (const leaf of all) {
    const kind = kindOf(leaf.schema)
    const v = getPath(values, leaf.path)
    if (v === undefined) continue
    if (!kind) {
      const coerced = coerce(leaf.schema, v)
      if (coerced !== v) setPath(values, leaf.path, coerced)
      continue
    }
    if (typeof v === 'number') continue
    const parsed = typeof v === 'string' ? (kind === 'duration' ? parseDuration(v) : parseSize(v)) : undefined
    if (parsed === undefined) {
      issues.push({
        key: leaf.key,
        expected: kind === 'duration' ? 'a duration like 5s, 250ms or 1m' : 'a size like 64k, 5MB or 1GiB',
        got: show(leaf.schema, v),
        source: sources[leaf.key],
      })
    } else setPath(values, leaf.path, parsed)
  }

  // An interpreter, not generated code: a validator compiled once per process would cost a
  // sidecar resident memory for a check that runs once.
  const invalid = validate(opts.schema, values)
  if (invalid.length > 0) {
    // One issue per key: a value already reported (a bad duration) is not reported twice.
    const reported = new Set(issues.map((i) => i.key))
    for (const e of invalid) {
      const issue = issueFromSchemaIssue(e, opts.schema, all, sources)
      if (reported.has(issue.key)) continue
      reported.add(issue.key)
      issues.push(issue)
    }
  }
  if (issues.length > 0) throw new ConfigError(dedupe(issues))
  return { config: values as Static<S>, action, positionals, sources }
}

function parseArgv(argv: readonly string[], all: Leaf[]) {
  const byFlag = new Map<string, Leaf>()
  for (const leaf of all) {
    const f = flagName(leaf)
    if (f) byFlag.set(f, leaf)
  }
  const flags = new Map<Leaf, string[]>()
  const unknown: string[] = []
  const positionals: string[] = []
  let action: ConfigAction = 'run'
  let configFile: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg)
      continue
    }
    const body = arg.replace(/^--?/, '')
    const eq = body.indexOf('=')
    let name = eq === -1 ? body : body.slice(0, eq)
    let value: string | undefined = eq === -1 ? undefined : body.slice(eq + 1)
    if (name === 'help' || name === 'h') {
      action = 'help'
      continue
    }
    if (name === 'check-config') {
      if (action !== 'help') action = 'check'
      continue
    }
    if (name === 'config' || name === 'c') {
      configFile = value ?? argv[++i]
      continue
    }
    let leaf = byFlag.get(name)
    if (!leaf && name.startsWith('no-') && value === undefined) {
      const positive = byFlag.get(name.slice(3))
      if (positive?.schema.type === 'boolean') {
        leaf = positive
        name = name.slice(3)
        value = 'false'
      }
    }
    if (!leaf) {
      unknown.push(`--${name}`)
      continue
    }
    if (value === undefined) {
      const next = argv[i + 1]
      if (leaf.schema.type === 'boolean' && (next === undefined || !/^(true|false)$/i.test(next)))
        value = 'true'
      else if (next !== undefined) value = argv[++i]
      else {
        unknown.push(`--${name} (missing value)`)
        continue
      }
    }
    const list = flags.get(leaf) ?? []
    list.push(value!)
    flags.set(leaf, list)
  }
  return { flags, action, configFile, positionals, unknown }
}

type YamlParse = (text: string) => unknown
let yamlParse: YamlParse | undefined

/**
 * Loads the YAML parser, for a config file. runService calls it only when a config file is named:
 * evaluating the yaml package at start-up costs every service ~1.3 MiB of RSS on Node 20 and
 * ~1.9 MiB on Node 24, and most run on flags and env vars alone. (The bundler keeps a dynamic
 * import in the bundle and evaluates it on first use.)
 */
export async function loadYamlParser(): Promise<void> {
  // A bundle that splits the parser into its own file imports it as a CommonJS module: its exports
  // are then the default export, not named ones.
  const mod = (await import('yaml')) as typeof import('yaml') & { default?: typeof import('yaml') }
  yamlParse ??= mod.parse ?? mod.default?.parse
}

function parseYaml(text: string): unknown {
  // loadConfig called directly, without loadYamlParser() first (tests, code using the library
  // unbundled): yaml is then in node_modules and can be required synchronously.
  yamlParse ??= (
    process.getBuiltinModule('node:module').createRequire(import.meta.url)('yaml') as typeof import('yaml')
  ).parse
  return yamlParse(text)
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigFileError(`cannot read config file ${path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    const parsed = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
    if (parsed === null || parsed === undefined) return {}
    if (typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error('the top level must be a mapping of option names to values')
    }
    return parsed as Record<string, unknown>
  } catch (err) {
    throw new ConfigFileError(`cannot parse config file ${path}: ${(err as Error).message}`, { cause: err })
  }
}

function mergeInto(
  target: Record<string, unknown>,
  src: Record<string, unknown>,
  path: string[],
  sources: Record<string, string>,
  source: string,
): void {
  for (const [k, v] of Object.entries(src)) {
    const p = [...path, k]
    const cur = target[k]
    if (isRecord(v) && isRecord(cur) && !Array.isArray(v)) {
      mergeInto(cur, v, p, sources, source)
      // a map option (e.g. headers) is one leaf: credit its source too
      sources[p.join('.')] = source
    } else {
      target[k] = v
      sources[p.join('.')] = source
    }
  }
}

function fromText(leaf: Leaf, raw: string): unknown {
  const s = leaf.schema
  if (s.type === 'array') return splitList(raw)
  if (s.type === 'object') {
    try {
      return JSON.parse(raw)
    } catch {
      return raw
    }
  }
  return raw // ajv coerces numbers and booleans; durations and sizes are parsed above
}

// Commas, and line breaks as kingpin (Go exporters' flag library) splits a repeatable flag's env
// var: a YAML block scalar of several values is one value a line. A line break inside a list item
// is never meant (a URL parser would drop it and glue two values into one).
const splitList = (raw: string) =>
  raw
    .split(/,|\r?\n/)
    .map((x) => x.trim())
    .filter((x) => x !== '')

function issueFromSchemaIssue(
  e: SchemaIssue,
  root: TObject,
  all: Leaf[],
  sources: Record<string, string>,
): ConfigIssue {
  const path = e.path
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  const key = path.join('.') || '(root)'
  if (e.type === 'additionalProperties') {
    const parent = schemaAt(root, path.slice(0, -1))
    const known = Object.keys(parent?.properties ?? {})
    return {
      key,
      expected: `a known key (${known.join(', ')})`,
      got: 'unknown key',
      source: sourceFor(sources, path),
    }
  }
  const leaf = all.find((l) => l.key === key)
  if (e.type === 'required') {
    const how = leaf ? describeReach(leaf) : ''
    return { key, expected: `a value${how}`, got: 'nothing' }
  }
  const schema = (leaf?.schema ?? e.schema) as TSchema
  let expected: string
  switch (e.type) {
    case 'maximum':
      expected = `${typeName(schema)} that is <= ${schema.maximum}`
      break
    case 'minimum':
      expected = `${typeName(schema)} that is >= ${schema.minimum}`
      break
    case 'minLength':
      expected = `${typeName(schema)} of at least ${schema.minLength} characters`
      break
    case 'pattern':
      expected = `${typeName(schema)} matching ${schema.pattern}`
      break
    default:
      // a type mismatch, a union with no matching branch, a bad list item
      expected = leaf ? typeName(schema) : e.message.replace(/^Expected /, '')
  }
  return { key, expected, got: show(schema, e.value), source: sourceFor(sources, path) }
}

function schemaAt(root: TObject, path: string[]): TSchema | undefined {
  let cur: TSchema | undefined = root
  for (const p of path) cur = cur?.properties?.[p] as TSchema | undefined
  return cur
}

/** Text to the schema's scalar type where it reads as one; anything else is left for validation to report. */
function coerce(schema: TSchema, v: unknown): unknown {
  if (Array.isArray(v) && schema.type === 'array' && schema.items)
    return v.map((x) => coerce(schema.items as TSchema, x))
  if (typeof v !== 'string') return v
  const text = v.trim()
  switch (schema.type) {
    case 'integer':
    case 'number':
      return /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(text) ? Number(text) : v
    case 'boolean':
      // t and f too: Go's strconv.ParseBool, which Go peers (exporters, kingpin) read env vars with.
      if (/^(true|t|yes|on|1)$/i.test(text)) return true
      if (/^(false|f|no|off|0)$/i.test(text)) return false
      return v
    default:
      return v
  }
}

function sourceFor(sources: Record<string, string>, path: string[]): string | undefined {
  for (let i = path.length; i > 0; i--) {
    const s = sources[path.slice(0, i).join('.')]
    if (s) return s
  }
  return undefined
}

function describeReach(leaf: Leaf): string {
  const f = flagName(leaf)
  const e = leaf.schema.env as string | undefined
  const parts = [f ? `--${f}` : '', e ? `env ${e}` : ''].filter(Boolean)
  return parts.length ? ` (${parts.join(' or ')})` : ''
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>()
  return issues.filter((i) => {
    const k = `${i.key}|${i.expected}`
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

function show(schema: TSchema, v: unknown): string {
  if (schema.secret) return '[redacted]'
  if (v === undefined) return 'nothing'
  const s = JSON.stringify(v) ?? String(v)
  return s.length > 80 ? `${s.slice(0, 77)}...` : s
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function getPath(obj: Record<string, unknown>, path: string[]): unknown {
  let cur: unknown = obj
  for (const p of path) {
    if (!isRecord(cur)) return undefined
    cur = cur[p]
  }
  return cur
}

export function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj
  for (const p of path.slice(0, -1)) {
    if (!isRecord(cur[p])) cur[p] = {}
    cur = cur[p] as Record<string, unknown>
  }
  cur[path.at(-1)!] = value
}

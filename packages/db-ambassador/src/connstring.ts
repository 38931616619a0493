// A `[databases]` entry of pgbouncer.ini: libpq-style `key=value` pairs (values may be
// single-quoted) naming where and how to reach a PostgreSQL database.

import type { ConfigIssue } from '@podkit/runtime'

export type PoolMode = 'session' | 'transaction' | 'statement'

export interface DatabaseEntry {
  /** Name clients ask for. */
  name: string
  hosts: Array<{ host: string; port: number }>
  dbname: string
  user?: string
  password?: string
  poolSize?: number
  minPoolSize?: number
  reservePool?: number
  poolMode?: PoolMode
  connectQuery?: string
  maxDbConnections?: number
  /** Startup parameters to send to the server (client_encoding, datestyle, timezone, application_name). */
  startupParams: Record<string, string>
}

const KNOWN = new Set([
  'host',
  'port',
  'dbname',
  'user',
  'password',
  'pool_size',
  'min_pool_size',
  'reserve_pool',
  'reserve_pool_size',
  'pool_mode',
  'connect_query',
  'max_db_connections',
  'client_encoding',
  'datestyle',
  'timezone',
  'application_name',
])

/**
 * Keys of a PgBouncer database entry that db-ambassador does not implement: accepted with a
 * warning (see parsePgbouncerIni), as their [pgbouncer] counterparts are, not refused.
 */
export const IGNORED_DB_KEYS = new Set(['auth_user', 'auth_dbname', 'auth_query', 'load_balance_hosts'])

/** Splits `a=1 b='x y'` into pairs; throws with a message naming the problem. */
export function parseKeyValues(text: string): Map<string, string> {
  const out = new Map<string, string>()
  let i = 0
  const n = text.length
  while (i < n) {
    while (i < n && /\s/.test(text[i]!)) i++
    if (i >= n) break
    const keyStart = i
    while (i < n && text[i] !== '=' && !/\s/.test(text[i]!)) i++
    const key = text.slice(keyStart, i)
    while (i < n && /\s/.test(text[i]!)) i++
    if (text[i] !== '=') throw new Error(`"${key}" has no value (expected key=value)`)
    i++
    while (i < n && /\s/.test(text[i]!)) i++
    let value = ''
    if (text[i] === "'") {
      i++
      for (;;) {
        if (i >= n) throw new Error(`unterminated quoted value for "${key}"`)
        const c = text[i]!
        if (c === '\\' && i + 1 < n) {
          value += text[i + 1]
          i += 2
        } else if (c === "'" && text[i + 1] === "'") {
          value += "'"
          i += 2
        } else if (c === "'") {
          i++
          break
        } else {
          value += c
          i++
        }
      }
    } else {
      const start = i
      while (i < n && !/\s/.test(text[i]!)) i++
      value = text.slice(start, i)
    }
    out.set(key.toLowerCase(), value)
  }
  return out
}

const int = (v: string, key: string, issues: ConfigIssue[], where: string) => {
  if (!/^\d+$/.test(v)) {
    issues.push({ key: where, expected: `${key} as a non-negative integer`, got: JSON.stringify(v) })
    return undefined
  }
  return Number(v)
}

/** Parses one database entry; problems are pushed to `issues` (key `databases.<name>`). */
export function parseDatabaseEntry(
  name: string,
  text: string,
  issues: ConfigIssue[],
): DatabaseEntry | undefined {
  const where = `databases.${name}`
  let kv: Map<string, string>
  try {
    kv = parseKeyValues(text)
  } catch (err) {
    issues.push({ key: where, expected: 'key=value pairs', got: (err as Error).message })
    return undefined
  }
  for (const k of kv.keys()) {
    if (!KNOWN.has(k) && !IGNORED_DB_KEYS.has(k))
      issues.push({
        key: where,
        expected: `known keys (${[...KNOWN].join(', ')})`,
        got: `unknown key "${k}"`,
      })
  }
  const hostList = (kv.get('host') ?? '127.0.0.1').split(',').map((h) => h.trim())
  const portList = (kv.get('port') ?? '5432').split(',').map((p) => p.trim())
  const hosts: DatabaseEntry['hosts'] = []
  hostList.forEach((host, i) => {
    const p = portList.length === 1 ? portList[0]! : portList[i]
    const port = p === undefined ? undefined : int(p, 'port', issues, where)
    if (port === undefined || port < 1 || port > 65535) {
      if (p === undefined)
        issues.push({ key: where, expected: 'one port or one per host', got: kv.get('port')! })
      return
    }
    if (host === '') issues.push({ key: where, expected: 'a host name', got: 'an empty host' })
    hosts.push({ host, port })
  })
  const mode = kv.get('pool_mode')
  if (mode !== undefined && !['session', 'transaction', 'statement'].includes(mode))
    issues.push({
      key: where,
      expected: 'pool_mode session|transaction|statement',
      got: JSON.stringify(mode),
    })
  const num = (k: string) => (kv.has(k) ? int(kv.get(k)!, k, issues, where) : undefined)
  const startupParams: Record<string, string> = {}
  for (const [k, pg] of [
    ['client_encoding', 'client_encoding'],
    ['datestyle', 'DateStyle'],
    ['timezone', 'TimeZone'],
    ['application_name', 'application_name'],
  ] as const) {
    const v = kv.get(k)
    if (v !== undefined) startupParams[pg] = v
  }
  return {
    name,
    hosts,
    dbname: kv.get('dbname') ?? (name === '*' ? '' : name),
    user: kv.get('user'),
    password: kv.get('password'),
    poolSize: num('pool_size'),
    minPoolSize: num('min_pool_size'),
    reservePool: num('reserve_pool') ?? num('reserve_pool_size'),
    poolMode: mode as PoolMode | undefined,
    connectQuery: kv.get('connect_query'),
    maxDbConnections: num('max_db_connections'),
    startupParams,
  }
}

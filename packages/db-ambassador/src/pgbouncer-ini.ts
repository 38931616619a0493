// pgbouncer.ini and the bitnami/pgbouncer image's env vars, turned into config layers of our
// schema. Each value keeps its origin (file:line or env name) so a bad value is reported where
// it was written; keys we do not know or do not implement are returned as warnings.

import { readFileSync } from 'node:fs'
import { ConfigFileError, type ConfigLayer } from '@podkit/runtime'
import { IGNORED_DB_KEYS, parseKeyValues } from './connstring.ts'

type Kind = 'string' | 'int' | 'bool' | 'seconds' | 'list' | 'bytes'

/** pgbouncer.ini `[pgbouncer]` keys we implement: our option name and how to read the value. */
export const INI_KEYS: Record<string, [option: string, kind: Kind]> = {
  listen_addr: ['listenAddr', 'string'],
  listen_port: ['listenPort', 'int'],
  auth_type: ['authType', 'string'],
  auth_file: ['authFile', 'string'],
  pool_mode: ['poolMode', 'string'],
  max_client_conn: ['maxClientConn', 'int'],
  default_pool_size: ['defaultPoolSize', 'int'],
  min_pool_size: ['minPoolSize', 'int'],
  reserve_pool_size: ['reservePoolSize', 'int'],
  reserve_pool_timeout: ['reservePoolTimeout', 'seconds'],
  max_db_connections: ['maxDbConnections', 'int'],
  max_user_connections: ['maxUserConnections', 'int'],
  server_reset_query: ['serverResetQuery', 'string'],
  server_reset_query_always: ['serverResetQueryAlways', 'bool'],
  server_check_query: ['serverCheckQuery', 'string'],
  server_check_delay: ['serverCheckDelay', 'seconds'],
  server_connect_timeout: ['serverConnectTimeout', 'seconds'],
  server_login_retry: ['serverLoginRetry', 'seconds'],
  server_idle_timeout: ['serverIdleTimeout', 'seconds'],
  server_lifetime: ['serverLifetime', 'seconds'],
  query_wait_timeout: ['queryWaitTimeout', 'seconds'],
  client_idle_timeout: ['clientIdleTimeout', 'seconds'],
  client_login_timeout: ['clientLoginTimeout', 'seconds'],
  idle_transaction_timeout: ['idleTransactionTimeout', 'seconds'],
  admin_users: ['adminUsers', 'list'],
  stats_users: ['statsUsers', 'list'],
  ignore_startup_parameters: ['ignoreStartupParameters', 'list'],
  log_connections: ['logConnections', 'bool'],
  log_disconnections: ['logDisconnections', 'bool'],
  log_pooler_errors: ['logPoolerErrors', 'bool'],
  max_packet_size: ['maxPacketSize', 'bytes'],
  max_prepared_statements: ['maxPreparedStatements', 'int'],
  client_tls_sslmode: ['clientTls.sslmode', 'string'],
  client_tls_key_file: ['clientTls.keyFile', 'string'],
  client_tls_cert_file: ['clientTls.certFile', 'string'],
  client_tls_ca_file: ['clientTls.caFile', 'string'],
  server_tls_sslmode: ['serverTls.sslmode', 'string'],
  server_tls_ca_file: ['serverTls.caFile', 'string'],
  server_tls_key_file: ['serverTls.keyFile', 'string'],
  server_tls_cert_file: ['serverTls.certFile', 'string'],
}

/** Real PgBouncer keys we accept and ignore (logging, OS tuning, features with no meaning here). */
const IGNORED_KEYS = new Set([
  'logfile',
  'pidfile',
  'unix_socket_dir',
  'unix_socket_mode',
  'unix_socket_group',
  'user',
  'log_stats',
  'stats_period',
  'verbose',
  'syslog',
  'syslog_ident',
  'syslog_facility',
  'pkt_buf',
  'sbuf_loopcnt',
  'so_reuseport',
  'tcp_defer_accept',
  'tcp_socket_buffer',
  'tcp_keepalive',
  'tcp_keepcnt',
  'tcp_keepidle',
  'tcp_keepintvl',
  'tcp_user_timeout',
  'dns_max_ttl',
  'dns_nxdomain_ttl',
  'dns_zone_check_period',
  'listen_backlog',
  'application_name_add_host',
  'disable_pqexec',
  'server_round_robin',
  'server_fast_close',
  'suspend_timeout',
  'auth_hba_file',
  'auth_query',
  'auth_user',
  'autodb_idle_timeout',
  'conffile',
  'service_name',
  'job_name',
  'client_tls_protocols',
  'client_tls_ciphers',
  'client_tls_ecdhcurve',
  'client_tls_dheparams',
  'server_tls_protocols',
  'server_tls_ciphers',
  'track_extra_parameters',
  'query_timeout',
])

export interface CompatResult {
  layers: ConfigLayer[]
  warnings: string[]
}

function convert(kind: Kind, raw: string): unknown {
  switch (kind) {
    case 'int':
      return raw
    case 'bool': {
      const v = raw.toLowerCase()
      if (['1', 'yes', 'on', 'true'].includes(v)) return true
      if (['0', 'no', 'off', 'false'].includes(v)) return false
      return raw // the schema reports it
    }
    case 'seconds':
      // PgBouncer reads bare numbers as seconds (fractions allowed); "5s", "250ms" also work.
      return /^\d+(\.\d+)?$/.test(raw) ? Math.round(Number(raw) * 1000) : raw
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    default:
      return raw
  }
}

function setOption(values: Record<string, unknown>, option: string, value: unknown): void {
  const parts = option.split('.')
  let cur = values
  for (const p of parts.slice(0, -1)) {
    cur[p] ??= {}
    cur = cur[p] as Record<string, unknown>
  }
  cur[parts.at(-1)!] = value
}

/** A `key = value` of pgbouncer.ini; quotes around the value are not part of it in PgBouncer. */
export function parsePgbouncerIni(text: string, file: string): CompatResult {
  const layers: ConfigLayer[] = []
  const warnings: string[] = []
  let section = ''
  text.split(/\r?\n/).forEach((raw, i) => {
    const where = `${file}:${i + 1}`
    const line = raw.trim()
    if (line === '' || line.startsWith(';') || line.startsWith('#')) return
    const sec = /^\[(.+)\]$/.exec(line)
    if (sec) {
      section = sec[1]!.trim().toLowerCase()
      if (!['databases', 'pgbouncer', 'users', 'peers'].includes(section))
        warnings.push(`${where}: unknown section [${sec[1]}], ignored`)
      return
    }
    if (line.startsWith('%include')) {
      warnings.push(`${where}: %include is not supported, ignored`)
      return
    }
    const eq = line.indexOf('=')
    if (eq < 0) {
      warnings.push(`${where}: not a key = value line, ignored`)
      return
    }
    const key = line.slice(0, eq).trim()
    const value = line.slice(eq + 1).trim()
    if (section === 'databases') {
      const name = key.replace(/^"(.*)"$/, '$1')
      layers.push({ source: where, values: { databases: { [name]: value } } })
      let pairs: Map<string, string> | undefined
      try {
        pairs = parseKeyValues(value)
      } catch {
        // validateConfig reports a malformed entry with its key
      }
      for (const k of pairs?.keys() ?? [])
        if (IGNORED_DB_KEYS.has(k))
          warnings.push(`${where}: ${k} in database ${name} is not implemented by db-ambassador, ignored`)
    } else if (section === 'pgbouncer') {
      const k = key.toLowerCase()
      const known = INI_KEYS[k]
      if (known) {
        const v: Record<string, unknown> = {}
        setOption(v, known[0], convert(known[1], value))
        layers.push({ source: where, values: v })
      } else if (IGNORED_KEYS.has(k))
        warnings.push(`${where}: ${k} is not implemented by db-ambassador, ignored`)
      else warnings.push(`${where}: unknown key ${key}, ignored`)
    } else if (section === 'users' || section === 'peers') {
      warnings.push(`${where}: [${section}] entries are not supported, ignored`)
    } else warnings.push(`${where}: ${key} outside a known section, ignored`)
  })
  return { layers, warnings }
}

export function readPgbouncerIni(path: string): CompatResult {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigFileError(`cannot read pgbouncer.ini ${path}: ${(err as Error).message}`, { cause: err })
  }
  return parsePgbouncerIni(text, path)
}

/** Env vars of bitnami/pgbouncer that are not `PGBOUNCER_<INI KEY>`. */
const BITNAMI_RENAMES: Record<string, string> = {
  PGBOUNCER_PORT: 'listen_port',
  PGBOUNCER_LISTEN_ADDRESS: 'listen_addr',
  PGBOUNCER_USERLIST_FILE: 'auth_file',
}

/** Reads NAME, or the file named by NAME_FILE (bitnami's convention for secrets). */
export function envValue(env: Record<string, string | undefined>, name: string): string | undefined {
  const direct = env[name]
  if (direct !== undefined && direct !== '') return direct
  const file = env[`${name}_FILE`]
  if (file) {
    try {
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '')
    } catch (err) {
      throw new ConfigFileError(`cannot read ${name}_FILE ${file}: ${(err as Error).message}`, { cause: err })
    }
  }
  return undefined
}

/** The bitnami/pgbouncer env vars (PGBOUNCER_*, POSTGRESQL_*) as config layers. */
export function bitnamiEnv(env: Record<string, string | undefined>): CompatResult {
  const layers: ConfigLayer[] = []
  const warnings: string[] = []
  const names = new Set(
    Object.keys(env)
      .filter((k) => k.startsWith('PGBOUNCER_'))
      .map((k) => k.replace(/_FILE$/, '')),
  )
  for (const name of names) {
    if (name === 'PGBOUNCER_DATABASE' || name === 'PGBOUNCER_USERLIST') continue
    const iniKey = BITNAMI_RENAMES[name] ?? name.slice('PGBOUNCER_'.length).toLowerCase()
    const known = INI_KEYS[iniKey]
    const raw = envValue(env, name)
    if (raw === undefined) continue
    if (!known) {
      if (!IGNORED_KEYS.has(iniKey)) warnings.push(`env ${name}: not a known PgBouncer setting, ignored`)
      continue
    }
    const v: Record<string, unknown> = {}
    setOption(v, known[0], convert(known[1], raw))
    layers.push({ source: `env ${name}`, values: v })
  }
  // The bitnami image accepts JDBC's extra_float_digits unless told otherwise.
  if (names.size > 0 && !names.has('PGBOUNCER_IGNORE_STARTUP_PARAMETERS'))
    layers.unshift({ source: 'bitnami default', values: { ignoreStartupParameters: ['extra_float_digits'] } })
  const host = envValue(env, 'POSTGRESQL_HOST')
  if (host) {
    const db = envValue(env, 'PGBOUNCER_DATABASE') ?? 'postgres'
    const port = envValue(env, 'POSTGRESQL_PORT') ?? '5432'
    const dbname = envValue(env, 'POSTGRESQL_DATABASE') ?? db
    layers.push({
      source: 'env POSTGRESQL_HOST',
      values: { databases: { [db]: `host=${host} port=${port} dbname=${dbname}` } },
    })
  }
  const user = envValue(env, 'POSTGRESQL_USERNAME') ?? (host ? 'postgres' : undefined)
  const password = envValue(env, 'POSTGRESQL_PASSWORD')
  let userlist = envValue(env, 'PGBOUNCER_USERLIST') ?? ''
  if (user && password) userlist += `\n"${user.replace(/"/g, '""')}" "${password.replace(/"/g, '""')}"`
  if (userlist.trim()) layers.push({ source: 'env PGBOUNCER_USERLIST', values: { userlist } })
  if (user && host && !names.has('PGBOUNCER_ADMIN_USERS'))
    layers.push({ source: 'env POSTGRESQL_USERNAME', values: { adminUsers: [user] } })
  return { layers, warnings }
}

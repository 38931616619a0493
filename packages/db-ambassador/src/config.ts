// The db-ambassador's options: one schema (env DB_AMBASSADOR_*, flags, YAML file) that
// pgbouncer.ini and the bitnami env vars are mapped onto, so all three reach the same checks.

import { existsSync } from 'node:fs'
import {
  type CommonConfig,
  ConfigError,
  type ConfigIssue,
  type ConfigLayer,
  commonOptions,
  Duration,
  loadConfig,
  Options,
  Size,
} from '@podkit/runtime'
import { type Static, Type } from '@sinclair/typebox'
import { type DatabaseEntry, parseDatabaseEntry } from './connstring.ts'
import { bitnamiEnv, readPgbouncerIni } from './pgbouncer-ini.ts'

export const ENV_PREFIX = 'DB_AMBASSADOR_'
/** Where bitnami/pgbouncer reads a mounted custom config; used when no path is given. */
export const BITNAMI_INI_PATH = '/bitnami/pgbouncer/conf/pgbouncer.ini'

const sslmode = (def: string, description: string) =>
  Type.Union(
    ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'].map((m) => Type.Literal(m)),
    { default: def, description },
  )

export const schema = Options({
  ...commonOptions({ adminPort: 9127 }),
  pgbouncerIni: Type.String({
    default: '',
    env: 'PGBOUNCER_INI',
    description: `A pgbouncer.ini to read (also accepted as the only positional argument, as pgbouncer takes it). Empty: ${BITNAMI_INI_PATH} when that file exists.`,
  }),
  listenAddr: Type.String({
    default: '0.0.0.0',
    description: 'Addresses clients connect to, comma-separated; * is every address (listen_addr).',
  }),
  listenPort: Type.Integer({
    default: 5432,
    minimum: 0,
    maximum: 65535,
    description: 'Port clients connect to (listen_port); 0 picks a free port.',
  }),
  authType: Type.Union(
    ['trust', 'any', 'plain', 'md5', 'scram-sha-256'].map((m) => Type.Literal(m)),
    {
      default: 'md5',
      description:
        'How clients prove who they are, checked against auth_file (auth_type). md5 switches to SCRAM for users whose secret is a SCRAM verifier.',
    },
  ),
  authFile: Type.String({
    default: '',
    description: 'userlist.txt with `"user" "secret"` lines: plain, md5 or SCRAM secrets (auth_file).',
  }),
  userlist: Type.String({
    default: '',
    secret: true,
    env: 'PGBOUNCER_USERLIST',
    description: 'userlist.txt content given inline, added to auth_file (bitnami PGBOUNCER_USERLIST).',
  }),
  poolMode: Type.Union(
    ['session', 'transaction', 'statement'].map((m) => Type.Literal(m)),
    { default: 'session', description: 'When a server connection returns to the pool (pool_mode).' },
  ),
  maxClientConn: Type.Integer({
    default: 100,
    minimum: 1,
    description: 'Most client connections at once (max_client_conn).',
  }),
  defaultPoolSize: Type.Integer({
    default: 20,
    minimum: 1,
    description: 'Server connections per database/user pair (default_pool_size).',
  }),
  minPoolSize: Type.Integer({
    default: 0,
    minimum: 0,
    description: 'Server connections kept open per pool even when idle (min_pool_size).',
  }),
  reservePoolSize: Type.Integer({
    default: 0,
    minimum: 0,
    description:
      'Extra server connections a pool may open for clients that waited reserve_pool_timeout (reserve_pool_size).',
  }),
  reservePoolTimeout: Duration({
    default: 5000,
    description:
      'How long a client waits before the reserve pool is used (reserve_pool_timeout; bare numbers are seconds in pgbouncer.ini).',
  }),
  maxDbConnections: Type.Integer({
    default: 0,
    minimum: 0,
    description: 'Most server connections per database over all users; 0 = no limit (max_db_connections).',
  }),
  maxUserConnections: Type.Integer({
    default: 0,
    minimum: 0,
    description: 'Most server connections per user over all databases; 0 = no limit (max_user_connections).',
  }),
  serverResetQuery: Type.String({
    default: 'DISCARD ALL',
    description: 'Run on a server before another client gets it in session mode (server_reset_query).',
  }),
  serverResetQueryAlways: Type.Boolean({
    default: false,
    description: 'Run server_reset_query in transaction and statement mode too (server_reset_query_always).',
  }),
  serverCheckQuery: Type.String({
    default: 'select 1',
    description:
      'Sent to a server idle longer than server_check_delay before reuse; empty disables (server_check_query).',
  }),
  serverCheckDelay: Duration({
    default: 30_000,
    description: 'Idle time after which a server is checked (server_check_delay).',
  }),
  serverConnectTimeout: Duration({
    default: 15_000,
    description: 'Time allowed for connecting to and logging in to a server (server_connect_timeout).',
  }),
  serverLoginRetry: Duration({
    default: 15_000,
    description: 'Wait before trying a server again after a failed login (server_login_retry).',
  }),
  serverIdleTimeout: Duration({
    default: 600_000,
    description: 'Close servers idle this long; 0 = never (server_idle_timeout).',
  }),
  serverLifetime: Duration({
    default: 3_600_000,
    description: 'Close servers older than this when they become idle; 0 = never (server_lifetime).',
  }),
  queryWaitTimeout: Duration({
    default: 120_000,
    description:
      'Longest wait for a server before the client is disconnected; 0 = forever (query_wait_timeout).',
  }),
  clientIdleTimeout: Duration({
    default: 0,
    description: 'Disconnect clients idle this long; 0 = never (client_idle_timeout).',
  }),
  clientLoginTimeout: Duration({
    default: 60_000,
    description: 'Disconnect clients that have not logged in within this time (client_login_timeout).',
  }),
  idleTransactionTimeout: Duration({
    default: 0,
    description:
      'Disconnect clients idle inside a transaction this long; 0 = never (idle_transaction_timeout).',
  }),
  adminUsers: Type.Array(Type.String(), {
    default: [],
    description: 'Users allowed every admin console command (admin_users).',
  }),
  statsUsers: Type.Array(Type.String(), {
    default: [],
    description: 'Users allowed the read-only SHOW commands (stats_users).',
  }),
  ignoreStartupParameters: Type.Array(Type.String(), {
    default: [],
    description: 'Startup parameters accepted and dropped instead of refused (ignore_startup_parameters).',
  }),
  logConnections: Type.Boolean({ default: true, description: 'Log each client login (log_connections).' }),
  logDisconnections: Type.Boolean({
    default: true,
    description: 'Log each client disconnection with its reason (log_disconnections).',
  }),
  logPoolerErrors: Type.Boolean({
    default: true,
    description: 'Log the errors the pooler sends to clients (log_pooler_errors).',
  }),
  maxPreparedStatements: Type.Integer({
    default: 200,
    minimum: 0,
    description:
      'Most protocol-level prepared statements kept per server connection in transaction/statement mode; the least recently used is closed beyond it. 0 = no limit (max_prepared_statements; unlike PgBouncer, 0 does not turn the support off).',
  }),
  maxPacketSize: Size({
    default: 256 * 1024 * 1024,
    minimum: 1024,
    description: 'Largest protocol message accepted; a longer one closes that connection (max_packet_size).',
  }),
  clientTls: Options({
    sslmode: sslmode(
      'disable',
      'TLS towards clients: disable, allow, prefer, require, verify-ca, verify-full (client_tls_sslmode).',
    ),
    keyFile: Type.String({
      default: '',
      description: 'Private key of the TLS certificate offered to clients (client_tls_key_file).',
    }),
    certFile: Type.String({
      default: '',
      description: 'TLS certificate offered to clients (client_tls_cert_file).',
    }),
    caFile: Type.String({
      default: '',
      description:
        'CA that client certificates must chain to with verify-ca/verify-full (client_tls_ca_file).',
    }),
  }),
  serverTls: Options({
    sslmode: sslmode(
      'prefer',
      'TLS towards servers (server_tls_sslmode). prefer/require verify the chain when server_tls_ca_file is set; verify-ca and verify-full always do.',
    ),
    caFile: Type.String({
      default: '',
      description: 'CA the server certificate must chain to (server_tls_ca_file).',
    }),
    keyFile: Type.String({
      default: '',
      description: 'Client key presented to servers (server_tls_key_file).',
    }),
    certFile: Type.String({
      default: '',
      description: 'Client certificate presented to servers (server_tls_cert_file).',
    }),
  }),
  databases: Type.Record(Type.String(), Type.String(), {
    default: {},
    description:
      'The [databases] section: name to libpq-style entry (host, port, dbname, user, password, pool_size, min_pool_size, reserve_pool, pool_mode, connect_query, max_db_connections). Env: a JSON object.',
  }),
})

export type AmbassadorOptions = Static<typeof schema> & CommonConfig

/** Options plus the parsed `[databases]` entries. */
export interface AmbassadorConfig extends AmbassadorOptions {
  databaseEntries: Map<string, DatabaseEntry>
}

export interface Prepared {
  argv: string[]
  layers: ConfigLayer[]
  warnings: string[]
  iniPath?: string
}

/** Finds pgbouncer.ini (flag, positional, env, bitnami path) and maps it and the bitnami env vars to layers. */
export function prepareCompat(argv: readonly string[], env: Record<string, string | undefined>): Prepared {
  const out: string[] = []
  let iniPath: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--pgbouncer-ini') iniPath = argv[++i]
    else if (a.startsWith('--pgbouncer-ini=')) iniPath = a.slice('--pgbouncer-ini='.length)
    else if (!a.startsWith('-') && a.endsWith('.ini') && iniPath === undefined) iniPath = a
    else if (a === '-d' || a === '--daemon' || a === '-R' || a === '-q' || a === '-v') {
      // pgbouncer's daemon/quiet/verbose flags have no meaning in a container
    } else out.push(a)
  }
  iniPath ??= env.PGBOUNCER_INI || (existsSync(BITNAMI_INI_PATH) ? BITNAMI_INI_PATH : undefined)
  const bitnami = bitnamiEnv(env)
  const layers = [...bitnami.layers]
  const warnings = [...bitnami.warnings]
  if (iniPath) {
    const ini = readPgbouncerIni(iniPath)
    layers.push(...ini.layers)
    warnings.push(...ini.warnings)
    layers.push({ source: `file ${iniPath}`, values: { pgbouncerIni: iniPath } })
  }
  return { argv: out, layers, warnings, iniPath }
}

/** Checks the schema cannot express; also parses the database entries. */
export function validateConfig(config: AmbassadorOptions): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  for (const [name, text] of Object.entries(config.databases)) parseDatabaseEntry(name, text, issues)
  const tls = config.clientTls
  if (tls.sslmode !== 'disable' && (!tls.keyFile || !tls.certFile))
    issues.push({
      key: 'clientTls',
      expected: 'keyFile and certFile when sslmode is not disable',
      got: 'missing',
    })
  if (['verify-ca', 'verify-full'].includes(config.serverTls.sslmode) && !config.serverTls.caFile)
    issues.push({
      key: 'serverTls.caFile',
      expected: `a CA file with sslmode ${config.serverTls.sslmode}`,
      got: 'nothing',
    })
  if (config.authType !== 'trust' && config.authType !== 'any' && !config.authFile && !config.userlist)
    issues.push({ key: 'authFile', expected: `a userlist with auth_type ${config.authType}`, got: 'nothing' })
  return issues
}

export function withDatabases(options: AmbassadorOptions): AmbassadorConfig {
  const issues: ConfigIssue[] = []
  const databaseEntries = new Map<string, DatabaseEntry>()
  for (const [name, text] of Object.entries(options.databases)) {
    const e = parseDatabaseEntry(name, text, issues)
    if (e) databaseEntries.set(name, e)
  }
  return { ...options, databaseEntries }
}

/** Loads the config the way main does (for SIGHUP reload and RELOAD). Throws ConfigError. */
export function loadAmbassadorConfig(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): { config: AmbassadorConfig; warnings: string[] } {
  const prepared = prepareCompat(argv, env)
  const loaded = loadConfig({
    schema,
    argv: prepared.argv,
    env,
    envPrefix: ENV_PREFIX,
    layers: prepared.layers,
  })
  const config = loaded.config as AmbassadorOptions
  const issues = validateConfig(config)
  if (issues.length) throw new ConfigError(issues)
  return { config: withDatabases(config), warnings: prepared.warnings }
}

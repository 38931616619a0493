// The admin console: `psql -p 5432 -U admin pgbouncer`. SHOW POOLS, STATS, CLIENTS, SERVERS,
// DATABASES, CONFIG, LISTS, VERSION with PgBouncer's columns; PAUSE, RESUME, RELOAD, SHUTDOWN.
// https://www.pgbouncer.org/usage.html#admin-console

import { leaves } from '@podkit/runtime'
import type { Ambassador } from './ambassador.ts'
import { clock } from './clock.ts'
import { schema } from './config.ts'
import { SqlState, TxStatus } from './protocol/message-types.ts'
import * as out from './protocol/serializer.ts'
import type { ClientSession } from './session.ts'

type Row = Array<string | number | null>

function table(columns: string[], rows: Row[], tag: string): Buffer[] {
  return [out.rowDescription(columns), ...rows.map((r) => out.dataRow(r)), out.commandComplete(tag)]
}

const time = (ms: number) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : '')

/**
 * One reply to one simple query of the console: result sets, then ReadyForQuery. A promise when a
 * command answers later (PAUSE waits for servers in use); the statements after it wait too.
 */
export function adminQuery(
  amb: Ambassador,
  session: ClientSession,
  sql: string,
): Buffer[] | Promise<Buffer[]> {
  const stmts = sql
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean)
  const replies: Buffer[] = []
  const finish = () => {
    if (replies.length === 0) replies.push(out.emptyQueryResponse())
    replies.push(out.readyForQuery(TxStatus.Idle))
    return replies
  }
  const fail = (err: unknown) => {
    replies.push(out.errorResponse({ code: SqlState.syntaxError, message: (err as Error).message }))
    return finish()
  }
  const runFrom = (i: number): Buffer[] | Promise<Buffer[]> => {
    for (; i < stmts.length; i++) {
      let r: Buffer[] | Promise<Buffer[]>
      try {
        r = runCommand(amb, session, stmts[i]!)
      } catch (err) {
        return fail(err)
      }
      if (!Array.isArray(r)) {
        const next = i + 1
        return r.then((b) => {
          replies.push(...b)
          return runFrom(next)
        }, fail)
      }
      replies.push(...r)
    }
    return finish()
  }
  return runFrom(0)
}

function runCommand(amb: Ambassador, session: ClientSession, stmt: string): Buffer[] | Promise<Buffer[]> {
  const words = stmt.split(/\s+/)
  const verb = words[0]!.toUpperCase()
  const arg = words[1]
  const needAdmin = () => {
    if (!session.isAdminUser) throw new Error('admin access needed')
  }
  switch (verb) {
    case 'SHOW':
      return show(amb, (arg ?? '').toUpperCase())
    case 'PAUSE':
      needAdmin()
      knownDatabase(amb, arg)
      return amb.pause(arg).then(() => [out.commandComplete('PAUSE')])
    case 'RESUME':
      needAdmin()
      knownDatabase(amb, arg)
      amb.resume(arg)
      return [out.commandComplete('RESUME')]
    case 'RELOAD':
      needAdmin()
      amb.requestReload()
      return [out.commandComplete('RELOAD')]
    case 'SHUTDOWN':
      needAdmin()
      amb.requestShutdown()
      return [out.commandComplete('SHUTDOWN')]
    case 'SET':
    case 'BEGIN':
    case 'COMMIT':
    case 'ROLLBACK':
      // Drivers send these on connect; the console has nothing to set.
      return [out.commandComplete(verb)]
    default:
      throw new Error(`unknown command: ${stmt}`)
  }
}

/** PAUSE and RESUME name a database of the configuration (or of a pool a `*` entry opened). */
function knownDatabase(amb: Ambassador, db: string | undefined): void {
  if (db === undefined || amb.config.databaseEntries.has(db)) return
  for (const p of amb.pools.values()) if (p.database.name === db) return
  throw new Error(`no such database: ${db}`)
}

/** SHOW CLIENTS and SHOW SERVERS: PgBouncer gives both the same columns. */
const CONNECTION_COLUMNS = [
  'type',
  'user',
  'database',
  'state',
  'addr',
  'port',
  'local_addr',
  'local_port',
  'connect_time',
  'request_time',
  'wait',
  'wait_us',
  'close_needed',
  'ptr',
  'link',
  'remote_pid',
  'tls',
  'application_name',
]

function show(amb: Ambassador, what: string): Buffer[] {
  const now = clock()
  switch (what) {
    case 'POOLS': {
      const cols = [
        'database',
        'user',
        'cl_active',
        'cl_waiting',
        'cl_active_cancel_req',
        'cl_waiting_cancel_req',
        'sv_active',
        'sv_active_cancel',
        'sv_being_canceled',
        'sv_idle',
        'sv_used',
        'sv_tested',
        'sv_login',
        'maxwait',
        'maxwait_us',
        'pool_mode',
      ]
      const rows = [...amb.pools.values()].map((p) => {
        const maxWait = p.waiters.length ? now - Math.min(...p.waiters.map((w) => w.waitStart)) : 0
        const active = p.clientCount - p.waiters.length
        let canceled = 0
        for (const s of p.busy) if (s.onCancelsDone) canceled++
        return [
          p.database.name,
          p.user,
          active,
          p.waiters.length,
          0,
          0,
          p.active.size,
          0,
          canceled,
          p.idle.length,
          0,
          p.busy.size - canceled,
          p.connecting,
          Math.floor(maxWait / 1000),
          (maxWait % 1000) * 1000,
          p.settings.poolMode,
        ]
      })
      return table(cols, rows, `SHOW`)
    }
    case 'STATS': {
      const cols = [
        'database',
        'total_xact_count',
        'total_query_count',
        'total_received',
        'total_sent',
        'total_xact_time',
        'total_query_time',
        'total_wait_time',
        'avg_xact_count',
        'avg_query_count',
        'avg_recv',
        'avg_sent',
        'avg_xact_time',
        'avg_query_time',
        'avg_wait_time',
      ]
      const byDb = new Map<string, number[]>()
      for (const p of amb.pools.values()) {
        const s = p.stats
        const r = byDb.get(p.database.name) ?? [0, 0, 0, 0, 0, 0, 0]
        const add = [s.xactCount, s.queryCount, s.received, s.sent, s.xactTimeUs, s.queryTimeUs, s.waitTimeUs]
        byDb.set(
          p.database.name,
          r.map((v, i) => v + add[i]!),
        )
      }
      const rows = [...byDb].map(([db, r]) => {
        const [x, q, recv, sent, xt, qt, wt] = r as [number, number, number, number, number, number, number]
        return [
          db,
          x,
          q,
          recv,
          sent,
          xt,
          qt,
          wt,
          0,
          0,
          0,
          0,
          x ? Math.round(xt / x) : 0,
          q ? Math.round(qt / q) : 0,
          x ? Math.round(wt / x) : 0,
        ]
      })
      return table(cols, rows, 'SHOW')
    }
    case 'CLIENTS': {
      const rows = [...amb.clients].map((c) => {
        const r = c.remoteAddr
        const wait = c.waiting ? now - c.waitStart : 0
        return [
          'C',
          c.user,
          c.database,
          c.state,
          r.addr,
          r.port,
          c.socket.localAddress ?? '',
          c.socket.localPort ?? 0,
          time(c.connectTime),
          time(c.lastActivity),
          Math.floor(wait / 1000),
          (wait % 1000) * 1000,
          0,
          `c${c.pid}`,
          c.linkedServer ? `s${c.linkedServer.id}` : '',
          0,
          c.tls ? 'TLS' : '',
          c.applicationName,
        ]
      })
      return table(CONNECTION_COLUMNS, rows, 'SHOW')
    }
    case 'SERVERS': {
      const rows: Row[] = []
      for (const p of amb.pools.values()) {
        const add = (s: (typeof p.idle)[number], state: string, link = '') =>
          rows.push([
            'S',
            p.user,
            p.database.name,
            state,
            s.host,
            s.port,
            s.localAddress.addr,
            s.localAddress.port,
            time(s.createdAt),
            time(s.lastUsed),
            0,
            0,
            s.closeNeeded ? 1 : 0,
            `s${s.id}`,
            link,
            s.pid,
            s.tls ? 'TLS' : '',
            s.params.get('application_name') ?? '',
          ])
        for (const s of p.active) add(s, 'active', '')
        for (const s of p.idle) add(s, 'idle')
        for (const s of p.busy) add(s, 'tested')
      }
      return table(CONNECTION_COLUMNS, rows, 'SHOW')
    }
    case 'DATABASES': {
      const cols = [
        'name',
        'host',
        'port',
        'database',
        'force_user',
        'pool_size',
        'min_pool_size',
        'reserve_pool',
        'pool_mode',
        'max_connections',
        'current_connections',
        'paused',
        'disabled',
      ]
      const rows = [...amb.config.databaseEntries.values()].map((d) => {
        const pools = [...amb.pools.values()].filter((p) => p.database.name === d.name)
        const current = pools.reduce((a, p) => a + p.total, 0)
        return [
          d.name,
          d.hosts.map((h) => h.host).join(','),
          d.hosts[0]?.port ?? 5432,
          d.dbname,
          d.user ?? '',
          d.poolSize ?? amb.config.defaultPoolSize,
          d.minPoolSize ?? amb.config.minPoolSize,
          d.reservePool ?? amb.config.reservePoolSize,
          d.poolMode ?? amb.config.poolMode,
          d.maxDbConnections ?? amb.config.maxDbConnections,
          current,
          amb.isPaused(d.name) ? 1 : 0,
          0,
        ]
      })
      rows.push([
        'pgbouncer',
        '',
        amb.config.listenPort,
        'pgbouncer',
        'pgbouncer',
        2,
        0,
        0,
        'statement',
        0,
        0,
        0,
        0,
      ])
      return table(cols, rows, 'SHOW')
    }
    case 'CONFIG': {
      const cols = ['key', 'value', 'default', 'changeable']
      const rows: Row[] = []
      for (const leaf of leaves(schema)) {
        const v = leaf.path.reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], amb.config)
        const secret = leaf.schema.secret === true
        const show = (x: unknown) =>
          secret && x ? '[redacted]' : typeof x === 'object' ? JSON.stringify(x) : String(x ?? '')
        const value = leaf.key === 'databases' ? Object.keys(v as object).join(',') : show(v)
        rows.push([leaf.key, value, show(leaf.schema.default), 'yes'])
      }
      return table(cols, rows, 'SHOW')
    }
    case 'LISTS': {
      const servers = [...amb.pools.values()].reduce((a, p) => a + p.total, 0)
      const rows: Row[] = [
        ['databases', amb.config.databaseEntries.size],
        ['users', amb.users.size],
        ['pools', amb.pools.size],
        ['used_clients', amb.clients.size],
        ['used_servers', servers],
      ]
      return table(['list', 'items'], rows, 'SHOW')
    }
    case 'VERSION':
      return table(['version'], [['PgBouncer 1.22.0 compatible (podkit db-ambassador)']], 'SHOW')
    default:
      throw new Error(`unknown SHOW item: ${what || '(none)'}`)
  }
}

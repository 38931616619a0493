// Every Prometheus metric of the db-ambassador. Gauges and counters are read from the pools'
// own counters when scraped, so the hot path only adds to plain numbers.

import { Counter, FastHistogram, Gauge, type Registry } from '@podkit/runtime'
import { clock } from './clock.ts'
import type { Pool } from './pool.ts'

export interface Metrics {
  queryDuration: FastHistogram
  waitDuration: FastHistogram
  errors: Counter<'type'>
}

/** Per-login counts, kept as plain numbers by the ambassador and read at scrape. */
export interface LoginCounts {
  ok: number
  failed: number
}

export function createMetrics(
  registry: Registry,
  source: { pools(): Iterable<Pool>; clientCount(): number; logins: LoginCounts },
): Metrics {
  const labelled = (
    name: string,
    help: string,
    read: (p: Pool) => number,
    type: 'gauge' | 'counter' = 'gauge',
  ) => {
    const Kind = type === 'gauge' ? Gauge : Counter
    return new Kind({
      name,
      help,
      labelNames: ['database', 'user'] as const,
      registers: [registry],
      collect(this: Gauge<'database' | 'user'> | Counter<'database' | 'user'>) {
        this.reset()
        for (const p of source.pools()) {
          const v = read(p)
          if (type === 'gauge')
            (this as Gauge<'database' | 'user'>).set({ database: p.database.name, user: p.user }, v)
          else if (v > 0)
            (this as Counter<'database' | 'user'>).inc({ database: p.database.name, user: p.user }, v)
        }
      },
    })
  }
  labelled(
    'podkit_db_clients_active',
    'Clients logged in to a pool and not waiting for a server.',
    (p) => p.clientCount - p.waiters.length,
  )
  labelled('podkit_db_clients_waiting', 'Clients waiting for a server connection.', (p) => p.waiters.length)
  labelled('podkit_db_servers_active', 'Server connections linked to a client.', (p) => p.active.size)
  labelled('podkit_db_servers_idle', 'Server connections idle in the pool.', (p) => p.idle.length)
  labelled(
    'podkit_db_servers_used',
    'Server connections being reset or checked before reuse.',
    (p) => p.busy.size,
  )
  labelled('podkit_db_servers_login', 'Server connections being opened.', (p) => p.connecting)
  labelled('podkit_db_max_wait_seconds', 'How long the oldest waiting client has waited.', (p) =>
    p.waiters.length ? (clock() - p.waiters[0]!.waitStart) / 1000 : 0,
  )
  labelled(
    'podkit_db_transactions_total',
    'Transactions pooled (ReadyForQuery back to idle).',
    (p) => p.stats.xactCount,
    'counter',
  )
  labelled(
    'podkit_db_queries_total',
    'Requests pooled (each ended by ReadyForQuery).',
    (p) => p.stats.queryCount,
    'counter',
  )
  labelled(
    'podkit_db_received_bytes_total',
    'Bytes received from clients.',
    (p) => p.stats.received,
    'counter',
  )
  labelled('podkit_db_sent_bytes_total', 'Bytes sent to clients.', (p) => p.stats.sent, 'counter')
  labelled(
    'podkit_db_wait_seconds_total',
    'Total time clients waited for a server.',
    (p) => p.stats.waitTimeUs / 1e6,
    'counter',
  )
  new Gauge({
    name: 'podkit_db_client_connections',
    help: 'Client connections open, logged in or not (max_client_conn applies to this).',
    registers: [registry],
    collect() {
      this.set(source.clientCount())
    },
  })
  new Counter({
    name: 'podkit_db_client_logins_total',
    help: 'Client logins by result (ok, failed).',
    labelNames: ['result'] as const,
    registers: [registry],
    collect() {
      this.reset()
      if (source.logins.ok > 0) this.inc({ result: 'ok' }, source.logins.ok)
      if (source.logins.failed > 0) this.inc({ result: 'failed' }, source.logins.failed)
    },
  })
  const queryDuration = new FastHistogram(
    'podkit_db_query_duration_seconds',
    'Time from a request to its ReadyForQuery, as the pooler sees it.',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  )
  const waitDuration = new FastHistogram(
    'podkit_db_wait_duration_seconds',
    'Time a client waited for a server connection.',
    [0.0001, 0.001, 0.01, 0.1, 0.5, 1, 5, 30, 120],
  )
  registry.registerMetric(queryDuration)
  registry.registerMetric(waitDuration)
  return {
    queryDuration,
    waitDuration,
    errors: new Counter({
      name: 'podkit_db_errors_total',
      help: 'Errors by type: client_auth, protocol, max_client_conn, query_wait_timeout, server_login, server_lost, ...',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
  }
}

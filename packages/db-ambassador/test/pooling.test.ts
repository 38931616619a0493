// Pool modes end to end: real PostgreSQL 15, real clients (pg, psql, pgbench) through the
// ambassador started from dist/main.js.

import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { type PostgresServer, startPostgres, waitFor } from '@podkit/test-utils'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pgbench, psql, type RunningAmbassador, startAmbassador } from './helpers.ts'

let db: PostgresServer
let amb: RunningAmbassador
const url = (name: string) => `postgres://${db.user}:${db.password}@127.0.0.1:${amb.port}/${name}`
const client = async (name: string, extra: pg.ClientConfig = {}) => {
  const c = new pg.Client({ connectionString: url(name), ...extra })
  c.on('error', () => {}) // a test that expects the connection to end checks it itself
  await c.connect()
  return c
}

beforeAll(async () => {
  db = await startPostgres({ auth: 'md5' })
  const target = `host=127.0.0.1 port=${db.port} dbname=${db.database}`
  amb = await startAmbassador({
    // A small max_prepared_statements makes pgbench's 7 TPC-B statements churn through eviction.
    settings: {
      auth_type: 'md5',
      pool_mode: 'transaction',
      default_pool_size: 3,
      admin_users: db.user,
      max_prepared_statements: 4,
    },
    databases: {
      tx: `${target} pool_mode=transaction`,
      one: `${target} pool_mode=transaction pool_size=1`,
      sess: `${target} pool_mode=session pool_size=1`,
      stmt: `${target} pool_mode=statement`,
    },
    userlist: `"${db.user}" "${db.password}"\n`,
  })
  await db.query('CREATE TABLE IF NOT EXISTS items (id int primary key, name text)')
})

afterAll(async () => {
  if (process.env.DEBUG_AMB)
    console.log(amb.proc.logs.filter((l) => l.level !== 'info' || !String(l.msg).startsWith('Client')))
  await amb?.stop()
  await db?.stop()
})

describe('transaction pooling', () => {
  it('serves psql and pg', async () => {
    expect(await psql(url('tx'), 'select 40 + 2')).toBe('42')
    const c = await client('tx')
    expect((await c.query('select $1::int * 2 as v', [21])).rows).toEqual([{ v: 42 }])
    await c.end()
  })

  it('passes pgbench -M prepared with more clients than servers', async () => {
    await pgbench(['-i', '-s', '1', '-q', url('tx')])
    const selectOnly = await pgbench(['-S', '-c', '8', '-j', '2', '-t', '200', '-M', 'prepared', url('tx')])
    expect(selectOnly).toMatch(/number of transactions actually processed: 1600\/1600/)
    expect(selectOnly).toMatch(/number of failed transactions: 0 /)
    // TPC-B-like: BEGIN ... END. pgbench prepares with a blocking PQprepare, so a thread per
    // client keeps one waiting client from stalling the others that hold servers.
    const tpcb = await pgbench(['-c', '6', '-j', '6', '-t', '50', '-M', 'prepared', url('tx')])
    expect(tpcb).toMatch(/number of transactions actually processed: 300\/300/)
    expect(tpcb).toMatch(/number of failed transactions: 0 /)
    // Every server keeps at most max_prepared_statements (4) of them.
    for (let i = 0; i < 3; i++) {
      const n = Number(
        await psql(url('tx'), "select count(*) from pg_prepared_statements where name like 'PODKIT_%'"),
      )
      expect(n).toBeGreaterThan(0)
      expect(n).toBeLessThanOrEqual(4)
    }
  })

  it('keeps named prepared statements working across server switches', async () => {
    const clients = await Promise.all([0, 1, 2, 3, 4].map(() => client('tx')))
    const pidsPerClient = await Promise.all(
      clients.map(async (c, i) => {
        const pids = new Set<number>()
        for (let k = 0; k < 40; k++) {
          const r = await c.query({
            name: 'who',
            text: 'select pg_backend_pid() as pid, $1::int as k',
            values: [k],
          })
          expect(r.rows[0].k).toBe(k)
          pids.add(r.rows[0].pid)
          if (k % 5 === i) await new Promise((res) => setTimeout(res, 2))
        }
        return pids.size
      }),
    )
    // 5 clients over 3 servers: at least one client ran its statement on more than one server.
    expect(Math.max(...pidsPerClient)).toBeGreaterThan(1)
    // Another client may use the same statement name for different text on the same servers.
    const other = await client('tx')
    for (let k = 0; k < 6; k++)
      expect((await other.query({ name: 'who', text: 'select 7 as seven' })).rows).toEqual([{ seven: 7 }])
    expect(
      (
        await clients[0]!.query({
          name: 'who',
          text: 'select pg_backend_pid() as pid, $1::int as k',
          values: [1],
        })
      ).rows[0].k,
    ).toBe(1)
    await Promise.all([...clients, other].map((x) => x.end()))
  })

  it('reports a failed named Parse and keeps the client usable', async () => {
    const c = await client('tx')
    await expect(c.query({ name: 'broken', text: 'selec 1' })).rejects.toThrow(/syntax error/)
    await expect(c.query({ name: 'typed', text: 'select $1::int as n', values: ['x'] })).rejects.toThrow(
      /invalid input syntax/,
    )
    expect((await c.query({ name: 'typed', text: 'select $1::int as n', values: ['3'] })).rows).toEqual([
      { n: 3 },
    ])
    expect((await c.query({ name: 'fine', text: 'select 1 as one' })).rows).toEqual([{ one: 1 }])
    await c.end()
  })

  // Regression: a DISCARD ALL that the server refused (inside a transaction block) still made the
  // pooler forget the client's statements and the server's: the client's next Bind named a
  // statement the server never had, another client's Parse one that already existed.
  it('keeps prepared statements when the server refuses DISCARD ALL', async () => {
    const c = await client('one')
    const keep = { name: 'keep', text: 'select 41 + $1::int as v', values: [1] }
    expect((await c.query(keep)).rows).toEqual([{ v: 42 }])
    await c.query('BEGIN')
    await expect(c.query('DISCARD ALL')).rejects.toThrow(/cannot run inside a transaction block/)
    await c.query('ROLLBACK')
    expect((await c.query(keep)).rows).toEqual([{ v: 42 }])
    const d = await client('one')
    expect((await d.query({ ...keep, name: 'other' })).rows).toEqual([{ v: 42 }])
    // A DISCARD ALL that runs still forgets them, and they are prepared again on demand.
    await c.query('DISCARD ALL')
    expect((await c.query({ ...keep, name: 'again' })).rows).toEqual([{ v: 42 }])
    expect((await d.query({ ...keep, name: 'other' })).rows).toEqual([{ v: 42 }])
    await Promise.all([c.end(), d.end()])
  })

  it('makes session parameters follow each client from server to server', async () => {
    const a = await client('one', { application_name: 'alpha' })
    const b = await client('one', { application_name: 'beta' })
    await a.query("SET TimeZone = 'Asia/Tokyo'")
    const defaultTz = (await b.query('show timezone')).rows[0].TimeZone
    expect(defaultTz).not.toBe('Asia/Tokyo')
    for (let i = 0; i < 5; i++) {
      const [ra, rb] = await Promise.all([
        a.query("select current_setting('application_name') as app, current_setting('TimeZone') as tz"),
        b.query("select current_setting('application_name') as app, current_setting('TimeZone') as tz"),
      ])
      expect(ra.rows[0]).toEqual({ app: 'alpha', tz: 'Asia/Tokyo' })
      expect(rb.rows[0]).toEqual({ app: 'beta', tz: defaultTz })
    }
    await a.end()
    await b.end()
  })

  it('forwards a CancelRequest to the server running the query', async () => {
    const c = await client('tx')
    const { processID, secretKey } = c as unknown as { processID: number; secretKey: number }
    const started = Date.now()
    const q = c.query('select pg_sleep(20)').then(
      () => 'finished',
      (e: Error) => e.message,
    )
    await waitFor(
      async () =>
        (
          await db.query(
            "select 1 from pg_stat_activity where query = 'select pg_sleep(20)' and state = 'active'",
          )
        ).rowCount,
      10_000,
    )
    await new Promise<void>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: amb.port }, () => {
        const b = Buffer.alloc(16)
        b.writeInt32BE(16, 0)
        b.writeInt32BE(80877102, 4)
        b.writeInt32BE(processID, 8)
        b.writeInt32BE(secretKey, 12)
        s.end(b)
      })
      s.on('close', () => resolve())
      s.on('error', reject)
    })
    expect(await q).toMatch(/canceling statement due to user request/)
    expect(Date.now() - started).toBeLessThan(15_000)
    expect((await c.query('select 1 as ok')).rows).toEqual([{ ok: 1 }])
    await c.end()
  })

  it('runs COPY in and out', async () => {
    const dir = amb.dir.path
    const csv = join(dir, 'in.csv')
    writeFileSync(csv, Array.from({ length: 500 }, (_, i) => `${i + 1000},name ${i}`).join('\n') + '\n')
    await psql(url('tx'), `\\copy items from '${csv}' csv`)
    const outText = await psql(
      url('tx'),
      '\\copy (select id, name from items where id >= 1000 order by id) to stdout csv',
    )
    const lines = outText.split('\n')
    expect(lines).toHaveLength(500)
    expect(lines[0]).toBe('1000,name 0')
    expect(lines[499]).toBe('1499,name 499')
  })

  it('forwards large results intact to several clients at once', async () => {
    // Server reads share one buffer: frames split across reads and writes the client cannot take
    // at once must still arrive byte for byte.
    const run = async (salt: number) => {
      const c = await client('tx')
      const { rows } = await c.query(
        'select i, md5(i::text || $1) as h, repeat(chr(65 + i % 26), i % 300) as pad from generate_series(1, 30000) i',
        [String(salt)],
      )
      await c.end()
      return rows.every(
        (r: { i: number; h: string; pad: string }, k: number) =>
          r.i === k + 1 &&
          r.h ===
            createHash('md5')
              .update(`${k + 1}${salt}`)
              .digest('hex') &&
          r.pad === String.fromCharCode(65 + ((k + 1) % 26)).repeat((k + 1) % 300),
      )
    }
    expect(await Promise.all([1, 2, 3, 4].map(run))).toEqual([true, true, true, true])
  })

  it('recovers from an error inside a transaction', async () => {
    const c = await client('tx')
    await c.query('BEGIN')
    await expect(c.query('select 1/0')).rejects.toThrow(/division by zero/)
    await expect(c.query('select 1')).rejects.toThrow(/current transaction is aborted/)
    await c.query('ROLLBACK')
    expect((await c.query('select 2 as two')).rows).toEqual([{ two: 2 }])
    // Extended protocol: a failing statement in a pipeline, then the next works.
    await expect(c.query('select $1::int', ['not a number'])).rejects.toThrow(/invalid input syntax/)
    expect((await c.query('select $1::int as n', [5])).rows).toEqual([{ n: 5 }])
    await c.end()
  })

  it('never hands a server dirtied by a client killed mid-transaction to the next client', async () => {
    const a = await client('one')
    await a.query('BEGIN')
    await a.query("SET statement_timeout = '1234s'")
    await a.query('CREATE TEMP TABLE leak (x int)')
    await a.query('SELECT pg_advisory_lock(4242)')
    ;(a as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy()
    const b = await client('one')
    const r = await b.query(
      "select current_setting('statement_timeout') as st, (select count(*)::int from pg_class where relname = 'leak' and relpersistence = 't') as temps",
    )
    expect(r.rows[0]).toEqual({ st: '0', temps: 0 })
    await waitFor(async () => {
      const locks = await db.query("select count(*)::int as n from pg_locks where locktype = 'advisory'")
      return locks.rows[0]!.n === 0
    }, 10_000)
    await b.end()
  })
})

describe('session pooling', () => {
  it('resets a server with DISCARD ALL before the next client gets it', async () => {
    const a = await client('sess')
    const pidA = (await a.query('select pg_backend_pid() as p')).rows[0].p
    await a.query("SET statement_timeout = '777s'")
    await a.query('SELECT pg_advisory_lock(99)')
    await a.query('CREATE TEMP TABLE t_sess (x int)')
    await a.end()
    const b = await client('sess')
    const r = await b.query(
      "select pg_backend_pid() as p, current_setting('statement_timeout') as st, (select count(*)::int from pg_locks where locktype = 'advisory') as locks, (select count(*)::int from pg_class where relname = 't_sess') as temps",
    )
    expect(r.rows[0]).toEqual({ p: pidA, st: '0', locks: 0, temps: 0 })
    await b.end()
  })

  it('sets tracked parameters again after DISCARD ALL reset them (regression: skipped SET)', async () => {
    for (let i = 0; i < 2; i++) {
      const c = await client('sess', { application_name: 'alpha' })
      expect((await c.query("select current_setting('application_name') as app")).rows).toEqual([
        { app: 'alpha' },
      ])
      await c.end()
      await new Promise((r) => setTimeout(r, 50))
    }
  })

  it('keeps one server for the whole session', async () => {
    const c = await client('sess')
    const pids = new Set<number>()
    for (let i = 0; i < 5; i++) pids.add((await c.query('select pg_backend_pid() as p')).rows[0].p)
    expect(pids.size).toBe(1)
    await c.end()
  })
})

describe('statement pooling', () => {
  it('runs single statements and refuses transaction blocks with PgBouncer’s error', async () => {
    const c = await client('stmt')
    expect((await c.query('select 1 as one')).rows).toEqual([{ one: 1 }])
    const ended = new Promise((r) => c.on('error', r))
    await expect(c.query('BEGIN')).rejects.toThrow(/transaction blocks not allowed in statement pooling mode/)
    await ended
    // Other clients are unaffected.
    expect(await psql(url('stmt'), 'select 3')).toBe('3')
  })
})

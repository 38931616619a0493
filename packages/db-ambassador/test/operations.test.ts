// Operations: --check-config on the seed's pgbouncer.ini, the bitnami env vars alone, the admin
// console (SHOW, PAUSE/RESUME, RELOAD), SIGHUP, /metrics, /ready and the SIGTERM drain.

import { execFile } from 'node:child_process'
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import {
  freePort,
  type PostgresServer,
  spawnService,
  startPostgres,
  waitFor,
  waitForPort,
} from '@podkit/test-utils'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { entry, psql, type RunningAmbassador, startAmbassador } from './helpers.ts'

const run = promisify(execFile)
const seedIni = fileURLToPath(new URL('./fixtures/seed-pgbouncer.ini', import.meta.url))
let db: PostgresServer
let amb: RunningAmbassador
const adminUrl = () =>
  `postgres://${db.user}:${encodeURIComponent(db.password)}@127.0.0.1:${amb.port}/pgbouncer`
const appUrl = (user = db.user, pw = db.password) =>
  `postgres://${user}:${encodeURIComponent(pw)}@127.0.0.1:${amb.port}/app`

beforeAll(async () => {
  db = await startPostgres({ auth: 'md5' })
  amb = await startAmbassador({
    settings: { auth_type: 'md5', pool_mode: 'transaction', admin_users: db.user, stats_users: 'watcher' },
    databases: { app: `host=127.0.0.1 port=${db.port} dbname=${db.database}` },
    userlist: `"${db.user}" "${db.password}"\n"watcher" "watch-pw"\n`,
    env: { SHUTDOWN_GRACE: '10s' },
  })
})

afterAll(async () => {
  await amb?.stop()
  await db?.stop()
})

describe('configuration', () => {
  // Regression: listen_addr = * (PgBouncer: all addresses) stopped start-up with "getaddrinfo
  // ENOTFOUND *", and a comma-separated list of addresses the same way.
  it('listens on listen_addr = * and on each address of a list', async () => {
    const databases = { app: `host=127.0.0.1 port=${db.port} dbname=${db.database}` }
    const userlist = `"${db.user}" "${db.password}"\n`
    const url = (host: string, port: number) =>
      `postgres://${db.user}:${encodeURIComponent(db.password)}@${host}:${port}/app`
    const star = await startAmbassador({
      settings: { auth_type: 'md5', listen_addr: '*' },
      databases,
      userlist,
    })
    try {
      expect(await psql(url('127.0.0.1', star.port), 'select 1')).toBe('1')
    } finally {
      await star.stop()
    }
    const list = await startAmbassador({
      settings: { auth_type: 'md5', listen_addr: '127.0.0.2, 127.0.0.1' },
      databases,
      userlist,
    })
    try {
      expect(await psql(url('127.0.0.1', list.port), 'select 2')).toBe('2')
      expect(await psql(url('127.0.0.2', list.port), 'select 3')).toBe('3')
    } finally {
      await list.stop()
    }
  })

  it("validates the seed's pgbouncer.ini with --check-config", async () => {
    const { stdout } = await run(process.execPath, [entry, '--check-config', seedIni])
    expect(stdout).toContain('configuration is valid')
  })

  it('stops with the key and file:line of an invalid value', async () => {
    const bad = `${amb.dir.path}/bad.ini`
    writeFileSync(
      bad,
      readFileSync(seedIni, 'utf8').replace('default_pool_size = 20', 'default_pool_size = lots'),
    )
    const err = await run(process.execPath, [entry, '--check-config', bad]).catch((e) => e)
    expect(err.code).toBe(2)
    expect(err.stderr).toMatch(new RegExp(`defaultPoolSize: .*got "lots" \\(from ${bad}:11\\)`))
  })

  it('runs from the bitnami env vars alone', async () => {
    const port = await freePort()
    const proc = spawnService({
      entry,
      env: {
        PGBOUNCER_DATABASE: 'myapp',
        POSTGRESQL_HOST: '127.0.0.1',
        POSTGRESQL_PORT: String(db.port),
        POSTGRESQL_DATABASE: db.database,
        POSTGRESQL_USERNAME: db.user,
        POSTGRESQL_PASSWORD: db.password,
        PGBOUNCER_PORT: String(port),
        PGBOUNCER_LISTEN_ADDRESS: '127.0.0.1',
        PGBOUNCER_POOL_MODE: 'transaction',
        PGBOUNCER_MAX_CLIENT_CONN: '100',
        PGBOUNCER_DEFAULT_POOL_SIZE: '20',
        ADMIN_PORT: '0',
      },
    })
    try {
      await waitForPort(port)
      expect(
        await psql(
          `postgres://${db.user}:${encodeURIComponent(db.password)}@127.0.0.1:${port}/myapp`,
          'select current_database()',
        ),
      ).toBe(db.database)
    } finally {
      await proc.stop()
    }
  })
})

describe('admin console', () => {
  it('answers SHOW POOLS, STATS, CLIENTS, SERVERS, DATABASES and CONFIG with PgBouncer’s columns', async () => {
    expect(await psql(appUrl(), 'select 1')).toBe('1')
    const pools = await psql(adminUrl(), 'SHOW POOLS', { PGOPTIONS: '' })
    expect(pools).toMatch(new RegExp(`^app\\|${db.user}\\|0\\|0\\|0\\|0\\|0\\|0\\|0\\|1\\|`, 'm'))
    const header = (
      await run('/usr/lib/postgresql/15/bin/psql', [adminUrl(), '-X', '-A', '-c', 'SHOW POOLS'])
    ).stdout.split('\n')[0]
    expect(header).toBe(
      'database|user|cl_active|cl_waiting|cl_active_cancel_req|cl_waiting_cancel_req|sv_active|sv_active_cancel|sv_being_canceled|sv_idle|sv_used|sv_tested|sv_login|maxwait|maxwait_us|pool_mode',
    )
    const stats = await psql(adminUrl(), 'SHOW STATS')
    const [, xacts, queries] = stats
      .split('\n')
      .find((l) => l.startsWith('app|'))!
      .split('|')
    expect(Number(xacts)).toBeGreaterThanOrEqual(1)
    expect(Number(queries)).toBeGreaterThanOrEqual(1)
    expect(await psql(adminUrl(), 'SHOW CLIENTS')).toMatch(/^C\|.*\|pgbouncer\|active\|127\.0\.0\.1\|/m)
    expect(await psql(adminUrl(), 'SHOW SERVERS')).toMatch(
      new RegExp(`^S\\|${db.user}\\|app\\|idle\\|127\\.0\\.0\\.1\\|${db.port}\\|`, 'm'),
    )
    expect(await psql(adminUrl(), 'SHOW DATABASES')).toMatch(
      new RegExp(`^app\\|127\\.0\\.0\\.1\\|${db.port}\\|${db.database}\\|\\|20\\|`, 'm'),
    )
    const config = await psql(adminUrl(), 'SHOW CONFIG')
    expect(config).toMatch(/^poolMode\|transaction\|session\|yes$/m)
    expect(config).not.toContain(db.password)
  })

  it('lets stats_users SHOW but not PAUSE, and refuses other users', async () => {
    const watcher = `postgres://watcher:watch-pw@127.0.0.1:${amb.port}/pgbouncer`
    expect(await psql(watcher, 'SHOW LISTS')).toMatch(/^pools\|1$/m)
    await expect(psql(watcher, 'PAUSE')).rejects.toThrow(/admin access needed/)
    await expect(psql(appUrl('nobody', 'x').replace('/app', '/pgbouncer'), 'SHOW POOLS')).rejects.toThrow(
      /not allowed/,
    )
  })

  it('PAUSE holds new queries until RESUME', async () => {
    await psql(adminUrl(), 'PAUSE')
    const c = new pg.Client({ connectionString: appUrl() })
    await c.connect()
    let done = false
    const q = c.query('select 9 as nine').then((r) => {
      done = true
      return r.rows
    })
    await new Promise((r) => setTimeout(r, 500))
    expect(done).toBe(false)
    await psql(adminUrl(), 'RESUME')
    expect(await q).toEqual([{ nine: 9 }])
    await c.end()
  })

  // Regression: SHOW STATS reported the query time as total_xact_time (and avg_xact_time); a
  // transaction also counts the time its client spends between its queries.
  it('SHOW STATS counts the whole transaction in total_xact_time', async () => {
    const admin = new pg.Client({ connectionString: adminUrl() })
    await admin.connect()
    const read = async () => {
      const r = (await admin.query('SHOW STATS')).rows.find((x) => x.database === 'app')
      return { xact: Number(r?.total_xact_time ?? 0), query: Number(r?.total_query_time ?? 0) }
    }
    const before = await read()
    const c = new pg.Client({ connectionString: appUrl() })
    await c.connect()
    await c.query('BEGIN')
    await new Promise((r) => setTimeout(r, 300))
    await c.query('COMMIT')
    await c.end()
    const after = await read()
    // At least the 300 ms the client spent inside the transaction, more than its queries took.
    expect(after.xact - before.xact).toBeGreaterThanOrEqual(300_000)
    expect(after.xact - before.xact).toBeGreaterThan(after.query - before.query)
    await admin.end()
  })

  // Regression: PAUSE answered at once and left the servers of transactions in flight connected,
  // so "PAUSE; restart PostgreSQL; RESUME" (PgBouncer's online restart) cut those transactions.
  // PgBouncer answers PAUSE only once every server is released, and closes each one.
  it('PAUSE returns only after transactions in flight end, with their servers closed', async () => {
    const a = new pg.Client({ connectionString: appUrl() })
    await a.connect()
    await a.query('BEGIN')
    const pid = (await a.query('select pg_backend_pid() as pid')).rows[0].pid
    const admin = new pg.Client({ connectionString: adminUrl() })
    await admin.connect()
    const order: string[] = []
    const paused = admin.query('PAUSE').then(() => order.push('paused'))
    await new Promise((r) => setTimeout(r, 400))
    order.push('commit')
    await a.query('COMMIT')
    await paused
    expect(order).toEqual(['commit', 'paused'])
    const alive = async () =>
      (await db.query('select count(*)::int as n from pg_stat_activity where pid = $1', [pid])).rows[0]?.n
    await waitFor(async () => (await alive()) === 0, 5000)
    // The console keeps working while paused; RESUME lets the client go on with a new server.
    expect((await admin.query('SHOW DATABASES')).rows.find((r) => r.name === 'app')?.paused).toBe('1')
    await admin.query('RESUME')
    expect((await a.query('select 1 as one')).rows).toEqual([{ one: 1 }])
    await Promise.all([a.end(), admin.end()])
  })

  it('RELOAD and SIGHUP re-read pgbouncer.ini and the userlist', async () => {
    appendFileSync(`${amb.dir.path}/userlist.txt`, '"newbie" "fresh-pw"\n')
    await expect(psql(appUrl('newbie', 'fresh-pw'), 'select 1')).rejects.toThrow(
      /password authentication failed/,
    )
    await psql(adminUrl(), 'RELOAD')
    // newbie authenticates to the ambassador; the server then refuses the unknown role.
    await expect(psql(appUrl('newbie', 'fresh-pw'), 'select 1')).rejects.toThrow(/server login failed/)
    writeFileSync(
      amb.iniPath,
      readFileSync(amb.iniPath, 'utf8').replace(
        'pool_mode = transaction',
        'pool_mode = transaction\ndefault_pool_size = 7',
      ),
    )
    amb.proc.child.kill('SIGHUP')
    await amb.proc.waitForLog((l) => l.msg === 'Configuration reloaded.')
    expect(await psql(adminUrl(), 'SHOW DATABASES')).toMatch(
      new RegExp(`^app\\|127\\.0\\.0\\.1\\|${db.port}\\|${db.database}\\|\\|7\\|`, 'm'),
    )
  })
})

describe('admin endpoints', () => {
  it('exposes pool metrics and readiness', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${amb.adminPort}/metrics`)).text()
    expect(metrics).toMatch(
      new RegExp(`podkit_db_transactions_total\\{database="app",user="${db.user}"\\} [1-9]`),
    )
    expect(metrics).toContain('podkit_db_query_duration_seconds_bucket')
    expect(metrics).toMatch(/podkit_db_errors_total\{type="client_auth"\} [1-9]/)
    expect(metrics).toContain('podkit_db_servers_idle')
    expect((await fetch(`http://127.0.0.1:${amb.adminPort}/ready`)).status).toBe(200)
  })

  it('is not ready while the upstream is unreachable', async () => {
    const deadPort = await freePort()
    const other = await startAmbassador({
      settings: { auth_type: 'trust' },
      databases: { gone: `host=127.0.0.1 port=${deadPort}` },
    })
    try {
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${other.adminPort}/ready`)).status === 503,
        5000,
      )
      const body = await (await fetch(`http://127.0.0.1:${other.adminPort}/ready`)).text()
      expect(body).toContain('upstream unreachable: gone')
    } finally {
      await other.stop()
    }
  })
})

describe('SIGTERM', () => {
  it('stops accepting, lets the running transaction finish, then exits 0', async () => {
    const c = new pg.Client({ connectionString: appUrl() })
    c.on('error', () => {})
    await c.connect()
    await c.query('BEGIN')
    await c.query('CREATE TABLE drained (x int)')
    amb.proc.child.kill('SIGTERM')
    await amb.proc.waitForLog((l) => String(l.msg).startsWith('Draining'))
    await expect(psql(appUrl(), 'select 1')).rejects.toThrow()
    await c.query('INSERT INTO drained VALUES (1)')
    await c.query('COMMIT')
    expect(await amb.proc.exited).toBe(0)
    expect((await db.query('select count(*)::int as n from drained')).rows[0]!.n).toBe(1)
  })
})

// Hostile bytes and limits: a bad connection is closed with a PostgreSQL error and every other
// client keeps working; pool exhaustion, query_wait_timeout, reserve pool, max_client_conn,
// idle_transaction_timeout.

import { connect, type Socket } from 'node:net'
import { type PostgresServer, startPostgres, waitFor } from '@podkit/test-utils'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningAmbassador, startAmbassador } from './helpers.ts'
import { i32, msg, startup } from './wire.ts'

let db: PostgresServer
let amb: RunningAmbassador
let keeper: pg.Client

const client = async (database = 'app') => {
  const c = new pg.Client({
    host: '127.0.0.1',
    port: amb.port,
    user: db.user,
    password: db.password,
    database,
  })
  c.on('error', () => {})
  await c.connect()
  return c
}

/** Opens a raw socket, writes `bytes`, and collects everything until the ambassador closes it. */
function raw(bytes: Buffer[], pauseMs = 0): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const s: Socket = connect({ host: '127.0.0.1', port: amb.port }, async () => {
      for (const b of bytes) {
        s.write(b)
        if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs))
      }
    })
    s.on('data', (d) => chunks.push(d))
    s.on('close', () => resolve(Buffer.concat(chunks)))
    s.on('error', reject)
    s.setTimeout(10_000, () => {
      s.destroy()
      reject(new Error('the ambassador did not close the connection'))
    })
  })
}

/** The SQLSTATE of the first ErrorResponse in a reply. */
function errorCode(reply: Buffer): string | undefined {
  const i = reply.indexOf(0x45)
  if (i < 0) return undefined
  return /C([0-9A-Z]{5})\0/.exec(reply.subarray(i + 5).toString('latin1'))?.[1]
}

beforeAll(async () => {
  db = await startPostgres({ auth: 'md5' })
  const to = `host=127.0.0.1 port=${db.port} dbname=${db.database}`
  amb = await startAmbassador({
    settings: {
      auth_type: 'trust',
      pool_mode: 'transaction',
      max_client_conn: 6,
      query_wait_timeout: 1,
      idle_transaction_timeout: 3,
      max_packet_size: 1048576,
      client_login_timeout: 1,
    },
    databases: {
      app: `${to} user=${db.user} password=${db.password}`,
      tiny: `${to} user=${db.user} password=${db.password} pool_size=1`,
      reserve: `${to} user=${db.user} password=${db.password} pool_size=1 reserve_pool=1`,
      badlogin: `${to} user=${db.user} password=not-the-password`,
    },
    env: { DB_AMBASSADOR_RESERVE_POOL_TIMEOUT: '300ms' },
    // trust: no password, but only users of auth_file.
    userlist: `"${db.user}" ""\n`,
  })
  keeper = await client()
})

afterAll(async () => {
  await keeper?.end().catch(() => {})
  await amb?.stop()
  await db?.stop()
})

const keeperWorks = async () => expect((await keeper.query('select 1 as one')).rows).toEqual([{ one: 1 }])

/** The backend message types of a reply, in order. */
function types(reply: Buffer): string {
  let out = ''
  for (let p = 0; p + 5 <= reply.length; p += 1 + reply.readInt32BE(p + 1))
    out += String.fromCharCode(reply[p]!)
  return out
}

describe('protocol edge cases', () => {
  // Regression: a Close of a named statement arriving on its own (its Sync in a later packet) left
  // nothing to forward, and the empty batch was written as `undefined`: the session was closed
  // with "internal error in the pooler".
  it('answers a Close that arrives without its Sync and keeps the session', async () => {
    const reply = await raw(
      [
        startup(db.user, 'app'),
        Buffer.concat([msg('P', 's1\0select 1\0\0\0'), msg('S')]),
        msg('C', 'Ss1\0'),
        Buffer.concat([msg('S'), msg('Q', 'select 2\0')]),
        msg('X'),
      ],
      150,
    )
    expect(errorCode(reply)).toBeUndefined()
    // ParseComplete, ReadyForQuery; CloseComplete (answered by the pooler), ReadyForQuery; the query.
    expect(types(reply)).toMatch(/Z1Z3ZTDCZ$/)
    await keeperWorks()
  })
})

describe('hostile bytes', () => {
  it('answers garbage before startup with an ErrorResponse and closes only that connection', async () => {
    const reply = await raw([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')])
    expect(reply[0]).toBe(0x45)
    expect(errorCode(reply)).toBe('08P01')
    await keeperWorks()
  })

  it('closes a connection that announces a 1 GiB message', async () => {
    const q = Buffer.concat([Buffer.from('Q'), i32(1024 ** 3), Buffer.from('select')])
    const reply = await raw([startup(db.user, 'app'), q], 100)
    const err = reply.indexOf(Buffer.from('SFATAL'))
    expect(err).toBeGreaterThan(0)
    expect(reply.toString('latin1')).toMatch(/exceeds the 1048576-byte limit/)
    await keeperWorks()
  })

  it('closes a connection with an impossible message length', async () => {
    const q = Buffer.concat([Buffer.from('Q'), i32(2), Buffer.from('xx')])
    const reply = await raw([startup(db.user, 'app'), q], 100)
    expect(reply.toString('latin1')).toMatch(/invalid message length 2/)
    await keeperWorks()
  })

  it('closes a connection that sends an unknown message type', async () => {
    const reply = await raw([startup(db.user, 'app'), Buffer.concat([Buffer.from('!'), i32(4)])], 100)
    expect(reply.toString('latin1')).toMatch(/unexpected message type 0x21/)
    await keeperWorks()
  })

  it('survives a client that vanishes in the middle of a message', async () => {
    await new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: amb.port }, () => {
        s.write(startup(db.user, 'app'))
        setTimeout(() => {
          s.write(Buffer.concat([Buffer.from('Q'), i32(100), Buffer.from('select')]))
          s.destroy()
          resolve()
        }, 100)
      })
    })
    await keeperWorks()
    // An oversized startup packet is refused too.
    const reply = await raw([i32(20_000), Buffer.alloc(100)])
    expect(errorCode(reply)).toBe('08P01')
  })
})

describe('trust', () => {
  // Regression: auth_type = trust let in any user name; PgBouncer still requires the user to be
  // in auth_file, which is how a trust setup lists who may connect.
  it('refuses a user that is not in auth_file', async () => {
    const stranger = new pg.Client({ host: '127.0.0.1', port: amb.port, user: 'stranger', database: 'app' })
    stranger.on('error', () => {})
    const err = await stranger.connect().then(
      () => undefined,
      (e) => e,
    )
    await stranger.end().catch(() => {})
    expect(err?.code).toBe('28P01')
    expect(err?.message).toBe('password authentication failed for user "stranger"')
    await keeperWorks()
  })
})

describe('server_login_retry', () => {
  // Regression: after the server refused the pooler's login, the next clients waited out
  // query_wait_timeout (or the retry) for a login that would fail again; PgBouncer fails them
  // at once with its "server login has been failing" error, which applications match on.
  it('fails new clients at once while the server keeps refusing the login', async () => {
    const first = await client('badlogin')
      .then((c) => c.query('select 1'))
      .catch((e) => e)
    expect(first.message).toMatch(/server login failed: FATAL password authentication failed/)
    const next = await client('badlogin')
      .then((c) => c.query('select 1'))
      .catch((e) => e)
    expect(next.message).toBe('server login has been failing, try again later (server_login_retry)')
    await keeperWorks()
  })
})

describe('limits', () => {
  it('closes a connection that never logs in after client_login_timeout', async () => {
    const t0 = Date.now()
    const reply = await raw([Buffer.from([0, 0])])
    expect(reply.toString('latin1')).toMatch(/client_login_timeout/)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900)
  })

  it('times a waiting client out with query_wait_timeout when the pool is exhausted', async () => {
    const holder = await client('tiny')
    await holder.query('BEGIN')
    const waiter = await client('tiny')
    const t0 = Date.now()
    const err = await waiter.query('select 1').catch((e) => e)
    expect(err.message).toBe('query_wait_timeout')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900)
    await holder.query('COMMIT')
    await holder.end()
  })

  it('serves a waiting client from the reserve pool after reserve_pool_timeout', async () => {
    const holder = await client('reserve')
    await holder.query('BEGIN')
    const waiter = await client('reserve')
    const t0 = Date.now()
    expect((await waiter.query('select 5 as five')).rows).toEqual([{ five: 5 }])
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250)
    await holder.query('COMMIT')
    await Promise.all([holder.end(), waiter.end()])
  })

  it('refuses clients beyond max_client_conn with the error clients expect', async () => {
    const open: pg.Client[] = []
    for (let i = 0; i < 5; i++) open.push(await client())
    const err = await client().catch((e) => e)
    expect(err.code).toBe('53300')
    expect(err.message).toBe('no more connections allowed (max_client_conn)')
    await Promise.all(open.map((c) => c.end()))
    await waitFor(async () => await client().then((c) => c.end().then(() => true)), 5000)
    await keeperWorks()
  })

  it('disconnects a client idle in a transaction past idle_transaction_timeout', async () => {
    // A statement that runs longer than the timeout inside a transaction is not idle.
    const busy = await client()
    await busy.query('BEGIN')
    await busy.query('select pg_sleep(3.5)')
    await busy.query('COMMIT')
    await busy.end()
    const c = await client()
    const ended = new Promise<void>((r) => c.on('end', () => r()))
    await c.query('BEGIN')
    await c.query('select 1')
    await ended
    await keeperWorks()
  }, 20_000)
})

// When a server may go back to the pool: a server that received anything since its last
// ReadyForQuery (an extended-protocol batch ended by Flush instead of Sync) is inside an implicit
// transaction, and the next client's query would commit or see this client's work. Real
// PostgreSQL 15, raw protocol clients (trust auth) to control each message.

import { type PostgresServer, startPostgres, waitFor } from '@podkit/test-utils'
import pg from 'pg'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type RunningAmbassador, startAmbassador } from './helpers.ts'
import { msg, RawClient } from './wire.ts'

let db: PostgresServer
let amb: RunningAmbassador

beforeAll(async () => {
  db = await startPostgres({ auth: 'md5' })
  const to = `host=127.0.0.1 port=${db.port} dbname=${db.database} user=${db.user} password=${db.password}`
  amb = await startAmbassador({
    settings: { auth_type: 'trust', pool_mode: 'transaction' },
    userlist: `"${db.user}" ""\n`,
    databases: { tx: `${to} pool_size=1` },
  })
  await db.query('CREATE TABLE released (x int)')
})

afterAll(async () => {
  await amb?.stop()
  await db?.stop()
})

beforeEach(async () => {
  await db.query('TRUNCATE released')
})

const client = async (database: string) => {
  const c = new pg.Client({ host: '127.0.0.1', port: amb.port, user: db.user, database })
  c.on('error', () => {})
  await c.connect()
  return c
}

/** A raw client logged in (its first ReadyForQuery seen). */
async function rawClient(database: string): Promise<RawClient> {
  const r = new RawClient(amb.port, db.user, database)
  await waitFor(() => r.count('Z') === 1, 5000)
  return r
}

/** Parse, Bind and Execute of the unnamed statement, then Flush: answered, but not synced. */
const unsyncedInsert = Buffer.concat([
  msg('P', '\0insert into released values (1)\0\0\0'),
  msg('B', '\0\0\0\0\0\0\0\0'),
  msg('E', '\0\0\0\0\0'),
  msg('H'),
])

const committedRows = async () =>
  (await db.query<{ n: number }>('select count(*)::int as n from released')).rows[0]?.n

describe('a server with an unsynced extended-protocol batch', () => {
  it('is closed, not reused, when its client leaves', async () => {
    const a = await rawClient('tx')
    a.socket.write(unsyncedInsert)
    await waitFor(() => a.count('C') === 1, 5000)
    // Terminate: the client gave up on its batch, so PostgreSQL would roll the insert back.
    a.socket.end(msg('X'))
    const b = await client('tx')
    // Before the fix the next client's query ran in the same implicit transaction and committed
    // the insert. (Session mode was safe: PostgreSQL refuses server_reset_query's DISCARD ALL
    // inside the pipeline, and the server is closed.)
    expect((await b.query('select count(*)::int as n from released')).rows).toEqual([{ n: 0 }])
    await b.end()
    expect(await committedRows()).toBe(0)
    // The same batch followed by Sync commits, and the server goes back to the pool.
    const c = await rawClient('tx')
    c.socket.write(unsyncedInsert)
    await waitFor(() => c.count('C') === 1, 5000)
    c.socket.write(msg('S'))
    await waitFor(() => c.count('Z') === 2, 5000)
    const d = await client('tx')
    expect((await d.query('select count(*)::int as n from released')).rows).toEqual([{ n: 1 }])
    await d.end()
    c.socket.end(msg('X'))
  })

  it('stays with its client in transaction mode after an earlier ReadyForQuery', async () => {
    const a = await rawClient('tx')
    // A simple query and, in the same write, the unsynced batch: the ReadyForQuery of the query
    // must not release the server while the batch is still open.
    a.socket.write(Buffer.concat([msg('Q', 'select 1\0'), unsyncedInsert]))
    await waitFor(() => a.count('C') === 2, 5000)
    const b = await client('tx')
    const seen = b.query('select count(*)::int as n from released')
    // b waits for the only server; a leaves without Sync, so its server is closed, not shared.
    await new Promise((r) => setTimeout(r, 100))
    a.socket.destroy()
    expect((await seen).rows).toEqual([{ n: 0 }])
    await b.end()
    expect(await committedRows()).toBe(0)
  })
})

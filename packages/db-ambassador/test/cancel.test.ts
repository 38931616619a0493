// A CancelRequest that reaches PostgreSQL after the query it was meant for has ended must not
// cancel the next client's query on the same server (transaction pooling hands that server on
// at once). Between the ambassador and PostgreSQL sits a TCP relay that holds CancelRequests
// until the test lets them through, so the late arrival is not left to chance.

import { connect, createServer, type Server, type Socket } from 'node:net'
import { type PostgresServer, startPostgres, waitFor } from '@podkit/test-utils'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningAmbassador, startAmbassador } from './helpers.ts'
import { i32 } from './wire.ts'

let db: PostgresServer
let amb: RunningAmbassador
let relay: Server
/** CancelRequests the relay holds: each sends its bytes on to PostgreSQL when called. */
const held: Array<() => void> = []

beforeAll(async () => {
  db = await startPostgres({ auth: 'md5' })
  // allowHalfOpen: the ambassador ends its side after the CancelRequest; PostgreSQL closes the
  // connection only once it has taken the cancel, and so must the relay.
  relay = createServer({ allowHalfOpen: true }, (client: Socket) => {
    client.once('data', (first: Buffer) => {
      const upstream = connect({ host: '127.0.0.1', port: db.port })
      upstream.on('error', () => client.destroy())
      client.on('error', () => upstream.destroy())
      upstream.pipe(client)
      const isCancel = first.length >= 8 && first.readInt32BE(0) === 16 && first.readInt32BE(4) === 80877102
      const go = () => {
        upstream.write(first)
        client.pipe(upstream)
      }
      if (isCancel) held.push(go)
      else go()
    })
  })
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()))
  const port = (relay.address() as { port: number }).port
  amb = await startAmbassador({
    settings: { auth_type: 'trust', pool_mode: 'transaction' },
    userlist: `"${db.user}" ""\n`,
    databases: {
      one: `host=127.0.0.1 port=${port} dbname=${db.database} user=${db.user} password=${db.password} pool_size=1`,
    },
  })
})

afterAll(async () => {
  await amb?.stop()
  relay?.close()
  await db?.stop()
})

const client = async () => {
  const c = new pg.Client({ host: '127.0.0.1', port: amb.port, user: db.user, database: 'one' })
  c.on('error', () => {})
  await c.connect()
  return c
}

function sendCancel(c: pg.Client): Promise<void> {
  const { processID, secretKey } = c as unknown as { processID: number; secretKey: number }
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: amb.port }, () =>
      s.end(Buffer.concat([i32(16), i32(80877102), i32(processID), i32(secretKey)])),
    )
    s.on('close', () => resolve())
    s.on('error', reject)
  })
}

describe('a late CancelRequest', () => {
  it("does not cancel the next client's query on the same server", async () => {
    const a = await client()
    const b = await client()
    // Long enough that the cancel surely reaches the ambassador while a's query runs.
    const sleepA = a.query('select pg_sleep(1.5)')
    await waitFor(
      async () =>
        (await db.query("select 1 from pg_stat_activity where query = 'select pg_sleep(1.5)'")).rowCount,
      5000,
    )
    await sendCancel(a)
    await waitFor(() => held.length === 1, 5000)
    // The cancel has not reached PostgreSQL yet: a's query ends normally.
    await sleepA
    const sleepB = b.query("select pg_sleep(0.5), 'b' as who").then(
      (r) => r.rows[0].who as string,
      (e: Error) => e.message,
    )
    // b runs on the only server (or waits for it); then the cancel meant for a arrives.
    await waitFor(
      async () =>
        (
          await db.query(
            "select 1 from pg_stat_activity where query like '%''b'' as who' and state = 'active'",
          )
        ).rowCount,
      600,
    ).catch(() => {})
    held.shift()!()
    // Before the fix the cancel hit b's query: "canceling statement due to user request".
    expect(await sleepB).toBe('b')
    await Promise.all([a.end(), b.end()])
  })
})

// Client and server authentication through the ambassador, against real PostgreSQL 15 servers
// asking for SCRAM-SHA-256 and cleartext passwords, with pg and psql as clients.

import { type PostgresServer, startPostgres } from '@podkit/test-utils'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { md5Secret } from '../src/auth/md5.ts'
import { psql, type RunningAmbassador, startAmbassador } from './helpers.ts'

let scramPg: PostgresServer
let passPg: PostgresServer
let md5Amb: RunningAmbassador
let scramAmb: RunningAmbassador
let scramVerifier: string

const query = async (
  port: number,
  user: string,
  password: string,
  database: string,
  sql = 'select current_user as u',
) => {
  const c = new pg.Client({ host: '127.0.0.1', port, user, password, database })
  c.on('error', () => {})
  await c.connect()
  try {
    return (await c.query(sql)).rows[0]
  } finally {
    await c.end()
  }
}

beforeAll(async () => {
  ;[scramPg, passPg] = await Promise.all([
    startPostgres({ auth: 'scram-sha-256' }),
    startPostgres({ auth: 'password' }),
  ])
  scramVerifier = (
    await scramPg.query('select rolpassword from pg_authid where rolname = $1', [scramPg.user])
  ).rows[0]!.rolpassword
  const to = (p: PostgresServer, extra = '') => `host=127.0.0.1 port=${p.port} dbname=${p.database} ${extra}`
  md5Amb = await startAmbassador({
    settings: { auth_type: 'md5', pool_mode: 'transaction' },
    databases: {
      scramdb: to(scramPg),
      passdb: to(passPg),
      forced: to(scramPg, `user=${scramPg.user} password=${scramPg.password}`),
      badsrv: to(scramPg, `user=${scramPg.user} password=not-the-password`),
    },
    userlist: [
      `"${scramPg.user}" "${scramPg.password}"`,
      `"hashed" "${md5Secret('hashed', 'hashed-pw')}"`,
    ].join('\n'),
  })
  scramAmb = await startAmbassador({
    settings: { auth_type: 'scram-sha-256', pool_mode: 'transaction' },
    databases: {
      scramdb: to(scramPg),
      forced: to(scramPg, `user=${scramPg.user} password=${scramPg.password}`),
    },
    // The server's own verifier: clients log in with SCRAM and the ambassador passes their key on.
    userlist: [
      `"${scramPg.user}" "${scramVerifier}"`,
      `"plainuser" "plain-pw"`,
      `"hashed" "${md5Secret('hashed', 'hashed-pw')}"`,
    ].join('\n'),
  })
})

afterAll(async () => {
  await Promise.all([md5Amb?.stop(), scramAmb?.stop()])
  await Promise.all([scramPg?.stop(), passPg?.stop()])
})

describe('client side, auth_type md5', () => {
  it('accepts the right password (plain secret) and logs in to a SCRAM server with it', async () => {
    expect(await query(md5Amb.port, scramPg.user, scramPg.password, 'scramdb')).toEqual({ u: scramPg.user })
  })

  it('logs in to a cleartext-password server', async () => {
    expect(await query(md5Amb.port, passPg.user, passPg.password, 'passdb')).toEqual({ u: passPg.user })
  })

  it('accepts an md5 secret from the userlist (server user forced by the database entry)', async () => {
    expect(await query(md5Amb.port, 'hashed', 'hashed-pw', 'forced')).toEqual({ u: scramPg.user })
    expect(await psql(`postgres://hashed:hashed-pw@127.0.0.1:${md5Amb.port}/forced`, 'select 1')).toBe('1')
  })

  it('refuses a wrong password and an unknown user with the same PostgreSQL error', async () => {
    const wrong = await query(md5Amb.port, scramPg.user, 'wrong', 'scramdb').catch((e) => e)
    expect(wrong.code).toBe('28P01')
    expect(wrong.message).toBe(`password authentication failed for user "${scramPg.user}"`)
    const unknown = await query(md5Amb.port, 'nobody', 'wrong', 'scramdb').catch((e) => e)
    expect(unknown.code).toBe('28P01')
    expect(unknown.message).toBe('password authentication failed for user "nobody"')
    // No password in any log line.
    const logs = JSON.stringify(md5Amb.proc.logs)
    expect(logs).not.toContain(scramPg.password)
    expect(logs).not.toContain('hashed-pw')
  })

  it("passes the server's login error on when the server refuses the ambassador", async () => {
    const err = await query(md5Amb.port, scramPg.user, scramPg.password, 'badsrv').catch((e) => e)
    expect(err.message).toMatch(/server login failed: FATAL password authentication failed/)
    expect(JSON.stringify(md5Amb.proc.logs)).not.toContain('not-the-password')
  })
})

describe('client side, auth_type scram-sha-256', () => {
  it('authenticates against the SCRAM verifier and passes the client key on to the server', async () => {
    expect(await query(scramAmb.port, scramPg.user, scramPg.password, 'scramdb')).toEqual({ u: scramPg.user })
    expect(
      await psql(
        `postgres://${scramPg.user}:${encodeURIComponent(scramPg.password)}@127.0.0.1:${scramAmb.port}/scramdb`,
        'select current_user',
      ),
    ).toBe(scramPg.user)
  })

  it('authenticates a plain userlist secret with SCRAM', async () => {
    expect(await query(scramAmb.port, 'plainuser', 'plain-pw', 'forced')).toEqual({ u: scramPg.user })
  })

  it('refuses a wrong password, an unknown user and an md5-only user alike', async () => {
    for (const [u, p] of [
      [scramPg.user, 'wrong'],
      ['plainuser', 'nope'],
      ['ghost', 'x'],
      ['hashed', 'hashed-pw'],
    ] as const) {
      const err = await query(scramAmb.port, u, p, 'forced').catch((e) => e)
      expect(err.code).toBe('28P01')
      expect(err.message).toBe(`password authentication failed for user "${u}"`)
    }
  })
})

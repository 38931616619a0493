// Several hosts with primary discovery and failover between two real clusters, and TLS on both
// sides with certificates made at test time.

import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, copyFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  createTestPki,
  type PostgresServer,
  startPostgres,
  type TestPki,
  tempDir,
  waitFor,
} from '@podkit/test-utils'
import { afterAll, describe, expect, it } from 'vitest'
import { psql, startAmbassador } from './helpers.ts'

const cleanups: Array<() => Promise<unknown> | unknown> = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
})

const setReadOnly = async (p: PostgresServer, on: boolean) => {
  await p.query(`ALTER SYSTEM SET default_transaction_read_only = ${on ? 'on' : 'off'}`)
  await p.query('SELECT pg_reload_conf()')
}

describe('several hosts', () => {
  it('finds the writable primary and follows it when it changes, without a restart', async () => {
    const [a, b] = await Promise.all([
      startPostgres({ auth: 'md5' }),
      startPostgres({ auth: 'md5', user: 'podkit', password: 'podkit-test-password' }),
    ])
    cleanups.push(
      () => a.stop(),
      () => b.stop(),
    )
    await setReadOnly(b, true) // b plays the standby
    const amb = await startAmbassador({
      settings: {
        auth_type: 'md5',
        pool_mode: 'transaction',
        server_login_retry: 0.2,
        query_wait_timeout: 20,
      },
      databases: { app: `host=127.0.0.1,127.0.0.1 port=${b.port},${a.port} dbname=${a.database}` },
      userlist: `"${a.user}" "${a.password}"\n`,
    })
    cleanups.push(() => amb.stop())
    const url = `postgres://${a.user}:${a.password}@127.0.0.1:${amb.port}/app`
    expect(await psql(url, 'select inet_server_port()')).toBe(String(a.port))
    // The primary goes away and the standby is promoted.
    await a.stop()
    await setReadOnly(b, false)
    await waitFor(
      async () => (await psql(url, 'select inet_server_port()').catch(() => '')) === String(b.port),
      20_000,
    )
    await psql(url, 'create table after_failover (x int)')
    expect(await psql(url, 'select count(*) from after_failover')).toBe('0')
    expect(amb.proc.logs.some((l) => String(l.msg).includes('another host'))).toBe(true)
  }, 60_000)
})

/** A copy of the key PostgreSQL accepts: owned by postgres, mode 0600. */
function keyForPostgres(pki: TestPki): { certFile: string; keyFile: string } {
  const dir = tempDir('podkit-pgkey-')
  cleanups.push(() => dir.cleanup())
  chmodSync(dir.path, 0o755)
  const keyFile = join(dir.path, 'server.key')
  copyFileSync(pki.server.keyFile, keyFile)
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }))
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }))
  chownSync(keyFile, uid, gid)
  chmodSync(keyFile, 0o600)
  return { certFile: pki.server.certFile, keyFile }
}

describe('TLS', () => {
  it('serves TLS to clients and verifies the server certificate (verify-full) on the way out', async () => {
    const pki = createTestPki()
    const otherCa = createTestPki({ caName: 'someone else' })
    cleanups.push(
      () => pki.cleanup(),
      () => otherCa.cleanup(),
    )
    const db = await startPostgres({ auth: 'scram-sha-256', tls: keyForPostgres(pki) })
    cleanups.push(() => db.stop())
    const dbEntry = `host=localhost port=${db.port} dbname=${db.database}`
    const amb = await startAmbassador({
      settings: {
        auth_type: 'scram-sha-256',
        client_tls_sslmode: 'require',
        client_tls_key_file: pki.server.keyFile,
        client_tls_cert_file: pki.server.certFile,
        server_tls_sslmode: 'verify-full',
        server_tls_ca_file: pki.ca.certFile,
        admin_users: db.user,
      },
      databases: { app: dbEntry },
      userlist: `"${db.user}" "${db.password}"\n`,
    })
    cleanups.push(() => amb.stop())
    const base = `postgres://${db.user}:${encodeURIComponent(db.password)}@localhost:${amb.port}`
    const tlsEnv = { PGSSLMODE: 'verify-full', PGSSLROOTCERT: pki.ca.certFile }
    expect(
      await psql(`${base}/app`, 'select ssl from pg_stat_ssl where pid = pg_backend_pid()', tlsEnv),
    ).toBe('t')
    expect(await psql(`${base}/pgbouncer`, 'SHOW CLIENTS', tlsEnv)).toMatch(/\|TLS\|psql$/m)
    await expect(psql(`${base}/app`, 'select 1', { PGSSLMODE: 'disable' })).rejects.toThrow(/SSL required/)

    // The same server behind a CA the ambassador does not trust: refused, never sent a password.
    const distrust = await startAmbassador({
      settings: {
        auth_type: 'trust',
        server_tls_sslmode: 'verify-full',
        server_tls_ca_file: otherCa.ca.certFile,
      },
      userlist: '"x" ""\n',
      databases: { app: `${dbEntry} user=${db.user} password=${db.password}` },
    })
    cleanups.push(() => distrust.stop())
    await expect(psql(`postgres://x@127.0.0.1:${distrust.port}/app`, 'select 1')).rejects.toThrow(
      /TLS to localhost failed/,
    )
  }, 60_000)

  it('uses TLS to a server that offers it with the default server_tls_sslmode (prefer)', async () => {
    // Plain server sockets read into a shared buffer that TLS cannot use: a 'S' answer makes the
    // ambassador connect again with an ordinary socket, and every later connection starts so.
    const pki = createTestPki()
    cleanups.push(() => pki.cleanup())
    const db = await startPostgres({ auth: 'md5', tls: keyForPostgres(pki) })
    cleanups.push(() => db.stop())
    const amb = await startAmbassador({
      settings: { auth_type: 'md5', pool_mode: 'transaction', default_pool_size: 2 },
      databases: { app: `host=127.0.0.1 port=${db.port} dbname=${db.database}` },
      userlist: `"${db.user}" "${db.password}"\n`,
    })
    cleanups.push(() => amb.stop())
    const url = `postgres://${db.user}:${encodeURIComponent(db.password)}@127.0.0.1:${amb.port}/app`
    const sql = 'select ssl from pg_stat_ssl where pid = pg_backend_pid()'
    const answers = await Promise.all(Array.from({ length: 4 }, () => psql(url, sql)))
    expect(answers).toEqual(['t', 't', 't', 't'])
  }, 60_000)
})

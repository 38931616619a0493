// The test helpers start and stop real servers, as root too.

import { connect } from 'node:tls'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { createTestPki, startNginx, startPostgres } from '../src/index.ts'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

describe('test-utils', () => {
  it('starts PostgreSQL with scram auth and stops it', async () => {
    const pg = await startPostgres()
    cleanups.push(() => pg.stop())
    const r = await pg.query<{ v: string; m: string }>(
      "select version() as v, (select setting from pg_settings where name='password_encryption') as m",
    )
    expect(r.rows[0]!.v).toMatch(/PostgreSQL \d+/)
    expect(r.rows[0]!.m).toBe('scram-sha-256')
  })

  it('starts nginx with stub_status', async () => {
    const ngx = await startNginx()
    cleanups.push(() => ngx.stop())
    const res = await request(`${ngx.url}/nginx_status`)
    const body = await res.body.text()
    expect(res.statusCode).toBe(200)
    expect(body).toMatch(/^Active connections: \d+/)
  })

  it('makes a CA whose server certificate verifies for localhost and 127.0.0.1', async () => {
    const pki = createTestPki()
    cleanups.push(() => pki.cleanup())
    const { createServer } = await import('node:tls')
    const srv = createServer({ cert: pki.server.cert, key: pki.server.key }, (s) => s.end('hi'))
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    cleanups.push(() => new Promise<void>((r) => srv.close(() => r())))
    const port = (srv.address() as { port: number }).port
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki.ca.cert }, () => {
        resolve(s.authorized)
        s.destroy()
      })
      s.on('error', () => resolve(false))
    })
    expect(ok).toBe(true)
    const rejected = await new Promise<string>((resolve) => {
      const s = connect({ port, host: '127.0.0.1', servername: 'localhost' }, () => resolve('connected'))
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
    })
    expect(rejected).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  })
})

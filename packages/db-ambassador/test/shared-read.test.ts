// Client sockets read into the shared buffer (src/shared-read.ts rebuilds each accepted socket
// around its handle): run on this machine's Node 20 and on the images' Node, since the rebuild
// follows what each Node's net.Server does. Bytes from many clients at once must reach the server
// intact (every read overwrites the one buffer), a waiting client that sends far ahead is paused
// and then served in order, one that leaves while waiting leaves the queue, and a drain still ends.

import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { imageNode, nodeVersion, type PostgresServer, startPostgres, waitFor } from '@podkit/test-utils'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { psql, type RunningAmbassador, startAmbassador } from './helpers.ts'
import { msg, RawClient } from './wire.ts'

let db: PostgresServer

beforeAll(async () => {
  db = await startPostgres({ auth: 'md5' })
})

afterAll(async () => {
  await db?.stop()
})

const query = (sql: string) => msg('Q', `${sql}\0`)

async function metric(amb: RunningAmbassador, name: string, database: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${amb.adminPort}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`database="${database}"`))
  return line ? Number(line.split(' ').pop()) : Number.NaN
}

const nodes = [process.execPath, imageNode()]

describe.each(nodes.map((bin) => [`Node ${nodeVersion(bin).split('.')[0]!.slice(1)}`, bin]))(
  'client sockets on the shared read buffer, %s',
  (_label, node) => {
    let amb: RunningAmbassador
    const url = (name: string) => `postgres://${db.user}:${db.password}@127.0.0.1:${amb.port}/${name}`

    beforeAll(async () => {
      const to = `host=127.0.0.1 port=${db.port} dbname=${db.database} user=${db.user} password=${db.password}`
      amb = await startAmbassador({
        node,
        settings: { auth_type: 'trust', pool_mode: 'transaction', default_pool_size: 4 },
        userlist: `"${db.user}" ""\n`,
        databases: { app: to, one: `${to} pool_size=1` },
      })
    })

    afterAll(async () => {
      await amb?.stop()
    })

    it('delivers COPY IN from several clients at once byte for byte', async () => {
      // Each client's CopyData arrives in reads of up to 64 KiB into the one buffer, interleaved
      // with the other clients' reads. The server sleeps on its first row, so its socket fills and
      // writes to it stop finishing at once: what was forwarded must be a copy, not a view of the
      // buffer the next read overwrites.
      const tag = `n${nodeVersion(node).split('.')[0]!.slice(1)}`
      const run = async (k: number) => {
        const table = `copy_${tag}_${k}`
        await db.query(`
          DROP TABLE IF EXISTS ${table};
          CREATE TABLE ${table} (id int, v text);
          CREATE FUNCTION ${table}_slow() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN IF NEW.id = 0 THEN PERFORM pg_sleep(1); END IF; RETURN NEW; END $$;
          CREATE TRIGGER slow BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_slow();`)
        // ~12 MiB, more than the kernel's socket buffers hold while the server sleeps.
        const lines = Array.from(
          { length: 250_000 },
          (_, i) => `${i},${createHash('md5').update(`${k}:${i}`).digest('hex')}`,
        )
        const csv = join(amb.dir.path, `${table}.csv`)
        writeFileSync(csv, `${lines.join('\n')}\n`)
        await psql(url('app'), `\\copy ${table} from '${csv}' csv`)
        const { rows } = await db.query<{ n: number; h: string }>(
          `SELECT count(*)::int AS n, md5(string_agg(id || ',' || v, E'\\n' ORDER BY id)) AS h FROM ${table}`,
        )
        const got = rows[0]!
        return got.n === lines.length && got.h === createHash('md5').update(lines.join('\n')).digest('hex')
      }
      expect(await Promise.all([0, 1].map(run))).toEqual([true, true])
    })

    it('pauses a waiting client that sends far ahead, then answers every request in order', async () => {
      const holder = new pg.Client({ connectionString: url('one') })
      await holder.connect()
      await holder.query('BEGIN') // the only server of `one` stays linked to the holder
      const c = new RawClient(amb.port, db.user, 'one', true)
      try {
        await waitFor(() => c.count('Z') === 1, 5_000)
        // ~240 KiB of pipelined queries, well past the 64 KiB a waiting client may send ahead.
        const n = 1000
        const pad = 'x'.repeat(200)
        c.socket.write(Buffer.concat(Array.from({ length: n }, (_, i) => query(`select '${i}:${pad}'`))))
        await new Promise((r) => setTimeout(r, 300))
        expect(c.count('C')).toBe(0)
        await holder.query('COMMIT')
        await waitFor(() => c.count('Z') === n + 1, 15_000)
        expect(c.rows).toHaveLength(n)
        expect(c.rows.every((r, i) => r === `${i}:${pad}`)).toBe(true)
      } finally {
        c.socket.destroy()
        await holder.end()
      }
    })

    it('takes a client that disconnects while waiting out of the queue at once', async () => {
      const holder = new pg.Client({ connectionString: url('one') })
      await holder.connect()
      await holder.query('BEGIN')
      const c = new RawClient(amb.port, db.user, 'one', true)
      try {
        await waitFor(() => c.count('Z') === 1, 5_000)
        c.socket.write(query('select 1'))
        await waitFor(async () => (await metric(amb, 'podkit_db_clients_waiting', 'one')) === 1, 5_000)
        c.socket.destroy()
        await waitFor(async () => (await metric(amb, 'podkit_db_clients_waiting', 'one')) === 0, 2_000)
      } finally {
        await holder.query('COMMIT')
        await holder.end()
      }
      // The server goes back to the pool and serves the next client.
      expect(await psql(url('one'), 'select 7 * 6')).toBe('42')
    })

    it('drains and exits 0 with clients connected', async () => {
      const c = new pg.Client({ connectionString: url('app') })
      c.on('error', () => {})
      await c.connect()
      expect((await c.query('select 1 as one')).rows).toEqual([{ one: 1 }])
      const t0 = Date.now()
      const exit = amb.proc.stop('SIGTERM', 15_000)
      expect(await exit).toBe(0)
      // Nothing waits for the listening server's own count of connections (the rebuilt sockets
      // carry it, and are closed by the drain).
      expect(Date.now() - t0).toBeLessThan(3_000)
      await c.end().catch(() => {})
    })
  },
)

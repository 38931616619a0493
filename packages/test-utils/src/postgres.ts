// An ephemeral PostgreSQL cluster for a test: initdb in a temp dir, a free port on 127.0.0.1,
// password auth (md5 or scram-sha-256). PostgreSQL refuses to run as root, so as root the
// cluster runs as the `postgres` user.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { appendFileSync, chmodSync, chownSync, existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { freePort, sleep } from './net.ts'
import { tempDir } from './temp.ts'

export interface PostgresOptions {
  /** Authentication the server asks of TCP clients. Default scram-sha-256. */
  auth?: 'md5' | 'scram-sha-256' | 'trust' | 'password'
  user?: string
  password?: string
  database?: string
  /** Extra postgresql.conf lines. */
  settings?: Record<string, string | number>
  /** Serve TLS with this certificate and key (PEM files readable by the server user). */
  tls?: { certFile: string; keyFile: string }
}

export interface PostgresServer {
  host: string
  port: number
  user: string
  password: string
  database: string
  dataDir: string
  connectionString: string
  /** Runs SQL as the superuser through a short-lived client. */
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<T>>
  stop(): Promise<void>
}

export function postgresBinDir(): string {
  const candidates = [
    '/usr/lib/postgresql/15/bin',
    '/usr/lib/postgresql/16/bin',
    '/usr/lib/postgresql/17/bin',
  ]
  for (const c of candidates) if (existsSync(join(c, 'postgres'))) return c
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error('PostgreSQL binaries not found: install postgresql (apt-get install postgresql)')
  }
}

interface RunAs {
  uid?: number
  gid?: number
}

function postgresUser(): RunAs {
  if (process.getuid?.() !== 0) return {}
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
  return { uid, gid }
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinDir()
  const as = postgresUser()
  const dir = tempDir('podkit-pg-')
  chmodSync(dir.path, 0o755)
  const dataDir = join(dir.path, 'data')
  const user = opts.user ?? 'podkit'
  const password = opts.password ?? 'podkit-test-password'
  const database = opts.database ?? 'podkit'
  const auth = opts.auth ?? 'scram-sha-256'
  const pwfile = join(dir.path, 'pwfile')
  writeFileSync(pwfile, `${password}\n`)
  if (as.uid !== undefined) {
    chownSync(dir.path, as.uid, as.gid!)
    chownSync(pwfile, as.uid, as.gid!)
  }
  execFileSync(
    join(bin, 'initdb'),
    [
      '-D',
      dataDir,
      '-U',
      user,
      '--pwfile',
      pwfile,
      '-A',
      auth,
      '--auth-local=trust',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ],
    { ...as, stdio: 'pipe' },
  )
  const port = await freePort()
  const settings: Record<string, string | number> = {
    listen_addresses: "'127.0.0.1'",
    port,
    unix_socket_directories: `'${dir.path}'`,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: 200,
    password_encryption: auth === 'md5' ? "'md5'" : "'scram-sha-256'",
    ...opts.settings,
  }
  if (opts.tls) {
    settings.ssl = 'on'
    settings.ssl_cert_file = `'${opts.tls.certFile}'`
    settings.ssl_key_file = `'${opts.tls.keyFile}'`
  }
  appendFileSync(
    join(dataDir, 'postgresql.conf'),
    `\n${Object.entries(settings)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n')}\n`,
  )
  const child: ChildProcess = spawn(join(bin, 'postgres'), ['-D', dataDir], {
    ...as,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let log = ''
  child.stderr!.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-8000)
  })
  const connectionString = `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`
  const superuser = { host: '127.0.0.1', port, user, password, database: 'postgres' }

  // Wait until it accepts connections, then create the test database.
  const until = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}:\n${log}`)
    const c = new pg.Client(superuser)
    try {
      await c.connect()
      if (database !== 'postgres') await c.query(`CREATE DATABASE "${database}"`)
      await c.end()
      break
    } catch (err) {
      await c.end().catch(() => {})
      if (Date.now() > until) throw new Error(`postgres did not start: ${String(err)}\n${log}`)
      await sleep(100)
    }
  }

  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    database,
    dataDir,
    connectionString,
    async query(sql, params) {
      const c = new pg.Client({ ...superuser, database })
      await c.connect()
      try {
        return await c.query(sql, params)
      } finally {
        await c.end()
      }
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGINT') // fast shutdown
        await Promise.race([exited, sleep(10_000)])
        if (child.exitCode === null) child.kill('SIGKILL')
      }
      dir.cleanup()
    },
  }
}

// Test helpers: a real PostgreSQL 15 cluster and the ambassador started as its image starts it
// (node dist/main.js) with a pgbouncer.ini and userlist written for the test.

import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { freePort, type ServiceProcess, spawnService, type TempDir, tempDir } from '@podkit/test-utils'

export const entry = fileURLToPath(new URL('../dist/main.js', import.meta.url))
export const pgBin = '/usr/lib/postgresql/15/bin'
const run = promisify(execFile)

export interface RunningAmbassador {
  port: number
  adminPort: number
  dir: TempDir
  proc: ServiceProcess
  iniPath: string
  stop(): Promise<void>
}

export async function startAmbassador(opts: {
  /** [pgbouncer] lines, without listen_port (added). */
  settings: Record<string, string | number>
  databases: Record<string, string>
  userlist?: string
  env?: Record<string, string>
  /** Node binary to run dist/main.js with (default: this process's Node). */
  node?: string
}): Promise<RunningAmbassador> {
  const dir = tempDir('podkit-dbamb-')
  const port = await freePort()
  const adminPort = await freePort()
  const userlistPath = join(dir.path, 'userlist.txt')
  writeFileSync(userlistPath, opts.userlist ?? '')
  const ini = [
    '[databases]',
    ...Object.entries(opts.databases).map(([k, v]) => `${k} = ${v}`),
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    `auth_file = ${userlistPath}`,
    ...Object.entries(opts.settings).map(([k, v]) => `${k} = ${v}`),
    '',
  ].join('\n')
  const iniPath = join(dir.path, 'pgbouncer.ini')
  writeFileSync(iniPath, ini)
  const proc = spawnService({
    entry,
    node: opts.node,
    args: [iniPath],
    env: { ADMIN_PORT: String(adminPort), ADMIN_HOST: '127.0.0.1', LOG_LEVEL: 'info', ...opts.env },
  })
  await proc.waitForLog((l) => l.msg === 'Accepting PostgreSQL clients.' || l.level === 'fatal', 15_000)
  const fatal = proc.logs.find((l) => l.level === 'fatal')
  if (fatal) throw new Error(`ambassador did not start: ${JSON.stringify(fatal)} ${proc.stderr()}`)
  return {
    port,
    adminPort,
    dir,
    proc,
    iniPath,
    async stop() {
      await proc.stop('SIGTERM', 15_000)
      dir.cleanup()
    },
  }
}

/** Runs psql with a connection string; resolves with stdout, rejects with stderr. */
export async function psql(
  conn: string,
  sql: string,
  extraEnv: Record<string, string> = {},
): Promise<string> {
  const { stdout } = await run(
    `${pgBin}/psql`,
    [conn, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql],
    {
      env: { ...process.env, PGCONNECT_TIMEOUT: '10', ...extraEnv },
      timeout: 30_000,
    },
  )
  return stdout.trim()
}

export async function pgbench(args: string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout, stderr } = await run(`${pgBin}/pgbench`, args, {
    env: { ...process.env, ...env },
    timeout: 60_000,
    killSignal: 'SIGKILL',
    maxBuffer: 16 * 1024 * 1024,
  })
  return stdout + stderr
}

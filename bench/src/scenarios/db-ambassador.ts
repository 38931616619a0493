// db-ambassador: pgbench against one PostgreSQL 15, directly, through PgBouncer (Debian's 1.18)
// and through ours (node dist/main.js), same pool settings (transaction mode, pool 20, md5),
// alternating. Scenarios: -S -c 50 simple and extended, -M prepared (direct and ours: PgBouncer
// 1.18 cannot run it in transaction mode), TPC-B-like -c 50, and -C (a connection per transaction).
// Ours runs on the images' Node (imageNode()) with the image's NODE_OPTIONS, and on this machine's
// Node when it is another major.
//
// Arguments: [seconds=5] [rounds=3] [variants=S,E,P,B,C] (S simple, E extended, P prepared,
// B TPC-B-like, C -C); PODKIT_BENCH_DB_NODES=26 (or =20) measures ours on one Node only;
// PODKIT_BENCH_DB_FLOOR=0 leaves out the bare Node pooler (the floor, bench/floor/bare-pooler.mjs).

import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process'
import { chmodSync, chownSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { freePort, type PostgresServer, startPostgres, tempDir, waitForPort } from '@podkit/test-utils'
import {
  type Contender,
  ensureDebianPackages,
  imageNode,
  nodeVersion,
  type RunResult,
  runScenario,
  type ScenarioResult,
  serviceNodeArgs,
  serviceNodeOptions,
} from '../harness.ts'

const run = promisify(execFile)
const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench'
const ours = fileURLToPath(new URL('../../../packages/db-ambassador/dist/main.js', import.meta.url))
const floorPooler = fileURLToPath(new URL('../../floor/bare-pooler.mjs', import.meta.url))

function iniFor(port: number, userlist: string, db: PostgresServer, extra: string[] = []): string {
  return [
    '[databases]',
    `bench = host=127.0.0.1 port=${db.port} dbname=${db.database}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'auth_type = md5',
    `auth_file = ${userlist}`,
    'pool_mode = transaction',
    'default_pool_size = 20',
    'max_client_conn = 200',
    'log_connections = 0',
    'log_disconnections = 0',
    ...extra,
    '',
  ].join('\n')
}

async function pgbench(args: string[], url: string): Promise<RunResult> {
  const { stdout } = await run(PGBENCH, [...args, url], { maxBuffer: 1 << 24, timeout: 120_000 })
  const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1] ?? 0)
  const lat = Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1] ?? 0)
  const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0)
  return { throughput: Math.round(tps), unit: 'TPS', p50Ms: lat, extra: { failed } }
}

async function runAll(args: string[]): Promise<ScenarioResult[]> {
  ensureDebianPackages([{ pkg: 'pgbouncer', binary: '/usr/sbin/pgbouncer' }])
  const seconds = Number(args[0] ?? 5)
  const rounds = Number(args[1] ?? 3)
  const variants = new Set((args[2] ?? 'S,E,P,B,C').split(','))
  const db = await startPostgres({
    auth: 'md5',
    settings: { max_connections: 300, shared_buffers: "'128MB'" },
  })
  const dir = tempDir('podkit-bench-db-')
  chmodSync(dir.path, 0o755)
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }))
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }))
  const userlist = join(dir.path, 'userlist.txt')
  writeFileSync(userlist, `"${db.user}" "${db.password}"\n`)
  chownSync(userlist, uid, gid)
  const direct = `postgres://${db.user}:${encodeURIComponent(db.password)}@127.0.0.1:${db.port}/${db.database}`
  await run(PGBENCH, ['-i', '-s', '10', '-q', direct], { maxBuffer: 1 << 24 })

  const withProcess = (
    name: string,
    launch: (port: number) => ChildProcess,
  ): Contender & { url?: string } => ({
    name,
    async start() {
      const port = await freePort()
      const child = launch(port)
      await waitForPort(port)
      this.url = `postgres://${db.user}:${encodeURIComponent(db.password)}@127.0.0.1:${port}/bench`
      return {
        pids: [child.pid!],
        stop: async () => {
          const exited = new Promise((r) => child.once('exit', r))
          child.kill('SIGKILL')
          await exited
        },
      }
    },
    run: async () => {
      throw new Error('set per scenario')
    },
  })
  const pgbouncer = withProcess('PgBouncer 1.18 (peer)', (port) => {
    const ini = join(dir.path, `pgbouncer-${port}.ini`)
    writeFileSync(ini, iniFor(port, userlist, db, ["unix_socket_dir = ''", 'logfile = ', 'pidfile = ']))
    chownSync(ini, uid, gid)
    return spawn('/usr/sbin/pgbouncer', ['-q', ini], { uid, gid, cwd: dir.path, stdio: 'ignore' })
  })
  // Ours as the image runs it (its Node major, its NODE_OPTIONS and node arguments, none today),
  // and on this machine's Node.
  const nodeOptions = serviceNodeOptions('db-ambassador')
  const nodeArgs = serviceNodeArgs('db-ambassador')
  const image = imageNode()
  const nodes = [image]
  if (nodeVersion(process.execPath).split('.')[0] !== nodeVersion(image).split('.')[0])
    nodes.push(process.execPath)
  const only = process.env.PODKIT_BENCH_DB_NODES
  const ambassadors = nodes
    .filter((bin) => !only || nodeVersion(bin).startsWith(`v${only}`))
    .map((bin) =>
      withProcess(`podkit db-ambassador (Node ${nodeVersion(bin).split('.')[0]!.slice(1)})`, (port) => {
        const ini = join(dir.path, `ours-${port}.ini`)
        writeFileSync(ini, iniFor(port, userlist, db))
        return spawn(bin, [...nodeArgs, ours, ini], {
          env: {
            PATH: process.env.PATH,
            ADMIN_PORT: '0',
            ADMIN_HOST: '127.0.0.1',
            NODE_ENV: 'production',
            NODE_OPTIONS: nodeOptions,
          },
          stdio: 'ignore',
        })
      }),
    )
  // The floor: a bare transaction pooler (bench/floor/bare-pooler.mjs) on the image's Node with the
  // same NODE_OPTIONS, doing only what ours does on its hot path. Ours at or near it means the gap
  // to PgBouncer is Node's cost per read and write, not ours. It cannot run -M prepared.
  const floor = withProcess(
    `bare Node pooler (floor, Node ${nodeVersion(image).split('.')[0]!.slice(1)})`,
    (port) =>
      spawn(image, [floorPooler, String(port), String(db.port), db.user, db.password, db.database, '20'], {
        env: { PATH: process.env.PATH, NODE_ENV: 'production', NODE_OPTIONS: nodeOptions },
        stdio: 'ignore',
      }),
  )
  const directC: Contender & { url?: string } = {
    name: 'PostgreSQL direct',
    async start() {
      this.url = direct.replace(`/${db.database}`, `/${db.database}`)
      return { pids: [], stop: async () => {} }
    },
    run: async () => {
      throw new Error('set per scenario')
    },
  }

  const scenario = async (
    variant: string,
    pgArgs: string[],
    contenders: Array<Contender & { url?: string }>,
  ) => {
    const cs = contenders.map((c) => ({
      ...c,
      start: c.start,
      run(this: Contender & { url?: string }) {
        return pgbench(pgArgs, this.url!)
      },
    }))
    return runScenario({ scenario: 'db-ambassador', variant, rounds, contenders: cs })
  }
  const t = ['-T', String(seconds), '-j', '2']
  const results: ScenarioResult[] = []
  const peerAnd = [
    pgbouncer,
    ...ambassadors,
    ...(process.env.PODKIT_BENCH_DB_FLOOR === '0' ? [] : [floor]),
    directC,
  ]
  try {
    if (variants.has('S'))
      results.push(await scenario('pgbench -S -c 50 (simple)', ['-S', '-c', '50', ...t], peerAnd))
    if (variants.has('E'))
      results.push(
        await scenario('pgbench -S -c 50 -M extended', ['-S', '-c', '50', '-M', 'extended', ...t], peerAnd),
      )
    if (variants.has('P'))
      results.push(
        await scenario(
          'pgbench -S -c 50 -M prepared (PgBouncer 1.18 fails it; ratio to direct)',
          ['-S', '-c', '50', '-M', 'prepared', ...t],
          [directC, ...ambassadors],
        ),
      )
    if (variants.has('B'))
      results.push(await scenario('pgbench TPC-B-like -c 50', ['-c', '50', ...t], peerAnd))
    if (variants.has('C'))
      results.push(
        await scenario(
          'pgbench -S -C -c 20 (new connection per transaction, md5)',
          ['-S', '-C', '-c', '20', ...t],
          peerAnd,
        ),
      )
  } finally {
    await db.stop()
    dir.cleanup()
  }
  return results
}

export { runAll as run }

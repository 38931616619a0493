// The local demo: the story of the seed's pods as local processes. PostgreSQL from the machine,
// an HTTPS "external API" with a CA made at start, nginx when installed (else the app serves
// stub_status), a log receiver, the five podkit sidecars (each started and ready before the next,
// as native sidecars are) and the demo app; a live page at /, and Ctrl-C drains everything in a
// pod's order (app first, then the sidecars in reverse) and shows it.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  freePort,
  type NginxServer,
  nginxBinary,
  type PostgresServer,
  startNginx,
  startPostgres,
  waitFor,
} from '@podkit/test-utils'
import { startEmbeddedPostgres } from './embedded-postgres.ts'
import { sumSamples } from './exposition.ts'
import { createDemoPki } from './pki.ts'
import { type Managed, startProcess } from './processes.ts'
import { startReceiver } from './receiver.ts'
import { isBuilt, planSidecars, type SidecarPlan } from './sidecars.ts'
import { startUpstream } from './upstream.ts'

export interface DemoOptions {
  root: string
  /** Port of the page; 0 picks one. */
  port: number
  /** Where output goes (the terminal). */
  print: (line: string) => void
  /** The bundle to run the app from (`<bundle> app`). */
  selfBundle: string
  /** `machine` (default: the machine's PostgreSQL, else PGlite) or `embedded` (PGlite). */
  postgres?: 'machine' | 'embedded'
  /** `auto` (default: nginx when installed) or `off` (the app serves stub_status). */
  nginx?: 'auto' | 'off'
}

const color = (n: number, s: string) => (process.stdout.isTTY ? `\x1b[${n}m${s}\x1b[0m` : s)
const NAME_COLORS: Record<string, number> = {
  app: 37,
  'log-adapter': 36,
  'log-shipper': 34,
  'metrics-adapter': 35,
  'db-ambassador': 33,
  'http-ambassador': 32,
}

export async function runDemo(opts: DemoOptions) {
  const { print } = opts
  // Set once everything runs; until then /api/state answers 503.
  let state: (() => Promise<unknown>) | undefined
  const page = join(opts.root, 'demo/page/index.html')
  const server: Server = createServer((req, res) => {
    if (req.url === '/api/state') {
      if (!state) {
        res.statusCode = 503
        res.end('starting\n')
        return
      }
      state().then(
        (s) => {
          res.setHeader('content-type', 'application/json')
          res.setHeader('cache-control', 'no-store')
          res.end(JSON.stringify(s))
        },
        (err) => {
          res.statusCode = 500
          res.end(String(err))
        },
      )
    } else if (req.url === '/' || req.url === '/index.html') {
      res.setHeader('content-type', 'text/html; charset=utf-8')
      res.end(readFileSync(page))
    } else {
      res.statusCode = 404
      res.end()
    }
  })
  // The page's port first: if it is taken, say so before anything else has started.
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`port ${opts.port} is taken: set DEMO_PORT to another port (0 picks a free one)`)
          : err,
      ),
    )
    server.listen(opts.port, '127.0.0.1', () => resolve())
  })
  const addr = server.address()

  const dir = mkdtempSync(join(tmpdir(), 'podkit-demo-'))
  const say = (name: string, msg: string) =>
    print(`${color(NAME_COLORS[name] ?? 37, name.padStart(15))} | ${msg}`)
  const cleanups: Array<() => Promise<void> | void> = []
  const procs = new Map<string, Managed>()
  const notes: string[] = []

  const receiver = await startReceiver()
  cleanups.push(receiver.stop)
  // Made in Node, so the demo needs no openssl.
  const pki = createDemoPki(join(dir, 'pki'))
  const upstream = await startUpstream({ cert: pki.server.cert, key: pki.server.key })
  cleanups.push(upstream.stop)
  say('demo', `external API (HTTPS, CA made at start) on 127.0.0.1:${upstream.port}`)

  const db = { user: 'demo', password: 'demo-password', database: 'demo' }
  // The database behind the db-ambassador: the machine's PostgreSQL, else PGlite (embedded).
  let pg: { port: number; dbname: string; poolSize: number; kind: string } | undefined
  if (opts.postgres !== 'embedded') {
    try {
      const server: PostgresServer = await startPostgres({ auth: 'md5', ...db })
      cleanups.push(() => server.stop())
      pg = { port: server.port, dbname: db.database, poolSize: 5, kind: 'PostgreSQL (from this machine)' }
    } catch (err) {
      notes.push(
        `PostgreSQL is not installed here (${(err as Error).message.split('\n')[0]}): using the embedded PGlite instead.`,
      )
    }
  }
  if (!pg) {
    try {
      const embedded = await startEmbeddedPostgres()
      cleanups.push(() => embedded.stop())
      pg = {
        port: embedded.port,
        dbname: embedded.database,
        poolSize: 1,
        kind: 'PGlite (embedded PostgreSQL)',
      }
    } catch (err) {
      notes.push(
        `No PostgreSQL could be started (${(err as Error).message}): no database behind the db-ambassador.`,
      )
    }
  }
  if (pg) say('demo', `${pg.kind} on 127.0.0.1:${pg.port}`)

  const appPort = await freePort()
  let nginx: NginxServer | undefined
  let nginxStatus = `http://127.0.0.1:${appPort}/nginx_status`
  try {
    if (opts.nginx === 'off') throw new Error('nginx turned off')
    nginxBinary()
    const logs = join(dir, 'logs/nginx')
    mkdirSync(logs, { recursive: true })
    nginx = await startNginx({
      http: ({ port }) => `
        server {
          listen 127.0.0.1:${port};
          access_log ${logs}/access.log;
          location = /nginx_status { stub_status; access_log off; }
          location / { default_type text/plain; return 200 "hello from nginx in the podkit demo\\n"; }
        }`,
    })
    cleanups.push(() => nginx!.stop())
    nginxStatus = `${nginx.url}/nginx_status`
    say('demo', `nginx on ${nginx.url} (stub_status at /nginx_status)`)
  } catch {
    notes.push(
      `${opts.nginx === 'off' ? 'nginx is turned off (DEMO_NGINX=off)' : 'nginx is not installed'}: the demo app serves the stub_status page itself.`,
    )
  }

  const ports = {
    postgres: pg?.port ?? (await freePort()),
    upstream: upstream.port,
    receiver: receiver.port,
    nginxStatus,
    db: await freePort(),
    proxy: await freePort(),
    admin: {} as Record<string, number>,
  }
  for (const n of ['log-adapter', 'log-shipper', 'metrics-adapter', 'db-ambassador', 'http-ambassador'])
    ports.admin[n] = await freePort()
  const plans = planSidecars({
    root: opts.root,
    dir,
    ports,
    db: { ...db, serverDb: pg?.dbname ?? db.database, poolSize: pg?.poolSize ?? 5 },
    caFile: pki.ca.certFile,
  })
  const missing = plans.filter((p) => !isBuilt(p)).map((p) => p.name)
  for (const m of missing)
    notes.push(`${m} is not built (no packages/${m}/dist/main.js): left out of the pod.`)
  for (const n of notes) say('demo', color(33, n))

  const echo = (name: string, rec: Record<string, unknown>) => {
    const msg = String(rec.msg ?? '')
    const level = String(rec.level ?? '')
    if (
      /Ready\.|Draining|Drained|grace|could not start|demo app/.test(msg) ||
      /warn|error|fatal|stderr/.test(level)
    )
      say(
        name,
        `${level && level !== 'info' ? `${level}: ` : ''}${msg}${rec.tookMs !== undefined ? ` (${rec.tookMs} ms)` : ''}`,
      )
  }

  const readyOf = async (p: SidecarPlan) => {
    try {
      return (await fetch(`http://127.0.0.1:${p.adminPort}/ready`)).status === 200
    } catch {
      return false
    }
  }

  // Native sidecars: each starts, and must report ready, before the next one and the app.
  const running: SidecarPlan[] = []
  for (const p of plans) {
    if (!isBuilt(p)) continue
    if (p.name === 'db-ambassador' && !pg) continue
    const proc = startProcess(p.name, [p.bundle, ...p.args], p.env, echo)
    procs.set(p.name, proc)
    try {
      await waitFor(async () => (await readyOf(p)) || proc.exitCode() !== null, 30_000, `${p.name} /ready`)
    } catch {
      say(p.name, color(31, 'did not become ready within 30 s'))
    }
    if (proc.exitCode() !== null) say(p.name, color(31, `exited with ${proc.exitCode()} at start`))
    else running.push(p)
  }

  const app = startProcess(
    'app',
    [opts.selfBundle, 'app'],
    {
      LOG_FILE: join(dir, 'logs/raw/application.log'),
      DATABASE_URL: `postgres://${db.user}:${db.password}@127.0.0.1:${ports.db}/${db.database}`,
      EXTERNAL_API_URL: `http://127.0.0.1:${ports.proxy}`,
      NGINX_URL: nginx ? `${nginx.url}/` : '',
      APP_PORT: String(appPort),
      SERVE_STUB_STATUS: nginx ? 'false' : 'true',
      TICK_MS: '500',
    },
    echo,
  )
  procs.set('app', app)

  const scrapes = new Map<string, number>()
  let stopping: Promise<Record<string, number | string>> | undefined
  const currentState = async () => {
    const containers = await Promise.all(
      plans.map(async (p) => {
        const proc = procs.get(p.name)
        const base = {
          name: p.name,
          pattern: p.pattern,
          role: p.role,
          admin: `http://127.0.0.1:${p.adminPort}`,
        }
        if (!proc)
          return { ...base, status: isBuilt(p) ? 'not started' : 'not built', ready: false, counters: {} }
        if (proc.exitCode() !== null)
          return {
            ...base,
            status: `exited ${proc.exitCode()}`,
            ready: false,
            counters: {},
            pid: proc.child.pid,
          }
        const counters: Record<string, number> = {}
        try {
          const text = await (await fetch(`${base.admin}/metrics`)).text()
          scrapes.set(p.name, (scrapes.get(p.name) ?? 0) + 1)
          const all = sumSamples(text)
          for (const [metric, label] of Object.entries(p.counters))
            if (metric in all) counters[label] = all[metric]!
        } catch {
          // not answering yet
        }
        const ready = await readyOf(p)
        // While the demo stops, a sidecar that is still running but no longer ready is draining.
        const status = stopping && !ready ? 'draining' : 'running'
        return { ...base, status, ready, counters, pid: proc.child.pid }
      }),
    )
    let appStats: Record<string, unknown> = {}
    try {
      appStats = (await (await fetch(`http://127.0.0.1:${appPort}/stats`)).json()) as Record<string, unknown>
    } catch {
      // starting or stopped
    }
    return {
      containers,
      app: {
        status: app.exitCode() === null ? 'running' : `exited ${app.exitCode()}`,
        pid: app.child.pid,
        stats: appStats,
      },
      receiver: receiver.state(),
      upstream: { port: upstream.port, requests: upstream.requests() },
      nginx: nginx ? { url: nginx.url } : { servedByApp: true, url: nginxStatus },
      postgres: pg ? { port: pg.port, kind: pg.kind } : { missing: true },
      notes,
    }
  }

  state = currentState
  const pagePort = typeof addr === 'object' && addr ? addr.port : 0
  print('')
  print(`podkit demo: page at http://127.0.0.1:${pagePort}/  (Ctrl-C drains everything and stops)`)
  print('')

  // A short summary in the terminal every few seconds.
  const ticker = setInterval(async () => {
    const s = await currentState().catch(() => undefined)
    if (!s) return
    for (const c of s.containers) {
      if (c.status !== 'running') continue
      const counters = Object.entries(c.counters)
        .map(([k, v]) => `${k} ${Math.round(v as number)}`)
        .join(', ')
      say(c.name, `${c.ready ? 'ready' : 'not ready'}; ${counters}`)
    }
    say('receiver', `${s.receiver.records} JSON records received`)
  }, 5000)
  ticker.unref()

  const stop = () => {
    stopping ??= (async () => {
      clearInterval(ticker)
      print('')
      say(
        'demo',
        'stopping: the app first, then the sidecars in reverse order, as a pod stops native sidecars',
      )
      const codes: Record<string, number | string> = {}
      codes.app = await app.stop()
      say('app', `exited ${codes.app}`)
      for (const p of [...running].reverse()) {
        const proc = procs.get(p.name)!
        codes[p.name] = await proc.stop()
        say(p.name, `exited ${codes[p.name]}`)
      }
      // The page's last poll sees every container exited before the server goes.
      await new Promise((r) => setTimeout(r, 1200))
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
      for (const c of cleanups.reverse()) await c()
      rmSync(dir, { recursive: true, force: true })
      print(
        `exit codes: ${Object.entries(codes)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
      )
      return codes
    })()
    return stopping
  }

  return { port: pagePort, state: currentState, stop, notes, missing }
}

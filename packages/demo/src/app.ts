// The demo app: the "legacy app" of the seed's pods. Every tick it writes a raw
// `TIMESTAMP LEVEL MESSAGE` line to its log file (for the log-adapter), runs a transaction through
// the db-ambassador (localhost:5432 in a pod), calls the external API through the http-ambassador
// (localhost:8001) and requests a page from nginx. It serves its own counters on /stats, and when
// no nginx is installed it serves the stub_status page itself so the metrics-adapter has one.
import { appendFileSync, mkdirSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { dirname } from 'node:path'
import pg from 'pg'

export interface AppConfig {
  logFile: string
  databaseUrl: string
  externalApiUrl: string
  /** A page to request every tick (nginx); empty when the app serves stub_status itself. */
  nginxUrl: string
  /** Port of /stats (and /nginx_status when serveStubStatus); 0 picks one. */
  port: number
  serveStubStatus: boolean
  tickMs: number
}

export interface AppStats {
  ticks: number
  logLines: number
  queries: number
  queryErrors: number
  apiCalls: number
  apiErrors: number
  pageViews: number
  pageErrors: number
  lastError: string
  lastApiAnswer: string
}

const LEVELS = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'INFO', 'ERROR'] as const

/** `2026-11-24 16:40:00.123`: the seed adapter's TIMESTAMP (two fields, date and time). */
function stamp(d = new Date()): string {
  return d.toISOString().replace('T', ' ').replace('Z', '')
}

export async function startApp(cfg: AppConfig) {
  const stats: AppStats = {
    ticks: 0,
    logLines: 0,
    queries: 0,
    queryErrors: 0,
    apiCalls: 0,
    apiErrors: 0,
    pageViews: 0,
    pageErrors: 0,
    lastError: '',
    lastApiAnswer: '',
  }
  mkdirSync(dirname(cfg.logFile), { recursive: true })
  const log = (level: string, message: string) => {
    appendFileSync(cfg.logFile, `${stamp()} ${level} ${message}\n`)
    stats.logLines++
  }

  // stub_status counters, when the app stands in for nginx: every HTTP request it serves counts.
  const stub = { accepted: 0, handled: 0, requests: 0, active: 0 }
  const server: Server = createServer((req, res) => {
    stub.requests++
    if (req.url === '/stats') {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(stats))
    } else if (cfg.serveStubStatus && req.url === '/nginx_status') {
      // The exact format of nginx's ngx_http_stub_status_module.
      res.setHeader('content-type', 'text/plain')
      res.end(
        `Active connections: ${stub.active} \nserver accepts handled requests\n ${stub.accepted} ${stub.handled} ${stub.requests} \nReading: 0 Writing: 1 Waiting: ${Math.max(0, stub.active - 1)} \n`,
      )
    } else {
      res.statusCode = 404
      res.end('not found\n')
    }
  })
  server.on('connection', (s) => {
    stub.accepted++
    stub.handled++
    stub.active++
    s.once('close', () => stub.active--)
  })
  await new Promise<void>((r) => server.listen(cfg.port, '127.0.0.1', r))
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0

  const pool = new pg.Pool({ connectionString: cfg.databaseUrl, max: 4 })
  pool.on('error', (err) => {
    stats.lastError = `pool: ${err.message}`
  })
  let schemaReady = false

  const tick = async () => {
    stats.ticks++
    const level = LEVELS[stats.ticks % LEVELS.length]!
    try {
      if (!schemaReady) {
        await pool.query(
          'CREATE TABLE IF NOT EXISTS visits (id serial PRIMARY KEY, at timestamptz DEFAULT now())',
        )
        schemaReady = true
      }
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        await client.query('INSERT INTO visits DEFAULT VALUES')
        const r = await client.query<{ n: string }>('SELECT count(*) AS n FROM visits')
        await client.query('COMMIT')
        stats.queries++
        log(level, `visit recorded; ${r.rows[0]!.n} visits so far`)
      } finally {
        client.release()
      }
    } catch (err) {
      stats.queryErrors++
      stats.lastError = `db: ${(err as Error).message}`
      log('ERROR', `database call failed: ${(err as Error).message}`)
    }
    try {
      const res = await fetch(`${cfg.externalApiUrl}/v1/quote?tick=${stats.ticks}`)
      const body = await res.text()
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${body.slice(0, 80)}`)
      stats.apiCalls++
      stats.lastApiAnswer = body.trim()
      log('INFO', `external API answered ${res.status}`)
    } catch (err) {
      stats.apiErrors++
      stats.lastError = `api: ${(err as Error).message}`
      log('WARN', `external API call failed: ${(err as Error).message}`)
    }
    if (cfg.nginxUrl) {
      try {
        const res = await fetch(cfg.nginxUrl)
        await res.arrayBuffer()
        stats.pageViews++
      } catch (err) {
        stats.pageErrors++
        stats.lastError = `nginx: ${(err as Error).message}`
      }
    }
  }

  let running = true
  let current: Promise<void> = Promise.resolve()
  const loop = async () => {
    while (running) {
      current = tick()
      await current
      await new Promise((r) => setTimeout(r, cfg.tickMs))
    }
  }
  log('INFO', 'demo app started')
  const looping = loop()

  return {
    port,
    stats,
    async stop() {
      running = false
      await current
      await looping
      log('INFO', 'demo app stopped')
      await pool.end().catch(() => {})
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

/** The app as its own process (`main.js app`), configured by env as in the compose file. */
export async function appMain(env = process.env): Promise<void> {
  const app = await startApp({
    logFile: env.LOG_FILE ?? '/var/log/app/application.log',
    databaseUrl: env.DATABASE_URL ?? 'postgres://myapp:change-me@localhost:5432/myapp',
    externalApiUrl: env.EXTERNAL_API_URL ?? 'http://localhost:8001',
    nginxUrl: env.NGINX_URL ?? '',
    port: Number(env.APP_PORT ?? 0),
    serveStubStatus: env.SERVE_STUB_STATUS === 'true',
    tickMs: Number(env.TICK_MS ?? 500),
  })
  process.stdout.write(`${JSON.stringify({ msg: 'demo app ready', port: app.port })}\n`)
  const stop = async (signal: string) => {
    process.stdout.write(`${JSON.stringify({ msg: `demo app stopping on ${signal}`, stats: app.stats })}\n`)
    await app.stop()
    process.exit(0)
  }
  process.once('SIGTERM', () => void stop('SIGTERM'))
  process.once('SIGINT', () => void stop('SIGINT'))
}

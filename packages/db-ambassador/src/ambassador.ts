// The ambassador: accepts clients, keeps one pool per (database, user), runs housekeeping
// (timeouts, reserve pool, min_pool_size), forwards CancelRequests, and drains on stop.

import { readFileSync } from 'node:fs'
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net'
import { createSecureContext, type SecureContext } from 'node:tls'
import { acceptOnSharedRead, type Logger, type Registry } from '@podkit/runtime'
import { adminQuery } from './admin-console.ts'
import { type ScramSecret, scramSecretFromPassword } from './auth/scram.ts'
import { loadUserlist, parseUserlist, type UserSecret } from './auth/userlist.ts'
import { clock } from './clock.ts'
import type { AmbassadorConfig } from './config.ts'
import type { DatabaseEntry, PoolMode } from './connstring.ts'
import { createMetrics, type LoginCounts, type Metrics } from './metrics.ts'
import { type ConnectionLimits, Pool, type PoolSettings } from './pool.ts'
import { StatementRegistry } from './prepared-statements.ts'
import { SqlState } from './protocol/message-types.ts'
import * as out from './protocol/serializer.ts'
import { clearTlsFileCache, type ServerTarget } from './server-conn.ts'
import { ClientSession, type ScramKeys, type SessionHost } from './session.ts'
import { SHARED_READ } from './shared-read.ts'

export interface AmbassadorDeps {
  logger: Logger
  registry?: Registry
  /** Re-reads the configuration for RELOAD and SIGHUP; without it RELOAD only re-reads auth_file. */
  loadConfig?: () => AmbassadorConfig
  /** SHUTDOWN from the admin console; defaults to stop(). */
  onShutdown?: () => void
}

export class Ambassador implements SessionHost {
  config: AmbassadorConfig
  readonly logger: Logger
  users = new Map<string, UserSecret>()
  readonly statements = new StatementRegistry()
  clientTls: SecureContext | undefined
  draining = false
  readonly clients = new Set<ClientSession>()
  /**
   * Connections that have not logged in yet. client_login_timeout is checked against these by
   * the housekeeping tick (every 200 ms) instead of a timer per connection.
   */
  private readonly loggingIn = new Set<ClientSession>()
  readonly pools = new Map<string, Pool>()
  private readonly byPid = new Map<number, ClientSession>()
  private readonly scramByUser = new Map<string, ScramKeys>()
  private readonly scramCache = new Map<string, ScramSecret>()
  private readonly perDb = new Map<string, number>()
  private readonly perUser = new Map<string, number>()
  private readonly servers: Server[] = []
  private sockets = 0
  private timer: NodeJS.Timeout | undefined
  private probeTimer: NodeJS.Timeout | undefined
  private reachable = new Map<string, boolean>()
  private probed = false
  readonly metrics: Metrics | undefined
  /** Counted here, rendered at scrape: no label hashing per login. */
  readonly logins: LoginCounts = { ok: 0, failed: 0 }

  constructor(
    config: AmbassadorConfig,
    private readonly deps: AmbassadorDeps,
  ) {
    this.config = config
    this.logger = deps.logger
    this.loadUsers()
    this.clientTls = this.makeClientTls()
    if (deps.registry)
      this.metrics = createMetrics(deps.registry, {
        pools: () => this.pools.values(),
        clientCount: () => this.sockets,
        logins: this.logins,
      })
  }

  private loadUsers(): void {
    const users = this.config.authFile ? loadUserlist(this.config.authFile) : new Map<string, UserSecret>()
    if (this.config.userlist)
      for (const [u, s] of parseUserlist(this.config.userlist, 'userlist')) users.set(u, s)
    this.users = users
  }

  private makeClientTls(): SecureContext | undefined {
    const t = this.config.clientTls
    if (t.sslmode === 'disable') return undefined
    return createSecureContext({
      key: readFileSync(t.keyFile),
      cert: readFileSync(t.certFile),
      ca: t.caFile ? readFileSync(t.caFile) : undefined,
    })
  }

  async start(): Promise<void> {
    // listen_addr is a comma-separated list, as in PgBouncer; `*` is every address (Node's
    // default: `::`, dual-stack, or 0.0.0.0 without IPv6).
    const hosts = this.config.listenAddr
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean)
      .map((h) => (h === '*' ? undefined : h))
    if (hosts.length === 0) hosts.push(undefined)
    let port = this.config.listenPort
    for (const host of hosts) {
      // Paused on accept: a client is moved onto the shared read buffer before its first read.
      const server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.accept(socket))
      this.servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, () => {
          server.off('error', reject)
          resolve()
        })
      })
      // listen_port 0: the other addresses take the port the first one got.
      if (port === 0) port = (server.address() as { port: number }).port
      // Plain clients: one socket per connection, built on the shared read buffer from the accept
      // itself. With client TLS configured (also after a RELOAD) a connection takes net.Server's
      // path: TLS after an SSLRequest needs the ordinary stream socket.
      acceptOnSharedRead(
        server,
        { buffer: SHARED_READ },
        () => this.clientTls === undefined,
        (make) => {
          this.sockets++
          this.loggingIn.add(new ClientSession(make, this))
        },
      )
    }
    this.logger.info(
      { address: `${this.address().host}:${this.address().port}`, poolMode: this.config.poolMode },
      'Accepting PostgreSQL clients.',
    )
    this.timer = setInterval(() => this.housekeeping(), 200)
    this.timer.unref()
    void this.probe()
    this.probeTimer = setInterval(() => void this.probe(), 5000)
    this.probeTimer.unref()
    for (const p of this.pools.values()) p.grow(false)
  }

  address(): { host: string; port: number } {
    const a = this.servers[0]?.address()
    return typeof a === 'object' && a ? { host: a.address, port: a.port } : { host: '', port: 0 }
  }

  private accept(socket: Socket): void {
    this.sockets++
    // Client TLS (possible after an SSLRequest) needs an ordinary stream socket to wrap.
    this.loggingIn.add(new ClientSession(socket, this, this.clientTls === undefined))
  }

  /** A client socket closed (logged in or not). */
  closed(s: ClientSession): void {
    this.sockets--
    this.loggingIn.delete(s)
  }

  // ---- SessionHost ----------------------------------------------------------------------

  clientCount(): number {
    return this.sockets
  }

  loggedIn(s: ClientSession): void {
    this.loggingIn.delete(s)
  }

  register(s: ClientSession): void {
    this.clients.add(s)
    this.byPid.set(s.pid, s)
    this.logins.ok++
  }

  unregister(s: ClientSession): void {
    this.clients.delete(s)
    this.byPid.delete(s.pid)
  }

  findDatabase(name: string): DatabaseEntry | undefined {
    const e = this.config.databaseEntries.get(name)
    if (e) return e
    const any = this.config.databaseEntries.get('*')
    return any ? { ...any, name, dbname: any.dbname || name } : undefined
  }

  poolFor(db: DatabaseEntry, clientUser: string, scram: ScramKeys | undefined): Pool {
    const user = db.user ?? clientUser
    if (scram && user === clientUser) this.scramByUser.set(user, scram)
    const key = `${db.name}\0${user}`
    let pool = this.pools.get(key)
    if (!pool) {
      pool = new Pool(db, user, this.targetFor(db, user), this.settingsFor(db), this.limits, this.logger)
      const m = this.metrics
      // One series per pool, found once: observing is then a bucket search and two additions.
      if (m) {
        const wait = m.waitDuration.seriesFor({ database: db.name })
        const query = m.queryDuration.seriesFor({ database: db.name })
        pool.observeWait = (s) => m.waitDuration.observe(wait, s)
        pool.observeQuery = (s) => m.queryDuration.observe(query, s)
      }
      pool.paused = this.isPaused(db.name)
      this.pools.set(key, pool)
    } else if (!pool.target.scram && this.scramByUser.has(user)) pool.target = this.targetFor(db, user)
    return pool
  }

  private targetFor(db: DatabaseEntry, user: string): ServerTarget {
    let password = db.password
    if (password === undefined) {
      const s = this.users.get(user)
      if (s?.kind === 'plain') password = s.password
      else if (s?.kind === 'md5') password = s.secret
    }
    return {
      hosts: db.hosts,
      database: db.dbname,
      user,
      password,
      scram: this.scramByUser.get(user),
      startupParams: db.startupParams,
      tls: this.config.serverTls,
      connectTimeout: this.config.serverConnectTimeout,
      needPrimary: db.hosts.length > 1,
      connectQuery: db.connectQuery,
      maxPacketSize: this.config.maxPacketSize,
    }
  }

  private settingsFor(db: DatabaseEntry): PoolSettings {
    const c = this.config
    return {
      poolSize: db.poolSize ?? c.defaultPoolSize,
      minPoolSize: db.minPoolSize ?? c.minPoolSize,
      reservePool: db.reservePool ?? c.reservePoolSize,
      reservePoolTimeout: c.reservePoolTimeout,
      poolMode: db.poolMode ?? (c.poolMode as PoolMode),
      serverLoginRetry: c.serverLoginRetry,
      serverIdleTimeout: c.serverIdleTimeout,
      serverLifetime: c.serverLifetime,
      serverCheckQuery: c.serverCheckQuery,
      serverCheckDelay: c.serverCheckDelay,
      serverResetQuery: c.serverResetQuery,
      serverResetQueryAlways: c.serverResetQueryAlways,
      connectTimeout: c.serverConnectTimeout,
    }
  }

  private readonly limits: ConnectionLimits = {
    canOpen: (pool) => {
      const maxDb = pool.database.maxDbConnections ?? this.config.maxDbConnections
      if (maxDb > 0 && (this.perDb.get(pool.database.name) ?? 0) >= maxDb) return false
      const maxUser = this.config.maxUserConnections
      return !(maxUser > 0 && (this.perUser.get(pool.user) ?? 0) >= maxUser)
    },
    opened: (pool) => {
      this.perDb.set(pool.database.name, (this.perDb.get(pool.database.name) ?? 0) + 1)
      this.perUser.set(pool.user, (this.perUser.get(pool.user) ?? 0) + 1)
    },
    closed: (pool) => {
      this.perDb.set(pool.database.name, (this.perDb.get(pool.database.name) ?? 1) - 1)
      this.perUser.set(pool.user, (this.perUser.get(pool.user) ?? 1) - 1)
      // A slot freed in a shared limit may let another pool's waiting clients in.
      for (const p of this.pools.values()) if (p !== pool && p.waiters.length > 0) p.grow(false)
    },
  }

  cancel(pid: number, key: number): void {
    const s = this.byPid.get(pid)
    if (!s || s.cancelKey !== key) return
    const server = s.linkedServer
    if (!server) return
    const sock = netConnect({ host: server.host, port: server.port }, () => {
      sock.end(out.cancelRequest(server.pid, server.key))
    })
    // Until PostgreSQL closes this connection the cancel may still land: the server is not given
    // to another client before (Pool.release).
    server.cancelsInFlight++
    sock.once('close', () => {
      if (--server.cancelsInFlight > 0 || !server.onCancelsDone) return
      const done = server.onCancelsDone
      server.onCancelsDone = undefined
      done()
    })
    sock.on('error', (err) => this.logger.warn({ err }, 'Could not forward a CancelRequest to the server.'))
    sock.setTimeout(this.config.serverConnectTimeout, () => sock.destroy())
  }

  admin(session: ClientSession, sql: string): Buffer[] | Promise<Buffer[]> {
    return adminQuery(this, session, sql)
  }

  scramSecretFor(user: string, password: string): ScramSecret {
    const k = `${user}\0${password}`
    let s = this.scramCache.get(k)
    if (!s) {
      s = scramSecretFromPassword(password)
      this.scramCache.set(k, s)
    }
    return s
  }

  countError(type: string): void {
    this.metrics?.errors.inc({ type })
    if (type === 'client_auth') this.logins.failed++
  }

  observeQuery(pool: Pool, seconds: number): void {
    pool.observeQuery?.(seconds)
  }

  // ---- housekeeping ---------------------------------------------------------------------

  private housekeeping(): void {
    const now = clock()
    const c = this.config
    if (c.clientLoginTimeout > 0)
      for (const s of this.loggingIn) {
        if (now - s.connectTime <= c.clientLoginTimeout) continue
        this.loggingIn.delete(s)
        if (s.phase === 'ready' || s.phase === 'closed') continue
        this.countError('client_login_timeout')
        s.fatal(SqlState.protocolViolation, 'client_login_timeout', 'client_login_timeout')
      }
    this.checkPauseWaits()
    for (const pool of this.pools.values()) {
      pool.tick(now, c.queryWaitTimeout, (client) => {
        this.countError('query_wait_timeout')
        ;(client as ClientSession).fatal(
          SqlState.protocolViolation,
          'query_wait_timeout',
          'query_wait_timeout',
        )
      })
    }
    for (const s of this.clients) {
      if (s.phase !== 'ready') continue
      if (c.clientIdleTimeout > 0 && s.idle && now - s.lastActivity > c.clientIdleTimeout) {
        this.countError('client_idle_timeout')
        s.fatal(SqlState.protocolViolation, 'client_idle_timeout', 'client_idle_timeout')
      } else if (
        c.idleTransactionTimeout > 0 &&
        s.idleInTxSince > 0 &&
        s.idleInTransaction &&
        now - s.idleInTxSince > c.idleTransactionTimeout
      ) {
        this.countError('idle_transaction_timeout')
        s.fatal(SqlState.idleInTransactionTimeout, 'idle transaction timeout', 'idle_transaction_timeout')
      }
    }
  }

  /** Login timeout for connections that never log in: checked on a slower path via the socket. */
  private async probe(): Promise<void> {
    const entries = [...this.config.databaseEntries.values()].filter((d) => d.name !== '*')
    await Promise.all(
      entries.map(async (d) => {
        let ok = false
        for (const h of d.hosts) {
          ok = await tcpReachable(h.host, h.port, Math.min(this.config.serverConnectTimeout, 3000))
          if (ok) break
        }
        const was = this.reachable.get(d.name)
        if (was !== ok && was !== undefined)
          this.logger[ok ? 'info' : 'warn'](
            { database: d.name },
            ok ? 'Upstream reachable again.' : 'Upstream unreachable.',
          )
        this.reachable.set(d.name, ok)
      }),
    )
    this.probed = true
  }

  /** Ready when every configured database has a host that accepts TCP connections. */
  ready(): true | string {
    if (!this.probed) return 'upstream not checked yet'
    const down = [...this.reachable].filter(([, ok]) => !ok).map(([n]) => n)
    return down.length === 0 ? true : `upstream unreachable: ${down.join(', ')}`
  }

  // ---- admin commands ---------------------------------------------------------------------

  /** PAUSE without a database name: every pool, also those opened while paused. */
  private pausedAll = false
  /** PAUSE <db>: pools of these databases, also those opened while paused. */
  private readonly pausedDbs = new Set<string>()
  /** PAUSE commands waiting for their pools' servers to be released (checked every tick). */
  private pauseWaits: Array<{ db: string | undefined; done: () => void }> = []

  isPaused(db: string): boolean {
    return this.pausedAll || this.pausedDbs.has(db)
  }

  /**
   * PAUSE [db], as PgBouncer: idle servers close now, servers in use close when their client
   * releases them, new requests wait; resolves once no server of those pools is in use, so that
   * "PAUSE; restart PostgreSQL; RESUME" cuts no transaction.
   */
  pause(db?: string): Promise<void> {
    if (db) this.pausedDbs.add(db)
    else this.pausedAll = true
    for (const p of this.pools.values())
      if (!db || p.database.name === db) {
        p.paused = true
        for (const s of [...p.idle]) p.drop(s)
      }
    return new Promise((done) => {
      this.pauseWaits.push({ db, done })
      this.checkPauseWaits()
    })
  }

  private checkPauseWaits(): void {
    if (this.pauseWaits.length === 0) return
    this.pauseWaits = this.pauseWaits.filter((w) => {
      for (const p of this.pools.values())
        if ((!w.db || p.database.name === w.db) && p.paused && p.active.size + p.busy.size > 0) return true
      w.done()
      return false
    })
  }

  resume(db?: string): void {
    if (db) this.pausedDbs.delete(db)
    else {
      this.pausedAll = false
      this.pausedDbs.clear()
    }
    for (const p of this.pools.values()) if (!this.isPaused(p.database.name)) p.resume()
    // A PAUSE still waiting has nothing left to wait for.
    this.checkPauseWaits()
  }

  requestReload(): void {
    try {
      this.reload(this.deps.loadConfig?.() ?? this.config)
      this.logger.info('Configuration reloaded (RELOAD).')
    } catch (err) {
      this.logger.error({ err }, 'RELOAD failed; the previous configuration stays in force.')
    }
  }

  requestShutdown(): void {
    if (this.deps.onShutdown) this.deps.onShutdown()
    else
      void this.stop({
        deadline: Date.now() + this.config.shutdown.grace,
        signal: new AbortController().signal,
      })
  }

  /** Applies a new configuration: users, pool settings, changed databases (their servers close when idle). */
  reload(config: AmbassadorConfig): void {
    const old = this.config
    this.config = config
    this.loadUsers()
    clearTlsFileCache()
    this.clientTls = this.makeClientTls()
    this.scramCache.clear()
    for (const [key, pool] of this.pools) {
      const entry = config.databaseEntries.get(pool.database.name) ?? config.databaseEntries.get('*')
      const before = old.databaseEntries.get(pool.database.name) ?? old.databaseEntries.get('*')
      if (!entry) {
        pool.closeAll()
        if (pool.clientCount === 0) this.pools.delete(key)
        continue
      }
      const db =
        entry.name === '*'
          ? { ...entry, name: pool.database.name, dbname: entry.dbname || pool.database.name }
          : entry
      if (JSON.stringify(entry) !== JSON.stringify(before)) pool.closeAll()
      pool.settings = this.settingsFor(db)
      pool.target = this.targetFor(db, pool.user)
    }
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** Stops accepting, lets transactions in flight finish until the deadline, then closes everything. */
  async stop(ctx: { deadline: number; signal: AbortSignal }): Promise<void> {
    this.draining = true
    const closed = Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))))
    for (;;) {
      for (const s of [...this.clients]) {
        if (!s.inTransaction && !s.waiting)
          s.fatal(SqlState.adminShutdown, 'pgbouncer is shutting down', 'draining', false)
      }
      if (this.clients.size === 0 || ctx.signal.aborted || Date.now() >= ctx.deadline) break
      await new Promise((r) => setTimeout(r, 50))
    }
    for (const s of [...this.clients])
      s.fatal(SqlState.adminShutdown, 'pgbouncer is shutting down', 'draining', false)
    for (const p of this.pools.values()) {
      for (const w of p.waiters.splice(0)) w.onPoolError(new Error('shutting down'))
      for (const s of [...p.idle, ...p.active, ...p.busy]) p.drop(s)
    }
    clearInterval(this.timer)
    clearInterval(this.probeTimer)
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))])
  }
}

function tcpReachable(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host, port })
    const done = (ok: boolean) => {
      s.destroy()
      resolve(ok)
    }
    s.setTimeout(timeoutMs, () => done(false))
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
  })
}

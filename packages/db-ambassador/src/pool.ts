// A pool of server connections for one (database, user) pair: idle servers (reused newest
// first), a FIFO queue of waiting clients, the reserve pool after reserve_pool_timeout, and the
// counters SHOW STATS and /metrics report.

import type { Logger } from '@podkit/runtime'
import { clock } from './clock.ts'
import type { DatabaseEntry, PoolMode } from './connstring.ts'
import { ServerLoginError, TlsError } from './errors.ts'
import { ServerConn, type ServerTarget } from './server-conn.ts'

/** PgBouncer's words for a client refused while server logins keep failing (applications match them). */
export const LOGIN_FAILING = 'server login has been failing, try again later (server_login_retry)'

/** What a pool needs from a waiting client session. */
export interface PoolClient {
  /** The pool hands over a server (at `now`, clock()): the client is now linked to it. */
  onServer(server: ServerConn, now: number): void
  /** No server can be had (login failed, timeout); the client is told and closed. */
  onPoolError(err: Error): void
  waitStart: number
}

export interface PoolSettings {
  poolSize: number
  minPoolSize: number
  reservePool: number
  reservePoolTimeout: number
  poolMode: PoolMode
  serverLoginRetry: number
  serverIdleTimeout: number
  serverLifetime: number
  serverCheckQuery: string
  serverCheckDelay: number
  serverResetQuery: string
  serverResetQueryAlways: boolean
  connectTimeout: number
}

export interface PoolStats {
  xactCount: number
  queryCount: number
  received: number
  sent: number
  xactTimeUs: number
  queryTimeUs: number
  waitTimeUs: number
  errors: number
}

/** Global limits across pools (max_db_connections, max_user_connections). */
export interface ConnectionLimits {
  canOpen(pool: Pool): boolean
  opened(pool: Pool): void
  closed(pool: Pool): void
}

export class Pool {
  readonly idle: ServerConn[] = []
  readonly active = new Set<ServerConn>()
  /** Servers out of both lists for a moment: being reset or checked. */
  readonly busy = new Set<ServerConn>()
  connecting = 0
  readonly waiters: PoolClient[] = []
  readonly stats: PoolStats = {
    xactCount: 0,
    queryCount: 0,
    received: 0,
    sent: 0,
    xactTimeUs: 0,
    queryTimeUs: 0,
    waitTimeUs: 0,
    errors: 0,
  }
  /** Parameters of the first server login, sent to clients as their ParameterStatus set. */
  welcome: Map<string, string> | undefined
  /** AuthenticationOk + ParameterStatus bytes by client parameter signature (see ClientSession). */
  readonly welcomeCache = new Map<string, Buffer>()
  paused = false
  /** A failed login blocks new attempts until this time (server_login_retry). */
  retryAfter = 0
  lastError: Error | undefined
  private hostIndex = 0
  clientCount = 0
  /** Called with each client's wait for a server, in seconds (the wait histogram). */
  observeWait: ((seconds: number) => void) | undefined
  /** Called with each request's duration, in seconds (the query histogram). */
  observeQuery: ((seconds: number) => void) | undefined
  /** Handler of servers in the idle list: swallow stray notices, forget servers that close. */
  private readonly idleHandler = {
    onServerData: (s: ServerConn) => {
      try {
        for (let f = s.nextFrame(); f; f = s.nextFrame()) if (f[0] === 0x53) s.noteParameter(f)
      } catch {
        this.drop(s)
      }
    },
    onServerClose: (s: ServerConn) => this.drop(s),
  }

  constructor(
    readonly database: DatabaseEntry,
    readonly user: string,
    public target: ServerTarget,
    public settings: PoolSettings,
    private readonly limits: ConnectionLimits,
    private readonly logger: Logger,
  ) {}

  get name() {
    return `${this.database.name}/${this.user}`
  }

  get total() {
    return this.idle.length + this.active.size + this.busy.size + this.connecting
  }

  /** Links a server to the client now, or queues the client. `now`: clock(), if the caller has it. */
  acquire(client: PoolClient, now = clock()): void {
    client.waitStart = now
    if (!this.paused && this.waiters.length === 0) {
      const server = this.takeIdle()
      if (server) {
        this.give(server, client, now)
        return
      }
    }
    // The server refused our login and no server is left: until server_login_retry passes, a
    // new attempt would only fail again. Fail the client now, as PgBouncer's check_fast_fail,
    // instead of keeping it waiting for query_wait_timeout.
    if (
      (this.lastError instanceof ServerLoginError || this.lastError instanceof TlsError) &&
      now < this.retryAfter &&
      this.idle.length + this.active.size + this.busy.size === 0
    ) {
      client.onPoolError(new ServerLoginError(LOGIN_FAILING))
      return
    }
    this.waiters.push(client)
    this.grow(false)
  }

  cancelWait(client: PoolClient): void {
    const i = this.waiters.indexOf(client)
    if (i >= 0) this.waiters.splice(i, 1)
  }

  private takeIdle(): ServerConn | undefined {
    for (;;) {
      const s = this.idle.pop()
      if (!s) return undefined
      if (!s.closed) return s
    }
  }

  private give(server: ServerConn, client: PoolClient, now: number): void {
    const st = this.settings
    if (st.serverCheckQuery && st.serverCheckDelay > 0 && now - server.lastUsed > st.serverCheckDelay) {
      // An old idle server may have been dropped by a firewall or a restart: check before use.
      this.busy.add(server)
      server.runInternal(st.serverCheckQuery, st.connectTimeout).then(
        () => {
          this.busy.delete(server)
          const t = clock()
          server.lastUsed = t
          this.give(server, client, t)
        },
        () => {
          this.busy.delete(server)
          this.drop(server)
          this.acquire(client)
        },
      )
      return
    }
    const waited = now - client.waitStart
    this.stats.waitTimeUs += Math.round(waited * 1000)
    this.observeWait?.(waited / 1000)
    this.active.add(server)
    server.linkedAt = now
    client.onServer(server, now)
  }

  /** A client is done with a server; `clean` means idle, nothing outstanding. */
  release(server: ServerConn, clean: boolean, sessionEnded: boolean, now = clock()): void {
    this.active.delete(server)
    server.handler = undefined
    if (!clean || server.closed) {
      this.drop(server)
      this.grow(false)
      return
    }
    if (server.cancelsInFlight > 0) {
      // A CancelRequest sent for the last client may still reach PostgreSQL: the next client's
      // query would be the one cancelled. The server waits until PostgreSQL has taken every
      // cancel (it closes their connections), as PgBouncer's sv_being_canceled.
      this.busy.add(server)
      server.handler = this.idleHandler
      server.onCancelsDone = () => {
        this.busy.delete(server)
        this.release(server, clean, sessionEnded)
      }
      return
    }
    const st = this.settings
    if (sessionEnded && st.serverResetQuery && (st.poolMode === 'session' || st.serverResetQueryAlways)) {
      this.busy.add(server)
      server.runInternal(st.serverResetQuery, st.connectTimeout).then(
        () => {
          this.busy.delete(server)
          server.prepared.clear()
          this.putBack(server, clock())
        },
        (err) => {
          this.busy.delete(server)
          this.logger.warn({ err, pool: this.name }, 'server_reset_query failed; closing that server.')
          this.drop(server)
          this.grow(false)
        },
      )
      return
    }
    this.putBack(server, now)
  }

  private putBack(server: ServerConn, now: number): void {
    server.lastUsed = now
    const st = this.settings
    if (
      server.closed ||
      server.closeNeeded ||
      // PAUSE closes every server as it is released (PgBouncer's "pause mode").
      this.paused ||
      (st.serverLifetime > 0 && now - server.createdAt > st.serverLifetime) ||
      this.total > this.maxSize()
    ) {
      this.drop(server)
      this.grow(false)
      return
    }
    const w = this.waiters.shift()
    if (w) {
      this.give(server, w, now)
      return
    }
    server.handler = this.idleHandler
    this.idle.push(server)
  }

  drop(server: ServerConn): void {
    this.active.delete(server)
    this.busy.delete(server)
    const i = this.idle.indexOf(server)
    if (i >= 0) this.idle.splice(i, 1)
    if (!server.closed) server.close()
    if (!(server as { counted?: boolean }).counted) return
    ;(server as { counted?: boolean }).counted = false
    this.limits.closed(this)
  }

  private maxSize(): number {
    return this.settings.poolSize
  }

  /**
   * Opens servers for waiting clients within pool_size; with `reserve`, also within the
   * reserve pool for clients that waited reserve_pool_timeout. Also keeps min_pool_size.
   */
  grow(reserve: boolean): void {
    if (this.paused) return
    const limit = this.settings.poolSize + (reserve ? this.settings.reservePool : 0)
    const wanted = Math.max(this.waiters.length - this.connecting, this.settings.minPoolSize - this.total)
    // A full pool is the common case (a client queues behind busy servers): decided without the clock.
    if (wanted <= 0 || this.total >= limit || clock() < this.retryAfter) return
    for (let i = 0; i < wanted && this.total < limit; i++) {
      if (!this.limits.canOpen(this)) return
      this.launch()
    }
  }

  private launch(): void {
    this.connecting++
    this.limits.opened(this)
    ServerConn.open(this.target, this.hostIndex).then(
      ({ conn, hostIndex }) => {
        this.connecting--
        ;(conn as { counted?: boolean }).counted = true
        if (hostIndex !== this.hostIndex) {
          if (this.target.hosts.length > 1)
            this.logger.warn(
              { pool: this.name, host: `${conn.host}:${conn.port}` },
              'Server connections now go to another host (failover or first discovery).',
            )
          this.hostIndex = hostIndex
        }
        this.lastError = undefined
        if (!this.welcome) this.welcome = new Map(conn.params)
        this.putBack(conn, clock())
      },
      (err: Error) => {
        this.connecting--
        this.limits.closed(this)
        this.stats.errors++
        this.lastError = err
        this.retryAfter = clock() + this.settings.serverLoginRetry
        this.logger.error(
          { err: { message: err.message, code: (err as { code?: string }).code }, pool: this.name },
          'Cannot open a server connection.',
        )
        // A login or TLS handshake refused by the server will be refused again: tell the waiting
        // clients now. An unreachable server, or no primary yet during a failover, may come
        // back: clients keep waiting up to query_wait_timeout.
        if (err instanceof ServerLoginError || err instanceof TlsError) {
          for (const w of this.waiters.splice(0)) w.onPoolError(err)
        }
        setTimeout(() => this.grow(false), this.settings.serverLoginRetry).unref()
      },
    )
  }

  /** Housekeeping: reserve pool, idle timeouts, lifetime, min_pool_size. */
  tick(now: number, queryWaitTimeout: number, onTimeout: (c: PoolClient) => void): void {
    const st = this.settings
    for (const w of [...this.waiters]) {
      if (queryWaitTimeout > 0 && now - w.waitStart > queryWaitTimeout) {
        this.cancelWait(w)
        onTimeout(w)
      }
    }
    if (
      this.waiters.length > 0 &&
      st.reservePool > 0 &&
      now - this.waiters[0]!.waitStart >= st.reservePoolTimeout
    ) {
      this.grow(true)
    }
    for (const s of [...this.idle]) {
      const idleFor = now - s.lastUsed
      if (
        s.closeNeeded ||
        (st.serverIdleTimeout > 0 && idleFor > st.serverIdleTimeout && this.total > st.minPoolSize) ||
        (st.serverLifetime > 0 && now - s.createdAt > st.serverLifetime)
      ) {
        this.drop(s)
      }
    }
    this.grow(false)
  }

  /** Closes idle servers and marks the others to close when released. */
  closeAll(): void {
    for (const s of [...this.idle]) this.drop(s)
    for (const s of this.active) s.closeNeeded = true
    for (const s of this.busy) s.closeNeeded = true
  }

  resume(): void {
    this.paused = false
    while (this.waiters.length > 0) {
      const s = this.takeIdle()
      if (!s) break
      this.give(s, this.waiters.shift()!, clock())
    }
    this.grow(false)
  }
}

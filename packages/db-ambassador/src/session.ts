// One client connection: startup (SSLRequest, GSSENCRequest, CancelRequest), login against the
// auth_file, then the pooled session. Frames are forwarded as they arrived; only what the
// pooler must see is decoded: ReadyForQuery (when to release the server), named Parse, Bind,
// Describe and Close (prepared statements across server switches) and ParameterStatus.
//
// Every message sent to the server that expects an answer is recorded in a queue, so the
// answers can be matched to requests: the server returns to the pool only on ReadyForQuery 'I'
// with nothing outstanding, answers to the pooler's own injected messages are dropped, and
// answers the pooler gives itself (a Parse already done on this server, a Close of a statement
// shared with others) are emitted in their place in the stream.

import { createHmac, randomBytes, randomFillSync, randomInt } from 'node:crypto'
import type { Socket } from 'node:net'
import { type SecureContext, TLSSocket } from 'node:tls'
import type { Logger, MakeSharedSocket } from '@podkit/runtime'
import { md5Matches, md5Secret, storedMd5Secret } from './auth/md5.ts'
import { SCRAM_MECHANISM, type ScramSecret, ScramServer, scramSecretFromPassword } from './auth/scram.ts'
import type { UserSecret } from './auth/userlist.ts'
import { clock } from './clock.ts'
import type { AmbassadorConfig } from './config.ts'
import type { DatabaseEntry, PoolMode } from './connstring.ts'
import {
  ClientAuthError,
  ClientTimeoutError,
  ProtocolError,
  QueryWaitTimeoutError,
  ServerConnectError,
  ServerLoginError,
  TlsError,
  TooManyClientsError,
  UnknownDatabaseError,
} from './errors.ts'
import type { Pool, PoolClient } from './pool.ts'
import { type ClientStatement, type StatementRegistry, serverStatementName } from './prepared-statements.ts'
import { Backend, Frontend, SqlState, StartupCode, TxStatus } from './protocol/message-types.ts'
import {
  declaredFrameLength,
  FrameBuffer,
  GATHER_MIN,
  parseStartupParams,
  readCString,
  startupFrameLength,
  typedFrameLength,
} from './protocol/parser.ts'
import * as out from './protocol/serializer.ts'
import type { ServerConn, ServerHandler } from './server-conn.ts'
import { adoptAccepted } from './shared-read.ts'

/** Parameters that follow the client from server to server (lower-case name -> name to SET). */
export const TRACKED_PARAMS: Record<string, string> = {
  client_encoding: 'client_encoding',
  datestyle: 'DateStyle',
  timezone: 'TimeZone',
  standard_conforming_strings: 'standard_conforming_strings',
  application_name: 'application_name',
  intervalstyle: 'IntervalStyle',
  search_path: 'search_path',
}

/** What a session needs from the ambassador. */
export interface SessionHost {
  config: AmbassadorConfig
  logger: Logger
  users: Map<string, UserSecret>
  statements: StatementRegistry
  clientTls: SecureContext | undefined
  draining: boolean
  clientCount(): number
  register(s: ClientSession): void
  unregister(s: ClientSession): void
  /** The client got ReadyForQuery: client_login_timeout no longer applies. */
  loggedIn(s: ClientSession): void
  /** The client's socket closed (once per connection). */
  closed(s: ClientSession): void
  findDatabase(name: string): DatabaseEntry | undefined
  poolFor(db: DatabaseEntry, clientUser: string, scram: ScramKeys | undefined): Pool
  cancel(pid: number, key: number): void
  admin(session: ClientSession, sql: string): Buffer[] | Promise<Buffer[]>
  scramSecretFor(user: string, password: string): ScramSecret
  countError(type: string): void
  observeQuery(pool: Pool, seconds: number): void
}

export interface ScramKeys {
  clientKey: Buffer
  serverKey: Buffer
  salt: Buffer
  iterations: number
}

// Request kinds in the response queue, and which server message completes each.
const K_PARSE = 1
const K_BIND = 2
const K_CLOSE = 3
const K_DESCRIBE = 4
const K_EXECUTE = 5
const K_SYNC = 6
const K_QUERY = 7
const K_FUNCTION = 8
/** Drop every answer (the pooler's own SET or reset); errors included. */
const F_DROP_ALL = 1
/** Drop the success answer only (an injected Parse); its error still reaches the client. */
const F_DROP_OK = 2
/** No server message: emit `fake` when this entry reaches the head. */
const F_FAKE = 4
/** A request whose effect the pooler applied when sending it: `undo` runs if the server refuses it. */
const F_UNDO = 8

interface Entry {
  kind: number
  flags: number
  fake?: Buffer
  /** For a Parse: the statement id marked prepared on the server, undone if it fails. */
  stmtId?: number
  clientName?: string
  onDone?: () => void
  undo?: () => void
}

// Plain requests share one frozen entry per kind: no allocation per message on the hot path.
const plain = (kind: number): Entry => Object.freeze({ kind, flags: 0 })
const E_PARSE = plain(K_PARSE)
const E_BIND = plain(K_BIND)
const E_CLOSE = plain(K_CLOSE)
const E_DESCRIBE = plain(K_DESCRIBE)
const E_EXECUTE = plain(K_EXECUTE)
const E_SYNC = plain(K_SYNC)
const E_QUERY = plain(K_QUERY)
const E_FUNCTION = plain(K_FUNCTION)

function completes(kind: number, t: number): boolean {
  switch (kind) {
    case K_PARSE:
      return t === Backend.ParseComplete
    case K_BIND:
      return t === Backend.BindComplete
    case K_CLOSE:
      return t === Backend.CloseComplete
    case K_DESCRIBE:
      return t === Backend.RowDescription || t === Backend.NoData
    case K_EXECUTE:
      return (
        t === Backend.CommandComplete || t === Backend.EmptyQueryResponse || t === Backend.PortalSuspended
      )
    case K_FUNCTION:
      return t === Backend.FunctionCallResponse
    default:
      return t === Backend.ReadyForQuery
  }
}

type Phase = 'startup' | 'auth' | 'login' | 'ready' | 'closed'

let nextPid = randomInt(1000, 1_000_000)
/** Bytes a client waiting for a server may send ahead before it is no longer read. */
const WAIT_BUFFER_LIMIT = 64 * 1024
/** The answer to SSLRequest and GSSENCRequest without encryption (never written to). */
const NO = Buffer.from('N')

// Login randomness (cancel keys, md5 salts) comes from one CSPRNG fill per 512 logins rather
// than a crypto call for each: the same generator's bytes, without the per-call cost that a
// connection-per-transaction client pays on every connect.
const RANDOM = Buffer.allocUnsafe(2048)
let randomPos = RANDOM.length
function random32(): number {
  if (randomPos + 4 > RANDOM.length) {
    randomFillSync(RANDOM)
    randomPos = 0
  }
  const v = RANDOM.readUInt32BE(randomPos)
  randomPos += 4
  return v
}

export class ClientSession implements PoolClient, ServerHandler {
  socket: Socket
  readonly in = new FrameBuffer()
  phase: Phase = 'startup'
  user = ''
  database = ''
  applicationName = ''
  isAdmin = false
  tls = false
  db: DatabaseEntry | undefined
  pool: Pool | undefined
  server: ServerConn | undefined
  waiting = false
  waitStart = 0
  readonly connectTime = clock()
  lastActivity = this.connectTime
  /** When the client last got an answer inside a transaction, for idle_transaction_timeout. */
  idleInTxSince = 0
  readonly pid = nextPid++
  readonly cancelKey = random32() & 0x7fffffff
  /** Parameters the client set at startup or with SET (lower-case names). */
  readonly params = new Map<string, string>()
  readonly statements = new Map<string, ClientStatement>()
  private mode: PoolMode = 'session'
  private rewrite = false
  /**
   * Requests awaiting answers: q[qh..qt). The array is reused (indices reset when it empties)
   * rather than truncated, which costs a runtime call per transaction.
   */
  private readonly q: Entry[] = []
  private qh = 0
  private qt = 0
  private skipUntilSync = false
  /**
   * Bytes went to the linked server since its last ReadyForQuery that emptied the queue. A
   * Parse/Bind/Execute followed by Flush (no Sync) is answered in full yet leaves the server inside
   * an implicit transaction: such a server must not reach another client, whose next query would
   * commit (or roll back) this client's work. PgBouncer's `server->ready` (objects.c).
   */
  private unsynced = false
  private queryStart = 0
  /** clock() at the first request of the transaction in progress; 0 between transactions. */
  private xactStart = 0
  private auth: AuthState | undefined
  private scramKeys: ScramKeys | undefined
  private closeReason = ''

  /**
   * `socket` is either built here on the shared read buffer (`make`, from acceptOnSharedRead), or
   * comes from a `pauseOnConnect` server: then, without client TLS, it is moved onto the shared
   * read buffer (adoptAccepted); with TLS possible it stays an ordinary stream, which TLSSocket can
   * wrap after an SSLRequest.
   */
  constructor(
    socket: Socket | MakeSharedSocket,
    private readonly host: SessionHost,
    sharedRead = false,
  ) {
    // The listening server sets TCP_NODELAY on accepted sockets (createServer noDelay).
    // Inline callbacks: a named closure per connection costs a defineProperty (the bundle keeps
    // function names).
    if (typeof socket === 'function') {
      this.socket = socket((n, buf) => this.onSharedRead(n, buf))
      this.attach(this.socket, false)
      return
    }
    const adopted = sharedRead ? adoptAccepted(socket, (n, buf) => this.onSharedRead(n, buf)) : undefined
    this.socket = adopted ?? socket
    this.attach(this.socket, adopted === undefined)
    if (!adopted) socket.resume()
  }

  /** A read into the shared buffer: handled at once; what must outlive it is copied (settle). */
  private onSharedRead(n: number, buf: Buffer): boolean {
    this.onData(buf.subarray(0, n), true)
    return true
  }

  private remoteText: string | undefined

  /**
   * For log lines only: reading the peer address is a getpeername() call, made on first use
   * (at login when connections or disconnections are logged, so it is known after the close).
   */
  private get remote(): string {
    if (this.remoteText === undefined) {
      const addr = this.socket.remoteAddress
      if (addr === undefined) return 'unknown'
      this.remoteText = `${addr}:${this.socket.remotePort}`
    }
    return this.remoteText
  }

  private attach(socket: Socket, stream: boolean) {
    if (stream) socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (err) => this.onSocketClose(`socket error: ${err.message}`))
    socket.on('close', () => this.onSocketClose('client closed the connection'))
  }

  get remoteAddr() {
    return { addr: this.socket.remoteAddress ?? '', port: this.socket.remotePort ?? 0 }
  }

  /** PgBouncer's client states: `active` covers linked and idle clients alike. */
  get state(): string {
    if (this.phase !== 'ready') return 'login'
    return this.waiting ? 'waiting' : 'active'
  }

  get idle(): boolean {
    return this.phase === 'ready' && !this.waiting && !this.server
  }

  get settings() {
    return this.host.config
  }

  /** `borrowed`: the chunk is a view of the shared read buffer, valid only during this call. */
  private onData(chunk: Buffer, borrowed = false): void {
    const now = clock()
    this.lastActivity = now
    if (this.pool) this.pool.stats.received += chunk.length
    this.in.append(chunk, borrowed)
    try {
      if (this.phase === 'ready') this.processFrames(now)
      else this.processStartup()
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.host.countError('protocol')
        this.fatal(SqlState.protocolViolation, err.message, 'protocol')
      } else {
        this.host.logger.error({ err }, 'Unexpected error in a client session; closing it.')
        this.fatal(SqlState.protocolViolation, 'internal error in the pooler', 'internal')
      }
    } finally {
      this.in.settle()
    }
  }

  // ---- startup and login -------------------------------------------------------------------

  private processStartup(): void {
    while (this.phase === 'startup' || this.phase === 'auth') {
      if (this.phase === 'startup') {
        const len = startupFrameLength(this.in.buf, this.in.pos)
        if (len < 0) return
        const packet = this.in.buf.subarray(this.in.pos, this.in.pos + len)
        this.in.pos += len
        this.onStartupPacket(packet)
      } else {
        const len = typedFrameLength(this.in.buf, this.in.pos, 65536)
        if (len < 0) return
        const frame = this.in.buf.subarray(this.in.pos, this.in.pos + len)
        this.in.pos += len
        if (frame[0] !== Frontend.Password)
          throw new ProtocolError(`expected a password message, got 0x${frame[0]!.toString(16)}`)
        this.onPassword(frame)
      }
    }
  }

  // Returns only to end early; the value is always undefined.
  private onStartupPacket(packet: Buffer) {
    const code = packet.readInt32BE(4)
    switch (code) {
      case StartupCode.SSLRequest:
        if (this.tls) throw new ProtocolError('SSLRequest after TLS was established')
        if (this.host.clientTls && this.settings.clientTls.sslmode !== 'disable') {
          if (this.in.available > 0) throw new ProtocolError('data after SSLRequest before the TLS handshake')
          this.socket.write(Buffer.from('S'))
          this.startTls()
        } else this.socket.write(NO)
        return
      case StartupCode.GSSENCRequest:
        this.socket.write(NO)
        return
      case StartupCode.CancelRequest:
        if (packet.length !== 16) throw new ProtocolError('malformed CancelRequest')
        this.host.cancel(packet.readInt32BE(8), packet.readInt32BE(12))
        this.phase = 'closed'
        this.socket.end()
        return
      case StartupCode.Protocol3:
        break
      default:
        if (code >>> 16 === 3) break // 3.x minor versions: answer as 3.0 would
        throw new ProtocolError(`unsupported frontend protocol ${code >>> 16}.${code & 0xffff}`)
    }
    const params = parseStartupParams(packet)
    this.user = params.get('user') ?? ''
    this.database = params.get('database') || this.user
    if (!this.user)
      return this.fatal(SqlState.protocolViolation, 'no user name in the startup packet', 'startup')
    const tlsMode = this.settings.clientTls.sslmode
    if (!this.tls && (tlsMode === 'require' || tlsMode === 'verify-ca' || tlsMode === 'verify-full'))
      return this.fatal(SqlState.invalidAuthorization, 'SSL required', 'tls')
    for (const [k, v] of params) {
      const lk = k.toLowerCase()
      if (lk === 'user' || lk === 'database') continue
      if (TRACKED_PARAMS[lk]) this.params.set(lk, v)
      else if (!this.settings.ignoreStartupParameters.map((p) => p.toLowerCase()).includes(lk))
        return this.fatal(SqlState.protocolViolation, `unsupported startup parameter: ${k}`, 'startup')
    }
    this.applicationName = this.params.get('application_name') ?? ''
    if (this.host.draining)
      return this.fatal(SqlState.cannotConnectNow, 'pgbouncer is shutting down', 'draining')
    if (this.host.clientCount() > this.settings.maxClientConn) {
      this.host.countError('max_client_conn')
      return this.fatal(
        SqlState.tooManyConnections,
        'no more connections allowed (max_client_conn)',
        'max_client_conn',
      )
    }
    if (this.database === 'pgbouncer') {
      this.isAdmin = true
      const allowed = [...this.settings.adminUsers, ...this.settings.statsUsers]
      if (!allowed.includes(this.user) && this.settings.authType !== 'any')
        return this.fatal(SqlState.invalidAuthorization, 'not allowed', 'admin')
    } else {
      this.db = this.host.findDatabase(this.database)
      if (!this.db)
        return this.fatal(
          SqlState.invalidCatalogName,
          `no such database: ${this.database}`,
          'unknown_database',
        )
    }
    this.phase = 'auth'
    this.startAuth()
  }

  private startTls(): void {
    const plain = this.socket
    plain.removeAllListeners('data')
    plain.removeAllListeners('close')
    plain.removeAllListeners('error')
    const verify = ['verify-ca', 'verify-full'].includes(this.settings.clientTls.sslmode)
    const tls = new TLSSocket(plain, {
      isServer: true,
      secureContext: this.host.clientTls!,
      requestCert: verify,
      rejectUnauthorized: verify,
    })
    this.socket = tls
    this.tls = true
    this.attach(tls, true)
  }

  // Returns only to end early; the value is always undefined.
  private startAuth() {
    const type = this.settings.authType
    if (type === 'any') return this.loginOk()
    const secret = this.host.users.get(this.user)
    // trust checks no password, but the user must still be in auth_file (PgBouncer's rule): the
    // userlist stays the list of who may connect.
    if (type === 'trust') return secret ? this.loginOk() : this.authFailed()
    const state: AuthState = { secret, method: 'plain' }
    this.auth = state
    if (type === 'plain') {
      this.socket.write(out.authCleartext())
      return
    }
    const useScram = type === 'scram-sha-256' || secret?.kind === 'scram'
    if (useScram) {
      state.method = 'scram'
      this.socket.write(out.authSasl([SCRAM_MECHANISM]))
      return
    }
    state.method = 'md5'
    state.salt = Buffer.allocUnsafe(4)
    state.salt.writeUInt32BE(random32())
    this.socket.write(out.authMd5(state.salt))
  }

  // Returns only to end early; the value is always undefined.
  private onPassword(frame: Buffer) {
    const st = this.auth!
    const secret = st.secret
    if (st.method === 'scram') {
      if (!st.scram) {
        // SASLInitialResponse: mechanism, int32 length, client-first-message
        const [mech, p] = readCString(frame, 5)
        if (mech !== SCRAM_MECHANISM) throw new ProtocolError(`unsupported SASL mechanism ${mech}`)
        const n = frame.readInt32BE(p)
        const first = frame.toString('utf8', p + 4, p + 4 + n)
        // An unknown user or an md5 secret gets a made-up verifier, so the exchange looks the same.
        const verifier =
          secret?.kind === 'scram'
            ? secret.secret
            : secret?.kind === 'plain'
              ? this.host.scramSecretFor(this.user, secret.password)
              : mockScramSecret(this.user)
        st.scram = new ScramServer(verifier)
        try {
          this.socket.write(out.authSaslContinue(st.scram.first(first)))
        } catch (err) {
          throw new ProtocolError((err as Error).message)
        }
        return
      }
      let final: string | undefined
      try {
        final = st.scram.final(frame.toString('utf8', 5, frame.length))
      } catch (err) {
        throw new ProtocolError((err as Error).message)
      }
      if (!final || !secret || secret.kind === 'md5') return this.authFailed()
      if (secret.kind === 'scram' && st.scram.clientKey)
        this.scramKeys = {
          clientKey: st.scram.clientKey,
          serverKey: secret.secret.serverKey,
          salt: secret.secret.salt,
          iterations: secret.secret.iterations,
        }
      this.socket.write(out.authSaslFinal(final))
      return this.loginOk()
    }
    const [given] = readCString(frame, 5)
    if (!secret) return this.authFailed()
    let ok = false
    if (st.method === 'md5') {
      if (secret.kind === 'plain') ok = md5Matches(given, storedMd5Secret(this.user, secret), st.salt!)
      else if (secret.kind === 'md5') ok = md5Matches(given, secret.secret, st.salt!)
    } else {
      if (secret.kind === 'plain') ok = given === secret.password
      else if (secret.kind === 'md5') ok = md5Secret(this.user, given) === secret.secret
      else {
        const check = scramSecretFromPassword(given, secret.secret.salt, secret.secret.iterations)
        ok = check.storedKey.equals(secret.secret.storedKey)
      }
    }
    if (!ok) return this.authFailed()
    this.loginOk()
  }

  /** Wrong password or unknown user: one error for both (a method: no closure per login). */
  private authFailed(): void {
    this.host.countError('client_auth')
    if (this.settings.logPoolerErrors)
      this.host.logger.warn(
        { user: this.user, client: this.remote, code: new ClientAuthError('').code },
        'Client password authentication failed.',
      )
    this.fatal(
      SqlState.invalidPassword,
      `password authentication failed for user "${this.user}"`,
      'auth',
      false,
    )
  }

  // Returns only to end early; the value is always undefined.
  private loginOk() {
    this.auth = undefined
    this.phase = 'login'
    this.host.register(this)
    if (this.isAdmin) {
      this.sendWelcome(
        new Map([
          ['server_version', '15.0 (podkit db-ambassador)'],
          ['server_encoding', 'UTF8'],
          ['client_encoding', 'UTF8'],
          ['DateStyle', 'ISO'],
          ['standard_conforming_strings', 'on'],
          ['integer_datetimes', 'on'],
        ]),
      )
      return
    }
    const pool = this.host.poolFor(this.db!, this.user, this.scramKeys)
    this.pool = pool
    pool.clientCount++
    this.mode = pool.settings.poolMode
    this.rewrite = this.mode !== 'session'
    if (this.settings.logDisconnections) void this.remote
    if (this.settings.logConnections)
      this.host.logger.info(
        { user: this.user, database: this.database, client: this.remote, tls: this.tls },
        'Client logged in.',
      )
    if (pool.welcome) return this.sendWelcomeFromPool()
    // The first client of a pool waits for a server login to learn the server's parameters.
    this.waiting = true
    pool.acquire(this)
  }

  /**
   * AuthenticationOk and the ParameterStatus set come pre-encoded from the pool (one buffer per
   * distinct set of client parameters), so a login costs one copy and one write.
   */
  private sendWelcomeFromPool(): void {
    const pool = this.pool!
    const key = this.paramsKey()
    let head = pool.welcomeCache.get(key)
    if (!head) {
      head = this.encodeWelcome(pool.welcome!)
      // Bounded: application_name alone can make every client's set different.
      if (pool.welcomeCache.size >= 64) pool.welcomeCache.clear()
      pool.welcomeCache.set(key, head)
    }
    this.finishWelcome(head)
  }

  private sendWelcome(serverParams: Map<string, string>): void {
    this.finishWelcome(this.encodeWelcome(serverParams))
  }

  /** AuthenticationOk and a ParameterStatus per server parameter, the client's own values first. */
  private encodeWelcome(serverParams: Map<string, string>): Buffer {
    const parts: Buffer[] = [out.authOk()]
    for (const [k, v] of serverParams) {
      const own = this.params.get(k.toLowerCase())
      parts.push(out.parameterStatus(TRACKED_PARAMS[k.toLowerCase()] ?? k, own ?? v))
    }
    return Buffer.concat(parts)
  }

  private finishWelcome(head: Buffer): void {
    this.socket.write(out.welcomeTail(head, this.pid, this.cancelKey))
    this.phase = 'ready'
    this.host.loggedIn(this)
    if (this.in.available > 0) this.processFrames(clock())
  }

  // ---- pooled session -------------------------------------------------------------------

  onServer(server: ServerConn, now: number): void {
    this.waiting = false
    if (this.phase === 'closed') {
      // The client left while waiting.
      this.pool!.release(server, server.status === TxStatus.Idle, true)
      return
    }
    if (this.phase === 'login') {
      // Only needed the pool's welcome parameters: give the server back at once.
      this.pool!.release(server, true, false)
      this.sendWelcomeFromPool()
      return
    }
    this.server = server
    server.handler = this
    this.qh = 0
    this.qt = 0
    this.skipUntilSync = false
    this.unsynced = false
    this.syncParams(server)
    if (this.socket.isPaused()) this.socket.resume()
    this.processFrames(now)
    if (server.in.available > 0) this.onServerData(server)
  }

  onPoolError(err: Error): void {
    this.waiting = false
    this.host.countError('server_login')
    const msg = err.message.startsWith('server login')
      ? err.message
      : `server connection failed: ${err.message}`
    this.fatal(SqlState.connectionFailure, msg, 'pool')
  }

  private paramsSig: string | undefined

  /** A signature of this client's tracked parameters; recomputed after they change. */
  private paramsKey(): string {
    if (this.paramsSig === undefined) {
      let sig = ''
      for (const [k, v] of this.params) sig += `${k}\0${v}\0`
      this.paramsSig = sig
    }
    return this.paramsSig
  }

  /** Sends SET for every tracked parameter where this client and the server disagree. */
  private syncParams(server: ServerConn): void {
    // Most links go to a server that last served a client with the same values: skip the walk.
    const key = this.paramsKey()
    if (server.paramsKey === key) return
    server.paramsKey = key
    const welcome = this.pool!.welcome
    const sets: string[] = []
    const names: string[] = []
    for (const lk in TRACKED_PARAMS) {
      let want = this.params.get(lk) ?? welcome?.get(lk)
      const have = server.params.get(lk)
      // search_path is not reported by PostgreSQL 15: the pooler remembers what it set.
      if (want === undefined && lk === 'search_path' && have !== undefined) want = DEFAULT_SEARCH_PATH
      if (want === undefined || have === want) continue
      sets.push(`pg_catalog.set_config('${TRACKED_PARAMS[lk]}', ${quote(want)}, false)`)
      names.push(lk)
    }
    if (sets.length === 0) return
    this.push({
      kind: K_QUERY,
      flags: F_DROP_ALL,
      onDone: () => {
        // The server reports canonical values ("ISO, MDY" for "iso"): adopt them so the next
        // switch compares like with like.
        for (const lk of names) {
          const v = server.params.get(lk)
          if (v !== undefined && this.params.has(lk)) this.params.set(lk, v)
        }
        this.paramsSig = undefined
        server.paramsKey = this.paramsKey()
        if (names.includes('search_path')) {
          const sp = this.params.get('search_path')
          if (sp === undefined) server.params.delete('search_path')
          else server.params.set('search_path', sp)
        }
      },
    })
    server.socket.write(out.query(`SELECT ${sets.join(', ')}`))
  }

  private push(e: Entry): void {
    if (this.skipUntilSync && e.kind !== K_SYNC) return
    if (e.flags & F_FAKE && this.qh === this.qt) {
      this.socket.write(e.fake!)
      return
    }
    this.q[this.qt++] = e
  }

  private popHead(): void {
    // Entries with a fake answer or a callback are not kept alive by the reused array.
    if (this.q[this.qh]!.flags !== 0) this.q[this.qh] = E_SYNC
    this.qh++
    if (this.qh === this.qt) {
      this.qh = 0
      this.qt = 0
    }
  }

  /** Client frames to the linked server, rewriting prepared statement names when pooling by transaction. */
  /** `now`: clock() at the read (or link) that brought this work. */
  private processFrames(now: number): void {
    const fb = this.in
    const max = this.settings.maxPacketSize
    let parts: Buffer[] | undefined
    let runStart = fb.pos
    const server = this.server
    if (this.passThrough > 0 && server) {
      // The rest of a large frame already started: forwarded as it arrives.
      const n = Math.min(fb.buf.length - fb.pos, this.passThrough)
      if (n > 0) {
        this.passThrough -= n
        const chunk = forwardRun(fb, fb.pos, fb.pos + n)
        fb.pos += n
        if (!server.socket.write(chunk)) this.holdClient(server)
      }
      if (this.passThrough > 0) return
      runStart = fb.pos
    }
    while (true) {
      const start = fb.pos
      const len = typedFrameLength(fb.buf, start, max)
      if (len < 0) {
        if (!(server && this.startPassThrough(start, now))) fb.gatherIfLarge()
        break
      }
      const t = fb.buf[start]!
      if (this.isAdmin) {
        if (this.adminWaiting) return
        fb.pos += len
        this.adminFrame(t, fb.buf.subarray(start, start + len))
        if (this.phase === 'closed') return
        runStart = fb.pos
        continue
      }
      if (t === Frontend.Terminate) {
        fb.pos += len
        if (server && runStart < start) {
          parts ??= []
          parts.push(fb.buf.subarray(runStart, start))
        }
        if (server && parts && parts.length > 0) {
          this.unsynced = true
          server.socket.write(Buffer.concat(parts))
        }
        this.closeReason = 'client sent Terminate'
        // Nothing is owed to a client that said goodbye: close without a half-close round
        // (shutdown, then waiting for the stream to finish) on every disconnect.
        this.socket.destroy()
        this.phase = 'closed'
        this.cleanup()
        return
      }
      if (!server) {
        if (!this.waiting) {
          this.waiting = true
          this.pool!.acquire(this, now)
        }
        // A queued client keeps being read (so a disconnect is seen at once) until it has sent
        // WAIT_BUFFER_LIMIT bytes ahead: pausing every client that waits cost a pause and a
        // resume (a nextTick) per transaction when clients outnumber servers.
        if (this.waiting && fb.available > WAIT_BUFFER_LIMIT && !this.socket.isPaused()) this.socket.pause()
        return
      }
      if (this.qh === this.qt) this.queryStart = now
      if (this.xactStart === 0) this.xactStart = now
      const buf = fb.buf
      const end = start + len
      fb.pos = end
      // The unnamed statement and portal (most extended-protocol traffic) are decided on bytes
      // read in place; a view of the frame is made only for what is rewritten.
      let replacement: Buffer | null | undefined // undefined: forward as is; null: swallow
      switch (t) {
        case Frontend.Query:
          if (len > 13 && !this.skipUntilSync && isDiscardAll(buf, start, end)) this.discardAll(server)
          else this.push(E_QUERY)
          break
        case Frontend.Parse:
          if (this.rewrite && (len <= 5 || buf[start + 5] !== 0))
            replacement = this.onParse(buf.subarray(start, end), server)
          else this.push(E_PARSE)
          break
        case Frontend.Bind:
          if (this.rewrite && !(len > 6 && buf[start + 5] === 0 && buf[start + 6] === 0))
            replacement = this.onBind(buf.subarray(start, end), server)
          this.push(E_BIND)
          break
        case Frontend.Describe:
          if (this.rewrite && len > 5 && buf[start + 5] === 0x53 && (len <= 6 || buf[start + 6] !== 0))
            replacement = this.onDescribe(buf.subarray(start, end), server)
          this.push(E_DESCRIBE)
          break
        case Frontend.Close:
          if (this.rewrite && len > 5 && buf[start + 5] === 0x53 && (len <= 6 || buf[start + 6] !== 0)) {
            const [name] = readCString(buf, start + 6, end)
            this.statements.delete(name)
            // Other clients may share the server-side statement: keep it, answer for the server.
            replacement = null
            this.push({ kind: K_CLOSE, flags: F_FAKE, fake: out.closeComplete() })
          } else this.push(E_CLOSE)
          break
        case Frontend.Execute:
          this.push(E_EXECUTE)
          break
        case Frontend.Sync:
          this.skipUntilSync = false
          this.push(E_SYNC)
          break
        case Frontend.FunctionCall:
          this.push(E_FUNCTION)
          break
        case Frontend.Flush:
        case Frontend.CopyData:
        case Frontend.CopyDone:
        case Frontend.CopyFail:
          break
        default:
          throw new ProtocolError(`unexpected message type 0x${t.toString(16)} from the client`)
      }
      if (replacement !== undefined) {
        parts ??= []
        if (runStart < start) parts.push(fb.buf.subarray(runStart, start))
        if (replacement) parts.push(replacement)
        runStart = fb.pos
      }
    }
    if (!server) return
    if (!parts) {
      // Nothing rewritten (the common case): the frames go out as one run of the bytes read.
      if (runStart < fb.pos) {
        this.unsynced = true
        if (!server.socket.write(forwardRun(fb, runStart, fb.pos))) this.holdClient(server)
      }
      return
    }
    if (runStart < fb.pos) parts.push(fb.buf.subarray(runStart, fb.pos))
    // Nothing to send when every frame was answered by the pooler (a Close on its own).
    if (parts.length === 0) return
    this.unsynced = true
    // Concat copies: nothing of the read buffer is kept by the write.
    if (!server.socket.write(parts.length === 1 && !fb.borrowed ? parts[0]! : Buffer.concat(parts)))
      this.holdClient(server)
  }

  /** Bytes of a large client frame still to forward as they arrive (see startPassThrough). */
  private passThrough = 0

  /**
   * A large incomplete frame at `start` that the pooler does not rewrite (a simple Query, an
   * unnamed Parse or Bind, CopyData, a FunctionCall) is forwarded as its bytes arrive, as
   * PgBouncer does, instead of being held whole: a 200 MiB parameter costs no 200 MiB here.
   * Records the request and moves `pos` to the end of the buffer; the caller writes the run.
   */
  private startPassThrough(start: number, now: number): boolean {
    const fb = this.in
    const buf = fb.buf
    const have = buf.length - start
    if (this.isAdmin || fb.gathering || have < 7) return false
    const total = declaredFrameLength(buf, start)
    if (total - have <= GATHER_MIN) return false
    let entry: Entry | undefined
    switch (buf[start]) {
      case Frontend.Query:
        // Too long to be DISCARD ALL.
        entry = E_QUERY
        break
      case Frontend.Bind:
        if (this.rewrite && (buf[start + 5] !== 0 || buf[start + 6] !== 0)) return false
        entry = E_BIND
        break
      case Frontend.Parse:
        if (this.rewrite && buf[start + 5] !== 0) return false
        entry = E_PARSE
        break
      case Frontend.FunctionCall:
        entry = E_FUNCTION
        break
      case Frontend.CopyData:
        break
      default:
        return false
    }
    if (entry) {
      if (this.qh === this.qt) this.queryStart = now
      if (this.xactStart === 0) this.xactStart = now
      this.push(entry)
    }
    this.passThrough = total - have
    fb.pos = buf.length
    return true
  }

  // ---- backpressure -----------------------------------------------------------------------
  // A write that returns false has buffered past the socket's high-water mark: the side feeding
  // it is no longer read until the buffer drains, so a slow reader (a client fetching a large
  // result slowly, a server taking a large COPY slowly) holds the bytes in its peer's socket
  // buffers, not in the pooler's memory.

  /** Whether a server's reads are stopped until this client's socket drains. */
  private holdingServer = false
  /** Whether this client's reads are stopped until the linked server's socket drains. */
  private holdingClient = false

  private holdServer(server: ServerConn): void {
    if (this.holdingServer) return
    this.holdingServer = true
    server.socket.pause()
    this.socket.once('drain', () => {
      this.holdingServer = false
      if (!server.closed) server.socket.resume()
    })
  }

  private holdClient(server: ServerConn): void {
    if (this.holdingClient) return
    this.holdingClient = true
    this.socket.pause()
    server.socket.once('drain', () => {
      this.holdingClient = false
      // A queued client that sent far ahead stays paused until it is linked (onServer).
      if (this.phase !== 'closed' && !this.waiting && this.socket.isPaused()) this.socket.resume()
    })
  }

  /**
   * DISCARD ALL / DEALLOCATE ALL sent: the server drops every statement, so the pooler forgets
   * them now (a Parse pipelined after it is then recorded afresh). PostgreSQL refuses it inside a
   * transaction block; then the statements are still there and are remembered again.
   */
  private discardAll(server: ServerConn): void {
    const prepared = [...server.prepared]
    const statements = [...this.statements]
    server.prepared.clear()
    this.statements.clear()
    this.push({
      kind: K_QUERY,
      flags: F_UNDO,
      undo: () => {
        for (const id of prepared) server.prepared.add(id)
        for (const [name, st] of statements) if (!this.statements.has(name)) this.statements.set(name, st)
      },
    })
  }

  private onParse(frame: Buffer, server: ServerConn): Buffer | undefined {
    if (frame[5] === 0) {
      // The unnamed statement: forwarded as it is.
      this.push(E_PARSE)
      return undefined
    }
    const [name, p] = readCString(frame, 5)
    if (name === '') {
      this.push(E_PARSE)
      return undefined
    }
    const rest = Buffer.from(frame.subarray(p))
    const id = this.host.statements.idFor(rest)
    if (this.skipUntilSync) return out.parseWithName(serverStatementName(id), rest)
    this.statements.set(name, { id, rest })
    if (server.prepared.has(id)) {
      this.push({ kind: K_PARSE, flags: F_FAKE, fake: out.parseComplete() })
      return Buffer.alloc(0)
    }
    const evict = this.evictIfFull(server)
    server.prepared.add(id)
    this.push({ kind: K_PARSE, flags: 0, stmtId: id, clientName: name })
    const parse = out.parseWithName(serverStatementName(id), rest)
    return evict ? Buffer.concat([evict, parse]) : parse
  }

  /**
   * Keeps at most max_prepared_statements on a server: closes the least recently used one
   * (Sets iterate in insertion order; use moves a statement to the end). The CloseComplete is
   * dropped.
   */
  private evictIfFull(server: ServerConn): Buffer | undefined {
    const cap = this.settings.maxPreparedStatements
    if (cap <= 0 || server.prepared.size < cap || this.skipUntilSync) return undefined
    const oldest = server.prepared.values().next().value as number
    server.prepared.delete(oldest)
    this.push({ kind: K_CLOSE, flags: F_DROP_OK, stmtId: oldest })
    return out.message(Frontend.Close, Buffer.from(`S${serverStatementName(oldest)}\0`))
  }

  /** Prepares a client statement on this server first if it is not there yet. */
  private ensurePrepared(st: ClientStatement, server: ServerConn): Buffer | undefined {
    if (server.prepared.has(st.id)) {
      // Most recently used last, for evictIfFull.
      server.prepared.delete(st.id)
      server.prepared.add(st.id)
      return undefined
    }
    if (this.skipUntilSync) return undefined
    const evict = this.evictIfFull(server)
    server.prepared.add(st.id)
    this.push({ kind: K_PARSE, flags: F_DROP_OK, stmtId: st.id })
    const parse = out.parseWithName(serverStatementName(st.id), st.rest)
    return evict ? Buffer.concat([evict, parse]) : parse
  }

  private onBind(frame: Buffer, server: ServerConn): Buffer | undefined {
    const nul = frame.indexOf(0, 5)
    if (nul > 0 && frame[nul + 1] === 0) return undefined // the unnamed statement
    const [, p1] = readCString(frame, 5)
    const [stmt, p2] = readCString(frame, p1)
    if (stmt === '') return undefined
    const st = this.statements.get(stmt)
    if (!st) return undefined // the server answers "prepared statement ... does not exist"
    const parse = this.ensurePrepared(st, server)
    const bind = out.message(
      Frontend.Bind,
      Buffer.concat([
        frame.subarray(5, p1),
        Buffer.from(`${serverStatementName(st.id)}\0`),
        frame.subarray(p2),
      ]),
    )
    return parse ? Buffer.concat([parse, bind]) : bind
  }

  private onDescribe(frame: Buffer, server: ServerConn): Buffer | undefined {
    if (frame[6] === 0) return undefined
    const [stmt] = readCString(frame, 6)
    if (stmt === '') return undefined
    const st = this.statements.get(stmt)
    if (!st) return undefined
    const parse = this.ensurePrepared(st, server)
    const desc = out.message(Frontend.Describe, Buffer.from(`S${serverStatementName(st.id)}\0`))
    return parse ? Buffer.concat([parse, desc]) : desc
  }

  /** Server frames to the client; drops answers to the pooler's own messages. */
  onServerData(server: ServerConn): void {
    const fb = server.in
    const max = server.maxPacketSize
    let parts: Buffer[] | undefined
    let runStart = fb.pos
    let z = -1
    let full = false
    if (this.serverPassThrough > 0) {
      // The rest of a large DataRow or CopyData already started: forwarded as it arrives.
      const n = Math.min(fb.buf.length - fb.pos, this.serverPassThrough)
      if (n > 0) {
        this.serverPassThrough -= n
        const chunk = forwardRun(fb, fb.pos, fb.pos + n)
        fb.pos += n
        this.pool!.stats.sent += n
        if (!this.socket.write(chunk) && this.server === server) this.holdServer(server)
      }
      if (this.serverPassThrough > 0) return
      runStart = fb.pos
    }
    try {
      while (true) {
        const start = fb.pos
        const len = typedFrameLength(fb.buf, start, max)
        if (len < 0) {
          if (!this.startServerPassThrough(fb, start)) fb.gatherIfLarge()
          break
        }
        const t = fb.buf[start]!
        fb.pos += len
        let drop = false
        const head = this.qh < this.qt ? this.q[this.qh]! : undefined
        if (t === Backend.ParameterStatus) {
          server.noteParameter(fb.buf.subarray(start, start + len))
          if (head && head.flags & F_DROP_ALL) drop = true
          else {
            const [name, p] = readCString(fb.buf, start + 5)
            const lk = name.toLowerCase()
            if (TRACKED_PARAMS[lk]) {
              const v = readCString(fb.buf, p)[0]
              if (this.params.get(lk) !== v) {
                // The client changed it (SET): the server now holds this client's values.
                this.params.set(lk, v)
                this.paramsSig = undefined
              }
              server.paramsKey = this.paramsKey()
            }
          }
        } else if (t === Backend.NoticeResponse || t === Backend.NotificationResponse) {
          drop = head !== undefined && (head.flags & F_DROP_ALL) !== 0
        } else if (head) {
          if (t === Backend.ErrorResponse) {
            drop = (head.flags & F_DROP_ALL) !== 0
            if (head.flags & F_UNDO) head.undo!()
            if (head.kind !== K_QUERY && head.kind !== K_SYNC) this.failUntilSync(server)
          } else if (completes(head.kind, t)) {
            drop = (head.flags & (F_DROP_ALL | F_DROP_OK)) !== 0
            if (t === Backend.ReadyForQuery) {
              z = start
              server.status = fb.buf[start + 5]!
              // Statement mode: the client gets PgBouncer's error instead of "in transaction".
              if (this.mode === 'statement' && server.status !== TxStatus.Idle) drop = true
            }
            this.popHead()
            // Everything sent so far is answered and synced: the server is ready for anyone.
            if (t === Backend.ReadyForQuery && this.qh === this.qt) this.unsynced = false
            head.onDone?.()
          } else drop = (head.flags & F_DROP_ALL) !== 0
        } else if (t === Backend.ReadyForQuery) {
          server.status = fb.buf[start + 5]!
          z = start
          this.unsynced = false
        }
        if (drop) {
          parts ??= []
          if (runStart < start) parts.push(fb.buf.subarray(runStart, start))
          runStart = fb.pos
        }
        // Answers the pooler gives itself go out right after the answer before them.
        while (this.qh < this.qt && this.q[this.qh]!.flags & F_FAKE) {
          parts ??= []
          if (runStart < fb.pos) parts.push(fb.buf.subarray(runStart, fb.pos))
          runStart = fb.pos
          parts.push(this.q[this.qh]!.fake!)
          this.popHead()
        }
      }
    } catch (err) {
      this.host.countError('server_protocol')
      this.host.logger.error({ err }, 'The server sent bytes that break the protocol; closing both sides.')
      server.close()
      return
    }
    if (!parts) {
      // Nothing dropped or answered by the pooler (the common case): one run of the bytes read.
      if (runStart < fb.pos) {
        full = !this.socket.write(forwardRun(fb, runStart, fb.pos))
        this.pool!.stats.sent += fb.pos - runStart
      }
    } else {
      if (runStart < fb.pos) parts.push(fb.buf.subarray(runStart, fb.pos))
      let n = 0
      for (const p of parts) n += p.length
      if (n > 0) {
        // Concat copies: nothing of a borrowed read buffer is kept by the write.
        full = !this.socket.write(parts.length === 1 && !fb.borrowed ? parts[0]! : Buffer.concat(parts, n))
        this.pool!.stats.sent += n
      }
    }
    if (z >= 0) this.afterReadyForQuery(server)
    // Still linked (not released on ReadyForQuery): stop reading the server until the client drains.
    if (full && this.server === server) this.holdServer(server)
  }

  /** Bytes of a large server frame still to forward as they arrive (see startServerPassThrough). */
  private serverPassThrough = 0

  /**
   * A large incomplete DataRow or CopyData for the client (not an answer the pooler drops) is
   * forwarded as its bytes arrive, as PgBouncer does, instead of being held whole. Moves `pos`
   * to the end of the buffer; the caller writes the run.
   */
  private startServerPassThrough(fb: FrameBuffer, start: number): boolean {
    const buf = fb.buf
    const have = buf.length - start
    if (fb.gathering || have < 5) return false
    const t = buf[start]
    if (t !== Backend.DataRow && t !== Backend.CopyData) return false
    if (this.qh < this.qt && this.q[this.qh]!.flags & F_DROP_ALL) return false
    const total = declaredFrameLength(buf, start)
    if (total - have <= GATHER_MIN) return false
    this.serverPassThrough = total - have
    fb.pos = buf.length
    return true
  }

  /** After an error in an extended-protocol batch the server skips everything up to Sync. */
  private failUntilSync(server: ServerConn): void {
    while (this.qh < this.qt) {
      const e = this.q[this.qh]!
      if (e.kind === K_SYNC) return
      // A skipped eviction leaves the statement on the server.
      if (e.kind === K_CLOSE && e.stmtId !== undefined) server.prepared.add(e.stmtId)
      if (e.kind === K_PARSE && e.stmtId !== undefined && !(e.flags & F_FAKE)) {
        server.prepared.delete(e.stmtId)
        if (e.clientName && this.statements.get(e.clientName)?.id === e.stmtId)
          this.statements.delete(e.clientName)
      }
      this.popHead()
    }
    this.skipUntilSync = true
  }

  private afterReadyForQuery(server: ServerConn): void {
    const pool = this.pool!
    const status = server.status
    const now = clock()
    const seconds = (now - this.queryStart) / 1000
    pool.stats.queryCount++
    pool.stats.queryTimeUs += Math.round(seconds * 1e6)
    this.host.observeQuery(pool, seconds)
    if (status === TxStatus.Idle) {
      pool.stats.xactCount++
      this.idleInTxSince = 0
    } else this.idleInTxSince = now // idle in a transaction from this answer on
    if (this.qh !== this.qt) return
    if (status === TxStatus.Idle && this.xactStart > 0) {
      // The whole transaction, the client's time between its queries included (SHOW STATS).
      pool.stats.xactTimeUs += Math.round((now - this.xactStart) * 1000)
      this.xactStart = 0
    }
    if (this.mode === 'statement' && status !== TxStatus.Idle) {
      this.fatal(
        SqlState.featureNotSupported,
        'transaction blocks not allowed in statement pooling mode',
        'statement_mode',
      )
      return
    }
    if (
      this.mode !== 'session' &&
      status === TxStatus.Idle &&
      this.in.available === 0 &&
      !this.unsynced &&
      this.passThrough === 0
    ) {
      // client_idle_timeout counts from the last answer, not from when a long query was sent.
      this.lastActivity = now
      this.server = undefined
      pool.release(server, true, false, now)
    }
  }

  onServerClose(server: ServerConn, err?: Error): void {
    if (this.server !== server) return
    this.server = undefined
    this.pool?.drop(server)
    this.host.countError('server_lost')
    this.fatal(SqlState.adminShutdown, `server conn crashed?${err ? ` (${err.message})` : ''}`, 'server_lost')
  }

  // ---- admin console ----------------------------------------------------------------------

  private adminFrame(t: number, frame: Buffer): void {
    if (t === Frontend.Terminate) {
      this.socket.end()
      this.phase = 'closed'
      this.cleanup()
      return
    }
    if (t !== Frontend.Query) {
      this.socket.write(
        Buffer.concat([
          out.errorResponse({
            code: SqlState.featureNotSupported,
            message: 'the admin console accepts only simple queries',
          }),
          out.readyForQuery(TxStatus.Idle),
        ]),
      )
      return
    }
    const [sql] = readCString(frame, 5)
    const replies = this.host.admin(this, sql)
    if (Array.isArray(replies)) {
      this.socket.write(Buffer.concat(replies))
      return
    }
    // PAUSE answers once servers are released: later queries of this console wait in `in`.
    this.adminWaiting = true
    void replies.then((r) => {
      this.adminWaiting = false
      if (this.phase === 'closed') return
      this.socket.write(Buffer.concat(r))
      try {
        if (this.in.available > 0) this.processFrames(clock())
      } catch (err) {
        this.fatal(SqlState.protocolViolation, (err as Error).message, 'protocol')
      }
    })
  }

  /** An admin command is still to be answered: the console's next frames are not read yet. */
  private adminWaiting = false

  /** Whether this admin user may run commands that change state (PAUSE, RELOAD, ...). */
  get isAdminUser(): boolean {
    return this.settings.adminUsers.includes(this.user) || this.settings.authType === 'any'
  }

  // ---- ending -----------------------------------------------------------------------------

  /** Sends a FATAL error the way PostgreSQL does, then closes this connection only. */
  fatal(code: string, message: string, reason: string, log = true): void {
    if (this.phase === 'closed') return
    if (log && this.settings.logPoolerErrors) {
      const Err = REASON_ERRORS[reason] ?? ProtocolError
      this.host.logger.warn(
        {
          user: this.user || undefined,
          database: this.database || undefined,
          client: this.remote,
          code: new Err(message).code,
          sqlstate: code,
          reason,
        },
        `Closing a client: ${message}`,
      )
    }
    this.closeReason = message
    this.phase = 'closed'
    if (!this.socket.destroyed) this.socket.end(out.errorResponse({ severity: 'FATAL', code, message }))
    this.cleanup()
  }

  private socketClosed = false

  private onSocketClose(reason: string): void {
    if (!this.socketClosed) {
      this.socketClosed = true
      this.host.closed(this)
    }
    if (!this.closeReason) this.closeReason = reason
    this.phase = 'closed'
    this.cleanup()
  }

  private cleaned = false

  private cleanup(): void {
    if (this.cleaned) return
    this.cleaned = true
    const pool = this.pool
    if (pool) {
      pool.clientCount--
      if (this.waiting) pool.cancelWait(this)
      const server = this.server
      if (server) {
        this.server = undefined
        // A server in a transaction, or with answers still coming, is closed, never reused:
        // nothing the client did (SET, temp tables, locks) can reach the next client.
        const clean =
          server.status === TxStatus.Idle &&
          this.qh === this.qt &&
          !this.unsynced &&
          this.passThrough === 0 &&
          server.in.available === 0
        // A server held for this client's backpressure goes back readable (or is closed).
        if (this.holdingServer) server.socket.resume()
        pool.release(server, clean, true)
      }
    }
    this.host.unregister(this)
    if (this.settings.logDisconnections && !this.isAdmin && this.user)
      this.host.logger.info(
        { user: this.user, database: this.database, client: this.remote, reason: this.closeReason },
        'Client disconnected.',
      )
    // A socket ended with a last message (fatal) is destroyed on the next turn, after the write;
    // one already destroyed (Terminate, a closed socket) needs nothing more.
    if (!this.socket.destroyed) setImmediate(() => this.socket.destroy())
  }

  /** Linked, inside a transaction, and not waiting for an answer: what idle_transaction_timeout limits. */
  get idleInTransaction(): boolean {
    return !!this.server && this.server.status !== TxStatus.Idle && this.qh === this.qt
  }

  /** Whether the client is linked in the middle of a transaction or a request. */
  get inTransaction(): boolean {
    return !!this.server && (this.server.status !== TxStatus.Idle || this.qh !== this.qt || this.unsynced)
  }

  get linkedServer() {
    return this.server
  }
}

/**
 * The bytes fb.buf[start, end) to hand to a socket write. A write that does not finish at once
 * keeps a reference to what it was given, and a borrowed read buffer is overwritten by the next
 * read: those bytes are copied (one allocation, where a view and then a copy of it made two);
 * a buffer of our own is passed as a view.
 */
function forwardRun(fb: FrameBuffer, start: number, end: number): Buffer {
  if (!fb.borrowed) return fb.buf.subarray(start, end)
  const copy = Buffer.allocUnsafe(end - start)
  fb.buf.copy(copy, 0, start, end)
  return copy
}

/** The podkit error code logged when a client is closed for a reason. */
const REASON_ERRORS: Record<string, new (message: string) => { code: string }> = {
  protocol: ProtocolError,
  startup: ProtocolError,
  statement_mode: ProtocolError,
  internal: ProtocolError,
  tls: TlsError,
  auth: ClientAuthError,
  admin: ClientAuthError,
  max_client_conn: TooManyClientsError,
  unknown_database: UnknownDatabaseError,
  pool: ServerLoginError,
  server_lost: ServerConnectError,
  query_wait_timeout: QueryWaitTimeoutError,
  client_idle_timeout: ClientTimeoutError,
  client_login_timeout: ClientTimeoutError,
  idle_transaction_timeout: ClientTimeoutError,
}

interface AuthState {
  secret: UserSecret | undefined
  method: 'plain' | 'md5' | 'scram'
  salt?: Buffer
  scram?: ScramServer
}

// Like PostgreSQL's mock authentication: a stable made-up salt per unknown user name, so two
// attempts look alike, and keys no proof can match. No PBKDF2, nothing cached.
const MOCK_KEY = randomBytes(32)
function mockScramSecret(user: string): ScramSecret {
  return {
    iterations: 4096,
    salt: createHmac('sha256', MOCK_KEY).update(user).digest().subarray(0, 16),
    storedKey: randomBytes(32),
    serverKey: randomBytes(32),
  }
}

const quote = (v: string) => `'${v.replace(/'/g, "''")}'`
const DEFAULT_SEARCH_PATH = '"$user", public'

/**
 * Whether the Query frame buf[start, end) is "DISCARD ALL" or "DEALLOCATE ALL" as the whole
 * simple query: the server drops every statement.
 */
function isDiscardAll(buf: Buffer, start: number, end: number): boolean {
  // Most queries are not: decide on the first non-blank byte before making a string.
  let i = start + 5
  while (i < end && (buf[i] === 0x20 || (buf[i]! >= 0x09 && buf[i]! <= 0x0d))) i++
  if (i >= end || (buf[i]! | 0x20) !== 0x64) return false // 'd' or 'D'
  const text = buf
    .toString('latin1', start + 5, Math.min(end - 1, start + 40))
    .trim()
    .toLowerCase()
  return /^(discard\s+all|deallocate\s+(prepare\s+)?all)\s*;?$/.test(text)
}

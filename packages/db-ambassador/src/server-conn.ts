// One connection to a PostgreSQL server: connect (trying each host in turn and, with several
// hosts, keeping only a writable primary), optional TLS, login (cleartext, md5, SCRAM-SHA-256),
// then frames handed to whichever client session is linked to it.

import { readFileSync } from 'node:fs'
import { isIP, connect as netConnect, type Socket } from 'node:net'
import { type TLSSocket, connect as tlsConnect } from 'node:tls'
import { md5Response } from './auth/md5.ts'
import { SCRAM_MECHANISM, ScramClient, type ScramCredentials } from './auth/scram.ts'
import { clock } from './clock.ts'
import { NoPrimaryError, ProtocolError, ServerConnectError, ServerLoginError, TlsError } from './errors.ts'
import { AuthCode, Backend } from './protocol/message-types.ts'
import { FrameBuffer, parseErrorFields, readCString, typedFrameLength } from './protocol/parser.ts'
import * as out from './protocol/serializer.ts'
import { SHARED_READ } from './shared-read.ts'

export interface ServerTls {
  sslmode: string
  caFile: string
  certFile: string
  keyFile: string
}

export interface ServerTarget {
  hosts: Array<{ host: string; port: number }>
  database: string
  user: string
  /** Plain password or md5 secret; undefined with only SCRAM keys. */
  password?: string
  scram?: ScramCredentials
  startupParams: Record<string, string>
  tls: ServerTls
  connectTimeout: number
  /** With several hosts: only a server that is not read-only will do. */
  needPrimary: boolean
  connectQuery?: string
  maxPacketSize: number
}

/** Receives a linked server's frames. */
export interface ServerHandler {
  onServerData(server: ServerConn): void
  onServerClose(server: ServerConn, err?: Error): void
}

let nextId = 1

export class ServerConn {
  readonly id = nextId++
  readonly in = new FrameBuffer()
  /** ParameterStatus values as the server reported them (names lower-cased). */
  readonly params = new Map<string, string>()
  /** Ids (see StatementRegistry) of statements prepared on this connection. */
  readonly prepared = new Set<number>()
  pid = 0
  key = 0
  readonly createdAt = clock()
  lastUsed = this.createdAt
  /** When the current link started, for SHOW SERVERS and idle-in-transaction checks. */
  linkedAt = 0
  handler: ServerHandler | undefined
  closeNeeded = false
  closed = false
  tls = false
  /** The tracked-parameter signature of the client whose values this server holds, if known. */
  paramsKey: string | undefined
  /** Transaction status from the last ReadyForQuery. */
  status = 0x49
  /** CancelRequests forwarded for this server whose connection to PostgreSQL is still open. */
  cancelsInFlight = 0
  /** Runs once cancelsInFlight is back to 0 (a release waiting for the cancels, see Pool.release). */
  onCancelsDone: (() => void) | undefined

  private constructor(
    readonly socket: Socket | TLSSocket,
    readonly host: string,
    readonly port: number,
    readonly maxPacketSize: number,
    reader: SharedReader | undefined,
  ) {
    if (reader) reader.to(this)
    else
      socket.on('data', (chunk: Buffer) => {
        this.in.append(chunk)
        if (this.handler) this.handler.onServerData(this)
      })
    socket.resume()
    socket.on('close', () => this.markClosed())
    socket.on('error', (err) => this.markClosed(err))
  }

  /** A read into the shared buffer (plain TCP): handled, then whatever must outlive it is copied. */
  onBorrowedRead(chunk: Buffer): void {
    this.in.append(chunk, true)
    try {
      if (this.handler) this.handler.onServerData(this)
    } finally {
      this.in.settle()
    }
  }

  private markClosed(err?: Error) {
    if (this.closed) return
    this.closed = true
    this.handler?.onServerClose(this, err)
  }

  close(): void {
    if (this.closed) return
    if (!this.socket.destroyed && this.socket.writable) this.socket.end(out.terminate())
    this.socket.destroy()
    this.markClosed()
  }

  get localAddress() {
    return { addr: this.socket.localAddress ?? '', port: this.socket.localPort ?? 0 }
  }

  /** Next whole frame from `in` (used outside of a client link), or undefined. */
  nextFrame(): Buffer | undefined {
    const len = typedFrameLength(this.in.buf, this.in.pos, this.maxPacketSize)
    if (len < 0) return undefined
    const f = this.in.buf.subarray(this.in.pos, this.in.pos + len)
    this.in.pos += len
    return f
  }

  /** Runs SQL of the pooler's own (reset, check, SET) while no client is linked; rejects on an error. */
  runInternal(sql: string, timeoutMs: number): Promise<Map<string, string>[]> {
    return new Promise((resolve, reject) => {
      const rows: Map<string, string>[] = []
      let columns: string[] = []
      let error: Error | undefined
      const timer = setTimeout(() => {
        this.handler = prev
        reject(new ServerConnectError(`server did not answer "${sql}" within ${timeoutMs} ms`))
        this.close()
      }, timeoutMs)
      const prev = this.handler
      this.handler = {
        onServerData: () => {
          try {
            for (let f = this.nextFrame(); f; f = this.nextFrame()) {
              const t = f[0]
              if (t === Backend.ErrorResponse) {
                const fields = parseErrorFields(f)
                error = new ServerLoginError(`server error on "${sql}": ${fields.get('M') ?? 'unknown'}`)
              } else if (t === Backend.RowDescription) columns = rowDescriptionNames(f)
              else if (t === Backend.DataRow) rows.push(dataRowValues(f, columns))
              else if (t === Backend.ParameterStatus) this.noteParameter(f)
              else if (t === Backend.ReadyForQuery) {
                this.status = f[5]!
                clearTimeout(timer)
                this.handler = prev
                if (error) reject(error)
                else resolve(rows)
                return
              }
            }
          } catch (err) {
            clearTimeout(timer)
            this.handler = prev
            reject(err)
            this.close()
          }
        },
        onServerClose: (_s, err) => {
          clearTimeout(timer)
          this.handler = prev
          reject(err ?? new ServerConnectError('server closed the connection'))
          prev?.onServerClose(this, err)
        },
      }
      this.socket.write(out.query(sql))
      if (this.in.available > 0) this.handler.onServerData(this)
    })
  }

  noteParameter(frame: Buffer): void {
    const [name, p] = readCString(frame, 5)
    const [value] = readCString(frame, p)
    const lk = name.toLowerCase()
    if (this.params.get(lk) !== value) this.paramsKey = undefined
    this.params.set(lk, value)
  }

  /** Connects to the first host that accepts (and is writable when `needPrimary`), then logs in. */
  static async open(target: ServerTarget, startIndex = 0): Promise<{ conn: ServerConn; hostIndex: number }> {
    const errors: string[] = []
    const n = target.hosts.length
    for (let k = 0; k < n; k++) {
      const i = (startIndex + k) % n
      const { host, port } = target.hosts[i]!
      let conn: ServerConn | undefined
      try {
        conn = await ServerConn.connectOne(target, host, port)
        if (target.needPrimary) {
          const rows = await conn.runInternal('SHOW transaction_read_only', target.connectTimeout)
          if (rows[0]?.get('transaction_read_only') !== 'off') {
            conn.close()
            throw new NoPrimaryError(`${host}:${port} is read-only`)
          }
        }
        if (target.connectQuery) await conn.runInternal(target.connectQuery, target.connectTimeout)
        return { conn, hostIndex: i }
      } catch (err) {
        conn?.close()
        if (err instanceof ServerLoginError || err instanceof TlsError) throw err
        errors.push(`${host}:${port}: ${(err as Error).message}`)
      }
    }
    if (target.needPrimary && errors.every((e) => e.includes('read-only')))
      throw new NoPrimaryError(`no writable primary among ${errors.join('; ')}`)
    throw new ServerConnectError(`cannot connect to ${errors.join('; ')}`)
  }

  private static async connectOne(
    target: ServerTarget,
    host: string,
    port: number,
    shared = true,
  ): Promise<ServerConn> {
    const deadline = Date.now() + target.connectTimeout
    const mode = target.tls.sslmode
    // Plain TCP reads into one shared buffer (no allocation per read, no stream machinery).
    // TLS cannot sit on such a socket, so hosts that may answer SSLRequest with 'S' get the
    // ordinary socket: always for require/verify-*, and for prefer once a host has said 'S'.
    const reader =
      shared &&
      (mode === 'disable' || mode === 'allow' || (mode === 'prefer' && !tlsHosts.has(`${host}:${port}`)))
        ? new SharedReader()
        : undefined
    let socket: Socket | TLSSocket = netConnect(
      reader ? { host, port, onread: { buffer: SHARED_READ, callback: reader.callback } } : { host, port },
    )
    socket.setNoDelay(true)
    const cleanup: Array<() => void> = []
    const timeout = setTimeout(
      () => socket.destroy(new ServerConnectError(`connect timeout after ${target.connectTimeout} ms`)),
      target.connectTimeout,
    )
    cleanup.push(() => clearTimeout(timeout))
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('error', reject)
      })
      let tls = false
      if (mode !== 'disable' && mode !== 'allow') {
        socket.write(out.sslRequest())
        const answer = reader ? await reader.firstByte(socket) : (await readBytes(socket, 1))[0]!
        if (answer === 0x53) {
          if (reader) {
            // Ask again on an ordinary socket; remember that this host speaks TLS.
            tlsHosts.add(`${host}:${port}`)
            socket.destroy()
            cleanup.pop()?.()
            return await ServerConn.connectOne(target, host, port, false)
          }
          socket = await startTls(socket, host, target.tls)
          tls = true
        } else if (answer !== 0x4e)
          throw new ProtocolError(`unexpected answer 0x${answer.toString(16)} to SSLRequest`)
        else if (mode !== 'prefer')
          throw new TlsError(`server ${host}:${port} does not accept TLS (server_tls_sslmode=${mode})`)
      }
      const conn = new ServerConn(socket, host, port, target.maxPacketSize, reader)
      conn.tls = tls
      await conn.login(target, deadline)
      return conn
    } catch (err) {
      socket.destroy()
      throw err
    } finally {
      for (const c of cleanup) c()
    }
  }

  private login(target: ServerTarget, deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let scram: ScramClient | undefined
      const timer = setTimeout(
        () => {
          reject(new ServerConnectError(`login timed out after ${target.connectTimeout} ms`))
          this.close()
        },
        Math.max(1, deadline - Date.now()),
      )
      const fail = (err: Error) => {
        clearTimeout(timer)
        this.handler = undefined
        reject(err)
        this.close()
      }
      this.handler = {
        onServerData: () => {
          try {
            for (let f = this.nextFrame(); f; f = this.nextFrame()) {
              switch (f[0]) {
                case Backend.Authentication: {
                  const code = f.readInt32BE(5)
                  if (code === AuthCode.Ok) break
                  if (code === AuthCode.CleartextPassword || code === AuthCode.MD5Password) {
                    if (target.password === undefined)
                      throw new ServerLoginError(
                        `no password for user "${target.user}" to log in to the server`,
                      )
                    const pw =
                      code === AuthCode.CleartextPassword
                        ? target.password
                        : md5Response(target.user, target.password, f.subarray(9, 13))
                    this.socket.write(out.passwordMessage(pw))
                  } else if (code === AuthCode.SASL) {
                    const mechs = f.subarray(9).toString('utf8').split('\0')
                    if (!mechs.includes(SCRAM_MECHANISM))
                      throw new ServerLoginError(
                        `server offers no supported SASL mechanism (${mechs.join(', ')})`,
                      )
                    const creds: ScramCredentials | undefined =
                      target.password !== undefined && !target.password.startsWith('md5')
                        ? { password: target.password }
                        : target.scram
                    if (!creds)
                      throw new ServerLoginError(
                        `no password or SCRAM keys for user "${target.user}" to log in to the server`,
                      )
                    scram = new ScramClient(creds)
                    this.socket.write(out.saslInitialResponse(SCRAM_MECHANISM, scram.first()))
                  } else if (code === AuthCode.SASLContinue) {
                    if (!scram) throw new ProtocolError('SASLContinue without SASL')
                    this.socket.write(out.saslResponse(scram.final(f.subarray(9).toString('utf8'))))
                  } else if (code === AuthCode.SASLFinal) {
                    if (!scram?.verify(f.subarray(9).toString('utf8')))
                      throw new ServerLoginError(
                        'the server failed SCRAM verification (it does not know the password)',
                      )
                  } else throw new ServerLoginError(`unsupported server authentication method ${code}`)
                  break
                }
                case Backend.ErrorResponse: {
                  const fields = parseErrorFields(f)
                  throw new ServerLoginError(
                    `server login failed: ${fields.get('S') ?? 'FATAL'} ${fields.get('M') ?? ''}`,
                    {
                      cause: { code: fields.get('C') },
                    },
                  )
                }
                case Backend.ParameterStatus:
                  this.noteParameter(f)
                  break
                case Backend.BackendKeyData:
                  this.pid = f.readInt32BE(5)
                  this.key = f.readInt32BE(9)
                  break
                case Backend.ReadyForQuery:
                  clearTimeout(timer)
                  this.status = f[5]!
                  this.handler = undefined
                  resolve()
                  return
                default:
                  break // NoticeResponse, NegotiateProtocolVersion
              }
            }
          } catch (err) {
            fail(err as Error)
          }
        },
        onServerClose: (_s, err) =>
          fail(err ?? new ServerConnectError('the server closed the connection during login')),
      }
      this.socket.write(
        out.startupMessage({ user: target.user, database: target.database, ...target.startupParams }),
      )
    })
  }
}

/** Hosts (host:port) that answered SSLRequest with 'S': their sockets are made for TLS. */
const tlsHosts = new Set<string>()

/** Routes a shared-buffer socket's reads: the SSLRequest answer first, then the connection. */
class SharedReader {
  private conn: ServerConn | undefined
  private pending: ((b: number) => void) | undefined
  private early: Buffer | undefined
  readonly callback = (n: number, buf: Buffer): boolean => {
    const chunk = buf.subarray(0, n)
    if (this.conn) this.conn.onBorrowedRead(chunk)
    else if (this.pending && n > 0) {
      const resolve = this.pending
      this.pending = undefined
      // A server sends nothing after its one-byte answer until the startup message.
      if (n > 1) this.early = Buffer.from(chunk.subarray(1))
      resolve(chunk[0]!)
    } else this.early = this.early ? Buffer.concat([this.early, chunk]) : Buffer.from(chunk)
    return true
  }

  firstByte(socket: Socket): Promise<number> {
    if (this.early && this.early.length > 0) {
      const b = this.early[0]!
      this.early = this.early.length > 1 ? this.early.subarray(1) : undefined
      return Promise.resolve(b)
    }
    return new Promise((resolve, reject) => {
      const onEnd = () => reject(new ServerConnectError('the server closed the connection after SSLRequest'))
      socket.once('close', onEnd)
      socket.once('error', reject)
      this.pending = (b) => {
        socket.off('close', onEnd)
        socket.off('error', reject)
        resolve(b)
      }
    })
  }

  to(conn: ServerConn): void {
    this.conn = conn
    if (this.early) {
      conn.in.append(this.early)
      this.early = undefined
    }
  }
}

/** Reads exactly `n` bytes in paused mode, leaving the rest (a TLS handshake) unread. */
function readBytes(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      socket.off('readable', tryRead)
      socket.off('error', onError)
      socket.off('end', onEnd)
    }
    const tryRead = () => {
      const b = socket.read(n) as Buffer | null
      if (b) {
        cleanup()
        resolve(b)
      }
    }
    const onError = (err: Error) => {
      cleanup()
      reject(err)
    }
    const onEnd = () => onError(new ServerConnectError('the server closed the connection after SSLRequest'))
    socket.on('readable', tryRead)
    socket.once('error', onError)
    socket.once('end', onEnd)
  })
}

const fileCache = new Map<string, Buffer>()
const readCached = (path: string) => {
  let b = fileCache.get(path)
  if (!b) {
    b = readFileSync(path)
    fileCache.set(path, b)
  }
  return b
}

/** Forgets cached CA/cert files (RELOAD, SIGHUP). */
export function clearTlsFileCache(): void {
  fileCache.clear()
}

function startTls(socket: Socket, host: string, cfg: ServerTls): Promise<TLSSocket> {
  // libpq semantics: verify-ca checks the chain, verify-full also the host name; prefer/require
  // check the chain only when a CA file is given (as libpq does with a root certificate present).
  const verifyChain = cfg.sslmode === 'verify-ca' || cfg.sslmode === 'verify-full' || cfg.caFile !== ''
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      socket,
      servername: isIP(host) ? undefined : host,
      ca: cfg.caFile ? readCached(cfg.caFile) : undefined,
      cert: cfg.certFile ? readCached(cfg.certFile) : undefined,
      key: cfg.keyFile ? readCached(cfg.keyFile) : undefined,
      rejectUnauthorized: verifyChain,
      ...(cfg.sslmode === 'verify-full' ? {} : { checkServerIdentity: () => undefined }),
    })
    s.once('secureConnect', () => {
      s.off('error', onError)
      s.setNoDelay(true)
      resolve(s)
    })
    const onError = (err: Error) =>
      reject(new TlsError(`TLS to ${host} failed: ${err.message}`, { cause: err }))
    s.once('error', onError)
  })
}

export function rowDescriptionNames(frame: Buffer): string[] {
  const n = frame.readInt16BE(5)
  const names: string[] = []
  let pos = 7
  for (let i = 0; i < n; i++) {
    const [name, next] = readCString(frame, pos)
    names.push(name)
    pos = next + 18
  }
  return names
}

export function dataRowValues(frame: Buffer, columns: string[]): Map<string, string> {
  const n = frame.readInt16BE(5)
  const row = new Map<string, string>()
  let pos = 7
  for (let i = 0; i < n; i++) {
    const len = frame.readInt32BE(pos)
    pos += 4
    if (len >= 0) {
      row.set(columns[i] ?? String(i), frame.toString('utf8', pos, pos + len))
      pos += len
    }
  }
  return row
}

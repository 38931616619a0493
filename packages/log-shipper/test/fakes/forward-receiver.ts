// A Fluentd forward input for tests, written from the Forward Protocol Specification v1
// (https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1): it decodes Message,
// Forward, PackedForward and CompressedPackedForward, answers `chunk` options with `{ack}`, runs
// the HELO/PING/PONG handshake with a shared key and optional users, and can be stopped and
// restarted on the same port to play an aggregator outage. A malformed frame closes only its
// connection, as in_forward does.

import { createHash, randomBytes } from 'node:crypto'
import { createServer as createNetServer, type Server, type Socket } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import { gunzipSync } from 'node:zlib'
import { type Ext, Incomplete, pack, readAt } from './msgpack-reader.ts'

export interface ReceivedEvent {
  tag: string
  /** Seconds since the epoch, with the nanoseconds of an EventTime as the fraction. */
  time: number
  /** Whether the time came as EventTime (ext 0) rather than an integer. */
  eventTime: boolean
  record: Record<string, unknown>
}

export type Mode = 'Message' | 'Forward' | 'PackedForward' | 'CompressedPackedForward'

export interface ForwardReceiverOptions {
  port?: number
  sharedKey?: string
  /** Users for username/password auth (the HELO carries an auth salt when set). */
  users?: Record<string, string>
  hostname?: string
  tls?: { cert: string; key: string }
  /** Do not answer acks (a server that takes data but never confirms). */
  withholdAcks?: boolean
  /** Keep only a count and what `onEvent` keeps, not every event (million-line tests). */
  keep?: boolean
  onEvent?: (e: ReceivedEvent) => void
}

export interface ForwardReceiver {
  port: number
  events: ReceivedEvent[]
  /** Events received, kept or not. */
  count: number
  modes: Mode[]
  /** Chunk ids acknowledged. */
  acked: string[]
  /** Handshake outcomes: true accepted, or the reason refused. */
  auths: Array<true | string>
  /** Connections closed because of malformed data. */
  malformed: number
  connections: number
  options: ForwardReceiverOptions
  stop(): Promise<void>
  /** Starts again on the same port (after stop). */
  restart(): Promise<void>
}

const sha512hex = (...parts: Array<string | Buffer>) => {
  const h = createHash('sha512')
  for (const p of parts) h.update(p)
  return h.digest('hex')
}

export async function startForwardReceiver(options: ForwardReceiverOptions = {}): Promise<ForwardReceiver> {
  const sockets = new Set<Socket>()
  let server: Server
  const r: ForwardReceiver = {
    port: options.port ?? 0,
    events: [],
    count: 0,
    modes: [],
    acked: [],
    auths: [],
    malformed: 0,
    connections: 0,
    options,
    async stop() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((res) => server.close(() => res()))
    },
    async restart() {
      await listen()
    },
  }

  const onConnection = (socket: Socket) => {
    r.connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let buf = Buffer.alloc(0)
    const needAuth = options.sharedKey !== undefined
    let authed = !needAuth
    const nonce = randomBytes(16)
    const authSalt = options.users ? randomBytes(16) : Buffer.alloc(0)
    if (needAuth) socket.write(pack(['HELO', { nonce, auth: authSalt, keepalive: true }]))
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      let pos = 0
      try {
        for (;;) {
          let msg: unknown
          try {
            ;[msg, pos] = readAt(buf, pos)
          } catch (e) {
            if (e instanceof Incomplete) break
            throw e
          }
          if (!authed) {
            authed = ping(socket, msg, nonce, authSalt)
            if (!authed) return
            continue
          }
          handle(socket, msg)
        }
        buf = buf.subarray(pos)
      } catch {
        r.malformed++
        socket.destroy()
      }
    })
  }

  const ping = (socket: Socket, msg: unknown, nonce: Buffer, authSalt: Buffer): boolean => {
    if (!Array.isArray(msg) || msg[0] !== 'PING' || msg.length !== 6) throw new Error('expected PING')
    const [, clientHost, salt, digest, username, passDigest] = msg as [
      string,
      string,
      Buffer | string,
      string,
      string,
      string,
    ]
    const host = options.hostname ?? 'fake-fluentd'
    let reason: string | undefined
    if (sha512hex(salt, clientHost, nonce, options.sharedKey!) !== digest) reason = 'shared_key mismatch'
    else if (options.users) {
      const pass = options.users[username]
      if (pass === undefined || sha512hex(authSalt, username, pass) !== passDigest)
        reason = 'username/password mismatch'
    }
    const ok = reason === undefined
    r.auths.push(ok ? true : reason!)
    socket.write(pack(['PONG', ok, reason ?? '', host, sha512hex(salt, host, nonce, options.sharedKey!)]))
    if (!ok) socket.end()
    return ok
  }

  const handle = (socket: Socket, msg: unknown) => {
    if (!Array.isArray(msg) || typeof msg[0] !== 'string') throw new Error('not a forward message')
    const tag = msg[0]
    let option: Record<string, unknown> | undefined
    if (Buffer.isBuffer(msg[1]) || (typeof msg[1] === 'string' && msg.length <= 3)) {
      // PackedForward: a stream of msgpack [time, record] entries, maybe gzip'd.
      option = msg[2] as Record<string, unknown> | undefined
      let stream = Buffer.isBuffer(msg[1]) ? msg[1] : Buffer.from(msg[1] as string, 'binary')
      const compressed = option?.compressed === 'gzip'
      if (compressed) stream = gunzipSync(stream)
      if (r.modes.length < 10_000) r.modes.push(compressed ? 'CompressedPackedForward' : 'PackedForward')
      let p = 0
      let n = 0
      while (p < stream.length) {
        const [entry, next] = readAt(stream, p)
        p = next
        push(tag, entry)
        n++
      }
      if (option?.size !== undefined && option.size !== n)
        throw new Error(`size ${option.size} but ${n} entries`)
    } else if (Array.isArray(msg[1])) {
      r.modes.push('Forward')
      for (const entry of msg[1]) push(tag, entry)
      option = msg[2] as Record<string, unknown> | undefined
    } else {
      r.modes.push('Message')
      push(tag, [msg[1], msg[2]])
      option = msg[3] as Record<string, unknown> | undefined
    }
    const chunk = option?.chunk
    if (chunk !== undefined && !options.withholdAcks) {
      r.acked.push(String(chunk))
      socket.write(pack({ ack: String(chunk) }))
    }
  }

  const push = (tag: string, entry: unknown) => {
    if (!Array.isArray(entry) || entry.length !== 2) throw new Error('entry is not [time, record]')
    const [t, record] = entry as [unknown, Record<string, unknown>]
    let time: number
    let eventTime = false
    if (typeof t === 'number') time = t
    else if ((t as Ext)?.ext === 0 && (t as Ext).data.length === 8) {
      const d = (t as Ext).data
      time = d.readUInt32BE(0) + d.readUInt32BE(4) / 1e9
      eventTime = true
    } else throw new Error('time is neither an integer nor EventTime')
    if (typeof record !== 'object' || record === null || Array.isArray(record))
      throw new Error('record is not a map')
    const e = { tag, time, eventTime, record }
    r.count++
    options.onEvent?.(e)
    if (options.keep !== false) r.events.push(e)
  }

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = options.tls
        ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, onConnection)
        : createNetServer(onConnection)
      server.once('error', reject)
      server.listen(r.port, '127.0.0.1', () => {
        const a = server.address()
        if (a && typeof a === 'object') r.port = a.port
        resolve()
      })
    })
  await listen()
  return r
}

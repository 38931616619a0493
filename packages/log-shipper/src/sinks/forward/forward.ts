// The forward output: Fluentd Forward Protocol v1 over TCP or TLS. Each batch is sent as one
// PackedForward message per tag (entries are msgpack [EventTime, record] pairs, optionally gzip'd
// as CompressedPackedForward); with require_ack_response a batch is done only when the server
// echoed its chunk id. The HELO/PING/PONG handshake authenticates both sides with a shared key.
// Spec: https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1

import { createHash, randomBytes } from 'node:crypto'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { promisify } from 'node:util'
import { gzip as gzipCb } from 'node:zlib'
import type { LogEvent, Sink } from '@podkit/log-pipeline'
import { ForwardAuthError, ForwardDeliveryError, MsgpackDecodeError } from '../../errors.ts'
import { decodeOne, MsgpackWriter } from '../../msgpack.ts'
import type { TlsSettings } from '../tls.ts'

const gzip = promisify(gzipCb)

export interface ForwardOptions {
  name: string
  host: string
  port: number
  tls: TlsSettings
  requireAck: boolean
  compress: 'gzip' | undefined
  sharedKey: string | undefined
  selfHostname: string
  username: string | undefined
  password: string | undefined
  /** Send the options map (size) even without ack or compression. */
  sendOptions: boolean
  /** Replace every event's tag (the output's Tag key). */
  tag: string | undefined
  /** Integer seconds instead of EventTime (Fluentd v0.12 peers). */
  timeAsInteger: boolean
  keepalive: boolean
  keepaliveIdleTimeoutMs: number
  connectTimeoutMs: number
  /** How long to wait for an ack before treating the connection as broken. */
  ackTimeoutMs: number
}

/** A tag's PackedForward entries, encoded when the records were queued. */
export interface EncodedPart {
  tag: string
  entries: Buffer
  count: number
}

interface Pending {
  chunk: string
  resolve(): void
  reject(err: Error): void
}

/** Where the socket is in its life: handshake messages come before anything else. */
type Phase = 'helo' | 'pong' | 'open'

export class ForwardSink implements Sink {
  readonly name: string
  private readonly opts: ForwardOptions
  private socket: Socket | undefined
  private connecting: Promise<Socket> | undefined
  private inbox: Buffer = Buffer.alloc(0)
  private phase: Phase = 'open'
  private handshake: { resolve(): void; reject(err: Error): void; salt: Buffer } | undefined
  private pending: Pending[] = []
  private idleTimer: NodeJS.Timeout | undefined
  private readonly entries = new MsgpackWriter(1024 * 1024)
  private readonly frame = new MsgpackWriter(64 * 1024)
  /** Bytes sent, for metrics. */
  bytesSent = 0

  constructor(opts: ForwardOptions) {
    this.name = opts.name
    this.opts = opts
  }

  async write(events: readonly LogEvent[], signal?: AbortSignal): Promise<void> {
    if (events.length === 0) return
    const byTag = new Map<string, LogEvent[]>()
    for (const e of events) {
      let list = byTag.get(e.tag)
      if (!list) {
        list = []
        byTag.set(e.tag, list)
      }
      list.push(e)
    }
    const parts: EncodedPart[] = []
    for (const [tag, list] of byTag) {
      const w = this.entries
      w.reset()
      this.appendEntries(w, list)
      parts.push({ tag, entries: w.toBuffer(), count: list.length })
    }
    await this.writeEncoded(parts, signal)
  }

  /** Appends [time, record] entries of a PackedForward stream; the queue keeps chunks this way. */
  appendEntries(w: MsgpackWriter, events: readonly LogEvent[]): void {
    const asInt = this.opts.timeAsInteger
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!
      w.arrayHeader(2)
      if (asInt) w.num(Math.floor(e.time / 1000))
      else w.eventTimeMillis(e.time)
      w.map(e.record)
    }
  }

  /** Sends already-encoded entries, one PackedForward message per tag, and waits for the acks. */
  async writeEncoded(parts: readonly EncodedPart[], signal?: AbortSignal): Promise<void> {
    if (parts.length === 0) return
    signal?.throwIfAborted()
    const socket = await this.connection()
    this.clearIdle()
    const acks: Array<Promise<void>> = []
    const writes: Array<Promise<void>> = []
    for (const part of parts) {
      const { frame, chunk } = await this.frameOf(this.opts.tag ?? part.tag, part.entries, part.count)
      if (chunk) acks.push(this.awaitAck(chunk))
      writes.push(
        new Promise<void>((resolve, reject) => {
          socket.cork()
          for (let i = 0; i < frame.length - 1; i++) socket.write(frame[i]!)
          socket.write(frame.at(-1)!, (err) =>
            err ? reject(new ForwardDeliveryError(`write failed: ${err.message}`)) : resolve(),
          )
          socket.uncork()
        }),
      )
      for (const b of frame) this.bytesSent += b.length
    }
    const onAbort = () => this.fail(new ForwardDeliveryError('delivery cut by shutdown'))
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await Promise.all([...writes, ...acks])
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
    if (!this.opts.keepalive) this.close()
    else this.armIdle()
  }

  async stop(): Promise<void> {
    this.close()
  }

  /** Encodes one PackedForward message for a tag's events (tests and one-off use). */
  async encode(
    tag: string,
    events: readonly LogEvent[],
  ): Promise<{ frame: Buffer; chunk: string | undefined }> {
    const w = this.entries
    w.reset()
    this.appendEntries(w, events)
    const { frame, chunk } = await this.frameOf(tag, w.toBuffer(), events.length)
    return { frame: Buffer.concat(frame), chunk }
  }

  /**
   * [tag, entries (gzip'd for CompressedPackedForward), options] as three buffers (head, entries,
   * options), so the entries are sent as they are, without copying them into a frame.
   */
  private async frameOf(
    tag: string,
    entries: Buffer,
    count: number,
  ): Promise<{ frame: Buffer[]; chunk: string | undefined }> {
    const body = this.opts.compress === 'gzip' ? await gzip(entries) : entries
    const chunk = this.opts.requireAck ? randomBytes(16).toString('base64') : undefined
    const f = this.frame
    f.reset()
    const withOptions = chunk !== undefined || this.opts.compress !== undefined || this.opts.sendOptions
    f.arrayHeader(withOptions ? 3 : 2)
    f.str(tag)
    f.binHeader(body.length)
    const head = f.toBuffer()
    if (!withOptions) return { frame: [head, body], chunk }
    const o: Record<string, unknown> = { size: count }
    if (chunk) o.chunk = chunk
    if (this.opts.compress) o.compressed = 'gzip'
    f.reset()
    f.map(o)
    return { frame: [head, body, f.toBuffer()], chunk }
  }

  private awaitAck(chunk: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new ForwardDeliveryError(`no ack for chunk ${chunk} within ${this.opts.ackTimeoutMs} ms`))
      }, this.opts.ackTimeoutMs)
      timer.unref()
      this.pending.push({
        chunk,
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
        reject: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      })
    })
  }

  private connection(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket)
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined
    })
    return this.connecting
  }

  private async open(): Promise<Socket> {
    const { host, port, tls } = this.opts
    const socket = tls.enabled
      ? tlsConnect({
          host,
          port,
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
          rejectUnauthorized: tls.verify,
          servername: tls.servername ?? (isIp(host) ? undefined : host),
        })
      : netConnect({ host, port })
    socket.setNoDelay(true)
    this.inbox = Buffer.alloc(0)
    this.phase = this.opts.sharedKey !== undefined ? 'helo' : 'open'
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy()
        reject(
          new ForwardDeliveryError(
            `connect to ${host}:${port} timed out after ${this.opts.connectTimeoutMs} ms`,
          ),
        )
      }, this.opts.connectTimeoutMs)
      socket.once(tls.enabled ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer)
        resolve()
      })
      socket.once('error', (err) => {
        clearTimeout(timer)
        reject(new ForwardDeliveryError(`connect to ${host}:${port} failed: ${err.message}`, { cause: err }))
      })
    })
    socket.on('data', (d: Buffer) => this.onData(socket, d))
    socket.on('error', (err) => {
      if (this.socket === socket)
        this.fail(new ForwardDeliveryError(`connection error: ${err.message}`, { cause: err }))
    })
    socket.on('close', () => {
      if (this.socket === socket) this.fail(new ForwardDeliveryError('the server closed the connection'))
    })
    this.socket = socket
    if (this.phase === 'helo') {
      await new Promise<void>((resolve, reject) => {
        this.handshake = { resolve, reject, salt: randomBytes(16) }
        const timer = setTimeout(
          () =>
            this.fail(
              new ForwardAuthError(`no HELO from ${host}:${port} within ${this.opts.connectTimeoutMs} ms`),
            ),
          this.opts.connectTimeoutMs,
        )
        timer.unref()
        this.handshake.resolve = () => {
          clearTimeout(timer)
          resolve()
        }
        this.handshake.reject = (err) => {
          clearTimeout(timer)
          reject(err)
        }
      })
    }
    return socket
  }

  private onData(socket: Socket, data: Buffer): void {
    if (this.socket !== socket) return
    this.inbox = this.inbox.length === 0 ? data : Buffer.concat([this.inbox, data])
    let offset = 0
    try {
      for (;;) {
        const r = decodeOne(this.inbox, offset)
        if (!r) break
        offset = r.end
        this.onMessage(r.value)
      }
    } catch (err) {
      this.fail(
        err instanceof MsgpackDecodeError
          ? new ForwardDeliveryError(`the server sent bytes that are not msgpack: ${err.message}`)
          : (err as Error),
      )
      return
    }
    this.inbox = this.inbox.subarray(offset)
  }

  private onMessage(msg: unknown): void {
    if (this.phase === 'helo') {
      this.onHelo(msg)
      return
    }
    if (this.phase === 'pong') {
      this.onPong(msg)
      return
    }
    const ack = (msg as { ack?: unknown } | null)?.ack
    if (typeof ack !== 'string' && !Buffer.isBuffer(ack)) {
      throw new ForwardDeliveryError(
        `unexpected message from the server: ${JSON.stringify(msg)?.slice(0, 100)}`,
      )
    }
    const id = String(ack)
    const i = this.pending.findIndex((p) => p.chunk === id)
    if (i === -1) throw new ForwardDeliveryError(`ack for unknown chunk ${id}`)
    this.pending.splice(i, 1)[0]!.resolve()
  }

  private onHelo(msg: unknown): void {
    if (!Array.isArray(msg) || msg[0] !== 'HELO' || typeof msg[1] !== 'object' || msg[1] === null) {
      throw new ForwardAuthError('expected HELO from a server with shared_key set')
    }
    const opts = msg[1] as { nonce?: unknown; auth?: unknown }
    const nonce = toBytes(opts.nonce)
    const authSalt = toBytes(opts.auth)
    const { sharedKey = '', selfHostname, username = '', password = '' } = this.opts
    const salt = this.handshake!.salt
    this.nonce = nonce
    const ping = [
      'PING',
      selfHostname,
      salt,
      sha512hex(salt, selfHostname, nonce, sharedKey),
      authSalt.length > 0 ? username : '',
      authSalt.length > 0 ? sha512hex(authSalt, username, password) : '',
    ]
    const w = new MsgpackWriter(512)
    w.write(ping)
    this.phase = 'pong'
    this.socket!.write(w.toBuffer())
  }

  private nonce: Buffer = Buffer.alloc(0)

  private onPong(msg: unknown): void {
    if (!Array.isArray(msg) || msg[0] !== 'PONG') throw new ForwardAuthError('expected PONG after PING')
    const [, ok, reason, serverHostname, digest] = msg as [string, unknown, unknown, unknown, unknown]
    if (ok !== true) throw new ForwardAuthError(`the server refused authentication: ${String(reason)}`)
    const expected = sha512hex(
      this.handshake!.salt,
      String(serverHostname),
      this.nonce,
      this.opts.sharedKey ?? '',
    )
    if (String(digest) !== expected) {
      throw new ForwardAuthError(
        'the server answered with a wrong shared key digest (not the server we expect)',
      )
    }
    this.phase = 'open'
    const h = this.handshake!
    this.handshake = undefined
    h.resolve()
  }

  /** Breaks the connection and fails whatever waits on it; the next write reconnects. */
  private fail(err: Error): void {
    const socket = this.socket
    this.socket = undefined
    socket?.destroy()
    this.clearIdle()
    const h = this.handshake
    this.handshake = undefined
    h?.reject(err)
    for (const p of this.pending.splice(0)) p.reject(err)
  }

  private close(): void {
    const socket = this.socket
    this.socket = undefined
    this.clearIdle()
    socket?.end()
    for (const p of this.pending.splice(0)) p.reject(new ForwardDeliveryError('connection closed'))
  }

  private armIdle(): void {
    this.clearIdle()
    if (this.opts.keepaliveIdleTimeoutMs <= 0) return
    this.idleTimer = setTimeout(() => this.close(), this.opts.keepaliveIdleTimeoutMs)
    this.idleTimer.unref()
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer)
    this.idleTimer = undefined
  }
}

function toBytes(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v
  if (v === undefined || v === null) return Buffer.alloc(0)
  return Buffer.from(String(v), 'utf8')
}

function sha512hex(...parts: Array<string | Buffer>): string {
  const h = createHash('sha512')
  for (const p of parts) h.update(p)
  return h.digest('hex')
}

const isIp = (h: string) => /^[\d.]+$/.test(h) || h.includes(':')

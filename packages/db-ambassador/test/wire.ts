// Frontend messages built by hand and a raw protocol client, for the tests that must control the
// bytes on the wire (hostile input, backpressure, the shared read buffer).

import { connect, type Socket } from 'node:net'

export const i32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}

/** A typed frontend message (a string body is sent as latin1, byte for byte). */
export function msg(type: string, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'latin1') : body
  return Buffer.concat([Buffer.from(type), i32(b.length + 4), b])
}

/** A protocol 3.0 StartupMessage. */
export function startup(user: string, database: string): Buffer {
  const body = Buffer.concat([i32(196608), Buffer.from(`user\0${user}\0database\0${database}\0\0`)])
  return Buffer.concat([i32(body.length + 4), body])
}

/**
 * A raw protocol client (trust auth): counts whole backend messages by type as they arrive and,
 * with keepRows, keeps the first column of every DataRow as text.
 */
export class RawClient {
  readonly socket: Socket
  private buf: Buffer = Buffer.alloc(0)
  readonly counts = new Map<string, number>()
  readonly rows: string[] = []

  constructor(port: number, user: string, database: string, keepRows = false) {
    this.socket = connect({ host: '127.0.0.1', port }, () => this.socket.write(startup(user, database)))
    this.socket.on('error', () => {})
    this.socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length > 0 ? Buffer.concat([this.buf, d]) : d
      let p = 0
      while (this.buf.length - p >= 5) {
        const len = this.buf.readInt32BE(p + 1)
        if (this.buf.length - p < len + 1) break
        const t = String.fromCharCode(this.buf[p]!)
        this.counts.set(t, (this.counts.get(t) ?? 0) + 1)
        // DataRow: int16 column count, then the first column's int32 length and value.
        if (keepRows && t === 'D')
          this.rows.push(this.buf.toString('utf8', p + 11, p + 11 + this.buf.readInt32BE(p + 7)))
        p += len + 1
      }
      this.buf = this.buf.subarray(p)
    })
  }

  count(t: string): number {
    return this.counts.get(t) ?? 0
  }
}

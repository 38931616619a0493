// The one parser of the pooler: finds frame boundaries in a byte stream (startup packets have no
// type byte; every later message is a type byte and an int32 length) without decoding the body.

import { ProtocolError } from '../errors.ts'

const EMPTY = Buffer.alloc(0)
/** Missing bytes of an incomplete frame beyond which reads are gathered (see FrameBuffer.typedLength). */
export const GATHER_MIN = 64 * 1024

/** PostgreSQL's own limit on a startup packet (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_LENGTH = 10_000

/**
 * Accumulates a byte stream and hands out whole frames as views into one Buffer. Buffers handed
 * out are never written to again, so a view may be forwarded (written to a socket) as it is.
 */
export class FrameBuffer {
  buf: Buffer = EMPTY
  pos = 0
  /**
   * Whether `buf` is a view of a read buffer that the next read overwrites (a server socket read
   * with `onread`): its frames may be looked at and copied, never kept or queued for writing.
   */
  borrowed = false
  /**
   * A large frame at `pos` is incomplete: reads are kept in `parts` until it is whole (`want`
   * bytes from `pos`), then copied once. Appending each read to the unread tail copied the whole
   * tail again per read: a 40 MiB Bind took seconds of CPU, with every other client stalled.
   */
  private want = 0
  private parts: Buffer[] = []
  private partsBytes = 0

  get available(): number {
    return this.buf.length - this.pos + this.partsBytes
  }

  /** Whether reads are being gathered for an incomplete large frame (see gatherIfLarge). */
  get gathering(): boolean {
    return this.want > 0
  }

  /** The frame at `pos` is incomplete: gather the next reads when it misses more than GATHER_MIN bytes. */
  gatherIfLarge(): void {
    if (this.want === 0 && this.buf.length - this.pos >= 5) {
      const total = declaredFrameLength(this.buf, this.pos)
      if (total - (this.buf.length - this.pos) > GATHER_MIN) this.want = total
    }
  }

  append(chunk: Buffer, borrowed = false): void {
    if (this.want > 0) {
      // A borrowed read is overwritten by the next one: keep a copy.
      this.parts.push(borrowed ? Buffer.from(chunk) : chunk)
      this.partsBytes += chunk.length
      if (this.buf.length - this.pos + this.partsBytes < this.want) return
      this.buf = Buffer.concat([this.buf.subarray(this.pos), ...this.parts])
      this.pos = 0
      this.borrowed = false
      this.parts = []
      this.partsBytes = 0
      this.want = 0
      return
    }
    if (this.pos >= this.buf.length) {
      this.buf = chunk
      this.pos = 0
      this.borrowed = borrowed
    } else {
      // Concat copies: the result is ours even when the chunk is borrowed.
      this.borrowed = false
      // Keep only the unread tail: a fresh Buffer, so earlier views stay valid.
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk])
      this.pos = 0
    }
  }

  /** At the end of a borrowed read: keep a copy of the unread tail (an incomplete frame), drop the rest. */
  settle(): void {
    if (!this.borrowed) return
    if (this.pos < this.buf.length) {
      // One allocation and a copy (Buffer.from of a view would make the view first).
      const rest = Buffer.allocUnsafe(this.buf.length - this.pos)
      this.buf.copy(rest, 0, this.pos)
      this.buf = rest
    } else this.buf = EMPTY
    this.pos = 0
    this.borrowed = false
  }

  /** The unread bytes, and forget them. */
  takeRest(): Buffer {
    const head = this.borrowed ? Buffer.from(this.buf.subarray(this.pos)) : this.buf.subarray(this.pos)
    const rest = this.parts.length > 0 ? Buffer.concat([head, ...this.parts]) : head
    this.buf = EMPTY
    this.pos = 0
    this.borrowed = false
    this.parts = []
    this.partsBytes = 0
    this.want = 0
    return rest
  }
}

/** Bytes of the typed message at `pos` as its header declares them (type byte included); needs 5 bytes there. */
export function declaredFrameLength(buf: Buffer, pos: number): number {
  return 1 + ((buf[pos + 1]! << 24) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 8) | buf[pos + 4]!)
}

/**
 * Length of the typed message (type byte + int32 length + body) starting at `pos`, or -1 while it
 * is incomplete. Throws ProtocolError for a length that cannot be valid or exceeds `maxLength`,
 * before waiting for its bytes.
 */
export function typedFrameLength(buf: Buffer, pos: number, maxLength: number): number {
  if (buf.length - pos < 5) return -1
  // Bytes read by hand: readInt32BE's argument checks cost more than the rest of this function.
  const len = (buf[pos + 1]! << 24) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 8) | buf[pos + 4]!
  if (len < 4) throw new ProtocolError(`invalid message length ${len} for message type 0x${hex(buf[pos]!)}`)
  if (len > maxLength)
    throw new ProtocolError(`message of ${len} bytes exceeds the ${maxLength}-byte limit (max_packet_size)`)
  return buf.length - pos >= len + 1 ? len + 1 : -1
}

/** Length of the startup-phase packet (int32 length including itself) at `pos`, or -1 while incomplete. */
export function startupFrameLength(buf: Buffer, pos: number): number {
  if (buf.length - pos < 4) return -1
  const len = buf.readInt32BE(pos)
  if (len < 8 || len > MAX_STARTUP_LENGTH) throw new ProtocolError(`invalid startup packet length ${len}`)
  return buf.length - pos >= len ? len : -1
}

/** Reads a NUL-terminated string at `pos`; returns it and the position after the NUL. */
export function readCString(buf: Buffer, pos: number, end = buf.length): [string, number] {
  const nul = buf.indexOf(0, pos)
  if (nul < 0 || nul >= end) throw new ProtocolError('unterminated string in message')
  return [buf.toString('utf8', pos, nul), nul + 1]
}

/** The key/value pairs of a StartupMessage body (after the int32 length and protocol code). */
export function parseStartupParams(packet: Buffer): Map<string, string> {
  const params = new Map<string, string>()
  let pos = 8
  const end = packet.length
  while (pos < end && packet[pos] !== 0) {
    const [key, p1] = readCString(packet, pos, end)
    const [value, p2] = readCString(packet, p1, end)
    params.set(key, value)
    pos = p2
  }
  if (pos >= end) throw new ProtocolError('startup packet is not terminated')
  return params
}

/** Fields of an ErrorResponse or NoticeResponse frame, keyed by their one-letter code. */
export function parseErrorFields(frame: Buffer): Map<string, string> {
  const fields = new Map<string, string>()
  let pos = 5
  while (pos < frame.length && frame[pos] !== 0) {
    const code = String.fromCharCode(frame[pos]!)
    const [value, next] = readCString(frame, pos + 1)
    fields.set(code, value)
    pos = next
  }
  return fields
}

const hex = (b: number) => b.toString(16).padStart(2, '0')

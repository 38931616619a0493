// MessagePack (https://github.com/msgpack/msgpack/blob/master/spec.md): an encoder that writes into
// one reused, growing Buffer (the forward output's hot path) and a decoder for what peers send back
// (HELO, PONG, ack maps). EventTime is the forward protocol's ext type 0.

import { MsgpackDecodeError } from './errors.ts'

/** Fluentd's EventTime: seconds and nanoseconds, encoded as ext type 0 (fixext 8). */
export class EventTime {
  constructor(
    readonly seconds: number,
    readonly nanoseconds: number,
  ) {}

  static fromMillis(ms: number): EventTime {
    const seconds = Math.floor(ms / 1000)
    return new EventTime(seconds, Math.round((ms - seconds * 1000) * 1e6) % 1e9)
  }

  toMillis(): number {
    return this.seconds * 1000 + this.nanoseconds / 1e6
  }
}

/** An ext value the decoder does not know. */
export interface ExtValue {
  type: number
  data: Buffer
}

export class MsgpackWriter {
  buf: Buffer
  pos = 0

  constructor(initial = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initial)
  }

  reset(): void {
    this.pos = 0
  }

  /** A copy of what was written (the internal buffer is reused). */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos))
  }

  /** A view of what was written; valid only until the next write or reset. */
  view(): Buffer {
    return this.buf.subarray(0, this.pos)
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  write(v: unknown): void {
    switch (typeof v) {
      case 'string':
        this.str(v)
        return
      case 'number':
        this.num(v)
        return
      case 'boolean':
        this.ensure(1)
        this.buf[this.pos++] = v ? 0xc3 : 0xc2
        return
      case 'bigint':
        this.num(Number(v))
        return
      case 'undefined':
        this.ensure(1)
        this.buf[this.pos++] = 0xc0
        return
      case 'object':
        if (v === null) {
          this.ensure(1)
          this.buf[this.pos++] = 0xc0
        } else if (v instanceof EventTime) this.eventTime(v)
        else if (Array.isArray(v)) {
          this.arrayHeader(v.length)
          for (const x of v) this.write(x)
        } else if (Buffer.isBuffer(v) || v instanceof Uint8Array) this.bin(v)
        else if (v instanceof Date) this.str(v.toISOString())
        else this.map(v as Record<string, unknown>)
        return
      default:
        this.str(String(v))
    }
  }

  map(obj: Record<string, unknown>): void {
    const keys = Object.keys(obj)
    let n = keys.length
    for (let i = 0; i < keys.length; i++) if (obj[keys[i]!] === undefined) n--
    this.mapHeader(n)
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!
      const v = obj[k]
      if (v === undefined) continue
      this.str(k)
      if (typeof v === 'string') this.str(v)
      else this.write(v)
    }
  }

  str(s: string): void {
    const n = s.length
    // Most keys and values are ASCII under 256 characters: copy them in one pass behind a header
    // sized for their length (a JS loop beats the native encoder's call cost at these sizes), and
    // fall back to the UTF-8 encoder at the first non-ASCII character.
    if (n < 256) {
      this.ensure(n + 2)
      const b = this.buf
      const head = n < 32 ? 1 : 2
      const start = this.pos + head
      let i = 0
      for (; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c > 0x7f) break
        b[start + i] = c
      }
      if (i === n) {
        if (head === 1) b[this.pos] = 0xa0 | n
        else {
          b[this.pos] = 0xd9
          b[this.pos + 1] = n
        }
        this.pos = start + n
        return
      }
    }
    const len = Buffer.byteLength(s, 'utf8')
    this.ensure(len + 5)
    const b = this.buf
    if (len < 32) b[this.pos++] = 0xa0 | len
    else if (len < 256) {
      b[this.pos++] = 0xd9
      b[this.pos++] = len
    } else if (len < 65536) {
      b[this.pos++] = 0xda
      b.writeUInt16BE(len, this.pos)
      this.pos += 2
    } else {
      b[this.pos++] = 0xdb
      b.writeUInt32BE(len, this.pos)
      this.pos += 4
    }
    b.write(s, this.pos, len, 'utf8')
    this.pos += len
  }

  bin(data: Uint8Array): void {
    this.binHeader(data.length)
    this.ensure(data.length)
    this.buf.set(data, this.pos)
    this.pos += data.length
  }

  /** The header of a bin of `n` bytes, for callers that send the bytes themselves. */
  binHeader(n: number): void {
    this.ensure(5)
    if (n < 256) {
      this.buf[this.pos++] = 0xc4
      this.buf[this.pos++] = n
    } else if (n < 65536) {
      this.buf[this.pos++] = 0xc5
      this.buf.writeUInt16BE(n, this.pos)
      this.pos += 2
    } else {
      this.buf[this.pos++] = 0xc6
      this.buf.writeUInt32BE(n, this.pos)
      this.pos += 4
    }
  }

  /** Bytes that already are msgpack (a PackedForward entries stream). */
  raw(data: Uint8Array): void {
    this.ensure(data.length)
    this.buf.set(data, this.pos)
    this.pos += data.length
  }

  num(v: number): void {
    this.ensure(9)
    const b = this.buf
    if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) {
      if (v >= 0) {
        if (v < 128) b[this.pos++] = v
        else if (v < 256) {
          b[this.pos++] = 0xcc
          b[this.pos++] = v
        } else if (v < 65536) {
          b[this.pos++] = 0xcd
          b.writeUInt16BE(v, this.pos)
          this.pos += 2
        } else if (v < 2 ** 32) {
          b[this.pos++] = 0xce
          b.writeUInt32BE(v, this.pos)
          this.pos += 4
        } else {
          b[this.pos++] = 0xcf
          b.writeBigUInt64BE(BigInt(v), this.pos)
          this.pos += 8
        }
      } else if (v >= -32) b[this.pos++] = v & 0xff
      else if (v >= -128) {
        b[this.pos++] = 0xd0
        b.writeInt8(v, this.pos++)
      } else if (v >= -32768) {
        b[this.pos++] = 0xd1
        b.writeInt16BE(v, this.pos)
        this.pos += 2
      } else if (v >= -(2 ** 31)) {
        b[this.pos++] = 0xd2
        b.writeInt32BE(v, this.pos)
        this.pos += 4
      } else {
        b[this.pos++] = 0xd3
        b.writeBigInt64BE(BigInt(v), this.pos)
        this.pos += 8
      }
      return
    }
    b[this.pos++] = 0xcb
    b.writeDoubleBE(v, this.pos)
    this.pos += 8
  }

  eventTime(t: EventTime): void {
    this.ensure(10)
    const b = this.buf
    b[this.pos++] = 0xd7 // fixext 8
    b[this.pos++] = 0x00 // ext type 0: EventTime
    b.writeUInt32BE(t.seconds >>> 0, this.pos)
    b.writeUInt32BE(t.nanoseconds >>> 0, this.pos + 4)
    this.pos += 8
  }

  /** EventTime straight from epoch milliseconds, without an object per event. */
  eventTimeMillis(ms: number): void {
    const seconds = Math.floor(ms / 1000)
    const nanos = Math.round((ms - seconds * 1000) * 1e6) % 1e9
    this.ensure(10)
    const b = this.buf
    b[this.pos++] = 0xd7
    b[this.pos++] = 0x00
    b.writeUInt32BE(seconds >>> 0, this.pos)
    b.writeUInt32BE(nanos >>> 0, this.pos + 4)
    this.pos += 8
  }

  arrayHeader(n: number): void {
    this.ensure(5)
    if (n < 16) this.buf[this.pos++] = 0x90 | n
    else if (n < 65536) {
      this.buf[this.pos++] = 0xdc
      this.buf.writeUInt16BE(n, this.pos)
      this.pos += 2
    } else {
      this.buf[this.pos++] = 0xdd
      this.buf.writeUInt32BE(n, this.pos)
      this.pos += 4
    }
  }

  mapHeader(n: number): void {
    this.ensure(5)
    if (n < 16) this.buf[this.pos++] = 0x80 | n
    else if (n < 65536) {
      this.buf[this.pos++] = 0xde
      this.buf.writeUInt16BE(n, this.pos)
      this.pos += 2
    } else {
      this.buf[this.pos++] = 0xdf
      this.buf.writeUInt32BE(n, this.pos)
      this.pos += 4
    }
  }
}

/** One-shot encode. */
export function encode(v: unknown): Buffer {
  const w = new MsgpackWriter(256)
  w.write(v)
  return w.toBuffer()
}

/** Thrown inside the decoder when the buffer ends mid-value; callers wait for more bytes. */
const INCOMPLETE = Symbol('incomplete')

/**
 * Decodes one value at `offset`. Returns undefined when the buffer holds only part of a value
 * (read more and try again); throws MsgpackDecodeError on bytes that are not msgpack.
 */
export function decodeOne(buf: Buffer, offset = 0): { value: unknown; end: number } | undefined {
  const r = { buf, pos: offset }
  try {
    const value = readValue(r, 0)
    return { value, end: r.pos }
  } catch (err) {
    if (err === INCOMPLETE) return undefined
    throw err
  }
}

interface Reader {
  buf: Buffer
  pos: number
}

function need(r: Reader, n: number): void {
  if (r.pos + n > r.buf.length) throw INCOMPLETE
}

function readValue(r: Reader, depth: number): unknown {
  if (depth > 64) throw new MsgpackDecodeError('msgpack nesting deeper than 64 levels')
  need(r, 1)
  const b = r.buf
  const t = b[r.pos++]!
  if (t < 0x80) return t
  if (t >= 0xe0) return t - 0x100
  if ((t & 0xf0) === 0x80) return readMap(r, t & 0x0f, depth)
  if ((t & 0xf0) === 0x90) return readArray(r, t & 0x0f, depth)
  if ((t & 0xe0) === 0xa0) return readStr(r, t & 0x1f)
  switch (t) {
    case 0xc0:
      return null
    case 0xc2:
      return false
    case 0xc3:
      return true
    case 0xc4:
      return readBin(r, readLen(r, 1))
    case 0xc5:
      return readBin(r, readLen(r, 2))
    case 0xc6:
      return readBin(r, readLen(r, 4))
    case 0xc7:
      return readExt(r, readLen(r, 1))
    case 0xc8:
      return readExt(r, readLen(r, 2))
    case 0xc9:
      return readExt(r, readLen(r, 4))
    case 0xca:
      need(r, 4)
      r.pos += 4
      return b.readFloatBE(r.pos - 4)
    case 0xcb:
      need(r, 8)
      r.pos += 8
      return b.readDoubleBE(r.pos - 8)
    case 0xcc:
      return readLen(r, 1)
    case 0xcd:
      return readLen(r, 2)
    case 0xce:
      return readLen(r, 4)
    case 0xcf:
      need(r, 8)
      r.pos += 8
      return Number(b.readBigUInt64BE(r.pos - 8))
    case 0xd0:
      need(r, 1)
      return b.readInt8(r.pos++)
    case 0xd1:
      need(r, 2)
      r.pos += 2
      return b.readInt16BE(r.pos - 2)
    case 0xd2:
      need(r, 4)
      r.pos += 4
      return b.readInt32BE(r.pos - 4)
    case 0xd3:
      need(r, 8)
      r.pos += 8
      return Number(b.readBigInt64BE(r.pos - 8))
    case 0xd4:
      return readExt(r, 1)
    case 0xd5:
      return readExt(r, 2)
    case 0xd6:
      return readExt(r, 4)
    case 0xd7:
      return readExt(r, 8)
    case 0xd8:
      return readExt(r, 16)
    case 0xd9:
      return readStr(r, readLen(r, 1))
    case 0xda:
      return readStr(r, readLen(r, 2))
    case 0xdb:
      return readStr(r, readLen(r, 4))
    case 0xdc:
      return readArray(r, readLen(r, 2), depth)
    case 0xdd:
      return readArray(r, readLen(r, 4), depth)
    case 0xde:
      return readMap(r, readLen(r, 2), depth)
    case 0xdf:
      return readMap(r, readLen(r, 4), depth)
    default:
      throw new MsgpackDecodeError(`byte 0x${t.toString(16)} at offset ${r.pos - 1} is not a msgpack type`)
  }
}

function readLen(r: Reader, n: 1 | 2 | 4): number {
  need(r, n)
  const v = n === 1 ? r.buf[r.pos]! : n === 2 ? r.buf.readUInt16BE(r.pos) : r.buf.readUInt32BE(r.pos)
  r.pos += n
  return v
}

function readStr(r: Reader, n: number): string {
  need(r, n)
  r.pos += n
  return r.buf.toString('utf8', r.pos - n, r.pos)
}

function readBin(r: Reader, n: number): Buffer {
  need(r, n)
  r.pos += n
  return r.buf.subarray(r.pos - n, r.pos)
}

function readExt(r: Reader, n: number): EventTime | ExtValue {
  need(r, n + 1)
  const type = r.buf.readInt8(r.pos)
  const start = r.pos + 1
  r.pos = start + n
  if (type === 0 && n === 8) return new EventTime(r.buf.readUInt32BE(start), r.buf.readUInt32BE(start + 4))
  return { type, data: r.buf.subarray(start, start + n) }
}

function readArray(r: Reader, n: number, depth: number): unknown[] {
  // A length larger than the bytes left cannot be complete: fail fast instead of allocating.
  if (n > r.buf.length - r.pos) need(r, n)
  const out = new Array(n)
  for (let i = 0; i < n; i++) out[i] = readValue(r, depth + 1)
  return out
}

function readMap(r: Reader, n: number, depth: number): Record<string, unknown> {
  if (n * 2 > r.buf.length - r.pos) need(r, n * 2)
  const out: Record<string, unknown> = {}
  for (let i = 0; i < n; i++) {
    const k = readValue(r, depth + 1)
    out[Buffer.isBuffer(k) ? k.toString('utf8') : String(k)] = readValue(r, depth + 1)
  }
  return out
}

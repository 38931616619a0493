// A msgpack decoder for the test fakes, written from the spec
// (https://github.com/msgpack/msgpack/blob/master/spec.md) and independent of src/msgpack.ts, so
// the encoder under test is checked against a second reading of the format. Also a tiny writer
// for the few replies a fake server sends (HELO, PONG, ack).

export class Incomplete extends Error {}

export interface Ext {
  ext: number
  data: Buffer
}

/** Reads one value at `pos`; throws Incomplete when the bytes end early, Error on a bad type byte. */
export function readAt(buf: Buffer, pos: number): [unknown, number] {
  const c = { pos }
  const v = read(buf, c)
  return [v, c.pos]
}

function take(buf: Buffer, c: { pos: number }, n: number): number {
  if (c.pos + n > buf.length) throw new Incomplete()
  const at = c.pos
  c.pos += n
  return at
}

function read(buf: Buffer, c: { pos: number }): unknown {
  const t = buf[take(buf, c, 1)]!
  const str = (n: number) => buf.toString('utf8', take(buf, c, n), c.pos)
  const bin = (n: number) => buf.subarray(take(buf, c, n), c.pos)
  const arr = (n: number) => Array.from({ length: n }, () => read(buf, c))
  const map = (n: number) => {
    const o: Record<string, unknown> = {}
    for (let i = 0; i < n; i++) {
      const k = read(buf, c)
      o[String(k)] = read(buf, c)
    }
    return o
  }
  const ext = (n: number) => {
    const type = buf.readInt8(take(buf, c, 1))
    return { ext: type, data: bin(n) } satisfies Ext
  }
  const u8 = () => buf.readUInt8(take(buf, c, 1))
  const u16 = () => buf.readUInt16BE(take(buf, c, 2))
  const u32 = () => buf.readUInt32BE(take(buf, c, 4))
  if (t <= 0x7f) return t
  if (t >= 0x80 && t <= 0x8f) return map(t - 0x80)
  if (t >= 0x90 && t <= 0x9f) return arr(t - 0x90)
  if (t >= 0xa0 && t <= 0xbf) return str(t - 0xa0)
  if (t >= 0xe0) return t - 256
  switch (t) {
    case 0xc0:
      return null
    case 0xc2:
      return false
    case 0xc3:
      return true
    case 0xc4:
      return bin(u8())
    case 0xc5:
      return bin(u16())
    case 0xc6:
      return bin(u32())
    case 0xc7:
      return ext(u8())
    case 0xc8:
      return ext(u16())
    case 0xc9:
      return ext(u32())
    case 0xca:
      return buf.readFloatBE(take(buf, c, 4))
    case 0xcb:
      return buf.readDoubleBE(take(buf, c, 8))
    case 0xcc:
      return u8()
    case 0xcd:
      return u16()
    case 0xce:
      return u32()
    case 0xcf:
      return Number(buf.readBigUInt64BE(take(buf, c, 8)))
    case 0xd0:
      return buf.readInt8(take(buf, c, 1))
    case 0xd1:
      return buf.readInt16BE(take(buf, c, 2))
    case 0xd2:
      return buf.readInt32BE(take(buf, c, 4))
    case 0xd3:
      return Number(buf.readBigInt64BE(take(buf, c, 8)))
    case 0xd4:
      return ext(1)
    case 0xd5:
      return ext(2)
    case 0xd6:
      return ext(4)
    case 0xd7:
      return ext(8)
    case 0xd8:
      return ext(16)
    case 0xd9:
      return str(u8())
    case 0xda:
      return str(u16())
    case 0xdb:
      return str(u32())
    case 0xdc:
      return arr(u16())
    case 0xdd:
      return arr(u32())
    case 0xde:
      return map(u16())
    case 0xdf:
      return map(u32())
    default:
      throw new Error(`not msgpack: type byte 0x${t.toString(16)}`)
  }
}

/** Encodes the small replies of a fake server: strings, booleans, maps, arrays, Buffers. */
export function pack(v: unknown): Buffer {
  if (v === null || v === undefined) return Buffer.from([0xc0])
  if (v === true) return Buffer.from([0xc3])
  if (v === false) return Buffer.from([0xc2])
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 128) return Buffer.from([v])
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 32) {
    const b = Buffer.alloc(5)
    b[0] = 0xce
    b.writeUInt32BE(v, 1)
    return b
  }
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8')
    if (b.length < 32) return Buffer.concat([Buffer.from([0xa0 | b.length]), b])
    if (b.length < 256) return Buffer.concat([Buffer.from([0xd9, b.length]), b])
    const h = Buffer.alloc(3)
    h[0] = 0xda
    h.writeUInt16BE(b.length, 1)
    return Buffer.concat([h, b])
  }
  if (Buffer.isBuffer(v)) return Buffer.concat([Buffer.from([0xc4, v.length]), v])
  if (Array.isArray(v)) return Buffer.concat([Buffer.from([0x90 | v.length]), ...v.map(pack)])
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
    return Buffer.concat([
      Buffer.from([0x80 | entries.length]),
      ...entries.flatMap(([k, x]) => [pack(k), pack(x)]),
    ])
  }
  throw new Error(`pack: unsupported ${typeof v}`)
}

import { describe, expect, it } from 'vitest'
import { type Ext, Incomplete, readAt } from '../test/fakes/msgpack-reader.ts'
import { decodeOne, EventTime, encode, MsgpackWriter } from './msgpack.ts'

// Values at every size boundary of the format (fixstr/str8/str16, fixarray/array16, ints).
const samples: unknown[] = [
  0,
  127,
  128,
  255,
  256,
  65535,
  65536,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 53 - 1,
  -1,
  -32,
  -33,
  -128,
  -129,
  -32768,
  -32769,
  -(2 ** 31),
  -(2 ** 31) - 1,
  1.5,
  -0.25,
  true,
  false,
  null,
  '',
  'a'.repeat(31),
  'b'.repeat(32),
  'c'.repeat(255),
  'd'.repeat(256),
  'e'.repeat(65536),
  'ünïcödé ✓ 𝄞',
  Array.from({ length: 15 }, (_, i) => i),
  Array.from({ length: 16 }, (_, i) => i),
  Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i])),
  { nested: { list: [1, 'two', { three: 3 }] } },
]

describe('msgpack', () => {
  it('encodes what an independent reader decodes the same, at every size boundary', () => {
    for (const v of samples) {
      const [got, end] = readAt(encode(v), 0)
      expect(got).toEqual(v)
      expect(end).toBe(encode(v).length)
    }
  })

  it('uses the shortest string header', () => {
    expect(encode('abc')[0]).toBe(0xa3)
    expect(encode('x'.repeat(40))[0]).toBe(0xd9)
    expect(encode('x'.repeat(300))[0]).toBe(0xda)
  })

  it('writes EventTime as fixext 8 type 0 with seconds and nanoseconds', () => {
    const w = new MsgpackWriter(4)
    w.eventTimeMillis(1_700_000_000_123.5)
    const b = w.toBuffer()
    expect([...b.subarray(0, 2)]).toEqual([0xd7, 0x00])
    expect(b.readUInt32BE(2)).toBe(1_700_000_000)
    expect(b.readUInt32BE(6)).toBe(123_500_000)
    const ext = readAt(b, 0)[0] as Ext
    expect(ext.ext).toBe(0)
    const round = decodeOne(b)!.value as EventTime
    expect(round).toBeInstanceOf(EventTime)
    expect(round.toMillis()).toBeCloseTo(1_700_000_000_123.5, 3)
  })

  it('decodes a value split at every byte boundary only once it is whole', () => {
    const v = { tag: 'nginx', entries: [[1, { msg: 'héllo', n: 70000 }]], ok: true }
    const bytes = encode(v)
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(decodeOne(bytes.subarray(0, cut))).toBeUndefined()
      expect(() => readAt(bytes.subarray(0, cut), 0)).toThrow(Incomplete)
    }
    expect(decodeOne(bytes)!.value).toEqual(v)
  })

  it('rejects a byte that is not msgpack', () => {
    expect(() => decodeOne(Buffer.from([0xc1]))).toThrow(/not a msgpack type/)
  })

  it('grows its buffer and can be reused', () => {
    const w = new MsgpackWriter(8)
    for (let i = 0; i < 3; i++) {
      w.reset()
      w.write({ big: 'z'.repeat(100_000), i })
      expect(readAt(w.view(), 0)[0]).toEqual({ big: 'z'.repeat(100_000), i })
    }
  })
})

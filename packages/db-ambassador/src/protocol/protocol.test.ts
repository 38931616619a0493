// The framing parser and the serializer, checked against bytes built here by hand from the
// protocol documentation (not with the serializer under test), with input split at every byte.

import { describe, expect, it, vi } from 'vitest'
import { ProtocolError } from '../errors.ts'
import {
  FrameBuffer,
  MAX_STARTUP_LENGTH,
  parseErrorFields,
  parseStartupParams,
  startupFrameLength,
  typedFrameLength,
} from './parser.ts'
import * as out from './serializer.ts'

/** Independent builder: a type letter, then int32 length (including itself), then the body parts. */
function msg(type: string | null, ...parts: Array<string | number[] | Buffer>): Buffer {
  const body = Buffer.concat(
    parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p as number[]))),
  )
  const len = Buffer.alloc(4)
  len.writeUInt32BE(body.length + 4)
  return type === null ? Buffer.concat([len, body]) : Buffer.concat([Buffer.from(type, 'latin1'), len, body])
}
const i32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return [...b]
}
const i16 = (n: number) => [(n >> 8) & 0xff, n & 0xff]

function frames(chunks: Buffer[], max = 1 << 20): Buffer[] {
  const fb = new FrameBuffer()
  const got: Buffer[] = []
  for (const c of chunks) {
    fb.append(c)
    for (;;) {
      const len = typedFrameLength(fb.buf, fb.pos, max)
      if (len < 0) break
      got.push(Buffer.from(fb.buf.subarray(fb.pos, fb.pos + len)))
      fb.pos += len
    }
  }
  return got
}

describe('a large frame', () => {
  // Regression: each read was appended to the unread tail with a copy of the whole tail, so a
  // 40 MiB Bind cost ~640 copies of up to 40 MiB (5-11 s of CPU in which no other client was served).
  it('is gathered read by read and copied once, whole and intact', () => {
    const body = Buffer.alloc(8 * 1024 * 1024)
    for (let i = 0; i < body.length; i++) body[i] = i % 251
    const frame = msg('B', body)
    const concat = vi.spyOn(Buffer, 'concat')
    const copied = () =>
      concat.mock.calls.reduce((n, [list]) => n + list.reduce((m, b) => m + b.length, 0), 0)
    try {
      const fb = new FrameBuffer()
      const got: Buffer[] = []
      for (let p = 0; p < frame.length; p += 65536) {
        // Reads borrowed from a shared buffer, as the server and client sockets deliver them.
        fb.append(frame.subarray(p, p + 65536), true)
        // As the session reads: whole frames, then gather when the one left is large.
        for (let len = typedFrameLength(fb.buf, fb.pos, 1 << 30); len >= 0; ) {
          got.push(Buffer.from(fb.buf.subarray(fb.pos, fb.pos + len)))
          fb.pos += len
          len = typedFrameLength(fb.buf, fb.pos, 1 << 30)
        }
        fb.gatherIfLarge()
        fb.settle()
      }
      expect(got).toHaveLength(1)
      expect(got[0]!.equals(frame)).toBe(true)
      // One join of the whole frame (the first read's tail is copied by settle, not concat).
      expect(copied()).toBeLessThanOrEqual(frame.length)
    } finally {
      concat.mockRestore()
    }
  })
})

describe('typed frame parser', () => {
  const stream = [
    msg('Q', 'select 1\0'),
    msg('P', 'P_0\0', 'select $1\0', i16(1), i32(23)),
    msg('B', '\0P_0\0', i16(0), i16(1), i32(1), '7', i16(0)),
    msg('E', '\0', i32(0)),
    msg('S'),
    msg('d', Buffer.alloc(300, 0x61)),
  ]
  const all = Buffer.concat(stream)

  it('finds every frame whatever the split point (two chunks)', () => {
    for (let i = 0; i <= all.length; i++) {
      expect(frames([all.subarray(0, i), all.subarray(i)])).toEqual(stream)
    }
  })

  it('finds every frame fed one byte at a time', () => {
    expect(frames([...all].map((b) => Buffer.from([b])))).toEqual(stream)
  })

  it('keeps handed-out views valid when more data arrives', () => {
    const fb = new FrameBuffer()
    fb.append(all.subarray(0, 20))
    const len = typedFrameLength(fb.buf, fb.pos, 1 << 20)
    const view = fb.buf.subarray(fb.pos, fb.pos + len)
    fb.pos += len
    const copy = Buffer.from(view)
    fb.append(all.subarray(20))
    expect(view).toEqual(copy)
  })

  it('refuses a length below 4', () => {
    const bad = Buffer.from([0x51, 0, 0, 0, 3, 0])
    expect(() => typedFrameLength(bad, 0, 1 << 20)).toThrow(ProtocolError)
    expect(() => typedFrameLength(Buffer.from([0x51, 0xff, 0xff, 0xff, 0xff]), 0, 1 << 20)).toThrow(
      'invalid message length -1',
    )
  })

  it('refuses a 1 GiB length at once, without waiting for its bytes', () => {
    const header = Buffer.from([0x51, ...i32(1024 ** 3)])
    expect(() => typedFrameLength(header, 0, 256 * 1024 * 1024)).toThrow(/exceeds the 268435456-byte limit/)
  })
})

describe('startup packets', () => {
  const startup = msg(null, i32(196608), 'user\0alice\0database\0app\0application_name\0psql\0\0')

  it('frames a StartupMessage split anywhere and reads its parameters', () => {
    for (let i = 0; i <= startup.length; i++) {
      const fb = new FrameBuffer()
      fb.append(startup.subarray(0, i))
      let len = startupFrameLength(fb.buf, fb.pos)
      if (len < 0) {
        fb.append(startup.subarray(i))
        len = startupFrameLength(fb.buf, fb.pos)
      }
      expect(len).toBe(startup.length)
    }
    expect(parseStartupParams(startup)).toEqual(
      new Map([
        ['user', 'alice'],
        ['database', 'app'],
        ['application_name', 'psql'],
      ]),
    )
  })

  it('refuses garbage before startup (an HTTP request) and absurd lengths', () => {
    expect(() => startupFrameLength(Buffer.from('GET / HTTP/1.1\r\n'), 0)).toThrow(ProtocolError)
    expect(() => startupFrameLength(Buffer.from(i32(4)), 0)).toThrow('invalid startup packet length 4')
    expect(() => startupFrameLength(Buffer.from(i32(MAX_STARTUP_LENGTH + 1)), 0)).toThrow(ProtocolError)
  })

  it('refuses an unterminated parameter list', () => {
    const bad = msg(null, i32(196608), 'user\0alice')
    expect(() => parseStartupParams(bad)).toThrow(ProtocolError)
  })
})

describe('serializer', () => {
  it('ErrorResponse', () => {
    const got = out.errorResponse({ severity: 'FATAL', code: '28P01', message: 'nope' })
    expect(got).toEqual(msg('E', 'SFATAL\0', 'VFATAL\0', 'C28P01\0', 'Mnope\0', '\0'))
    expect(parseErrorFields(got).get('M')).toBe('nope')
  })

  it('login replies', () => {
    expect(out.authOk()).toEqual(msg('R', i32(0)))
    expect(out.authMd5(Buffer.from([9, 8, 7, 6]))).toEqual(msg('R', i32(5), [9, 8, 7, 6]))
    expect(out.authSasl(['SCRAM-SHA-256'])).toEqual(msg('R', i32(10), 'SCRAM-SHA-256\0\0'))
    expect(out.parameterStatus('TimeZone', 'UTC')).toEqual(msg('S', 'TimeZone\0UTC\0'))
    expect(out.backendKeyData(42, 7)).toEqual(msg('K', i32(42), i32(7)))
    expect(out.readyForQuery(0x49)).toEqual(msg('Z', 'I'))
  })

  it('result sets', () => {
    expect(out.rowDescription(['a'])).toEqual(
      msg('T', i16(1), 'a\0', i32(0), i16(0), i32(25), i16(-1), i32(-1), i16(0)),
    )
    expect(out.dataRow(['x', null, 12])).toEqual(msg('D', i16(3), i32(1), 'x', i32(-1), i32(2), '12'))
    expect(out.commandComplete('SHOW')).toEqual(msg('C', 'SHOW\0'))
  })

  it('frontend messages the pooler sends', () => {
    expect(out.startupMessage({ user: 'u', database: 'd' })).toEqual(
      msg(null, i32(196608), 'user\0u\0database\0d\0\0'),
    )
    expect(out.sslRequest()).toEqual(msg(null, i32(80877103)))
    expect(out.cancelRequest(1, 2)).toEqual(msg(null, i32(80877102), i32(1), i32(2)))
    expect(out.query('select 1')).toEqual(msg('Q', 'select 1\0'))
    expect(out.saslInitialResponse('SCRAM-SHA-256', 'n,,')).toEqual(
      msg('p', 'SCRAM-SHA-256\0', i32(3), 'n,,'),
    )
    expect(out.parseWithName('S_1', Buffer.from('select 1\0\0\0'))).toEqual(
      msg('P', 'S_1\0select 1\0', i16(0)),
    )
  })
})

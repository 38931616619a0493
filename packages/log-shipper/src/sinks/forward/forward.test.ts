import { connect } from 'node:net'
import type { LogEvent } from '@podkit/log-pipeline'
import { createTestPki, type TestPki, waitFor } from '@podkit/test-utils'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type ForwardReceiver, startForwardReceiver } from '../../../test/fakes/forward-receiver.ts'
import { pack } from '../../../test/fakes/msgpack-reader.ts'
import { ForwardAuthError, ForwardDeliveryError } from '../../errors.ts'
import { type ForwardOptions, ForwardSink } from './forward.ts'

const receivers: ForwardReceiver[] = []
const sinks: ForwardSink[] = []
let pki: TestPki

beforeAll(() => {
  pki = createTestPki()
})
afterAll(() => pki.cleanup())
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.stop()
  for (const r of receivers.splice(0)) await r.stop().catch(() => {})
})

async function receiver(opts: Parameters<typeof startForwardReceiver>[0] = {}) {
  const r = await startForwardReceiver(opts)
  receivers.push(r)
  return r
}

function sink(port: number, over: Partial<ForwardOptions> = {}): ForwardSink {
  const s = new ForwardSink({
    name: 'forward.0',
    host: '127.0.0.1',
    port,
    tls: { enabled: false, verify: true },
    requireAck: false,
    compress: undefined,
    sharedKey: undefined,
    selfHostname: 'shipper-test',
    username: undefined,
    password: undefined,
    sendOptions: false,
    tag: undefined,
    timeAsInteger: false,
    keepalive: true,
    keepaliveIdleTimeoutMs: 30_000,
    connectTimeoutMs: 2000,
    ackTimeoutMs: 2000,
    ...over,
  })
  sinks.push(s)
  return s
}

const events = (n: number, tag = 'nginx.access'): LogEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    tag,
    time: 1_700_000_000_000 + i + 0.25,
    record: {
      i,
      msg: `line ${i} ünïcödé`,
      code: 200 + (i % 3),
      nested: { ok: i % 2 === 0 },
      long: 'x'.repeat(i % 300),
    },
  }))

describe('forward output', () => {
  it('sends PackedForward with EventTime and every record intact', async () => {
    const r = await receiver()
    const evs = events(500)
    await sink(r.port).write(evs)
    await waitFor(() => r.events.length === 500)
    expect(r.modes).toEqual(['PackedForward'])
    expect(r.events.every((e) => e.eventTime && e.tag === 'nginx.access')).toBe(true)
    expect(r.events.map((e) => e.record)).toEqual(evs.map((e) => e.record))
    // milliseconds and the fraction below them survive as nanoseconds
    expect(r.events[3]!.time).toBeCloseTo(1_700_000_000.00325, 6)
  })

  it('sends one message per tag in a mixed batch', async () => {
    const r = await receiver()
    await sink(r.port).write([...events(3, 'a'), ...events(2, 'b'), ...events(1, 'a')])
    await waitFor(() => r.events.length === 6)
    expect(r.modes).toHaveLength(2)
    expect(r.events.filter((e) => e.tag === 'a')).toHaveLength(4)
  })

  it('gzips entries as CompressedPackedForward', async () => {
    const r = await receiver()
    await sink(r.port, { compress: 'gzip', requireAck: true }).write(events(1000))
    expect(r.modes).toEqual(['CompressedPackedForward'])
    expect(r.events).toHaveLength(1000)
  })

  it('with require_ack_response resolves only after the ack for its chunk id', async () => {
    const r = await receiver()
    const s = sink(r.port, { requireAck: true })
    await s.write(events(10))
    await s.write(events(10))
    expect(r.acked).toHaveLength(2)
    expect(new Set(r.acked).size).toBe(2)
    expect(r.events).toHaveLength(20)
  })

  it('fails a batch whose ack never comes, so the queue retries it', async () => {
    const r = await receiver({ withholdAcks: true })
    const s = sink(r.port, { requireAck: true, ackTimeoutMs: 300 })
    await expect(s.write(events(5))).rejects.toBeInstanceOf(ForwardDeliveryError)
    // the events did arrive: at-least-once means a retry may duplicate, never lose
    expect(r.events).toHaveLength(5)
  })

  it('authenticates with a shared key and a user in the HELO/PING/PONG handshake', async () => {
    const r = await receiver({ sharedKey: 's3cret', users: { alice: 'pw' } })
    await sink(r.port, { sharedKey: 's3cret', username: 'alice', password: 'pw', requireAck: true }).write(
      events(3),
    )
    expect(r.auths).toEqual([true])
    expect(r.events).toHaveLength(3)
  })

  it('fails the handshake on a wrong shared key or password, sending nothing', async () => {
    const r = await receiver({ sharedKey: 's3cret', users: { alice: 'pw' } })
    await expect(
      sink(r.port, { sharedKey: 'wrong', username: 'alice', password: 'pw' }).write(events(1)),
    ).rejects.toThrow(ForwardAuthError)
    await expect(
      sink(r.port, { sharedKey: 's3cret', username: 'alice', password: 'nope' }).write(events(1)),
    ).rejects.toThrow(/username\/password mismatch/)
    expect(r.auths).toEqual(['shared_key mismatch', 'username/password mismatch'])
    expect(r.events).toHaveLength(0)
  })

  it('refuses a server that does not prove it knows the shared key', async () => {
    // the receiver checks our digest with its key and signs its PONG with it: a different key on
    // its side makes its own digest wrong for us even if it were to accept
    const r = await receiver({ sharedKey: 'server-key' })
    const err = await sink(r.port, { sharedKey: 'client-key' })
      .write(events(1))
      .catch((e) => e)
    expect(err).toBeInstanceOf(ForwardAuthError)
  })

  it('speaks TLS, verifying the server against the CA, and refuses an unknown CA', async () => {
    const r = await receiver({ tls: { cert: pki.server.cert, key: pki.server.key }, sharedKey: 'k' })
    await sink(r.port, {
      tls: { enabled: true, verify: true, ca: pki.ca.cert, servername: 'localhost' },
      sharedKey: 'k',
      requireAck: true,
    }).write(events(4))
    expect(r.events).toHaveLength(4)
    const other = createTestPki({ caName: 'other-ca' })
    try {
      const err = await sink(r.port, {
        tls: { enabled: true, verify: true, ca: other.ca.cert, servername: 'localhost' },
      })
        .write(events(1))
        .catch((e) => e)
      expect(err).toBeInstanceOf(ForwardDeliveryError)
      expect(String(err.message)).toMatch(/certificate|self.signed|verify/i)
    } finally {
      other.cleanup()
    }
    expect(r.events).toHaveLength(4)
  })

  it('reconnects after the receiver went away and came back', async () => {
    const r = await receiver({})
    const s = sink(r.port, { requireAck: true })
    await s.write(events(2))
    await r.stop()
    await expect(s.write(events(2))).rejects.toBeInstanceOf(ForwardDeliveryError)
    await r.restart()
    await s.write(events(3))
    expect(r.events).toHaveLength(5)
    expect(r.connections).toBe(2)
  })

  it('keeps one connection across batches with keepalive, and closes it without', async () => {
    const r = await receiver()
    const keep = sink(r.port, { requireAck: true })
    for (let i = 0; i < 3; i++) await keep.write(events(1))
    expect(r.connections).toBe(1)
    const noKeep = sink(r.port, { requireAck: true, keepalive: false })
    for (let i = 0; i < 3; i++) await noKeep.write(events(1))
    expect(r.connections).toBe(4)
  })
})

describe('the fake forward receiver (checked against hand-built frames)', () => {
  it('decodes Message and Forward modes and closes only a connection that sends garbage', async () => {
    const r = await receiver()
    const send = (bytes: Buffer) =>
      new Promise<void>((resolve) => {
        const c = connect(r.port, '127.0.0.1', () => c.end(bytes))
        c.resume()
        c.on('close', () => resolve())
        c.on('error', () => resolve())
      })
    await send(pack(['app', 1_700_000_000, { a: 'x' }]))
    await send(pack(['app', [[1_700_000_001, { b: 'y' }]], { chunk: 'c1' }]))
    await send(Buffer.from([0xc1, 0x00, 0x01]))
    await send(pack(['app', 1_700_000_002, { c: 'z' }]))
    await waitFor(() => r.events.length === 3)
    expect(r.modes).toEqual(['Message', 'Forward', 'Message'])
    expect(r.events.map((e) => e.record)).toEqual([{ a: 'x' }, { b: 'y' }, { c: 'z' }])
    expect(r.acked).toEqual(['c1'])
    expect(r.malformed).toBe(1)
  })
})

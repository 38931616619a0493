// acceptOnSharedRead on this Node (the suite's): accepted connections read into the given buffer,
// are counted on the server, keep allowHalfOpen / TCP_NODELAY as asked, pause and resume, and
// fall back to net.Server's own path.

import { connect, createServer, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { acceptOnSharedRead, type MakeSharedSocket } from './shared-read.ts'

let server: Server | undefined
const sockets: Socket[] = []

afterEach(async () => {
  for (const c of sockets.splice(0)) c.destroy()
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()))
  server = undefined
})

async function listen(s: Server): Promise<number> {
  server = s
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  return (s.address() as { port: number }).port
}

function client(port: number): Socket {
  const c = connect(port, '127.0.0.1')
  sockets.push(c)
  return c
}

const count = (s: Server) => new Promise<number>((r) => s.getConnections((_e, n) => r(n)))
const event = (e: NodeJS.EventEmitter, name: string) => new Promise<unknown>((r) => e.once(name, r))
const until = async (f: () => boolean) => {
  for (let i = 0; i < 500 && !f(); i++) await new Promise((r) => setTimeout(r, 5))
  expect(f()).toBe(true)
}

/** Accepts on `buffer`; each accepted socket records what it read (as text) and its buffers. */
function accepting(s: Server, buffer: Buffer, opts: { allowHalfOpen?: boolean; noDelay?: boolean } = {}) {
  const accepted: Array<{ socket: Socket; text: string[]; bufs: Buffer[] }> = []
  const ok = acceptOnSharedRead(
    s,
    { buffer, ...opts },
    () => true,
    (make: MakeSharedSocket) => {
      const rec = { socket: undefined as unknown as Socket, text: [] as string[], bufs: [] as Buffer[] }
      rec.socket = make((n, buf) => {
        rec.bufs.push(buf)
        rec.text.push(buf.toString('latin1', 0, n))
        return true
      })
      sockets.push(rec.socket)
      accepted.push(rec)
    },
  )
  return { ok, accepted }
}

describe('acceptOnSharedRead', () => {
  it('reads every connection into the one given buffer and counts it until it is destroyed', async () => {
    const s = createServer()
    const port = await listen(s)
    let viaNode = 0
    s.on('connection', () => viaNode++)
    const buffer = Buffer.alloc(1024)
    const { ok, accepted } = accepting(s, buffer)
    expect(ok).toBe(true)
    const a = client(port)
    const b = client(port)
    await until(() => accepted.length === 2)
    a.write('from a')
    await until(() => accepted.some((x) => x.text.length > 0))
    b.write('from b')
    await until(() => accepted.every((x) => x.text.length > 0))
    expect(accepted.flatMap((x) => x.text).sort()).toEqual(['from a', 'from b'])
    // Both read into the same memory: the buffer given, not one of Node's.
    for (const x of accepted) for (const buf of x.bufs) expect(buf).toBe(buffer)
    expect(viaNode).toBe(0)
    expect(accepted[0]!.socket.remoteAddress).toBe('127.0.0.1')
    expect(await count(s)).toBe(2)
    // The count goes down as sockets go, so server.close() completes (afterEach waits for it).
    accepted[0]!.socket.destroy()
    accepted[1]!.socket.destroy()
    await until(() => (s as unknown as { _connections: number })._connections === 0)
    expect(await count(s)).toBe(0)
  })

  it('stops reading while paused and reads what waited once resumed', async () => {
    const s = createServer()
    const port = await listen(s)
    const { accepted } = accepting(s, Buffer.alloc(1024))
    const c = client(port)
    await until(() => accepted.length === 1)
    const x = accepted[0]!
    c.write('one')
    await until(() => x.text.length === 1)
    x.socket.pause()
    c.write('two')
    await new Promise((r) => setTimeout(r, 100))
    expect(x.text).toEqual(['one'])
    x.socket.resume()
    await until(() => x.text.join('') === 'onetwo')
  })

  it('keeps the socket writable after the peer half-closes with allowHalfOpen, else ends it', async () => {
    for (const allowHalfOpen of [true, false]) {
      const s = createServer()
      const port = await listen(s)
      const { accepted } = accepting(s, Buffer.alloc(1024), { allowHalfOpen })
      const c = client(port)
      const got: Buffer[] = []
      c.on('data', (d) => got.push(d))
      await until(() => accepted.length === 1)
      const x = accepted[0]!
      const ended = event(x.socket, 'end')
      c.end('request')
      await ended
      expect(x.text.join('')).toBe('request')
      if (allowHalfOpen) {
        // Still writable: the answer goes out after the peer's FIN.
        expect(x.socket.writable).toBe(true)
        x.socket.end('answer')
        await event(c, 'end')
        expect(Buffer.concat(got).toString()).toBe('answer')
      } else {
        await event(x.socket, 'close')
        expect(x.socket.writable).toBe(false)
      }
      await new Promise<void>((r) => s.close(() => r()))
      server = undefined
    }
  })

  it("leaves a connection to net.Server's own path when shared() says no", async () => {
    const s = createServer((sock) => sock.on('data', (d) => sock.write(d)))
    const port = await listen(s)
    let made = 0
    acceptOnSharedRead(
      s,
      { buffer: Buffer.alloc(16) },
      () => false,
      () => made++,
    )
    const c = client(port)
    const echo = event(c, 'data')
    c.write('plain')
    expect(String(await echo)).toBe('plain')
    expect(made).toBe(0)
  })

  it('changes nothing on a server that is not listening', () => {
    const s = createServer()
    expect(
      acceptOnSharedRead(
        s,
        { buffer: Buffer.alloc(16) },
        () => true,
        () => {},
      ),
    ).toBe(false)
  })
})

// acceptOnSharedRead (@podkit/runtime) takes over net.Server's accept callback: each accepted
// connection is one socket reading into the db-ambassador's shared buffer (SHARED_READ), as
// ambassador.ts sets it up (a pauseOnConnect server, the buffer, the default options). On this Node (the suite's); the
// process tests in shared-read.test.ts run the same path on the images' Node.

import { connect, createServer, type Server, type Socket } from 'node:net'
import { acceptOnSharedRead } from '@podkit/runtime'
import { waitFor } from '@podkit/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { SHARED_READ } from '../src/shared-read.ts'

let server: Server | undefined
const clients: Socket[] = []

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy()
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()))
  server = undefined
})

async function listen(s: Server): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  return (s.address() as { port: number }).port
}

const count = (s: Server) => new Promise<number>((r) => s.getConnections((_e, n) => r(n)))

describe('acceptOnSharedRead', () => {
  it('reads each connection into the shared buffer, counts it on the server and lets close() finish', async () => {
    const s = createServer({ pauseOnConnect: true })
    server = s
    const port = await listen(s)
    const viaNode: Socket[] = []
    s.on('connection', (sock) => viaNode.push(sock))
    const got: string[] = []
    const accepted: Socket[] = []
    expect(
      acceptOnSharedRead(
        s,
        { buffer: SHARED_READ },
        () => true,
        (make) => {
          const sock = make((n, buf) => {
            expect(buf).toBe(SHARED_READ)
            got.push(buf.toString('latin1', 0, n))
            sock.write(Buffer.from(`ok:${n}`))
            return true
          })
          accepted.push(sock)
        },
      ),
    ).toBe(true)
    const c = connect(port, '127.0.0.1')
    clients.push(c)
    const answer = new Promise<string>((r) => c.once('data', (d) => r(String(d))))
    c.write('hello')
    expect(await answer).toBe('ok:5')
    expect(got).toEqual(['hello'])
    expect(viaNode).toHaveLength(0)
    expect(accepted).toHaveLength(1)
    expect(accepted[0]!.remoteAddress).toBe('127.0.0.1')
    expect(await count(s)).toBe(1)
    // The server's count goes back down when the socket goes, so close() completes.
    accepted[0]!.destroy()
    await waitFor(async () => (await count(s)) === 0)
  })

  it("leaves a connection to net.Server's own path when shared() says no", async () => {
    const s = createServer({ pauseOnConnect: true })
    server = s
    const port = await listen(s)
    const viaNode: Socket[] = []
    s.on('connection', (sock) => {
      viaNode.push(sock)
      sock.resume()
      sock.on('data', (d) => sock.write(d))
    })
    let made = 0
    acceptOnSharedRead(
      s,
      { buffer: SHARED_READ },
      () => false,
      () => made++,
    )
    const c = connect(port, '127.0.0.1')
    clients.push(c)
    const echo = new Promise<string>((r) => c.once('data', (d) => r(String(d))))
    c.write('plain')
    expect(await echo).toBe('plain')
    expect(made).toBe(0)
    expect(viaNode).toHaveLength(1)
    viaNode[0]!.destroy()
  })

  it('changes nothing on a server that is not listening', () => {
    expect(
      acceptOnSharedRead(
        createServer(),
        { buffer: SHARED_READ },
        () => true,
        () => {},
      ),
    ).toBe(false)
  })
})

// The one read buffer of every plain-TCP socket (clients and servers alike), and how an accepted
// client socket is moved onto it. Reading into a caller's buffer (`net` `onread`) skips a Buffer
// allocation and a stream push per read; Node offers it for sockets it connects, not for the
// ones a net.Server accepts, so accepted connections are built on it from the listening handle's
// accept callback (the runtime's acceptOnSharedRead, ambassador.ts), or, failing that, rebuilt
// around the handle of the socket net.Server made (adoptAccepted, here).

import { Socket } from 'node:net'
import type { SharedReadCallback } from '@podkit/runtime'

/**
 * Reads are handled one at a time on the event loop and nothing keeps a view of this buffer past
 * its read callback (FrameBuffer.settle copies an incomplete frame; forwarding copies), so every
 * plain socket can share it.
 */
export const SHARED_READ = Buffer.allocUnsafe(64 * 1024)

/** The net.Socket fields Node's own net.Server uses to build and count an accepted socket. */
interface AcceptedSocket {
  _handle: unknown
  _server: unknown
  server: unknown
}

/**
 * Rebuilds a socket accepted by a `pauseOnConnect` server around the same handle, reading into
 * SHARED_READ. This is what net.Server's onconnection does with an accepted handle
 * (`new Socket({ handle, ... })`), plus `onread`: the handle is paused (pauseOnConnect) so no
 * byte was read yet; the first socket gives up the handle and the server's connection count
 * (`_server`, decremented when the new socket is destroyed, as for any accepted socket) and is
 * dropped without being destroyed (destroying it would close the handle). Checked on Node 20 and
 * Node 26 (lib/net.js: onconnection, Socket constructor, initSocketHandle, _destroy).
 *
 * Returns undefined (keep the accepted socket) if the socket is not in that state, e.g. another
 * Node whose accepted sockets do not carry these fields.
 */
export function adoptAccepted(accepted: Socket, callback: SharedReadCallback): Socket | undefined {
  const a = accepted as unknown as AcceptedSocket
  const handle = a._handle
  if (!handle || accepted.destroyed || !accepted.isPaused()) return undefined
  const server = a._server
  a._handle = null
  a._server = null
  a.server = null
  const options = { handle, readable: true, writable: true, onread: { buffer: SHARED_READ, callback } }
  const socket = new Socket(options as ConstructorParameters<typeof Socket>[0])
  const s = socket as unknown as AcceptedSocket
  s._server = server
  s.server = server
  return socket
}

// The one read buffer of every plain-TCP socket (clients and servers alike), and how an accepted
// client socket is moved onto it. Reading into a caller's buffer (`net` `onread`) skips a Buffer
// allocation and a stream push per read; Node offers it for sockets it connects, not for the
// ones a net.Server accepts, so accepted connections are built here: from the listening handle's
// accept callback (acceptOnSharedRead), or, failing that, rebuilt around the handle of the socket
// net.Server made (adoptAccepted).

import { type Server, Socket } from 'node:net'

/**
 * Reads are handled one at a time on the event loop and nothing keeps a view of this buffer past
 * its read callback (FrameBuffer.settle copies an incomplete frame; forwarding copies), so every
 * plain socket can share it.
 */
export const SHARED_READ = Buffer.allocUnsafe(64 * 1024)

/** Called with the bytes read into SHARED_READ (`buf.subarray(0, n)`); returning false stops reading. */
export type SharedReadCallback = (n: number, buf: Buffer) => boolean

/** The net.Socket fields Node's own net.Server uses to build and count an accepted socket. */
interface AcceptedSocket {
  _handle: unknown
  _server: unknown
  server: unknown
}

/** Builds the socket of one accepted connection around the shared buffer, reading into `callback`. */
export type MakeSharedSocket = (callback: SharedReadCallback) => Socket

interface ListenHandle {
  onconnection: (this: ListenHandle, err: number, clientHandle: ClientHandle | undefined) => void
}
interface ClientHandle {
  setNoDelay?(on: boolean): void
}
interface CountingServer {
  _handle: ListenHandle | null
  _connections: number
}

/**
 * Takes over a listening net.Server's accept callback (`_handle.onconnection`, which net.Server
 * installs on its listen handle) so that each accepted connection gets one socket, built on the
 * shared buffer, instead of the socket net.Server builds plus a rebuilt one (adoptAccepted): that
 * second net.Socket cost several microseconds per connection, which a client connecting per
 * transaction pays every time. What is kept of Node's onconnection (lib/net.js, Node 20 and 26):
 * the connection count (`_connections`, decremented by the socket's destroy, which server.close()
 * waits for), `server`/`_server` on the socket, and TCP_NODELAY. maxConnections, blockList and
 * keepAlive are not handled here (the ambassador sets none of them; it counts max_client_conn
 * itself); accept errors still go to Node's own callback (an 'error' event).
 *
 * Connections for which `shared()` is false at accept time take Node's own path (the server's
 * 'connection' event). Call after `listen` has completed. Returns false (nothing changed) when
 * the server has no such handle, e.g. another Node.
 */
export function acceptOnSharedRead(
  server: Server,
  shared: () => boolean,
  onAccept: (make: MakeSharedSocket) => void,
): boolean {
  const s = server as unknown as CountingServer
  const handle = s._handle
  if (!handle || typeof handle.onconnection !== 'function' || typeof s._connections !== 'number') return false
  const nodes = handle.onconnection
  handle.onconnection = function (err, clientHandle) {
    if (err || !clientHandle || !shared()) {
      nodes.call(this, err, clientHandle)
      return
    }
    onAccept((callback) => {
      const options = {
        handle: clientHandle,
        readable: true,
        writable: true,
        onread: { buffer: SHARED_READ, callback },
      }
      const socket = new Socket(options as ConstructorParameters<typeof Socket>[0])
      clientHandle.setNoDelay?.(true)
      s._connections++
      const a = socket as unknown as AcceptedSocket
      a.server = server
      a._server = server
      return socket
    })
  }
  return true
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

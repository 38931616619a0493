// Accepted plain-TCP connections that read into one caller's buffer. Reading into a given buffer
// (`net` `onread`) skips, per read, a 64 KiB allocation shrunk to the bytes read, an ArrayBuffer
// and a Readable push and 'data' event. Node offers it for sockets it connects, not for the ones a
// net.Server accepts, so accepted connections are built here, from the listening handle's accept
// callback. Used by the db-ambassador (its clients) and the http-ambassador (its app's requests).

import { type Server, Socket } from 'node:net'

/**
 * Called with the bytes read into the buffer (`buf.subarray(0, n)`; `buf` is the buffer given to
 * acceptOnSharedRead); returning false stops reading until the socket is resumed. Nothing may
 * keep a view of `buf` past the call: the next read, on any connection sharing it, overwrites it.
 */
export type SharedReadCallback = (n: number, buf: Buffer) => boolean

/** Builds the socket of one accepted connection around the shared buffer, reading into `callback`. */
export type MakeSharedSocket = (callback: SharedReadCallback) => Socket

export interface SharedReadOptions {
  /**
   * The buffer every accepted socket reads into. Reads are handled one at a time on the event
   * loop, so one buffer per thread serves all its connections, as long as every reader copies
   * what must outlive its read callback.
   */
  buffer: Buffer
  /** The socket stays writable after the peer's FIN (net's allowHalfOpen). Default false. */
  allowHalfOpen?: boolean
  /** TCP_NODELAY on each accepted socket. Default true. */
  noDelay?: boolean
}

/** The net.Socket fields Node's own net.Server sets on an accepted socket to count it. */
interface AcceptedSocket {
  server: unknown
  _server: unknown
}
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
 * installs on its listen handle) so that each accepted connection gets one socket built on
 * `options.buffer`, instead of the stream socket net.Server builds. What is kept of Node's
 * onconnection (lib/net.js, Node 20 and 26): the connection count (`_connections`, decremented
 * by the socket's destroy, which server.close() waits for), `server`/`_server` on the socket,
 * allowHalfOpen and TCP_NODELAY. maxConnections, blockList and keepAlive are not handled here (set
 * none of them on such a server); pauseOnConnect applies only to the connections left to Node's
 * path (the db-ambassador's fallback relies on it); accept errors still go to Node's own callback
 * (an 'error' event).
 *
 * The socket starts reading at once; the callback runs from later turns of the event loop, never
 * inside make(). pause()/resume() stop and restart reading (net.Socket handles them with onread);
 * the peer's FIN is still 'end', and 'error' and 'close' are as for any socket. No 'data' event
 * is ever emitted: bytes go to the callback only.
 *
 * Connections for which `shared()` is false at accept time take Node's own path (the server's
 * 'connection' event). Call after `listen` has completed. Returns false (nothing changed) when
 * the server has no such handle (not listening, or another Node's internals).
 */
export function acceptOnSharedRead(
  server: Server,
  options: SharedReadOptions,
  shared: () => boolean,
  onAccept: (make: MakeSharedSocket) => void,
): boolean {
  const s = server as unknown as CountingServer
  const handle = s._handle
  if (!handle || typeof handle.onconnection !== 'function' || typeof s._connections !== 'number') return false
  const { buffer, allowHalfOpen = false, noDelay = true } = options
  const nodes = handle.onconnection
  handle.onconnection = function (err, clientHandle) {
    if (err || !clientHandle || !shared()) {
      nodes.call(this, err, clientHandle)
      return
    }
    onAccept((callback) => {
      const socketOptions = {
        handle: clientHandle,
        allowHalfOpen,
        readable: true,
        writable: true,
        onread: { buffer, callback },
      }
      const socket = new Socket(socketOptions as ConstructorParameters<typeof Socket>[0])
      if (noDelay) clientHandle.setNoDelay?.(true)
      s._connections++
      const a = socket as unknown as AcceptedSocket
      a.server = server
      a._server = server
      return socket
    })
  }
  return true
}

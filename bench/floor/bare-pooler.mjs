// The floor of a transaction pooler on Node: the least a pooler written for Node must do per
// pgbench transaction, as a contender in the db-ambassador benchmark. NOT a pooler anyone should
// run: no protocol checks, no prepared statements, no parameters following the client, one
// hard-coded user, and it only knows a transaction ended because a server's read ends with
// ReadyForQuery 'I'. It does what the db-ambassador does on its hot path and nothing more: the
// same Node calls (one socket per accepted connection reading into one shared buffer, one
// socket.write per forwarded read), md5 logins for clients, a FIFO of waiting clients and a LIFO
// of idle servers. If this runs no faster than the db-ambassador, the gap to PgBouncer is Node's
// per-read and per-write cost, not the db-ambassador's own work.
//
// Usage: node bare-pooler.mjs <listen port> <server port> <user> <password> <database> <pool size>

import { createHash, randomBytes } from 'node:crypto'
import { createServer, Socket } from 'node:net'

const [listenPort, serverPort, user, password, database, poolSize] = process.argv.slice(2)
const SHARED = Buffer.allocUnsafe(64 * 1024)
const md5 = (...parts) => {
  const h = createHash('md5')
  for (const p of parts) h.update(p)
  return h.digest('hex')
}
const secret = md5(password, user)

function message(type, body) {
  const b = Buffer.allocUnsafe(5 + body.length)
  b[0] = type.charCodeAt(0)
  b.writeInt32BE(4 + body.length, 1)
  body.copy(b, 5)
  return b
}
const cstrings = (...s) => Buffer.from(`${s.join('\0')}\0`)

function startupMessage() {
  const body = Buffer.concat([cstrings('user', user, 'database', database), Buffer.from([0])])
  const b = Buffer.allocUnsafe(8 + body.length)
  b.writeInt32BE(8 + body.length, 0)
  b.writeInt32BE(196608, 4)
  body.copy(b, 8)
  return b
}

const WELCOME = Buffer.concat([
  message('R', Buffer.from([0, 0, 0, 0])),
  ...[
    ['server_version', '15.0'],
    ['server_encoding', 'UTF8'],
    ['client_encoding', 'UTF8'],
    ['DateStyle', 'ISO, MDY'],
    ['integer_datetimes', 'on'],
    ['standard_conforming_strings', 'on'],
  ].map(([k, v]) => message('S', cstrings(k, v))),
  message('K', Buffer.from([0, 0, 0, 1, 0, 0, 0, 2])),
  message('Z', Buffer.from('I')),
])
const NO = Buffer.from('N')

/** A copy of the bytes read: the shared buffer is overwritten by the next read. */
function copyOf(chunk) {
  const c = Buffer.allocUnsafe(chunk.length)
  chunk.copy(c)
  return c
}

const idle = []
const waiters = []

class Server {
  client = null
  ready = false
  pending = Buffer.alloc(0)

  open() {
    return new Promise((resolve, reject) => {
      this.loggedIn = resolve
      this.socket = new Socket({
        onread: {
          buffer: SHARED,
          callback: (n, buf) => {
            this.onRead(buf.subarray(0, n))
            return true
          },
        },
      })
      this.socket.setNoDelay(true)
      this.socket.on('error', reject)
      this.socket.connect(Number(serverPort), '127.0.0.1', () => this.socket.write(startupMessage()))
      this.socket.on('close', () => {
        if (this.client) this.client.socket.destroy()
      })
    })
  }

  onRead(chunk) {
    if (!this.ready) return this.login(chunk)
    const client = this.client
    const n = chunk.length
    const done = n >= 6 && chunk[n - 6] === 0x5a && chunk[n - 1] === 0x49
    const answer = copyOf(chunk)
    if (done) {
      this.client = null
      client.server = null
      release(this)
    }
    client.socket.write(answer)
  }

  login(chunk) {
    this.pending = Buffer.concat([this.pending, chunk])
    while (this.pending.length >= 5) {
      const len = this.pending.readInt32BE(1)
      if (this.pending.length < len + 1) return
      const frame = this.pending.subarray(0, len + 1)
      this.pending = this.pending.subarray(len + 1)
      if (frame[0] === 0x45) throw new Error(`server login failed: ${frame.toString('latin1', 5)}`)
      if (frame[0] === 0x52 && frame.readInt32BE(5) === 5)
        this.socket.write(message('p', cstrings(`md5${md5(secret, frame.subarray(9, 13))}`)))
      else if (frame[0] === 0x5a) {
        this.ready = true
        this.loggedIn()
      }
    }
  }
}

function release(server) {
  const next = waiters.shift()
  if (next) link(next, server)
  else idle.push(server)
}

function link(client, server) {
  client.server = server
  server.client = client
  const queued = client.queued
  client.queued = null
  server.socket.write(queued)
}

class Client {
  server = null
  queued = null
  phase = 'startup'

  constructor(make) {
    this.socket = make((n, buf) => {
      this.onRead(buf.subarray(0, n))
      return true
    })
    this.socket.on('error', () => {})
    this.socket.on('close', () => this.onClose())
  }

  onRead(chunk) {
    if (this.phase === 'ready') {
      if (chunk[0] === 0x58) return this.socket.destroy() // Terminate
      if (this.server) return this.server.socket.write(copyOf(chunk))
      if (this.queued) {
        this.queued = Buffer.concat([this.queued, chunk])
        return
      }
      this.queued = copyOf(chunk)
      const server = idle.pop()
      if (server) link(this, server)
      else waiters.push(this)
      return
    }
    if (chunk.length < 8) return this.socket.destroy()
    if (this.phase === 'startup') {
      if (chunk.readInt32BE(4) === 80877103) return this.socket.write(NO) // SSLRequest
      this.salt = randomBytes(4)
      this.phase = 'password'
      return this.socket.write(message('R', Buffer.concat([Buffer.from([0, 0, 0, 5]), this.salt])))
    }
    const given = chunk.toString('latin1', 5, chunk.indexOf(0, 5))
    if (given !== `md5${md5(secret, this.salt)}`) return this.socket.destroy()
    this.phase = 'ready'
    this.socket.write(WELCOME)
  }

  onClose() {
    const i = waiters.indexOf(this)
    if (i >= 0) waiters.splice(i, 1)
    // Left in the middle of a transaction: that server's state is unknown; replace it.
    if (this.server) {
      this.server.client = null
      this.server.socket.destroy()
      const replacement = new Server()
      replacement.open().then(() => release(replacement))
    }
  }
}

for (let i = 0; i < Number(poolSize); i++) {
  const s = new Server()
  await s.open()
  idle.push(s)
}

// One socket per accepted connection, reading into the shared buffer: the same listen-handle hook
// as the db-ambassador's acceptOnSharedRead (src/shared-read.ts).
const listener = createServer({ noDelay: true })
listener.listen(Number(listenPort), '127.0.0.1', () => {
  listener._handle.onconnection = (err, handle) => {
    if (err) return
    new Client((callback) => {
      const socket = new Socket({
        handle,
        readable: true,
        writable: true,
        onread: { buffer: SHARED, callback },
      })
      handle.setNoDelay(true)
      return socket
    })
  }
})

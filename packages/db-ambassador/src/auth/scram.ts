// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it: the server side for clients that
// log in to the ambassador, the client side for the ambassador logging in to a server. Channel
// binding is not offered (the gs2 header is "n,,"), as PgBouncer does.

import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'

export const SCRAM_MECHANISM = 'SCRAM-SHA-256'
const hmac = (key: Buffer, data: string | Buffer) => createHmac('sha256', key).update(data).digest()
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest()
const xor = (a: Buffer, b: Buffer) => {
  const out = Buffer.allocUnsafe(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!
  return out
}

/** A stored SCRAM verifier, as in pg_authid: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>. */
export interface ScramSecret {
  iterations: number
  salt: Buffer
  storedKey: Buffer
  serverKey: Buffer
}

export function parseScramSecret(text: string): ScramSecret | undefined {
  const m = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(text)
  if (!m) return undefined
  const storedKey = Buffer.from(m[3]!, 'base64')
  const serverKey = Buffer.from(m[4]!, 'base64')
  if (storedKey.length !== 32 || serverKey.length !== 32) return undefined
  return { iterations: Number(m[1]), salt: Buffer.from(m[2]!, 'base64'), storedKey, serverKey }
}

export function saltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  // SASLprep is skipped: PostgreSQL itself uses the raw bytes when the password is not valid UTF-8
  // normalizable, and ASCII passwords are unchanged by it.
  return pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256')
}

export function scramSecretFromPassword(password: string, salt: Buffer = randomBytes(16), iterations = 4096) {
  const salted = saltedPassword(password, salt, iterations)
  const clientKey = hmac(salted, 'Client Key')
  return { iterations, salt, storedKey: sha256(clientKey), serverKey: hmac(salted, 'Server Key') }
}

export function formatScramSecret(s: ScramSecret): string {
  return `SCRAM-SHA-256$${s.iterations}:${s.salt.toString('base64')}$${s.storedKey.toString('base64')}:${s.serverKey.toString('base64')}`
}

function parseAttributes(msg: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const part of msg.split(',')) {
    const eq = part.indexOf('=')
    if (eq === 1) out.set(part[0]!, part.slice(2))
  }
  return out
}

/**
 * Server side of one SCRAM exchange. `first(clientFirst)` returns server-first-message;
 * `final(clientFinal)` returns server-final-message or undefined when the proof is wrong.
 * After success, `clientKey` holds the client's ClientKey, which lets the ambassador log in to
 * a server whose verifier is the same (SCRAM pass-through, as PgBouncer does).
 */
export class ScramServer {
  private clientFirstBare = ''
  private serverFirst = ''
  private nonce = ''
  clientKey: Buffer | undefined

  /** `serverNonce` is for tests that replay RFC 7677's example; leave it out otherwise. */
  constructor(
    private readonly secret: ScramSecret,
    private readonly serverNonce?: string,
  ) {}

  first(clientFirst: string): string {
    // gs2 header: "n,," or "y,," (no channel binding); "p=" is refused as we offer no binding.
    const m = /^([ny]),([^,]*),(.*)$/.exec(clientFirst)
    if (!m) throw new Error('malformed SCRAM client-first-message')
    this.clientFirstBare = m[3]!
    const attrs = parseAttributes(this.clientFirstBare)
    const clientNonce = attrs.get('r')
    if (!clientNonce) throw new Error('SCRAM client-first-message has no nonce')
    this.nonce = clientNonce + (this.serverNonce ?? randomBytes(18).toString('base64'))
    this.serverFirst = `r=${this.nonce},s=${this.secret.salt.toString('base64')},i=${this.secret.iterations}`
    return this.serverFirst
  }

  final(clientFinal: string): string | undefined {
    const idx = clientFinal.lastIndexOf(',p=')
    if (idx < 0) throw new Error('SCRAM client-final-message has no proof')
    const withoutProof = clientFinal.slice(0, idx)
    const attrs = parseAttributes(clientFinal)
    if (attrs.get('r') !== this.nonce) return undefined
    const proof = Buffer.from(attrs.get('p') ?? '', 'base64')
    if (proof.length !== 32) return undefined
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`
    const clientSignature = hmac(this.secret.storedKey, authMessage)
    const clientKey = xor(proof, clientSignature)
    if (!timingSafeEqual(sha256(clientKey), this.secret.storedKey)) return undefined
    this.clientKey = clientKey
    return `v=${hmac(this.secret.serverKey, authMessage).toString('base64')}`
  }
}

/** Credentials for the client side: a password, or a ClientKey/ServerKey pair from pass-through. */
export type ScramCredentials =
  | { password: string }
  | { clientKey: Buffer; serverKey: Buffer; salt: Buffer; iterations: number }

/** Client side of one SCRAM exchange, for logging in to a PostgreSQL server. */
export class ScramClient {
  private readonly clientNonce: string
  private clientFirstBare = ''
  private serverSignature: Buffer | undefined

  /** `test` fixes the nonce and user name, to replay RFC 7677's example. */
  constructor(
    private readonly creds: ScramCredentials,
    private readonly test?: { nonce: string; user: string },
  ) {
    this.clientNonce = test?.nonce ?? randomBytes(18).toString('base64')
  }

  first(): string {
    // PostgreSQL ignores the user name in SCRAM (it comes from the startup packet).
    this.clientFirstBare = `n=${this.test?.user ?? '*'},r=${this.clientNonce}`
    return `n,,${this.clientFirstBare}`
  }

  final(serverFirst: string): string {
    const attrs = parseAttributes(serverFirst)
    const nonce = attrs.get('r')
    const salt = Buffer.from(attrs.get('s') ?? '', 'base64')
    const iterations = Number(attrs.get('i'))
    if (!nonce?.startsWith(this.clientNonce) || !Number.isInteger(iterations) || iterations < 1)
      throw new Error('malformed SCRAM server-first-message')
    let clientKey: Buffer
    let serverKey: Buffer
    if ('password' in this.creds) {
      const salted = saltedPassword(this.creds.password, salt, iterations)
      clientKey = hmac(salted, 'Client Key')
      serverKey = hmac(salted, 'Server Key')
    } else {
      if (!this.creds.salt.equals(salt) || this.creds.iterations !== iterations)
        throw new Error("the server's SCRAM salt differs from the auth_file secret; pass-through impossible")
      clientKey = this.creds.clientKey
      serverKey = this.creds.serverKey
    }
    const withoutProof = `c=biws,r=${nonce}`
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`
    const proof = xor(clientKey, hmac(sha256(clientKey), authMessage))
    this.serverSignature = hmac(serverKey, authMessage)
    return `${withoutProof},p=${proof.toString('base64')}`
  }

  /** Checks server-final-message; false means the server does not know the password. */
  verify(serverFinal: string): boolean {
    const v = parseAttributes(serverFinal).get('v')
    if (!v || !this.serverSignature) return false
    const got = Buffer.from(v, 'base64')
    return got.length === this.serverSignature.length && timingSafeEqual(got, this.serverSignature)
  }
}

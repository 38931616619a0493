// PostgreSQL's MD5 password scheme: the stored secret is "md5" + md5(password + user), and the
// wire response to a 4-byte salt is "md5" + md5(hex(md5(password + user)) + salt).

import { hash } from 'node:crypto'

// One-shot hash(): no Hash object per login (Node 20.12+).
const md5hex = (data: Buffer | string) => hash('md5', data, 'hex')

/** The stored form: "md5" + md5(password + user). */
export function md5Secret(user: string, password: string): string {
  return `md5${md5hex(password + user)}`
}

// Stored secrets of plain userlist passwords, so a login hashes once, not twice. Bounded; the
// key holds the password, as the userlist in memory already does.
const secrets = new Map<string, string>()

/** What a client sends for a salt, given the stored secret ("md5..." ) or the plain password. */
export function md5Response(user: string, passwordOrSecret: string, salt: Buffer): string {
  let secret = passwordOrSecret
  if (!isMd5Secret(secret)) {
    const k = `${user}\0${passwordOrSecret}`
    const known = secrets.get(k)
    if (known) secret = known
    else {
      secret = md5Secret(user, passwordOrSecret)
      if (secrets.size >= 1024) secrets.clear()
      secrets.set(k, secret)
    }
  }
  return `md5${md5hex(Buffer.concat([Buffer.from(secret.slice(3), 'latin1'), salt]))}`
}

export const isMd5Secret = (s: string) => /^md5[0-9a-f]{32}$/.test(s)

// The stored md5 secret of each plain userlist password, kept with its userlist entry: a reload
// makes new entries, so nothing outlives the password it was made from.
const plainSecrets = new WeakMap<object, { user: string; secret: string }>()

/** "md5" + md5(password + user) for a plain userlist entry, hashed once per entry. */
export function storedMd5Secret(user: string, entry: { password: string }): string {
  const known = plainSecrets.get(entry)
  if (known !== undefined && known.user === user) return known.secret
  const secret = md5Secret(user, entry.password)
  plainSecrets.set(entry, { user, secret })
  return secret
}

// The inner digest's input, "md5" + 32 hex digits + the 4-byte salt, built in one reused buffer
// (a login is checked synchronously, so one buffer serves all); INNER skips the "md5" prefix.
const SALTED = Buffer.allocUnsafe(39)
const INNER = SALTED.subarray(3)

/**
 * Whether `given` (a PasswordMessage's text) is the md5 answer to `salt` for the stored secret
 * ("md5" + 32 hex digits). The same check as comparing with md5Response, without its strings
 * and buffers per login.
 */
export function md5Matches(given: string, secret: string, salt: Buffer): boolean {
  if (given.length !== 35 || secret.length !== 35 || !given.startsWith('md5')) return false
  SALTED.write(secret, 0, 35, 'latin1')
  salt.copy(SALTED, 35, 0, 4)
  return given.endsWith(hash('md5', INNER, 'hex'))
}

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

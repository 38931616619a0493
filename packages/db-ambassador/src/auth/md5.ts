// PostgreSQL's MD5 password scheme: the stored secret is "md5" + md5(password + user), and the
// wire response to a 4-byte salt is "md5" + md5(hex(md5(password + user)) + salt).

import { createHash } from 'node:crypto'

const md5hex = (data: Buffer | string) => createHash('md5').update(data).digest('hex')

/** The stored form: "md5" + md5(password + user). */
export function md5Secret(user: string, password: string): string {
  return `md5${md5hex(password + user)}`
}

/** What a client sends for a salt, given the stored secret ("md5..." ) or the plain password. */
export function md5Response(user: string, passwordOrSecret: string, salt: Buffer): string {
  const secret = isMd5Secret(passwordOrSecret) ? passwordOrSecret : md5Secret(user, passwordOrSecret)
  return `md5${md5hex(Buffer.concat([Buffer.from(secret.slice(3)), salt]))}`
}

export const isMd5Secret = (s: string) => /^md5[0-9a-f]{32}$/.test(s)

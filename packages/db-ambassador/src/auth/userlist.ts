// PgBouncer's auth_file (userlist.txt): one `"user" "secret"` pair per line, where the secret is
// a plain password, an MD5 secret ("md5" + 32 hex) or a SCRAM verifier. "" escapes a quote.

import { readFileSync } from 'node:fs'
import { AuthFileError } from '../errors.ts'
import { isMd5Secret } from './md5.ts'
import { parseScramSecret, type ScramSecret } from './scram.ts'

export type UserSecret =
  | { kind: 'plain'; password: string }
  | { kind: 'md5'; secret: string }
  | { kind: 'scram'; secret: ScramSecret; text: string }

export function classifySecret(text: string): UserSecret {
  if (isMd5Secret(text)) return { kind: 'md5', secret: text }
  const scram = text.startsWith('SCRAM-SHA-256$') ? parseScramSecret(text) : undefined
  if (scram) return { kind: 'scram', secret: scram, text }
  return { kind: 'plain', password: text }
}

function readQuoted(line: string, pos: number, where: string): [string, number] {
  while (line[pos] === ' ' || line[pos] === '\t') pos++
  if (line[pos] !== '"') throw new AuthFileError(`${where}: expected a double-quoted field`)
  let out = ''
  for (let i = pos + 1; i < line.length; i++) {
    if (line[i] === '"') {
      if (line[i + 1] === '"') {
        out += '"'
        i++
      } else return [out, i + 1]
    } else out += line[i]
  }
  throw new AuthFileError(`${where}: unterminated quoted field`)
}

export function parseUserlist(text: string, source = 'auth_file'): Map<string, UserSecret> {
  const users = new Map<string, UserSecret>()
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith(';') || line.startsWith('#')) return
    const where = `${source}:${i + 1}`
    const [user, p] = readQuoted(line, 0, where)
    const [secret] = readQuoted(line, p, where)
    users.set(user, classifySecret(secret))
  })
  return users
}

export function loadUserlist(path: string): Map<string, UserSecret> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new AuthFileError(`cannot read auth_file ${path}: ${(err as Error).message}`, { cause: err })
  }
  return parseUserlist(text, path)
}

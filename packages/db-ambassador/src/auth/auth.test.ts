import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { AuthFileError } from '../errors.ts'
import { md5Matches, md5Response, md5Secret, storedMd5Secret } from './md5.ts'
import { parseUserlist } from './userlist.ts'

const md5 = (s: Buffer | string) => createHash('md5').update(s).digest('hex')

describe('md5', () => {
  it('stores md5(password + user) and answers md5(secret + salt), from a password or a secret', () => {
    expect(md5Secret('alice', 'pw')).toBe(`md5${md5('pwalice')}`)
    const salt = Buffer.from([1, 2, 3, 4])
    const expected = `md5${md5(Buffer.concat([Buffer.from(md5('pwalice')), salt]))}`
    expect(md5Response('alice', 'pw', salt)).toBe(expected)
    expect(md5Response('alice', md5Secret('alice', 'pw'), salt)).toBe(expected)
  })

  it('checks a client answer against the stored secret and the salt it was sent', () => {
    const salt = Buffer.from([9, 8, 7, 6])
    const secret = md5Secret('alice', 'pw')
    const answer = `md5${md5(Buffer.concat([Buffer.from(md5('pwalice')), salt]))}`
    expect(md5Matches(answer, secret, salt)).toBe(true)
    expect(md5Matches(answer, secret, Buffer.from([9, 8, 7, 7]))).toBe(false)
    expect(md5Matches(answer, md5Secret('alice', 'px'), salt)).toBe(false)
    expect(md5Matches(`MD5${answer.slice(3)}`, secret, salt)).toBe(false)
    expect(md5Matches(answer.slice(0, 34), secret, salt)).toBe(false)
    expect(md5Matches(`${answer}0`, secret, salt)).toBe(false)
    // A plain userlist entry is hashed once, and never answers for another user name.
    const entry = { password: 'pw' }
    expect(storedMd5Secret('alice', entry)).toBe(secret)
    expect(storedMd5Secret('alice', entry)).toBe(secret)
    expect(storedMd5Secret('bob', entry)).toBe(md5Secret('bob', 'pw'))
  })
})

describe('userlist.txt', () => {
  it('reads plain, md5 and SCRAM secrets, comments and "" escapes', () => {
    const text = [
      '; a comment',
      '"alice" "plain pass"',
      `"bob" "md5${'a'.repeat(32)}"`,
      '"carol" "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$ZJbK6JoEW3mDL7Dd7Ssbg8r0DO5I2GO34ENCyIc3FR8=:u2Ce+5cM0Ih2eOxRcGzwtRpJ/79PIMzbVs38j6Xmj0I="',
      '"d""q" "x""y"   trailing ignored',
      '',
    ].join('\n')
    const users = parseUserlist(text)
    expect(users.get('alice')).toEqual({ kind: 'plain', password: 'plain pass' })
    expect(users.get('bob')?.kind).toBe('md5')
    expect(users.get('carol')?.kind).toBe('scram')
    expect(users.get('d"q')).toEqual({ kind: 'plain', password: 'x"y' })
    expect(users.size).toBe(4)
  })

  it('names the file and line of a malformed entry', () => {
    expect(() => parseUserlist('"ok" "x"\nalice pw\n', '/etc/u.txt')).toThrow(AuthFileError)
    expect(() => parseUserlist('"ok" "x"\nalice pw\n', '/etc/u.txt')).toThrow('/etc/u.txt:2')
    expect(() => parseUserlist('"a" "unterminated\n', 'f')).toThrow('f:1: unterminated')
  })
})

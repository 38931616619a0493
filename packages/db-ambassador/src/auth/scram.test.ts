import { describe, expect, it } from 'vitest'
import {
  formatScramSecret,
  parseScramSecret,
  ScramClient,
  ScramServer,
  scramSecretFromPassword,
} from './scram.ts'

// RFC 7677 section 3: user "user", password "pencil".
const rfc = {
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
}

describe('SCRAM-SHA-256', () => {
  it('client side reproduces the RFC 7677 example', () => {
    const c = new ScramClient({ password: 'pencil' }, { nonce: 'rOprNGfwEbeRWgbNEkqO', user: 'user' })
    expect(c.first()).toBe(rfc.clientFirst)
    expect(c.final(rfc.serverFirst)).toBe(rfc.clientFinal)
    expect(c.verify(rfc.serverFinal)).toBe(true)
    expect(c.verify('v=AAAA')).toBe(false)
  })

  it('server side reproduces the RFC 7677 example and recovers the ClientKey', () => {
    const secret = scramSecretFromPassword('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096)
    const s = new ScramServer(secret, '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0')
    expect(s.first(rfc.clientFirst)).toBe(rfc.serverFirst)
    expect(s.final(rfc.clientFinal)).toBe(rfc.serverFinal)
    expect(s.clientKey?.length).toBe(32)
  })

  it('server side refuses a wrong proof', () => {
    const secret = scramSecretFromPassword('other', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096)
    const s = new ScramServer(secret, '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0')
    s.first(rfc.clientFirst)
    expect(s.final(rfc.clientFinal)).toBeUndefined()
  })

  it('a pass-through client (ClientKey from a login) authenticates against the same verifier', () => {
    const secret = scramSecretFromPassword('s3cret')
    const login = new ScramServer(secret)
    const user = new ScramClient({ password: 's3cret' })
    const sf = login.first(user.first())
    expect(user.verify(login.final(user.final(sf))!)).toBe(true)
    const server = new ScramServer(secret)
    const relay = new ScramClient({
      clientKey: login.clientKey!,
      serverKey: secret.serverKey,
      salt: secret.salt,
      iterations: secret.iterations,
    })
    const sf2 = server.first(relay.first())
    const fin = server.final(relay.final(sf2))
    expect(fin).toBeDefined()
    expect(relay.verify(fin!)).toBe(true)
  })

  it('parses and formats pg_authid verifiers', () => {
    const secret = scramSecretFromPassword('x', Buffer.alloc(16, 7), 4096)
    const text = formatScramSecret(secret)
    expect(text).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/)
    const back = parseScramSecret(text)!
    expect(back.storedKey.equals(secret.storedKey)).toBe(true)
    expect(parseScramSecret('SCRAM-SHA-256$4096:abc')).toBeUndefined()
  })
})

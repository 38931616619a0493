// The demo's certificates, checked by openssl and by a real TLS handshake that verifies the chain
// and the name (and fails against another CA).
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createDemoPki } from './pki.ts'

const dir = mkdtempSync(join(tmpdir(), 'podkit-demo-pki-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function get(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, servername: 'localhost', ca, path: '/' }, (res) => {
      let body = ''
      res.on('data', (d) => {
        body += d
      })
      res.on('end', () => resolve(body))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('createDemoPki', () => {
  const pki = createDemoPki(dir)

  it('makes a CA and a server certificate it signed, for localhost and 127.0.0.1', () => {
    const ca = new X509Certificate(pki.ca.cert)
    const server = new X509Certificate(pki.server.cert)
    expect(ca.ca).toBe(true)
    expect(server.ca).toBe(false)
    expect(server.checkIssued(ca)).toBe(true)
    expect(server.verify(ca.publicKey)).toBe(true)
    expect(server.checkHost('localhost')).toBe('localhost')
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1')
    expect(server.checkHost('example.com')).toBeUndefined()
    // openssl agrees (it is on this machine; the demo itself does not need it).
    const serverFile = join(dir, 'server.crt')
    writeFileSync(serverFile, pki.server.cert)
    const out = execFileSync('openssl', ['verify', '-CAfile', pki.ca.certFile, serverFile], {
      encoding: 'utf8',
    })
    expect(out.trim()).toBe(`${serverFile}: OK`)
  })

  it('serves TLS that verifies against the CA and not against another one', async () => {
    const server = createServer({ cert: pki.server.cert, key: pki.server.key }, (_req, res) => res.end('ok'))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as { port: number }).port
    try {
      expect(await get(port, pki.ca.cert)).toBe('ok')
      const other = createDemoPki(join(dir, 'other'))
      await expect(get(port, other.ca.cert)).rejects.toThrow(/certificate/)
    } finally {
      server.close()
    }
  })
})

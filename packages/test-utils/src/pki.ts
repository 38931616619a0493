// A test PKI made at test time with openssl: a CA, a server certificate for the given names and
// a client certificate, as PEM strings and files.

import { execFileSync } from 'node:child_process'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './temp.ts'

export interface KeyPair {
  cert: string
  key: string
  certFile: string
  keyFile: string
}

export interface TestPki {
  dir: string
  ca: KeyPair
  server: KeyPair
  client: KeyPair
  /** Issues another certificate from the same CA. */
  issue(
    name: string,
    opts?: { dns?: string[]; ips?: string[]; client?: boolean; commonName?: string },
  ): KeyPair
  cleanup(): void
}

export interface PkiOptions {
  /** DNS names in the server certificate; default localhost. */
  dns?: string[]
  /** IP addresses in the server certificate; default 127.0.0.1 and ::1. */
  ips?: string[]
  /** Common name of the CA, to tell several test CAs apart. */
  caName?: string
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' })
}

export function createTestPki(opts: PkiOptions = {}): TestPki {
  const tmp = tempDir('podkit-pki-')
  const dir = tmp.path
  chmodSync(dir, 0o755)
  const pair = (name: string): KeyPair => {
    const certFile = join(dir, `${name}.crt`)
    const keyFile = join(dir, `${name}.key`)
    chmodSync(keyFile, 0o644) // readable by a server running as another user (postgres, nginx workers)
    return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile }
  }
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${opts.caName ?? 'podkit test CA'}`,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  )
  const ca = pair('ca')
  const issue: TestPki['issue'] = (name, o = {}) => {
    const dns = o.dns ?? []
    const ips = o.ips ?? []
    const san = [...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)].join(',')
    const ext = [
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      `extendedKeyUsage=${o.client ? 'clientAuth' : 'serverAuth'}`,
      san ? `subjectAltName=${san}` : '',
    ]
      .filter(Boolean)
      .join('\n')
    writeFileSync(join(dir, `${name}.ext`), `${ext}\n`)
    openssl(
      [
        'req',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        `/CN=${o.commonName ?? dns[0] ?? name}`,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
      ],
      dir,
    )
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '2',
        '-out',
        `${name}.crt`,
        '-extfile',
        `${name}.ext`,
      ],
      dir,
    )
    return pair(name)
  }
  const server = issue('server', { dns: opts.dns ?? ['localhost'], ips: opts.ips ?? ['127.0.0.1', '::1'] })
  const client = issue('client', { client: true, commonName: 'podkit-client' })
  return { dir, ca, server, client, issue, cleanup: tmp.cleanup }
}

// The demo's certificates, made at start in plain Node (no openssl needed): a CA and a server
// certificate for localhost and 127.0.0.1 that it signs, ECDSA P-256 with SHA-256. X.509 is DER
// (ITU-T X.690) over the structures of RFC 5280; node:crypto makes the keys and the signatures.
import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const der = (tag: number, body: Buffer): Buffer => {
  const len = body.length
  const head =
    len < 0x80
      ? Buffer.from([tag, len])
      : len < 0x100
        ? Buffer.from([tag, 0x81, len])
        : Buffer.from([tag, 0x82, len >> 8, len & 0xff])
  return Buffer.concat([head, body])
}
const seq = (...items: Buffer[]) => der(0x30, Buffer.concat(items))
const set = (...items: Buffer[]) => der(0x31, Buffer.concat(items))
const int = (b: Buffer) => der(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b)
const bool = (v: boolean) => der(0x01, Buffer.from([v ? 0xff : 0]))
const octets = (b: Buffer) => der(0x04, b)
const bits = (b: Buffer, unused = 0) => der(0x03, Buffer.concat([Buffer.from([unused]), b]))
const utf8 = (s: string) => der(0x0c, Buffer.from(s, 'utf8'))
const explicit = (n: number, b: Buffer) => der(0xa0 + n, b)
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number)
  const out = [a! * 40 + b!]
  for (const n of rest) {
    const chunk = [n & 0x7f]
    for (let v = n >> 7; v > 0; v >>= 7) chunk.unshift((v & 0x7f) | 0x80)
    out.push(...chunk)
  }
  return der(0x06, Buffer.from(out))
}
/** UTCTime, YYMMDDHHMMSSZ (RFC 5280 4.1.2.5.1: dates before 2050). */
const time = (d: Date) => der(0x17, Buffer.from(`${d.toISOString().slice(2, 19).replace(/[-:T]/g, '')}Z`))
const name = (cn: string) => seq(set(seq(oid('2.5.4.3'), utf8(cn))))
const ext = (id: string, critical: boolean, value: Buffer) =>
  critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value))

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'))

interface Issued {
  cert: string
  key: string
  keyObject: KeyObject
}

function issue(opts: {
  subject: string
  issuer: string
  signingKey?: KeyObject
  ca: boolean
  dns?: string[]
  ips?: string[]
}): Issued {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const spki = publicKey.export({ type: 'spki', format: 'der' })
  const notBefore = new Date(Date.now() - 60_000)
  const notAfter = new Date(Date.now() + 7 * 86_400_000)
  const extensions: Buffer[] = [
    // basicConstraints (2.5.29.19), keyUsage (2.5.29.15)
    ext('2.5.29.19', true, opts.ca ? seq(bool(true)) : seq()),
    ext('2.5.29.15', true, opts.ca ? bits(Buffer.from([0x06]), 1) : bits(Buffer.from([0xa0]), 5)),
  ]
  if (!opts.ca) {
    // extKeyUsage serverAuth (2.5.29.37), subjectAltName (2.5.29.17): dNSName [2], iPAddress [7]
    extensions.push(ext('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))))
    const names = [
      ...(opts.dns ?? []).map((d) => der(0x82, Buffer.from(d, 'ascii'))),
      ...(opts.ips ?? []).map((ip) => der(0x87, Buffer.from(ip.split('.').map(Number)))),
    ]
    extensions.push(ext('2.5.29.17', false, seq(...names)))
  }
  const tbs = seq(
    explicit(0, int(Buffer.from([2]))), // v3
    int(randomBytes(12)),
    ECDSA_SHA256,
    name(opts.issuer),
    seq(time(notBefore), time(notAfter)),
    name(opts.subject),
    Buffer.from(spki),
    explicit(3, seq(...extensions)),
  )
  const signature = sign('sha256', tbs, opts.signingKey ?? privateKey)
  const certDer = seq(tbs, ECDSA_SHA256, bits(signature))
  const pem = (label: string, b: Buffer) =>
    `-----BEGIN ${label}-----\n${b
      .toString('base64')
      .match(/.{1,64}/g)!
      .join('\n')}\n-----END ${label}-----\n`
  return {
    cert: pem('CERTIFICATE', certDer),
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    keyObject: privateKey,
  }
}

export interface DemoPki {
  ca: { cert: string; certFile: string }
  server: { cert: string; key: string }
}

/** A CA and a localhost server certificate it signed; the CA's PEM is also written to `dir/ca.crt`. */
export function createDemoPki(dir: string): DemoPki {
  const ca = issue({ subject: 'podkit demo CA', issuer: 'podkit demo CA', ca: true })
  const server = issue({
    subject: 'localhost',
    issuer: 'podkit demo CA',
    signingKey: createPrivateKey(ca.key),
    ca: false,
    dns: ['localhost'],
    ips: ['127.0.0.1'],
  })
  mkdirSync(dir, { recursive: true })
  const certFile = join(dir, 'ca.crt')
  writeFileSync(certFile, ca.cert)
  return { ca: { cert: ca.cert, certFile }, server: { cert: server.cert, key: server.key } }
}

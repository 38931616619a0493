// Upstream TLS: one SecureContext per cluster (system CAs plus the configured CA, the client
// certificate for mTLS), built once so that no connection re-parses PEM, and the checks that
// classify a failed handshake for the 502 and the log.

import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import {
  checkServerIdentity,
  createSecureContext,
  type PeerCertificate,
  rootCertificates,
  type SecureContext,
} from 'node:tls'
import type { TlsSpec } from './config.ts'
import { ConfigFileReadError } from './errors.ts'

export interface TlsConnectOptions {
  servername?: string
  secureContext: SecureContext
  rejectUnauthorized: boolean
  ALPNProtocols: string[]
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined
}

function read(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigFileReadError(`cannot read the ${what} file ${path}: ${(err as Error).message}`, {
      cause: err,
    })
  }
}

export function tlsConnectOptions(cluster: string, spec: TlsSpec): TlsConnectOptions {
  const extraCa = [spec.ca, spec.caFile && read(spec.caFile, `CA of cluster ${cluster}`)].filter(
    (x): x is string => Boolean(x),
  )
  // No extra CA: Node's default store (its Mozilla bundle plus NODE_EXTRA_CA_CERTS). With one,
  // the bundle and the CA together (or the CA alone when systemCa is false, as Envoy's trusted_ca).
  const ca = extraCa.length === 0 ? undefined : [...(spec.systemCa ? rootCertificates : []), ...extraCa]
  const cert =
    spec.cert ?? (spec.certFile ? read(spec.certFile, `client certificate of cluster ${cluster}`) : undefined)
  const key = spec.key ?? (spec.keyFile ? read(spec.keyFile, `client key of cluster ${cluster}`) : undefined)
  let secureContext: SecureContext
  try {
    secureContext = createSecureContext({ ca, cert, key })
  } catch (err) {
    throw new ConfigFileReadError(
      `the TLS material of cluster ${cluster} is not valid PEM: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  }
  const sans = spec.subjectAltNames
  const out: TlsConnectOptions = {
    secureContext,
    rejectUnauthorized: !spec.insecure,
    ALPNProtocols: spec.alpn,
  }
  // An IP is not a server name (RFC 6066 3); the certificate is then checked against the IP.
  if (!isIP(spec.sni)) out.servername = spec.sni
  // Envoy's match_subject_alt_names: the certificate must name one of these, on top of the SNI
  // check. (Only set when used: tls.connect asserts on an explicit undefined.)
  if (sans.length > 0) {
    out.checkServerIdentity = (host, cert) => {
      const err = checkServerIdentity(host, cert)
      if (err) return err
      const names = (cert.subjectaltname ?? '').split(/,\s*/).map((s) => s.replace(/^(DNS|IP Address):/, ''))
      if (!sans.some((s) => names.includes(s))) {
        const e = new Error(`certificate names ${names.join(', ')}, none of ${sans.join(', ')}`)
        ;(e as NodeJS.ErrnoException).code = 'ERR_TLS_CERT_ALTNAME_INVALID'
        return e
      }
      return undefined
    }
  }
  return out
}

const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
])

/** True when an error is a failed certificate check or TLS handshake (not a plain refused connect). */
export function isTlsError(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException & { library?: string; reason?: string }
  if (!e || typeof e !== 'object') return false
  if (
    e.code &&
    (TLS_VERIFY_CODES.has(e.code) || e.code.startsWith('ERR_SSL_') || e.code.startsWith('ERR_TLS_'))
  )
    return true
  return e.library === 'SSL routines'
}

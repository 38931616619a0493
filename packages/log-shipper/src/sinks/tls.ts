// TLS settings shared by the network outputs, read from Fluent Bit's tls.* keys. Verification is
// on by default (Fluent Bit's tls.verify default is On); a CA file replaces the system store.

import { readFileSync } from 'node:fs'
import type { PluginSection } from '../fluent-bit/section.ts'

export interface TlsSettings {
  enabled: boolean
  verify: boolean
  ca?: string
  cert?: string
  key?: string
  /** Name checked against the certificate and sent as SNI (tls.vhost), default the host. */
  servername?: string
}

export function tlsFromSection(s: PluginSection): TlsSettings {
  const read = (key: string): string | undefined => {
    const file = s.str(key)
    if (!file) return undefined
    try {
      return readFileSync(file, 'utf8')
    } catch (err) {
      throw s.error(key, `${key} ${file} cannot be read: ${(err as Error).message}`)
    }
  }
  const enabled = s.bool('tls', false)
  return {
    enabled,
    verify: s.bool('tls.verify', true),
    ca: enabled ? read('tls.ca_file') : undefined,
    cert: enabled ? read('tls.crt_file') : undefined,
    key: enabled ? read('tls.key_file') : undefined,
    servername: s.str('tls.vhost') || undefined,
  }
}

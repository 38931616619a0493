// Options of the forward output from Fluent Bit's [OUTPUT] keys (Host, Port, Shared_Key, tls.*, ...).

import { hostname } from 'node:os'
import type { PluginSection } from '../../fluent-bit/section.ts'
import { tlsFromSection } from '../tls.ts'
import type { ForwardOptions } from './forward.ts'

export function forwardOptions(s: PluginSection, name: string): ForwardOptions {
  const compress = s.oneOf('compress', ['gzip', 'none', ''] as const, '')
  const emptyShared = s.bool('empty_shared_key', false)
  const sharedKey = s.str('shared_key') || (emptyShared ? '' : undefined)
  const username = s.str('username') || undefined
  if (username && sharedKey === undefined)
    throw s.error(
      'username',
      'Username needs Shared_Key (or Empty_Shared_Key On): user auth happens in the handshake',
    )
  return {
    name,
    host: s.str('host', '127.0.0.1'),
    port: s.int('port', 24224, 1, 65535),
    tls: tlsFromSection(s),
    requireAck: s.bool('require_ack_response', false),
    compress: compress === 'gzip' ? 'gzip' : undefined,
    sharedKey,
    selfHostname: s.str('self_hostname') || hostname(),
    username,
    password: s.str('password') || undefined,
    sendOptions: s.bool('send_options', false),
    tag: s.str('tag') || undefined,
    timeAsInteger: s.bool('time_as_integer', false),
    keepalive: s.bool('net.keepalive', true),
    keepaliveIdleTimeoutMs: s.seconds('net.keepalive_idle_timeout', 30_000),
    connectTimeoutMs: s.seconds('net.connect_timeout', 10_000),
    ackTimeoutMs: 60_000,
  }
}

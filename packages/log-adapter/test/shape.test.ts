// The seed format's encode path (straight to bytes, the default) against the decode + serialize
// path it replaced: the same JSON line for every kind of line, byte for byte.
import { LineBuffer, resolveZone } from '@podkit/log-pipeline'
import { loadConfig } from '@podkit/runtime'
import { describe, expect, it } from 'vitest'
import { ENV_PREFIX, schema } from '../src/config.ts'
import { createDecoder, createEncoder, createSerializer } from '../src/shape.ts'

const LINES = [
  '2024-01-15 10:30:00.123 INFO plain message',
  '2024-01-15 10:30:00 WARNING no fraction',
  '2024-01-15T10:30:00.5Z ERROR zulu and "quotes" and back\\slash',
  '2024-01-15 10:30:00.999+02:00 debug offset\ttab',
  '2024-01-15 10:30:01.000 NOTALEVEL the third word stays',
  '2024-01-15 10:30:02.000 INFO héllo wörld 日本語 🎉',
  '2024-01-15 10:30:03.000 ERROR lone \ud800 surrogate, lone low \udc00, pair at the end \ud83c\udf89',
  '2024-01-15 10:30:03.500 ERROR controls \u0001\u0000\b\f\r\u001f\u007f "\\" \ud800',
  '2024-01-15 10:30:04.000 ERROR failed\njava.lang.IllegalStateException: boom\n\tat x.y(Z.java:1)',
  // The encoder caches the time's text per minute and offset: minutes, hours, days and offsets
  // that change between lines, back and forth, and a time before the epoch.
  '2024-01-15 10:31:59.001 INFO next minute',
  '2024-01-15 10:30:59.999 WARN back a minute',
  '2024-01-15 23:59:59.999 INFO last of the day',
  '2024-01-16 00:00:00.000 INFO first of the next',
  '2024-03-31 00:59:59.500 INFO before the Berlin DST change (UTC)',
  '2024-03-31 01:00:00.250 INFO after it',
  '2024-03-31 02:30:00.000 INFO in the Berlin gap when read as Berlin time',
  '2024-10-27 02:30:00.000 INFO in the Berlin overlap',
  '2024-01-15 10:30:00.000+05:30 INFO explicit offset',
  '1969-12-31 23:59:59.999 INFO before the epoch',
  'not a seed line at all',
  '2024-01-15 10:30:05.000',
  '2024-01-15 10:30:05.000 ',
  '',
]

describe('seed encode', () => {
  for (const [label, env] of [
    ['defaults', { POD_NAME: 'app-1' }],
    ['zone and metadata', { POD_NAME: 'p "q"', POD_NAMESPACE: 'ns', LOG_ADAPTER_TIMEZONE: 'Europe/Berlin' }],
    [
      'offset zone, field names outside ASCII',
      {
        POD_NAME: 'pöd',
        LOG_ADAPTER_TIMEZONE: '-03:30',
        LOG_ADAPTER_FIELDS_MESSAGE: 'nachricht_ü',
        LOG_ADAPTER_FIELDS_LEVEL: 'nível',
      },
    ],
  ] as const) {
    it(`writes the same bytes as decode + serialize (${label})`, () => {
      const { config } = loadConfig({ schema, envPrefix: ENV_PREFIX, env: { ...env }, argv: [] })
      const zone = resolveZone(config.format.timezone)
      const decode = createDecoder(config, zone)
      const serialize = createSerializer(config)
      const encode = createEncoder(config, zone, decode)
      const origin = { tag: 't', path: '/x', now: Date.UTC(2024, 0, 15, 12, 0, 0, 42) }
      const out = new LineBuffer(8)
      let expected = ''
      for (const line of LINES) {
        const d = decode(line, origin)
        expected += `${serialize(d.event)}\n`
        expect(encode(line, origin, out), line).toBe(d.parsed)
      }
      expect(out.bytes().toString('utf8')).toBe(expected)
      expect(out.lines).toBe(LINES.length)
      for (const l of expected.split('\n').filter(Boolean)) expect(() => JSON.parse(l)).not.toThrow()
    })
  }
})

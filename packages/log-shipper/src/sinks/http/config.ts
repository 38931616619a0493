// Options of the http output from Fluent Bit's [OUTPUT] keys.

import type { PluginSection } from '../../fluent-bit/section.ts'
import { httpTargetFromSection } from '../http-client.ts'
import type { HttpSinkOptions } from './http.ts'

export function httpOptions(s: PluginSection, name: string): HttpSinkOptions {
  const format = s.str('format', 'json').toLowerCase()
  if (format === 'msgpack' || format === 'gelf')
    throw s.error(
      'format',
      `Format ${format} is not supported by this http output (use json, json_lines or json_stream)`,
    )
  return {
    name,
    target: httpTargetFromSection(s, { port: 80 }),
    uri: s.str('uri', '/'),
    format: s.oneOf('format', ['json', 'json_lines', 'json_stream'] as const, 'json'),
    dateKey: /^(false|off)$/i.test(s.str('json_date_key', 'date')) ? '' : s.str('json_date_key', 'date'),
    dateFormat: s.oneOf(
      'json_date_format',
      ['double', 'epoch', 'iso8601', 'java_sql_timestamp'] as const,
      'double',
    ),
  }
}

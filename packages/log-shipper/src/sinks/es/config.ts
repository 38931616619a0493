// Options of the es output from Fluent Bit's [OUTPUT] keys (Index, Logstash_Format, ...).

import type { PluginSection } from '../../fluent-bit/section.ts'
import { httpTargetFromSection } from '../http-client.ts'
import { type EsSinkOptions, strftimeUtc } from './es.ts'

export function esOptions(s: PluginSection, name: string): EsSinkOptions {
  const suppress = s.bool('suppress_type_name', false)
  const dateformat = s.str('logstash_dateformat', '%Y.%m.%d')
  try {
    strftimeUtc(dateformat, 0)
  } catch (err) {
    throw s.error('logstash_dateformat', `Logstash_DateFormat ${(err as Error).message}`)
  }
  return {
    name,
    target: httpTargetFromSection(s, { port: 9200 }),
    path: (s.str('path', '') || '').replace(/\/+$/, ''),
    index: s.str('index', 'fluent-bit'),
    type: suppress ? undefined : s.str('type') || undefined,
    logstashFormat: s.bool('logstash_format', false),
    logstashPrefix: s.str('logstash_prefix', 'logstash'),
    logstashDateformat: dateformat,
    timeKey: s.str('time_key', '@timestamp'),
    includeTagKey: s.bool('include_tag_key', false),
    tagKey: s.str('tag_key', '_flb-key'),
    generateId: s.bool('generate_id', false),
    idKey: s.str('id_key') || undefined,
    replaceDots: s.bool('replace_dots', false),
    itemRetries: 3,
    itemRetryDelayMs: 200,
  }
}

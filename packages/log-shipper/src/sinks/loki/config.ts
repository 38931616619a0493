// Options of the loki output from Fluent Bit's [OUTPUT] keys (labels, label_keys, tenant_id, ...).

import { accessorPath } from '@podkit/log-pipeline'
import type { PluginSection } from '../../fluent-bit/section.ts'
import { httpTargetFromSection } from '../http-client.ts'
import type { LokiLabel, LokiSinkOptions } from './loki.ts'

const list = (v: string | undefined) =>
  (v ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)

/** A label name from an accessor: `$kubernetes['pod_name']` becomes `pod_name`, as Fluent Bit names it. */
const labelName = (path: string[]) => path.at(-1)!.replace(/[^a-zA-Z0-9_]/g, '_')

export function lokiOptions(s: PluginSection, name: string): LokiSinkOptions {
  const labels: LokiLabel[] = []
  for (const item of list(s.str('labels', 'job=fluent-bit'))) {
    const eq = item.indexOf('=')
    if (eq > 0) {
      const value = item.slice(eq + 1).trim()
      const lname = item.slice(0, eq).trim()
      labels.push(value.startsWith('$') ? { name: lname, path: accessorPath(value) } : { name: lname, value })
    } else if (item.startsWith('$')) {
      const path = accessorPath(item)
      labels.push({ name: labelName(path), path })
    } else throw s.error('labels', `Labels entry "${item}" must be name=value or a $record_accessor`)
  }
  for (const item of list(s.str('label_keys'))) {
    if (!item.startsWith('$'))
      throw s.error('label_keys', `Label_Keys entry "${item}" must be a $record_accessor`)
    const path = accessorPath(item)
    labels.push({ name: labelName(path), path })
  }
  const tenant = s.str('tenant_id') || undefined
  return {
    name,
    target: httpTargetFromSection(s, { port: 3100 }),
    uri: s.str('uri', '/loki/api/v1/push'),
    tenantId: tenant,
    labels,
    removeKeys: list(s.str('remove_keys')).map((k) => accessorPath(k)),
    lineFormat: s.oneOf('line_format', ['json', 'key_value'] as const, 'json'),
    dropSingleKey: s.bool('drop_single_key', false),
  }
}

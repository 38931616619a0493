// The transform interface: a synchronous step that changes an event, or drops it by returning null
// (counted by the pipeline). Plus record accessors (`$kubernetes['labels']['app']`) as Fluent Bit writes them.

import type { LogEvent } from '../event.ts'

export interface Transform {
  readonly name: string
  /** The event (changed in place or a new one), or null to drop it. */
  apply(event: LogEvent): LogEvent | null
}

/** `log`, `$log` or `$kubernetes['labels']['app']` to a path of keys. */
export function accessorPath(key: string): string[] {
  if (!key.startsWith('$')) return [key]
  const m = /^\$([^[]+)((?:\[['"][^'"]*['"]\])*)$/.exec(key)
  if (!m) return [key.slice(1)]
  const rest = [...m[2]!.matchAll(/\[['"]([^'"]*)['"]\]/g)].map((x) => x[1]!)
  return [m[1]!, ...rest]
}

export function getField(record: Record<string, unknown>, path: readonly string[]): unknown {
  let cur: unknown = record
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[p]
  }
  return cur
}

/** `${NAME}` replaced from env; an unset variable becomes the empty string, as in Fluent Bit. */
export function interpolateEnv(text: string, env: Record<string, string | undefined> = process.env): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => env[name] ?? '')
}

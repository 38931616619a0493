// Option schemas: TypeBox (JSON Schema) with a few podkit keywords that say how an option is
// reached from the outside (env var, flag), whether it is a secret, and whether a string is a
// duration or a size. One schema gives validation, defaults, `--help` and the README table.

import type { SchemaOptions, TNumber, TObject, TSchema } from '@sinclair/typebox'
import { Type } from './types.ts'

export interface OptionMeta {
  /** Environment variable that sets this option. Defaults to the service prefix + the path in SNAKE_CASE. */
  env?: string | false
  /** Flag name without leading dashes. Defaults to the path in kebab-case (dots kept). */
  flag?: string | false
  /** Never print the value (help, logs, errors). */
  secret?: boolean
}

export type Kind = 'duration' | 'size'

/** A duration: accepts "5s", "250ms", "1m30s" or a number of milliseconds; the value is milliseconds. */
export function Duration(options: SchemaOptions & OptionMeta & { default?: number } = {}): TNumber {
  return Type.Number({ minimum: 0, ...options, podkitKind: 'duration' })
}

/** A size: accepts "5MB", "64k", "1GiB" or a number of bytes; the value is bytes. */
export function Size(options: SchemaOptions & OptionMeta & { default?: number } = {}): TNumber {
  return Type.Integer({ minimum: 0, ...options, podkitKind: 'size' }) as unknown as TNumber
}

/** A leaf option reached by the walk over a schema, with its dotted path. */
export interface Leaf {
  path: string[]
  key: string
  schema: TSchema
}

function isPlainObjectSchema(s: TSchema): s is TObject {
  return s.type === 'object' && s.properties !== undefined && typeof s.additionalProperties !== 'object'
}

/** Every option of a schema: nested objects are walked; maps, arrays and scalars are leaves. */
export function leaves(schema: TObject, prefix: string[] = []): Leaf[] {
  const out: Leaf[] = []
  for (const [name, child] of Object.entries(schema.properties)) {
    const path = [...prefix, name]
    if (isPlainObjectSchema(child)) out.push(...leaves(child, path))
    else out.push({ path, key: path.join('.'), schema: child })
  }
  return out
}

const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()
const snake = (s: string) =>
  s
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[.-]/g, '_')
    .toUpperCase()

export function flagName(leaf: Leaf): string | undefined {
  const f = leaf.schema.flag as string | false | undefined
  if (f === false) return undefined
  return f ?? leaf.path.map(kebab).join('.')
}

export function envName(leaf: Leaf, prefix: string): string | undefined {
  const e = leaf.schema.env as string | false | undefined
  if (e === false) return undefined
  return e ?? prefix + leaf.path.map(snake).join('_')
}

export function kindOf(schema: TSchema): Kind | undefined {
  return schema.podkitKind as Kind | undefined
}

/** A short type name for help and error messages. */
export function typeName(schema: TSchema): string {
  const kind = kindOf(schema)
  if (kind) return kind
  if (Array.isArray(schema.enum)) return schema.enum.join('|')
  if (schema.anyOf) return (schema.anyOf as TSchema[]).map(typeName).join('|')
  if (schema.const !== undefined) return JSON.stringify(schema.const)
  if (schema.type === 'array') return `list of ${schema.items ? typeName(schema.items as TSchema) : 'values'}`
  if (schema.type === 'object') return 'object'
  return String(schema.type ?? 'value')
}

/** An object of options that rejects unknown keys: use it for the top level and every section. */
export function Options<P extends Record<string, TSchema>>(properties: P, options: SchemaOptions = {}) {
  return Type.Object(properties, { additionalProperties: false, ...options })
}

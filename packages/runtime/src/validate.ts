// Validation of a value against the JSON Schema subset podkit's option schemas use (what types.ts
// and TypeBox's builders make): type, const, anyOf, minimum/maximum (and exclusive), multipleOf,
// minLength/maxLength/pattern, items/minItems/maxItems/uniqueItems, properties/required/
// additionalProperties/patternProperties, enum. It runs once, at start; an interpreter, not
// generated code, so it costs no memory after. Unknown keywords are metadata (description,
// default, env, flag, ...).

import type { TSchema } from '@sinclair/typebox'

export type SchemaIssueType =
  | 'type'
  | 'const'
  | 'enum'
  | 'union'
  | 'minimum'
  | 'maximum'
  | 'multipleOf'
  | 'minLength'
  | 'maxLength'
  | 'pattern'
  | 'minItems'
  | 'maxItems'
  | 'uniqueItems'
  | 'required'
  | 'additionalProperties'

export interface SchemaIssue {
  type: SchemaIssueType
  /** JSON Pointer of the value (`/admin/port`, `/outputs/0/host`). */
  path: string
  value: unknown
  schema: TSchema
  message: string
}

const pointer = (path: string, key: string | number) =>
  `${path}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`

const typeOk = (type: unknown, v: unknown): boolean => {
  switch (type) {
    case 'string':
      return typeof v === 'string'
    case 'number':
      return typeof v === 'number' && Number.isFinite(v)
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v)
    case 'boolean':
      return typeof v === 'boolean'
    case 'array':
      return Array.isArray(v)
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v)
    case 'null':
      return v === null
    default:
      return true
  }
}

const regexCache = new Map<string, RegExp>()
const regex = (p: string) => {
  let r = regexCache.get(p)
  if (!r) {
    r = new RegExp(p)
    regexCache.set(p, r)
  }
  return r
}

function walk(schema: TSchema, v: unknown, path: string, out: SchemaIssue[]): void {
  const s = schema as Record<string, unknown>
  const issue = (type: SchemaIssueType, message: string) =>
    out.push({ type, path, value: v, schema, message })

  if (Array.isArray(s.anyOf)) {
    const branches = s.anyOf as TSchema[]
    if (!branches.some((b) => validate(b, v).length === 0)) issue('union', 'Expected union value')
    return
  }
  if (s.const !== undefined) {
    if (v !== s.const) issue('const', `Expected ${JSON.stringify(s.const)}`)
    return
  }
  if (s.type !== undefined && !typeOk(s.type, v)) {
    issue('type', `Expected ${s.type}`)
    return
  }
  if (Array.isArray(s.enum) && !s.enum.includes(v)) issue('enum', `Expected one of ${s.enum.join(', ')}`)

  if (typeof v === 'number') {
    if (typeof s.minimum === 'number' && v < s.minimum)
      issue('minimum', `Expected ${s.type} to be >= ${s.minimum}`)
    if (typeof s.maximum === 'number' && v > s.maximum)
      issue('maximum', `Expected ${s.type} to be <= ${s.maximum}`)
    if (typeof s.exclusiveMinimum === 'number' && v <= s.exclusiveMinimum)
      issue('minimum', `Expected ${s.type} to be > ${s.exclusiveMinimum}`)
    if (typeof s.exclusiveMaximum === 'number' && v >= s.exclusiveMaximum)
      issue('maximum', `Expected ${s.type} to be < ${s.exclusiveMaximum}`)
    if (typeof s.multipleOf === 'number' && v % s.multipleOf !== 0)
      issue('multipleOf', `Expected ${s.type} to be a multiple of ${s.multipleOf}`)
  } else if (typeof v === 'string') {
    // UTF-16 code units, as TypeBox and JavaScript count a string's length.
    const length = v.length
    if (typeof s.minLength === 'number' && length < s.minLength)
      issue('minLength', `Expected string length greater or equal to ${s.minLength}`)
    if (typeof s.maxLength === 'number' && length > s.maxLength)
      issue('maxLength', `Expected string length less or equal to ${s.maxLength}`)
    if (typeof s.pattern === 'string' && !regex(s.pattern).test(v))
      issue('pattern', `Expected string to match '${s.pattern}'`)
  } else if (Array.isArray(v)) {
    if (typeof s.minItems === 'number' && v.length < s.minItems)
      issue('minItems', `Expected array length to be greater or equal to ${s.minItems}`)
    if (typeof s.maxItems === 'number' && v.length > s.maxItems)
      issue('maxItems', `Expected array length to be less or equal to ${s.maxItems}`)
    if (s.uniqueItems === true && new Set(v.map((x) => JSON.stringify(x))).size !== v.length)
      issue('uniqueItems', 'Expected array elements to be unique')
    if (s.items && typeof s.items === 'object')
      v.forEach((x, i) => {
        walk(s.items as TSchema, x, pointer(path, i), out)
      })
  } else if (v !== null && typeof v === 'object') {
    const obj = v as Record<string, unknown>
    const props = (s.properties ?? {}) as Record<string, TSchema>
    for (const k of (s.required ?? []) as string[])
      if (obj[k] === undefined)
        out.push({
          type: 'required',
          path: pointer(path, k),
          value: undefined,
          schema: props[k] ?? schema,
          message: 'Expected required property',
        })
    const patterns = Object.entries((s.patternProperties ?? {}) as Record<string, TSchema>)
    for (const [k, x] of Object.entries(obj)) {
      if (x === undefined) continue
      const p = pointer(path, k)
      if (props[k]) {
        walk(props[k], x, p, out)
        continue
      }
      const matching = patterns.filter(([re]) => regex(re).test(k))
      for (const [, ps] of matching) walk(ps, x, p, out)
      if (matching.length > 0) continue
      if (s.additionalProperties === false)
        out.push({ type: 'additionalProperties', path: p, value: x, schema, message: 'Unexpected property' })
      else if (s.additionalProperties && typeof s.additionalProperties === 'object')
        walk(s.additionalProperties as TSchema, x, p, out)
    }
  }
}

/** Every way `value` breaks `schema`, in schema order; empty when it is valid. */
export function validate(schema: TSchema, value: unknown): SchemaIssue[] {
  const out: SchemaIssue[] = []
  walk(schema, value, '', out)
  return out
}

import { Type as TB } from '@sinclair/typebox'
import { Check } from '@sinclair/typebox/value'
import { describe, expect, it } from 'vitest'
import { Kind, OptionalKind, Type } from './types.ts'
import { validate } from './validate.ts'

// Our builders against TypeBox's: same schema objects (keys and symbols), and our validator against
// TypeBox's Check on values that pass and fail each keyword.
const build = (T: typeof Type) =>
  T.Object(
    {
      name: T.String({ minLength: 2, maxLength: 5, pattern: '^[a-z]+$' }),
      port: T.Integer({ minimum: 1, maximum: 65535 }),
      ratio: T.Optional(T.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1 })),
      on: T.Optional(T.Boolean()),
      mode: T.Optional(T.Union([T.Literal('a'), T.Literal('b'), T.Literal(3)])),
      tags: T.Optional(T.Array(T.String(), { minItems: 1, maxItems: 2, uniqueItems: true })),
      env: T.Optional(T.Record(T.String(), T.Integer())),
      any: T.Optional(T.Unknown()),
      nested: T.Optional(
        T.Object({ deep: T.Optional(T.Integer({ multipleOf: 5 })) }, { additionalProperties: false }),
      ),
    },
    { additionalProperties: false },
  )

const ours = build(Type)
const theirs = build(TB as unknown as typeof Type)

const symbols = (o: unknown): unknown => {
  if (Array.isArray(o)) return o.map(symbols)
  if (o === null || typeof o !== 'object') return o
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) out[k] = symbols(v)
  const r = o as Record<symbol, unknown>
  if (r[Kind] !== undefined) out['[Kind]'] = r[Kind]
  if (r[OptionalKind] !== undefined) out['[Optional]'] = r[OptionalKind]
  return out
}

const valid = { name: 'abc', port: 80 }
const cases: Array<[string, unknown]> = [
  ['minimal', valid],
  [
    'everything',
    { ...valid, ratio: 0.5, on: true, mode: 3, tags: ['x'], env: { A: 1 }, any: [1], nested: { deep: 10 } },
  ],
  ['missing required', { name: 'abc' }],
  ['wrong type', { name: 'abc', port: '80' }],
  ['not an integer', { name: 'abc', port: 80.5 }],
  ['below minimum', { name: 'abc', port: 0 }],
  ['above maximum', { name: 'abc', port: 70000 }],
  ['exclusive bounds', { ...valid, ratio: 1 }],
  ['too short', { name: 'a', port: 1 }],
  ['too long', { name: 'abcdef', port: 1 }],
  ['pattern', { name: 'AB', port: 1 }],
  ['union miss', { ...valid, mode: 'c' }],
  ['literal type', { ...valid, mode: '3' }],
  ['no items', { ...valid, tags: [] }],
  ['too many items', { ...valid, tags: ['a', 'b', 'c'] }],
  ['duplicate items', { ...valid, tags: ['a', 'a'] }],
  ['bad item', { ...valid, tags: [1] }],
  ['bad map value', { ...valid, env: { A: 'x' } }],
  ['unknown key', { ...valid, extra: 1 }],
  ['unknown nested key', { ...valid, nested: { deep: 5, other: 1 } }],
  ['multipleOf', { ...valid, nested: { deep: 7 } }],
  ['NaN', { name: 'abc', port: Number.NaN }],
  ['not an object', 'text'],
  ['null', null],
]

describe('schema builders and validation', () => {
  it("make TypeBox's schema objects", () => {
    expect(symbols(ours)).toEqual(symbols(theirs))
  })

  for (const [name, value] of cases) {
    it(`agrees with TypeBox's Check: ${name}`, () => {
      expect(validate(ours, value).length === 0).toBe(Check(theirs, value))
    })
  }

  it('says where and what: JSON pointers and issue types', () => {
    const issues = validate(ours, { name: 'A', port: 0, extra: 1, tags: ['a', 2] })
    expect(issues.map((i) => [i.type, i.path])).toEqual([
      ['minLength', '/name'],
      ['pattern', '/name'],
      ['minimum', '/port'],
      ['additionalProperties', '/extra'],
      ['type', '/tags/1'],
    ])
    expect(validate(ours, {}).map((i) => [i.type, i.path])).toEqual([
      ['required', '/name'],
      ['required', '/port'],
    ])
  })
})

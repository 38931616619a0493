// The TypeBox builders podkit's option schemas use (Type.String, Type.Integer, Type.Object, ...),
// making the same JSON Schema objects TypeBox makes, with TypeBox's own TypeScript types so
// Static<typeof schema> works unchanged. Ours because TypeBox's module builds every builder, guard
// and registry when it is evaluated: ~2.4 MiB resident on Node 26 in a sidecar that needs the
// builders once, at start. Schemas made by TypeBox itself are just as good (same shape, same
// symbols); validate.ts checks either.

import type {
  ArrayOptions,
  IntegerOptions,
  NumberOptions,
  ObjectOptions,
  SchemaOptions,
  StringOptions,
  TArray,
  TBoolean,
  TInteger,
  TLiteral,
  TLiteralValue,
  TNumber,
  TObject,
  TOptional,
  TProperties,
  TRecord,
  TSchema,
  TString,
  TUnion,
  TUnknown,
} from '@sinclair/typebox'

// TypeBox's symbols are registered ones (Symbol.for), so schemas from either builder agree.
export const Kind = Symbol.for('TypeBox.Kind')
export const OptionalKind = Symbol.for('TypeBox.Optional')

const make = <T>(kind: string, schema: Record<string, unknown>, options: object | undefined): T =>
  ({ ...options, ...schema, [Kind]: kind }) as T

const isOptional = (s: TSchema) => (s as unknown as Record<symbol, unknown>)[OptionalKind] === 'Optional'

function StringType<T extends StringOptions>(options?: T): TString {
  return make('String', { type: 'string' }, options)
}
function Integer(options?: IntegerOptions): TInteger {
  return make('Integer', { type: 'integer' }, options)
}
function NumberType(options?: NumberOptions): TNumber {
  return make('Number', { type: 'number' }, options)
}
function BooleanType(options?: SchemaOptions): TBoolean {
  return make('Boolean', { type: 'boolean' }, options)
}
function Unknown(options?: SchemaOptions): TUnknown {
  return make('Unknown', {}, options)
}
function Literal<T extends TLiteralValue>(value: T, options?: SchemaOptions): TLiteral<T> {
  return make('Literal', { const: value, type: typeof value }, options)
}
function ArrayType<T extends TSchema>(items: T, options?: ArrayOptions): TArray<T> {
  return make('Array', { type: 'array', items }, options)
}
function Union<T extends TSchema[]>(anyOf: [...T], options?: SchemaOptions): TUnion<T> {
  if (anyOf.length === 1) return { ...anyOf[0], ...options } as unknown as TUnion<T>
  return make('Union', { anyOf }, options)
}
function Optional<T extends TSchema>(schema: T): TOptional<T> {
  return { ...schema, [OptionalKind]: 'Optional' } as TOptional<T>
}
function ObjectType<T extends TProperties>(properties: T, options?: ObjectOptions): TObject<T> {
  const required = Object.keys(properties).filter((k) => !isOptional(properties[k]!))
  return make('Object', { type: 'object', properties, ...(required.length > 0 ? { required } : {}) }, options)
}
/** A map with string keys (TypeBox's Record(Type.String(), value)). */
function RecordType<K extends TString, V extends TSchema>(
  _key: K,
  value: V,
  options?: ObjectOptions,
): TRecord<K, V> {
  return make('Record', { type: 'object', patternProperties: { '^(.*)$': value } }, options)
}

/** The subset of TypeBox's `Type` that option schemas use. */
export const Type = {
  String: StringType,
  Integer,
  Number: NumberType,
  Boolean: BooleanType,
  Unknown,
  Literal,
  Array: ArrayType,
  Union,
  Optional,
  Object: ObjectType,
  Record: RecordType,
}

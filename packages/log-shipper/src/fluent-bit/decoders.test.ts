import { describe, expect, it } from 'vitest'
import { applyDecoders, readDecoders } from './decoders.ts'

const rules = (...lines: string[]) =>
  readDecoders(
    lines.map((l, i) => {
      const [key, ...rest] = l.split(' ')
      return {
        as: key === 'Decode_Field_As',
        prop: { value: rest.join(' '), where: `parsers.conf:${i + 1}` },
      }
    }),
  )!

const run = (record: Record<string, unknown>, ...lines: string[]) => {
  applyDecoders(record, rules(...lines))
  return record
}

describe('parser decoders', () => {
  it('escaped_utf8 reads C escapes and keeps a backslash before a quote, backslash or slash', () => {
    expect(
      run({ log: 'a\\101\\x42\\u00e9\\U0001F600\\q \\" \\\\ \\/' }, 'Decode_Field_As escaped_utf8 log'),
    ).toEqual({
      // `\\ ` is a kept backslash, then `\ ` (an escaped space): one backslash and a space remain.
      log: 'aABé😀q \\" \\ \\/',
    })
  })

  it('escaped turns \\n into a newline and drops the backslash of any other escape', () => {
    expect(run({ log: 'x\\ny\\"z\\\\' }, 'Decode_Field_As escaped log')).toEqual({ log: 'x\ny"z\\' })
  })

  it('stops at a failed rule unless try_next or do_next says otherwise', () => {
    expect(run({ p: 'plain' }, 'Decode_Field_As json p', 'Decode_Field_As escaped p')).toEqual({ p: 'plain' })
    expect(run({ p: 'a\\tb' }, 'Decode_Field_As json p try_next', 'Decode_Field_As escaped p')).toEqual({
      p: 'a\tb',
    })
    // A successful rule without do_next ends the field's rules.
    expect(run({ p: 'a\\tb' }, 'Decode_Field_As escaped p', 'Decode_Field_As json p')).toEqual({ p: 'a\tb' })
  })

  it('Decode_Field adds a decoded map and leaves the field; a non-map adds nothing', () => {
    expect(run({ p: '{"k":1}' }, 'Decode_Field json p')).toEqual({ p: '{"k":1}', k: 1 })
    expect(run({ p: '[1]' }, 'Decode_Field json p')).toEqual({ p: '[1]' })
  })

  it('names the line of a bad rule', () => {
    expect(() => rules('Decode_Field_As yaml log')).toThrow(/parsers.conf:1: .*json, escaped or escaped_utf8/)
    expect(() => rules('Decode_Field json')).toThrow(/parsers.conf:1: Decode_Field needs/)
  })
})

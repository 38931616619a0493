// The strict parser must itself reject what the spec forbids, or the tests that lean on it prove nothing.
import { describe, expect, it } from 'vitest'
import { parsePromText } from './prom-text.ts'

describe('strict Prometheus text parser', () => {
  it('reads families, escaped labels and special values', () => {
    const f = parsePromText(
      '# HELP a_total Things \\\\ done\\n here\n# TYPE a_total counter\na_total{x="q\\"uote",y="l\\nf"} 3\n\n# TYPE g gauge\ng +Inf\ng{k="v"} NaN\n',
    )
    expect(f.get('a_total')).toMatchObject({ type: 'counter', help: 'Things \\ done\n here' })
    expect(f.get('a_total')!.samples[0]!.labels).toEqual({ x: 'q"uote', y: 'l\nf' })
    expect(f.get('g')!.samples.map((s) => s.value)).toEqual([Number.POSITIVE_INFINITY, Number.NaN])
  })

  it.each([
    ['no final line feed', '# TYPE a gauge\na 1'],
    ['a family in two groups', '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n'],
    ['TYPE after samples', 'a 1\n# TYPE a gauge\n'],
    ['two TYPE lines', '# TYPE a gauge\n# TYPE a gauge\na 1\n'],
    ['a duplicate series', '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n'],
    ['a bad escape', '# TYPE a gauge\na{x="\\t"} 1\n'],
    ['a bad value', '# TYPE a gauge\na 1,5\n'],
    ['a bad label name', '# TYPE a gauge\na{1x="1"} 1\n'],
    ['an unterminated value', '# TYPE a gauge\na{x="1} 1\n'],
    ['an unknown type', '# TYPE a gauges\na 1\n'],
  ])('rejects %s', (_what, text) => {
    expect(() => parsePromText(text)).toThrow()
  })
})

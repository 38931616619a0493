import { fileURLToPath } from 'node:url'
import { documentedCodes, readmeCodes, readmeOptionsBlock, renderOptionsMarkdown } from '@podkit/runtime'
import { describe, expect, it } from 'vitest'
import { ENV_PREFIX, schema } from './config.ts'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
/** Table cells without the padding a Markdown formatter adds. */
const normalize = (md = '') =>
  md
    .trim()
    .split('\n')
    .map((line) =>
      line
        .split('|')
        .map((c) => c.trim().replace(/^-+$/, '---'))
        .join('|'),
    )
    .join('\n')

describe('README', () => {
  it('contains exactly the option table the schema renders', () => {
    expect(normalize(readmeOptionsBlock(here('../README.md')))).toBe(
      normalize(renderOptionsMarkdown(schema, { envPrefix: ENV_PREFIX })),
    )
  })

  it('documents every error code of errors.ts and no other (besides the runtime config codes)', () => {
    const runtime = ['PODKIT_CONFIG_FILE', 'PODKIT_CONFIG_INVALID']
    expect(readmeCodes(here('../README.md')).filter((c) => !runtime.includes(c))).toEqual(
      documentedCodes(here('./errors.ts')),
    )
  })
})

import { fileURLToPath } from 'node:url'
import {
  documentedCodes,
  readmeCodes,
  readmeOptionsBlock,
  renderOptionsMarkdown,
  unpadTable,
} from '@podkit/runtime'
import { describe, expect, it } from 'vitest'
import { ENV_PREFIX, schema } from './config.ts'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
describe('README', () => {
  it('contains exactly the option table the schema renders', () => {
    expect(unpadTable(readmeOptionsBlock(here('../README.md')))).toBe(
      unpadTable(renderOptionsMarkdown(schema, { envPrefix: ENV_PREFIX })),
    )
  })

  it('documents every error code of errors.ts and no other (besides the runtime config codes)', () => {
    const runtime = ['PODKIT_CONFIG_FILE', 'PODKIT_CONFIG_INVALID']
    expect(readmeCodes(here('../README.md')).filter((c) => !runtime.includes(c))).toEqual(
      documentedCodes(here('./errors.ts')),
    )
  })
})

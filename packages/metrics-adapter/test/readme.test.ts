// The README is the manual: its option table is what the schema renders now, and it documents
// exactly the error codes the package declares.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  documentedCodes,
  readmeCodes,
  readmeOptionsBlock,
  renderOptionsMarkdown,
  unpadTable,
} from '@podkit/runtime'
import { describe, expect, it } from 'vitest'
import { schema } from '../src/config.ts'

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..')

const readme = join(pkg, 'README.md')

describe('README', () => {
  it('has the option table the schema renders', () => {
    const block = readmeOptionsBlock(readme)
    expect(block).toBeDefined()
    expect(unpadTable(block)).toBe(unpadTable(renderOptionsMarkdown(schema)))
  })

  it('documents every error code and no dead one', () => {
    const declared = [
      ...documentedCodes(join(pkg, 'src/errors.ts')),
      // raised by the runtime on a bad config, which this service's users meet too
      'PODKIT_CONFIG_FILE',
      'PODKIT_CONFIG_INVALID',
    ].sort()
    expect(readmeCodes(readme)).toEqual(declared)
  })
})

// The README is the manual: its option table is what the schema renders now, and it documents
// exactly the error codes a user of this service can meet.
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
import { ENV_PREFIX, schema } from '../src/config.ts'

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..')
const readme = join(pkg, 'README.md')

describe('README', () => {
  it('has the option table the schema renders', () => {
    const block = readmeOptionsBlock(readme)
    expect(block).toBeDefined()
    expect(unpadTable(block)).toBe(unpadTable(renderOptionsMarkdown(schema, { envPrefix: ENV_PREFIX })))
  })

  it('documents every error code a user can meet, and no dead one', () => {
    const pipelineErrors = join(pkg, '../log-pipeline/src/errors.ts')
    const surfaced = documentedCodes(pipelineErrors).filter(
      (c) => c === 'PODKIT_LOG_POSITIONS' || c === 'PODKIT_LOG_SINK_WRITE',
    )
    expect(surfaced).toHaveLength(2)
    const declared = [
      ...documentedCodes(join(pkg, 'src/errors.ts')),
      ...surfaced,
      // raised by the runtime on a bad config
      'PODKIT_CONFIG_FILE',
      'PODKIT_CONFIG_INVALID',
    ].sort()
    expect(readmeCodes(readme)).toEqual(declared)
  })
})

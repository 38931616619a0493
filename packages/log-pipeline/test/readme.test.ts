// The README documents exactly the error codes the package declares.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { documentedCodes, readmeCodes } from '@podkit/runtime'
import { expect, it } from 'vitest'

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..')

it('README documents every error code and no dead one', () => {
  expect(readmeCodes(join(pkg, 'README.md'))).toEqual(documentedCodes(join(pkg, 'src/errors.ts')))
})

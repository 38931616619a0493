// Every error code declared in this package is documented in its README, and the README names
// no code that does not exist.
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { documentedCodes, readmeCodes } from './docs.ts'

it('documents exactly the error codes the package declares', () => {
  const declared = documentedCodes(fileURLToPath(new URL('./errors.ts', import.meta.url)))
  const documented = readmeCodes(fileURLToPath(new URL('../README.md', import.meta.url)))
  expect(declared.length).toBeGreaterThan(0)
  expect(documented).toEqual(declared)
})

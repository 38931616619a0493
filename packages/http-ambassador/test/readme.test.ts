// The README is the user's manual: its option table is what the schema renders now, and it
// documents exactly the error codes src/errors.ts declares.

import { fileURLToPath } from 'node:url'
import {
  documentedCodes,
  readmeCodes,
  readmeOptionsBlock,
  renderOptionsMarkdown,
  unpadTable,
} from '@podkit/runtime'
import { expect, it } from 'vitest'
import { schema } from '../src/config.ts'

const readme = fileURLToPath(new URL('../README.md', import.meta.url))

it('has the option table the schema renders', () => {
  const block = readmeOptionsBlock(readme)
  expect(block).toBeDefined()
  expect(unpadTable(block)).toBe(unpadTable(renderOptionsMarkdown(schema, {})))
})

it('documents every error code and no dead one', () => {
  expect(readmeCodes(readme)).toEqual(
    documentedCodes(fileURLToPath(new URL('../src/errors.ts', import.meta.url))),
  )
})

// The README is the user's manual: its option table, plugin table and error codes must match the code.

import { readFileSync } from 'node:fs'
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
import { renderPluginKeysMarkdown } from './fluent-bit/plugins.ts'

const README = fileURLToPath(new URL('../README.md', import.meta.url))
const ERRORS = fileURLToPath(new URL('./errors.ts', import.meta.url))

describe('README', () => {
  it('has the option table the schema renders now', () => {
    expect(unpadTable(readmeOptionsBlock(README))).toBe(
      unpadTable(renderOptionsMarkdown(schema, { envPrefix: ENV_PREFIX })),
    )
  })

  it('has the plugin and key table the code supports now', () => {
    const m = /<!-- plugins:start -->([\s\S]*?)<!-- plugins:end -->/.exec(readFileSync(README, 'utf8'))
    expect(unpadTable(m?.[1])).toBe(unpadTable(renderPluginKeysMarkdown()))
  })

  it('documents every error code and names no dead one', () => {
    expect(readmeCodes(README)).toEqual(documentedCodes(ERRORS))
  })
})

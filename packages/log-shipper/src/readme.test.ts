// The README is the user's manual: its option table, plugin table and error codes must match the code.

import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { documentedCodes, readmeCodes, readmeOptionsBlock, renderOptionsMarkdown } from '@podkit/runtime'
import { describe, expect, it } from 'vitest'
import { ENV_PREFIX, schema } from './config.ts'
import { renderPluginKeysMarkdown } from './fluent-bit/plugins.ts'

/** A markdown table with cell padding removed (the formatter aligns columns; the content is what counts). */
const normalize = (table: string | undefined) =>
  (table ?? '')
    .trim()
    .split('\n')
    .map((line) =>
      line
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim().replace(/^-+$/, '---'))
        .join('|'),
    )
    .join('\n')

const README = fileURLToPath(new URL('../README.md', import.meta.url))
const ERRORS = fileURLToPath(new URL('./errors.ts', import.meta.url))

describe('README', () => {
  it('has the option table the schema renders now', () => {
    expect(normalize(readmeOptionsBlock(README))).toBe(
      normalize(renderOptionsMarkdown(schema, { envPrefix: ENV_PREFIX })),
    )
  })

  it('has the plugin and key table the code supports now', () => {
    const m = /<!-- plugins:start -->([\s\S]*?)<!-- plugins:end -->/.exec(readFileSync(README, 'utf8'))
    expect(normalize(m?.[1])).toBe(normalize(renderPluginKeysMarkdown()))
  })

  it('documents every error code and names no dead one', () => {
    expect(readmeCodes(README)).toEqual(documentedCodes(ERRORS))
  })
})

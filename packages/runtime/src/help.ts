// `--help` and the README's option table, both generated from the schema so neither can drift.

import type { TObject, TSchema } from '@sinclair/typebox'
import { BUILTIN_FLAGS } from './config.ts'
import { envName, flagName, kindOf, leaves, typeName } from './schema.ts'

function defaultText(schema: TSchema): string {
  if (schema.secret && schema.default !== undefined) return '(set)'
  const d = schema.default
  if (d === undefined) return ''
  const kind = kindOf(schema)
  if (kind === 'duration' && typeof d === 'number') return d % 1000 === 0 ? `${d / 1000}s` : `${d}ms`
  if (kind === 'size' && typeof d === 'number') {
    for (const [u, n] of [
      ['GiB', 1024 ** 3],
      ['MiB', 1024 ** 2],
      ['KiB', 1024],
    ] as const) {
      if (d >= n && d % n === 0) return `${d / n}${u}`
    }
    return `${d}`
  }
  if (Array.isArray(d)) return d.join(',')
  if (typeof d === 'object') return JSON.stringify(d)
  return String(d)
}

export interface HelpOptions {
  name: string
  summary?: string
  envPrefix?: string
  /** Extra lines describing compatibility flags or files the service also accepts. */
  extra?: string
}

export function renderHelp(schema: TObject, opts: HelpOptions): string {
  const out: string[] = [`Usage: ${opts.name} [options]`]
  if (opts.summary) out.push('', opts.summary)
  out.push('', 'Options (flag, env var, default). Precedence: flags > env > config file > defaults.', '')
  for (const leaf of leaves(schema)) {
    const flag = flagName(leaf)
    const env = envName(leaf, opts.envPrefix ?? '')
    const head = [flag ? `--${flag} <${typeName(leaf.schema)}>` : `(file) ${leaf.key}`]
    if (env) head.push(`env ${env}`)
    const d = defaultText(leaf.schema)
    if (d) head.push(`default ${d}`)
    out.push(`  ${head.join('  ')}`)
    if (leaf.schema.description) out.push(`      ${leaf.schema.description}`)
  }
  out.push('')
  for (const [f, d] of Object.entries(BUILTIN_FLAGS)) out.push(`  --${f}`, `      ${d}`)
  if (opts.extra) out.push('', opts.extra)
  return `${out.join('\n')}\n`
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')

/** The option table for a package README: paste it between the `<!-- options -->` markers. */
export function renderOptionsMarkdown(schema: TObject, opts: { envPrefix?: string } = {}): string {
  const rows = [
    '| Option | Flag | Env | Type | Default | Description |',
    '| --- | --- | --- | --- | --- | --- |',
  ]
  for (const leaf of leaves(schema)) {
    const flag = flagName(leaf)
    const env = envName(leaf, opts.envPrefix ?? '')
    const d = defaultText(leaf.schema)
    rows.push(
      `| \`${leaf.key}\` | ${flag ? `\`--${flag}\`` : ''} | ${env ? `\`${env}\`` : ''} | ${cell(typeName(leaf.schema))} | ${d ? `\`${cell(d)}\`` : ''} | ${cell(String(leaf.schema.description ?? ''))} |`,
    )
  }
  return rows.join('\n')
}

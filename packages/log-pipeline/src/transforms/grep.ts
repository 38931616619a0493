// The grep transform (Fluent Bit's grep filter): keep records whose field matches `regex` rules,
// drop those matching `exclude` rules. Keys may be record accessors (`$kubernetes['labels']['app']`).

import { PipelineConfigError } from '../errors.ts'
import { accessorPath, getField, type Transform } from './transform.ts'

export interface GrepRule {
  key: string
  pattern: string | RegExp
}

export interface GrepOptions {
  name?: string
  /** Records must match these (all of them, or any with logicalOp 'or'). */
  regex?: readonly GrepRule[]
  /** Records matching these are dropped (any of them, or all with logicalOp 'and'). */
  exclude?: readonly GrepRule[]
  /** `legacy` (default): every regex must match and no exclude may. `and`/`or` combine the rules of one kind. */
  logicalOp?: 'legacy' | 'and' | 'or'
}

interface Compiled {
  path: string[]
  re: RegExp
}

export function createGrep(opts: GrepOptions): Transform {
  const compile = (rules: readonly GrepRule[] = []): Compiled[] =>
    rules.map((r) => {
      try {
        return {
          path: accessorPath(r.key),
          re: typeof r.pattern === 'string' ? new RegExp(r.pattern) : r.pattern,
        }
      } catch (err) {
        throw new PipelineConfigError(
          `grep rule for ${r.key}: ${JSON.stringify(r.pattern)} is not a valid regex`,
          {
            cause: err,
          },
        )
      }
    })
  const includes = compile(opts.regex)
  const excludes = compile(opts.exclude)
  const op = opts.logicalOp ?? 'legacy'
  if (op !== 'legacy' && includes.length > 0 && excludes.length > 0) {
    throw new PipelineConfigError('grep: with logicalOp and/or use either regex or exclude rules, not both')
  }
  const matches = (record: Record<string, unknown>, c: Compiled) => {
    const v = getField(record, c.path)
    if (v === undefined || v === null) return false
    const s = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v)
    c.re.lastIndex = 0
    return c.re.test(s)
  }
  return {
    name: opts.name ?? 'grep',
    apply(event) {
      const r = event.record
      if (includes.length > 0) {
        const ok = op === 'or' ? includes.some((c) => matches(r, c)) : includes.every((c) => matches(r, c))
        if (!ok) return null
      }
      if (excludes.length > 0) {
        const hit = op === 'and' ? excludes.every((c) => matches(r, c)) : excludes.some((c) => matches(r, c))
        if (hit) return null
      }
      return event
    },
  }
}

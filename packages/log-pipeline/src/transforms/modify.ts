// The modify transform (Fluent Bit's modify filter): set, add, remove, rename, copy fields, in
// the order given, with `${ENV}` in values resolved once when the transform is built.

import { PipelineConfigError } from '../errors.ts'
import { interpolateEnv, type Transform } from './transform.ts'

export type ModifyRule =
  | { op: 'set'; key: string; value: string }
  | { op: 'add'; key: string; value: string }
  | { op: 'remove'; key: string }
  | { op: 'remove_wildcard'; key: string }
  | { op: 'remove_regex'; key: string }
  | { op: 'rename'; key: string; to: string }
  | { op: 'hard_rename'; key: string; to: string }
  | { op: 'copy'; key: string; to: string }
  | { op: 'hard_copy'; key: string; to: string }

export interface ModifyOptions {
  name?: string
  rules: readonly ModifyRule[]
  /** Where `${NAME}` is looked up. Default process.env. */
  env?: Record<string, string | undefined>
}

/**
 * set: always write; add: only when absent; remove: delete; remove_wildcard: delete keys with that
 * prefix; remove_regex: delete keys matching; rename/copy: only when the source exists and the
 * target does not (hard_rename/hard_copy overwrite the target). A key whose value is undefined is
 * absent: regex parsers leave a group that did not take part (or an empty one) undefined to keep
 * the record's shape, and every output omits it.
 */
export function createModify(opts: ModifyOptions): Transform {
  const env = opts.env ?? process.env
  const steps: Array<(r: Record<string, unknown>) => void> = opts.rules.map((rule) => {
    const key = interpolateEnv(rule.key, env)
    switch (rule.op) {
      case 'set': {
        const v = interpolateEnv(rule.value, env)
        return (r) => {
          r[key] = v
        }
      }
      case 'add': {
        const v = interpolateEnv(rule.value, env)
        return (r) => {
          if (r[key] === undefined) r[key] = v
        }
      }
      case 'remove':
        return (r) => {
          delete r[key]
        }
      case 'remove_wildcard':
        return (r) => {
          for (const k of Object.keys(r)) if (k.startsWith(key.replace(/\*$/, ''))) delete r[k]
        }
      case 'remove_regex': {
        let re: RegExp
        try {
          re = new RegExp(key)
        } catch (err) {
          throw new PipelineConfigError(`modify remove_regex ${JSON.stringify(key)} is not a valid regex`, {
            cause: err,
          })
        }
        return (r) => {
          for (const k of Object.keys(r)) if (re.test(k)) delete r[k]
        }
      }
      case 'rename':
      case 'hard_rename': {
        const to = interpolateEnv(rule.to, env)
        const hard = rule.op === 'hard_rename'
        return (r) => {
          if (r[key] === undefined || (!hard && r[to] !== undefined)) return
          r[to] = r[key]
          if (to !== key) delete r[key]
        }
      }
      case 'copy':
      case 'hard_copy': {
        const to = interpolateEnv(rule.to, env)
        const hard = rule.op === 'hard_copy'
        return (r) => {
          if (r[key] === undefined || (!hard && r[to] !== undefined)) return
          r[to] = structuredCloneIfObject(r[key])
        }
      }
      default:
        throw new PipelineConfigError(
          `modify: unknown operation ${JSON.stringify((rule as { op: string }).op)}`,
        )
    }
  })
  return {
    name: opts.name ?? 'modify',
    apply(event) {
      for (const s of steps) s(event.record)
      return event
    },
  }
}

const structuredCloneIfObject = (v: unknown) => (v !== null && typeof v === 'object' ? structuredClone(v) : v)

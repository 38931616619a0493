// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${ENV}` is Fluent Bit syntax under test, not a template
import { describe, expect, it } from 'vitest'
import { PipelineConfigError } from '../errors.ts'
import type { LogEvent } from '../event.ts'
import { createGrep } from './grep.ts'
import { createModify } from './modify.ts'
import { accessorPath, interpolateEnv } from './transform.ts'

const ev = (record: Record<string, unknown>): LogEvent => ({ tag: 't', time: 0, record })

describe('modify', () => {
  it('applies set, add, remove, rename, copy in order with ${ENV}', () => {
    const m = createModify({
      env: { POD_NAME: 'web-1', POD_NAMESPACE: 'prod' },
      rules: [
        { op: 'add', key: 'pod_name', value: '${POD_NAME}' },
        { op: 'add', key: 'namespace', value: '${POD_NAMESPACE}' },
        { op: 'add', key: 'existing', value: 'not overwritten' },
        { op: 'set', key: 'env', value: '${UNSET_VAR}' },
        { op: 'remove', key: 'secret' },
        { op: 'rename', key: 'msg', to: 'message' },
        { op: 'rename', key: 'a', to: 'existing' },
        { op: 'hard_rename', key: 'b', to: 'existing2' },
        { op: 'copy', key: 'message', to: 'copy' },
        { op: 'remove_wildcard', key: 'tmp_*' },
        { op: 'remove_regex', key: '^x\\d$' },
      ],
    })
    const out = m.apply(
      ev({
        existing: 'keep',
        existing2: 'old',
        secret: 's',
        msg: 'hi',
        a: 1,
        b: 2,
        tmp_1: 1,
        tmp_2: 2,
        x1: 1,
        x10: 1,
      }),
    )
    expect(out?.record).toEqual({
      existing: 'keep',
      existing2: 2,
      pod_name: 'web-1',
      namespace: 'prod',
      env: '',
      message: 'hi',
      a: 1,
      copy: 'hi',
      x10: 1,
    })
  })
  it('treats a key whose value is undefined (a regex group that did not match) as absent', () => {
    const m = createModify({
      rules: [
        { op: 'add', key: 'agent', value: 'unknown' },
        { op: 'hard_rename', key: 'referer', to: 'code' },
        { op: 'hard_copy', key: 'referer', to: 'size' },
        { op: 'rename', key: 'code', to: 'path' },
      ],
    })
    const out = m.apply(ev({ agent: undefined, referer: undefined, code: '200', size: '5', path: undefined }))
    expect(out?.record).toEqual({ agent: 'unknown', referer: undefined, path: '200', size: '5' })
  })
  it('rejects an invalid remove_regex', () => {
    expect(() => createModify({ rules: [{ op: 'remove_regex', key: '(' }] })).toThrow(PipelineConfigError)
  })
  it('interpolates only ${NAME}', () => {
    expect(interpolateEnv('a ${X} $Y ${}', { X: '1', Y: '2' })).toBe('a 1 $Y ${}')
  })
})

describe('grep', () => {
  it('keeps matches of regex rules and drops matches of exclude rules', () => {
    const g = createGrep({
      regex: [{ key: 'log', pattern: 'ERROR|WARN' }],
      exclude: [{ key: 'path', pattern: '^/healthz' }],
    })
    expect(g.apply(ev({ log: 'ERROR x', path: '/api' }))).not.toBeNull()
    expect(g.apply(ev({ log: 'INFO x', path: '/api' }))).toBeNull()
    expect(g.apply(ev({ log: 'ERROR x', path: '/healthz' }))).toBeNull()
    expect(g.apply(ev({ path: '/api' }))).toBeNull()
  })
  it('reads nested keys through record accessors and numbers as text', () => {
    expect(accessorPath("$kubernetes['labels']['app']")).toEqual(['kubernetes', 'labels', 'app'])
    const g = createGrep({
      regex: [
        { key: "$kubernetes['labels']['app']", pattern: '^web$' },
        { key: 'code', pattern: '^5' },
      ],
    })
    expect(g.apply(ev({ kubernetes: { labels: { app: 'web' } }, code: 503 }))).not.toBeNull()
    expect(g.apply(ev({ kubernetes: { labels: { app: 'db' } }, code: 503 }))).toBeNull()
  })
  it('or / and combine rules of one kind', () => {
    const or = createGrep({
      logicalOp: 'or',
      regex: [
        { key: 'a', pattern: 'x' },
        { key: 'b', pattern: 'y' },
      ],
    })
    expect(or.apply(ev({ a: 'x', b: 'n' }))).not.toBeNull()
    expect(or.apply(ev({ a: 'n', b: 'n' }))).toBeNull()
    const and = createGrep({
      logicalOp: 'and',
      exclude: [
        { key: 'a', pattern: 'x' },
        { key: 'b', pattern: 'y' },
      ],
    })
    expect(and.apply(ev({ a: 'x', b: 'n' }))).not.toBeNull()
    expect(and.apply(ev({ a: 'x', b: 'y' }))).toBeNull()
    expect(() =>
      createGrep({
        logicalOp: 'or',
        regex: [{ key: 'a', pattern: 'x' }],
        exclude: [{ key: 'a', pattern: 'y' }],
      }),
    ).toThrow(PipelineConfigError)
  })
})

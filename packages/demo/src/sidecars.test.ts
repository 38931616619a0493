// The counters the demo page shows are metrics the services really define (a renamed metric
// would otherwise show as a silently missing row).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { planSidecars, SIDECAR_NAMES } from './sidecars.ts'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )

describe('planSidecars', () => {
  const dir = mkdtempSync(join(tmpdir(), 'podkit-demo-plan-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const plans = planSidecars({
    root: ROOT,
    dir,
    ports: {
      postgres: 1,
      upstream: 2,
      receiver: 3,
      nginxStatus: 'http://127.0.0.1:4/nginx_status',
      db: 5,
      proxy: 6,
      admin: Object.fromEntries(SIDECAR_NAMES.map((n, i) => [n, 10 + i])),
    },
    db: { user: 'u', password: 'p', database: 'd', serverDb: 'd', poolSize: 2 },
    caFile: '/dev/null',
  })

  it('plans the five sidecars, each on its own admin port', () => {
    expect(plans.map((p) => p.name)).toEqual([...SIDECAR_NAMES])
    expect(new Set(plans.map((p) => p.adminPort)).size).toBe(5)
  })

  for (const name of SIDECAR_NAMES) {
    it(`${name}: every counter shown is a metric the service defines`, () => {
      const plan = plans.find((p) => p.name === name)!
      const text = [
        ...sources(join(ROOT, 'packages', name, 'src')),
        ...sources(join(ROOT, 'packages/log-pipeline/src')),
      ]
        .map((f) => readFileSync(f, 'utf8'))
        .join('\n')
      for (const metric of Object.keys(plan.counters)) expect(text, metric).toContain(`'${metric}'`)
    })
  }
})

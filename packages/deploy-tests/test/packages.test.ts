// The packages as npm delivers them: pack them with pnpm (prepack builds dist/ with
// scripts/build-lib.mjs; publishConfig switches exports to dist/, workspace: and catalog: versions become real
// ones), install the tarballs into a project outside the workspace with npm, then run and
// typecheck the log-pipeline README's "compose a pipeline in code" example against them.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from '@podkit/test-utils'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT } from '../src/paths.ts'

const PACKED = ['runtime', 'log-pipeline']

function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string }
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${e.stdout ?? ''}${e.stderr ?? ''}`)
  }
}

describe('published packages', () => {
  const dir = mkdtempSync(join(tmpdir(), 'podkit-pack-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('install from their tarballs outside the workspace, import, compose a pipeline and typecheck', async () => {
    const tarballs: Record<string, string> = {}
    for (const name of PACKED) {
      run('npx', ['-y', 'pnpm@10', 'pack', '--pack-destination', dir], join(ROOT, 'packages', name))
      const file = readdirSync(dir).find((f) => f.startsWith(`podkit-${name}-`) && f.endsWith('.tgz'))
      expect(file, `pnpm pack wrote podkit-${name}-*.tgz`).toBeDefined()
      tarballs[`@podkit/${name}`] = `file:./${file}`
    }
    const project = join(dir, 'app')
    run('mkdir', ['-p', project], dir)
    for (const [, spec] of Object.entries(tarballs)) run('cp', [join(dir, spec.slice(7)), project], dir)
    const typesNode = JSON.parse(
      readFileSync(join(ROOT, 'node_modules/@types/node/package.json'), 'utf8'),
    ).version
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({
        name: 'consumer',
        private: true,
        type: 'module',
        dependencies: tarballs,
        devDependencies: { '@types/node': typesNode },
      }),
    )
    run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts'], project)

    // The manifest npm installed is the published one: exports point at dist/, versions are real.
    const installed = JSON.parse(
      readFileSync(join(project, 'node_modules/@podkit/log-pipeline/package.json'), 'utf8'),
    )
    expect(JSON.stringify(installed)).not.toMatch(/workspace:|catalog:|src\/index\.ts/)
    expect(installed.exports['.'].types).toBe('./dist/index.d.ts')

    const input = join(project, 'in.log')
    const output = join(project, 'out.json')
    writeFileSync(
      input,
      '127.0.0.1 - - [24/Nov/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl/8"\n' +
        '127.0.0.1 - - [24/Nov/2026:10:00:01 +0000] "GET /b HTTP/1.1" 404 9 "-" "curl/8"\n',
    )
    const consumer = `
import { createLogger, Registry } from '@podkit/runtime'
import { createPipeline, createPipelineMetrics, FileSink, ParserRegistry, TailSource } from '@podkit/log-pipeline'

const registry: Registry = new Registry()
const logger = createLogger({ name: 'consumer', level: 'warn' })
const metrics = createPipelineMetrics(registry)
const source = new TailSource({ path: ${JSON.stringify(input)}, tag: 'app', readFromHead: true, metrics })
const pipeline = createPipeline({
  source,
  parser: new ParserRegistry().get('nginx'),
  sink: new FileSink({ path: ${JSON.stringify(output)}, maxSize: 1024 * 1024, maxFiles: 2 }),
  metrics,
})
await pipeline.start()
await new Promise((r) => setTimeout(r, 1500))
await pipeline.stop()
logger.info('done')
`
    writeFileSync(join(project, 'consumer.ts'), consumer)
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2023',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          types: ['node'],
          outDir: 'out',
          skipLibCheck: false,
        },
        files: ['consumer.ts'],
      }),
    )
    // Type-checks against the published declarations (and the libraries' own), then runs the JS.
    run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], project)
    run(process.execPath, ['out/consumer.js'], project)
    await waitFor(() => readFileSync(output, 'utf8').split('\n').filter(Boolean).length === 2, 5000)
    const records = readFileSync(output, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(records.map((r) => [r.path, r.code])).toEqual([
      ['/a', '200'],
      ['/b', '404'],
    ])
  }, 240_000)
})

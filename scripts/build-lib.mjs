// Builds the published packages for npm, so a user can import them outside this workspace:
// dist/index.js (ES module; dependencies stay imports, resolved from the user's node_modules) and
// dist/*.d.ts (declarations, with import specifiers ending in .js as published code needs).
// Inside the workspace, packages are consumed from src/ (the "exports" field); `pnpm pack` and
// `pnpm publish` switch to dist/ through "publishConfig". Run from the repository root:
//   node scripts/build-lib.mjs [package ...]      (default: every public package)
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const manifest = (name) => JSON.parse(readFileSync(join(root, 'packages', name, 'package.json'), 'utf8'))

const all = readdirSync(join(root, 'packages')).filter(
  (d) => existsSync(join(root, 'packages', d, 'src/index.ts')) && !manifest(d).private,
)
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : all

// Dependencies first: a package's declarations refer to its workspace dependencies' built ones.
const order = []
const visit = (name, path = []) => {
  if (order.includes(name)) return
  if (path.includes(name)) throw new Error(`dependency cycle: ${[...path, name].join(' -> ')}`)
  for (const dep of Object.keys(manifest(name).dependencies ?? {})) {
    const d = dep.replace(/^@podkit\//, '')
    if (dep.startsWith('@podkit/') && all.includes(d)) visit(d, [...path, name])
  }
  order.push(name)
}
for (const name of wanted) {
  if (!all.includes(name)) throw new Error(`${name}: not a public package with src/index.ts`)
  visit(name)
}

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')

function walk(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? walk(p) : [p]
  })
}

for (const name of order) {
  const dir = join(root, 'packages', name)
  const out = join(dir, 'dist')
  mkdirSync(out, { recursive: true })
  for (const f of readdirSync(out))
    if (f !== 'main.js' && f !== 'main.js.map') rmSync(join(out, f), { recursive: true })
  await build({
    entryPoints: [join(dir, 'src/index.ts')],
    outfile: join(out, 'index.js'),
    bundle: true,
    // Every npm and workspace dependency stays an import: the user's install provides it once.
    packages: 'external',
    platform: 'node',
    target: 'node20.19',
    format: 'esm',
    sourcemap: 'linked',
    define: { 'process.env.PODKIT_VERSION': JSON.stringify(manifest(name).version) },
    logLevel: 'warning',
  })
  // Declarations: workspace dependencies resolve to their built declarations, not their sources,
  // so tsc emits this package only. The config lives in the package's node_modules so that
  // @types/node is found the usual way.
  const paths = {}
  for (const dep of Object.keys(manifest(name).dependencies ?? {}))
    if (dep.startsWith('@podkit/')) paths[dep] = [join(root, 'packages', dep.slice(8), 'dist', 'index.d.ts')]
  const cfgDir = join(dir, 'node_modules', '.podkit')
  mkdirSync(cfgDir, { recursive: true })
  const cfg = join(cfgDir, 'tsconfig.lib.json')
  writeFileSync(
    cfg,
    JSON.stringify({
      extends: join(root, 'tsconfig.base.json'),
      compilerOptions: {
        noEmit: false,
        declaration: true,
        emitDeclarationOnly: true,
        rootDir: join(dir, 'src'),
        outDir: out,
        paths,
      },
      files: [join(dir, 'src/index.ts')],
    }),
  )
  execFileSync(process.execPath, [tsc, '-p', cfg], { stdio: 'inherit' })
  for (const f of walk(out).filter((f) => f.endsWith('.d.ts'))) {
    const text = readFileSync(f, 'utf8')
    // Published declarations name the .js files that ship (tsc keeps the sources' .ts specifiers).
    const fixed = text.replace(/(from\s+|import\s*\(\s*)(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2')
    if (fixed !== text) writeFileSync(f, fixed)
  }
  console.log(`@podkit/${name}: dist/index.js, dist/index.d.ts`)
}

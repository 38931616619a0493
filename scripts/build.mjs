// Bundles a service's process entry (src/main.ts) into one file, dist/main.js: the file the image runs,
// and the file the tests start, so what is tested is what ships. Run from a package folder.
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'

const cwd = process.cwd()
const entry = join(cwd, 'src/main.ts')
if (!existsSync(entry)) {
  console.log(`${cwd}: no src/main.ts, nothing to bundle`)
  process.exit(0)
}
const pkg = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8'))

// `import { createServer } from 'node:http'` left as an ES import makes Node build the module's
// namespace, which reads every export, lazy ones included: on Node 24 that loads http2, zlib,
// perf_hooks, worker_threads and undici (+13 MiB resident) for a service that uses none of them.
// Builtins are taken with process.getBuiltinModule instead, like require(): only what is used loads.
const builtinsWithoutNamespace = {
  name: 'builtins-without-namespace',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'podkit-builtin' }))
    b.onLoad({ filter: /.*/, namespace: 'podkit-builtin' }, (args) => ({
      contents: `module.exports = process.getBuiltinModule(${JSON.stringify(args.path)})`,
      loader: 'js',
    }))
  },
}
// What is imported dynamically (the yaml parser for a config file, undici for HTTP/2 upstreams)
// goes to its own file under dist/chunks/ and is read only when first used: a module in the main
// file costs resident memory even when it never runs (V8 keeps the source and a function record
// for every function of the top-level script; yaml alone was ~0.9 MiB on Node 26).
rmSync(join(cwd, 'dist/chunks'), { recursive: true, force: true })
await build({
  entryPoints: { main: entry },
  outdir: join(cwd, 'dist'),
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  target: 'node20.19',
  format: 'esm',
  sourcemap: 'linked',
  // Smaller source is less resident memory in a sidecar; names are kept for error classes and stacks.
  minify: true,
  keepNames: true,
  legalComments: 'none',
  // pg's optional native binding is never used; leave its require to fail softly at run time.
  external: ['pg-native'],
  plugins: [builtinsWithoutNamespace],
  define: { 'process.env.PODKIT_VERSION': JSON.stringify(pkg.version) },
  banner: {
    // The shebang lets package managers link the bundle as a command (package.json "bin"). `require`
    // serves bundled CommonJS code that requires a builtin by its bare name. It makes its real
    // require on first use: loading node:module at all loads Node's source-map support, which a
    // service whose dependencies never call require should not carry.
    js: "#!/usr/bin/env node\nfunction require(id) { require.real ??= process.getBuiltinModule('node:module').createRequire(import.meta.url); return require.real(id) }",
  },
  logLevel: 'warning',
})
console.log(`${pkg.name}: dist/main.js`)

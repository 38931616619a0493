#!/usr/bin/env node
// Lays out what a service's image contains, as a directory: /app/main.js (the esbuild bundle with
// every dependency inlined; what it imports on first use in /app/chunks/), /app/package.json (marks it an ES module) and the compat command
// shims. The Dockerfile runs this in its build stage and copies the result onto the Node base;
// the deploy tests run the same script and start the result with node, so what ships is tested.
//
//   node scripts/image-rootfs.mjs <service> <out-dir> [--node /nodejs/bin/node]
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/**
 * Commands the replaced images run, so a pod spec that names them keeps working when only the image
 * is swapped (the seed's http ambassador runs `envoy -c /etc/envoy/envoy.yaml`).
 */
export const COMMAND_SHIMS = {
  'http-ambassador': ['/usr/local/bin/envoy'],
  'log-shipper': ['/fluent-bit/bin/fluent-bit'],
  'metrics-adapter': ['/usr/bin/nginx-prometheus-exporter'],
  'log-adapter': [],
  'db-ambassador': [],
}

export function stageImage(service, out, nodePath = '/nodejs/bin/node') {
  if (!(service in COMMAND_SHIMS)) throw new Error(`unknown service ${service}`)
  const bundle = join(root, 'packages', service, 'dist/main.js')
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run the build first`)
  // The node arguments of the image's ENTRYPOINT (package.json podkit.nodeArgs) start the shims'
  // node too. A shebang passes everything after the interpreter as one argument, so a service with
  // shims can have at most one.
  const manifest = JSON.parse(readFileSync(join(root, 'packages', service, 'package.json'), 'utf8'))
  const nodeArgs = (manifest.podkit?.nodeArgs ?? '').trim()
  if (COMMAND_SHIMS[service].length > 0 && /\s/.test(nodeArgs))
    throw new Error(
      `${service}: podkit.nodeArgs must be one argument: its command shims' #! line carries one`,
    )
  mkdirSync(join(out, 'app'), { recursive: true })
  copyFileSync(bundle, join(out, 'app/main.js'))
  // The parts the bundle imports on first use (scripts/build.mjs: the yaml parser, undici for HTTP/2).
  const chunks = join(root, 'packages', service, 'dist/chunks')
  const chunkFiles = existsSync(chunks) ? readdirSync(chunks).filter((f) => f.endsWith('.js')) : []
  if (chunkFiles.length > 0) mkdirSync(join(out, 'app/chunks'), { recursive: true })
  for (const f of chunkFiles) copyFileSync(join(chunks, f), join(out, 'app/chunks', f))
  writeFileSync(join(out, 'app/package.json'), `${JSON.stringify({ type: 'module', private: true })}\n`)
  for (const shim of COMMAND_SHIMS[service]) {
    const file = join(out, shim)
    mkdirSync(dirname(file), { recursive: true })
    // CommonJS on purpose (an extensionless file): a dynamic import loads the ES module bundle, and
    // process.argv keeps the caller's arguments after the shim's own path. The bundle is found
    // relative to the shim, so the staged tree runs the same wherever it is unpacked.
    const rel = relative(dirname(shim), '/app/main.js')
    writeFileSync(
      file,
      `#!${nodePath}${nodeArgs ? ` ${nodeArgs}` : ''}\n// ${shim.split('/').pop()} as the replaced image runs it: the same process as /app/main.js.\n` +
        `const { join } = require('node:path')\nconst { pathToFileURL } = require('node:url')\n` +
        `import(pathToFileURL(join(__dirname, ${JSON.stringify(rel)})).href).catch((err) => {\n  console.error(err)\n  process.exit(1)\n})\n`,
    )
    chmodSync(file, 0o755)
  }
  return { main: join(out, 'app/main.js'), shims: COMMAND_SHIMS[service].map((s) => join(out, s)) }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [service, out, ...rest] = process.argv.slice(2)
  if (!service || !out) {
    console.error('usage: node scripts/image-rootfs.mjs <service> <out-dir> [--node /nodejs/bin/node]')
    process.exit(2)
  }
  const i = rest.indexOf('--node')
  const staged = stageImage(service, resolve(out), i >= 0 ? rest[i + 1] : undefined)
  console.log(`${service}: ${[staged.main, ...staged.shims].join(' ')}`)
}

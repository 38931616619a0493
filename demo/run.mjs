#!/usr/bin/env node
// `pnpm demo` (after `pnpm build`): starts the local demo from its bundle, packages/demo/dist/main.js.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const bundle = join(dirname(fileURLToPath(import.meta.url)), '../packages/demo/dist/main.js')
if (!existsSync(bundle)) {
  console.error(
    'The demo is not built yet: run `npx -y pnpm@10 demo` (it builds first) or `npx -y pnpm@10 build`.',
  )
  process.exit(1)
}
await import(pathToFileURL(bundle).href)

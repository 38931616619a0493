#!/usr/bin/env node
// `pnpm demo` (after `pnpm build`): starts the local demo from its bundle, packages/demo/dist/main.js.
// The demo runs in a process group of its own: Ctrl-C in a terminal signals the whole foreground
// group, and PostgreSQL, nginx and the sidecars would all stop at once. Here only this launcher
// gets it and passes it on, so the demo stops them in a pod's order.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const bundle = join(dirname(fileURLToPath(import.meta.url)), '../packages/demo/dist/main.js')
if (!existsSync(bundle)) {
  console.error(
    'The demo is not built yet: run `npx -y pnpm@10 demo` (it builds first) or `npx -y pnpm@10 build`.',
  )
  process.exit(1)
}
const child = spawn(process.execPath, [bundle, ...process.argv.slice(2)], {
  stdio: ['ignore', 'inherit', 'inherit'],
  detached: true,
})
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (child.exitCode === null) child.kill(signal)
  })
}
child.on('exit', (code, signal) => {
  if (code !== 0) {
    // The demo did not stop cleanly: end whatever it left in its process group.
    try {
      process.kill(-child.pid, 'SIGTERM')
    } catch {
      // nothing left
    }
  }
  process.exit(code ?? (signal ? 128 : 1))
})

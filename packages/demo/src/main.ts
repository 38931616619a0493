// The demo's process: `main.js` runs the local demo; `main.js app` runs only the demo app (the
// compose file's demo-app container runs that).
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { appMain } from './app.ts'
import { runDemo } from './demo.ts'

const self = fileURLToPath(import.meta.url)

if (process.argv[2] === 'app') {
  await appMain()
} else {
  // Signals are handled from the first moment: one that arrives while the demo is still starting
  // stops it as soon as everything it started can be stopped in order.
  let demo: Awaited<ReturnType<typeof runDemo>> | undefined
  let stopRequested = false
  let signals = 0
  const stop = () => {
    demo!.stop().then(
      (codes) => process.exit(Object.values(codes).every((c) => c === 0) ? 0 : 1),
      (err) => {
        console.error(err)
        process.exit(1)
      },
    )
  }
  const onSignal = () => {
    if (++signals > 1) process.exit(130)
    if (demo) stop()
    else {
      stopRequested = true
      process.stdout.write('podkit demo: stopping as soon as it has started…\n')
    }
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  demo = await runDemo({
    root: resolve(dirname(self), '../../..'),
    port: Number(process.env.DEMO_PORT ?? 8099),
    print: (line) => process.stdout.write(`${line}\n`),
    selfBundle: self,
    postgres: process.env.DEMO_POSTGRES === 'embedded' ? 'embedded' : 'machine',
    nginx: process.env.DEMO_NGINX === 'off' ? 'off' : 'auto',
  }).catch((err: Error) => {
    process.stderr.write(`podkit demo: ${err.message}\n`)
    process.exit(1)
  })
  if (stopRequested) stop()
}

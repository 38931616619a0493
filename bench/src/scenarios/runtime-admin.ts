// runtime-admin: the shared admin server's /metrics under load, against nginx serving a static
// file of the same size: a floor for what any podkit service's /metrics costs.
// Peer: nginx (Debian). Tool: concurrent keep-alive HTTP clients from undici. Ours (the runtime's
// test fixture, run from source with tsx) on the images' Node and on this machine's Node.

import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, startNginx, waitForPort } from '@podkit/test-utils'
import { Pool } from 'undici'
import {
  type Contender,
  ensureDebianPackages,
  imageNode,
  nodeVersion,
  percentile,
  type RunResult,
  runScenario,
} from '../harness.ts'

const fixture = fileURLToPath(
  new URL('../../../packages/runtime/test/fixtures/drain-service.ts', import.meta.url),
)

async function load(url: string, path: string, seconds: number, concurrency: number): Promise<RunResult> {
  const pool = new Pool(url, { connections: concurrency, pipelining: 1 })
  const lat: number[] = []
  const until = Date.now() + seconds * 1000
  let n = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        const t0 = performance.now()
        const res = await pool.request({ path, method: 'GET' })
        await res.body.text()
        lat.push(performance.now() - t0)
        n++
      }
    }),
  )
  await pool.close()
  lat.sort((a, b) => a - b)
  return { throughput: n / seconds, unit: 'req/s', p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99) }
}

export async function run(args: string[]) {
  ensureDebianPackages([{ pkg: 'nginx-light', binary: '/usr/sbin/nginx' }])
  const seconds = Number(args[0] ?? 5)
  let body = ''
  const nginx: Contender = {
    name: 'nginx static file (peer)',
    async start() {
      const ngx = await startNginx({
        http: ({ prefix, port }) => {
          writeFileSync(join(prefix, 'metrics.txt'), body)
          return `server { listen 127.0.0.1:${port}; root ${prefix}; location /metrics { default_type text/plain; try_files /metrics.txt =404; } }`
        },
      })
      this.url = ngx.url
      const pid = Number((await import('node:fs')).readFileSync(join(ngx.prefix, 'nginx.pid'), 'utf8'))
      return { pids: [pid], stop: () => ngx.stop() }
    },
    run() {
      return load(this.url as string, '/metrics', seconds, 10)
    },
  } as Contender & { url?: string }
  const ours = (node: string): Contender & { url?: string } => ({
    name: `podkit runtime /metrics (Node ${nodeVersion(node).replace(/^v/, '')})`,
    async start() {
      const port = await freePort()
      const child = spawn(node, ['--import', 'tsx', fixture], {
        env: { ...process.env, ADMIN_PORT: String(port), ADMIN_HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
        stdio: 'ignore',
      })
      await waitForPort(port)
      this.url = `http://127.0.0.1:${port}`
      body = await (await fetch(`${this.url}/metrics`)).text()
      return {
        pids: [child.pid!],
        stop: async () => {
          child.kill('SIGKILL')
        },
      }
    },
    run() {
      return load(this.url!, '/metrics', seconds, 10)
    },
  })
  // ours first once to learn the body size nginx serves, then alternate peer-first.
  const oursImage = ours(imageNode())
  const oursHere = ours(process.execPath)
  await oursHere.start().then((s) => s.stop())
  return [
    await runScenario({
      scenario: 'runtime-admin',
      variant: '/metrics, 10 keep-alive clients',
      contenders: [nginx, oursImage, oursHere],
    }),
  ]
}

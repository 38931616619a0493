// metrics-adapter: scrapes/s of our adapter against Debian's prometheus-nginx-exporter, both
// scraping the same nginx stub_status, with 10 concurrent keep-alive scrapers for a fixed time.
// Peer: prometheus-nginx-exporter (Debian, v0.11). Ours runs as the image does: node with the
// image's arguments (podkit.nodeArgs) and NODE_OPTIONS (podkit.nodeOptions) running dist/main.js,
// on the images' Node (imageNode()) and on this machine's Node 20; once more on the images' Node
// without the arguments and once without NODE_OPTIONS, to show what each costs and saves.
// Usage: pnpm bench metrics-adapter [seconds per run, default 8] [rounds, default 3]

import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, type NginxServer, startNginx, waitForPort } from '@podkit/test-utils'
import { Pool } from 'undici'
import {
  type Contender,
  ensureDebianPackages,
  imageNode,
  nodeVersion,
  percentile,
  type RunResult,
  runScenario,
  serviceNodeArgs,
  serviceNodeOptions,
} from '../harness.ts'

const entry = fileURLToPath(new URL('../../../packages/metrics-adapter/dist/main.js', import.meta.url))
const EXPORTER = '/usr/bin/prometheus-nginx-exporter'

async function load(url: string, seconds: number, concurrency: number): Promise<RunResult> {
  const pool = new Pool(url, { connections: concurrency, pipelining: 1 })
  const lat: number[] = []
  const until = Date.now() + seconds * 1000
  let n = 0
  let failed = 0
  const started = Date.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        const t0 = performance.now()
        const res = await pool.request({ path: '/metrics', method: 'GET' })
        const text = await res.body.text()
        lat.push(performance.now() - t0)
        // Every scrape must carry nginx's numbers, or it does not count.
        if (res.statusCode !== 200 || !text.includes('nginx_up 1')) failed++
        else n++
      }
    }),
  )
  const elapsed = (Date.now() - started) / 1000
  await pool.close()
  lat.sort((a, b) => a - b)
  return {
    throughput: Math.round(n / elapsed),
    unit: 'scrapes/s',
    p50Ms: percentile(lat, 50),
    p99Ms: percentile(lat, 99),
    extra: { failed },
  }
}

function spawnAndWait(cmd: string, args: string[], port: number, nodeOptions = ''): Promise<ChildProcess> {
  const child = spawn(cmd, args, {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', NODE_OPTIONS: nodeOptions },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  return waitForPort(port).then(() => child)
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGKILL')
  })
}

export async function run(args: string[]) {
  ensureDebianPackages([
    { pkg: 'nginx-light', binary: '/usr/sbin/nginx' },
    { pkg: 'prometheus-nginx-exporter', binary: EXPORTER },
  ])
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run the build first (pnpm build)`)
  const seconds = Number(args[0] ?? 8)
  const rounds = Number(args[1] ?? 3)
  const concurrency = 10
  const nginx: NginxServer = await startNginx()
  const scrapeUri = `${nginx.url}/nginx_status`
  const nginxPid = Number(readFileSync(join(nginx.prefix, 'nginx.pid'), 'utf8'))
  console.log(`nginx ${nginx.url} (pid ${nginxPid}); ${seconds}s per run, ${rounds} rounds`)

  const contender = (
    name: string,
    argv: (port: number) => [string, string[]],
    nodeOptions = '',
  ): Contender => {
    let url = ''
    return {
      name,
      async start() {
        const port = await freePort()
        const [cmd, cmdArgs] = argv(port)
        const child = await spawnAndWait(cmd, cmdArgs, port, nodeOptions)
        url = `http://127.0.0.1:${port}`
        // One scrape first, so both start with warm connections to nginx.
        await fetch(`${url}/metrics`).then((r) => r.text())
        return { pids: [child.pid!], stop: () => stopChild(child) }
      },
      run: () => load(url, seconds, concurrency),
    }
  }

  const exporter = contender('prometheus-nginx-exporter 0.11 (peer)', (port) => [
    EXPORTER,
    [`-nginx.scrape-uri=${scrapeUri}`, `-web.listen-address=127.0.0.1:${port}`],
  ])
  const imageOptions = serviceNodeOptions('metrics-adapter')
  const imageArgs = serviceNodeArgs('metrics-adapter')
  const ours = (node: string, nodeOptions: string, nodeArgs: string[] = []) =>
    contender(
      `podkit metrics-adapter (Node ${nodeVersion(node).replace(/^v/, '')}${nodeOptions ? `, ${nodeOptions}` : ', no NODE_OPTIONS'}${nodeArgs.length ? `, node ${nodeArgs.join(' ')}` : ''})`,
      (port) => [
        node,
        [...nodeArgs, entry, `-nginx.scrape-uri=${scrapeUri}`, `-web.listen-address=127.0.0.1:${port}`],
      ],
      nodeOptions,
    )
  const imageNodeBin = imageNode()
  try {
    return [
      await runScenario({
        scenario: 'metrics-adapter',
        variant: `stub_status scrapes, ${concurrency} concurrent keep-alive scrapers, ${seconds}s runs`,
        rounds,
        contenders: [
          exporter,
          ours(imageNodeBin, imageOptions, imageArgs),
          ours(process.execPath, imageOptions, imageArgs),
          ...(imageArgs.length ? [ours(imageNodeBin, imageOptions)] : []),
          ...(imageOptions ? [ours(imageNodeBin, '', imageArgs)] : []),
          // PODKIT_BENCH_TRY_NODE_ARGS="--flag-a|--flag-b --flag-c": also ours on the images' Node,
          // with the image's NODE_OPTIONS and each set of node arguments (V8 flags that NODE_OPTIONS
          // refuses), to compare them in the same run before choosing the image's.
          ...(process.env.PODKIT_BENCH_TRY_NODE_ARGS ?? '')
            .split('|')
            .filter((a) => a.trim())
            .map((a) => ours(imageNodeBin, imageOptions, a.trim().split(/\s+/))),
        ],
      }),
    ]
  } finally {
    await nginx.stop()
  }
}

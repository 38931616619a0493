// Shared pieces of the log-shipper integration tests: nginx access lines with known fields, and
// the shipper process started the way its image starts it, with the seed's ConfigMap.

import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Logger, Registry } from '@podkit/runtime'
import { freePort, type ServiceProcess, spawnService, waitFor } from '@podkit/test-utils'
import { createLogShipper, type LogShipper } from '../src/index.ts'

export const ENTRY = fileURLToPath(new URL('../dist/main.js', import.meta.url))
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))
export const SEED_CONF = join(FIXTURES, 'fluent-bit.conf')

export interface AccessLine {
  line: string
  fields: Record<string, string>
  /** Epoch ms of the [time] field. */
  time: number
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD']

/** The i-th nginx "combined" line; every 7th has no referer/agent part (the regex's optional group). */
export function accessLine(i: number, base = Date.UTC(2026, 10, 24, 10, 0, 0)): AccessLine {
  const t = base + i * 1000
  const d = new Date(t + 2 * 3600_000) // written in +0200
  const pad = (n: number) => String(n).padStart(2, '0')
  const stamp = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0200`
  const fields: Record<string, string> = {
    remote: `10.${i % 256}.${(i >> 8) % 256}.${i % 7}`,
    host: '-',
    user: i % 5 === 0 ? 'alice' : '-',
    method: METHODS[i % METHODS.length]!,
    path: `/api/items/${i}?q=${i % 13}`,
    code: String([200, 201, 304, 404, 500][i % 5]),
    size: String(100 + ((i * 37) % 5000)),
  }
  let line = `${fields.remote} ${fields.host} ${fields.user} [${stamp}] "${fields.method} ${fields.path} HTTP/1.1" ${fields.code} ${fields.size}`
  if (i % 7 !== 0) {
    fields.referer = i % 3 === 0 ? '-' : `https://shop.example/p/${i}`
    fields.agent = `Mozilla/5.0 (X11; Linux x86_64) test/${i}`
    line += ` "${fields.referer}" "${fields.agent}"`
  }
  return { line, fields, time: t }
}

export function writeLines(file: string, from: number, to: number): AccessLine[] {
  const out: AccessLine[] = []
  let text = ''
  for (let i = from; i < to; i++) {
    const a = accessLine(i)
    out.push(a)
    text += `${a.line}\n`
  }
  appendFileSync(file, text)
  return out
}

export interface ShipperRun {
  proc: ServiceProcess
  adminPort: number
  metrics(): Promise<string>
}

/** Starts dist/main.js with the seed's fluent-bit.conf, its paths under `root`, its Fluentd host aliased to `port`. */
export async function startSeedShipper(opts: {
  root: string
  forwardPort: number
  conf?: string
  env?: Record<string, string>
  args?: string[]
}): Promise<ShipperRun> {
  const adminPort = await freePort()
  mkdirSync(join(opts.root, 'var/log/app'), { recursive: true })
  const proc = spawnService({
    entry: ENTRY,
    args: ['-c', opts.conf ?? SEED_CONF, ...(opts.args ?? [])],
    env: {
      POD_NAME: 'web-7d9f',
      POD_NAMESPACE: 'shop',
      ADMIN_PORT: String(adminPort),
      ADMIN_HOST: '127.0.0.1',
      LOG_SHIPPER_PATH_PREFIX: opts.root,
      LOG_SHIPPER_HOST_ALIASES: JSON.stringify({
        'fluentd.logging.svc.cluster.local': `127.0.0.1:${opts.forwardPort}`,
      }),
      LOG_SHIPPER_RETRY_BASE: '200ms',
      LOG_SHIPPER_RETRY_CAP: '1s',
      ...opts.env,
    },
  })
  await proc.waitForLog((l) => l.msg === 'Ready.', 20_000)
  return {
    proc,
    adminPort,
    metrics: async () => (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text(),
  }
}

/** A metric's value from an exposition text (first sample whose name and labels match). */
export function metricValue(text: string, name: string, labels = ''): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      if (labels && !line.includes(labels)) continue
      return Number(line.slice(line.lastIndexOf(' ') + 1))
    }
  }
  return Number.NaN
}

export { waitFor, writeFileSync }

/** The shipper in this process on `pipeline` (a classic config file's path, or the config itself), stopped by `cleanup`. */
export async function startInProcess(
  pipeline: Parameters<typeof createLogShipper>[0]['pipeline'],
  cleanup: Array<() => unknown>,
  logger: Logger,
  registry = new Registry(),
): Promise<LogShipper> {
  const shipper = createLogShipper({ logger, registry, pipeline })
  await shipper.start()
  cleanup.push(() => shipper.stop(AbortSignal.timeout(2000)))
  return shipper
}

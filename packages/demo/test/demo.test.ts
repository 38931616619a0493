// The local demo, started as a user starts it (node demo/run.mjs, from the bundle): every built
// sidecar reports ready, work flows through each (counters move, an app log line reaches the
// receiver as JSON with the pod's fields, transactions go through the pool, requests through the
// ambassador), the live page shows it in headless Chromium, and Ctrl-C (SIGINT) drains every
// process, which all exit 0.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from '@podkit/test-utils'
import { chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const SIDECARS = ['log-adapter', 'log-shipper', 'metrics-adapter', 'db-ambassador', 'http-ambassador']
const built = SIDECARS.filter((s) => existsSync(join(ROOT, 'packages', s, 'dist/main.js')))

type State = {
  containers: Array<{
    name: string
    status: string
    ready: boolean
    counters: Record<string, number>
    pid?: number
  }>
  app: { status: string; pid: number; stats: Record<string, number> }
  receiver: { records: number; malformed: number; recent: Array<{ record: Record<string, unknown> }> }
  upstream: { requests: number }
  notes: string[]
}

function demoSuite(label: string, env: Record<string, string>, opts: { browser: boolean; nginx: boolean }) {
  describe(label, () => {
    let demo: ChildProcess
    let output = ''
    let url = ''
    const state = async (): Promise<State> => (await fetch(`${url}api/state`)).json() as Promise<State>
    const counter = (s: State, name: string, label: string) =>
      s.containers.find((c) => c.name === name)?.counters[label] ?? 0
    let exitCode: Promise<number | null>

    beforeAll(async () => {
      expect(
        existsSync(join(ROOT, 'packages/demo/dist/main.js')),
        'packages/demo is built (pnpm build)',
      ).toBe(true)
      demo = spawn(process.execPath, [join(ROOT, 'demo/run.mjs')], {
        env: { PATH: process.env.PATH ?? '', DEMO_PORT: '0', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
        // A process group of its own, like a terminal's foreground job.
        detached: true,
      })
      demo.stdout!.on('data', (d: Buffer) => {
        output += d.toString()
      })
      demo.stderr!.on('data', (d: Buffer) => {
        output += d.toString()
      })
      exitCode = new Promise((r) => demo.once('close', (code) => r(code)))
      url = await waitFor(
        () => /page at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(output)?.[1],
        90_000,
        `the demo's page line (output so far:\n${output})`,
      )
    }, 120_000)

    afterAll(() => {
      if (demo.exitCode === null) demo.kill('SIGKILL')
    })
    it('starts every built sidecar, ready, and names the ones that are not built', async () => {
      const s = await waitFor(
        async () => {
          const s = await state()
          return built.every((n) => s.containers.find((c) => c.name === n)?.ready) ? s : undefined
        },
        30_000,
        'every built sidecar ready',
      )
      for (const c of s.containers) {
        if (built.includes(c.name)) expect(c.status, c.name).toBe('running')
        else {
          expect(c.status).toBe('not built')
          expect(s.notes.join('\n')).toContain(`${c.name} is not built`)
          expect(output).toContain(`${c.name} is not built`)
        }
      }
      expect(s.app.status).toBe('running')
    })

    it('moves work through each sidecar', async () => {
      const s = await waitFor(
        async () => {
          const s = await state()
          const ok =
            (s.app.stats.queries ?? 0) >= 3 &&
            (s.app.stats.apiCalls ?? 0) >= 3 &&
            s.receiver.records >= 3 &&
            // A successful stub_status fetch (fetches before the page is up only count as failed).
            counter(s, 'metrics-adapter', 'nginx requests') > 0 &&
            counter(s, 'log-shipper', 'records shipped') > 0 &&
            counter(s, 'http-ambassador', 'requests proxied') > 0
          return ok ? s : undefined
        },
        90_000,
        'work through every sidecar',
      )
      // Raw app lines became JSON records (log-adapter), were shipped (log-shipper) and arrived.
      expect(counter(s, 'log-adapter', 'records adapted')).toBeGreaterThan(0)
      expect(counter(s, 'log-shipper', 'records shipped')).toBeGreaterThan(0)
      const app = s.receiver.recent
        .map((r) => r.record)
        .find((r) => /visit recorded|external API answered/.test(String(r.message)))
      expect(app, JSON.stringify(s.receiver.recent)).toBeDefined()
      expect(app).toMatchObject({ pod: 'podkit-demo', pod_name: 'podkit-demo', namespace: 'local' })
      expect(['info', 'debug', 'warn', 'error']).toContain(app!.level)
      expect(s.receiver.malformed).toBe(0)
      // Transactions went through the pool: the app only knows the ambassador's port.
      expect(counter(s, 'db-ambassador', 'transactions')).toBeGreaterThanOrEqual(s.app.stats.queries ?? 1)
      expect(counter(s, 'db-ambassador', 'client logins')).toBeGreaterThan(0)
      expect(s.app.stats.queryErrors).toBe(0)
      // Requests went through the ambassador over verified TLS to the upstream.
      expect(counter(s, 'http-ambassador', 'requests proxied')).toBeGreaterThan(0)
      expect(s.upstream.requests).toBeGreaterThan(0)
      expect(s.app.stats.apiErrors).toBe(0)
      // nginx's stub_status (or the app's, in its format) through the metrics adapter.
      expect(counter(s, 'metrics-adapter', 'nginx requests')).toBeGreaterThan(0)
      if (!opts.nginx) expect(s.notes.join('\n')).toContain('the demo app serves the stub_status page itself')
    }, 120_000)

    if (opts.browser)
      it('draws the pod with live counters in headless Chromium', async () => {
        expect(existsSync('/usr/bin/chromium'), "Debian's chromium (apt-get install chromium)").toBe(true)
        // Playwright starts Chromium with a new, empty profile directory of its own each time.
        const browser = await chromium.launch({
          executablePath: '/usr/bin/chromium',
          args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
          ],
        })
        try {
          const page = await browser.newPage()
          await page.goto(url)
          for (const name of built)
            await page.waitForSelector(`[data-name="${name}"][data-ready="true"]`, { timeout: 15_000 })
          await page.waitForSelector('[data-name="app"]')
          const received = Number(await page.textContent('#received'))
          expect(received).toBeGreaterThan(0)
          const proxied = Number(
            await page.textContent('[data-name="http-ambassador"] [data-counter="requests proxied"]'),
          )
          expect(proxied).toBeGreaterThan(0)
          // Live: the same counter is higher a few polls later.
          // (A string predicate: it runs in the page, where document exists.)
          await page.waitForFunction(
            `Number(document.querySelector('[data-name="http-ambassador"] [data-counter="requests proxied"]')?.textContent) > ${proxied}`,
            undefined,
            { timeout: 15_000 },
          )
          if (process.env.PODKIT_DEMO_SCREENSHOT)
            await page.screenshot({ path: process.env.PODKIT_DEMO_SCREENSHOT, fullPage: true })
        } finally {
          await browser.close()
        }
      }, 60_000)

    it('Ctrl-C drains everything in pod order and every process exits 0', async () => {
      const s = await state()
      const pids = [s.app.pid, ...s.containers.flatMap((c) => (c.pid ? [c.pid] : []))]
      // Ctrl-C: a terminal sends SIGINT to the whole foreground process group.
      process.kill(-demo.pid!, 'SIGINT')
      expect(await exitCode, output).toBe(0)
      const codes = /exit codes: (.*)/.exec(output)?.[1]
      expect(codes, output).toBeDefined()
      const parsed = Object.fromEntries(codes!.split(' ').map((kv) => kv.split('=')))
      expect(Object.keys(parsed).sort()).toEqual(['app', ...built].sort())
      for (const [name, code] of Object.entries(parsed)) expect(code, name).toBe('0')
      for (const name of built) expect(output).toMatch(new RegExp(`${name} \\| Drained; exiting`))
      // The app stopped before the first sidecar began to drain.
      expect(output.indexOf('app | exited 0')).toBeLessThan(output.indexOf('| Draining'))
      for (const pid of pids) expect(() => process.kill(pid, 0), `pid ${pid} is gone`).toThrow()
    }, 60_000)
  })
}

demoSuite('the local demo', {}, { browser: true, nginx: true })
// What a machine without PostgreSQL or nginx gets: PGlite behind the db-ambassador and the app's
// own stub_status page for the metrics-adapter.
demoSuite(
  'the local demo with embedded PostgreSQL and no nginx',
  { DEMO_POSTGRES: 'embedded', DEMO_NGINX: 'off' },
  {
    browser: false,
    nginx: false,
  },
)

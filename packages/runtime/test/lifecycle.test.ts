// The process frame, exercised as a real process: config errors, --help, readiness, drain, signals.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type ServiceProcess, spawnService, waitFor } from '@podkit/test-utils'
import { afterEach, describe, expect, it } from 'vitest'

const entry = fileURLToPath(new URL('./fixtures/drain-service.ts', import.meta.url))
const running: ServiceProcess[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop('SIGKILL')))
})

function start(env: Record<string, string> = {}) {
  const svc = spawnService({ entry, typescript: true, env: { ADMIN_HOST: '127.0.0.1', ...env } })
  running.push(svc)
  return svc
}

async function adminUrl(svc: ServiceProcess): Promise<string> {
  const line = await svc.waitForLog((l) => l.msg === 'Admin server listening.', 15_000)
  return `http://${line.admin}`
}

function runSync(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', entry, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
  })
}

describe('service lifecycle', () => {
  it('--help lists options with env names and defaults and exits 0', () => {
    const r = runSync(['--help'])
    expect(r.status).toBe(0)
    expect(r.stdout).toContain('--job-time <duration>  env JOB_MS  default 500ms')
    expect(r.stdout).toContain('--admin.port <integer>  env ADMIN_PORT  default 0')
  })

  it('a bad config stops start-up with every problem and a non-zero exit', () => {
    const r = runSync(['--nope=1'], { JOB_MS: 'later', ADMIN_PORT: '99999' })
    expect(r.status).toBe(2)
    expect(r.stderr).toContain('3 problems')
    expect(r.stderr).toContain(
      'admin.port: expected integer that is <= 65535, got 99999 (from env ADMIN_PORT)',
    )
    expect(r.stderr).toContain('--nope')
    expect(r.stderr).toContain('jobTime: expected a duration')
    expect(r.stderr).toContain('admin.port')
    const log = JSON.parse(r.stdout.trim().split('\n')[0]!)
    expect(log.level).toBe('fatal')
    expect(log.code).toBe('PODKIT_CONFIG_INVALID')
  })

  it('--check-config exits 0 on a valid config and 2 on an invalid one', () => {
    expect(runSync(['--check-config']).status).toBe(0)
    expect(runSync(['--check-config'], { JOB_MS: 'x' }).status).toBe(2)
  })

  it('serves /healthz, /ready and valid /metrics, and never logs the secret', async () => {
    const svc = start({ SECRET_PASSWORD: 'hunter2' })
    const url = await adminUrl(svc)
    await waitFor(async () => (await fetch(`${url}/ready`)).status === 200, 10_000, 'ready')
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    const m = await fetch(`${url}/metrics`)
    expect(m.headers.get('content-type')).toContain('text/plain; version=0.0.4')
    const text = await m.text()
    expect(text).toMatch(/^podkit_ready 1$/m)
    expect(text).toMatch(/^podkit_build_info\{service="drain-fixture",version="[^"]+",nodejs="[^"]+"\} 1$/m)
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m)
    // every sample line is `name{labels} value`
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue
      expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+|NaN|[+-]Inf$/)
    }
    const om = await fetch(`${url}/metrics`, {
      headers: { accept: 'application/openmetrics-text; version=1.0.0' },
    })
    expect(om.headers.get('content-type')).toContain('application/openmetrics-text')
    expect(await om.text()).toMatch(/# EOF\n$/)
    expect(JSON.stringify(svc.logs)).not.toContain('hunter2')
  })

  it('SIGTERM turns /ready to 503, lets in-flight work finish, and exits 0', async () => {
    const svc = start({ JOB_MS: '1500' })
    const url = await adminUrl(svc)
    await waitFor(async () => (await fetch(`${url}/ready`)).status === 200, 10_000, 'ready')
    const job = fetch(`${url}/work`, { method: 'POST' }).then((r) => r.json())
    await svc.waitForLog((l) => l.msg === 'Job started.')
    svc.child.kill('SIGTERM')
    await svc.waitForLog((l) => l.msg === 'Draining: not ready, no new work, finishing what is in flight.')
    // admin stays up during the drain and reports not ready
    const ready = await fetch(`${url}/ready`)
    expect(ready.status).toBe(503)
    expect(await job).toEqual({ done: true })
    expect(await svc.exited).toBe(0)
    const finished = svc.logs.findIndex((l) => l.msg === 'Job finished.')
    const drained = svc.logs.findIndex((l) => l.msg === 'Drained; exiting.')
    expect(finished).toBeGreaterThan(-1)
    expect(drained, JSON.stringify(svc.logs)).toBeGreaterThan(finished)
  })

  it('a second signal during the drain exits at once', async () => {
    const svc = start({ JOB_MS: '20000', SHUTDOWN_GRACE: '30s' })
    const url = await adminUrl(svc)
    await waitFor(async () => (await fetch(`${url}/ready`)).status === 200, 10_000, 'ready')
    void fetch(`${url}/work`, { method: 'POST' }).catch(() => {})
    await svc.waitForLog((l) => l.msg === 'Job started.')
    svc.child.kill('SIGTERM')
    await svc.waitForLog((l) => String(l.msg).startsWith('Draining'))
    const t0 = Date.now()
    svc.child.kill('SIGTERM')
    expect(await svc.exited).toBe(143)
    expect(Date.now() - t0).toBeLessThan(5000)
  })

  it('cuts in-flight work when the grace period runs out, then exits', async () => {
    const svc = start({ JOB_MS: '20000', SHUTDOWN_GRACE: '500ms' })
    const url = await adminUrl(svc)
    await waitFor(async () => (await fetch(`${url}/ready`)).status === 200, 10_000, 'ready')
    void fetch(`${url}/work`, { method: 'POST' }).catch(() => {})
    await svc.waitForLog((l) => l.msg === 'Job started.')
    svc.child.kill('SIGTERM')
    expect(await svc.exited).toBe(0)
    expect(
      svc.logs.some((l) => l.msg === 'The grace period ran out; cutting the work still in flight.'),
    ).toBe(true)
  })
})

describe('logging to a stdout nobody reads', () => {
  it('drops the lines (EPIPE) and keeps the service running', async () => {
    const { spawn } = await import('node:child_process')
    const script = fileURLToPath(new URL('./fixtures/log-to-closed-stdout.ts', import.meta.url))
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.destroy()
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
    expect(stderr).toContain('still running')
    expect(code).toBe(0)
  })
})

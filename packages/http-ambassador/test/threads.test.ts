// Several threads in one process (the concurrency option): on this machine's Node when it has
// SO_REUSEPORT (22.12+), else on the image's Node (test-utils' imageNode(), from the npm registry).
// The shipped process with CONCURRENCY=2: admin counts cover every thread, a SIGTERM drain lets
// the requests in flight on every thread finish; and a worker thread that dies is restarted.

import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { imageNode, spawnService, tempDir, waitFor } from '@podkit/test-utils'
import { beforeAll, describe, expect, it } from 'vitest'
import { defaultConcurrency, reusePortSupported } from '../src/threads.ts'
import { entry, fileFixtures } from './helpers.ts'

const { pki, cleanups, upstream } = fileFixtures()
let node: string
beforeAll(() => {
  node = reusePortSupported() ? process.execPath : imageNode()
}, 300_000)

/** dist/main.js on `node`, its JSON log lines collected. */
function start(env: Record<string, string>) {
  const svc = spawnService({ entry, node, env: { ADMIN_PORT: '0', ...env } })
  cleanups.push(() => {
    if (svc.child.exitCode === null) svc.child.kill('SIGKILL')
    // A line that is not JSON would be two threads' lines interleaved.
    expect(svc.logs.filter((l) => 'raw' in l)).toEqual([])
  })
  return svc
}

/** One GET on its own connection (so the kernel spreads them over the threads). */
function get(port: number, path: string): Promise<{ res: IncomingMessage; body: string }> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => {
        body += c
      })
      res.on('end', () => resolve({ res, body }))
    })
      .on('error', reject)
      .end()
  })
}

describe('concurrency', () => {
  it('defaults to one fewer than the CPUs the cgroup allows, at least one, and no more than its memory limit holds', () => {
    const files: Record<string, string> = { '/sys/fs/cgroup/cpu.max': '150000 100000\n' }
    expect(defaultConcurrency((p) => files[p], 8)).toBe(1)
    expect(defaultConcurrency((p) => ({ '/sys/fs/cgroup/cpu.max': 'max 100000' })[p], 4)).toBe(3)
    expect(defaultConcurrency((p) => ({ '/sys/fs/cgroup/cpu.max': '50000 100000' })[p], 4)).toBe(1)
    const v1: Record<string, string> = {
      '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '300000',
      '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000',
    }
    expect(defaultConcurrency((p) => v1[p], 8)).toBe(2)
    expect(defaultConcurrency(() => undefined, 2)).toBe(1)
    expect(defaultConcurrency(() => undefined, 1)).toBe(1)
    // The memory limit caps it too: the seed's 128Mi holds one thread, 160Mi two, 256Mi five.
    const mem = (limit: string) => (p: string) =>
      ({ '/sys/fs/cgroup/cpu.max': 'max 100000', '/sys/fs/cgroup/memory.max': limit })[p]
    expect(defaultConcurrency(mem(String(128 * 2 ** 20)), 8)).toBe(1)
    expect(defaultConcurrency(mem(String(143 * 2 ** 20)), 8)).toBe(1)
    expect(defaultConcurrency(mem(String(160 * 2 ** 20)), 8)).toBe(2)
    expect(defaultConcurrency(mem(String(256 * 2 ** 20)), 8)).toBe(5)
    expect(defaultConcurrency(mem('max\n'), 8)).toBe(7)
    expect(
      defaultConcurrency(
        (p) => ({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712' })[p],
        4,
      ),
    ).toBe(3)
    expect(reusePortSupported('20.19.0')).toBe(false)
    expect(reusePortSupported('22.12.0')).toBe(true)
    expect(reusePortSupported('24.0.0')).toBe(true)
  })

  it('counts every thread in /stats and /clusters, and drains requests in flight on every thread', async () => {
    const u = await upstream((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('done'), 1500)
      else res.end('ok')
    })
    const svc = start({
      CONCURRENCY: '2',
      UPSTREAM_URL: `https://localhost:${u.port}`,
      UPSTREAM_CA_FILE: pki.ca.certFile,
      LISTEN_PORT: '0',
      DRAIN_TIME: '300ms',
      RESOLVE: '{"localhost":["127.0.0.1"]}',
    })
    await waitFor(() => svc.logs.find((l) => l.msg === 'Ready.'), 20_000, `Ready (${svc.stderr()})`)
    expect(svc.logs.find((l) => l.msg === 'Serving on several threads.')).toMatchObject({ threads: 2 })
    expect(svc.logs.filter((l) => l.msg === 'Worker thread serving.')).toHaveLength(1)
    const port = Number(svc.logs.find((l) => l.msg === 'Listener accepting connections.')!.port)
    const admin = `127.0.0.1:${String(svc.logs.find((l) => l.msg === 'Admin server listening.')!.admin)
      .split(':')
      .pop()}`
    const adminGet = async (path: string) => (await fetch(`http://${admin}${path}`)).text()

    // 40 connections: the kernel hashes each to one of the two threads' sockets.
    const quick = await Promise.all(Array.from({ length: 40 }, () => get(port, '/')))
    expect(quick.map((r) => r.body)).toEqual(Array(40).fill('ok'))
    expect(await adminGet('/stats/prometheus')).toMatch(
      /podkit_http_ambassador_requests_total\{listener="upstream",cluster="upstream",code_class="2xx"\} 40\n/,
    )
    // The duration histogram too: each thread's series are added up by cluster.
    expect(await adminGet('/stats/prometheus')).toMatch(
      /podkit_http_ambassador_request_duration_seconds_count\{cluster="upstream"\} 40\n/,
    )
    expect(await adminGet('/clusters')).toContain(`::127.0.0.1:${u.port}::rq_total::40\n`)
    const logged = await waitFor(
      () => (svc.logs.filter((l) => l.msg === 'request').length === 40 ? true : undefined),
      5000,
      'an access-log line per request',
    )
    expect(logged).toBe(true)

    // Ten slow requests on ten connections, spread over both threads, then SIGTERM.
    const slow = Array.from({ length: 10 }, () => get(port, '/slow'))
    await waitFor(() => u.requests.filter((r) => r.url === '/slow').length === 10, 5000, 'slow requests')
    expect(await adminGet('/clusters')).toContain(`::127.0.0.1:${u.port}::rq_active::10\n`)
    svc.child.kill('SIGTERM')
    const done = await Promise.all(slow)
    for (const d of done) {
      expect(d.res.statusCode).toBe(200)
      expect(d.body).toBe('done')
      expect(d.res.headers.connection).toBe('close')
    }
    expect(await svc.exited).toBe(0)
    await expect(get(port, '/')).rejects.toThrow(/ECONNREFUSED/)
  }, 60_000)

  it('stops accepting in every thread on POST /drain_listeners', async () => {
    const u = await upstream()
    const svc = start({
      CONCURRENCY: '2',
      UPSTREAM_URL: `https://localhost:${u.port}`,
      UPSTREAM_CA_FILE: pki.ca.certFile,
      LISTEN_PORT: '0',
      RESOLVE: '{"localhost":["127.0.0.1"]}',
    })
    await waitFor(() => svc.logs.find((l) => l.msg === 'Ready.'), 20_000, `Ready (${svc.stderr()})`)
    const port = Number(svc.logs.find((l) => l.msg === 'Listener accepting connections.')!.port)
    const admin = String(svc.logs.find((l) => l.msg === 'Admin server listening.')!.admin)
    const before = await Promise.all(Array.from({ length: 20 }, () => get(port, '/')))
    expect(before.every((r) => r.res.statusCode === 200)).toBe(true)
    const drained = await fetch(`http://127.0.0.1:${admin.split(':').pop()}/drain_listeners`, {
      method: 'POST',
    })
    expect(drained.status).toBe(200)
    await drained.text()
    // Twenty new connections: none may land on a thread that still accepts.
    await waitFor(
      async () => {
        const r = await Promise.allSettled(Array.from({ length: 20 }, () => get(port, '/')))
        return r.every((x) => x.status === 'rejected') ? true : undefined
      },
      5000,
      'every thread to stop accepting',
    )
    svc.child.kill('SIGTERM')
    expect(await svc.exited).toBe(0)
  }, 60_000)

  it('holds a rate limit and a circuit breaker for the process, not per thread', async () => {
    const u = await upstream((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('done'), 1000)
      else res.end('ok')
    })
    const dir = tempDir('podkit-http-amb-')
    cleanups.push(() => dir.cleanup())
    const cfg = join(dir.path, 'config.yaml')
    writeFileSync(
      cfg,
      JSON.stringify({
        listeners: [
          {
            port: 0,
            routes: [
              { prefix: '/limited', cluster: 'up', rateLimit: { maxTokens: 10, fillInterval: '1h' } },
              { prefix: '/', cluster: 'up' },
            ],
          },
        ],
        clusters: [
          {
            name: 'up',
            endpoints: [`127.0.0.1:${u.port}`],
            tls: { sni: 'localhost', caFile: pki.ca.certFile },
            circuitBreakers: { maxRequests: 6 },
          },
        ],
      }),
    )
    const svc = start({ CONCURRENCY: '2', CONFIG_FILE: cfg, DRAIN_TIME: '0' })
    await waitFor(() => svc.logs.find((l) => l.msg === 'Ready.'), 20_000, `Ready (${svc.stderr()})`)
    const port = Number(svc.logs.find((l) => l.msg === 'Listener accepting connections.')!.port)
    // One after the other (the breaker below allows 6 at once), each on its own connection.
    const codes: number[] = []
    for (let i = 0; i < 30; i++) codes.push((await get(port, '/limited')).res.statusCode!)
    expect(codes.filter((c) => c === 200)).toHaveLength(10)
    expect(codes.filter((c) => c === 429)).toHaveLength(20)
    // 12 slow requests over both threads: 6 in flight, the others refused by max_requests.
    const slow = await Promise.all(Array.from({ length: 12 }, () => get(port, '/slow')))
    const slowCodes = slow.map((r) => r.res.statusCode)
    expect(slowCodes.filter((c) => c === 200)).toHaveLength(6)
    expect(slowCodes.filter((c) => c === 503)).toHaveLength(6)
    svc.child.kill('SIGTERM')
    expect(await svc.exited).toBe(0)
  }, 60_000)

  it('restarts a worker thread that died, and keeps its counts', async () => {
    const u = await upstream()
    const child = spawn(
      node,
      ['--import', 'tsx', fileURLToPath(new URL('./fixtures/thread-crash.ts', import.meta.url))],
      {
        env: { ...process.env, UP_PORT: String(u.port), CA_FILE: pki.ca.certFile, ENTRY: entry },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    child.stdout!.on('data', (d) => {
      out += d
    })
    child.stderr!.on('data', (d) => {
      out += d
    })
    const [code] = await once(child, 'close')
    expect(out).toContain('ok')
    expect(code, out).toBe(0)
  }, 60_000)
})

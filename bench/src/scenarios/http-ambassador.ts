// http-ambassador: plain HTTP in, verified TLS out, through ours, nginx (proxy_pass https,
// keepalive 64) and HAProxy (ssl verify, http-reuse always), to the same local TLS upstream
// (nginx with a test certificate), plus the upstream directly as the limit. Driven by wrk -c 50.
// Ours runs on the images' Node (imageNode()) with the image's NODE_OPTIONS, and on this machine's
// Node 20 (process.execPath): their memory differs by several MiB per process.
// Args: [seconds per run = 5] [rounds = 3]

import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createTestPki, freePort, startNginx, type TestPki, tempDir, waitForPort } from '@podkit/test-utils'
import {
  type Contender,
  ensureDebianPackages,
  imageNode,
  nodeVersion,
  type RunResult,
  runScenario,
  type ScenarioResult,
  serviceNodeArgs,
  serviceNodeOptions,
  writeResults,
} from '../harness.ts'

const entry = fileURLToPath(new URL('../../../packages/http-ambassador/dist/main.js', import.meta.url))
const BODY = 'x'.repeat(512)

/** wrk's --latency output: Requests/sec and the 50% / 99% latency lines. */
function parseWrk(out: string): RunResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0)
  const lat = (p: string) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out)
    if (!m) return undefined
    const v = Number(m[1])
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v
  }
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0)
  const errors = /Socket errors:[^\n]*/.exec(out)?.[0] ?? ''
  return {
    throughput: rps,
    unit: 'req/s',
    p50Ms: lat('50'),
    p99Ms: lat('99'),
    extra: { non2xx, ...(errors ? { errors } : {}) },
  }
}

function wrkOnce(url: string, seconds: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('wrk', ['-t', '2', '-c', '50', '-d', `${seconds}s`, '--latency', url], (err, stdout) => {
      if (err) reject(err)
      else resolve(stdout)
    })
  })
}

/**
 * A 1 s warm-up (connections, TLS handshakes to the upstream, JIT), then the measured run: the
 * steady state of every contender, not the first second of a freshly started process.
 */
async function wrk(url: string, seconds: number): Promise<RunResult> {
  await wrkOnce(url, 1)
  return parseWrk(await wrkOnce(url, seconds))
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGKILL')
  await exited
}

export async function run(args: string[]): Promise<ScenarioResult[]> {
  ensureDebianPackages([
    { pkg: 'nginx-light', binary: '/usr/sbin/nginx' },
    { pkg: 'haproxy', binary: '/usr/sbin/haproxy' },
    { pkg: 'wrk', binary: 'wrk' },
  ])
  const seconds = Number(args[0] ?? 5)
  const rounds = Number(args[1] ?? 3)
  const pki: TestPki = createTestPki()
  // The shared upstream: nginx serving a 512-byte body over TLS with keep-alive.
  const upstream = await startNginx({
    workers: 1,
    http: ({ port }) => `
      keepalive_requests 100000;
      server {
        listen 127.0.0.1:${port} ssl;
        ssl_certificate ${pki.server.certFile};
        ssl_certificate_key ${pki.server.keyFile};
        location / { return 200 "${BODY}"; }
      }`,
  })
  const up = upstream.port
  const pidOf = (prefix: string) => Number(readFileSync(join(prefix, 'nginx.pid'), 'utf8'))

  const direct: Contender & { url?: string } = {
    name: 'upstream direct (https, limit)',
    async start() {
      this.url = `https://127.0.0.1:${up}/`
      return { pids: [], stop: async () => {} }
    },
    run() {
      return wrk(this.url!, seconds)
    },
  }

  const nginx: Contender & { url?: string } = {
    name: 'nginx 1.22 proxy_pass https (peer)',
    async start() {
      const ngx = await startNginx({
        workers: 2,
        http: ({ port }) => `
          upstream backend { server 127.0.0.1:${up}; keepalive 64; keepalive_requests 100000; }
          server {
            listen 127.0.0.1:${port};
            location / {
              proxy_pass https://backend;
              proxy_http_version 1.1;
              proxy_set_header Connection "";
              proxy_ssl_verify on;
              proxy_ssl_trusted_certificate ${pki.ca.certFile};
              proxy_ssl_name localhost;
              proxy_ssl_server_name on;
              proxy_ssl_session_reuse on;
            }
          }`,
      })
      this.url = `${ngx.url}/`
      return { pids: [pidOf(ngx.prefix)], stop: () => ngx.stop() }
    },
    run() {
      return wrk(this.url!, seconds)
    },
  }

  const haproxy: Contender & { url?: string } = {
    name: 'HAProxy 2.6 ssl verify',
    async start() {
      const dir = tempDir('podkit-haproxy-')
      const port = await freePort()
      const cfg = join(dir.path, 'haproxy.cfg')
      writeFileSync(
        cfg,
        `global
  maxconn 4096
  nbthread 2
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend f
  bind 127.0.0.1:${port}
  default_backend b
backend b
  server s1 127.0.0.1:${up} ssl verify required ca-file ${pki.ca.certFile} sni str(localhost) verifyhost localhost alpn http/1.1
`,
      )
      const child = spawn('/usr/sbin/haproxy', ['-db', '-f', cfg], { stdio: 'ignore' })
      await waitForPort(port)
      this.url = `http://127.0.0.1:${port}/`
      return {
        pids: [child.pid!],
        stop: async () => {
          await stopChild(child)
          dir.cleanup()
        },
      }
    },
    run() {
      return wrk(this.url!, seconds)
    },
  }

  const nodeOptions = serviceNodeOptions('http-ambassador')
  // The image's ENTRYPOINT arguments before the bundle (podkit.nodeArgs; none today).
  const nodeArgs = serviceNodeArgs('http-ambassador')
  /** Ours with the defaults (concurrency 0: one thread fewer than the CPUs, at least one), or `threads`. */
  const ours = (node: string, threads?: number): Contender & { url?: string } => ({
    name: `podkit http-ambassador (Node ${nodeVersion(node).replace(/^v/, '')}${threads ? `, CONCURRENCY=${threads}` : ''})`,
    async start() {
      const dir = tempDir('podkit-http-amb-')
      const port = await freePort()
      const cfg = join(dir.path, 'config.yaml')
      writeFileSync(
        cfg,
        JSON.stringify({
          listeners: [{ port, routes: [{ prefix: '/', cluster: 'up' }] }],
          clusters: [
            {
              name: 'up',
              endpoints: [`127.0.0.1:${up}`],
              tls: { sni: 'localhost', caFile: pki.ca.certFile },
            },
          ],
        }),
      )
      const admin = await freePort()
      const child = spawn(node, [...nodeArgs, entry, '--config', cfg], {
        env: {
          ...process.env,
          NODE_ENV: 'production',
          // What the image sets (its Dockerfile's ENV NODE_OPTIONS), so the heap limits are the image's.
          NODE_OPTIONS: nodeOptions,
          ADMIN_PORT: String(admin),
          ...(threads ? { CONCURRENCY: String(threads) } : {}),
          LOG_LEVEL: 'info',
        },
        // Access-log lines are written and discarded, as a log collector would read them.
        stdio: ['ignore', 'ignore', 'inherit'],
      })
      await waitForPort(port)
      this.url = `http://127.0.0.1:${port}/`
      return {
        // The harness sums the process tree: worker processes count too.
        pids: [child.pid!],
        stop: async () => {
          await stopChild(child)
          dir.cleanup()
        },
      }
    },
    run() {
      return wrk(this.url!, seconds)
    },
  })

  try {
    const result = await runScenario({
      scenario: 'http-ambassador',
      variant: `GET 512 B over TLS, wrk -t2 -c50 ${seconds}s`,
      rounds,
      contenders: [nginx, haproxy, ours(imageNode()), ours(imageNode(), 2), ours(process.execPath), direct],
    })
    writeResults('http-ambassador', [result])
    return [result]
  } finally {
    await upstream.stop()
    pki.cleanup()
  }
}

// Test helpers: real TLS upstreams (node https / http2 servers) with certificates made at test
// time, the ambassador in-process (createHttpAmbassador) or as the shipped process, and the PKI
// and clean-up hooks every test file sets up (fileFixtures).

import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createSecureServer, type Http2SecureServer } from 'node:http2'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import { type AddressInfo, connect } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLogger, createServiceRegistry } from '@podkit/runtime'
import { createTestPki, spawnService, type TestPki, tempDir, waitFor } from '@podkit/test-utils'
import { afterAll, afterEach } from 'vitest'
import { stringify } from 'yaml'
import {
  type Config,
  createHttpAmbassador,
  type HttpAmbassadorOptions,
  normalize,
  schema,
} from '../src/index.ts'

export const entry = fileURLToPath(new URL('../dist/main.js', import.meta.url))

export interface Upstream {
  port: number
  server: HttpsServer | Http2SecureServer
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; host: string }>
  close(): Promise<void>
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** A node https server on 127.0.0.1 (or `host`) with the PKI's server certificate. */
export async function startHttpsUpstream(
  pki: TestPki,
  handler: Handler = (_req, res) => res.end('hello from upstream\n'),
  opts: { host?: string; cert?: { cert: string; key: string }; requestCert?: boolean; http2?: boolean } = {},
): Promise<Upstream> {
  const requests: Upstream['requests'] = []
  const tls = {
    cert: opts.cert?.cert ?? pki.server.cert,
    key: opts.cert?.key ?? pki.server.key,
    ca: pki.ca.cert,
    requestCert: opts.requestCert ?? false,
    rejectUnauthorized: opts.requestCert ?? false,
  }
  const wrapped: Handler = (req, res) => {
    requests.push({
      method: req.method!,
      url: req.url!,
      headers: req.headers,
      host: opts.host ?? '127.0.0.1',
    })
    handler(req, res)
  }
  const server = opts.http2
    ? createSecureServer({ ...tls, allowHTTP1: false }, wrapped as never)
    : createHttpsServer({ ...tls, keepAliveTimeout: 30_000 }, wrapped)
  server.listen(0, opts.host ?? '127.0.0.1')
  await once(server, 'listening')
  const sockets = new Set<import('node:net').Socket>()
  server.on('secureConnection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  return {
    port: (server.address() as AddressInfo).port,
    server,
    requests,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

/** The ambassador in this process, from our YAML shape; returns its first listener's URL. */
export async function startInProcess(config: Partial<Config>, opts: HttpAmbassadorOptions = {}) {
  const full = { ...defaults(), drainTime: 0, ...config } as Config
  const { spec, issues } = normalize(full)
  if (!spec) throw new Error(JSON.stringify(issues))
  const lines: Array<Record<string, unknown>> = []
  const logger = createLogger({
    name: 'http-ambassador',
    level: 'info',
    destination: {
      write: (s: string) => {
        for (const l of s.split('\n')) if (l) lines.push(JSON.parse(l))
      },
    },
  })
  const { registry } = createServiceRegistry({ service: 'http-ambassador', processMetrics: false })
  const amb = createHttpAmbassador(spec, { logger, registry, ...opts })
  await amb.start()
  const port = amb.listeners()[0]!.port
  return {
    amb,
    logs: lines,
    /** The first log line matching (access-log lines are written in batches). */
    waitLog: (match: (l: Record<string, unknown>) => boolean) =>
      waitFor(() => lines.find(match), 5000, 'a log line'),
    registry,
    url: `http://127.0.0.1:${port}`,
    port,
    stop: () => amb.stop({ deadline: Date.now() + 2000 }),
  }
}

function defaults(): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(schema.properties)) {
    const d = (v as { default?: unknown }).default
    if (d !== undefined) out[k] = structuredClone(d)
    else if ((v as { type?: string }).type === 'object') {
      const inner: Record<string, unknown> = {}
      for (const [k2, v2] of Object.entries(
        (v as { properties: Record<string, { default?: unknown }> }).properties,
      ))
        inner[k2] = v2.default
      out[k] = inner
    }
  }
  return out
}

/** Sends raw bytes and returns what came back before the connection closed (or waitMs passed). */
export function rawRequest(port: number, text: string, waitMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    let out = ''
    s.on('data', (d) => {
      out += d.toString()
    })
    s.on('error', reject)
    s.on('close', () => resolve(out))
    s.setTimeout(waitMs, () => s.destroy())
    s.write(text)
  })
}

/** A TLS cluster pointing at an upstream on 127.0.0.1 with the test CA trusted. */
export function tlsCluster(name: string, port: number, pki: TestPki, extra: Record<string, unknown> = {}) {
  return {
    name,
    endpoints: [`127.0.0.1:${port}`],
    tls: { sni: 'localhost', caFile: pki.ca.certFile, ...((extra.tls as object) ?? {}) },
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'tls')),
  }
}

/** Starts dist/main.js with a config file (ours or an envoy.yaml) and waits until it is ready. */
export async function spawnAmbassador(opts: {
  yaml?: Record<string, unknown>
  envoy?: string
  args?: string[]
  env?: Record<string, string>
  /** The node binary (default: this one), e.g. test-utils' imageNode(). */
  node?: string
}) {
  const dir = tempDir('podkit-http-amb-')
  const args = [...(opts.args ?? [])]
  if (opts.yaml) {
    const f = join(dir.path, 'config.yaml')
    writeFileSync(f, stringify(opts.yaml))
    args.push('--config', f)
  }
  if (opts.envoy) {
    const f = join(dir.path, 'envoy.yaml')
    writeFileSync(f, opts.envoy)
    args.push('-c', f)
  }
  const svc = spawnService({
    entry,
    args,
    env: { ADMIN_PORT: '0', ...opts.env },
    ...(opts.node ? { node: opts.node } : {}),
  })
  await svc.waitForLog((l) => l.msg === 'Ready.', 20_000)
  const admin = String(svc.logs.find((l) => l.msg === 'Admin server listening.')!.admin)
  const listeners = svc.logs
    .filter((l) => l.msg === 'Listener accepting connections.')
    .map((l) => Number(l.port))
  return {
    svc,
    admin: `http://${admin.replace(/^0\.0\.0\.0/, '127.0.0.1')}`,
    ports: listeners,
    url: `http://127.0.0.1:${listeners[0]}`,
    async stop() {
      await svc.stop('SIGTERM', 15_000)
      dir.cleanup()
    },
  }
}

/**
 * What a test file sets up, called once at its top level: a test PKI for the file (removed after
 * its tests) and `cleanups`, run after each test, last added first. Every clean-up runs even when
 * one throws, so a failed test leaves no server behind; the first failure then fails the test.
 */
export function fileFixtures() {
  const pki = createTestPki()
  const cleanups: Array<() => unknown> = []
  afterAll(() => pki.cleanup())
  afterEach(async () => {
    const failures: unknown[] = []
    for (const c of cleanups.splice(0).reverse())
      await Promise.resolve()
        .then(c)
        .catch((e) => failures.push(e))
    if (failures.length) throw failures[0]
  })

  /** startHttpsUpstream with the file's PKI, closed after the test. */
  const upstream = async (
    ...args: Parameters<typeof startHttpsUpstream> extends [unknown, ...infer R] ? R : never
  ) => {
    const u = await startHttpsUpstream(pki, ...args)
    cleanups.push(() => u.close())
    return u
  }
  /** startInProcess, stopped after the test. */
  const inProcess = async (...args: Parameters<typeof startInProcess>) => {
    const a = await startInProcess(...args)
    cleanups.push(() => a.stop())
    return a
  }
  /** An upstream, and the ambassador with one listener routing everything to it (cluster api). */
  const proxied = async (handler?: Handler, route: Record<string, unknown> = {}) => {
    const u = await upstream(handler)
    const a = await inProcess({
      listeners: [{ port: 0, routes: [{ cluster: 'api', ...route }] }],
      clusters: [tlsCluster('api', u.port, pki)],
    })
    return { url: a.url, port: a.port, u }
  }
  return { pki, cleanups, upstream, inProcess, proxied }
}

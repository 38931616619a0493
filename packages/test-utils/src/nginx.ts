// Debian's nginx with a generated config, on free ports, in a temp prefix: for tests and benches.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, sleep, waitForPort } from './net.ts'
import { tempDir } from './temp.ts'

export interface NginxOptions {
  /**
   * The body of the `http {}` block. Gets the prefix dir and a free port; the default serves
   * stub_status at /nginx_status and a small page at /.
   */
  http?: (ctx: { prefix: string; port: number }) => string
  workers?: number
}

export interface NginxServer {
  port: number
  prefix: string
  url: string
  /** The error log so far, for assertions and failure messages. */
  errorLog(): string
  stop(): Promise<void>
}

export function nginxBinary(): string {
  for (const c of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'])
    if (existsSync(c)) return c
  try {
    return execFileSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error('nginx not found: install it (apt-get install nginx-light)')
  }
}

export function defaultNginxHttp({ port }: { prefix: string; port: number }): string {
  return `
    server {
      listen 127.0.0.1:${port};
      location = /nginx_status { stub_status; }
      location / { return 200 "hello from nginx\\n"; }
    }`
}

export async function startNginx(opts: NginxOptions = {}): Promise<NginxServer> {
  const bin = nginxBinary()
  const dir = tempDir('podkit-nginx-')
  const prefix = dir.path
  for (const d of ['logs', 'tmp']) mkdirSync(join(prefix, d), { recursive: true })
  const port = await freePort()
  const asRoot = process.getuid?.() === 0
  const conf = `
${asRoot ? 'user root;' : ''}
worker_processes ${opts.workers ?? 1};
daemon off;
master_process on;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  ${(opts.http ?? defaultNginxHttp)({ prefix, port })}
}
`
  const confFile = join(prefix, 'nginx.conf')
  writeFileSync(confFile, conf)
  const child: ChildProcess = spawn(bin, ['-p', prefix, '-c', confFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const errorLog = () => {
    try {
      return stderr + readFileSync(join(prefix, 'logs/error.log'), 'utf8')
    } catch {
      return stderr
    }
  }
  try {
    await Promise.race([
      waitForPort(port),
      new Promise((_, reject) =>
        child.once('exit', (code) => reject(new Error(`nginx exited with ${code}: ${errorLog()}`))),
      ),
    ])
  } catch (err) {
    child.kill('SIGKILL')
    dir.cleanup()
    throw err
  }
  return {
    port,
    prefix,
    url: `http://127.0.0.1:${port}`,
    errorLog,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        await Promise.race([exited, sleep(5000)])
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      }
      dir.cleanup()
    },
  }
}

import { execFileSync, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createTestPki, freePort, startNginx, waitForPort } from '@podkit/test-utils'

const pki = createTestPki()
const upstream = await startNginx({
  workers: 1,
  http: ({ port }) =>
    `keepalive_requests 100000; server { listen 127.0.0.1:${port} ssl; ssl_certificate ${pki.server.certFile}; ssl_certificate_key ${pki.server.keyFile}; location / { return 200 "${'x'.repeat(512)}"; } }`,
})
const port = await freePort()
writeFileSync(
  '/tmp/hab/cfg.json',
  JSON.stringify({
    listeners: [{ port, routes: [{ prefix: '/', cluster: 'up' }] }],
    clusters: [
      {
        name: 'up',
        endpoints: [`127.0.0.1:${upstream.port}`],
        tls: { sni: 'localhost', caFile: pki.ca.certFile },
      },
    ],
  }),
)
const flags = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean)
const child = spawn(
  process.execPath,
  [
    ...flags,
    process.env.ENTRY ?? '/work/main/packages/http-ambassador/dist/main.js',
    '--config',
    '/tmp/hab/cfg.json',
  ],
  {
    env: { ...process.env, ADMIN_PORT: '0', ACCESS_LOG: process.env.ACCESS_LOG ?? 'true' },
    stdio: ['ignore', 'ignore', 'inherit'],
    cwd: '/tmp/hab',
  },
)
await waitForPort(port)
const rss = () =>
  execFileSync('sh', ['-c', `grep VmRSS /proc/${child.pid}/status`])
    .toString()
    .trim()
console.log('idle', rss())
execFileSync('wrk', ['-t2', '-c50', '-d2s', `http://127.0.0.1:${port}/`])
const out = execFileSync('wrk', ['-t2', '-c50', '-d5s', '--latency', `http://127.0.0.1:${port}/`]).toString()
console.log(
  out
    .split('\n')
    .filter((l) => /Req|50%|99%|Non|error/.test(l))
    .join('\n'),
)
console.log('after', rss())
child.kill('SIGINT')
if (process.env.NGINX) {
  const ngx = await startNginx({
    workers: 2,
    http: ({ port }) =>
      `upstream backend { server 127.0.0.1:${upstream.port}; keepalive 64; keepalive_requests 100000; } server { listen 127.0.0.1:${port}; location / { proxy_pass https://backend; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_ssl_verify on; proxy_ssl_trusted_certificate ${pki.ca.certFile}; proxy_ssl_name localhost; proxy_ssl_server_name on; proxy_ssl_session_reuse on; } }`,
  })
  execFileSync('wrk', ['-t2', '-c50', '-d2s', `${ngx.url}/`])
  const o2 = execFileSync('wrk', ['-t2', '-c50', '-d5s', '--latency', `${ngx.url}/`]).toString()
  console.log(
    'NGINX',
    o2
      .split('\n')
      .filter((l) => /Requests|99%/.test(l))
      .join(' '),
  )
  await ngx.stop()
}
await new Promise((r) => child.once('exit', r))
await upstream.stop()
pki.cleanup()

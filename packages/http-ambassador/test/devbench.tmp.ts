import { execFile, execFileSync, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { createTestPki, freePort, startNginx, waitForPort } from '@podkit/test-utils'

const pki = createTestPki()
const upstream = await startNginx({
  workers: 1,
  http: ({ port }) =>
    `keepalive_requests 100000; server { listen 127.0.0.1:${port} ssl; ssl_certificate ${pki.server.certFile}; ssl_certificate_key ${pki.server.keyFile}; location / { return 200 "${'x'.repeat(512)}"; } }`,
})
const wrk = async (url: string) => {
  execFileSync('wrk', ['-t2', '-c50', '-d1s', url])
  const o = (
    await promisify(execFile)('wrk', ['-t2', '-c50', `-d${process.env.SECS ?? 4}s`, '--latency', url])
  ).stdout
  return `${/Requests\/sec:\s+([\d.]+)/.exec(o)![1]} p99 ${/99%\s+(\S+)/.exec(o)![1]}`
}
const variants = (process.env.VARIANTS ?? 'log,nolog').split(',')
for (let round = 0; round < Number(process.env.ROUNDS ?? 2); round++) {
  for (const v of variants) {
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
    const flags = [
      ...(v.includes('semi') ? ['--max-semi-space-size=4'] : []),
      ...(process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/hab'] : []),
    ]
    const child = spawn(
      process.execPath,
      [
        ...flags,
        v.includes('floor')
          ? '/tmp/hab/floor.mjs'
          : v.includes('old')
            ? '/tmp/hab/old.js'
            : '/work/main/packages/http-ambassador/dist/main.js',
        '--config',
        '/tmp/hab/cfg.json',
      ],
      {
        env: { ...process.env, ADMIN_PORT: '0', ACCESS_LOG: v.includes('nolog') ? 'false' : 'true' },
        stdio: [
          'ignore',
          process.env.LOGFILE ? (await import('node:fs')).openSync(process.env.LOGFILE, 'w') : 'ignore',
          'inherit',
        ],
      },
    )
    await waitForPort(port)
    let peak = 0
    const t = setInterval(() => {
      try {
        peak = Math.max(
          peak,
          Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024,
        )
      } catch {}
    }, 100)
    const cpu = () => {
      const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      return (Number(f[11]) + Number(f[12])) / 100
    }
    const c0 = cpu(),
      t0 = Date.now()
    const r0 = await wrk(`http://127.0.0.1:${port}/`)
    const r = `${r0} cpu ${((cpu() - c0) / ((Date.now() - t0) / 1000)).toFixed(2)}`
    clearInterval(t)
    console.log(round, v.padEnd(12), r, 'peakRSS', peak.toFixed(0))
    child.kill(process.env.PROF ? 'SIGINT' : 'SIGKILL')
    if (process.env.PROF) await new Promise((r) => setTimeout(r, 7000))
  }
  if (process.env.NGINX) {
    const ngx = await startNginx({
      workers: 2,
      http: ({ port }) =>
        `upstream backend { server 127.0.0.1:${upstream.port}; keepalive 64; keepalive_requests 100000; } server { listen 127.0.0.1:${port}; location / { proxy_pass https://backend; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_ssl_verify on; proxy_ssl_trusted_certificate ${pki.ca.certFile}; proxy_ssl_name localhost; proxy_ssl_server_name on; proxy_ssl_session_reuse on; } }`,
    })
    console.log(round, 'nginx'.padEnd(12), await wrk(`${ngx.url}/`))
    await ngx.stop()
  }
}
await upstream.stop()
pki.cleanup()
process.exit(0)

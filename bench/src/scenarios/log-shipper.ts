// log-shipper: ship 1,000,000 nginx access lines (about 125 MiB) from a tailed file to a local TCP
// receiver. Peer: rsyslog (Debian 8.2302, imfile -> omfwd TCP, raw lines, no parsing). Ours:
// tail + the seed's nginx regex parser + the seed's modify filter -> forward (PackedForward), and
// the same without a parser (raw mode, reported in MiB/s too). Each round links the pre-written
// file into an empty watched directory and times until the receiver counted every line. Ours
// runs with the image's NODE_OPTIONS on the images' Node (imageNode()) and on this machine's Node.
// Usage: pnpm bench log-shipper [lines=1000000] [rounds=3]

import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, linkSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, waitFor } from '@podkit/test-utils'
import {
  type Contender,
  ensureDebianPackages,
  imageNode,
  nodeVersion,
  type RunResult,
  runScenario,
  serviceNodeOptions,
} from '../harness.ts'

const ENTRY = fileURLToPath(new URL('../../../packages/log-shipper/dist/main.js', import.meta.url))
const PARSERS = fileURLToPath(
  new URL('../../../packages/log-shipper/test/fixtures/parsers.conf', import.meta.url),
)

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

async function writeAccessLog(file: string, lines: number): Promise<void> {
  const out = createWriteStream(file)
  const base = Date.UTC(2026, 10, 24, 10, 0, 0)
  let buf = ''
  for (let i = 0; i < lines; i++) {
    const d = new Date(base + i * 10)
    const p = (n: number) => String(n).padStart(2, '0')
    buf += `10.${i % 250}.${(i >> 8) % 250}.${i % 7} - - [${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000] "GET /api/v1/items/${i}?page=${i % 17} HTTP/1.1" ${[200, 201, 304, 404][i % 4]} ${100 + (i % 9000)} "https://shop.example/p/${i % 1000}" "Mozilla/5.0 (X11; Linux x86_64)"\n`
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', () => r()))
      buf = ''
    }
  }
  out.end(buf)
  await new Promise<void>((r) => out.on('finish', () => r()))
}

const ENTRY_HEAD = Buffer.from([0x92, 0xd7, 0x00])

/** Counts newline-framed lines (rsyslog) or the records inside forward messages (ours). */
class Receiver {
  count = 0
  bytes = 0
  private server: Server | undefined
  port = 0

  async start(mode: 'lines' | 'forward'): Promise<void> {
    this.server = createServer((s) => {
      let pending: Buffer = Buffer.alloc(0)
      s.on('data', (d: Buffer) => {
        this.bytes += d.length
        if (mode === 'lines') {
          for (let i = d.indexOf(10); i !== -1; i = d.indexOf(10, i + 1)) this.count++
          return
        }
        // Each PackedForward entry starts [fixarray 2, fixext 8, type 0] (0x92 0xd7 0x00): with
        // ASCII records those bytes appear nowhere else, so a native search counts the records
        // as cheaply as rsyslog's receiver counts newlines (a msgpack walk in JS would slow the
        // machine under our contender only). 2 bytes of a header may straddle two reads.
        const scan = pending.length ? Buffer.concat([pending, d]) : d
        let at = 0
        for (let i = scan.indexOf(ENTRY_HEAD); i !== -1; i = scan.indexOf(ENTRY_HEAD, i + 3)) {
          this.count++
          at = i + 3
        }
        pending = scan.subarray(Math.max(at, scan.length - 2))
      })
      s.on('error', () => {})
    })
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()))
    const a = this.server.address()
    this.port = typeof a === 'object' && a ? a.port : 0
  }

  reset(): void {
    this.count = 0
    this.bytes = 0
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server?.close(() => r()) ?? r())
  }
}

function killTree(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGKILL')
  })
}

export async function run(args: string[]) {
  ensureDebianPackages([{ pkg: 'rsyslog', binary: '/usr/sbin/rsyslogd' }])
  const lines = Number(args[0] ?? 1_000_000)
  const rounds = Number(args[1] ?? 3)
  const root = mkdtempSync(join(tmpdir(), 'bench-shipper-'))
  const source = join(root, 'access.source')
  console.log(`writing ${lines} nginx lines to ${source}`)
  await writeAccessLog(source, lines)
  const size = statSync(source).size
  console.log(`${(size / 1048576).toFixed(1)} MiB`)
  let roundNo = 0

  const timed = async (recv: Receiver, dir: string): Promise<RunResult> => {
    recv.reset()
    const t0 = performance.now()
    linkSync(source, join(dir, 'access.log'))
    await waitFor(() => recv.count >= lines, 300_000, `${lines} lines at the receiver (have ${recv.count})`)
    const secs = (performance.now() - t0) / 1000
    return {
      throughput: Math.round(lines / secs),
      unit: 'lines/s',
      extra: {
        seconds: Math.round(secs * 100) / 100,
        MiBps: Math.round((size / 1048576 / secs) * 10) / 10,
        wireMiB: Math.round(recv.bytes / 1048576),
      },
    }
  }

  const rsyslog = (): Contender & { recv?: Receiver; dir?: string } => ({
    name: 'rsyslog imfile -> omfwd (peer, raw)',
    async start() {
      const recv = new Receiver()
      await recv.start('lines')
      const dir = join(root, `rsyslog-${++roundNo}`)
      const work = join(dir, 'work')
      mkdirSync(join(dir, 'logs'), { recursive: true })
      mkdirSync(work)
      const conf = join(dir, 'rsyslog.conf')
      writeFileSync(
        conf,
        `global(workDirectory="${work}")
module(load="imfile" mode="inotify")
template(name="raw" type="string" string="%msg%\\n")
input(type="imfile" file="${join(dir, 'logs')}/*.log" tag="nginx" freshStartTail="off" readMode="0")
action(type="omfwd" target="127.0.0.1" port="${recv.port}" protocol="tcp" template="raw")
`,
      )
      const child = spawn('/usr/sbin/rsyslogd', ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], {
        stdio: 'ignore',
      })
      await new Promise((r) => setTimeout(r, 500))
      this.recv = recv
      this.dir = join(dir, 'logs')
      return {
        pids: [child.pid!],
        stop: async () => {
          await killTree(child)
          await recv.stop()
        },
      }
    },
    run() {
      return timed(this.recv!, this.dir!)
    },
  })

  // Ours as the image runs it: the image's NODE_OPTIONS (podkit.nodeOptions of log-shipper's
  // package.json), on the images' Node and on this machine's Node.
  const nodeOptions = serviceNodeOptions('log-shipper')
  const image = imageNode()
  const label = (node: string) =>
    `Node ${nodeVersion(node)}, ${nodeOptions ? `NODE_OPTIONS=${nodeOptions}` : 'no NODE_OPTIONS'}`
  const ours = (parse: boolean, node: string): Contender & { recv?: Receiver; dir?: string } => ({
    name: `${parse ? 'podkit log-shipper (nginx regex + modify' : 'podkit log-shipper (raw, no parser'}; ${label(node)})`,
    async start() {
      const recv = new Receiver()
      await recv.start('forward')
      const dir = join(root, `ours-${++roundNo}`)
      mkdirSync(join(dir, 'logs'), { recursive: true })
      const conf = join(dir, 'fluent-bit.conf')
      writeFileSync(
        conf,
        `[SERVICE]
    Flush         0.2
    Log_Level     warn
    Parsers_File  ${PARSERS}

[INPUT]
    Name              tail
    Path              ${join(dir, 'logs')}/*.log
${parse ? '    Parser            nginx\n' : ''}    Tag               nginx.*
    Refresh_Interval  1
    Mem_Buf_Limit     5MB
    Skip_Long_Lines   On

[FILTER]
    Name              modify
    Match             *
    Add               pod_name \${POD_NAME}
    Add               namespace \${POD_NAMESPACE}

[OUTPUT]
    Name              forward
    Match             *
    Host              127.0.0.1
    Port              ${recv.port}
    Retry_Limit       5
`,
      )
      const admin = await freePort()
      const child = spawn(node, [ENTRY, '-c', conf], {
        env: {
          PATH: process.env.PATH,
          NODE_ENV: 'production',
          ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
          POD_NAME: 'web-1',
          POD_NAMESPACE: 'shop',
          ADMIN_PORT: String(admin),
          ADMIN_HOST: '127.0.0.1',
        },
        stdio: 'ignore',
      })
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${admin}/ready`).catch(() => undefined))?.ok,
        15_000,
      )
      this.recv = recv
      this.dir = join(dir, 'logs')
      return {
        pids: [child.pid!],
        stop: async () => {
          await killTree(child)
          await recv.stop()
        },
      }
    },
    run() {
      return timed(this.recv!, this.dir!)
    },
  })

  try {
    const result = await runScenario({
      scenario: 'log-shipper',
      variant: `${lines} nginx lines (${(size / 1048576).toFixed(0)} MiB), tail -> local TCP receiver`,
      rounds,
      contenders: [rsyslog(), ours(true, image), ours(true, process.execPath), ours(false, image)],
    })
    return [result]
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

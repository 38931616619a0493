// log-adapter: converting the seed's `TIMESTAMP LEVEL MESSAGE` lines to JSON, ours against the
// seed's own adapter (its `tail -F | while read; cut; cut; cut; jq` loop, run literally with
// only the paths changed), alternating in one run; then peak RSS while ours converts a 1 GiB file.
// The loop spawns ~8 processes per line, so it gets a 1,000-line sample and its rate is scaled:
// lines/s is comparable, "projected 200k s" is what the full 200,000 lines would take it.
// Ours runs as the image does (node <podkit.nodeArgs> dist/main.js with the image's NODE_OPTIONS,
// podkit.nodeOptions; both in packages/log-adapter/package.json) and is measured on /metrics: on
// the images' Node (imageNode()) and on this machine's Node 20, plus on the images' Node without
// the node arguments (TurboFan on) and without NODE_OPTIONS (V8's default heap sizing) to show
// what each buys. Node 20 gets the NODE_OPTIONS but not the arguments: its V8 has Maglev off by
// default, so --max-opt=2 would leave it the baseline compiler only (~120k lines/s), and the
// image does not run Node 20.
// Usage: pnpm bench log-adapter [rounds, default 3] [--no-1g]

import { type ChildProcess, spawn } from 'node:child_process'
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, sleep, tempDir, waitForPort } from '@podkit/test-utils'
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
} from '../harness.ts'

const entry = fileURLToPath(new URL('../../../packages/log-adapter/dist/main.js', import.meta.url))
const LEVELS = ['INFO', 'INFO', 'DEBUG', 'WARNING', 'INFO', 'ERROR', 'INFO', 'WARN']
const WORDS = ['user', 'order', 'payment', 'cache', 'session', 'request', 'db', 'queue']

/** One seed-format line, ~90 bytes, deterministic from i. */
function seedLine(i: number): string {
  const s = i % 86_400
  const hh = String(Math.floor(s / 3600)).padStart(2, '0')
  const mm = String(Math.floor(s / 60) % 60).padStart(2, '0')
  const ss = String(s % 60).padStart(2, '0')
  const w = WORDS[i % WORDS.length]
  return `2024-01-15 ${hh}:${mm}:${ss}.${String(i % 1000).padStart(3, '0')} ${LEVELS[i % LEVELS.length]} ${w} ${i} handled in ${i % 97}ms from 10.0.${i % 256}.${i % 7} id=${w}-${i}\n`
}

function lines(n: number, from = 0): string {
  let s = ''
  for (let i = from; i < from + n; i++) s += seedLine(i)
  return s
}

/** The seed's adapter loop, verbatim but for the two paths (and without `apk add jq`). */
function seedScript(raw: string, out: string): string {
  return `
tail -F ${raw} 2>/dev/null | while read line; do
  # Parse custom log format: TIMESTAMP LEVEL MESSAGE
  timestamp=$(echo "$line" | cut -d' ' -f1,2)
  level=$(echo "$line" | cut -d' ' -f3)
  message=$(echo "$line" | cut -d' ' -f4-)

  # Output as JSON
  jq -n \\
    --arg ts "$timestamp" \\
    --arg level "$level" \\
    --arg msg "$message" \\
    --arg pod "$POD_NAME" \\
    '{timestamp: $ts, level: $level, message: $msg, pod: $pod}' \\
    >> ${out}
done
`
}

async function recordsOut(url: string): Promise<number> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text()
    return Number(/^podkit_log_records_out_total\{sink="file"\} (\d+)/m.exec(text)?.[1] ?? 0)
  } catch {
    return 0
  }
}

/** How ours is started: which Node binary, its arguments before the bundle, and NODE_OPTIONS ('' for none). */
interface Runtime {
  node: string
  nodeArgs: string[]
  nodeOptions: string
}

/** "Node v24.x, image NODE_OPTIONS" and the like, for contender names. */
function runtimeLabel(rt: Runtime): string {
  return `Node ${nodeVersion(rt.node)}, ${rt.nodeArgs.length ? `node ${rt.nodeArgs.join(' ')}` : 'no node arguments'}, ${rt.nodeOptions ? `NODE_OPTIONS=${rt.nodeOptions}` : 'no NODE_OPTIONS'}`
}

function startOurs(
  inputPath: string,
  outDir: string,
  rt: Runtime,
): Promise<{ child: ChildProcess; url: string }> {
  return freePort().then(async (port) => {
    const child = spawn(rt.node, [...rt.nodeArgs, entry], {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'production',
        ...(rt.nodeOptions ? { NODE_OPTIONS: rt.nodeOptions } : {}),
        LOG_LEVEL: 'warn',
        ADMIN_HOST: '127.0.0.1',
        ADMIN_PORT: String(port),
        POD_NAME: 'bench-pod',
        LOG_ADAPTER_INPUT_PATHS: inputPath,
        LOG_ADAPTER_OUTPUT: join(outDir, 'app.json'),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    await waitForPort(port)
    return { child, url: `http://127.0.0.1:${port}` }
  })
}

/** CPU seconds (user + system) a process has used: lines per CPU second is lines/s on one core. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // utime, stime in clock ticks (USER_HZ 100)
}

const stopChild = (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill(signal)
  })

/** Ours on `total` lines appended at once; throughput is the steady rate from 10% to 90% of the records. */
function ours(total: number, text: string, rt: Runtime): Contender {
  let state: { child: ChildProcess; url: string; raw: string } | undefined
  return {
    name: `podkit log-adapter (${runtimeLabel(rt)})`,
    async start() {
      const dir = tempDir('podkit-bench-adapter-')
      mkdirSync(join(dir.path, 'raw'))
      mkdirSync(join(dir.path, 'out'))
      const raw = join(dir.path, 'raw/application.log')
      writeFileSync(raw, '')
      const { child, url } = await startOurs(raw, join(dir.path, 'out'), rt)
      state = { child, url, raw }
      return {
        pids: [child.pid!],
        stop: async () => {
          await stopChild(child)
          dir.cleanup()
        },
      }
    },
    async run(): Promise<RunResult> {
      const s = state!
      const cpu0 = cpuSeconds(s.child.pid!)
      const t0 = performance.now()
      writeFileSync(s.raw, text, { flag: 'a' })
      let t10 = 0
      let t90 = 0
      let n = 0
      while (n < total) {
        await sleep(50) // scraping /metrics costs the service CPU too: not more often
        n = await recordsOut(s.url)
        const t = performance.now()
        if (!t10 && n >= total * 0.1) t10 = t
        if (!t90 && n >= total * 0.9) t90 = t
      }
      const end = performance.now()
      return {
        throughput: Math.round((total * 0.8) / ((t90 - t10) / 1000)),
        unit: 'lines/s',
        extra: {
          linesPerCpuSecond: Math.round(total / (cpuSeconds(s.child.pid!) - cpu0)),
          endToEndSeconds: Number(((end - t0) / 1000).toFixed(2)),
          endToEndLinesPerSec: Math.round(total / ((end - t0) / 1000)),
        },
      }
    },
  }
}

function seedLoop(sample: number, scaleTo: number): Contender {
  let state: { child: ChildProcess; raw: string; out: string } | undefined
  return {
    name: `seed shell + jq loop (peer, ${sample} lines, scaled)`,
    async start() {
      const dir = tempDir('podkit-bench-seed-')
      const raw = join(dir.path, 'application.log')
      const out = join(dir.path, 'app.json')
      writeFileSync(raw, '')
      const child = spawn('sh', ['-c', seedScript(raw, out)], {
        env: { PATH: process.env.PATH ?? '', POD_NAME: 'bench-pod' },
        stdio: 'ignore',
        detached: true,
      })
      state = { child, raw, out }
      await sleep(300) // let tail -F open the file
      return {
        pids: [child.pid!],
        stop: async () => {
          try {
            process.kill(-child.pid!, 'SIGKILL')
          } catch {
            // already gone
          }
          dir.cleanup()
        },
      }
    },
    async run(): Promise<RunResult> {
      const s = state!
      const t0 = performance.now()
      writeFileSync(s.raw, lines(sample), { flag: 'a' })
      // jq pretty-prints one key per line: count the records by their "pod" key.
      const count = () => (existsSync(s.out) ? readFileSync(s.out, 'utf8').split('"pod":').length - 1 : 0)
      while (count() < sample) await sleep(100)
      const secs = (performance.now() - t0) / 1000
      return {
        throughput: Math.round(sample / secs),
        unit: 'lines/s',
        extra: {
          sampleSeconds: Number(secs.toFixed(2)),
          [`projected${scaleTo / 1000}kSeconds`]: Math.round((scaleTo / sample) * secs),
        },
      }
    },
  }
}

/** A cached 1 GiB seed-format file (generated once). */
function gigabyteFile(): { path: string; lines: number } {
  const dir = '/tmp/podkit-bench'
  mkdirSync(dir, { recursive: true })
  const path = join(dir, 'seed-1gib.log')
  const meta = `${path}.lines`
  if (existsSync(path) && existsSync(meta) && statSync(path).size >= 1024 ** 3) {
    return { path, lines: Number(readFileSync(meta, 'utf8')) }
  }
  console.log('generating a 1 GiB seed-format file (once) ...')
  const fd = openSync(path, 'w')
  let size = 0
  let i = 0
  while (size < 1024 ** 3) {
    const block = lines(50_000, i)
    i += 50_000
    size += Buffer.byteLength(block)
    writeSync(fd, block)
  }
  closeSync(fd)
  writeFileSync(meta, String(i))
  return { path, lines: i }
}

/** Peak RSS of ours converting 1 GiB: the file is hard-linked into the watched path in run(). */
function gigabyte(rt: Runtime): Contender {
  const big = gigabyteFile()
  let state: { url: string; target: string; pid: number } | undefined
  return {
    name: `podkit log-adapter (${runtimeLabel(rt)}), 1 GiB (${(big.lines / 1e6).toFixed(1)}M lines)`,
    async start() {
      const dir = tempDir('podkit-bench-1g-')
      mkdirSync(join(dir.path, 'raw'))
      mkdirSync(join(dir.path, 'out'))
      const target = join(dir.path, 'raw/application.log')
      const { child, url } = await startOurs(target, join(dir.path, 'out'), rt)
      state = { url, target, pid: child.pid! }
      return {
        pids: [child.pid!],
        stop: async () => {
          await stopChild(child)
          dir.cleanup()
        },
      }
    },
    async run(): Promise<RunResult> {
      const s = state!
      const cpu0 = cpuSeconds(s.pid)
      const t0 = performance.now()
      linkSync(big.path, s.target) // a new file appears: read from its start
      let n = 0
      while (n < big.lines) {
        await sleep(250)
        n = await recordsOut(s.url)
      }
      const secs = (performance.now() - t0) / 1000
      return {
        throughput: Math.round(big.lines / secs),
        unit: 'lines/s',
        extra: {
          seconds: Number(secs.toFixed(1)),
          linesPerCpuSecond: Math.round(big.lines / (cpuSeconds(s.pid) - cpu0)),
        },
      }
    },
  }
}

export async function run(args: string[]): Promise<ScenarioResult[]> {
  ensureDebianPackages([{ pkg: 'jq', binary: 'jq' }])
  const rounds = Number(args.find((a) => /^\d+$/.test(a)) ?? 3)
  const total = 200_000
  const text = lines(total)
  const nodeOptions = serviceNodeOptions('log-adapter')
  const nodeArgs = serviceNodeArgs('log-adapter')
  const image: Runtime = { node: imageNode(), nodeArgs, nodeOptions }
  const local: Runtime = { node: process.execPath, nodeArgs: [], nodeOptions }
  const imageNoArgs: Runtime = { node: image.node, nodeArgs: [], nodeOptions }
  const imageDefaultHeap: Runtime = { node: image.node, nodeArgs, nodeOptions: '' }
  const results = [
    await runScenario({
      scenario: 'log-adapter',
      variant: `${total.toLocaleString('en')} seed-format lines to JSON (peer: 1,000-line sample, scaled)`,
      rounds,
      contenders: [
        seedLoop(1000, total),
        ours(total, text, image),
        ours(total, text, local),
        ...(nodeArgs.length ? [ours(total, text, imageNoArgs)] : []),
        ours(total, text, imageDefaultHeap),
      ],
    }),
  ]
  if (!args.includes('--no-1g')) {
    results.push(
      await runScenario({
        scenario: 'log-adapter',
        variant: 'peak RSS converting a 1 GiB file (ours only: the loop would take days)',
        rounds: 1,
        contenders: [gigabyte(image), gigabyte(local)],
      }),
    )
  }
  return results
}

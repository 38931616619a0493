// The benchmark harness: runs contenders (the peer tool and ours, against the same backend) in
// alternating rounds, A B A B ..., samples each service process's RSS, and reports per-round and
// median throughput, latency p50/p99, peak RSS and the ratio of each contender to the first
// (the peer). Results go to bench/results/<scenario>.json and .md.

import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface RunResult {
  /** Work per second: requests, scrapes, transactions, lines. */
  throughput: number
  /** Unit of throughput, e.g. 'req/s'. */
  unit: string
  p50Ms?: number
  p99Ms?: number
  /** Anything else worth keeping (errors, bytes/s). */
  extra?: Record<string, number | string>
}

export interface Contender {
  name: string
  /** Starts the service; returns the pids whose RSS counts and a stop function. */
  start(): Promise<{ pids: number[]; stop(): Promise<void> }>
  /** One measured run against the started service. */
  run(): Promise<RunResult>
}

export interface ScenarioResult {
  scenario: string
  variant: string
  rounds: number
  machine: { cpus: number; node: string; date: string }
  contenders: Array<{
    name: string
    runs: Array<RunResult & { peakRssMiB: number; idleRssMiB: number }>
    median: { throughput: number; p50Ms?: number; p99Ms?: number; peakRssMiB: number; idleRssMiB: number }
    ratio: number
  }>
}

/** Resident set size of a process in MiB, from /proc. */
export function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
    return kb / 1024
  } catch {
    return 0
  }
}

/** Every descendant pid of a process (nginx workers, postgres backends), itself included. */
export function processTree(pid: number): number[] {
  const out = [pid]
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
    for (const c of children) out.push(...processTree(Number(c)))
  } catch {
    // exited
  }
  return out
}

/** Samples the summed RSS of pids (and their children) every 50 ms until stopped; returns the peak. */
export function sampleRss(pids: number[]): { stop(): number; now(): number } {
  const sum = () => pids.flatMap(processTree).reduce((a, p) => a + rssMiB(p), 0)
  let peak = sum()
  const timer = setInterval(() => {
    peak = Math.max(peak, sum())
  }, 50)
  return {
    now: sum,
    stop() {
      clearInterval(timer)
      peak = Math.max(peak, sum())
      return peak
    },
  }
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  return n === 0 ? 0 : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2
}

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return 0
  return sortedMs[Math.min(sortedMs.length - 1, Math.floor((p / 100) * sortedMs.length))]!
}

export async function runScenario(opts: {
  scenario: string
  variant?: string
  rounds?: number
  contenders: Contender[]
  log?: (line: string) => void
}): Promise<ScenarioResult> {
  const log = opts.log ?? ((l: string) => console.log(l))
  const rounds = opts.rounds ?? 3
  const runs = new Map<string, ScenarioResult['contenders'][number]['runs']>()
  for (const c of opts.contenders) runs.set(c.name, [])
  for (let round = 1; round <= rounds; round++) {
    for (const c of opts.contenders) {
      const svc = await c.start()
      await new Promise((r) => setTimeout(r, 300))
      const idle = sampleRss(svc.pids).now()
      const sampler = sampleRss(svc.pids)
      let result: RunResult
      let peak: number
      try {
        result = await c.run()
      } finally {
        peak = sampler.stop()
        await svc.stop()
      }
      const row = { ...result, peakRssMiB: round2(peak), idleRssMiB: round2(idle) }
      runs.get(c.name)!.push(row)
      log(
        `round ${round} ${c.name.padEnd(28)} ${fmt(result.throughput)} ${result.unit}  p50 ${fmt(result.p50Ms)} ms  p99 ${fmt(result.p99Ms)} ms  peak RSS ${fmt(peak)} MiB`,
      )
    }
  }
  const base = median(runs.get(opts.contenders[0]!.name)!.map((r) => r.throughput))
  const result: ScenarioResult = {
    scenario: opts.scenario,
    variant: opts.variant ?? 'default',
    rounds,
    machine: {
      cpus: (await import('node:os')).cpus().length,
      node: process.version,
      date: new Date().toISOString(),
    },
    contenders: opts.contenders.map((c) => {
      const rs = runs.get(c.name)!
      const m = {
        throughput: round2(median(rs.map((r) => r.throughput))),
        p50Ms: optMedian(rs.map((r) => r.p50Ms)),
        p99Ms: optMedian(rs.map((r) => r.p99Ms)),
        peakRssMiB: round2(Math.max(...rs.map((r) => r.peakRssMiB))),
        idleRssMiB: round2(median(rs.map((r) => r.idleRssMiB))),
      }
      return { name: c.name, runs: rs, median: m, ratio: base ? round2(m.throughput / base) : 0 }
    }),
  }
  return result
}

function optMedian(xs: Array<number | undefined>): number | undefined {
  const d = xs.filter((x): x is number => x !== undefined)
  return d.length ? round2(median(d)) : undefined
}

const round2 = (x: number) => Math.round(x * 100) / 100
const fmt = (x: number | undefined) => (x === undefined ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(2))

export function toMarkdown(results: ScenarioResult[]): string {
  const out: string[] = []
  for (const r of results) {
    out.push(`### ${r.scenario}: ${r.variant}`, '')
    out.push(
      `${r.rounds} alternating rounds, ${r.machine.cpus} CPUs, Node ${r.machine.node}, ${r.machine.date.slice(0, 10)}.`,
      '',
    )
    out.push('| contender | throughput | p50 ms | p99 ms | peak RSS MiB | idle RSS MiB | ratio to peer |')
    out.push('| --- | --- | --- | --- | --- | --- | --- |')
    for (const c of r.contenders) {
      const unit = c.runs[0]?.unit ?? ''
      out.push(
        `| ${c.name} | ${fmt(c.median.throughput)} ${unit} | ${fmt(c.median.p50Ms)} | ${fmt(c.median.p99Ms)} | ${fmt(c.median.peakRssMiB)} | ${fmt(c.median.idleRssMiB)} | ${c.ratio.toFixed(2)}x |`,
      )
    }
    out.push('')
  }
  return out.join('\n')
}

export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results')

export function writeResults(scenario: string, results: ScenarioResult[]): void {
  mkdirSync(resultsDir, { recursive: true })
  writeFileSync(join(resultsDir, `${scenario}.json`), `${JSON.stringify(results, null, 2)}\n`)
  writeFileSync(join(resultsDir, `${scenario}.md`), toMarkdown(results))
}

/** Installs Debian packages the peer needs when their binaries are missing. */
export function ensureDebianPackages(pkgs: Array<{ pkg: string; binary: string }>): void {
  const missing = pkgs.filter((p) => {
    try {
      execFileSync('sh', ['-c', `command -v ${p.binary} || test -x ${p.binary}`], { stdio: 'ignore' })
      return false
    } catch {
      return true
    }
  })
  if (missing.length === 0) return
  const names = missing.map((m) => m.pkg)
  console.log(`installing ${names.join(' ')} from Debian`)
  execFileSync(
    'sh',
    ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${names.join(' ')}`],
    {
      stdio: 'inherit',
    },
  )
}

// What the image starts a service with: its NODE_OPTIONS (podkit.nodeOptions) and the node
// arguments before its bundle (podkit.nodeArgs). Benchmarks measure what the image runs.
export {
  imageNode,
  imageNodeArgs as serviceNodeArgs,
  imageNodeMajor,
  imageNodeOptions as serviceNodeOptions,
  nodeVersion,
} from '@podkit/test-utils'

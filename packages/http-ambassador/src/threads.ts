// Serving on several CPUs, as Envoy's --concurrency and nginx's worker_processes do: the main thread
// serves and runs the admin server; concurrency - 1 worker threads run the same listeners on the
// same ports with SO_REUSEPORT, so the kernel spreads connections over them. Threads rather than
// processes: a process repeats Node's ~35-55 MiB of resident binary and a second admin server,
// a thread costs its own heap (~15-20 MiB). The main thread supervises them: restarts a thread that
// died, hands drain and stop on, and adds their counts to /stats and /clusters.

import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { Logger } from '@podkit/runtime'
import type { Config } from './config.ts'
import type { MetricsSnapshot } from './metrics.ts'
import type { SharedState } from './shared.ts'

/** What a worker thread is started with (workerData). */
export interface WorkerData {
  podkitHttpAmbassadorWorker: true
  index: number
  config: Config
  /** The ports the main thread bound (resolves port 0). */
  ports: number[]
  /** The breakers' counts and rate-limit buckets of every thread (shared.ts). */
  shared: SharedArrayBuffer
  threads: number
}

export type ToWorker =
  | { type: 'stats'; id: number }
  | { type: 'drain'; graceful: boolean }
  | { type: 'stop'; deadline: number }

export type FromWorker =
  | { type: 'ready' }
  | { type: 'stats'; id: number; snapshot: MetricsSnapshot }
  | { type: 'failed'; message: string }

/** SO_REUSEPORT listening came with Node 22.12 and 23.1 (net.Server listen's reusePort). */
export function reusePortSupported(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number)
  return major >= 23 || (major === 22 && minor >= 12)
}

/**
 * Memory to count for the first thread and for each further one: the peaks measured on Node 26
 * under wrk -c 50 (README "Benchmarks": ~98 MiB for one thread, ~25-30 more for the second) with
 * room for bursts, so the seed's 128 MiB pod runs one thread and 160 MiB runs two.
 */
const FIRST_THREAD_MIB = 112
const MORE_THREAD_MIB = 32
/** Old-generation cap of each worker thread's heap (Worker resourceLimits). */
export const WORKER_OLD_SPACE_MIB = 48

/**
 * The threads this container should run: one fewer than the CPUs it may use (the CPU affinity
 * mask, os.availableParallelism, capped by the cgroup's CPU quota: v2 cpu.max or v1
 * cfs_quota_us / cfs_period_us, rounded up), at least one, and no more than its memory limit
 * (cgroup v2 memory.max or v1 memory.limit_in_bytes) holds: 112 MiB for the first thread, 32 MiB
 * for each further one. One CPU is left to the app: an ambassador is only busy while the app
 * beside it is, and on 2 CPUs shared with its caller a second thread measured +10-20% req/s for
 * a p99 of 2.2x nginx's instead of 1.8x, ~25 MiB more and ~10% of its time in task switches
 * (README "Benchmarks").
 */
export function defaultConcurrency(
  read: (path: string) => string | undefined = (p) => {
    try {
      return readFileSync(p, 'utf8')
    } catch {
      return undefined
    }
  },
  cpus = availableParallelism(),
): number {
  let quota: number | undefined
  const v2 = read('/sys/fs/cgroup/cpu.max')?.trim().split(/\s+/)
  if (v2 && v2[0] !== 'max' && Number(v2[0]) > 0 && Number(v2[1]) > 0) quota = Number(v2[0]) / Number(v2[1])
  else if (!v2) {
    const q = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'))
    const p = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us'))
    if (q > 0 && p > 0) quota = q / p
  }
  let threads = Math.max(1, Math.min(cpus, quota === undefined ? cpus : Math.ceil(quota)) - 1)
  const mem = Number(
    (read('/sys/fs/cgroup/memory.max') ?? read('/sys/fs/cgroup/memory/memory.limit_in_bytes'))?.trim(),
  )
  // "max" (v2) reads as NaN; v1 says "no limit" with a number near 2^63.
  if (mem > 0 && mem < 2 ** 50) {
    const mib = mem / 2 ** 20
    threads = Math.min(threads, 1 + Math.max(0, Math.floor((mib - FIRST_THREAD_MIB) / MORE_THREAD_MIB)))
  }
  return threads
}

interface Slot {
  index: number
  worker: Worker | undefined
  started: number
  /** The last counts this thread reported: used when it does not answer, kept when it dies. */
  last: MetricsSnapshot | undefined
  restartDelay: number
}

/** The worker threads of one process, their restarts, and their counts. */
export class WorkerThreads {
  private readonly slots: Slot[] = []
  private stopping = false
  private nextId = 1
  private readonly waiting = new Map<number, (s: MetricsSnapshot | undefined) => void>()
  /** Counts of threads that died, so the process's counters never go backwards. */
  private readonly retired: MetricsSnapshot[] = []
  private asked: Promise<MetricsSnapshot[]> | undefined
  private readonly exits = new Set<() => void>()

  constructor(
    private readonly opts: {
      /** The bundle (dist/main.js): a worker thread runs the same file. */
      entry: string
      count: number
      config: Config
      ports: number[]
      logger: Logger
      shared: SharedState
    },
  ) {}

  /** Starts every thread; resolves when each listens (or rejects with the first failure). */
  async start(): Promise<void> {
    const ready: Array<Promise<void>> = []
    for (let i = 0; i < this.opts.count; i++) {
      const slot: Slot = { index: i + 1, worker: undefined, started: 0, last: undefined, restartDelay: 500 }
      this.slots.push(slot)
      ready.push(this.spawn(slot))
    }
    await Promise.all(ready)
  }

  /** The running worker threads. */
  threads(): Worker[] {
    return this.slots.flatMap((s) => (s.worker ? [s.worker] : []))
  }

  get size(): number {
    return this.slots.filter((s) => s.worker).length
  }

  private spawn(slot: Slot): Promise<void> {
    const data: WorkerData = {
      podkitHttpAmbassadorWorker: true,
      index: slot.index,
      config: this.opts.config,
      ports: this.opts.ports,
      shared: this.opts.shared.buffer as SharedArrayBuffer,
      threads: this.opts.shared.threads,
    }
    // stdout/stderr stay the process's: worker threads write their log lines to fd 1 themselves.
    const worker = new Worker(this.opts.entry, {
      workerData: data,
      // A cap, not a tuning: a thread's heap holds ~13 MiB live under load (measured on Node 26),
      // V8's default limit is ~4 GiB; a thread that runs away dies and is restarted instead of
      // taking the pod's memory. (Its young generation follows the process's --max-semi-space-size.)
      resourceLimits: { maxOldGenerationSizeMb: WORKER_OLD_SPACE_MIB },
    })
    slot.worker = worker
    slot.started = Date.now()
    return new Promise<void>((resolve, reject) => {
      let listening = false
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          listening = true
          this.opts.logger.info({ thread: slot.index, threadId: worker.threadId }, 'Worker thread serving.')
          resolve()
        } else if (m.type === 'failed') reject(new Error(`worker thread ${slot.index}: ${m.message}`))
        else if (m.type === 'stats') {
          slot.last = m.snapshot
          this.waiting.get(m.id)?.(m.snapshot)
        }
      })
      worker.on('error', (err) => {
        this.opts.logger.error(
          { thread: slot.index, err: { message: err.message, stack: err.stack } },
          'A worker thread failed.',
        )
        if (!listening) reject(err)
      })
      worker.on('exit', (code) => {
        slot.worker = undefined
        // Its requests are no longer in flight, and a rate-limit lock it held is free again.
        this.opts.shared.releaseThread(slot.index)
        if (slot.last) this.retired.push(retire(slot.last))
        slot.last = undefined
        for (const f of this.exits) f()
        if (this.stopping || !listening) return
        // A thread that dies young waits longer before the next try, so a crash loop does not spin.
        slot.restartDelay = Date.now() - slot.started < 5000 ? Math.min(slot.restartDelay * 2, 10_000) : 500
        this.opts.logger.warn(
          { thread: slot.index, code, restartInMs: slot.restartDelay },
          'A worker thread exited; starting a new one.',
        )
        setTimeout(() => {
          if (this.stopping) return
          this.spawn(slot).catch((err: Error) =>
            this.opts.logger.error(
              { thread: slot.index, err: err.message },
              'Restarting a worker thread failed.',
            ),
          )
        }, slot.restartDelay).unref()
      })
    })
  }

  private send(m: ToWorker): void {
    for (const s of this.slots) s.worker?.postMessage(m)
  }

  /**
   * Every thread's counts (worker threads asked now, up to 1 s; the last answer when one is slow),
   * plus those of threads that died. Asked once for all the metrics of one scrape.
   */
  snapshots(): Promise<MetricsSnapshot[]> {
    if (this.asked) return this.asked
    this.asked = Promise.all(
      this.slots.map(
        (slot) =>
          new Promise<MetricsSnapshot | undefined>((resolve) => {
            if (!slot.worker) return resolve(undefined)
            const id = this.nextId++
            const done = (s: MetricsSnapshot | undefined) => {
              clearTimeout(timer)
              this.waiting.delete(id)
              resolve(s)
            }
            const timer = setTimeout(() => done(slot.last), 1000)
            this.waiting.set(id, done)
            slot.worker.postMessage({ type: 'stats', id } satisfies ToWorker)
          }),
      ),
    ).then((live) => {
      setImmediate(() => {
        this.asked = undefined
      })
      return [...this.retired, ...live.filter((s): s is MetricsSnapshot => s !== undefined)]
    })
    return this.asked
  }

  /** Envoy's /drain_listeners, in every thread. */
  drain(graceful: boolean): void {
    this.send({ type: 'drain', graceful })
  }

  /** The SIGTERM drain in every thread; resolves when all have exited (terminated at the deadline). */
  async stop(deadline: number): Promise<void> {
    this.stopping = true
    this.send({ type: 'stop', deadline })
    const gone = new Promise<void>((resolve) => {
      const check = () => {
        if (this.size === 0) {
          this.exits.delete(check)
          resolve()
        }
      }
      this.exits.add(check)
      check()
    })
    const late = setTimeout(
      () => {
        for (const s of this.slots) void s.worker?.terminate()
      },
      Math.max(0, deadline - Date.now() + 500),
    )
    await gone
    clearTimeout(late)
  }
}

/** A dead thread's counts: its totals stay, its gauges (in flight, connections, ejections) go. */
function retire(s: MetricsSnapshot): MetricsSnapshot {
  return {
    counters: s.counters,
    durations: s.durations,
    clusters: s.clusters.map((c) => ({
      name: c.name,
      active: 0,
      connections: 0,
      hosts: c.hosts.map((h) => ({ ...h, active: 0, connected: 0, ejected: false })),
    })),
  }
}

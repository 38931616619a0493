// The process metrics Prometheus users expect of a Node service (the names prom-client's default
// metrics used), computed at scrape time from process.* and /proc/self without loading any module
// beyond node:fs: prom-client's collectors pulled in perf_hooks, v8 and more at import.
// Left out on purpose: per-heap-space sizes (need node:v8), GC durations and event loop delay
// percentiles (need node:perf_hooks observers that run all the time).

import { Counter } from './counter.ts'
import { Gauge } from './gauge.ts'
import type { Registry } from './registry.ts'

// process.getBuiltinModule, not an ESM import: see ../admin-server.ts (the module facade costs memory).
const { readdirSync, readFileSync } = process.getBuiltinModule('node:fs')

interface Snapshot {
  at: number
  rss: number
  vsize: number
  data: number
  heapTotal: number
  heapUsed: number
  external: number
}

const STATUS_FIELD = /^(VmRSS|VmSize|VmData):\s+(\d+) kB$/gm

/** Registers process_* and nodejs_* metrics on a registry. */
export function registerProcessMetrics(registry: Registry): void {
  const registers = [registry]
  const linux = process.platform === 'linux'
  let snap: Snapshot | undefined
  // One read of /proc/self/status and process.memoryUsage() serves every family of one scrape.
  const now = (): Snapshot => {
    const t = Date.now()
    if (snap && t - snap.at < 10) return snap
    const mem = process.memoryUsage()
    const s: Snapshot = {
      at: t,
      rss: mem.rss,
      vsize: 0,
      data: 0,
      heapTotal: mem.heapTotal,
      heapUsed: mem.heapUsed,
      external: mem.external,
    }
    if (linux) {
      try {
        for (const m of readFileSync('/proc/self/status', 'utf8').matchAll(STATUS_FIELD)) {
          const bytes = Number(m[2]) * 1024
          if (m[1] === 'VmRSS') s.rss = bytes
          else if (m[1] === 'VmSize') s.vsize = bytes
          else s.data = bytes
        }
      } catch {
        // /proc not mounted: keep memoryUsage()'s rss
      }
    }
    snap = s
    return s
  }

  let cpu = { user: 0, system: 0 }
  const user = new Counter({
    name: 'process_cpu_user_seconds_total',
    help: 'Total user CPU time spent in seconds.',
    registers,
  })
  const system = new Counter({
    name: 'process_cpu_system_seconds_total',
    help: 'Total system CPU time spent in seconds.',
    registers,
  })
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers,
    collect() {
      // One reading moves all three: a registry runs every collect callback before it renders.
      const c = process.cpuUsage()
      const du = (c.user - cpu.user) / 1e6
      const ds = (c.system - cpu.system) / 1e6
      cpu = c
      user.inc(du)
      system.inc(ds)
      this.inc(du + ds)
    },
  })
  new Gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since unix epoch in seconds.',
    registers,
  }).set(Math.round(Date.now() / 1000 - process.uptime()))
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers,
    collect() {
      this.set(now().rss)
    },
  })
  if (linux) {
    new Gauge({
      name: 'process_virtual_memory_bytes',
      help: 'Virtual memory size in bytes.',
      registers,
      collect() {
        this.set(now().vsize)
      },
    })
    new Gauge({
      name: 'process_heap_bytes',
      help: 'Process heap size in bytes.',
      registers,
      collect() {
        this.set(now().data)
      },
    })
    new Gauge({
      name: 'process_open_fds',
      help: 'Number of open file descriptors.',
      registers,
      collect() {
        try {
          // The directory's own descriptor, open while it is read, is not counted.
          this.set(readdirSync('/proc/self/fd').length - 1)
        } catch {}
      },
    })
    let maxFds: number | undefined
    new Gauge({
      name: 'process_max_fds',
      help: 'Maximum number of open file descriptors.',
      registers,
      collect() {
        if (maxFds === undefined) {
          try {
            const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
            maxFds = m ? Number(m[1]) : Number.NaN
          } catch {
            maxFds = Number.NaN
          }
        }
        if (!Number.isNaN(maxFds)) this.set(maxFds)
      },
    })
  }
  let lagStart: bigint | undefined
  new Gauge({
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Lag of event loop in seconds.',
    registers,
    collect() {
      // How long a setImmediate queued by the previous scrape waited: what prom-client reported.
      if (lagStart !== undefined) return
      const start = process.hrtime.bigint()
      lagStart = start
      setImmediate(() => {
        this.set(Number(process.hrtime.bigint() - start) / 1e9)
        lagStart = undefined
      })
    },
  })
  new Gauge({
    name: 'nodejs_heap_size_total_bytes',
    help: 'Process heap size from Node.js in bytes.',
    registers,
    collect() {
      this.set(now().heapTotal)
    },
  })
  new Gauge({
    name: 'nodejs_heap_size_used_bytes',
    help: 'Process heap size used from Node.js in bytes.',
    registers,
    collect() {
      this.set(now().heapUsed)
    },
  })
  new Gauge({
    name: 'nodejs_external_memory_bytes',
    help: 'Node.js external memory size in bytes.',
    registers,
    collect() {
      this.set(now().external)
    },
  })
  const [major, minor, patch] = process.versions.node.split('.')
  new Gauge({
    name: 'nodejs_version_info',
    help: 'Node.js version info.',
    labelNames: ['version', 'major', 'minor', 'patch'],
    registers,
  }).set({ version: process.version, major: major ?? '', minor: minor ?? '', patch: patch ?? '' }, 1)
  new Gauge({
    name: 'nodejs_active_resources_total',
    help: 'Total number of active resources.',
    registers,
    collect() {
      this.set(process.getActiveResourcesInfo().length)
    },
  })
}

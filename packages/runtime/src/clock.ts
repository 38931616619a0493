// A monotonic clock in milliseconds. The global `performance` is a lazy getter that loads
// node:perf_hooks and its observers (~0.4 MiB resident) on first use; process.hrtime is the same
// clock without them.

/** Milliseconds on a monotonic clock (for durations, not dates). */
export function nowMs(): number {
  const t = process.hrtime()
  return t[0] * 1e3 + t[1] / 1e6
}

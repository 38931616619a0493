// The one clock of the pooler's timestamps (connect, activity, wait, server use): milliseconds
// since the epoch, read from the monotonic performance clock. Date.now() is a call into the V8
// runtime; performance.now() is a fast API call, and the hot path reads it once per socket read
// and passes the value on. Only differences and SHOW output use these values.

// Held here: the global `performance` is a lazy accessor, looked up slowly on every use.
const perf = globalThis.performance
const origin = perf.timeOrigin

export function clock(): number {
  return origin + perf.now()
}

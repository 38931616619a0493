// undici's Pool alone (with its Client and llhttp), not the package index, which also loads fetch,
// WebSocket, EventSource, caches and mock agents. Loaded on first use only: HTTP/1.1 requests go
// through our own client (h1-client.ts); undici serves HTTP/2 upstreams and WebSocket upgrades, so
// a pod that uses neither never evaluates it (less resident memory).

import type { Pool as UndiciPool } from 'undici'

export type Pool = UndiciPool
export type PoolClass = typeof UndiciPool

let loading: Promise<{ Pool: PoolClass }> | undefined

function defaultExport<T>(m: { default?: T } & T): T {
  return m.default ?? m
}

/**
 * Upgrades go through Pool.dispatch with our own handler (listener.ts), not undici's upgrade()
 * API, which the index adds to every Dispatcher (the Pool module alone lacks it) and which turns
 * an upstream's refusal (a 401, a 404) into an error instead of a response to forward.
 */
export function loadUndici(): Promise<{ Pool: PoolClass }> {
  // @ts-expect-error: undici publishes no types for its internal module paths; the types are the index's.
  loading ??= import('undici/lib/dispatcher/pool.js').then((pool) => ({
    Pool: defaultExport(pool) as PoolClass,
  }))
  return loading
}

// undici's Pool alone (with its Client and llhttp), not the package index, which also loads fetch,
// WebSocket, EventSource, caches and mock agents. Loaded on first use only: HTTP/1.1 requests go
// through our own client (h1-client.ts); undici serves HTTP/2 upstreams and WebSocket upgrades, so
// a pod that uses neither never evaluates it (less resident memory).

import type { Pool as UndiciPool } from 'undici'

export type Pool = UndiciPool
export type PoolClass = typeof UndiciPool

let loading: Promise<typeof UndiciPool> | undefined

export function loadUndiciPool(): Promise<typeof UndiciPool> {
  // @ts-expect-error: undici publishes no types for its internal module paths; the type is the index's.
  loading ??= import('undici/lib/dispatcher/pool.js').then((m) => (m.default ?? m) as typeof UndiciPool)
  return loading
}

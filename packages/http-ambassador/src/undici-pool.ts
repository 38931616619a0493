// undici's Pool alone (with its Client and llhttp), not the package index, which also loads fetch,
// WebSocket, EventSource, caches and mock agents. Loaded on first use only: HTTP/1.1 requests go
// through our own client (h1-client.ts); undici serves HTTP/2 upstreams and WebSocket upgrades, so
// a pod that uses neither never evaluates it (less resident memory).

import type { Dispatcher, Pool as UndiciPool } from 'undici'

export type Pool = UndiciPool
export type PoolClass = typeof UndiciPool
export type UpgradeData = Dispatcher.UpgradeData

/**
 * undici's upgrade(), called on a Pool. The index adds it to every Dispatcher's prototype; the
 * Pool module alone does not have it, so the bundle (which never loads the index) calls it
 * directly. (Tests that import 'undici' themselves hid this: the shipped bundle crashed on its
 * first WebSocket upgrade before.)
 */
export type UpgradeFn = (this: Pool, opts: Dispatcher.UpgradeOptions) => Promise<UpgradeData>

let loading: Promise<{ Pool: PoolClass; upgrade: UpgradeFn }> | undefined

function defaultExport<T>(m: { default?: T } & T): T {
  return m.default ?? m
}

export function loadUndici(): Promise<{ Pool: PoolClass; upgrade: UpgradeFn }> {
  loading ??= Promise.all([
    // @ts-expect-error: undici publishes no types for its internal module paths; the types are the index's.
    import('undici/lib/dispatcher/pool.js'),
    // @ts-expect-error: as above.
    import('undici/lib/api/api-upgrade.js'),
  ]).then(([pool, upgrade]) => ({
    Pool: defaultExport(pool) as PoolClass,
    upgrade: defaultExport(upgrade) as UpgradeFn,
  }))
  return loading
}

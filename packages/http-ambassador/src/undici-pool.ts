// undici's Pool alone (with its Client and llhttp), not the package index, which also loads fetch,
// WebSocket, EventSource, caches and mock agents: a smaller bundle and a smaller resident process.

import type { Pool as UndiciPool } from 'undici'
// @ts-expect-error: undici publishes no types for its internal module paths; the type is the index's.
import PoolImpl from 'undici/lib/dispatcher/pool.js'

export const Pool = PoolImpl as typeof UndiciPool
export type Pool = UndiciPool

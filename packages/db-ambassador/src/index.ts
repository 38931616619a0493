// @podkit/db-ambassador: a PgBouncer-compatible pooling PostgreSQL ambassador, as a library.
// main.ts runs it as a process; see README.md.

import type { Logger, Registry } from '@podkit/runtime'
import { Ambassador } from './ambassador.ts'
import type { AmbassadorConfig } from './config.ts'

export { Ambassador, type AmbassadorDeps } from './ambassador.ts'
export { md5Response, md5Secret } from './auth/md5.ts'
export { formatScramSecret, ScramClient, ScramServer, scramSecretFromPassword } from './auth/scram.ts'
export { parseUserlist, type UserSecret } from './auth/userlist.ts'
export {
  type AmbassadorConfig,
  type AmbassadorOptions,
  ENV_PREFIX,
  loadAmbassadorConfig,
  prepareCompat,
  schema,
  validateConfig,
  withDatabases,
} from './config.ts'
export { type DatabaseEntry, type PoolMode, parseDatabaseEntry } from './connstring.ts'
export * from './errors.ts'
export { bitnamiEnv, parsePgbouncerIni } from './pgbouncer-ini.ts'

/** Builds an ambassador from a loaded config; `start()` listens, `stop()` drains. */
export function createDbAmbassador(
  config: AmbassadorConfig,
  deps: { logger: Logger; registry?: Registry; loadConfig?: () => AmbassadorConfig; onShutdown?: () => void },
) {
  const amb = new Ambassador(config, deps)
  return {
    ambassador: amb,
    start: () => amb.start(),
    stop: (ctx?: { deadline: number; signal: AbortSignal }) =>
      amb.stop(ctx ?? { deadline: Date.now() + config.shutdown.grace, signal: new AbortController().signal }),
    reload: (next: AmbassadorConfig) => amb.reload(next),
    address: () => amb.address(),
    ready: () => amb.ready(),
  }
}

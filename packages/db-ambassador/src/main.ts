// The db-ambassador process: pgbouncer.ini / bitnami env / DB_AMBASSADOR_* config, the pooler on
// listen_port, the admin server (/healthz, /ready, /metrics) on ADMIN_PORT, SIGHUP reload and a
// SIGTERM drain that lets running transactions finish.

import { runService } from '@podkit/runtime'
import {
  type AmbassadorOptions,
  ENV_PREFIX,
  loadAmbassadorConfig,
  prepareCompat,
  schema,
  validateConfig,
  withDatabases,
} from './config.ts'
import { createDbAmbassador } from './index.ts'

let compatWarnings: string[] = []

await runService({
  name: 'db-ambassador',
  summary:
    'A PgBouncer-compatible pooling PostgreSQL ambassador: reads pgbouncer.ini, userlist.txt and the bitnami/pgbouncer env vars.',
  schema,
  envPrefix: ENV_PREFIX,
  helpExtra:
    'Also reads pgbouncer.ini (given as the only argument, --pgbouncer-ini, env PGBOUNCER_INI, or /bitnami/pgbouncer/conf/pgbouncer.ini) and the bitnami PGBOUNCER_* / POSTGRESQL_* env vars (with *_FILE variants).',
  prepare(argv, env) {
    const p = prepareCompat(argv, env)
    compatWarnings = p.warnings
    if (argv.includes('--check-config')) for (const w of p.warnings) process.stderr.write(`warning: ${w}\n`)
    return { argv: p.argv, layers: p.layers }
  },
  validate: (config) => validateConfig(config as AmbassadorOptions),
  async start({ config, logger, registry }) {
    for (const w of compatWarnings) logger.warn({ where: w.split(': ')[0] }, `Config: ${w}`)
    const argv = process.argv.slice(2)
    const reloadConfig = () => loadAmbassadorConfig(argv, process.env).config
    const amb = createDbAmbassador(withDatabases(config as AmbassadorOptions), {
      logger,
      registry,
      loadConfig: reloadConfig,
      onShutdown: () => process.kill(process.pid, 'SIGTERM'),
    })
    await amb.start()
    return {
      stop: (ctx) => amb.stop(ctx),
      reload: async () => amb.reload(reloadConfig()),
      ready: () => amb.ready(),
    }
  },
})

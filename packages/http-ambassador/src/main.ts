// The http-ambassador process: our YAML / env vars or Envoy's `-c envoy.yaml`, the listeners,
// Envoy's admin paths on the admin port, and the graceful drain on SIGTERM.

import { existsSync } from 'node:fs'
import { runService } from '@podkit/runtime'
import { registerEnvoyAdmin } from './admin.ts'
import { normalize, schema } from './config.ts'
import { prepareArgs } from './envoy.ts'
import { createHttpAmbassador, type HttpAmbassador } from './index.ts'

let ambassador: HttpAmbassador | undefined

await runService({
  name: 'http-ambassador',
  schema,
  summary:
    'A TLS egress HTTP ambassador: the app calls http://localhost:8001, we forward over verified TLS. Runs Envoy static configs (-c envoy.yaml).',
  helpExtra: [
    'Envoy compatibility:',
    '  -c, --config-path <envoy.yaml>   an Envoy v3 static_resources config (the seed pod runs `envoy -c /etc/envoy/envoy.yaml`)',
    '  --config-yaml <yaml>             inline Envoy config',
    '  -l, --log-level <level>          Envoy levels (trace, debug, info, warning, error, critical, off)',
    '  --drain-time-s <n>               drain time in seconds',
    '  --mode validate                  same as --check-config',
    '  --service-cluster, --service-node, --service-zone, --concurrency, --base-id: accepted, no effect',
  ].join('\n'),
  prepare: (argv) => prepareArgs(argv),
  validate(config) {
    const { issues } = normalize(config)
    // Files named by the config must be there at start, and --check-config should say so.
    config.clusters.forEach((c, i) => {
      if (typeof c.tls !== 'object') return
      for (const k of ['caFile', 'certFile', 'keyFile'] as const) {
        const f = c.tls[k]
        if (f && !existsSync(f))
          issues.push({ key: `clusters.${i}.tls.${k}`, expected: 'a readable file', got: f })
      }
    })
    if (config.caFile && !existsSync(config.caFile))
      issues.push({ key: 'caFile', expected: 'a readable file', got: config.caFile })
    for (const [i, l] of config.listeners.entries()) {
      for (const [j, r] of l.routes.entries()) {
        for (const [h, f] of Object.entries(r.requestHeadersFromFiles ?? {}))
          if (!existsSync(f))
            issues.push({
              key: `listeners.${i}.routes.${j}.requestHeadersFromFiles.${h}`,
              expected: 'a readable file',
              got: f,
            })
      }
    }
    return issues
  },
  async start({ config, logger, registry }) {
    const { spec } = normalize(config)
    ambassador = createHttpAmbassador(spec!, { logger, registry })
    await ambassador.start()
    const amb = ambassador
    return {
      stop: (ctx) => amb.stop(ctx),
      ready: () => (amb.state() === 'LIVE' ? true : amb.state()),
    }
  },
  admin: {
    routes(app, { registry }, control) {
      registerEnvoyAdmin(app, { registry, control, ambassador: () => ambassador })
    },
  },
})

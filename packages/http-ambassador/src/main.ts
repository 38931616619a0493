// The http-ambassador process: our YAML / env vars or Envoy's `-c envoy.yaml`, the listeners,
// Envoy's admin paths on the admin port, and the graceful drain on SIGTERM.

import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { isMainThread, workerData } from 'node:worker_threads'
import { runService } from '@podkit/runtime'
import { registerEnvoyAdmin } from './admin.ts'
import { type Config, normalize, schema } from './config.ts'
import { prepareArgs } from './envoy.ts'
import { bucketCount, createHttpAmbassador, type HttpAmbassador } from './index.ts'
import { SharedState } from './shared.ts'
import { defaultConcurrency, reusePortSupported, WorkerThreads } from './threads.ts'
import { isWorkerData, runWorker } from './worker.ts'

let ambassador: HttpAmbassador | undefined

// The worker threads run this same file (threads.ts): they serve, the main thread runs the service.
if (!isMainThread && isWorkerData(workerData)) await runWorker(workerData)
else await main()

async function main(): Promise<void> {
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
      '  --concurrency <n>                threads serving the listeners (same as our --concurrency)',
      '  --service-cluster, --service-node, --service-zone, --base-id: accepted, no effect',
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
      const wanted = config.concurrency || defaultConcurrency()
      const threads = wanted > 1 && reusePortSupported() ? wanted : 1
      if (threads < wanted)
        logger.warn(
          { concurrency: wanted, node: process.version },
          'Serving on one thread: more than one needs Node 22.12 or later (SO_REUSEPORT).',
        )
      let workers: WorkerThreads | undefined
      // The breakers' counts and rate-limit buckets of every thread (shared.ts).
      const state = SharedState.create(threads, spec!.clusters.length, bucketCount(spec!))
      const amb = createHttpAmbassador(spec!, {
        logger,
        registry,
        shared: { state, thread: 0, init: true },
        reusePort: threads > 1,
        remote: threads > 1 ? () => workers!.snapshots() : undefined,
      })
      await amb.start()
      if (threads > 1) {
        workers = new WorkerThreads({
          entry: fileURLToPath(import.meta.url),
          count: threads - 1,
          config: config as Config,
          ports: amb.listeners().map((l) => l.port),
          logger,
          shared: state,
        })
        try {
          await workers.start()
        } catch (err) {
          await workers.stop(Date.now())
          await amb.stop({ deadline: Date.now() })
          throw err
        }
      }
      logger.info({ threads }, threads > 1 ? 'Serving on several threads.' : 'Serving on one thread.')
      // Drains reach every thread: /drain_listeners here, SIGTERM through stop().
      ambassador = {
        ...amb,
        drainListeners(graceful) {
          amb.drainListeners(graceful)
          workers?.drain(graceful)
        },
      }
      return {
        stop: async (ctx) => {
          await Promise.all([amb.stop(ctx), workers?.stop(ctx.deadline)])
        },
        ready: () => (amb.state() === 'LIVE' ? true : amb.state()),
      }
    },
    admin: {
      routes(app, { registry }, control) {
        registerEnvoyAdmin(app, { registry, control, ambassador: () => ambassador })
      },
    },
  })
}

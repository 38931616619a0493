// The metrics-adapter process: nginx-prometheus-exporter's command line and env, our admin server
// on its listen address (:9113) with the metrics on its telemetry path, /probe, and a SIGTERM drain.

import {
  ConfigError,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  runService,
  wantsOpenMetrics,
} from '@podkit/runtime'
import { createMetricsAdapter, type MetricsAdapter } from './adapter.ts'
import { compatNotes, prepareCompat, schema, toAdapterConfig, validateConfig } from './config.ts'
import { ProbeDeniedError } from './errors.ts'

const version = process.env.PODKIT_VERSION ?? 'dev'
const argv = process.argv.slice(2)

// The exporter prints its version and exits on -version (v0.11) and --version (v1.x).
if (argv.includes('-version') || argv.includes('--version')) {
  process.stdout.write(
    `podkit metrics-adapter version=${version} (nginx-prometheus-exporter compatible), node=${process.version}\n`,
  )
  process.exit(0)
}

let adapter: MetricsAdapter | undefined

await runService({
  name: 'metrics-adapter',
  version,
  summary:
    'A drop-in nginx-prometheus-exporter: serves stub_status (and Apache, PHP-FPM status pages) as Prometheus metrics.',
  schema,
  helpExtra: [
    'nginx-prometheus-exporter flags are accepted in both forms: -nginx.scrape-uri=URI (v0.11) and',
    '--nginx.scrape-uri URI (v1.x, repeatable). -web.listen-address / LISTEN_ADDRESS set admin.host and admin.port;',
    '-prometheus.const-labels a=b,c=d is --prometheus.const-label; --log.level is --log-level; -version prints the version.',
  ].join('\n'),
  prepare(args, env) {
    const { argv: out, layers, issues } = prepareCompat(args, env)
    if (issues.length > 0) throw new ConfigError(issues)
    return { argv: out, layers }
  },
  validate: validateConfig,
  async start({ config, logger, registry, sources }) {
    for (const note of compatNotes) logger.warn(note)
    adapter = createMetricsAdapter(toAdapterConfig(config, sources), { logger, registry, version })
    await adapter.start()
    return {
      stop: async () => {
        await adapter?.stop()
      },
    }
  },
  admin: {
    metricsPath: (config) => config.web.telemetryPath,
    routes(app, { config }) {
      const openmetrics = config.web.openmetrics
      const sourcesOnly = config.web.nginxMetricsOnly
      app.get(config.web.telemetryPath, async (req, reply) => {
        if (!adapter) {
          reply.code(503).type('text/plain; charset=utf-8')
          return 'starting\n'
        }
        const om = openmetrics && wantsOpenMetrics(req.headers.accept)
        const text = await adapter.metricsText({ openMetrics: om, sourcesOnly })
        reply.type(om ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE)
        return text
      })
      app.get('/probe', async (req, reply) => {
        const q = req.query as Record<string, string | undefined>
        if (!adapter) {
          reply.code(503).type('text/plain; charset=utf-8')
          return 'starting\n'
        }
        if (!q.target) {
          reply.code(400).type('text/plain; charset=utf-8')
          return 'the target parameter is missing: /probe?target=URI&module=nginx\n'
        }
        try {
          const text = await adapter.probe(q.target, q.module ?? 'nginx')
          reply.type(PROMETHEUS_CONTENT_TYPE)
          return text
        } catch (err) {
          if (!(err instanceof ProbeDeniedError)) throw err
          reply.code(403).type('text/plain; charset=utf-8')
          return `${err.message}\n`
        }
      })
      // The exporter (v1) serves its metrics on "/" when the telemetry path is "/", without a
      // landing page: the HTML page there would fail every scrape of "/".
      if (config.web.telemetryPath === '/') return
      app.get('/', async (_req, reply) => {
        reply.type('text/html; charset=utf-8')
        const path = config.web.telemetryPath.replace(/[<>&"]/g, '')
        return `<!doctype html><html><head><title>podkit metrics-adapter</title></head><body><h1>podkit metrics-adapter</h1><p><a href="${path}">Metrics</a> · <a href="/healthz">/healthz</a> · <a href="/ready">/ready</a></p></body></html>\n`
      })
    },
  },
})

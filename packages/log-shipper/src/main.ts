// The log-shipper process: Fluent Bit's fluent-bit.conf (or our YAML pipeline) -> tail, parse,
// filter, deliver; admin on :2020 (/healthz, /ready, /metrics); SIGTERM flushes within Grace.

import { createLogger, PROMETHEUS_CONTENT_TYPE, Registry, runService } from '@podkit/runtime'
import { ENV_PREFIX, issueOf, prepareClassic, resolvePipeline, schema } from './config.ts'
import { Engine } from './engine.ts'
import type { PipelineSpec } from './fluent-bit/pipeline-spec.ts'

let classic: PipelineSpec | undefined
let pipeline: PipelineSpec | undefined
let engine: Engine | undefined
let checking = false

await runService({
  name: 'log-shipper',
  summary:
    'A Fluent Bit-compatible log shipper: tails files, parses, filters and delivers to forward, http, loki, es, stdout or file outputs, at least once.',
  schema,
  envPrefix: ENV_PREFIX,
  helpExtra:
    'Fluent Bit compatibility: `-c /fluent-bit/etc/fluent-bit.conf` (or FLUENT_BIT_CONFIG) runs a classic config unchanged; a YAML file (--config) may hold the same pipeline under service / pipeline / parsers.',
  prepare(argv, env) {
    checking = argv.includes('--check-config')
    const p = prepareClassic(argv, env)
    classic = p.classic
    return { argv: p.argv, layers: p.layers }
  },
  validate(config) {
    try {
      pipeline = resolvePipeline(config, classic, process.env.CONFIG_FILE ?? 'config')
      // Build once with a silent logger so --check-config also catches bad regexes, unknown parsers
      // and bad output keys; nothing connects or opens files here.
      new Engine(pipeline, {
        logger: createLogger({ name: 'check', level: 'silent' }),
        registry: new Registry(),
      })
      // --check-config shows what a start would warn about (unset ${VARS}, keys without effect).
      if (checking) for (const w of pipeline.warnings) process.stderr.write(`warning: ${w}\n`)
      return []
    } catch (err) {
      return [issueOf(err)]
    }
  },
  async start({ config, logger, registry }) {
    const spec = pipeline!
    engine = new Engine(spec, {
      logger,
      registry,
      hostAliases: config.hostAliases,
      pathPrefix: config.pathPrefix,
      backoff: {
        baseMs: spec.service.schedulerBaseMs ?? config.retry.base,
        capMs: spec.service.schedulerCapMs ?? config.retry.cap,
      },
    })
    await engine.start()
    logger.info(
      {
        source: spec.source,
        inputs: engine.inputs.length,
        filters: engine.filters.length,
        outputs: engine.outputs.map((o) => o.name),
      },
      'Shipping logs.',
    )
    const running = engine
    return {
      stop: ({ signal }) => running.stop(signal),
    }
  },
  admin: {
    // Fluent Bit's monitoring endpoints that pods' probes point at (its Helm chart: liveness on /,
    // readiness on /api/v1/health), so a pod keeps its probes when it swaps the image.
    routes(app, { registry }) {
      app.get('/', () => ({ 'fluent-bit': { version: '2.2', edition: 'podkit log-shipper', flags: [] } }))
      // Where Prometheus annotations of Fluent Bit pods point: the same text as /metrics (our
      // metric names, not Fluent Bit's), so the scrape target stays up.
      app.get('/api/v1/metrics/prometheus', async (_req, reply) => {
        reply.type(PROMETHEUS_CONTENT_TYPE)
        return registry.metrics()
      })
      app.get('/api/v1/health', (_req, reply) => {
        const ok = engine?.health?.healthy() ?? true
        reply.code(ok ? 200 : 500).type('text/plain; charset=utf-8')
        return ok ? 'ok' : 'error'
      })
    },
  },
})

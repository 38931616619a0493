// The adapter as a library: targets grouped by source, a scrape that fetches every target and
// writes the exposition text, the allow-listed /probe, and the runtime registry's text (process
// and diagnostic metrics) appended from a short cache so that a scrape never waits on the registry's collect callbacks.

import { createLogger, type Logger, Registry, toOpenMetrics } from '@podkit/runtime'
import { ProbeDeniedError, SourceDefinitionError } from './errors.ts'
import { makeGroup, renderGroup, type SourceGroup } from './exposition.ts'
import { type AdapterMetrics, createAdapterMetrics } from './metrics.ts'
import { parseScrapeUri } from './scrape-uri.ts'
import type { Source } from './source.ts'
import { builtinSources } from './sources/index.ts'
import type { TlsOptions } from './status-fetcher.ts'
import { Target, type TargetResult } from './target.ts'

export interface TargetConfig {
  /** http(s)://host:port/path or unix:/path/to.sock:/path */
  uri: string
  /** A built-in source (nginx, apache, php-fpm) or one given in `sources`; default nginx. */
  source?: string
  /** The `addr` label value when several targets of one source are scraped; default the URI. */
  addr?: string
}

export interface MetricsAdapterConfig {
  targets: TargetConfig[]
  /** Per fetch: connect, headers and body together (ms). */
  timeout: number
  tls: TlsOptions
  /** Labels on every series of the sources' families. */
  constLabels?: Record<string, string>
  /** Coalescing window of concurrent scrapes of one target (ms); 0 fetches once per scrape. */
  coalesceWindow?: number
  /** Open every connection to a target with a PROXY protocol v2 header. */
  proxyProtocol?: boolean
  /** URIs /probe may fetch, beside the configured targets. */
  probeTargets?: string[]
  /** Extra sources by name, beside the built-in ones; a name given here replaces a built-in. */
  sources?: Record<string, Source>
  /** How long the registry's text (process and diagnostic metrics) is reused (ms); default 1000. */
  registryCacheTtl?: number
}

export interface MetricsAdapterDeps {
  logger?: Logger
  /** Where the diagnostic metrics go; its text is appended to every scrape. */
  registry?: Registry
  version?: string
}

export interface MetricsAdapter {
  readonly targets: readonly Target[]
  readonly metrics: AdapterMetrics
  /** Logs whether each target answers; never fails because a target is down. */
  start(): Promise<void>
  /** The sources' families of every configured target, Prometheus text format. */
  scrape(): Promise<string>
  /**
   * scrape() plus the registry's metrics (unless `sourcesOnly`, the exporter's
   * --web.nginx-metrics-only); OpenMetrics text when asked.
   */
  metricsText(opts?: { openMetrics?: boolean; sourcesOnly?: boolean }): Promise<string>
  /** One allow-listed target's families (no addr label), for /probe?target=...&module=... */
  probe(uri: string, module?: string): Promise<string>
  stop(): Promise<void>
}

export function createMetricsAdapter(
  config: MetricsAdapterConfig,
  deps: MetricsAdapterDeps = {},
): MetricsAdapter {
  const logger = deps.logger ?? createLogger({ name: 'metrics-adapter' })
  const registry = deps.registry ?? new Registry()
  const metrics = createAdapterMetrics(registry, deps.version ?? 'dev')
  const metricsRequests = metrics.requests.labels({ endpoint: 'metrics' })
  const probeRequests = metrics.requests.labels({ endpoint: 'probe' })
  const sources: Record<string, Source> = { ...builtinSources, ...config.sources }
  const constPairs = Object.entries(config.constLabels ?? {})
  // Own keys only: /probe?module=constructor (or a config's source: toString) must not find
  // Object.prototype's members, which are not sources.
  const sourceNamed = (name: string): Source | undefined =>
    Object.hasOwn(sources, name) ? sources[name] : undefined
  const sourceFor = (name: string | undefined): Source => {
    const s = sourceNamed(name ?? 'nginx')
    if (!s)
      throw new SourceDefinitionError(
        `unknown source ${JSON.stringify(name)}: known are ${Object.keys(sources).join(', ')}`,
      )
    return s
  }
  const newTarget = (uri: string, source: Source, addr?: string, followRedirects = true) =>
    new Target(source, parseScrapeUri(uri), {
      timeout: config.timeout,
      tls: config.tls,
      coalesceWindow: config.coalesceWindow ?? 5,
      followRedirects,
      proxyProtocol: config.proxyProtocol,
      addr,
      logger,
      metrics,
    })

  // Configured targets, grouped by source so each family is printed once with every target's series.
  const bySource = new Map<Source, Target[]>()
  const targets: Target[] = []
  for (const t of config.targets) {
    const source = sourceFor(t.source)
    const target = newTarget(t.uri, source, t.addr)
    targets.push(target)
    bySource.set(source, [...(bySource.get(source) ?? []), target])
  }
  const groups: SourceGroup[] = [...bySource].map(([source, ts]) =>
    makeGroup(
      source,
      ts.map((target) => ({
        target,
        pairs: ts.length > 1 ? [...constPairs, ['addr', target.addr] as const] : [...constPairs],
      })),
    ),
  )

  // /probe: allow-listed URIs only, one target per (module, URI), made on first use.
  const allowed = new Set(
    [...(config.probeTargets ?? []), ...config.targets.map((t) => t.uri)].map((u) => u.trim()),
  )
  const probeGroups = new Map<string, SourceGroup>()
  for (const g of groups) {
    for (const m of g.members)
      probeGroups.set(
        `${g.source.name} ${m.target.uri.raw.trim()}`,
        makeGroup(g.source, [{ target: m.target, pairs: [...constPairs] }]),
      )
  }
  const probeTargets: Target[] = []

  let cached: { text: string; at: number } | undefined
  let rendering: Promise<string> | undefined
  const ttl = config.registryCacheTtl ?? 1000
  const registryText = (): Promise<string> | string => {
    if (cached && Date.now() - cached.at < ttl) return cached.text
    rendering ??= registry.metrics().then(
      (text) => {
        cached = { text, at: Date.now() }
        rendering = undefined
        return text
      },
      (err) => {
        rendering = undefined
        throw err
      },
    )
    return rendering
  }

  const scrapeGroup = async (g: SourceGroup): Promise<string> => {
    const results: TargetResult[] =
      g.members.length === 1
        ? [await g.members[0]!.target.scrape()]
        : await Promise.all(g.members.map((m) => m.target.scrape()))
    return renderGroup(g, results)
  }

  const scrape = async (): Promise<string> => {
    if (groups.length === 1) return scrapeGroup(groups[0]!)
    return (await Promise.all(groups.map(scrapeGroup))).join('')
  }

  return {
    targets,
    metrics,
    async start() {
      for (const t of targets) {
        logger.info(
          { target: t.uri.display, source: t.source.name },
          `Scraping ${t.source.name} at ${t.uri.display} on every request.`,
        )
      }
      // A first fetch to log whether each target answers; its result is not cached or reused.
      void Promise.all(targets.map((t) => t.scrape()))
    },
    scrape,
    async metricsText(opts = {}) {
      metricsRequests.inc()
      const own = scrape()
      const rest = opts.sourcesOnly ? '' : registryText()
      const text = (await own) + (typeof rest === 'string' ? rest : await rest)
      return opts.openMetrics ? toOpenMetrics(text) : text
    },
    async probe(uri, module = 'nginx') {
      probeRequests.inc()
      const source = sourceNamed(module)
      if (!source) {
        metrics.probeDenied.inc()
        throw new ProbeDeniedError(
          `unknown module ${JSON.stringify(module)}: known are ${Object.keys(sources).join(', ')}`,
        )
      }
      const key = uri.trim()
      if (!allowed.has(key)) {
        metrics.probeDenied.inc()
        throw new ProbeDeniedError(
          `target ${JSON.stringify(uri)} is not in probe.targets; add it there to allow it`,
        )
      }
      let g = probeGroups.get(`${module} ${key}`)
      if (!g) {
        // A redirect would lead /probe out of its allow-list: not followed.
        const target = newTarget(key, source, undefined, false)
        probeTargets.push(target)
        g = makeGroup(source, [{ target, pairs: [...constPairs] }])
        probeGroups.set(`${module} ${key}`, g)
      }
      return scrapeGroup(g)
    },
    async stop() {
      await Promise.allSettled([...targets, ...probeTargets].map((t) => t.close()))
    },
  }
}

// Every Prometheus metric of the metrics-adapter that lives in the runtime's registry: the scrape
// diagnostics and the build info. The nginx_* (and apache_*, phpfpm_*) families are not here:
// they are written per scrape by exposition.ts, off the registry, because they sit on the hot path.

import { Counter, Gauge, Histogram, type Registry } from '@podkit/runtime'
import type { FetchErrorKind } from './errors.ts'

export const FETCH_ERROR_KINDS: readonly FetchErrorKind[] = [
  'timeout',
  'connect',
  'tls',
  'http_status',
  'parse',
]

export interface AdapterMetrics {
  scrapeDuration: Histogram<'target' | 'source'>
  scrapeErrors: Counter<'target' | 'source' | 'type'>
  fetches: Counter<'target' | 'source'>
  coalesced: Counter<'target' | 'source'>
  requests: Counter<'endpoint'>
  probeDenied: Counter
}

export function createAdapterMetrics(registry: Registry, version: string): AdapterMetrics {
  const registers = [registry]
  const build = new Gauge({
    name: 'nginx_exporter_build_info',
    help: "A metric with a constant '1' value labeled by version, revision, branch, goversion from which nginx_exporter was built, and the goos and goarch for the build.",
    labelNames: ['version', 'revision', 'branch', 'goversion', 'goos', 'goarch', 'tags'],
    registers,
  })
  const goarch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm' }
  build.set(
    {
      version,
      revision: '',
      branch: '',
      // Not Go: the label keeps the exporter's label set and says what runs instead.
      goversion: `node${process.versions.node}`,
      goos: process.platform,
      goarch: goarch[process.arch] ?? process.arch,
      tags: 'podkit',
    },
    1,
  )
  return {
    scrapeDuration: new Histogram({
      name: 'podkit_metrics_adapter_scrape_duration_seconds',
      help: 'Time to fetch and parse one status page, by target and source.',
      labelNames: ['target', 'source'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    scrapeErrors: new Counter({
      name: 'podkit_metrics_adapter_scrape_errors_total',
      help: 'Failed fetches of a status page, by target, source and type (timeout, connect, tls, http_status, parse).',
      labelNames: ['target', 'source', 'type'],
      registers,
    }),
    fetches: new Counter({
      name: 'podkit_metrics_adapter_target_fetches_total',
      help: 'Fetches of a status page made, by target and source (failed ones included).',
      labelNames: ['target', 'source'],
      registers,
    }),
    coalesced: new Counter({
      name: 'podkit_metrics_adapter_coalesced_scrapes_total',
      help: 'Scrapes that shared a fetch started after they arrived with other concurrent scrapes, by target and source.',
      labelNames: ['target', 'source'],
      registers,
    }),
    requests: new Counter({
      name: 'podkit_metrics_adapter_requests_total',
      help: 'Requests served on the telemetry path and on /probe.',
      labelNames: ['endpoint'],
      registers,
    }),
    probeDenied: new Counter({
      name: 'podkit_metrics_adapter_probe_denied_total',
      help: 'Requests to /probe refused because the target is not in the allow-list or the module is unknown.',
      registers,
    }),
  }
}

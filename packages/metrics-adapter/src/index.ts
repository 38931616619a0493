// @podkit/metrics-adapter: a drop-in nginx-prometheus-exporter and a small framework for turning
// status pages into Prometheus metrics. See README.md.

export {
  createMetricsAdapter,
  type MetricsAdapter,
  type MetricsAdapterConfig,
  type MetricsAdapterDeps,
  type TargetConfig,
} from './adapter.ts'
export {
  DEFAULT_SCRAPE_URI,
  parseListenAddress,
  prepareCompat,
  schema,
  toAdapterConfig,
  validateConfig,
} from './config.ts'
export {
  FetchConnectError,
  FetchError,
  type FetchErrorKind,
  FetchStatusError,
  FetchTimeoutError,
  FetchTlsError,
  ParseError,
  ProbeDeniedError,
  ScrapeUriError,
  SourceDefinitionError,
} from './errors.ts'
export { escapeLabelValue, renderLabels } from './exposition.ts'
export { parseScrapeUri, type ScrapeUri } from './scrape-uri.ts'
export {
  defineSource,
  type MappingRule,
  type MetricFamily,
  type MetricType,
  type Sample,
  type Source,
  type SourceMapping,
} from './source.ts'
export { apacheSource, builtinSources, nginxSource, phpFpmSource } from './sources/index.ts'
export { parseStubStatus, type StubStatus } from './sources/nginx.ts'
export type { TlsOptions } from './status-fetcher.ts'
export { Target, type TargetResult } from './target.ts'

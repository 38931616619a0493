// @podkit/runtime: the frame every podkit service runs in. See README.md.

export type { AdminApp, AdminHandler, AdminReply, AdminRequest } from './admin-app.ts'
export { type AdminServer, type AdminServerOptions, startAdminServer } from './admin-server.ts'
export { httpDate, isoTime, nowMs } from './clock.ts'
export {
  BUILTIN_FLAGS,
  type ConfigLayer,
  getPath,
  type LoadConfigOptions,
  type LoadedConfig,
  loadConfig,
  loadYamlParser,
  setPath,
} from './config.ts'
export { documentedCodes, readmeCodes, readmeOptionsBlock, unpadTable } from './docs.ts'
export { ConfigError, ConfigFileError, type ConfigIssue, PodkitError } from './errors.ts'
export {
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  toOpenMetrics,
  wantsOpenMetrics,
} from './exposition.ts'
export {
  FastHistogram,
  type FastHistogramSeries,
  type HistogramSeriesDump,
  type HistogramSource,
} from './fast-histogram.ts'
export { renderHelp, renderOptionsMarkdown } from './help.ts'
export {
  type CommonConfig,
  commonOptions,
  type RunningService,
  type RunOptions,
  runService,
  type ServiceContext,
  type ServiceControl,
  type ServiceDefinition,
  type ServiceState,
  type StopContext,
} from './lifecycle.ts'
export {
  createLogger,
  drainLogger,
  flushLogger,
  LOG_LEVELS,
  type Logger,
  type LogLevel,
  logDestination,
  redact,
  redactUrl,
} from './logger.ts'
export { Counter, createServiceRegistry, Gauge, Histogram, Registry, Summary } from './metrics.ts'
export { Duration, envName, flagName, leaves, type OptionMeta, Options, Size } from './schema.ts'
export {
  acceptOnSharedRead,
  type MakeSharedSocket,
  type SharedReadCallback,
  type SharedReadOptions,
} from './shared-read.ts'
export { Kind, OptionalKind, Type } from './types.ts'
export { parseDuration, parseSize } from './units.ts'
export { type SchemaIssue, type SchemaIssueType, validate } from './validate.ts'

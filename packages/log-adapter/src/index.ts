// @podkit/log-adapter: the adapter-pattern container that turns raw app logs into JSON lines.
// Use createLogAdapter(config) to embed it; main.ts is the process. See README.md.

export {
  compileFormat,
  createLogAdapter,
  isStdout,
  type LogAdapter,
  type LogAdapterDeps,
  positionsPath,
} from './adapter.ts'
export { crossChecks, ENV_PREFIX, FORMATS, type LogAdapterConfig, MULTILINE_MODES, schema } from './config.ts'
export { AdapterFormatError, AdapterOutputError } from './errors.ts'
export { type AdapterMetrics, createAdapterMetrics } from './metrics.ts'
export { createDecoder, createSerializer, type Decode } from './shape.ts'

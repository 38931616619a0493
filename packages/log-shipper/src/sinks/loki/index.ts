// The loki output: loki.ts pushes, config.ts reads the keys.
export { lokiOptions } from './config.ts'
export { type LokiLabel, LokiSink, type LokiSinkOptions } from './loki.ts'

// The es output: es.ts sends _bulk requests, config.ts reads the keys.
export { esOptions } from './config.ts'
export { EsSink, type EsSinkOptions } from './es.ts'

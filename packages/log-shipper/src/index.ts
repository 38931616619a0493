// @podkit/log-shipper: a Fluent Bit-compatible log shipper as a library. createLogShipper() runs a
// pipeline from a fluent-bit.conf or our YAML shape; the pieces (config reader, outputs, delivery
// queue, msgpack) are exported for services of your own. See README.md.

import type { Logger, Registry } from '@podkit/runtime'
import { createLogger, Registry as PromRegistry } from '@podkit/runtime'
import { Engine, type EngineOptions } from './engine.ts'
import {
  type PipelineSpec,
  pipelineFromClassic,
  pipelineFromObject,
  type YamlPipeline,
} from './fluent-bit/pipeline-spec.ts'

export { ENV_PREFIX, type ShipperConfig, schema } from './config.ts'
export { backoffDelay, DeliveryQueue, parseRetryLimit, type QueueOptions } from './delivery-queue.ts'
export { Engine, type EngineOptions } from './engine.ts'
export * from './errors.ts'
export { buildFilter, type Filter, kubernetesMetadata } from './filters.ts'
export { parseClassicText, readClassicConfig } from './fluent-bit/classic.ts'
export { compileMatch, expandTag } from './fluent-bit/match.ts'
export {
  type PipelineSpec,
  pipelineFromClassic,
  pipelineFromObject,
  type YamlPipeline,
} from './fluent-bit/pipeline-spec.ts'
export { PLUGIN_KEYS } from './fluent-bit/plugins.ts'
export { PluginSection } from './fluent-bit/section.ts'
export { createShipperMetrics, type ShipperMetrics } from './metrics.ts'
export { decodeOne, EventTime, encode, MsgpackWriter } from './msgpack.ts'
export { EsSink, type EsSinkOptions } from './sinks/es/index.ts'
export { type ForwardOptions, ForwardSink } from './sinks/forward/index.ts'
export { HttpSink, type HttpSinkOptions } from './sinks/http/index.ts'
export { createSink, type SinkContext } from './sinks/index.ts'
export { LokiSink, type LokiSinkOptions } from './sinks/loki/index.ts'
export { ChunkStore } from './storage.ts'

export interface LogShipperOptions extends Partial<Omit<EngineOptions, 'logger' | 'registry'>> {
  /** A fluent-bit.conf path, or a pipeline in our YAML shape. */
  pipeline: string | YamlPipeline | PipelineSpec
  logger?: Logger
  registry?: Registry
}

export interface LogShipper {
  engine: Engine
  start(): Promise<void>
  /** Stops reading, delivers what is queued (until `signal` aborts), saves positions. */
  stop(signal?: AbortSignal): Promise<void>
}

export function createLogShipper(opts: LogShipperOptions): LogShipper {
  const env = opts.env ?? process.env
  const spec =
    typeof opts.pipeline === 'string'
      ? pipelineFromClassic(opts.pipeline, env)
      : 'inputs' in opts.pipeline && 'service' in opts.pipeline && Array.isArray(opts.pipeline.inputs)
        ? (opts.pipeline as PipelineSpec)
        : pipelineFromObject(opts.pipeline as YamlPipeline, 'code')
  const engine = new Engine(spec, {
    ...opts,
    env,
    logger: opts.logger ?? createLogger({ name: 'log-shipper' }),
    registry: opts.registry ?? new PromRegistry(),
  })
  return {
    engine,
    start: () => engine.start(),
    stop: (signal = new AbortController().signal) => engine.stop(signal),
  }
}

// log-adapter's metrics: the pipeline's (lines in, records out, unparsed, truncated, bytes, lag)
// plus the output file's rotations.

import { createPipelineMetrics, type PipelineMetrics } from '@podkit/log-pipeline'
import { Counter, type Registry } from '@podkit/runtime'

export interface AdapterMetrics {
  pipeline: PipelineMetrics
  outputRotations: Counter<never>
}

export function createAdapterMetrics(registry: Registry): AdapterMetrics {
  return {
    pipeline: createPipelineMetrics(registry),
    // The same registry may serve several adapters built in one process (tests, embedding).
    outputRotations:
      (registry.getSingleMetric('podkit_log_adapter_output_rotations_total') as Counter<never> | undefined) ??
      new Counter({
        name: 'podkit_log_adapter_output_rotations_total',
        help: 'Times the output file was rotated by size.',
        registers: [registry],
      }),
  }
}

// Every Prometheus metric the log shipper adds (the tail source's own podkit_log_* metrics come
// from @podkit/log-pipeline). Labels are bounded: the input, filter and output names of the config.

import { Counter, Gauge, type Registry } from '@podkit/runtime'

export interface ShipperMetrics {
  inputRecords: Counter<'input'>
  inputBytes: Counter<'input'>
  parseFailures: Counter<'input'>
  filterDropped: Counter<'filter'>
  outputRecords: Counter<'output'>
  outputBytes: Counter<'output'>
  outputRetries: Counter<'output'>
  outputErrors: Counter<'output' | 'type'>
  outputDropped: Counter<'output' | 'reason'>
  queueChunks: Gauge<'output'>
  queueRecords: Gauge<'output'>
  lastSuccess: Gauge<'output'>
  storageChunks: Gauge<'output'>
}

const cache = new WeakMap<Registry, ShipperMetrics>()

export function createShipperMetrics(registry: Registry): ShipperMetrics {
  const hit = cache.get(registry)
  if (hit) return hit
  const registers = [registry]
  const m: ShipperMetrics = {
    inputRecords: new Counter({
      name: 'podkit_shipper_input_records_total',
      help: 'Records read by an input, after multiline joining.',
      labelNames: ['input'],
      registers,
    }),
    inputBytes: new Counter({
      name: 'podkit_shipper_input_bytes_total',
      help: 'File bytes read by an input.',
      labelNames: ['input'],
      registers,
    }),
    parseFailures: new Counter({
      name: 'podkit_shipper_parse_failures_total',
      help: "Lines the input's parser did not match; they are shipped raw as {log: line}, never dropped.",
      labelNames: ['input'],
      registers,
    }),
    filterDropped: new Counter({
      name: 'podkit_shipper_filter_dropped_records_total',
      help: 'Records a filter (grep) removed on purpose.',
      labelNames: ['filter'],
      registers,
    }),
    outputRecords: new Counter({
      name: 'podkit_shipper_output_records_total',
      help: 'Records an output delivered and the destination acknowledged.',
      labelNames: ['output'],
      registers,
    }),
    outputBytes: new Counter({
      name: 'podkit_shipper_output_bytes_total',
      help: 'Input bytes behind the records an output delivered.',
      labelNames: ['output'],
      registers,
    }),
    outputRetries: new Counter({
      name: 'podkit_shipper_output_retries_total',
      help: 'Chunk deliveries retried after a failure.',
      labelNames: ['output'],
      registers,
    }),
    outputErrors: new Counter({
      name: 'podkit_shipper_output_errors_total',
      help: 'Failed chunk deliveries, by error code.',
      labelNames: ['output', 'type'],
      registers,
    }),
    outputDropped: new Counter({
      name: 'podkit_shipper_output_dropped_records_total',
      help: 'Records an output gave up on (retries exhausted, or rejected for good), each logged with its code.',
      labelNames: ['output', 'reason'],
      registers,
    }),
    queueChunks: new Gauge({
      name: 'podkit_shipper_output_queue_chunks',
      help: 'Chunks waiting for (or in) delivery per output.',
      labelNames: ['output'],
      registers,
    }),
    queueRecords: new Gauge({
      name: 'podkit_shipper_output_queue_records',
      help: 'Records waiting for (or in) delivery per output.',
      labelNames: ['output'],
      registers,
    }),
    lastSuccess: new Gauge({
      name: 'podkit_shipper_output_last_success_timestamp_seconds',
      help: 'When an output last delivered a chunk (Unix time).',
      labelNames: ['output'],
      registers,
    }),
    storageChunks: new Gauge({
      name: 'podkit_shipper_storage_chunks',
      help: 'Chunks of an output kept in the filesystem buffer (storage.path).',
      labelNames: ['output'],
      registers,
    }),
  }
  cache.set(registry, m)
  return m
}

// Every Prometheus metric of the log pipeline, registered once per registry. Counters are bumped
// per chunk or per batch, never per byte. Labels are bounded (sink name, reason), never file paths.

import { Counter, Gauge, type Registry } from '@podkit/runtime'

export interface PipelineMetrics {
  linesIn: Counter<never>
  bytesRead: Counter<never>
  recordsOut: Counter<'sink'>
  unparsed: Counter<never>
  longLines: Counter<'action'>
  dropped: Counter<'reason'>
  rotations: Counter<'kind'>
  sinkErrors: Counter<'sink'>
  filesWatched: Gauge<never>
  lagBytes: Gauge<never>
  bufferedBytes: Gauge<never>
  paused: Gauge<never>
}

const cache = new WeakMap<Registry, PipelineMetrics>()

/** The pipeline's metrics on a registry (the same objects for every call with that registry). */
export function createPipelineMetrics(registry: Registry): PipelineMetrics {
  const cached = cache.get(registry)
  if (cached) return cached
  const registers = [registry]
  const m: PipelineMetrics = {
    linesIn: new Counter({
      name: 'podkit_log_lines_in_total',
      help: 'Lines read from tailed files (after joining CRLF, before multiline and parsing).',
      registers,
    }),
    bytesRead: new Counter({
      name: 'podkit_log_bytes_read_total',
      help: 'Bytes read from tailed files.',
      registers,
    }),
    recordsOut: new Counter({
      name: 'podkit_log_records_out_total',
      help: 'Records a sink acknowledged.',
      labelNames: ['sink'],
      registers,
    }),
    unparsed: new Counter({
      name: 'podkit_log_unparsed_total',
      help: 'Records the parser did not match; they are passed on with the raw line, never dropped.',
      registers,
    }),
    longLines: new Counter({
      name: 'podkit_log_long_lines_total',
      help: 'Lines longer than the maximum line size, by what was done (truncated or skipped).',
      labelNames: ['action'],
      registers,
    }),
    dropped: new Counter({
      name: 'podkit_log_dropped_total',
      help: 'Records deliberately not delivered, by reason (grep: filtered out; rejected: a sink refused the batch for good).',
      labelNames: ['reason'],
      registers,
    }),
    rotations: new Counter({
      name: 'podkit_log_rotations_total',
      help: 'Input file rotations seen, by kind (rename, truncate).',
      labelNames: ['kind'],
      registers,
    }),
    sinkErrors: new Counter({
      name: 'podkit_log_sink_errors_total',
      help: 'Failed sink writes (each is retried unless the sink said it is not retryable).',
      labelNames: ['sink'],
      registers,
    }),
    filesWatched: new Gauge({
      name: 'podkit_log_files_watched',
      help: 'Files being tailed now.',
      registers,
    }),
    lagBytes: new Gauge({
      name: 'podkit_log_lag_bytes',
      help: 'Bytes in tailed files not yet acknowledged by the sinks (file sizes minus committed offsets).',
      registers,
    }),
    bufferedBytes: new Gauge({
      name: 'podkit_log_buffered_bytes',
      help: 'Bytes read but not yet acknowledged (bounded by the memory buffer limit).',
      registers,
    }),
    paused: new Gauge({
      name: 'podkit_log_paused',
      help: '1 while reading is paused because the memory buffer limit is reached (backpressure), else 0.',
      registers,
    }),
  }
  // Known label values start at 0, so dashboards and alerts see the series before the first event.
  for (const action of ['truncated', 'skipped']) m.longLines.inc({ action }, 0)
  for (const reason of ['grep', 'rejected']) m.dropped.inc({ reason }, 0)
  for (const kind of ['rename', 'truncate']) m.rotations.inc({ kind }, 0)
  cache.set(registry, m)
  return m
}

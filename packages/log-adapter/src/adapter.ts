// The log adapter: tail the app's raw log, join stack traces, convert each record to one JSON
// line, write a size-rotated file (or stdout), and resume after a restart where the output was
// acknowledged.

import { constants } from 'node:fs'
import { access } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import {
  createPipeline,
  FileSink,
  type MultilineOptions,
  type Pipeline,
  resolveZone,
  type Sink,
  StdoutSink,
  TailSource,
} from '@podkit/log-pipeline'
import { type Logger, PodkitError, type Registry } from '@podkit/runtime'
import type { LogAdapterConfig } from './config.ts'
import { AdapterFormatError, AdapterOutputError } from './errors.ts'
import { type AdapterMetrics, createAdapterMetrics } from './metrics.ts'
import { createDecoder, createEncoder, createSerializer, type Decode, type Encode } from './shape.ts'

export interface LogAdapterDeps {
  logger?: Logger
  /** Where the metrics go (runService's registry); none when omitted. */
  registry?: Registry
}

export interface LogAdapter {
  start(): Promise<void>
  /** Stops reading, writes what was read, saves positions; `signal` cuts the wait for the output. */
  stop(ctx?: { signal?: AbortSignal }): Promise<void>
  readonly pipeline: Pipeline
  readonly source: TailSource
}

export const isStdout = (path: string) => path === '-' || path === 'stdout' || path === '/dev/stdout'

/** Where offsets are kept: the option, or beside the output file, or nowhere for stdout. */
export function positionsPath(config: LogAdapterConfig): string | undefined {
  const p = config.input.positionsFile
  if (p === 'none') return undefined
  if (p !== '') return p
  return isStdout(config.output.path)
    ? undefined
    : join(dirname(config.output.path), '.log-adapter-positions')
}

/** Compiles the format, zone and multiline settings; throws AdapterFormatError naming the option. */
export function compileFormat(config: LogAdapterConfig): {
  decode: Decode
  encode: Encode
  multiline?: MultilineOptions
} {
  let zone: ReturnType<typeof resolveZone>
  try {
    zone = resolveZone(config.format.timezone)
  } catch (err) {
    throw new AdapterFormatError(`format.timezone: ${(err as Error).message}`, { cause: err })
  }
  let decode: Decode
  try {
    decode = createDecoder(config, zone)
  } catch (err) {
    if (!(err instanceof PodkitError)) throw err
    const key =
      config.format.timeFormat && /time format/.test(err.message) ? 'format.timeFormat' : 'format.regex'
    throw new AdapterFormatError(`${key}: ${err.message}`, { cause: err })
  }
  const m = config.multiline
  let multiline: MultilineOptions | undefined
  if (m.mode !== 'off') {
    const mode = (m.mode === 'auto' ? 'stacktrace' : m.mode) as MultilineOptions['mode']
    if (mode === 'regex') {
      try {
        new RegExp(m.firstLine)
      } catch (err) {
        throw new AdapterFormatError(`multiline.firstLine: ${(err as Error).message}`, { cause: err })
      }
    }
    multiline = { mode, firstLine: m.firstLine || undefined, flushTimeout: m.timeout, maxLines: m.maxLines }
  }
  return { decode, encode: createEncoder(config, zone, decode), multiline }
}

export function createLogAdapter(config: LogAdapterConfig, deps: LogAdapterDeps = {}): LogAdapter {
  const { encode, multiline } = compileFormat(config)
  const metrics: AdapterMetrics | undefined = deps.registry ? createAdapterMetrics(deps.registry) : undefined
  const logger = deps.logger
  const source = new TailSource({
    path: config.input.paths,
    exclude: config.input.exclude,
    tag: 'log-adapter',
    readFromHead: config.input.readFromHead,
    refreshInterval: config.input.refreshInterval,
    pollInterval: config.input.pollInterval,
    bufferMaxSize: config.input.maxLineSize,
    skipLongLines: config.input.longLines === 'skip',
    memBufLimit: config.input.memBufLimit,
    positionsFile: positionsPath(config),
    // Saved after every written batch, so a kill -9 repeats at most one batch; fsync'd with the output's fsync.
    positionsInterval: 0,
    positionsFsync: config.output.fsync,
    // Small reads keep batches (which end on read boundaries) close to batch.size.
    bufferChunkSize: 16 * 1024,
    rotateWait: config.input.rotateWait,
    flushTimeout: config.input.partialLineTimeout,
    logger,
    metrics: metrics?.pipeline,
  })
  const stdout = isStdout(config.output.path)
  const serialize = createSerializer(config)
  const sink: Sink = stdout
    ? new StdoutSink({ serialize })
    : new FileSink({
        serialize,
        path: config.output.path,
        maxSize: config.output.maxSize,
        maxFiles: config.output.maxFiles,
        fsync: config.output.fsync,
        onRotate: () => {
          metrics?.outputRotations.inc()
          logger?.info({ path: config.output.path }, 'Rotated the output file.')
        },
        onTornLine: () =>
          logger?.warn(
            { path: config.output.path },
            'The output file ended inside a line (the last run was stopped mid-write): ended that line; the unsaved batch is written again whole.',
          ),
      })
  const pipeline = createPipeline({
    source,
    sink,
    multiline,
    // Records go straight to output bytes: a batch waiting for the file holds one Buffer, not
    // objects and strings (see the README's memory section).
    encode,
    batchSize: config.batch.size,
    flushInterval: config.batch.flushInterval,
    logger,
    metrics: metrics?.pipeline,
  })
  return {
    pipeline,
    source,
    async start() {
      if (!stdout) {
        const dir = dirname(config.output.path)
        try {
          await access(dir, constants.W_OK)
        } catch (err) {
          throw new AdapterOutputError(
            `output.path: cannot write to ${dir} (${(err as Error).message}); mount a writable volume there`,
            { cause: err },
          )
        }
      }
      await pipeline.start()
      logger?.info(
        {
          input: config.input.paths,
          output: stdout ? 'stdout' : config.output.path,
          format: config.format.name,
          positions: positionsPath(config) ?? null,
        },
        'Converting logs.',
      )
    },
    stop: (ctx = {}) => pipeline.stop(ctx),
  }
}
